"""Path traces through a chain of router namespaces (needs root).

root ── r1 ── r2 ── r3 ── host (:mod:`tests.netns_chain`); the ICMP prober
traces with TTL-limited echoes on its shared socket. Nothing is sent
anywhere but the chain's 10.80.0.0/16 and fd80::/16 addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from monitor.contract import ProbeTarget
from probes.icmp import IcmpProber, IcmpSettings
from probes.trace import PathTrace
from tests.netns import require, run, sysctl
from tests.netns_chain import Chain, router_chain

pytestmark = pytest.mark.root

SETTINGS = IcmpSettings(count=1, timeout="2s")
TIMEOUT = 1.5


@pytest.fixture
def chain() -> Iterator[Chain]:
    require()
    with router_chain(3) as made:
        yield made


@pytest.fixture(params=["raw", "dgram"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both socket modes; datagram ping sockets need the ping group range widened."""
    if request.param == "raw":
        yield "raw"
        return
    require()
    with sysctl("net.ipv4.ping_group_range", "0 2147483647"):
        yield "dgram"


async def trace(prober: IcmpProber, address: str, max_hops: int = 8) -> PathTrace:
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    return await prober.trace(
        ProbeTarget("host", address),
        SETTINGS,
        max_hops=max_hops,
        probes_per_hop=2,
        deadline=deadline,
    )


def hop_addresses(result: PathTrace) -> list[str | None]:
    return [hop.address for hop in result.hops]


@pytest.mark.parametrize("family", ["v4", "v6"])
async def test_trace_names_every_router_then_the_host(chain: Chain, mode: str, family: str) -> None:
    node = chain.node_v4 if family == "v4" else chain.node_v6
    async with IcmpProber(mode=mode) as prober:  # type: ignore[arg-type]
        result = await trace(prober, node(4))
    assert result.error == ""
    assert hop_addresses(result) == [node(1), node(2), node(3), node(4)], result
    assert [hop.kind for hop in result.hops] == ["ttl_exceeded"] * 3 + ["reply"]
    assert result.reached and result.destination_hop == 4
    assert result.last_answering is not None and result.last_answering.address == node(3)
    assert result.probes == 16  # 8 hops x 2 probes, all sent
    assert all(hop.rtt is not None and hop.rtt < 0.5 for hop in result.hops)


@pytest.mark.parametrize("family", ["v4", "v6"])
@pytest.mark.parametrize("cut", ["near", "far"])
async def test_cut_between_router_2_and_3_ends_the_path_at_router_2(
    chain: Chain, mode: str, family: str, cut: str
) -> None:
    node = chain.node_v4 if family == "v4" else chain.node_v6
    async with IcmpProber(mode=mode) as prober:  # type: ignore[arg-type]
        assert (await trace(prober, node(4))).reached
        (chain.cut_near if cut == "near" else chain.cut_far)(2)
        loop = asyncio.get_running_loop()
        begin = loop.time()
        result = await trace(prober, node(4))
        took = loop.time() - begin
    assert not result.reached
    last = result.last_answering
    assert last is not None and (last.ttl, last.address) == (2, node(2)), result
    # Near: r2 has no route on and says so; far: r2 forwards into a dead link.
    assert result.hops[1].kind == ("unreachable" if cut == "near" else "ttl_exceeded")
    assert all(not hop.answered for hop in result.hops[2:]), result
    assert took < TIMEOUT + 0.3  # bounded by the deadline, whatever is silent


async def test_our_own_link_down_is_no_hop_to_blame(chain: Chain) -> None:
    """With our end down its routes vanish; the safety route refuses every send."""
    async with IcmpProber() as prober:
        run(["ip", "link", "set", chain.links[0].left_if, "down"])
        result = await trace(prober, chain.host_v4)
    assert result.hops == () and not result.reached
    assert result.error.startswith(f"this monitor cannot send to {chain.host_v4} (send:"), result


async def test_chain_restored_is_traced_whole_again(chain: Chain) -> None:
    async with IcmpProber() as prober:
        chain.cut_near(2)
        assert not (await trace(prober, chain.host_v4)).reached
        chain.restore()
        result = await trace(prober, chain.host_v4)
    assert result.reached and result.destination_hop == 4, result


async def test_traces_and_pings_share_the_socket_without_mixing(chain: Chain) -> None:
    """A ping to the host while a trace to it runs keeps its own default TTL."""
    settings = IcmpSettings(count=3, packet_interval="20ms", timeout="1s")
    async with IcmpProber() as prober:
        deadline = asyncio.get_running_loop().time() + 1.0
        ping, result = await asyncio.gather(
            prober.probe(ProbeTarget("host", chain.host_v4), settings, deadline=deadline),
            trace(prober, chain.host_v4),
        )
    assert ping.ok and ping.values["packets_received"] == 3, ping.message
    assert result.reached and result.destination_hop == 4
