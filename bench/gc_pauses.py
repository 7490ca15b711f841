"""Garbage-collector pauses and memory across reloads: the daemon in process.

    python -m bench.gc_pauses [--targets 50000] [--settle 70] [--reloads 5]
                              [--change row|relabel|defaults]

Runs the real :class:`monitor.daemon.Daemon` in this process on the scale
benchmark's inventory (``bench.icmp.scale_config``: N loopback targets, one
ICMP echo every 60 s; nothing leaves the machine) with ``bench.reload_stalls``'
heartbeat (the longest gap between two of the loop's 5 ms turns) and a
``gc.callbacks`` timer that keeps every collection's time by generation. After
``--settle`` seconds of probing it prints the worst stall and collection, the
objects the collector tracks (young generations and frozen) by type, then
times one run of the daemon's periodic full collection (the work of its
``gc`` loop) on the loop, then reloads ``--reloads`` times (``--change`` as in
``bench.reload_stalls``) with the RSS after each. At the end the collector is
unfrozen and one full collection counts the garbage that sat frozen (cycles
the frozen generation kept alive: what a freeze leaks).
Needs ICMP sockets (root or ``net.ipv4.ping_group_range``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.icmp import addresses, scale_config
from bench.reload_stalls import StallSampler, _change, _heartbeat, start_in_process
from monitor import daemon as daemon_module
from monitor.daemon import Daemon


class GcTimer:
    """Times every collection through ``gc.callbacks`` (any thread)."""

    def __init__(self) -> None:
        self.worst: dict[int, float] = {}
        self.worst_cpu: dict[int, float] = {}  # the thread's CPU time (preemption excluded)
        self.count: collections.Counter[int] = collections.Counter()
        self._started = 0.0
        self._started_cpu = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        took = time.perf_counter() - self._started
        cpu = time.thread_time() - self._started_cpu
        generation = int(info["generation"])
        self.count[generation] += 1
        self.worst[generation] = max(self.worst.get(generation, 0.0), took)
        self.worst_cpu[generation] = max(self.worst_cpu.get(generation, 0.0), cpu)

    def report(self) -> str:
        return ", ".join(
            f"gen {g}: {self.count[g]} collections, worst {self.worst[g] * 1000:.1f} ms "
            f"({self.worst_cpu[g] * 1000:.1f} ms CPU)"
            for g in sorted(self.count)
        )

    def reset(self) -> None:
        self.worst.clear()
        self.worst_cpu.clear()
        self.count.clear()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tracked_by_type(limit: int = 12) -> str:
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return ", ".join(f"{name} {n}" for name, n in counts.most_common(limit))


def periodic_collection(daemon: Daemon) -> float:
    """One pass of the daemon's periodic collection, timed on the loop: the daemon's
    ``GcPolicy.periodic`` where it has one, else what its half-hourly loop did before
    (unfreeze, collect everything, freeze)."""
    started = time.perf_counter()
    policy = getattr(daemon, "gc", None)
    if policy is not None:
        policy.periodic()
    else:
        gc.unfreeze()
        daemon_module.settle_garbage_collector()  # type: ignore[attr-defined]
    return time.perf_counter() - started


async def measure(n: int, settle: float, reloads: int, change: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gc-pauses-") as tmp:
        workdir = Path(tmp)
        config = scale_config(addresses(n), workdir)
        timer = GcTimer()
        gc.callbacks.append(timer)
        daemon, runner, ready = await start_in_process(config, workdir)
        print(f"{n} targets: ready after {ready:.1f} s, {rss_mb():.0f} MB")
        sampler = StallSampler(threading.main_thread().ident or 0)
        sampler.start()
        beat = asyncio.create_task(_heartbeat(sampler))
        timer.reset()
        await asyncio.sleep(settle)
        probing = max(sampler.worst, sampler.gap) * 1000
        print(f"probing {settle:g} s: worst stall {probing:.0f} ms; {timer.report()}")
        print(f"RSS {rss_mb():.0f} MB; frozen {gc.get_freeze_count()}, young {gc.get_count()}")
        print(f"tracked (not frozen): {len(gc.get_objects())}: {tracked_by_type()}")
        sampler.reset()
        timer.reset()
        took = periodic_collection(daemon)
        await asyncio.sleep(0.2)
        print(
            f"periodic full collection: {took * 1000:.0f} ms on the loop, worst stall "
            f"{max(sampler.worst, sampler.gap) * 1000:.0f} ms; {timer.report()}"
        )
        rss = []
        for i in range(reloads):
            sampler.reset()
            timer.reset()
            _change(workdir, change, i)
            begin = time.monotonic()
            _, message = await daemon.reload()
            took = time.monotonic() - begin
            await asyncio.sleep(3.0)
            rss.append(rss_mb())
            print(
                f"reload {i + 1}: {took:.2f} s ({message}); worst stall "
                f"{max(sampler.worst, sampler.gap) * 1000:.0f} ms; {timer.report()}; "
                f"RSS {rss[-1]:.0f} MB, frozen {gc.get_freeze_count()}"
            )
        sampler.stop.set()
        beat.cancel()
        daemon.stop()
        await runner
        gc.callbacks.remove(timer)
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        print(f"after stop: {frozen} frozen; garbage found unfrozen: {gc.collect()} objects")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=50000)
    parser.add_argument("--settle", type=float, default=70.0)
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--change", choices=("row", "relabel", "defaults"), default="row")
    args = parser.parse_args()
    asyncio.run(measure(args.targets, args.settle, args.reloads, args.change))


if __name__ == "__main__":
    main()
