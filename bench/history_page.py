"""The target page with its smoke graph, at 1, 100 and 10,000 targets, beside the page before it.

``python -m bench.history_page [--base DIR]``: for each N the real daemon runs
with N loopback ICMP targets (127.0.0.0/8; 1 echo every 30 s) and a history
file prefilled through the store with 14 days of minutes and 400 days of
hours for the target the page shows. After the first interval of results,
``GET /targets/t0?range=R`` is timed from the client (the daemon renders the
whole page per request: the time is its render plus the transfer on
loopback): the first request of a range (nothing cached), then the median of
``--fetches`` more (the graph is reused for 10 s). With ``--base DIR`` (a
``git archive`` of the commit before the history, unpacked), the same
config is run by that code and its page (no graph) timed the same way: the
page "as it was".

Bounded: at most three daemons at a time of one size, each for one interval
plus the fetches; nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import REPO
from bench.icmp import _wait_ready, addresses
from monitor.engine.measurements import COARSE, FINE
from monitor.engine.rttsketch import Summary
from monitor.history.store import Store, database_path
from tests.helpers import free_port

INTERVAL = 30


def config_text(addrs: list[str]) -> str:
    head = f"""
[monitor]
instance = "bench"
max_concurrency = 20000

[defaults]
checks = ["icmp"]
interval = "{INTERVAL}s"
timeout = "5s"

[defaults.icmp]
count = 1
"""
    body = "".join(f'[[targets]]\nname = "t{i}"\naddress = "{a}"\n' for i, a in enumerate(addrs))
    return head + body


async def prefill(state: Path) -> None:
    now = time.time()
    rng = random.Random(5)

    def bucket(n: int) -> Summary:
        s = Summary()
        for _ in range(n):
            s.add(sent=1, lost=int(rng.random() < 0.01), seconds=0.01 * math.exp(rng.gauss(0, 0.3)))
        return s

    async with Store(database_path(state)) as store:
        store.write_buckets(
            FINE,
            [("t0", "icmp", int(now // 60) * 60 - 60 * k, bucket(2)) for k in range(1, 14 * 1440)],
        )
        store.write_buckets(
            COARSE,
            [
                ("t0", "icmp", int(now // 3600) * 3600 - 3600 * k, bucket(120))
                for k in range(1, 9600)
            ],
        )
        await store.flush()


def fetch(port: int, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
        body = resp.read()
    return time.perf_counter() - started, len(body)


def measure(
    code: Path, n: int, fetches: int, ranges: list[str], workdir: Path
) -> dict[str, object]:
    config = workdir / "bench.toml"
    config.write_text(config_text(addresses(n)))
    state = workdir / "state"
    state.mkdir(exist_ok=True)
    if code == REPO:
        asyncio.run(prefill(state))
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "--log-level",
            "warning",
            "run",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(state),
        ],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "daemon.log").open("w"),
    )
    try:
        _wait_ready(port, proc, timeout=120)
        time.sleep(INTERVAL + 5)
        out: dict[str, object] = {}
        for r in ranges:
            path = f"/targets/t0?range={r}"
            cold, _ = fetch(port, path)  # the first: nothing cached
            times, size = [], 0
            for _ in range(fetches):
                seconds, size = fetch(port, path)
                times.append(seconds)
            out[r] = {
                "first_ms": round(cold * 1000, 1),
                "ms": round(statistics.median(times) * 1000, 1),
                "bytes": size,
            }
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,100,10000")
    parser.add_argument("--fetches", type=int, default=10)
    parser.add_argument("--base", type=Path, help="an unpacked older tree to compare with")
    args = parser.parse_args()
    ranges = ["3h", "30h", "10d", "360d"]
    report: dict[str, object] = {}
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            report[f"{n} now"] = measure(REPO, n, args.fetches, ranges, Path(tmp))
        if args.base is not None:
            with tempfile.TemporaryDirectory() as tmp:
                report[f"{n} before"] = measure(args.base, n, args.fetches, ["3h"], Path(tmp))
        print(json.dumps({k: v for k, v in report.items() if k.startswith(str(n))}), flush=True)


if __name__ == "__main__":
    main()
