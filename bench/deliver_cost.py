"""What one ICMP result costs from the engine's callback to the last consumer, in process.

    python -m bench.deliver_cost [--targets 10000] [--rounds 7] [--profile FILE]

Starts the real daemon in this process (``bench.icmp``'s config: N loopback
targets, 3 echoes each, but one run an hour so that the daemon's own runs stay
out of the way), then, for every target, does what the engine does when a run's
echoes are settled: marks the target's lane slot as running (as
``TickLane._start`` would), and calls the prober's ``done`` object (the
``_Finished`` an ICMP run hands the engine) with a realistic outcome (three
replies, distinct RTTs per target and round). That is the whole per-result path:
``summarize``, the lane's ``_done``/``_after``, ``Daemon.on_result`` (the state
step, the exporter's series, alerting, the measurement history) and the slot
filed under its next run time. The first two rounds settle every target UP
(they are not timed); each later round delivers one result to every target,
timed by the thread's CPU clock with the collector off (its cost is measured
apart, in the ICMP benchmark). Prints µs per delivery per round and their median.

With ``--profile FILE`` the timed rounds run under ``cProfile`` (slower; read the
shares, not the total) and the stats are written to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.icmp import addresses, config_text
from bench.reload_stalls import start_in_process
from monitor.engine.tick_lane import _RunDone
from probes.icmp import _Finished
from probes.icmp_engine import PingOutcome


def _lane_slots(daemon: Any) -> list[Any]:
    lane = daemon.scheduler._lane
    return [slot for slot in lane._slots.values() if slot.job.kind == "icmp"]


def _deliver_round(daemon: Any, slots: list[Any], round_no: int) -> None:
    """One settled run per slot, through the same objects a real run goes through."""
    lane = daemon.scheduler._lane
    loop = asyncio.get_running_loop()
    limit = lane._hooks.global_limit
    for i, slot in enumerate(slots):
        if slot.running:
            continue  # a real run of its own is in flight
        # what TickLane._start does before handing the prober its done callback
        if not limit.try_acquire():
            continue
        slot.token += 1
        slot.running = True
        slot.run_scheduled = slot.scheduled
        slot.run_wall = time.time()
        slot.kind_limit = None
        lane._running.add(slot)
        lane._metrics.in_flight("icmp", 1)
        finished = _Finished(
            _RunDone(lane, slot, slot.token),
            address=slot.job.target.address,
            max_loss=1.0,
            started=slot.run_wall,
            begin=loop.time(),
            loop=loop,
        )
        base = 0.00004 + i * 1.3e-9 + round_no * 1e-6
        outcome = PingOutcome(slot.job.target.address, (base, base * 1.1, base * 0.9), ())
        finished(outcome)


async def measure(n: int, rounds: int, profile: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-deliver-cost-") as tmp:
        workdir = Path(tmp)
        config = workdir / "bench.toml"
        config.write_text(config_text(addresses(n), interval=3600))
        daemon, runner, ready = await start_in_process(config, workdir)
        slots = _lane_slots(daemon)
        print(f"{n} targets ready after {ready:.1f} s; {len(slots)} lane slots", flush=True)
        for warm in range(2):
            _deliver_round(daemon, slots, warm)
            await asyncio.sleep(0.5)
        profiler = cProfile.Profile() if profile else None
        per: list[float] = []
        for r in range(rounds):
            gc.disable()
            if profiler is not None:
                profiler.enable()
            begin = time.thread_time()
            _deliver_round(daemon, slots, r + 2)
            took = time.thread_time() - begin
            if profiler is not None:
                profiler.disable()
            gc.enable()
            per.append(took / len(slots) * 1e6)
            await asyncio.sleep(0.5)  # let the loop run what the round left (history writes)
        print(
            f"µs per delivery: median {statistics.median(per):.2f} "
            f"(rounds {', '.join(f'{p:.2f}' for p in per)})",
            flush=True,
        )
        if profiler is not None and profile:
            profiler.dump_stats(profile)
        daemon.stop()
        await runner


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", default=None, help="write cProfile stats of the timed rounds")
    args = parser.parse_args()
    asyncio.run(measure(args.targets, args.rounds, args.profile))


if __name__ == "__main__":
    main()
