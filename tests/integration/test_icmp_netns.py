"""The icmp probe against test hosts in network namespaces (needs root).

Each test gets its own namespace host (see :mod:`tests.netns`) at
10.80.X.2 / fd80:X::2 and shapes its network with ``ip`` and nftables:
cut links, random drops, ICMP errors. Nothing is sent anywhere else.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.contract import ProbeResult, ProbeTarget
from probes.icmp import IcmpProber, IcmpSettings
from tests.netns import NetnsHost, netns_host, require, sysctl

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[2]
QUICK = IcmpSettings(count=3, packet_interval="10ms", timeout="1s")


@pytest.fixture
def host() -> Iterator[NetnsHost]:
    require()
    with netns_host() as made:
        yield made


@pytest.fixture(params=["raw", "dgram"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both socket modes; datagram sockets need the ping group range widened."""
    if request.param == "raw":
        yield "raw"
        return
    require()
    with sysctl("net.ipv4.ping_group_range", "0 2147483647"):
        yield "dgram"


async def ping(
    prober: IcmpProber, address: str, settings: IcmpSettings = QUICK, timeout: float = 1.0
) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + timeout
    return await prober.probe(ProbeTarget("ns", address), settings, deadline=deadline)


async def test_namespace_host_answers_over_ipv4_and_ipv6(host: NetnsHost, mode: str) -> None:
    async with IcmpProber(mode=mode) as prober:  # type: ignore[arg-type]
        v4, v6 = await asyncio.gather(ping(prober, host.v4), ping(prober, host.v6))
    for result in (v4, v6):
        assert result.ok, result.message
        assert result.values["packets_received"] == 3
        assert result.values["rtt_max_seconds"] < 0.2


async def test_cut_link_times_out_and_recovers(host: NetnsHost) -> None:
    async with IcmpProber() as prober:
        assert (await ping(prober, host.v4)).ok
        host.cut_peer()
        down = await ping(prober, host.v4, timeout=0.5)
        assert (down.ok, down.reason) == (False, "timeout"), down.message
        assert down.values["packet_loss_ratio"] == 1.0
        assert "rtt_avg_seconds" not in down.values
        host.restore()
        up = await ping(prober, host.v4)
        assert up.ok, up.message


async def test_our_end_down_is_unreachable_not_a_crash(host: NetnsHost) -> None:
    """With our end down its routes vanish; the safety route refuses the send."""
    async with IcmpProber() as prober:
        host.cut()
        v4, v6 = await asyncio.gather(ping(prober, host.v4), ping(prober, host.v6))
        assert (v4.ok, v4.reason) == (False, "unreachable"), v4.message
        assert "send: No route to host" in v4.message
        assert (v6.ok, v6.reason) == (False, "unreachable"), v6.message
        host.restore()
        v4, v6 = await asyncio.gather(ping(prober, host.v4), ping(prober, host.v6))
        assert v4.ok, v4.message
        assert v6.ok, v6.message


async def test_icmp_errors_become_unreachable(host: NetnsHost, mode: str) -> None:
    host.nft(
        """
        table inet t {
            chain in {
                type filter hook input priority 0;
                icmp type echo-request reject with icmp type host-unreachable
                icmpv6 type echo-request reject with icmpv6 type addr-unreachable
            }
        }
        """
    )
    async with IcmpProber(mode=mode) as prober:  # type: ignore[arg-type]
        v4, v6 = await asyncio.gather(ping(prober, host.v4), ping(prober, host.v6))
    assert (v4.ok, v4.reason) == (False, "unreachable"), v4.message
    assert f"host unreachable (from {host.v4})" in v4.message
    assert (v6.ok, v6.reason) == (False, "unreachable"), v6.message
    assert f"address unreachable (from {host.v6})" in v6.message
    # The run ends as soon as every echo is answered by an error.
    assert v4.duration < 0.5


async def test_errors_stay_with_the_echo_they_answer(host: NetnsHost, mode: str) -> None:
    """Every odd sequence number is rejected, every even one answered.

    An ICMP error leaves a pending error on a ping socket that the next
    send returns whatever its destination; exactly half the echoes must
    still be answered, none lost to someone else's error.
    """
    host.nft(
        """
        table inet t {
            chain in {
                type filter hook input priority 0;
                icmp type echo-request icmp sequence & 1 == 1 reject with icmp type host-unreachable
            }
        }
        """
    )
    settings = IcmpSettings(count=25, packet_interval="1ms", timeout="1s")
    async with IcmpProber(mode=mode) as prober:  # type: ignore[arg-type]
        results = await asyncio.gather(*(ping(prober, host.v4, settings) for _ in range(4)))
    sent = sum(r.values["packets_sent"] for r in results)
    received = sum(r.values["packets_received"] for r in results)
    assert (sent, received) == (100, 50), [r.message for r in results]
    # Each run ends with its last echo settled, long before the deadline.
    assert max(r.duration for r in results) < 0.5


async def test_partial_loss_matches_the_drop_rate(host: NetnsHost) -> None:
    host.exec("nft", "add", "table", "inet", "t")
    host.exec("nft", "add", "chain", "inet", "t", "in", "{ type filter hook input priority 0; }")
    host.exec(
        "nft", "add", "rule", "inet", "t", "in", "icmp", "type", "echo-request",
        "numgen", "random", "mod", "100", "<", "30", "drop",
    )  # fmt: skip
    runs, count, drop = 4, 100, 0.30
    settings = IcmpSettings(count=count, packet_interval="5ms", timeout="1s")
    async with IcmpProber() as prober:
        results = await asyncio.gather(
            *(ping(prober, host.v4, settings, timeout=1.0) for _ in range(runs))
        )
    sent = sum(r.values["packets_sent"] for r in results)
    received = sum(r.values["packets_received"] for r in results)
    assert sent == runs * count
    loss = 1 - received / sent
    # 3.5 binomial standard deviations: about 0.08 for 400 echoes; a false
    # alarm is a 1-in-2000 event.
    tolerance = 3.5 * math.sqrt(drop * (1 - drop) / sent)
    assert abs(loss - drop) <= tolerance, (loss, tolerance)
    for result in results:
        assert result.ok  # max_loss_ratio defaults to 1.0
        assert result.values["jitter_seconds"] >= 0.0

    strict = IcmpSettings(count=50, packet_interval="5ms", timeout="1s", max_loss_ratio=0.05)
    async with IcmpProber() as prober:
        result = await ping(prober, host.v4, strict, timeout=1.0)
    assert (result.ok, result.reason) == (False, "loss"), result.message


def test_real_resolver_failure_is_reason_dns(host: NetnsHost) -> None:
    """``nonexistent.invalid`` through the system resolver, inside the namespace.

    The namespace has no route to any name server, so the lookup fails
    locally instead of sending a query out of the machine.
    """
    script = (
        "import asyncio, json\n"
        "from monitor.contract import ProbeTarget\n"
        "from probes.icmp import IcmpProber, IcmpSettings\n"
        "async def main():\n"
        "    async with IcmpProber() as prober:\n"
        "        deadline = asyncio.get_running_loop().time() + 3\n"
        "        r = await prober.probe(ProbeTarget('x', 'nonexistent.invalid'),\n"
        "                               IcmpSettings(count=1), deadline=deadline)\n"
        "        print(json.dumps([r.ok, r.reason, r.message]))\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run(
        ["ip", "netns", "exec", host.name, sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    ok, reason, message = json.loads(out.stdout)
    assert (ok, reason) == (False, "dns")
    assert message.startswith("cannot resolve 'nonexistent.invalid': ")
