"""SNMPv3 time windows, Reports and local failures, against real agents on loopback.

net-snmp snmpd for the real resynchronisation (a restarted agent has new
boots); a small v3 agent written here with our own codec (a real UDP peer on
127.0.0.1) for what snmpd will not do on demand: an agent whose clock keeps
jumping, an unauthenticated time-window Report. The descriptor-exhaustion
case runs a prober in a child process with a tiny RLIMIT_NOFILE.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from monitor.contract import ProbeResult, ProbeTarget
from probes.snmp import SnmpProber, SnmpSettings, TargetMemory
from probes.snmp_codec import (
    COUNTER32,
    REPORT,
    RESPONSE,
    TIMETICKS,
    encode_message,
    oid_to_ber,
)
from probes.snmp_usm import (
    AUTH,
    FLAG_AUTH,
    FLAG_PRIV,
    PRIV,
    LocalKeys,
    UsmParams,
    authenticate,
    decode_scoped_pdu,
    decode_v3,
    decrypt,
    encode_scoped_pdu,
    encode_v3,
    encrypt,
    hash_passphrase,
    localize,
    localize_priv,
)
from tests.snmp_agents import SnmpdAgent, V3User

REPO = Path(__file__).resolve().parents[2]
NOT_IN_TIME_WINDOWS = "1.3.6.1.6.3.15.1.1.2.0"
ENGINE_ID = bytes.fromhex("80001f8880aabbccddeeff0011")


def settings(port: int, **extra: object) -> SnmpSettings:
    base: dict[str, object] = {
        "version": "3",
        "user": "noc",
        "auth_protocol": "sha",
        "auth_key": "authkey-123",
        "port": port,
        "timeout": "2s",
        "retries": 0,
    }
    return SnmpSettings.model_validate({**base, **extra})


async def poll(prober: SnmpProber, name: str, s: SnmpSettings) -> ProbeResult:
    loop = asyncio.get_running_loop()
    return await prober.probe(ProbeTarget(name, "127.0.0.1"), s, deadline=loop.time() + s.timeout)


@pytest.fixture
async def prober() -> AsyncIterator[SnmpProber]:
    async with SnmpProber() as live:
        yield live


# --------------------------------------------------------------------------
# net-snmp: a restart bumps snmpEngineBoots; the next request is out of window
# --------------------------------------------------------------------------


def not_in_time_windows(agent: SnmpdAgent) -> int:
    """snmpd's own usmStatsNotInTimeWindows counter, read with v2c."""
    out = subprocess.run(
        [
            "snmpget",
            "-v2c",
            "-c",
            agent.community,
            "-Oqv",
            f"127.0.0.1:{agent.port}",
            NOT_IN_TIME_WINDOWS,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return int(out.stdout.strip())


@pytest.mark.needs("snmpd")
@pytest.mark.parametrize("priv", [None, "aes128"])
async def test_resynchronises_after_the_agent_restarts(
    tmp_path: Path, prober: SnmpProber, priv: str | None
) -> None:
    user = V3User("noc", "SHA", "authkey-123", "AES" if priv else None, "privkey-456")
    extra = {"priv_protocol": priv, "priv_key": "privkey-456"} if priv else {}
    with SnmpdAgent(tmp_path / "snmpd", users=(user,), keep_boots=True) as agent:
        first = await poll(prober, "a", settings(agent.port, **extra))
        assert first.ok, first.message
        agent.restart()  # snmpEngineBoots + 1: our cached clock is now outside the window
        assert not_in_time_windows(agent) == 0
        after = await poll(prober, "a", settings(agent.port, **extra))
        assert after.ok, after.message
        # The agent really refused our first try as out of its time window,
        # and the poll still succeeded: we resynchronised from its Report.
        assert not_in_time_windows(agent) == 1
        assert [e.kind for e in after.events] == ["DeviceRebooted"]


@pytest.mark.needs("snmpd")
async def test_a_replaced_unit_with_a_new_engine_id_is_rediscovered(tmp_path: Path) -> None:
    """Same address, new engine ID: the agent reports usmStatsUnknownEngineIDs naming it."""
    user = V3User("noc", "SHA", "authkey-123", "AES", "privkey-456")
    extra = {"priv_protocol": "aes128", "priv_key": "privkey-456"}
    memories: dict[str, TargetMemory] = {}
    async with SnmpProber(memory=memories) as prober:
        with SnmpdAgent(tmp_path / "snmpd", users=(user,)) as agent:
            first = await poll(prober, "unit", settings(agent.port, **extra))
            assert first.ok, first.message
            old_id = memories["unit"].engine_id
            agent.extra_config = "engineID replacement-unit"  # the later line wins
            agent.restart()
            second = await poll(prober, "unit", settings(agent.port, **extra))
            assert second.ok, second.message
            new_id = memories["unit"].engine_id
    assert old_id and new_id and new_id != old_id
    assert "replacement-unit" in new_id


# --------------------------------------------------------------------------
# A v3 agent of our own: discovery answered, then a chosen Report every time
# --------------------------------------------------------------------------


class ReportingAgent(asyncio.DatagramProtocol):
    """Answers discovery, then every request with a usmStatsNotInTimeWindows Report.

    ``authenticated`` Reports carry a fresh clock each time (an agent whose
    clock keeps jumping); unauthenticated ones cannot be trusted to resync.
    """

    def __init__(self, *, authenticated: bool) -> None:
        self.authenticated = authenticated
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None
        algorithm = AUTH["sha"]
        key = localize(hash_passphrase(b"authkey-123", "sha1"), ENGINE_ID, "sha1")
        self.keys = LocalKeys.build(algorithm, key)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = decode_v3(data)
        _engine, _context, (_kind, request_id, _s, _i, _vb) = decode_scoped_pdu(request.data)
        self.requests += 1
        report = encode_message(
            1, b"", REPORT, request_id, [(oid_to_ber(NOT_IN_TIME_WINDOWS), COUNTER32, 1)]
        )
        pdu = report[report.index(bytes((REPORT,))) :]
        scoped = encode_scoped_pdu(ENGINE_ID, b"", pdu)
        discovery = not request.usm.engine_id
        signed = self.authenticated and not discovery
        # Each Report claims another boots value: never the one we just used.
        usm = UsmParams(
            ENGINE_ID, 10 + self.requests, 100, request.usm.user if signed else b"", b"", b""
        )
        message, offset = encode_v3(
            request.msg_id,
            65507,
            FLAG_AUTH if signed else 0,
            usm,
            scoped,
            mac_length=12 if signed else 0,
        )
        assert self.transport is not None
        self.transport.sendto(authenticate(self.keys, message, offset) if signed else message, addr)


async def start_agent(authenticated: bool) -> tuple[ReportingAgent, int, Callable[[], None]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: ReportingAgent(authenticated=authenticated), local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    return protocol, port, transport.close


@pytest.mark.parametrize("authenticated", [True, False], ids=["jumping-clock", "unauthenticated"])
async def test_time_window_reports_that_never_settle_are_security(
    prober: SnmpProber, authenticated: bool
) -> None:
    agent, port, close = await start_agent(authenticated)
    try:
        result = await poll(prober, "clock", settings(port))
    finally:
        close()
    assert (result.ok, result.reason) == (False, "security")
    assert "time window" in result.message or "NotInTimeWindows" in result.message
    # Discovery, then: resent twice after authenticated Reports; not resent after an
    # unauthenticated one (it could be forged).
    assert agent.requests == (1 + 3 if authenticated else 1 + 1)


class ManglingAgent(asyncio.DatagramProtocol):
    """An authPriv (SHA/AES-128) agent whose answers are spoiled in one chosen way.

    Discovery is answered properly; every Response is then built, encrypted
    and authenticated correctly and mangled per ``mode`` on its way out.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.transport: asyncio.DatagramTransport | None = None
        master = hash_passphrase(b"authkey-123", "sha1")
        priv_master = hash_passphrase(b"privkey-456", "sha1")
        self.keys = LocalKeys.build(
            AUTH["sha"],
            localize(master, ENGINE_ID, "sha1"),
            PRIV["aes128"],
            localize_priv(PRIV["aes128"], priv_master, ENGINE_ID, "sha1"),
        )
        other = localize_priv(
            PRIV["aes128"], hash_passphrase(b"other-key", "sha1"), ENGINE_ID, "sha1"
        )
        self.wrong = LocalKeys.build(self.keys.auth, self.keys.auth_key, PRIV["aes128"], other)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        request = decode_v3(data)
        assert self.transport is not None
        if not request.usm.engine_id:  # discovery
            report = encode_message(
                1, b"", REPORT, 0, [(oid_to_ber("1.3.6.1.6.3.15.1.1.4.0"), COUNTER32, 1)]
            )
            scoped = encode_scoped_pdu(ENGINE_ID, b"", report[report.index(bytes((REPORT,))) :])
            usm = UsmParams(ENGINE_ID, 5, 100, b"", b"", b"")
            self.transport.sendto(encode_v3(request.msg_id, 65507, 0, usm, scoped)[0], addr)
            return
        params = request.usm
        plain = decrypt(self.keys, params.boots, params.time, params.priv_params, request.data)
        _e, _c, (_k, request_id, _s, _i, varbinds) = decode_scoped_pdu(plain)
        answer = [(oid, TIMETICKS, 12345) for oid, _tag, _value in varbinds]
        response = encode_message(1, b"", RESPONSE, request_id, answer)
        scoped = encode_scoped_pdu(ENGINE_ID, b"", response[response.index(bytes((RESPONSE,))) :])
        self.transport.sendto(self._mangle(request.msg_id, params.user, scoped), addr)

    def _mangle(self, msg_id: int, user: bytes, scoped: bytes) -> bytes:
        if self.mode == "garbage":
            return bytes(range(7, 90))
        if self.mode == "unauthenticated":
            usm = UsmParams(ENGINE_ID, 5, 100, user, b"", b"")
            return encode_v3(msg_id, 65507, 0, usm, scoped)[0]
        keys = self.wrong if self.mode == "wrong-priv-key" else self.keys
        data, salt = encrypt(keys, 5, 100, 77, scoped)
        usm = UsmParams(ENGINE_ID, 5, 100, user, b"", salt)
        message, offset = encode_v3(msg_id, 65507, FLAG_AUTH | FLAG_PRIV, usm, data, mac_length=12)
        signed = authenticate(self.keys, message, offset)
        if self.mode == "flip-mac":
            return signed[:offset] + bytes((signed[offset] ^ 1,)) + signed[offset + 1 :]
        if self.mode == "flip-ciphertext":
            return signed[:-1] + bytes((signed[-1] ^ 1,))
        if self.mode == "truncated":
            return signed[:-5]
        return signed


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("intact", "ok"),
        ("flip-mac", "auth"),
        ("flip-ciphertext", "auth"),
        ("wrong-priv-key", "decrypt"),
        ("unauthenticated", "security"),
        ("truncated", "timeout"),  # not even routable: dropped like any stray datagram
        ("garbage", "timeout"),
    ],
)
async def test_spoiled_answers_are_reasons_not_exceptions(
    prober: SnmpProber, mode: str, reason: str
) -> None:
    loop = asyncio.get_running_loop()
    transport, _agent = await loop.create_datagram_endpoint(
        lambda: ManglingAgent(mode), local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        s = settings(port, priv_protocol="aes128", priv_key="privkey-456", timeout="1s")
        result = await poll(prober, f"spoiled-{mode}", s)
    finally:
        transport.close()
    assert result.reason == reason, result.message
    assert result.ok == (reason == "ok")


# --------------------------------------------------------------------------
# Out of file descriptors: a reason, never an exception
# --------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import asyncio, resource, socket
    from monitor.contract import ProbeTarget
    from probes.snmp import SnmpProber, SnmpSettings, TargetMemory
    from monitor.contract import ProbeTarget
    from probes.snmp import SnmpProber, SnmpSettings

    async def main():
        async with SnmpProber() as prober:
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            hold = []
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            try:
                while True:
                    hold.append(open("/dev/null"))
            except OSError:
                pass
            for version in ("2c", "3"):
                s = SnmpSettings.model_validate({
                    "version": version, "community": "public", "user": "noc",
                    "auth_protocol": "sha", "auth_key": "authkey-123",
                    "port": 9, "timeout": "1s", "retries": 0,
                })
                loop = asyncio.get_running_loop()
                r = await prober.probe(ProbeTarget("t", "127.0.0.1"), s,
                                       deadline=loop.time() + 1)
                print(version, r.reason, r.message)

    asyncio.run(main())
    """
)


def test_descriptor_exhaustion_is_local_resources() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["2c", "local_resources"],
        ["3", "local_resources"],
    ]
    assert all("EMFILE" in line or "Too many open files" in line for line in lines), lines
