"""The snmp prober against snmpsim serving recordings of real devices, and a UPS
recording switched between on-line, on-battery and low-battery.

A recording swap restarts snmpsim on the same port (it keeps a recording's
index open while it runs); the prober's memory is per target name, so the
polls before and after a swap are the same device to it. A few anomalies no
recording can express (endOfMibView in the middle of a table, an agent
repeating an OID) come from a tiny scripted agent speaking our codec over a
real loopback socket.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.contract import ProbeResult, ProbeTarget, Sample
from probes import snmp_codec as c
from probes.snmp import SnmpProber, SnmpSettings
from tests.snmp_agents import (
    SnmpsimAgent,
    cut_recording,
    read_recording,
    recording,
    set_value,
)

pytestmark = pytest.mark.needs("snmpsim")

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
IF_SUBTREES = ("1.3.6.1.2.1.1", "1.3.6.1.2.1.2", "1.3.6.1.2.1.31")
DEVICES = {
    "cisco": "network/switch/cisco-c3560",
    "huawei": "network/router/huawei-s5720",
}


def decode_text(tag: str, value: str) -> str:
    return bytes.fromhex(value).decode() if tag.endswith("x") else value


def column(lines: list[str], oid: str) -> dict[str, tuple[str, str]]:
    """index -> (tag, value) of a column in snmprec lines."""
    prefix = oid + "."
    out = {}
    for line in lines:
        name, tag, value = line.split("|", 2)
        if name.startswith(prefix):
            out[name[len(prefix) :]] = (tag, value)
    return out


@pytest.fixture(scope="module")
def recordings() -> dict[str, list[str]]:
    return {
        name: cut_recording(read_recording(recording(path)), IF_SUBTREES)
        for name, path in DEVICES.items()
    }


@pytest.fixture(scope="module")
def sim(
    tmp_path_factory: pytest.TempPathFactory, recordings: dict[str, list[str]]
) -> Iterator[SnmpsimAgent]:
    agent = SnmpsimAgent(tmp_path_factory.mktemp("snmpsim"))
    for name, lines in recordings.items():
        agent.put(name, lines)
    agent.put("ups", (DATA / "ups-online.snmprec").read_text().splitlines())
    sensors = read_recording(recording("network/firewall/paloalto-pa-5000"))
    agent.put(
        "paloalto",
        cut_recording(sensors, ("1.3.6.1.2.1.1", "1.3.6.1.2.1.47.1.1.1.1.7", "1.3.6.1.2.1.99")),
    )
    with agent:
        agent.start("cisco")
        yield agent


@pytest.fixture
async def prober() -> AsyncIterator[SnmpProber]:
    async with SnmpProber() as live:
        yield live


def settings(port: int, community: str, **extra: Any) -> SnmpSettings:
    return SnmpSettings.model_validate({"community": community, "port": port, **extra})


async def poll(prober: SnmpProber, name: str, s: SnmpSettings) -> ProbeResult:
    loop = asyncio.get_running_loop()
    return await prober.probe(ProbeTarget(name, "127.0.0.1"), s, deadline=loop.time() + s.timeout)


def by_name(result: ProbeResult, name: str) -> list[Sample]:
    return [s for s in result.samples if s.name == name]


def per_interface(result: ProbeResult, metric: str) -> dict[str, float]:
    return {dict(s.labels)["interface"]: s.value for s in by_name(result, metric)}


def swap(agent: SnmpsimAgent, community: str, lines: list[str]) -> None:
    agent.stop()
    agent.put(community, lines)
    agent.start(community)


@pytest.mark.parametrize("device", sorted(DEVICES))
async def test_recorded_devices(
    sim: SnmpsimAgent, prober: SnmpProber, recordings: dict[str, list[str]], device: str
) -> None:
    lines = recordings[device]
    result = await poll(prober, device, settings(sim.port, device, modules=["system", "if_mib"]))
    assert result.ok, result.message
    names = {idx: decode_text(*tv) for idx, tv in column(lines, "1.3.6.1.2.1.31.1.1.1.1").items()}
    admin = {idx: int(v) for idx, (_t, v) in column(lines, "1.3.6.1.2.1.2.2.1.7").items()}
    oper = {idx: int(v) for idx, (_t, v) in column(lines, "1.3.6.1.2.1.2.2.1.8").items()}
    statuses = per_interface(result, "continuity_snmp_interface_oper_status")
    assert sorted(statuses) == sorted(names.values())
    assert len(statuses) == {"cisco": 57, "huawei": 39}[device]
    up = per_interface(result, "continuity_snmp_interface_up")
    expected_up = {names[i]: float(oper[i] == 1) for i in names if admin[i] == 1}
    assert up == expected_up
    hc_in = per_interface(result, "continuity_snmp_interface_in_octets_total")
    for idx, (tag, value) in column(lines, "1.3.6.1.2.1.31.1.1.1.6").items():
        assert tag == "70"
        assert hc_in[names[idx]] == float(value)
    uptime = column(lines, "1.3.6.1.2.1.1.3")["0"][1]
    assert result.values["uptime_seconds"] == int(uptime) / 100


async def test_entity_sensors(sim: SnmpsimAgent, prober: SnmpProber) -> None:
    result = await poll(
        prober, "pa-5000", settings(sim.port, "paloalto", modules=["system", "entity_sensor"])
    )
    assert result.ok, result.message
    temperatures = {
        dict(s.labels)["sensor"]: s.value
        for s in by_name(result, "continuity_snmp_sensor_temperature_celsius")
    }
    assert temperatures == {
        "Temperature @ 10G Phys [U171]": 23.0,
        "Temperature @ Jaguar [U172]": 34.0,
        "Temperature @ Tiger [U173]": 26.0,
        "Temperature @ Dune [U174]": 24.0,
    }
    assert not by_name(
        result, "continuity_snmp_sensor_voltage_volts"
    )  # fans (rpm) are not exported


async def test_interface_selection(sim: SnmpsimAgent, prober: SnmpProber) -> None:
    s = settings(
        sim.port,
        "cisco",
        modules=["if_mib"],
        interfaces_include="^Gi0/",
        interfaces_exclude="^Gi0/5[0-2]$",
    )
    result = await poll(prober, "cisco-selected", s)
    assert result.ok, result.message
    assert sorted(per_interface(result, "continuity_snmp_interface_oper_status")) == sorted(
        f"Gi0/{i}" for i in range(1, 50)
    )


@pytest.mark.slow
async def test_interface_flap(sim: SnmpsimAgent, recordings: dict[str, list[str]]) -> None:
    lines = recordings["cisco"]
    names = {idx: decode_text(*tv) for idx, tv in column(lines, "1.3.6.1.2.1.31.1.1.1.1").items()}
    oper = column(lines, "1.3.6.1.2.1.2.2.1.8")
    idx = next(i for i, (_t, v) in sorted(oper.items()) if v == "1" and names[i].startswith("Gi"))
    name = names[idx]
    s = settings(sim.port, "flap", modules=["if_mib"])
    try:
        swap(sim, "flap", lines)
        async with SnmpProber() as prober:
            first = await poll(prober, "flappy", s)
            assert first.ok and not first.events
            swap(sim, "flap", set_value(lines, f"1.3.6.1.2.1.2.2.1.8.{idx}", "2", "2"))
            down = await poll(prober, "flappy", s)
            assert [(e.kind, dict(e.labels)["interface"]) for e in down.events] == [
                ("InterfaceDown", name)
            ]
            assert per_interface(down, "continuity_snmp_interface_up")[name] == 0.0
            assert per_interface(down, "continuity_snmp_interface_flaps_total")[name] == 1.0
            swap(sim, "flap", lines)
            up = await poll(prober, "flappy", s)
            assert [(e.kind, dict(e.labels)["interface"]) for e in up.events] == [
                ("InterfaceUp", name)
            ]
            assert per_interface(up, "continuity_snmp_interface_flaps_total")[name] == 2.0
            steady = await poll(prober, "flappy", s)
            assert not steady.events
            assert per_interface(steady, "continuity_snmp_interface_flaps_total")[name] == 2.0
            # Admin-down is never "down": no event, no interface_up series.
            swap(
                sim,
                "flap",
                set_value(
                    set_value(lines, f"1.3.6.1.2.1.2.2.1.7.{idx}", "2", "2"),
                    f"1.3.6.1.2.1.2.2.1.8.{idx}",
                    "2",
                    "2",
                ),
            )
            admin_down = await poll(prober, "flappy", s)
            assert not admin_down.events
            assert name not in per_interface(admin_down, "continuity_snmp_interface_up")
            assert per_interface(admin_down, "continuity_snmp_interface_admin_up")[name] == 0.0
    finally:
        sim.stop()
        sim.start("cisco")


@pytest.mark.slow
async def test_ups_on_battery_low_and_restored(sim: SnmpsimAgent) -> None:
    states = {
        name: (DATA / f"ups-{name}.snmprec").read_text().splitlines()
        for name in ("online", "on-battery", "low-battery")
    }
    s = settings(sim.port, "ups", modules=["system", "ups"], battery_min_runtime="15m")
    seen: list[tuple[str, list[str], dict[str, float]]] = []
    try:
        async with SnmpProber() as prober:
            for state in ("online", "on-battery", "low-battery", "online"):
                swap(sim, "ups", states[state])
                result = await poll(prober, "ups-1", s)
                assert result.ok, result.message
                seen.append((state, [e.kind for e in result.events], dict(result.values)))
    finally:
        sim.stop()
        sim.put("ups", states["online"])
        sim.start("cisco")
    assert [(state, events) for state, events, _ in seen] == [
        ("online", []),
        ("on-battery", ["OnBattery"]),
        ("low-battery", ["BatteryLow"]),
        ("online", ["PowerRestored"]),
    ]
    online, on_battery, low, _restored = (values for _, _, values in seen)
    assert online["ups_on_battery"] == 0.0
    assert online["ups_battery_runtime_seconds"] == 52 * 60
    assert online["ups_battery_charge_ratio"] == 1.0
    assert online["ups_input_voltage_volts"] == 231.0
    assert online["ups_output_load_ratio"] == 0.34
    assert on_battery["ups_on_battery"] == 1.0
    assert on_battery["ups_battery_runtime_seconds"] == 38 * 60
    assert on_battery["ups_battery_charge_ratio"] == 0.86
    assert low["ups_battery_runtime_seconds"] == 9 * 60
    assert low["ups_battery_status"] == 3.0


@pytest.mark.slow
async def test_unknown_ups_estimates_are_not_values(sim: SnmpsimAgent) -> None:
    """A GSE200M-like UPS on mains answers -1 (unknown) for runtime, charge and load.

    Out of the RFC 1628 ranges: no runtime/charge/load series, no BatteryLow,
    the rest of the UPS still read; a valid recording still gives them all.
    """
    unknown = (DATA / "ups-unknown-estimates.snmprec").read_text().splitlines()
    online = (DATA / "ups-online.snmprec").read_text().splitlines()
    s = settings(sim.port, "ups", modules=["system", "ups"], battery_min_runtime="15m")
    results: dict[str, ProbeResult] = {}
    try:
        async with SnmpProber() as prober:
            for name, lines in (("unknown", unknown), ("online", online)):
                swap(sim, "ups", lines)
                results[name] = await poll(prober, f"ups-{name}", s)
    finally:
        sim.stop()
        sim.put("ups", online)
        sim.start("cisco")
    gse, valid = results["unknown"], results["online"]
    assert gse.ok, gse.message
    assert gse.events == ()
    names = {sample.name for sample in gse.samples}
    for missing in (
        "continuity_ups_battery_runtime_seconds",
        "continuity_ups_battery_charge_ratio",
        "continuity_ups_output_load_ratio",
    ):
        assert missing not in names
        assert missing in {sample.name for sample in valid.samples}
    assert by_name(gse, "continuity_ups_on_battery")[0].value == 0.0
    assert by_name(gse, "continuity_ups_input_voltage_volts")[0].value == 229.0
    assert "ups_battery_runtime_seconds" not in gse.values
    assert gse.values["unknown_values"] == 3.0
    assert valid.values["ups_battery_runtime_seconds"] == 52 * 60
    assert "unknown_values" not in valid.values


@pytest.mark.slow
async def test_wrong_types_are_parsed_as_far_as_valid(
    sim: SnmpsimAgent, recordings: dict[str, list[str]], prober: SnmpProber
) -> None:
    lines = recordings["cisco"]
    broken = set_value(lines, "1.3.6.1.2.1.2.2.1.8.10101", "4", "up")  # ifOperStatus as a string
    broken = set_value(broken, "1.3.6.1.2.1.1.3.0", "4", "a long time")  # sysUpTime as a string
    try:
        swap(sim, "broken", broken)
        result = await poll(
            prober, "broken", settings(sim.port, "broken", modules=["system", "if_mib"])
        )
    finally:
        sim.stop()
        sim.start("cisco")
    assert (result.ok, result.reason) == (False, "bad_value")
    assert "sysUpTime" in result.message
    assert "Gi0/1" in result.message
    statuses = per_interface(result, "continuity_snmp_interface_oper_status")
    assert len(statuses) == 56
    assert "Gi0/1" not in statuses


# --------------------------------------------------------------------------
# Anomalies a recording cannot express: a scripted agent
# --------------------------------------------------------------------------


class ScriptedAgent(asyncio.DatagramProtocol):
    """Answers v2c GET/GETNEXT/GETBULK from a sorted table, with injected faults."""

    def __init__(
        self,
        table: dict[tuple[int, ...], tuple[int, Any]],
        *,
        end_after: tuple[int, ...] | None = None,
        repeat: tuple[int, ...] | None = None,
        drop: int = 0,
        stray: bool = False,
    ) -> None:
        self.rows = sorted((c.oid_to_ber(oid), tag, value) for oid, (tag, value) in table.items())
        self.end_after = c.oid_to_ber(end_after) if end_after else None
        self.repeat = c.oid_to_ber(repeat) if repeat else None
        self.drop = drop  # requests to ignore first (the client must retry)
        self.stray = stray  # answer from another socket first (must be ignored)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def after(self, oid: bytes) -> c.VarBind:
        if self.end_after is not None and oid == self.end_after:
            return (oid, c.END_OF_MIB_VIEW, None)
        if self.repeat is not None and oid == self.repeat:
            return next(r for r in self.rows if r[0] == oid)  # the same OID again
        for row in self.rows:
            if c.oid_after(row[0], oid):
                return row
        return (oid, c.END_OF_MIB_VIEW, None)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.drop:
            self.drop -= 1
            return
        request = c.decode_message(data)
        assert isinstance(request, c.Message)
        asked = [oid for oid, _t, _v in request.varbinds]
        if request.pdu_type == c.GET:
            found = {r[0]: r for r in self.rows}
            vbs = [found.get(oid, (oid, c.NO_SUCH_INSTANCE, None)) for oid in asked]
        else:
            reps = request.error_index if request.pdu_type == c.GETBULK else 1
            vbs, current = [], list(asked)
            for _ in range(reps):
                step = [self.after(oid) for oid in current]
                vbs.extend(step)
                current = [vb[0] for vb in step]
        assert self.transport is not None
        self.transport.sendto(
            c.encode_message(1, request.community, c.RESPONSE, request.request_id, vbs), addr
        )


def if_table(count: int) -> dict[tuple[int, ...], tuple[int, Any]]:
    table: dict[tuple[int, ...], tuple[int, Any]] = {
        (1, 3, 6, 1, 2, 1, 1, 3, 0): (c.TIMETICKS, 12345)
    }
    for i in range(1, count + 1):
        table[(1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i)] = (c.OCTET_STRING, f"port{i}".encode())
        table[(1, 3, 6, 1, 2, 1, 2, 2, 1, 7, i)] = (c.INTEGER, 1)
        table[(1, 3, 6, 1, 2, 1, 2, 2, 1, 8, i)] = (c.INTEGER, 1)
        table[(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i)] = (c.COUNTER64, i * 1000)
    return table


async def scripted(
    table: dict[tuple[int, ...], tuple[int, Any]], **faults: Any
) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: ScriptedAgent(table, **faults), local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    return transport, transport.get_extra_info("sockname")[1]


@pytest.mark.parametrize(
    ("faults", "reason", "interfaces"),
    [
        ({}, "ok", 8),
        ({"end_after": (1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 3)}, "bad_value", 3),
        ({"repeat": (1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 5)}, "bad_value", 5),
        ({"drop": 1}, "ok", 8),
        ({"stray": True}, "ok", 8),
    ],
    ids=[
        "clean",
        "end-of-mib-view-mid-table",
        "repeated-oid",
        "first-request-lost-then-retried",
        "stray-datagram-ignored",
    ],
)
async def test_misbehaving_agent(
    prober: SnmpProber, faults: dict[str, Any], reason: str, interfaces: int
) -> None:
    transport, port = await scripted(if_table(8), **faults)
    try:
        result = await poll(
            prober,
            f"scripted-{reason}-{interfaces}",
            settings(port, "public", modules=["system", "if_mib"], max_repetitions=4, timeout="2s"),
        )
    finally:
        transport.close()
    assert result.reason == reason, result.message
    assert len(per_interface(result, "continuity_snmp_interface_oper_status")) == interfaces
    # sysName and friends are noSuchInstance here: left out, not crashed on.
    assert result.values["uptime_seconds"] == 123.45


async def test_lost_request_without_retries_is_a_timeout(prober: SnmpProber) -> None:
    transport, port = await scripted(if_table(2), drop=1)
    try:
        s = settings(port, "public", modules=["system"], retries=0, timeout="0.5s")
        result = await poll(prober, "no-retry", s)
    finally:
        transport.close()
    assert (result.ok, result.reason) == (False, "timeout")
    assert 0.45 <= result.duration < 0.8
