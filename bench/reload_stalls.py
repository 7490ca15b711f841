"""Where a large reload stalls the event loop: the daemon in process, with a stall sampler.

    python -m bench.reload_stalls [--targets 50000] [--settle 15] [--reloads 2]
                                  [--change row|relabel|defaults]

Runs the real :class:`monitor.daemon.Daemon` in this process on the scale
benchmark's inventory (``bench.icmp.scale_config``: N loopback targets, one
ICMP echo every 60 s; nothing leaves the machine), waits ``--settle`` seconds
while runs are under way, then changes the config and reloads (``--reloads``
times). ``--change row`` (the default) appends one row to the inventory;
``relabel`` relabels every row and replaces 1,000; ``defaults`` changes
``[defaults] timeout``, which changes every target's settings (every row
validated and every job restarted). Meanwhile a loop callback stamps a
heartbeat every 5 ms and a sampler thread looks at it every 5 ms: while the
heartbeat is older than 50 ms the loop is stalled, and the sampler records
what the loop's thread and the config loader's are running at that moment;
the heartbeat itself keeps the longest gap between two of its turns (the
worst stall, also under 50 ms). Prints each reload's time, its worst stall
and the stacks seen most often during stalls (the innermost frames: waiting
for the GIL shows as a system call such as ``sendto``), then the medians.
Needs ICMP sockets (root or ``net.ipv4.ping_group_range``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from bench.icmp import addresses, scale_config
from monitor.daemon import Daemon, Overrides
from tests.helpers import free_port

STALL = 0.05  # seconds without a heartbeat that count as a stall
BEAT = 0.005


class StallSampler(threading.Thread):
    """Samples the main thread's stack while the loop's heartbeat is stale."""

    def __init__(self, main_ident: int) -> None:
        super().__init__(daemon=True)
        self.main_ident = main_ident
        self.beat = time.monotonic()
        self.stacks: collections.Counter[str] = collections.Counter()
        self.worst = 0.0
        self.gap = 0.0  # longest time between two heartbeats, less the beat
        self.stop = threading.Event()
        self._stalled_since: float | None = None

    def run(self) -> None:
        while not self.stop.wait(BEAT):
            age = time.monotonic() - self.beat
            if age < STALL:
                self._stalled_since = None
                continue
            self.worst = max(self.worst, age)
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                lines = traceback.format_stack(frame, limit=12)
                if ident != self.main_ident and not any("_load_plan" in line for line in lines):
                    continue  # idle pool threads, the history writer
                who = "loop" if ident == self.main_ident else "loader"
                text = "".join(line.split("\n")[0] + "\n" for line in lines[-5:])
                self.stacks[f"[{who}]\n{text}"] += 1

    def reset(self) -> None:
        self.worst = 0.0
        self.gap = 0.0
        self.stacks.clear()


async def _heartbeat(sampler: StallSampler) -> None:
    while True:
        now = time.monotonic()
        sampler.gap = max(sampler.gap, now - sampler.beat - BEAT)
        sampler.beat = now
        await asyncio.sleep(BEAT)


def _change(workdir: Path, change: str, i: int) -> None:
    """Edit the config for reload ``i`` as ``--change`` says."""
    inventory = workdir / "inventory.csv"
    if change == "relabel":  # every target relabelled, 1,000 rows gone and 1,000 new
        header, *rows = inventory.read_text().splitlines()
        rows = [r.replace(",S", f",R{i}S", 1) for r in rows[1000:]]
        rows += [f"new{i}-{j},127.254.{j // 250}.{j % 250 + 1},S0,P0" for j in range(1000)]
        inventory.write_text("\n".join([header, *rows]) + "\n")
    elif change == "defaults":  # every target's settings
        config = workdir / "scale.toml"
        text = config.read_text()
        old, new = ('timeout = "5s"', 'timeout = "4s"') if i % 2 == 0 else ('"4s"', '"5s"')
        assert old in text
        config.write_text(text.replace(old, new, 1))
    else:
        with inventory.open("a") as fh:
            fh.write(f"s-extra{i},127.255.255.{250 - i},S0,P0\n")


async def start_in_process(config: Path, workdir: Path) -> tuple[Daemon, asyncio.Task[None], float]:
    """The daemon run in this process (its loop is the one measured), once it is ready:
    the daemon, its run task and the seconds it took to be ready."""
    daemon = Daemon(
        config,
        Overrides(listen=f"127.0.0.1:{free_port()}", state_dir=str(workdir / "state")),
    )
    started = time.monotonic()
    runner = asyncio.create_task(daemon.run())
    while not daemon.ready:
        if runner.done():
            runner.result()
        await asyncio.sleep(0.05)
    return daemon, runner, time.monotonic() - started


async def measure(n: int, settle: float, reloads: int, change: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-reload-stalls-") as tmp:
        workdir = Path(tmp)
        config = scale_config(addresses(n), workdir)
        daemon, runner, ready = await start_in_process(config, workdir)
        print(f"{n} targets: ready after {ready:.1f} s", flush=True)
        sampler = StallSampler(threading.main_thread().ident or 0)
        sampler.start()
        beat = asyncio.create_task(_heartbeat(sampler))
        await asyncio.sleep(settle)
        probing = max(sampler.worst, sampler.gap) * 1000
        print(f"worst stall while probing ({settle:g} s): {probing:.0f} ms")
        took_all, worst_all = [], []
        for i in range(reloads):
            sampler.reset()
            _change(workdir, change, i)
            begin = time.monotonic()
            _, message = await daemon.reload()
            took = time.monotonic() - begin
            await asyncio.sleep(0.2)
            worst = max(sampler.worst, sampler.gap) * 1000
            took_all.append(took)
            worst_all.append(worst)
            print(f"reload {i + 1}: {took:.2f} s ({message}); worst stall {worst:.0f} ms")
            for stack, count in sampler.stacks.most_common(6):
                print(f"  {count} samples:\n{stack}")
            await asyncio.sleep(1.0)  # the next reload does not start in this one's wake
        print(
            f"median of {reloads} reloads ({change}): {statistics.median(took_all):.2f} s, "
            f"worst stall {statistics.median(worst_all):.0f} ms "
            f"(reloads {', '.join(f'{t:.2f}' for t in took_all)} s; "
            f"stalls {', '.join(f'{w:.0f}' for w in worst_all)} ms)"
        )
        sampler.stop.set()
        beat.cancel()
        daemon.stop()
        await runner


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=50000)
    parser.add_argument("--settle", type=float, default=15.0)
    parser.add_argument("--reloads", type=int, default=2)
    parser.add_argument(
        "--change",
        choices=("row", "relabel", "defaults"),
        default="row",
        help="each reload adds one row (row), relabels every target and replaces 1,000 "
        "(relabel) or changes [defaults] timeout (defaults)",
    )
    args = parser.parse_args()
    asyncio.run(measure(args.targets, args.settle, args.reloads, args.change))


if __name__ == "__main__":
    main()
