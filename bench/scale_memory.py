"""Memory and exposition per target, in process (no network): where 50,000 targets' RSS goes.

    python -m bench.scale_memory [--targets 10000] [--history 'rtt_buckets = []'] [--sites N]

Builds the scale benchmark's inventory (``bench.icmp.scale_config``: a CSV of
N loopback targets with two labels, one ICMP echo each), loads it with the
daemon's own ``load_config``, opens a real history store in a temporary
directory and drives the daemon's ``Pipeline`` and ``Exporter`` with one
successful ICMP result per target (built by the ICMP probe's own
``summarize``) and one refresh of each target's availability figures, as the
daemon does in its first interval; the measurement history of those results
(``MeasurementHistory``: the recorder's open buckets after two results a
minute apart, so that each check has a fine and a coarse bucket in progress,
and the RTT histogram with its rendered series, measured with the shipped
``[history]`` defaults, or with ``--history`` as the config's ``[history]``
section, e.g. ``rtt_buckets = []``: off); and
what the scheduler holds per job (an asyncio task, or a tick-lane slot for a
kind that starts runs without one).
``tracemalloc`` measures the Python objects each stage leaves behind, per
target; the rendered exposition is counted in series and bytes per target,
per family; ``--sites N`` prints the N allocation sites holding the most per
target. The allocator's slack is not included (see bench/README.md).
Needs an ICMP socket (root).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench.icmp import addresses, scale_config
from monitor.contract import ProbeContext, ProbeResult
from monitor.daemon import jobs_for
from monitor.engine.config import Config, load_config
from monitor.engine.exporter import Exporter, SelfMetrics, resolve
from monitor.engine.measurements import measure as measure_rtt
from monitor.engine.pipeline import Pipeline
from monitor.engine.scheduler import Scheduler
from monitor.engine.state import TargetState
from monitor.history.store import FAMILIES as STORE_FAMILIES
from monitor.history.store import Store, database_path
from monitor.history_service import MeasurementHistory
from probes import KINDS
from probes.icmp import summarize
from probes.icmp_engine import PingOutcome


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def measure(n: int, history_section: str = "", sites: int = 0) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-memory-") as tmp:
        workdir = Path(tmp)
        config_path = scale_config(addresses(n), workdir, history_section)
        tracemalloc.start(1)
        base = _traced()
        start_snapshot = tracemalloc.take_snapshot() if sites else None
        config = load_config(config_path)
        after_config = _traced()
        families = [*STORE_FAMILIES, *(f for k in KINDS.values() for f in k.families)]
        exporter = Exporter(families, SelfMetrics())
        async with Store(database_path(workdir / "state"), clock=time.time) as store:
            pipeline = Pipeline(wall=time.time, exporter=exporter, history=store)
            before_configure = _traced()
            pipeline.configure(config, TargetState)
            after_configure = _traced()
            now = time.time() // 60 * 60 + 1
            # Results are made where they are used, not kept in a list: a list of
            # 10,000 results would be counted as the daemon's (800 B a target).
            for i, target in enumerate(config.targets):
                pipeline.on_result(target.name, "icmp", _result(target.address, i, now))
            write = getattr(exporter, "write_pending", None)
            if write is not None:  # results wait for the scrape since issue 14's session 8
                write()
            await store.flush()  # what the results queued for the store is written
            after_results = _traced()
            history = MeasurementHistory(store, config.history, exporter.store, time.time)
            for i, target in enumerate(config.targets):
                history.recorder.record(target.name, "icmp", _result(target.address, i, now))
            for i, target in enumerate(config.targets):
                later = _result(target.address, i, now + 60)
                history.recorder.record(target.name, "icmp", later)
            await store.flush()  # the closed minutes are written, not held
            after_recorder = _traced()
            for i, target in enumerate(config.targets):
                seconds = measure_rtt(_result(target.address, i, now))[2]
                for _ in range(2):
                    history.histogram.observe(target.name, "icmp", seconds)
            render = getattr(history.histogram, "render_pending", None)
            if render is not None:  # kept as text before issue 14's session 5
                render()
            after_histogram = _traced()
            for target in config.targets:
                exporter.figures(target.name, store.figures(target.name, time.time()))
            after_figures = _traced()
            end_snapshot = tracemalloc.take_snapshot() if sites else None
            before_jobs = _traced()
            jobs_size = await _jobs_size(config)
            after_jobs = before_jobs + jobs_size
            parts = exporter.store.parts()
            text = b"".join(resolve(parts))
            tracemalloc.stop()
        rows = [
            ("config (targets, settings)", after_config - base),
            (
                "state at configure (state, labels, state series)",
                after_configure - before_configure,
            ),
            ("one result (state, check series, history)", after_results - after_configure),
            ("measurement history: open buckets (2 results)", after_recorder - after_results),
            ("RTT histogram: counts and series", after_histogram - after_recorder),
            ("availability figures and their series", after_figures - after_histogram),
            ("job in the scheduler (task, or tick-lane slot)", after_jobs - before_jobs),
        ]
        print(f"{n} targets: Python objects per target (tracemalloc)")
        for label, size in rows:
            print(f"  {label:<58} {size / n:8.0f} B")
        total = after_figures - base + jobs_size
        print(f"  {'total':<58} {total / n:8.0f} B")
        series: collections.Counter[str] = collections.Counter()
        sizes: collections.Counter[str] = collections.Counter()
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name = line.partition("{")[0].partition(" ")[0]
                series[name] += 1
                sizes[name] += len(line) + 1
        print(
            f"exposition: {len(text) / 1e6:.1f} MB, {sum(series.values()) / n:.2f} series "
            f"and {len(text) / n:.0f} B per target"
        )
        for name, count in sizes.most_common():
            print(f"  {name:<52} {series[name] / n:5.2f} series {count / n:6.0f} B")
        if start_snapshot is not None and end_snapshot is not None:
            _print_sites(start_snapshot, end_snapshot, n, sites)


def _print_sites(start: tracemalloc.Snapshot, end: tracemalloc.Snapshot, n: int, top: int) -> None:
    """The allocation sites that hold the most per target from config load to the
    figures (jobs excluded), by file and line."""
    print(f"allocation sites, bytes and objects per target (top {top})")
    for diff in end.compare_to(start, "lineno")[:top]:
        frame = diff.traceback[0]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        print(f"  {where:<40} {diff.size_diff / n:8.0f} B {diff.count_diff / n:6.2f}")


def _result(address: str, i: int, now: float) -> ProbeResult:
    """Target ``i``'s successful one-echo ICMP result (the probe's own ``summarize``)."""
    # distinct values at the exporter's nanosecond resolution, as measured RTTs are
    # (97 values repeated had let equal texts be shared between targets)
    rtt = 0.00004 + i * 1.1e-9
    outcome = PingOutcome(address, (rtt,), ())
    return summarize(outcome, 1.0, name=address, started=now + i * 1e-4, duration=rtt)


class _NoMetrics:
    def observe_lag(self, kind: str, seconds: float) -> None: ...
    def count_skipped(self, kind: str, runs: int) -> None: ...
    def in_flight(self, kind: str, delta: int) -> None: ...


async def _jobs_size(config: Config) -> int:
    """Bytes the scheduler holds for every job of ``config`` (the real ICMP prober,
    opened: whether a kind runs in the tick lane is the scheduler's own decision)."""
    async with KINDS["icmp"].open(ProbeContext()) as prober:
        scheduler = Scheduler({"icmp": prober}, lambda job, result: None, _NoMetrics())
        jobs = jobs_for(config)
        before = _traced()
        scheduler.sync(jobs)
        await asyncio.sleep(0)  # tasks reach their first sleep
        size = _traced() - before
        await scheduler.stop()
    return size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument(
        "--history",
        default="",
        help="body of the config's [history] section, e.g. 'rtt_buckets = []' (histogram off)",
    )
    parser.add_argument(
        "--sites", type=int, default=0, help="print the N allocation sites holding the most"
    )
    args = parser.parse_args()
    asyncio.run(measure(args.targets, args.history, args.sites))


if __name__ == "__main__":
    main()
