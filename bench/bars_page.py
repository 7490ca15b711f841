"""The status page with uptime bars: load time and size at 1, 100 and 10,000 targets.

``python -m bench.bars_page [--base DIR] [--also DIR] [--counts 1,100,10000] [--runs 5]``

For each count: an inventory of loopback ICMP targets (ten to a site, twenty
sites to a province, ``tests/uptime_history.py``), a history written first
by the real store (observed for 10 days, one target in 50 with two past
outages), then the daemon on it; once every target is UP the page ``/`` is
loaded in Debian's Chromium (``tests/browser.py`` flags, loopback only):

- *cold*: the first load, every row and strip rendered;
- *warm*: loads while the bars are kept (median of ``--runs``);
- *stale*: loads just after :data:`~monitor.web.uptime_view.TTL`, when the bars are
  computed anew but
  the rows' HTML is reused (median of ``--runs``);

each with the browser's navigation timing (request to last byte, and to the
load event), the daemon's CPU time for the request (``/proc/PID/stat``) and
the HTML size (bytes on the wire, gzip, and uncompressed). With ``--base
DIR`` (a checkout of the code before the bars, e.g. ``git archive <commit> |
tar -x -C DIR``) the same is measured on that daemon, same machine, same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.history.store import database_path
from monitor.web.uptime_view import TTL
from tests.browser import chromium
from tests.daemon_process import REPO, free_port
from tests.uptime_history import SCALE_CONFIG, past_outages, seed, write_inventory

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


@contextmanager
def daemon(tree: Path, directory: Path) -> Iterator[tuple[str, int]]:
    """The daemon of the code in ``tree`` on ``directory``: (url, pid)."""
    port = free_port()
    log = (directory / "daemon.log").open("ab")
    command = [sys.executable, "-m", "monitor", "run", "--config", str(directory / "config.toml")]
    command += ["--listen", f"127.0.0.1:{port}", "--state-dir", str(directory / "state")]
    proc = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def summary(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url + "/status/summary?after=999999999", timeout=30) as r:
            return dict(json.loads(r.read()))
    except OSError:
        return None


def wait_all_up(url: str, count: int, timeout: float = 300.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        found = summary(url)
        if found is not None and found["counts"].get("up") == count:
            return time.monotonic() - started
        time.sleep(1.0)
    raise SystemExit(f"not every target up after {timeout} s: {found and found['counts']}")


def html_sizes(url: str) -> tuple[int, int]:
    """(gzip bytes, uncompressed bytes) of ``/``."""
    request = urllib.request.Request(url + "/", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        wire = len(response.read())
    with urllib.request.urlopen(url + "/", timeout=60) as response:
        plain = len(response.read())
    return wire, plain


def load(page: Any, url: str, pid: int) -> dict[str, float]:
    before = cpu_seconds(pid)
    page.goto(url + "/", wait_until="load", timeout=120_000)
    cpu = cpu_seconds(pid) - before
    timing = page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
                   return [n.responseEnd - n.requestStart, n.loadEventEnd - n.startTime,
                           n.domInteractive - n.responseEnd,
                           n.domContentLoadedEventEnd - n.domInteractive,
                           n.loadEventStart - n.domContentLoadedEventEnd]; }"""
    )
    # Where the browser's time goes after the last byte: parsing what is left (to
    # domInteractive), the deferred script and DOMContentLoaded handlers, then what the
    # load event waits for (subresources, style and layout done on the way).
    return {
        "response": timing[0] / 1000,
        "load": timing[1] / 1000,
        "cpu": cpu,
        "parse_after": timing[2] / 1000,
        "script": timing[3] / 1000,
        "to_load": timing[4] / 1000,
    }


def measure(
    tree: Path, count: int, runs: int, stale_runs: int, shot: Path | None, *, seeded: bool = True
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bars-bench-") as tmp:
        directory = Path(tmp)
        names = write_inventory(directory / "inventory.csv", count)
        (directory / "config.toml").write_text(SCALE_CONFIG.format(count=count))
        now = time.time()
        if seeded:
            # The code before the bars cannot open the store's newer schema (v6): it
            # starts on an empty state directory (its page has no bars to draw anyway).
            seed(
                database_path(directory / "state"),
                names,
                now - 10 * 86400,
                past_outages(names, now),
                now - 30,
            )
        # The tests' browser: loopback only, and a page error fails the run.
        with daemon(tree, directory) as (url, pid), chromium(directory) as browser:
            settle = wait_all_up(url, count)
            page = browser.new_page()
            cold = load(page, url, pid)
            warm = [load(page, url, pid) for _ in range(runs)]
            stale = []
            for _ in range(stale_runs):
                time.sleep(TTL + 0.5)
                stale.append(load(page, url, pid))
            if shot is not None:
                page.screenshot(path=str(shot))
            wire, plain = html_sizes(url)
    return {
        "count": count,
        "settle_s": round(settle, 1),
        "cold": cold,
        "warm": median(warm),
        "stale": median(stale) if stale else {},
        "warm_runs": warm,
        "stale_runs": stale,
        "gzip_bytes": wire,
        "html_bytes": plain,
        # The machine is shared: the 1-minute load average before and after this code's turn.
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a checkout of the code before the bars")
    parser.add_argument(
        "--also", type=Path, help="another checkout with the bars (e.g. an earlier step), seeded"
    )
    parser.add_argument("--counts", default="1,100,10000")
    parser.add_argument("--reverse", action="store_true", help="the checkouts in reverse order")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--stale-runs", type=int, default=3, help="each waits the bars' TTL")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the daemon and the browser are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    trees = [("bars", REPO)] + ([("also", args.also.resolve())] if args.also else [])
    trees += [("base", args.base.resolve())] if args.base else []
    if args.reverse:
        trees.reverse()
    results = []
    shots = REPO / "tests" / "artifacts"
    shots.mkdir(exist_ok=True)
    for count in (int(c) for c in args.counts.split(",")):
        for label, tree in trees:
            shot = shots / f"bench-bars-{label}-{count}.png"
            found = measure(tree, count, args.runs, args.stale_runs, shot, seeded=label != "base")
            result = {"code": label, **found}
            results.append(result)
            print(json.dumps(result), flush=True)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bars-page-{int(time.time())}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
