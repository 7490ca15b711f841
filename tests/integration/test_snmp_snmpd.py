"""The snmp prober against a real net-snmp snmpd on a loopback port (v1, v2c, v3)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.contract import ProbeContext, ProbeResult, ProbeTarget, Sample
from probes.snmp import SnmpProber, SnmpSettings, TargetMemory, open_prober
from probes.snmp_user_modules import SnmpModulesSection
from tests.helpers import free_udp_port
from tests.snmp_agents import SnmpdAgent, V3User

pytestmark = pytest.mark.needs("snmpd")

USERS = (
    V3User("noc"),  # SHA + AES-128
    V3User("md5des", "MD5", "authkey-md5", "DES", "privkey-des"),
    V3User("sha256aes", "SHA-256", "authkey-256", "AES", "privkey-aes"),
    V3User("sha512aes", "SHA-512", "authkey-512", "AES", "privkey-aes"),
    V3User("authonly", "SHA", "authkey-only", None),
    V3User("sha224aes192b", "SHA-224", "authkey-224", "AES-192", "privkey-aes192"),
    V3User("sha384aes256b", "SHA-384", "authkey-384", "AES-256", "privkey-aes256"),
    V3User("sha256aes256c", "SHA-256", "authkey-256c", "AES-256-C", "privkey-aes256c"),
    V3User("md5aes192c", "MD5", "authkey-md5c", "AES-192-C", "privkey-aes192c"),
)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    with SnmpdAgent(tmp_path_factory.mktemp("snmpd"), users=USERS) as running:
        yield running


@pytest.fixture
async def prober() -> AsyncIterator[SnmpProber]:
    async with SnmpProber() as live:
        yield live


def v2c(agent: SnmpdAgent, **extra: Any) -> SnmpSettings:
    return SnmpSettings.model_validate({"community": agent.community, "port": agent.port, **extra})


def v3(agent: SnmpdAgent, **extra: Any) -> SnmpSettings:
    base = {
        "version": "3",
        "user": "noc",
        "auth_protocol": "sha",
        "auth_key": "authkey-123",
        "priv_protocol": "aes128",
        "priv_key": "privkey-456",
        "port": agent.port,
    }
    return SnmpSettings.model_validate({**base, **extra})


async def poll(
    prober: SnmpProber, name: str, settings: SnmpSettings, address: str = "127.0.0.1"
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    return await prober.probe(
        ProbeTarget(name, address), settings, deadline=loop.time() + settings.timeout
    )


def by_name(result: ProbeResult, name: str) -> list[Sample]:
    return [s for s in result.samples if s.name == name]


def interfaces(
    result: ProbeResult, metric: str = "continuity_snmp_interface_oper_status"
) -> dict[str, float]:
    return {dict(s.labels)["interface"]: s.value for s in by_name(result, metric)}


async def test_v2c_system_if_mib_host(agent: SnmpdAgent, prober: SnmpProber) -> None:
    before = set(os.listdir("/sys/class/net"))
    result = await poll(prober, "a", v2c(agent, modules=["system", "if_mib", "host"]))
    after = set(os.listdir("/sys/class/net"))
    assert result.ok, result.message
    assert result.reason == "ok"
    assert result.values["uptime_seconds"] >= 0
    [info] = by_name(result, "continuity_snmp_system_info")
    assert dict(info.labels)["sys_name"] == "continuity-test-agent"
    assert dict(info.labels)["sys_object_id"] == "1.3.6.1.4.1.8072.3.2.10"
    # snmpd reports this host's interfaces: ifName is the kernel's name.
    # Other tests may add or remove their namespace links meanwhile: the agent must
    # report every interface that existed throughout, and nothing that never did.
    assert before & after <= set(interfaces(result)) <= before | after
    assert interfaces(result, "continuity_snmp_interface_up")["lo"] == 1.0
    in_octets = interfaces(result, "continuity_snmp_interface_in_octets_total")
    assert in_octets["lo"] > 0
    assert interfaces(result, "continuity_snmp_interface_flaps_total")["lo"] == 0
    assert by_name(result, "continuity_snmp_storage_size_bytes")
    # (hrProcessorLoad is a one-minute average: a fresh snmpd has no rows yet.)
    assert by_name(result, "continuity_snmp_reboots_total")[0].value == 0


async def test_v1_walks_with_getnext_and_32_bit_counters(
    agent: SnmpdAgent, prober: SnmpProber
) -> None:
    r1 = await poll(prober, "v1", v2c(agent, version="1", modules=["system", "if_mib"]))
    r2 = await poll(prober, "v2", v2c(agent, modules=["system", "if_mib"]))
    assert r1.ok, r1.message
    assert set(interfaces(r1)) == set(interfaces(r2))
    assert interfaces(r1, "continuity_snmp_interface_in_octets_total")["lo"] > 0
    # v1 reads ifSpeed (bits/s), v2c ifHighSpeed (Mbit/s): the same figure here.
    assert interfaces(r1, "continuity_snmp_interface_speed_bytes_per_second")[
        "lo"
    ] == pytest.approx(
        interfaces(r2, "continuity_snmp_interface_speed_bytes_per_second")["lo"], rel=0.01
    )


async def test_second_poll_uses_cached_names(agent: SnmpdAgent) -> None:
    settings = v2c(agent, modules=["if_mib"])
    memories: dict[str, TargetMemory] = {}
    async with SnmpProber(memory=memories) as prober:
        first = await poll(prober, "cache", settings)
        memory = memories["cache"]
        walked_at = memory.lookups_at
        second = await poll(prober, "cache", settings)
    assert first.ok and second.ok and walked_at > 0
    assert memory.lookups_at == walked_at  # names not walked again
    assert set(interfaces(first)) == set(interfaces(second))


@pytest.mark.parametrize(
    ("user", "auth", "auth_key", "priv", "priv_key"),
    [
        ("noc", "sha", "authkey-123", "aes128", "privkey-456"),
        ("md5des", "md5", "authkey-md5", "des", "privkey-des"),
        ("sha256aes", "sha256", "authkey-256", "aes", "privkey-aes"),
        ("sha512aes", "sha512", "authkey-512", "aes128", "privkey-aes"),
        ("authonly", "sha", "authkey-only", None, None),
        ("sha224aes192b", "sha224", "authkey-224", "aes192b", "privkey-aes192"),
        ("sha384aes256b", "sha384", "authkey-384", "aes256b", "privkey-aes256"),
        ("sha256aes256c", "sha256", "authkey-256c", "aes256", "privkey-aes256c"),
        ("md5aes192c", "md5", "authkey-md5c", "aes192", "privkey-aes192c"),
    ],
)
async def test_v3(
    agent: SnmpdAgent,
    prober: SnmpProber,
    user: str,
    auth: str,
    auth_key: str,
    priv: str | None,
    priv_key: str | None,
) -> None:
    settings = v3(
        agent,
        user=user,
        auth_protocol=auth,
        auth_key=auth_key,
        priv_protocol=priv,
        priv_key=priv_key,
        modules=["system", "if_mib"],
    )
    result = await poll(prober, f"v3-{user}", settings)
    assert result.ok, result.message
    assert interfaces(result, "continuity_snmp_interface_up")["lo"] == 1.0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"user": "nobody"}, "unknown_user"),
        ({"auth_key": "wrong-auth-key"}, "auth"),
        ({"priv_key": "wrong-priv-key"}, "decrypt"),
    ],
    ids=["wrong-user", "wrong-auth-key", "wrong-priv-key"],
)
async def test_v3_failures_are_distinct(
    agent: SnmpdAgent, prober: SnmpProber, change: dict[str, str], reason: str
) -> None:
    result = await poll(prober, f"bad-{reason}", v3(agent, timeout="2s", **change))
    assert not result.ok
    assert result.reason == reason, result.message
    # The same prober still polls the right credentials afterwards.
    good = await poll(prober, "good", v3(agent))
    assert good.ok, good.message


async def test_wrong_community_is_a_timeout(agent: SnmpdAgent, prober: SnmpProber) -> None:
    result = await poll(
        prober, "wrong-community", v2c(agent, community="not-public", timeout="1s", retries=0)
    )
    assert (result.ok, result.reason) == (False, "timeout")


async def test_user_modules(agent: SnmpdAgent) -> None:
    """Through the kind's factory: the ``snmp_modules`` section reaches the prober."""
    section = SnmpModulesSection.model_validate(
        {
            "services": {"oid": "1.3.6.1.2.1.1.7.0"},
            "load": {
                "oid": "1.3.6.1.4.1.2021.10.1.5",
                "index": ["la"],
                "lookup": {"oid": "1.3.6.1.4.1.2021.10.1.2", "label": "name"},
                "scale": 0.01,
            },
            "load_text": {"oid": "1.3.6.1.4.1.2021.10.1.3", "index": ["la"], "type": "info"},
            "missing": {"oid": "1.3.6.1.4.1.99999.1.0"},
        }
    )
    async with open_prober(ProbeContext(sections={"snmp_modules": section})) as prober:
        result = await poll(prober, "user", v2c(agent, modules=["services", "load", "load_text"]))
        assert result.ok, result.message
        assert by_name(result, "continuity_snmp_services") == [
            Sample("continuity_snmp_services", 72.0)
        ]
        loads = by_name(result, "continuity_snmp_load")
        assert [dict(s.labels) for s in loads] == [
            {"la": "1", "name": "Load-1"},
            {"la": "2", "name": "Load-5"},
            {"la": "3", "name": "Load-15"},
        ]
        assert len(by_name(result, "continuity_snmp_load_text_info")) == 3
        missing = await poll(prober, "user-missing", v2c(agent, modules=["system", "missing"]))
        assert (missing.ok, missing.reason) == (False, "no_such_object")
        assert by_name(missing, "continuity_snmp_system_info")  # the rest still parsed


async def test_module_missing_on_agent_is_no_such_object(
    agent: SnmpdAgent, prober: SnmpProber
) -> None:
    result = await poll(prober, "no-ups", v2c(agent, modules=["system", "ups"]))
    assert (result.ok, result.reason) == (False, "no_such_object")
    assert "upsOutputSource" in result.message
    assert by_name(result, "continuity_snmp_uptime_seconds")


async def test_timeout_does_not_delay_other_devices(agent: SnmpdAgent, prober: SnmpProber) -> None:
    dead = SnmpSettings.model_validate(
        {"community": "public", "port": free_udp_port(), "timeout": "2s", "retries": 1}
    )
    loop = asyncio.get_running_loop()
    begin = loop.time()

    async def timed(coro: Any) -> tuple[ProbeResult, float]:
        result = await coro
        return result, loop.time() - begin

    (dead_result, dead_at), (live_result, live_at) = await asyncio.gather(
        timed(poll(prober, "dead", dead)),
        timed(poll(prober, "live", v2c(agent, modules=["system", "if_mib"]))),
    )
    assert (dead_result.ok, dead_result.reason) == (False, "timeout")
    assert 1.9 <= dead_at < 2.5
    assert live_result.ok
    assert live_at < 1.0


async def test_deadline_is_honoured(prober: SnmpProber) -> None:
    settings = SnmpSettings.model_validate(
        {"community": "public", "port": free_udp_port(), "timeout": "5s"}
    )
    loop = asyncio.get_running_loop()
    begin = loop.time()
    result = await prober.probe(ProbeTarget("late", "127.0.0.1"), settings, deadline=begin + 0.3)
    assert result.reason == "timeout"
    assert loop.time() - begin < 0.6


async def test_unresolvable_name_is_dns(prober: SnmpProber) -> None:
    settings = SnmpSettings.model_validate({"community": "public", "timeout": "2s"})
    result = await poll(prober, "nx", settings, address="no-such-host.invalid")
    assert (result.ok, result.reason) == (False, "dns")


async def test_reboot_counts_once(tmp_path: Path) -> None:
    """Restarting snmpd resets sysUpTime (v2c) and bumps snmpEngineBoots (v3)."""
    with SnmpdAgent(tmp_path / "reboot") as agent:
        async with SnmpProber() as prober:
            settings = {"v2c": v2c(agent), "v3": v3(agent)}
            for name, s in settings.items():
                first = await poll(prober, name, s)
                assert first.ok, first.message
                assert not first.events
            time.sleep(1.2)  # so the old uptime is clearly above the new one
            before = {
                name: (await poll(prober, name, s)).values["uptime_seconds"]
                for name, s in settings.items()
            }
            agent.restart()
            for name, s in settings.items():
                after = await poll(prober, name, s)
                assert after.ok, after.message
                assert len(after.events) == 1, (name, before, after.values)
                [event] = after.events
                assert event.kind == "DeviceRebooted"
                assert event.values["previous_uptime_seconds"] == pytest.approx(
                    before[name], abs=0.05
                )
                assert after.values["reboots_total"] == 1
                assert by_name(after, "continuity_snmp_reboots_total")[0].value == 1
                again = await poll(prober, name, s)
                assert not again.events
                assert again.values["reboots_total"] == 1
