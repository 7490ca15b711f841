"""Micro-benchmark: CPU spent per ICMP echo by the one-socket engine.

``python -m bench.icmp_engine`` pings N loopback addresses (127.x.y.z, every
one answers) concurrently through one :class:`~probes.icmp.IcmpProber`,
``--count`` echoes each, and reports the process CPU time (user + system,
from ``resource.getrusage``) divided by the echoes sent. System time
includes the kernel building the loopback replies, which a real network
would do on the far host. Each configuration runs ``--repeat`` times; the
table shows medians. Only loopback is touched, and every run is bounded by
its deadline.

Three layers can be measured: ``engine`` (``IcmpEngine.ping`` alone),
``probe`` (``IcmpProber.probe``: address parsing, echoes, statistics and the
``ProbeResult``) and ``start`` (``IcmpProber.start``, the scheduler's tick lane's
path: no task per run, the result handed to a ``done`` callback; all runs started
from one callback, as a tick starts its runs); ``--layer icmplib`` adds icmplib's
per-ping sockets for comparison. Columns: layer, mode (raw/dgram), ts (kernel
or monotonic receive times), N, echoes, replies, CPU seconds (user/sys), µs per
echo, and the mean RTT the probe reported (on loopback the true RTT is tens of µs, so a large figure
there is event-loop lag counted as network time).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.contract import ProbeResult, ProbeTarget
from probes.icmp import IcmpProber, IcmpSettings
from probes.icmp_engine import IcmpEngine

MAX_TARGETS = 60000
"""127.1.0.1 .. 127.1.234.255 and on: far below 2^24, far above the runs here."""


@dataclass(frozen=True)
class Run:
    layer: str
    mode: str
    kernel_ts: bool
    targets: int
    echoes: int
    replies: int
    user: float
    system: float
    wall: float
    rtt_avg: float

    @property
    def cpu(self) -> float:
        return self.user + self.system

    @property
    def us_per_echo(self) -> float:
        return self.cpu / max(self.echoes, 1) * 1e6


def loopback_addresses(n: int) -> list[str]:
    """n distinct addresses in 127.1.0.0/16 and up (all answered by the kernel)."""
    if n > MAX_TARGETS:
        raise SystemExit(f"at most {MAX_TARGETS} targets")
    return [f"127.{1 + i // 62500}.{(i // 250) % 250}.{i % 250 + 1}" for i in range(n)]


async def engine_run(
    n: int, count: int, interval: str, timeout: float, mode: str, kernel_ts: bool
) -> Run:
    """The engine alone: ``IcmpEngine.ping`` without the prober's result building."""
    gap = IcmpSettings.model_validate({"packet_interval": interval}).packet_interval
    sockaddrs = [(a, 0) for a in loopback_addresses(n)]
    async with IcmpEngine(mode=mode, kernel_timestamps=kernel_ts) as engine:  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        deadline = loop.time() + timeout
        outcomes = await asyncio.gather(
            *(
                engine.ping(
                    socket.AF_INET,
                    sockaddr,
                    count=count,
                    interval=gap,
                    payload_size=56,
                    deadline=deadline,
                )
                for sockaddr in sockaddrs
            )
        )
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
    rtts = [rtt for o in outcomes for rtt in o.rtts if rtt is not None]
    return Run(
        "engine",
        mode,
        kernel_ts,
        n,
        sum(o.sent for o in outcomes),
        len(rtts),
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        wall,
        statistics.fmean(rtts) if rtts else float("nan"),
    )


async def probe_run(
    n: int, count: int, interval: str, timeout: float, mode: str, kernel_ts: bool
) -> Run:
    """The whole probe: resolution, echoes, statistics, ProbeResult."""
    settings, targets = _probe_inputs(n, count, interval, timeout)
    async with IcmpProber(mode=mode, kernel_timestamps=kernel_ts) as prober:  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        deadline = loop.time() + timeout
        results = await asyncio.gather(
            *(prober.probe(t, settings, deadline=deadline) for t in targets)
        )
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
    return _layer_run("probe", mode, kernel_ts, results, before, after, wall)


async def start_run(
    n: int, count: int, interval: str, timeout: float, mode: str, kernel_ts: bool
) -> Run:
    """The tick lane's path: ``IcmpProber.start`` for every target from one callback."""
    settings, targets = _probe_inputs(n, count, interval, timeout)
    async with IcmpProber(mode=mode, kernel_timestamps=kernel_ts) as prober:  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        for target in targets:  # parse the literals once, as the daemon's runs after the first
            prober.start(target, settings, deadline=loop.time(), done=lambda _result: None)
        await asyncio.sleep(0.1)
        results: list[ProbeResult] = []
        finished = loop.create_future()

        def done(result: ProbeResult) -> None:
            results.append(result)
            if len(results) == n:
                finished.set_result(None)

        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.perf_counter()
        deadline = loop.time() + timeout
        for target in targets:
            prober.start(target, settings, deadline=deadline, done=done)
        await finished
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_SELF)
    return _layer_run("start", mode, kernel_ts, results, before, after, wall)


def _probe_inputs(
    n: int, count: int, interval: str, timeout: float
) -> tuple[IcmpSettings, list[ProbeTarget]]:
    """The probe and start layers' settings and loopback targets."""
    # as a config file gives them: durations as text, which the model parses
    settings = IcmpSettings.model_validate(
        {
            "count": count,
            "packet_interval": interval,
            "timeout": f"{timeout}s",
            "interval": f"{timeout}s",
        }
    )
    return settings, [ProbeTarget(a, a) for a in loopback_addresses(n)]


def _layer_run(
    layer: str,
    mode: str,
    kernel_ts: bool,
    results: Sequence[ProbeResult],
    before: resource.struct_rusage,
    after: resource.struct_rusage,
    wall: float,
) -> Run:
    """A :class:`Run` of the probe or start layer from its results and CPU readings."""
    sent = sum(int(r.values["packets_sent"]) for r in results)
    received = sum(int(r.values["packets_received"]) for r in results)
    rtts = [r.values["rtt_avg_seconds"] for r in results if "rtt_avg_seconds" in r.values]
    return Run(
        layer,
        mode,
        kernel_ts,
        len(results),
        sent,
        received,
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        wall,
        statistics.fmean(rtts) if rtts else float("nan"),
    )


async def icmplib_run(
    n: int, count: int, interval: str, timeout: float, mode: str, kernel_ts: bool
) -> Run:
    """For comparison: icmplib, one socket per ping (every socket sees every reply)."""
    from icmplib import async_multiping  # noqa: PLC0415 - only this comparison needs it

    if n > 1000:
        raise SystemExit("icmplib: at most 1000 targets (CPU grows with N squared)")
    gap = IcmpSettings.model_validate({"packet_interval": interval}).packet_interval
    addresses = loopback_addresses(n)
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    hosts = await async_multiping(
        addresses,
        count=count,
        interval=gap,
        timeout=min(timeout, 2.0),
        concurrent_tasks=n,
        privileged=mode == "raw",
    )
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_SELF)
    alive = [h.avg_rtt / 1000 for h in hosts if h.packets_received]
    return Run(
        "icmplib",
        mode,
        False,
        n,
        sum(h.packets_sent for h in hosts),
        sum(h.packets_received for h in hosts),
        after.ru_utime - before.ru_utime,
        after.ru_stime - before.ru_stime,
        wall,
        statistics.fmean(alive) if alive else float("nan"),
    )


def median_run(runs: list[Run]) -> Run:
    """The run with the median CPU per echo (keeps its own consistent figures)."""
    ordered = sorted(runs, key=lambda r: r.us_per_echo)
    return ordered[len(ordered) // 2]


def row(run: Run) -> str:
    ts = "kernel" if run.kernel_ts else "mono"
    return (
        f"{run.layer:6} {run.mode:5} {ts:6} {run.targets:>6} {run.echoes:>7} {run.replies:>7} "
        f"{run.user:>7.3f} {run.system:>7.3f} {run.us_per_echo:>9.1f} "
        f"{run.rtt_avg * 1000:>10.3f} {run.wall:>7.2f}"
    )


HEADER = (
    f"{'layer':6} {'mode':5} {'ts':6} {'N':>6} {'echoes':>7} {'replies':>7} "
    f"{'user s':>7} {'sys s':>7} {'us/echo':>9} {'rtt avg ms':>10} {'wall s':>7}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[200, 1000, 10000])
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--interval", default="20ms", help="packet_interval, e.g. 20ms")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of a run, seconds")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=["raw", "dgram"], nargs="+", default=["raw"])
    parser.add_argument(
        "--layer",
        choices=["engine", "probe", "start", "icmplib"],
        nargs="+",
        default=["engine", "probe"],
        help="icmplib (per-ping sockets) is a comparison; use it with --targets 200 1000",
    )
    parser.add_argument(
        "--timestamps", choices=["kernel", "mono"], nargs="+", default=["kernel", "mono"]
    )
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {args.count} echoes per target, medians of "
          f"{args.repeat} runs")  # fmt: skip
    print(HEADER)
    layers = {"engine": engine_run, "probe": probe_run, "start": start_run, "icmplib": icmplib_run}
    for layer in args.layer:
        for mode in args.mode:
            for ts in args.timestamps:
                for n in args.targets:
                    runs = [
                        asyncio.run(
                            layers[layer](
                                n, args.count, args.interval, args.timeout, mode, ts == "kernel"
                            )
                        )
                        for _ in range(args.repeat)
                    ]
                    print(row(median_run(runs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
