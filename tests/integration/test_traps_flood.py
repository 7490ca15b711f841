"""Trap floods from loopback "hosts" (127.x source addresses) never crowd out valid traps.

A real :class:`~probes.traps.TrapListener` with the default budgets runs
in-process; a sender process floods the port from one source address for a
few seconds while net-snmp's ``snmptrap`` sends 50 valid traps from another.
Whatever the flood (random bytes at 3,000 and 10,000 datagrams/s, traps
with the right community from one host, v3 traps with a bad HMAC), all 50
valid traps must be accepted. An overload the socket cannot absorb moves
``continuity_snmp_traps_dropped_kernel_total``. A hypothesis test feeds
datagrams straight to the listener: it never raises and counts each once.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract import ProbeEvent
from monitor.engine.exporter import Exporter, SelfMetrics
from probes.traps import FAMILIES, RESULTS, TrapListener, TrapsSection
from tests.trap_flood import (
    SECTION,
    V3,
    V3_BAD_HMAC,
    capture,
    flood,
    net_snmp_env,
    valid_traps,
)

pytestmark = pytest.mark.needs("snmptrap")

VALID = 50
SECONDS = 3.0


@dataclass
class Running:
    listener: TrapListener
    env: dict[str, str]
    events: list[tuple[str, ProbeEvent]] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.listener.address[1]

    def from_host(self, source: str) -> int:
        return sum(1 for agent, _ in self.events if agent == source)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    events: list[tuple[str, ProbeEvent]] = []
    section = TrapsSection.model_validate(SECTION)
    async with TrapListener(section, lambda a, e: events.append((a, e))) as listener:
        yield Running(listener, net_snmp_env(tmp_path), events)


async def settle(running: Running, source: str, expected: int, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while running.from_host(source) < expected and time.monotonic() < end:
        await asyncio.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("rate", [3000, 10000])
async def test_random_junk_does_not_crowd_out_valid_traps(running: Running, rate: int) -> None:
    flooded, sent = await asyncio.gather(
        flood(running.port, source="127.0.1.1", rate=rate, seconds=SECONDS),
        valid_traps(running.port, running.env, count=VALID, source="127.0.0.2", seconds=SECONDS),
    )
    await settle(running, "127.0.0.2", VALID)
    counts = running.listener.counters.counts
    assert sent == VALID
    assert running.from_host("127.0.0.2") == VALID, counts
    assert flooded >= rate * SECONDS * 0.8  # the flood really ran at about that rate
    assert counts["malformed"] > flooded * 0.5
    assert counts["rate_limited"] == 0  # junk never spends a budget


@pytest.mark.slow
async def test_one_host_flooding_good_traps_cannot_starve_another(running: Running) -> None:
    good = [await capture(running.env, ("-v", "2c", "-c", "public"))]
    flooded, sent = await asyncio.gather(
        flood(running.port, source="127.0.1.1", rate=5000, seconds=SECONDS, payloads=good),
        valid_traps(running.port, running.env, count=VALID, source="127.0.0.2", seconds=SECONDS),
    )
    await settle(running, "127.0.0.2", VALID)
    counts = running.listener.counters.counts
    assert sent == VALID
    assert running.from_host("127.0.0.2") == VALID, counts
    assert counts["rate_limited"] > flooded * 0.5  # the flooder hit its own budget
    # it got its share: about max_per_source_per_second, not the whole budget
    assert running.from_host("127.0.1.1") <= 500 * (SECONDS + 2)


@pytest.mark.slow
async def test_a_bad_hmac_flood_does_not_crowd_out_valid_traps(running: Running) -> None:
    bad = [await capture(running.env, V3_BAD_HMAC)]
    cpu = time.process_time()
    flooded, sent_v2c, sent_v3 = await asyncio.gather(
        flood(running.port, source="127.0.1.1", rate=1500, seconds=SECONDS, payloads=bad),
        valid_traps(running.port, running.env, count=VALID, source="127.0.0.2", seconds=SECONDS),
        valid_traps(
            running.port, running.env, count=VALID, source="127.0.0.3", seconds=SECONDS,
            credentials=V3,
        ),
    )  # fmt: skip
    cpu = time.process_time() - cpu
    await settle(running, "127.0.0.2", VALID)
    await settle(running, "127.0.0.3", VALID)
    counts = running.listener.counters.counts
    assert (sent_v2c, sent_v3) == (VALID, VALID)
    assert running.from_host("127.0.0.2") == VALID, counts
    assert running.from_host("127.0.0.3") == VALID, counts
    assert counts["auth_failure"] > 0 and counts["rate_limited"] > flooded * 0.5
    # pysnmp saw at most the v3 budget: well under a core over the flood
    assert cpu < SECONDS * 0.8, f"{cpu:.2f} s of CPU in {SECONDS} s"


async def test_an_overload_moves_the_kernel_drop_counter(running: Running) -> None:
    loop = asyncio.get_running_loop()
    sender = asyncio.create_task(
        flood(running.port, source="127.0.1.1", rate=0, seconds=1.0)  # as fast as it can
    )
    await asyncio.sleep(0.3)
    time.sleep(1.0)  # the loop is stuck: the socket's buffer fills and overflows
    flooded = await sender
    await asyncio.sleep(0.2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"after", ("127.0.0.1", running.port))  # carries the drop count
    end = loop.time() + 5
    while running.listener.counters.kernel_dropped == 0 and loop.time() < end:
        await asyncio.sleep(0.05)
    dropped = running.listener.counters.kernel_dropped
    handled = sum(running.listener.counters.counts.values())
    assert 0 < dropped <= flooded
    assert handled + dropped <= flooded + 1
    exporter = Exporter(FAMILIES, SelfMetrics())
    exporter.add_listener("traps", running.listener)
    text = exporter.render().decode()
    assert f"continuity_snmp_traps_dropped_kernel_total {float(dropped)}" in text


def _ber_header(version: int) -> bytes:
    return bytes([0x30, 0x81, 0x80, 0x02, 0x01, version])


datagrams = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([0, 1, 3]), st.binary(max_size=200)).map(
        lambda t: _ber_header(t[0]) + t[1]
    ),
    st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
        lambda t: _ber_header(1) + b"\x04\x06public" + t[0] + b"\xa7" + t[1]
    ),
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(data=datagrams, host=st.integers(0, 255), port=st.integers(1, 65535))
def test_any_datagram_is_counted_once_and_never_raises(data: bytes, host: int, port: int) -> None:
    section = TrapsSection.model_validate({**SECTION, "users": []})
    listener = TrapListener(section, lambda a, e: None)
    before = sum(listener.counters.counts.values())
    result = listener.handle(data, (f"127.0.{host}.1", port))
    assert result in RESULTS
    assert sum(listener.counters.counts.values()) == before + 1
    assert listener.counters.counts[result] >= 1


async def test_sources_are_checked_first(running: Running) -> None:
    good = await capture(running.env, ("-v", "2c", "-c", "public"))
    section = TrapsSection.model_validate(
        {**SECTION, "sources": ["127.0.0.2/32", "10.80.0.0/16"], "max_per_second": 1}
    )
    listener = TrapListener(section, lambda a, e: None)
    assert [listener.handle(good, ("127.0.0.3", 162)) for _ in range(3)] == ["bad_source"] * 3
    assert listener.handle(good, ("::ffff:127.0.0.3", 162, 0, 0)) == "bad_source"
    assert listener.handle(good, ("127.0.0.2", 162)) == "accepted"  # budget left: 1
    assert listener.handle(good, ("10.80.1.2", 162)) == "rate_limited"
    with pytest.raises(ValueError, match="sources"):
        TrapsSection.model_validate({**SECTION, "sources": ["not-a-network"]})
