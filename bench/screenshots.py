"""Screenshots of the status page's uptime bars and the target page's smoke graph, with load times.

``python -m bench.screenshots [--counts 1,100,10000] [--runs 3]``

For each count: the inventory, history and daemon of :mod:`bench.bars_page`
(loopback ICMP targets, ten to a site and twenty sites to a province, 10 days
observed, one target in 50 with two past outages), and for the target the
page shows (``bts-00000``, one of those with outages) a measurement history
written first by the real store: 14 days of minute buckets and 400 days of
hour buckets whose round trips wander by the hour of day, with some loss.
Once every target is UP, Debian's Chromium (the tests' flags, loopback only)
loads ``/`` and ``/targets/bts-00000?range=10d``:

- the first load of each (nothing rendered yet) and the median of ``--runs``
  more, each the browser's navigation timing (request to last byte; to the
  load event) and the daemon's CPU for it (``/proc/PID/stat``);
- a viewport screenshot of the status page at 1400x900, and of the target
  page's graph card, as PNG in ``bench/results/``; at the largest count the same
  two on a phone-sized viewport (390x844).

The PNGs are kept small (the first screen, one card), so they can be committed.
Loads and screenshots go to loopback only; the daemon is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from bench.bars_page import cpu_seconds, daemon, median, wait_all_up
from monitor.engine.measurements import COARSE, FINE
from monitor.engine.rttsketch import Summary
from monitor.history.store import Store, database_path
from tests.browser import chromium
from tests.daemon_process import REPO
from tests.uptime_history import SCALE_CONFIG, past_outages, seed, write_inventory

SHOWN = "bts-00000"
RANGE = "10d"
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
OUT = REPO / "bench" / "results"


def measurements(path: Path, name: str, now: float) -> None:
    """14 days of minutes and 400 days of hours for ``name``: a daily swing, some loss."""
    rng = random.Random(5)

    def bucket(at: float, echoes: int) -> Summary:
        hour = (at % 86400) / 3600
        median = 0.012 + 0.006 * math.sin(hour / 24 * 2 * math.pi)  # busier by day
        s = Summary()
        for _ in range(echoes):
            lost = int(rng.random() < 0.01)
            s.add(sent=1, lost=lost, seconds=median * math.exp(rng.gauss(0, 0.35)))
        return s

    async def write() -> None:
        async with Store(path) as store:
            minute, hour = int(now // 60) * 60, int(now // 3600) * 3600
            fine = [
                (name, "icmp", minute - 60 * k, bucket(minute - 60 * k, 3))
                for k in range(1, 14 * 1440)
            ]
            store.write_buckets(FINE, fine)
            coarse = [
                (name, "icmp", hour - 3600 * k, bucket(hour - 3600 * k, 60)) for k in range(1, 9600)
            ]
            store.write_buckets(COARSE, coarse)
            await store.flush()

    asyncio.run(write())


def load(page: Page, url: str, pid: int) -> dict[str, float]:
    """One load of ``url``: the browser's timing (request to last byte, to the load event) and
    the daemon's CPU meanwhile."""
    before = cpu_seconds(pid)
    response = page.goto(url, wait_until="load", timeout=120_000)
    assert response is not None and response.ok, (url, response and response.status)
    cpu = cpu_seconds(pid) - before
    timing = page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
                   return [n.responseEnd - n.requestStart, n.loadEventEnd - n.startTime]; }"""
    )
    return {"response": timing[0] / 1000, "load": timing[1] / 1000, "cpu": cpu}


def loads(page: Page, url: str, pid: int, runs: int) -> dict[str, Any]:
    first = load(page, url, pid)
    again = [load(page, url, pid) for _ in range(runs)]
    return {"first": first, "again": median(again), "runs": again}


def shoot(page: Page, path: Path, selector: str | None = None) -> int:
    """A viewport screenshot (or of one element); its size in bytes."""
    if selector is None:
        page.screenshot(path=str(path))
    else:
        page.locator(selector).screenshot(path=str(path))
    return path.stat().st_size


def measure(count: int, runs: int, phone: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shots-bench-") as tmp:
        directory = Path(tmp)
        names = write_inventory(directory / "inventory.csv", count)
        (directory / "config.toml").write_text(SCALE_CONFIG.format(count=count))
        now = time.time()
        database = database_path(directory / "state")
        seed(database, names, now - 10 * 86400, past_outages(names, now), now - 30)
        measurements(database, SHOWN, now)
        # The tests' browser: loopback only, and a page error fails the run.
        with daemon(REPO, directory) as (url, pid), chromium(directory) as context:
            settle = wait_all_up(url, count)
            page = context.new_page()
            page.set_viewport_size(DESKTOP)
            target = f"{url}/targets/{SHOWN}?range={RANGE}"
            status = loads(page, url + "/", pid, runs)
            shots = {f"status-{count}": shoot(page, OUT / f"status-bars-{count}.png")}
            detail = loads(page, target, pid, runs)
            shots[f"smoke-{count}"] = shoot(page, OUT / f"smoke-{count}.png", "#smoke")
            if phone:
                page.set_viewport_size(PHONE)
                page.goto(url + "/", wait_until="load", timeout=120_000)
                shots["status-phone"] = shoot(page, OUT / f"status-bars-{count}-phone.png")
                page.goto(target, wait_until="load", timeout=120_000)
                page.locator("#smoke").scroll_into_view_if_needed()
                shots["smoke-phone"] = shoot(page, OUT / f"smoke-{count}-phone.png")
    return {
        "count": count,
        "settle_s": round(settle, 1),
        "status": status,
        "target": detail,
        "png_bytes": shots,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,100,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: daemon and browser stop
    OUT.mkdir(exist_ok=True)
    counts = [int(c) for c in args.counts.split(",")]
    results = []
    for count in counts:
        result = measure(count, args.runs, phone=count == max(counts))
        results.append(result)
        print(json.dumps(result), flush=True)
    path = OUT / f"screenshots-{int(time.time())}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"written to {path}")
    for result in results:
        for page in ("status", "target"):
            first, again = result[page]["first"], result[page]["again"]
            print(
                f"{result['count']:>6} {page:<6} first {first['response']:.3f} / "
                f"{first['load']:.3f} s, again {again['response']:.3f} / {again['load']:.3f} s"
                f" (median {statistics.median([r['load'] for r in result[page]['runs']]):.3f})"
            )


if __name__ == "__main__":
    main()
