"""What a path trace costs, beside traceroute in the same run (``python -m bench.path_trace``).

A chain of three router namespaces and a host (:mod:`tests.netns_chain`,
10.80.0.0/16 only). For each case, ``--runs`` traces by the daemon's own
tracer (the ICMP prober's :meth:`trace`, raw socket, the daemon's defaults:
16 hops, 2 probes per hop, 2 s) and by ``traceroute -I -n -q 2 -m 16 -w 2``
(ICMP echo, the same probes and wait), each measured by:

- packets: what left the root namespace into the chain (the veth's TX
  counter, so both are counted the same way);
- wall time until the trace ended;
- CPU: this process's CPU time for ours, the child's (user + system) for traceroute.

Cases: the whole path (the host answers), the path cut between r2 and r3
(r3's side down: r2 forwards into a dead link, nothing answers beyond), and
ours with a baseline (hops limited to two past the target and the wait to
four times the slowest baseline hop, at least 0.5 s, as the daemon does
once it knows the path). Medians of the runs are printed as a table.
Needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.contract import ProbeTarget
from monitor.path_watch import WAIT_FLOOR, WAIT_RTT_FACTOR
from probes.icmp import IcmpProber, IcmpSettings
from tests import netns
from tests.netns_chain import Chain, router_chain

MAX_HOPS, PROBES, WAIT = 16, 2, 2.0


@dataclass
class Sample:
    packets: int
    wall: float
    cpu: float
    last_hop: str


def tx_packets(interface: str) -> int:
    return int(Path(f"/sys/class/net/{interface}/statistics/tx_packets").read_text())


async def ours(prober: IcmpProber, chain: Chain, max_hops: int, wait: float = WAIT) -> Sample:
    interface = chain.links[0].left_if
    before = tx_packets(interface)
    cpu, begin = time.process_time(), time.perf_counter()
    deadline = asyncio.get_running_loop().time() + wait
    trace = await prober.trace(
        ProbeTarget("host", chain.host_v4),
        IcmpSettings(),
        max_hops=max_hops,
        probes_per_hop=PROBES,
        deadline=deadline,
    )
    wall, used = time.perf_counter() - begin, time.process_time() - cpu
    last = trace.hops[-1] if trace.reached else trace.last_answering
    return Sample(tx_packets(interface) - before, wall, used, last.address if last else "-")


def theirs(chain: Chain) -> Sample:
    interface = chain.links[0].left_if
    before = tx_packets(interface)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    command = ["traceroute", "-I", "-n", "-q", str(PROBES), "-m", str(MAX_HOPS)]
    out = subprocess.run(
        [*command, "-w", f"{WAIT:g}", chain.host_v4],
        capture_output=True,
        text=True,
        timeout=MAX_HOPS * WAIT * PROBES + 10,
        check=False,
    ).stdout
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    answered = [
        line.split()[1]
        for line in out.splitlines()[1:]
        if len(line.split()) > 1 and "*" not in line.split()[1]
    ]
    return Sample(tx_packets(interface) - before, wall, cpu, answered[-1] if answered else "-")


def median(samples: list[Sample], pick: Callable[[Sample], float]) -> float:
    return statistics.median(pick(s) for s in samples)


def row(case: str, who: str, samples: list[Sample]) -> str:
    return (
        f"| {case} | {who} | {median(samples, lambda s: s.packets):.0f} | "
        f"{median(samples, lambda s: s.wall) * 1000:.0f} ms | "
        f"{median(samples, lambda s: s.cpu) * 1000:.1f} ms | {samples[-1].last_hop} |"
    )


async def main(runs: int) -> None:
    reason = netns.skip_reason()
    if reason is not None:
        raise SystemExit(f"bench.path_trace: {reason}")
    lines = [
        "| case | tracer | packets | wall | CPU | last answering hop |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    with router_chain(3) as chain:
        async with IcmpProber(mode="raw") as prober:
            await ours(prober, chain, MAX_HOPS)  # warm up: neighbours known everywhere
            baseline = await prober.trace(
                ProbeTarget("host", chain.host_v4),
                IcmpSettings(),
                max_hops=MAX_HOPS,
                probes_per_hop=PROBES,
                deadline=asyncio.get_running_loop().time() + WAIT,
            )
            # The daemon's wait once it has a baseline (monitor.path_watch.PathWatch._wait).
            slowest = max(h.rtt for h in baseline.hops if h.rtt is not None)
            wait = min(WAIT, max(WAIT_FLOOR, WAIT_RTT_FACTOR * slowest))
            for case, cut in (("whole path (4 hops)", False), ("cut r2-r3", True)):
                if cut:
                    chain.cut_far(2)
                    await asyncio.sleep(4)  # r2 learns its neighbour is gone (ARP fails)
                mine = [await ours(prober, chain, MAX_HOPS) for _ in range(runs)]
                based = [await ours(prober, chain, 4 + 2, wait) for _ in range(runs)]
                peer = [theirs(chain) for _ in range(runs)]
                lines.append(row(case, "daemon, 16 hops", mine))
                lines.append(row(case, f"daemon, baseline known (6 hops, wait {wait:g} s)", based))
                lines.append(row(case, "traceroute -I", peer))
    print("\n".join(lines))
    print(f"\nr2 = {chain.node_v4(2)}, host = {chain.host_v4}; medians of {runs} runs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
