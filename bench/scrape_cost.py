"""What a scrape costs in process: loop time of the snapshot, CPU of the rendering, RSS.

    python -m bench.scrape_cost [--targets 10000] [--scrapes 7] [--history 'rtt_buckets = []']

Builds the daemon's ``Pipeline``, ``Exporter`` and RTT histogram as
``bench.scale_memory`` does (the scale benchmark's CSV inventory of N
loopback targets, one successful ICMP result per target with distinct RTTs,
one refresh of each target's availability figures), then takes ``--scrapes``
scrapes as the web server does: ``Exporter.render_parts()`` (on the loop:
the snapshot) and :func:`~monitor.engine.exporter.resolve` plus the join
(where the deferred parts are rendered). Between two scrapes every target
gets a new result, as in a daemon whose results arrive between scrapes.
Prints per scrape the snapshot's and the rendering's thread CPU per target
(medians over the scrapes after the first), the deferred parts' share of
the rendering, the body's size, and the RSS before the first scrape and
after the last. No network, no root: the results are made, not probed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.icmp import addresses, rss_mb, scale_config
from monitor.contract import ProbeResult
from monitor.engine.config import load_config
from monitor.engine.exporter import Deferred, Exporter, SelfMetrics
from monitor.engine.measurements import measure as measure_rtt
from monitor.engine.pipeline import Pipeline
from monitor.engine.state import TargetState
from monitor.history.store import FAMILIES as STORE_FAMILIES
from monitor.history.store import Store, database_path
from monitor.history_service import MeasurementHistory
from probes import KINDS
from probes.icmp import summarize
from probes.icmp_engine import PingOutcome


def _result(address: str, i: int, now: float) -> ProbeResult:
    rtt = 0.00004 + i * 1.1e-9 + now % 7 * 1e-6  # distinct per target and round
    outcome = PingOutcome(address, (rtt,), ())
    return summarize(outcome, 1.0, name=address, started=now + i * 1e-4, duration=rtt)


async def measure(n: int, scrapes: int, history_section: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scrape-cost-") as tmp:
        workdir = Path(tmp)
        config = load_config(scale_config(addresses(n), workdir, history_section))
        families = [*STORE_FAMILIES, *(f for k in KINDS.values() for f in k.families)]
        exporter = Exporter(families, SelfMetrics())
        async with Store(database_path(workdir / "state"), clock=time.time) as store:
            pipeline = Pipeline(wall=time.time, exporter=exporter, history=store)
            pipeline.configure(config, TargetState)
            history = MeasurementHistory(store, config.history, exporter.store, time.time)
            now = time.time() // 60 * 60 + 1

            def results(at: float) -> None:
                for i, target in enumerate(config.targets):
                    result = _result(target.address, i, at)
                    pipeline.on_result(target.name, "icmp", result)
                    history.histogram.observe(target.name, "icmp", measure_rtt(result)[2])

            results(now)
            for target in config.targets:
                exporter.figures(target.name, store.figures(target.name, time.time()))
            await store.flush()
            gc.collect()
            gc.freeze()  # as the daemon does once it is ready
            rss_before = rss_mb_self()
            snapshot, render, deferred_share, size = [], [], [], 0
            for k in range(scrapes):
                started = time.thread_time()
                parts = exporter.render_parts()
                snapshot.append(time.thread_time() - started)
                started = time.thread_time()
                texts = [p if isinstance(p, bytes) else p.render() for p in parts]
                rendered = time.thread_time() - started
                body = b"".join(texts)
                render.append(time.thread_time() - started)
                deferred_share.append(rendered / max(render[-1], 1e-9))
                size = len(body)
                del parts, texts, body
                results(now + 60 * (k + 1))
                await store.flush()
            rss_after = rss_mb_self()
        deferred = sum(1 for p in exporter.render_parts() if isinstance(p, Deferred))
        print(
            f"{n} targets, {scrapes} scrapes (medians after the first), {deferred} deferred parts"
        )
        print(
            f"  snapshot on the loop   {statistics.median(snapshot[1:]) * 1e3:8.1f} ms"
            f"  {statistics.median(snapshot[1:]) / n * 1e6:6.2f} µs/target"
        )
        print(
            f"  rendering and join     {statistics.median(render[1:]) * 1e3:8.1f} ms"
            f"  {statistics.median(render[1:]) / n * 1e6:6.2f} µs/target"
            f"  (deferred parts {statistics.median(deferred_share[1:]):.0%})"
        )
        print(f"  body                   {size / 1e6:8.1f} MB")
        print(
            f"  RSS before the first scrape {rss_before:.1f} MB, after the last {rss_after:.1f} MB"
        )


def rss_mb_self() -> float:
    return rss_mb(os.getpid())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument("--scrapes", type=int, default=7)
    parser.add_argument("--history", default="", help="body of the config's [history] section")
    args = parser.parse_args()
    asyncio.run(measure(args.targets, args.scrapes, args.history))


if __name__ == "__main__":
    main()
