"""The icmp probe against the real kernel on loopback (127.0.0.0/8 and ::1 only).

Raw mode needs CAP_NET_RAW (CI runs as root); datagram mode needs
``net.ipv4.ping_group_range`` to include our group, which these tests widen
for their duration when root and skip otherwise. Failures that would need
an unreachable network are produced with the prober's seams instead (a
socket factory, a resolver), so no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from monitor.contract import ProbeContext, ProbeResult, ProbeSetupError, ProbeTarget
from probes import KINDS
from probes import icmp_packet as pkt
from probes.icmp import KIND, IcmpProber, IcmpSettings, IcmpUnavailable
from probes.icmp_engine import IcmpEngine, SockAddr, _Run
from tests.helpers import until
from tests.netns import sysctl

FAST = IcmpSettings(count=3, packet_interval="10ms", timeout="2s")


def raw_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except PermissionError:
        return False
    return True


def has_ipv6_loopback() -> bool:
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return False
    return any(line.startswith("0" * 31 + "1") for line in lines)


needs_raw = pytest.mark.skipif(not raw_allowed(), reason="needs CAP_NET_RAW for raw ICMP sockets")
needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 (::1) on this host")


@pytest.fixture
def ping_sockets() -> Iterator[None]:
    """Allow datagram ping sockets for this test (restoring the sysctl after)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).close()
    except PermissionError:
        if os.geteuid() != 0:
            pytest.skip("net.ipv4.ping_group_range excludes our group and we are not root")
    else:
        yield
        return
    with sysctl("net.ipv4.ping_group_range", "0 2147483647"):
        yield


async def ping(
    prober: IcmpProber, address: str, settings: IcmpSettings = FAST, timeout: float = 2.0
) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + timeout
    return await prober.probe(ProbeTarget(address, address), settings, deadline=deadline)


def assert_sane(result: ProbeResult, count: int = 3) -> None:
    assert result.ok, result.message
    assert result.reason == "ok"
    assert result.values["packets_sent"] == count
    assert result.values["packets_received"] == count
    assert result.values["packet_loss_ratio"] == 0.0
    assert 0.0 < result.values["rtt_min_seconds"] <= result.values["rtt_avg_seconds"]
    assert result.values["rtt_avg_seconds"] <= result.values["rtt_max_seconds"] < 0.5
    assert result.values["jitter_seconds"] >= 0.0
    assert abs(result.started - time.time()) < 10
    assert 0.0 < result.duration < 2.0


# --------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------


@needs_raw
async def test_two_hundred_loopback_targets_through_one_socket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="probes.icmp_engine")
    engine = IcmpEngine(mode="raw")
    async with IcmpProber(engine=engine) as prober:
        assert prober.mode == "raw"
        addresses = [f"127.0.0.{i}" for i in range(1, 201)]
        results = await asyncio.gather(*(ping(prober, a) for a in addresses))
        assert engine.outstanding == 0
    for result in results:
        assert_sane(result)
    assert "ICMP: using raw sockets" in caplog.text


@needs_raw
async def test_a_run_in_flight_holds_few_objects_the_collector_walks() -> None:
    """Runs started without a coroutine (the scheduler's tick lane) hold a handful of
    objects the garbage collector tracks while they are in flight: every young
    collection walks them. A closure, a ``partial``, a bound method and a tuple per
    timer made it 25 a run (half the daemon's collection time at 10,000 targets);
    three arrays of send times and keys (tracked on 3.11) made it 7, one untracked
    bytearray 4 (the run, its rtts list, the prober's callback and the caller's),
    as counted here."""
    runs = 200
    settings = IcmpSettings(count=3, packet_interval="200ms", timeout="2s")
    delivered: list[ProbeResult] = []
    loop = asyncio.get_running_loop()
    async with IcmpProber(mode="raw") as prober:
        targets = [ProbeTarget(f"t{i}", f"127.0.2.{i + 1}") for i in range(runs)]

        def start_all() -> None:
            for target in targets:
                assert prober.start(
                    target, settings, deadline=loop.time() + 3.0, done=delivered.append
                )

        # A first round fills what a target's first run makes once (its address).
        start_all()
        await until(lambda: len(delivered) == runs, timeout=10)
        delivered.clear()
        gc.collect()
        before = {id(o) for o in gc.get_objects()}
        start_all()
        in_flight = _held_by_runs(gc.get_objects(), before, _shared_entries(prober))
        await until(lambda: len(delivered) == runs, timeout=10)
    assert in_flight / runs <= 4.5, f"{in_flight / runs:.1f} tracked objects a run"
    for result in delivered:
        assert_sane(result)


def _shared_entries(prober: IcmpProber) -> set[int]:
    """The engine's entries that come and go with the timing, not with the runs: the
    timers' millisecond buckets (shared by every run started in that millisecond, as
    the lane's tick starts its runs) and an echo's pending key until its reply (read
    within a millisecond here, or not yet, as the loop's timing goes)."""
    engine = prober._engine
    assert engine._timers is not None
    shared = {id(entries) for entries in engine._timers._buckets.values()}
    for channel in engine._channels.values():
        shared.update(id(entry) for entry in channel.pending.values())
    return shared


def _held_by_runs(now: list[Any], before: set[int], shared: set[int]) -> int:
    """Tracked objects made since ``before`` that belong to runs in flight: the runs,
    what else refers to them and what those hold, made since, but for ``shared``.
    Other objects made meanwhile (another test's leftover thread, say) are not
    counted: a full suite added 1.8 a run of them."""
    new = {id(o): o for o in now if id(o) not in before and id(o) not in shared}
    held = {
        key
        for key, o in new.items()
        if isinstance(o, _Run) or any(isinstance(r, _Run) for r in gc.get_referents(o))
    }
    todo = list(held)
    while todo:
        for referent in gc.get_referents(new[todo.pop()]):
            key = id(referent)
            if key in new and key not in held:
                held.add(key)
                todo.append(key)
    return len(held)


@needs_raw
@needs_ipv6
async def test_ipv6_loopback_raw() -> None:
    async with IcmpProber(mode="raw") as prober:
        assert_sane(await ping(prober, "::1"))


class RecordingSocket(socket.socket):
    """A real socket that keeps every packet ``sendto`` hands the kernel."""

    def __init__(self, family: int, kind: int, proto: int) -> None:
        super().__init__(family, kind, proto)
        self.sent: list[bytes] = []

    def sendto(self, *args: Any) -> int:  # type: ignore[override]
        self.sent.append(bytes(args[0]))
        return super().sendto(*args)


@pytest.mark.parametrize("size", [0, 7, 56, 1400])
async def test_the_engine_sends_the_echo_request_build_echo_request_makes(size: int) -> None:
    """The engine packs its echoes itself (header and payload in one go, the checksum
    folded inline): each must be the packet the reference builder makes for its
    identifier and sequence, with a checksum that sums to zero, and be answered."""
    sockets: list[RecordingSocket] = []

    def factory(family: int, kind: int, proto: int) -> socket.socket:
        sockets.append(RecordingSocket(family, kind, proto))
        return sockets[-1]

    engine = IcmpEngine(socket_factory=factory)
    settings = IcmpSettings(count=3, packet_interval="10ms", timeout="2s", payload_size=size)
    async with IcmpProber(engine=engine) as prober:
        results = await asyncio.gather(
            *(ping(prober, f"127.0.3.{i}", settings) for i in range(1, 41))
        )
    for result in results:
        assert_sane(result)
    sent = [packet for sock in sockets for packet in sock.sent]
    assert len(sent) == 120
    for packet in sent:
        ident, seq = int.from_bytes(packet[4:6], "big"), int.from_bytes(packet[6:8], "big")
        payload = packet[8:]
        assert len(payload) == max(size, pkt.COOKIE_LEN)
        assert packet == pkt.build_echo_request(ident, seq, payload)
        assert pkt.internet_checksum(packet) == 0
    assert len({packet[4:8] for packet in sent}) == 120  # one key per echo


@needs_raw
async def test_two_probers_ignore_each_others_replies() -> None:
    """Two raw sockets both see every reply; cookies keep the counts right."""
    async with IcmpProber(mode="raw") as one, IcmpProber(mode="raw") as two:
        settings = IcmpSettings(count=10, packet_interval="5ms", timeout="2s")
        addresses = [f"127.0.1.{i}" for i in range(1, 21)]
        results = await asyncio.gather(
            *(ping(p, a, settings) for a in addresses for p in (one, two))
        )
    for result in results:
        assert_sane(result, count=10)


# --------------------------------------------------------------------------
# Datagram ping sockets
# --------------------------------------------------------------------------


@pytest.mark.usefixtures("ping_sockets")
async def test_datagram_ping_sockets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="probes.icmp_engine")
    engine = IcmpEngine(mode="dgram")
    async with IcmpProber(engine=engine) as prober:
        assert prober.mode == "dgram"
        addresses = [f"127.0.2.{i}" for i in range(1, 51)]
        results = await asyncio.gather(*(ping(prober, a) for a in addresses))
        assert engine.outstanding == 0
    for result in results:
        assert_sane(result)
    assert "ICMP: using dgram sockets" in caplog.text


@needs_ipv6
@pytest.mark.usefixtures("ping_sockets")
async def test_datagram_ping_sockets_ipv6() -> None:
    async with IcmpProber(mode="dgram") as prober:
        assert_sane(await ping(prober, "::1"))


# --------------------------------------------------------------------------
# Names, families and failures
# --------------------------------------------------------------------------


async def test_localhost_by_name() -> None:
    async with IcmpProber() as prober:
        result = await ping(prober, "localhost", IcmpSettings(count=2, packet_interval="10ms"))
    assert_sane(result, count=2)
    assert "from localhost (" in result.message


async def test_unresolvable_name_is_reason_dns() -> None:
    """A resolver seam stands in for DNS (a real lookup would leave the host)."""

    async def no_such_name(host: str, family: int) -> list[tuple[int, SockAddr]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    async with IcmpProber(resolver=no_such_name) as prober:
        result = await ping(prober, "nonexistent.invalid")
    assert (result.ok, result.reason) == (False, "dns")
    assert result.message == "cannot resolve 'nonexistent.invalid': Name or service not known"
    assert result.values["packet_loss_ratio"] == 1.0
    assert result.values["packets_sent"] == 0


async def test_slow_resolver_is_bounded_by_the_deadline() -> None:
    async def hangs(host: str, family: int) -> list[tuple[int, SockAddr]]:
        await asyncio.sleep(30)
        return []

    async with IcmpProber(resolver=hangs) as prober:
        started = time.monotonic()
        result = await ping(prober, "slow.invalid", timeout=0.2)
    assert result.reason == "dns"
    assert "deadline" in result.message
    assert time.monotonic() - started < 1.0


async def test_resolver_answers_are_used_in_order_and_family_respected() -> None:
    asked: list[int] = []

    async def resolver(host: str, family: int) -> list[tuple[int, SockAddr]]:
        asked.append(family)
        return [(socket.AF_INET, ("127.0.3.7", 0))]

    async with IcmpProber(resolver=resolver) as prober:
        settings = IcmpSettings(count=1, family="ipv4")
        result = await ping(prober, "box.test", settings)
    assert result.ok, result.message
    assert "box.test (127.0.3.7)" in result.message
    assert asked == [socket.AF_INET]


@pytest.mark.parametrize(
    ("address", "family", "message"),
    [
        ("127.0.0.1", "ipv6", "127.0.0.1 is an IPv4 address but icmp.family is ipv6"),
        ("::1", "ipv4", "::1 is an IPv6 address but icmp.family is ipv4"),
    ],
)
async def test_family_mismatch_is_reason_address_family(
    address: str, family: Any, message: str
) -> None:
    async with IcmpProber() as prober:
        result = await ping(prober, address, IcmpSettings(count=1, family=family))
    assert (result.ok, result.reason, result.message) == (False, "address_family", message)


def refuse_ipv6(family: int, kind: int, proto: int) -> socket.socket:
    if family == socket.AF_INET6:
        raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
    return socket.socket(family, kind, proto)


async def test_host_without_ipv6_fails_v6_targets_only(caplog: pytest.LogCaptureFixture) -> None:
    async with IcmpProber(socket_factory=refuse_ipv6) as prober:
        v6 = await ping(prober, "::1", IcmpSettings(count=1))
        v4 = await ping(prober, "127.0.0.1", IcmpSettings(count=1))
    assert (v6.ok, v6.reason) == (False, "address_family")
    assert "IPv6 unavailable on this host" in v6.message
    assert "Address family not supported" in v6.message
    assert v4.ok, v4.message


async def test_start_declines_a_family_this_host_cannot_ping() -> None:
    """The engine itself says it did not start (the prober no longer asks first);
    the run then goes through probe(), which reports the missing family."""
    engine = IcmpEngine(socket_factory=refuse_ipv6)
    async with IcmpProber(engine=engine) as prober:
        accepted, future = await start_run(prober, "::1")
        assert not accepted
        accepted_v4, v4 = await start_run(prober, "127.0.0.1")
        assert accepted_v4
        assert_sane(await asyncio.wait_for(v4, 3.0))
        await asyncio.sleep(0.05)
        assert not future.done()  # done is never called for a run not started
        assert engine.outstanding == 0


def refuse_all(family: int, kind: int, proto: int) -> socket.socket:
    raise PermissionError(errno.EPERM, "Operation not permitted")


async def test_no_icmp_socket_at_all_raises_a_helpful_error() -> None:
    with pytest.raises(IcmpUnavailable) as info:
        async with IcmpProber(socket_factory=refuse_all):
            pass
    text = str(info.value)
    assert "net.ipv4.ping_group_range" in text
    assert "AmbientCapabilities=CAP_NET_RAW" in text
    # setcap only on the monitor's own venv interpreter, as the README says
    assert 'setcap cap_net_raw+ep "$(readlink -f .venv/bin/python)"' in text
    assert "which python3" not in text and "never the system python3" in text
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert 'setcap cap_net_raw+ep "$(readlink -f .venv/bin/python)"' in readme


class FlakySocket(socket.socket):
    """A real socket whose first ``sendto`` calls fail with given errnos."""

    def __init__(self, family: int, kind: int, proto: int, errors: list[int]) -> None:
        super().__init__(family, kind, proto)
        self.errors = errors

    def sendto(self, *args: Any) -> int:  # type: ignore[override]
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, os.strerror(code))
        return super().sendto(*args)


@pytest.mark.parametrize(
    ("errors", "reason", "received"),
    [
        ([errno.EPERM] * 6, "send_error", 0),  # each send is tried twice
        ([errno.EHOSTUNREACH] * 6, "unreachable", 0),
        ([errno.EAGAIN] * 12, "send_error", 0),  # retried later, then given up per echo
        ([errno.ENOBUFS, errno.EAGAIN], "ok", 3),  # a brief burst: retried and sent
        ([errno.ENOBUFS] * 12, "local_resources", 0),  # no buffer here: not the target's fault
        ([errno.EHOSTUNREACH], "ok", 3),  # a stale error from another echo: resent
        ([errno.EPERM] * 2, "ok", 2),  # one echo refused, the others answered
    ],
)
async def test_send_errors_are_results_not_crashes(
    errors: list[int], reason: str, received: int
) -> None:
    def factory(family: int, kind: int, proto: int) -> socket.socket:
        return FlakySocket(family, kind, proto, list(errors))

    engine = IcmpEngine(socket_factory=factory)
    async with IcmpProber(engine=engine) as prober:
        result = await ping(prober, "127.0.0.1")
        assert engine.outstanding == 0
    assert result.reason == reason, result.message
    assert result.values["packets_received"] == received
    assert result.values["packets_sent"] == 3


# --------------------------------------------------------------------------
# Deadlines, cancellation, timestamps
# --------------------------------------------------------------------------


async def test_echoes_past_the_deadline_are_not_sent() -> None:
    settings = IcmpSettings(count=5, packet_interval="100ms", timeout="1s")
    async with IcmpProber() as prober:
        result = await ping(prober, "127.0.0.1", settings, timeout=0.25)
    assert result.ok, result.message
    assert result.values["packets_sent"] == 3  # at 0, 100 and 200 ms
    assert result.duration < 0.3


async def test_deadline_already_past_sends_nothing() -> None:
    async with IcmpProber() as prober:
        result = await ping(prober, "127.0.0.1", timeout=-1.0)
    assert (result.ok, result.reason) == (False, "timeout")
    assert result.values["packets_sent"] == 0


async def test_cancelled_probe_leaves_nothing_behind() -> None:
    settings = IcmpSettings(count=50, packet_interval="20ms", timeout="5s")
    engine = IcmpEngine()
    async with IcmpProber(engine=engine) as prober:
        task = asyncio.create_task(ping(prober, "127.0.0.1", settings, timeout=5))
        await until(lambda: engine.outstanding > 0, 5, "echoes in flight")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert engine.outstanding == 0
        assert_sane(await ping(prober, "127.0.0.1"))


@pytest.mark.parametrize(("kernel", "lagged"), [(True, False), (False, True)])
async def test_kernel_timestamps_hide_event_loop_lag(kernel: bool, lagged: bool) -> None:
    """A loop busy for 50 ms inflates monotonic RTTs but not kernel-stamped ones."""
    settings = IcmpSettings(count=1)
    async with IcmpProber(kernel_timestamps=kernel) as prober:
        task = asyncio.create_task(ping(prober, "127.0.0.1", settings))
        await asyncio.sleep(0)  # the echo goes out, its reply is queued
        time.sleep(0.05)  # the point: a blocked event loop
        result = await task
    rtt = result.values["rtt_max_seconds"]
    assert (rtt >= 0.05) is lagged, rtt


async def test_closing_the_prober_ends_runs_in_flight() -> None:
    settings = IcmpSettings(count=20, packet_interval="50ms", timeout="5s")
    prober = IcmpProber()
    await prober.__aenter__()
    task = asyncio.create_task(ping(prober, "127.0.0.1", settings, timeout=5))
    await asyncio.sleep(0.12)
    await prober.__aexit__(None, None, None)
    result = await asyncio.wait_for(task, 1.0)
    assert 1 <= result.values["packets_sent"] <= 5
    assert result.values["packets_received"] >= 1


# --------------------------------------------------------------------------
# start(): the scheduler's tick lane, without a coroutine per run
# --------------------------------------------------------------------------


async def start_run(
    prober: IcmpProber, address: str, settings: IcmpSettings = FAST, timeout: float = 2.0
) -> tuple[bool, asyncio.Future[ProbeResult]]:
    """``prober.start`` with a future for the result; (accepted, future)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[ProbeResult] = loop.create_future()

    def done(result: ProbeResult) -> None:
        assert not future.done(), "done() called twice"
        future.set_result(result)

    target = ProbeTarget(address, address)
    accepted = prober.start(target, settings, deadline=loop.time() + timeout, done=done)
    assert not future.done(), "done() must not run inside start()"
    return accepted, future


async def test_start_pings_two_hundred_literals_like_probe() -> None:
    engine = IcmpEngine()
    async with IcmpProber(engine=engine) as prober:
        runs = [await start_run(prober, f"127.0.1.{i}") for i in range(1, 201)]
        assert all(accepted for accepted, _ in runs)
        results = await asyncio.wait_for(asyncio.gather(*(f for _, f in runs)), 5.0)
        assert engine.outstanding == 0
    for result in results:
        assert_sane(result)
        assert result.samples  # rendered by the exporter like probe()'s


async def test_start_runs_settled_together_each_reach_done_once_despite_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """200 runs started from one callback (as the tick lane does) settle in a few
    engine wake-ups and are handed on in batches: every run's ``done`` is called
    once, never inside ``start()``, and one ``done`` that raises (a consumer's
    bug) is logged without losing the results settled beside it."""
    loop = asyncio.get_running_loop()
    delivered: list[str] = []

    def done(address: str, result: ProbeResult) -> None:
        delivered.append(address)
        assert_sane(result)
        if address == "127.0.2.7":
            raise RuntimeError("a consumer's bug")

    engine = IcmpEngine()
    addresses = [f"127.0.2.{i}" for i in range(1, 201)]
    async with IcmpProber(engine=engine) as prober:
        deadline = loop.time() + 2.0
        for address in addresses:
            target = ProbeTarget(address, address)
            assert prober.start(target, FAST, deadline=deadline, done=partial(done, address))
        assert delivered == [], "done() must not run inside start()"
        with caplog.at_level(logging.ERROR):
            await until(lambda: len(delivered) == len(addresses), timeout=5.0)
        assert engine.outstanding == 0
    assert sorted(delivered) == sorted(addresses)  # each once
    assert "a consumer's bug" in caplog.text


async def test_start_declines_names_and_lets_probe_resolve_them() -> None:
    async with IcmpProber() as prober:
        accepted, _ = await start_run(prober, "localhost")
        assert not accepted  # a name is looked up at every run, by probe()
        assert_sane(await ping(prober, "localhost"))


async def test_start_reports_send_errors_and_past_deadlines_through_done() -> None:
    def factory(family: int, kind: int, proto: int) -> socket.socket:
        return FlakySocket(family, kind, proto, [errno.EHOSTUNREACH] * 6)

    engine = IcmpEngine(socket_factory=factory)
    async with IcmpProber(engine=engine) as prober:
        accepted, future = await start_run(prober, "127.0.0.1")
        assert accepted
        result = await asyncio.wait_for(future, 3.0)
        assert result.reason == "unreachable", result.message
        accepted, future = await start_run(prober, "127.0.0.1", timeout=-1.0)
        late = await asyncio.wait_for(future, 1.0)
        assert engine.outstanding == 0
    assert (late.ok, late.reason, late.values["packets_sent"]) == (False, "timeout", 0)


def test_registry_entry() -> None:
    assert KINDS["icmp"] is KIND
    assert KIND.settings is IcmpSettings
    assert isinstance(KIND.open(ProbeContext()), IcmpProber)
    assert issubclass(IcmpUnavailable, ProbeSetupError)
    assert [f.name for f in KIND.families] == [
        "continuity_icmp_rtt_seconds",
        "continuity_icmp_jitter_seconds",
        "continuity_icmp_packet_loss_ratio",
    ]
    assert all(f.type == "gauge" for f in KIND.families)
