"""CPU of the periodic availability figures: the daemon's figures loop and the page's refresh.

    python -m bench.figures_cost [--base DIR] [--counts 10000,50000] [--passes 7]

Every 15 s the daemon's ``_figures_loop`` asks the history store for every
target's figures and hands them to the exporter, and while the status page
is kept ready its ``_Availability`` asks them again (``Daemon.api_figures``).
This measures both, in a child process per code tree, on the real
:class:`~monitor.history.store.Store` (SQLite in a temporary directory),
:class:`~monitor.engine.exporter.Exporter` and
:class:`~monitor.web.status_page._Availability`, two histories per count:

- *fresh*: no history; the daemon started a minute ago and every target has
  been UP since (``bench.icmp``'s case);
- *long*: the monitor has observed for 40 days (a previous run, a 1-minute
  restart gap, this run since a minute), every target since then; one in 50
  had a 20-minute outage 3 days ago (its figures move with time).

A pass is the figures loop's body for every target (``exporter.figures(name,
store.figures(name, now))``, as ``_figures_loop`` runs it, slices aside) or
the page's availability of every target (``_Availability.of``); each pass
16 s of fake time after the previous one, so the page finds every target
stale. CPU by ``time.process_time``. Prints the first pass and the median
of the following ``--passes`` (the steady state), per pass and per target,
and the memory what two passes made still holds per target (``tracemalloc``
from before the first pass: figures kept, the exporter's cells, the page's
ratios), measured on a copy of the same history.
With ``--base DIR`` (``git archive <commit> | tar -x -C DIR``) the same
child runs on that tree, alternated with this one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

DAY = 86400.0
NOW = 1_800_000_000.0
START = NOW - 60  # the daemon's start
PERIOD = 15.0  # the daemon's FIGURES_PERIOD
OUTAGE_EVERY = 50


async def _seed(path: Path, names: list[str], scenario: str) -> None:
    """Write the history a previous run would have left (the store's own writes)."""
    from monitor.history.store import Store  # noqa: PLC0415 - the child's tree

    if scenario == "fresh":
        return  # no previous run: the store makes the file
    first = NOW - 40 * DAY
    clock = [first]
    async with Store(path, clock=lambda: clock[0], heartbeat=3600.0) as store:
        for name in names:
            store.first_observed(name, first)
        if scenario == "long":
            for i, name in enumerate(names):
                if i % OUTAGE_EVERY == 0:
                    start = NOW - 3 * DAY
                    clock[0] = start
                    store.outage_started(
                        name, "icmp", start, cause="check:icmp", reason="timeout", message="x"
                    )
                    clock[0] = start + 1200
                    store.outage_ended(name, start + 1200)
        clock[0] = START - 60  # this run starts a minute later
        await store.flush()


class _Backend:
    """What ``_Availability`` asks, as ``Daemon.api_figures`` answers it."""

    def __init__(self, store: Any, states: dict[str, Any], clock: list[float]) -> None:
        self.store, self.states, self.clock = store, states, clock

    def api_figures(self, name: str) -> Any:
        if name not in self.states:
            return None
        return self.store.figures(name, self.clock[0])


async def _measure(count: int, scenario: str, passes: int) -> dict[str, Any]:
    names = [f"bts-{i:05d}" for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        seeded = Path(tmp) / "seeded.sqlite3"
        await _seed(seeded, names, scenario)
        for phase in ("memory", "cpu"):  # each on its own copy of the seeded history
            path = Path(tmp) / phase / "history.sqlite3"
            path.parent.mkdir()
            if seeded.exists():
                shutil.copyfile(seeded, path)
            if phase == "memory":
                held = await _passes(path, names, 2, traced=True)
            else:
                loop_cpu, page_cpu = await _passes(path, names, passes + 1, traced=False)
    assert isinstance(held, float)
    return {
        "count": count,
        "scenario": scenario,
        "loop_first_ms": loop_cpu[0] * 1e3,
        "loop_ms": statistics.median(loop_cpu[1:]) * 1e3,
        "page_first_ms": page_cpu[0] * 1e3,
        "page_ms": statistics.median(page_cpu[1:]) * 1e3,
        "loop_us_per_target": statistics.median(loop_cpu[1:]) / count * 1e6,
        "page_us_per_target": statistics.median(page_cpu[1:]) / count * 1e6,
        "held_bytes_per_target": held / count,
    }


async def _passes(path: Path, names: list[str], passes: int, *, traced: bool) -> Any:
    """Run ``passes`` of both consumers: their CPU per pass, or (``traced``) the bytes
    what they made still holds after them (figures kept, series cells, the page's)."""
    from monitor.engine.exporter import Exporter, SelfMetrics  # noqa: PLC0415 - child's tree
    from monitor.engine.state import Health, TargetState  # noqa: PLC0415
    from monitor.history.store import FAMILIES, Store  # noqa: PLC0415
    from monitor.web.status_page import _Availability  # noqa: PLC0415

    clock = [START]
    async with Store(path, clock=lambda: clock[0], heartbeat=3600.0) as store:
        for name in names:  # the first results (a no-op for targets seen before)
            store.first_observed(name, START + 1)
        exporter = Exporter(FAMILIES, SelfMetrics())
        states = {}
        for name in names:
            exporter.set_target(name, {"province": "P01", "site": "S0001"})
            states[name] = TargetState(name, Health.UP, since=NOW - 60)
        page = _Availability(_Backend(store, states, clock), lambda: clock[0])
        loop_cpu: list[float] = []
        page_cpu: list[float] = []
        gc.collect()
        if traced:
            tracemalloc.start()
        for n in range(passes):
            clock[0] = NOW + n * 2 * (PERIOD + 1)
            cpu = time.process_time()
            now = clock[0]
            for name in names:  # Daemon._figures_loop's body
                if name in states:
                    exporter.figures(name, store.figures(name, now))
            loop_cpu.append(time.process_time() - cpu)
            clock[0] += PERIOD + 1  # past FIGURES_TTL: every target stale
            cpu = time.process_time()
            page.of(states, names)
            page_cpu.append(time.process_time() - cpu)
        if traced:
            gc.collect()
            held = float(tracemalloc.get_traced_memory()[0])
            tracemalloc.stop()
            return held
    return loop_cpu, page_cpu


def _child(counts: list[int], passes: int) -> None:
    for count in counts:
        for scenario in ("fresh", "long"):
            print(json.dumps(asyncio.run(_measure(count, scenario, passes))), flush=True)


def _run_tree(tree: Path, counts: list[int], passes: int) -> list[dict[str, Any]]:
    # This file run in a child whose imports resolve in ``tree`` (as a path, not -m:
    # the tree may not have this module; run_path, not the script, so that bench/
    # does not come first on sys.path, where bench/http.py would shadow http).
    argv = [__file__, "--child", "--counts", ",".join(map(str, counts)), "--passes", str(passes)]
    code = (
        f"import runpy, sys; sys.argv = {argv!r}; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    command = [sys.executable, "-c", code]
    out = subprocess.run(
        command, cwd=tree, env={"PYTHONPATH": str(tree)}, capture_output=True, text=True, check=True
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, help="a tree of the code before, to compare")
    parser.add_argument("--counts", default="10000,50000")
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="alternated runs per tree")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    if args.child:
        _child(counts, args.passes)
        return
    trees = [("this", Path(__file__).resolve().parents[1])]
    trees += [("base", args.base.resolve())] if args.base else []
    for round_ in range(args.rounds):
        for label, tree in trees:
            for row in _run_tree(tree, counts, args.passes):
                print(
                    f"round {round_ + 1} {label:4} {row['count']:>6} {row['scenario']:5} "
                    f"loop {row['loop_ms']:7.1f} ms ({row['loop_us_per_target']:5.2f} µs/target, "
                    f"first {row['loop_first_ms']:7.1f})  "
                    f"page {row['page_ms']:7.1f} ms ({row['page_us_per_target']:5.2f} µs/target, "
                    f"first {row['page_first_ms']:7.1f})  "
                    f"held {row['held_bytes_per_target']:6.1f} B/target",
                    flush=True,
                )


if __name__ == "__main__":
    main()
