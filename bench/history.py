"""Measurement history: storage per target and day, write cost per result, read time per range.

``python -m bench.history --targets 10000 --hours 2``: synthetic results
(``--interval`` apart per target, three echoes each, round trips drawn from a
log-normal around a per-target median, one echo in fifty lost; each answered
echo's round trip in ``ProbeResult.rtts``, as the ICMP probe reports it) go through the
daemon's own :class:`~monitor.engine.measurements.Recorder` into a real
:class:`~monitor.history.store.Store` on a file, with a fake clock that runs
``--hours`` of simulated time as fast as the machine allows. Measured:

- loop time per result: ``Recorder.record`` and the sweeps, on the event loop,
  as wall time (which includes waiting for the GIL while the writer thread
  runs) and as that thread's CPU;
- process CPU per result: everything, including the store's writer thread;
- bytes per target per day: growth of the file's used pages over the run,
  fine and coarse separately (the ``dbstat`` table when SQLite has it,
  otherwise the pages of each table), scaled to a day;
- the Prometheus histogram: loop time per result (counting), and per check at a
  scrape: the snapshot on the loop and the rendering (off the loop when large);
- opening the store after a run that stopped at the end of an hour (every
  target's 60 minutes rolled up into its hour at open);
- the history read of one target for each range (3h, 30h, 10d, 360d) as the
  API does it (read and merge in threads), after writing a full retention's
  worth of fine and coarse rows for it, and the event loop's worst stall
  meanwhile (a 1 ms timer's lateness).

Bounded: at most ``targets * hours * 3600 / interval`` results (2.4 M at the
defaults: 10,000 targets, 2 h, 30 s) and a wall deadline (``--deadline``)
after which the run stops where it is and scales what it measured to a day.
Nothing touches the network.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.contract import ProbeResult
from monitor.engine.config import DEFAULT_RTT_BUCKETS
from monitor.engine.exporter import SeriesStore, resolve
from monitor.engine.measurements import COARSE, Recorder
from monitor.engine.rtt_histogram import RttHistogram
from monitor.engine.rttsketch import Summary
from monitor.history.store import Store, database_path
from monitor.web.history_view import RANGES, plan, steps

DAY = 86400


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def result(rng: random.Random, started: float, median: float) -> ProbeResult:
    rtts = [median * math.exp(rng.gauss(0, 0.3)) for _ in range(3)]
    received = sum(1 for _ in rtts if rng.random() >= 0.02)
    values = {"packets_sent": 3.0, "packets_received": float(received)}
    if received:
        values["rtt_avg_seconds"] = sum(rtts[:received]) / received
    # Each answered echo's round trip, as probes/icmp.py reports it: the recorder
    # adds every one to the minute's distribution (three observations a run, not one).
    answered = tuple(rtts[:received])
    return ProbeResult(received > 0, "ok", "", started, 0.01, (), values, rtts=answered)


def table_bytes(path: Path) -> dict[str, int]:
    """Bytes of pages in use per table and index (dbstat), or the whole file's used pages."""
    db = sqlite3.connect(path)
    try:
        try:
            rows = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name").fetchall()
            return {name: int(size) for name, size in rows}
        except sqlite3.OperationalError:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            size = db.execute("PRAGMA page_size").fetchone()[0]
            return {"(file)": (pages - free) * size}
    finally:
        db.close()


async def feed(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    start = 1_800_000_000 // 3600 * 3600
    clock = Clock(start)
    rng = random.Random(7)
    medians = [0.002 + 0.05 * rng.random() ** 3 for _ in range(args.targets)]
    names = [f"bts-{i:05d}" for i in range(args.targets)]
    results = 0
    loop_seconds = loop_cpu = 0.0
    deadline = time.monotonic() + args.deadline
    async with Store(path, clock=clock) as store:
        recorder = Recorder(store, fine=60, coarse=3600)
        cpu0 = time.process_time()
        wall0 = time.perf_counter()
        simulated = 0
        offsets = [rng.random() * args.interval for _ in names]
        while simulated < args.hours * 3600 and time.monotonic() < deadline:
            tick = start + simulated
            batch = [
                (name, result(rng, tick + off, med))
                for name, off, med in zip(names, offsets, medians, strict=True)
            ]
            clock.t = tick + args.interval
            t0, c0 = time.perf_counter(), time.thread_time()
            for name, res in batch:
                recorder.record(name, "icmp", res)
            recorder.sweep(clock.t)
            loop_seconds += time.perf_counter() - t0
            loop_cpu += time.thread_time() - c0
            results += len(batch)
            simulated += args.interval
            await asyncio.sleep(0)  # let the writer's flush futures resolve
        await store.flush()
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
    sizes = table_bytes(path)
    return {
        "results": results,
        "simulated_hours": simulated / 3600,
        "loop_wall_us_per_result": loop_seconds / results * 1e6,
        "loop_cpu_us_per_result": loop_cpu / results * 1e6,
        "writer_cpu_us_per_result": (cpu - loop_cpu) / results * 1e6,
        "cpu_us_per_result": cpu / results * 1e6,
        "wall_seconds": wall,
        "sizes": sizes,
    }


async def reads(path: Path, runs: int) -> dict[str, float]:
    """Median read time per range of one target with 14 days of minutes and 400 of hours."""
    now = 1_900_000_000 // 3600 * 3600
    clock = Clock(now)
    rng = random.Random(3)
    async with Store(path, clock=clock) as store:
        coarse = []
        for h in range(400 * 24):
            s = Summary()
            for _ in range(360):
                s.add(sent=3, lost=0, seconds=0.01 * math.exp(rng.gauss(0, 0.3)))
            coarse.append(("reader", "icmp", now - 3600 * (h + 1), s))
        fine = []
        for m in range(14 * 1440):
            s = Summary()
            for _ in range(6):
                s.add(sent=3, lost=0, seconds=0.01 * math.exp(rng.gauss(0, 0.3)))
            fine.append(("reader", "icmp", now - 60 * (m + 1), s))
        store.write_buckets(COARSE, coarse)
        store.write_buckets("fine", fine)
        await store.flush()
        # As the daemon does after its start (monitor.engine.gcpolicy.GcPolicy.settle):
        # long-lived objects out of the collector's sight, so a collection is short.
        del coarse, fine
        gc.collect()
        gc.freeze()
        out = {}
        stalls: list[float] = []
        ticking = asyncio.create_task(ticker(stalls))
        for name in RANGES:
            p = plan(name, now, fine=60, coarse=3600, fine_retention=14 * DAY)
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                got = await store.history("reader", p.level, p.since, p.until)
                await asyncio.to_thread(steps, got["icmp"], p)
                times.append(time.perf_counter() - t0)
            out[name] = statistics.median(times) * 1000
        ticking.cancel()
        out["worst_loop_stall"] = max(stalls) * 1000
    return out


async def ticker(stalls: list[float]) -> None:
    """How late a 1 ms sleep wakes up while the reads run (the loop's stalls)."""
    while True:
        t0 = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append(time.perf_counter() - t0 - 0.001)


async def rebuild_cost(path: Path, targets: int) -> float:
    """Seconds to open a store whose previous run stopped after an hour of minutes."""
    start = 1_950_000_000 // 3600 * 3600
    clock = Clock(start)
    rng = random.Random(13)
    async with Store(path, clock=clock) as store:
        for minute in range(60):
            rows = []
            for i in range(targets):
                s = Summary()
                for _ in range(2):
                    s.add(sent=3, lost=0, seconds=0.01 * math.exp(rng.gauss(0, 0.3)))
                rows.append((f"bts-{i:05d}", "icmp", start + 60 * minute, s))
            store.write_buckets("fine", rows)
        await store.flush()
    clock.t = start + 3600 + 60
    started = time.perf_counter()
    async with Store(path, clock=clock) as store:
        took = time.perf_counter() - started
        assert store.buckets_rebuilt == targets
    return took


def histogram_cost(targets: int, results: int) -> tuple[float, float, float]:
    """``continuity_probe_rtt_seconds``: µs of loop time per result (counting), and per
    check at a scrape: the snapshot (on the loop) and the rendering (off the loop for a
    large scrape), best of three scrapes."""
    store = SeriesStore([])
    histogram = RttHistogram(store, DEFAULT_RTT_BUCKETS)
    rng = random.Random(11)
    names = [f"bts-{i:05d}" for i in range(targets)]
    times = [0.01 * math.exp(rng.gauss(0, 0.5)) for _ in range(1000)]
    started = time.thread_time()
    for i in range(results):
        histogram.observe(names[i % targets], "icmp", times[i % 1000])
    observe = (time.thread_time() - started) / results * 1e6
    snapshots, renders = [], []
    for _ in range(3):
        started = time.thread_time()
        parts = store.parts()
        snapshots.append(time.thread_time() - started)
        started = time.thread_time()
        resolve(parts)
        renders.append(time.thread_time() - started)
    return observe, min(snapshots) / targets * 1e6, min(renders) / targets * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--deadline", type=float, default=300.0, help="wall seconds at most")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = database_path(Path(tmp))
        Path(tmp).mkdir(exist_ok=True)
        fed = asyncio.run(feed(args, path))
        sizes = fed["sizes"]
        hours = fed["simulated_hours"]
        per_day = {
            name: size / args.targets * 24 / hours
            for name, size in sizes.items()
            if name.startswith(("fine", "coarse", "series", "(file)"))
        }
        read_path = database_path(Path(tmp) / "reads")
        read_path.parent.mkdir()
        read_ms = asyncio.run(reads(read_path, args.runs))
        rebuild_path = database_path(Path(tmp) / "rebuild")
        rebuild_path.parent.mkdir()
        rebuild_s = asyncio.run(rebuild_cost(rebuild_path, args.targets))
    observe_us, snapshot_us, render_us = histogram_cost(args.targets, 200_000)
    report = {
        "targets": args.targets,
        "interval_s": args.interval,
        **{k: v for k, v in fed.items() if k != "sizes"},
        "bytes_per_target_per_day": {k: round(v) for k, v in per_day.items()},
        "read_ms_per_range": {k: round(v, 1) for k, v in read_ms.items()},
        "histogram_us_per_result": round(observe_us, 2),
        "histogram_scrape_snapshot_us_per_check": round(snapshot_us, 3),
        "histogram_scrape_render_us_per_check": round(render_us, 2),
        "open_after_an_hour_of_minutes_s": round(rebuild_s, 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
