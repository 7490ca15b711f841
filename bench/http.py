"""HTTP benchmark: the whole daemon beside Debian's prometheus-blackbox-exporter.

    python -m bench.http [--targets 1000] [--interval 10] [--ports 1000]
                         [--window 30] [--runs 3] [--no-fresh]

One aiohttp server process (``python -m bench.http serve``) answers
``GET /ep/N`` with a small JSON body on ``--ports`` loopback ports
(127.0.0.1 only); target N is ``http://127.0.0.1:PORT[N % ports]/ep/N``.
In the same run, side by side:

- the real daemon (``python -m monitor run``) with ``--targets`` http checks
  every ``--interval`` seconds, default settings (connections kept alive),
  scraped every 15 s as Prometheus would;
- unless ``--no-fresh``, a second daemon with ``keepalive = false`` (a new
  TCP connection per check, as blackbox_exporter does), for the like-for-like
  figure;
- ``prometheus-blackbox-exporter`` with an ``http_2xx`` module, driven by a
  client here that requests ``/probe?module=http_2xx&target=URL`` for every
  target at the same rate, spread over the interval like the daemon's runs.

After one interval plus a few seconds of warm-up, CPU time (utime+stime from
``/proc/PID/stat``) of the daemon(s) and of blackbox_exporter is taken over
``--window`` seconds, with the checks each completed in that window (the
daemon's ``continuity_check_runs_total``, the driver's count of answered
probes). Prints CPU per check for each, the ratio, and medians over
``--runs`` runs. Everything stays on 127.0.0.1 and every step is bounded in
time; the processes started here are stopped at the end. Installs the Debian
package with apt-get when it is missing and we are root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bench.common import cpu_seconds, process, wait_http
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""
SCRAPE_EVERY = 15.0
START_TIMEOUT = 60.0


# --------------------------------------------------------------------------
# The endpoint server (its own process)
# --------------------------------------------------------------------------


async def _endpoint(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "endpoint": int(request.match_info["n"])})


async def serve(ports: int, stop_after: float) -> None:
    """Listen on ``ports`` loopback ports; print them as one JSON line; stop after a while."""
    app = web.Application()
    app.router.add_get("/ep/{n}", _endpoint)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    for _ in range(ports):
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
    print(json.dumps([addr[1] for addr in runner.addresses]), flush=True)
    try:
        await asyncio.sleep(stop_after)  # a safety net: the bench stops us much earlier
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------
# Processes and measurements
# --------------------------------------------------------------------------


def ensure_blackbox() -> str:
    path = shutil.which(BLACKBOX)
    if path is not None:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {BLACKBOX} with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=300)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", BLACKBOX],
            check=True,
            env=env,
            timeout=600,
        )
        path = shutil.which(BLACKBOX)
    if path is None:
        sys.exit(f"{BLACKBOX} is not installed (Debian package {BLACKBOX})")
    return path


def daemon_config(urls: Sequence[str], interval: float, *, keepalive: bool) -> str:
    lines = [
        "[monitor]",
        'instance = "bench-http"',
        "",
        "[defaults]",
        'checks = ["http"]',
        f'interval = "{interval:g}s"',
        'timeout = "5s"',
        "",
        "[defaults.http]",
        f"keepalive = {'true' if keepalive else 'false'}",
        "",
    ]
    for n, url in enumerate(urls):
        lines += ["[[targets]]", f'name = "ep-{n:05d}"', f'address = "{url}"', ""]
    return "\n".join(lines)


async def daemon_checks(session: aiohttp.ClientSession, base: str) -> tuple[float, float]:
    """(successful, failed) http check runs so far, from the daemon's own counter."""
    async with session.get(f"{base}/metrics") as resp:
        text = await resp.text()
    ok = failed = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "continuity_check_runs_total" and sample.labels.get("kind") == "http":
                if sample.labels.get("result") == "success":
                    ok += sample.value
                else:
                    failed += sample.value
    return ok, failed


async def scraper(
    session: aiohttp.ClientSession, bases: Sequence[str], stop: asyncio.Event
) -> None:
    """Scrape each daemon every 15 s, as Prometheus would (part of its cost)."""
    while not stop.is_set():
        for base in bases:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{base}/metrics") as resp:
                    await resp.read()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SCRAPE_EVERY)


@dataclass
class Driver:
    """Requests blackbox_exporter probes for every target at the daemon's rate."""

    base: str
    urls: Sequence[str]
    interval: float
    done: int = 0
    succeeded: int = 0

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        spacing = self.interval / len(self.urls)
        tasks: set[asyncio.Task[None]] = set()
        slot = 0
        while not stop.is_set():
            due = start + slot * spacing
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:
                # Far behind (a stalled loop): skip the missed slots, as a scraper
                # would, instead of firing them in a burst.
                slot = int((loop.time() - start) / spacing)
            url = self.urls[slot % len(self.urls)]
            task = asyncio.create_task(self._probe(session, url))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            slot += 1
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _probe(self, session: aiohttp.ClientSession, url: str) -> None:
        params = {"module": "http_2xx", "target": url}
        with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
            async with session.get(f"{self.base}/probe", params=params) as resp:
                body = await resp.text()
            self.done += 1
            if "\nprobe_success 1" in body:
                self.succeeded += 1


@dataclass
class Side:
    """One measured process in one run."""

    name: str
    cpu_seconds: float
    checks: float
    failed: float
    seconds: float  # the measured window, wall clock

    @property
    def cpu_ms_per_check(self) -> float:
        return 1000 * self.cpu_seconds / self.checks if self.checks else float("nan")


async def measure(
    urls: Sequence[str],
    interval: float,
    window: float,
    fresh: bool,
    workdir: Path,
    blackbox: str,
) -> list[Side]:
    """Start the daemon(s) and blackbox_exporter, warm up, measure one window."""
    with contextlib.ExitStack() as stack:
        daemons: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
        variants = [("daemon", True)] + ([("daemon keepalive=false", False)] if fresh else [])
        for index, (name, keepalive) in enumerate(variants):
            config = workdir / f"daemon-{index}.toml"
            config.write_text(daemon_config(urls, interval, keepalive=keepalive))
            port = free_port()
            proc = stack.enter_context(
                process(
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
                        str(workdir / f"state-{index}"),
                    ],
                    workdir / f"daemon-{index}.log",
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )
            )
            daemons[name] = (proc, f"http://127.0.0.1:{port}")
        bb_config = workdir / "blackbox.yml"
        bb_config.write_text(BLACKBOX_CONFIG)
        bb_port = free_port()
        bb = stack.enter_context(
            process(
                [
                    blackbox,
                    f"--config.file={bb_config}",
                    f"--web.listen-address=127.0.0.1:{bb_port}",
                    "--log.level=warn",
                ],
                workdir / "blackbox.log",
            )
        )
        bb_base = f"http://127.0.0.1:{bb_port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=10)
        ) as session:
            for proc, base in daemons.values():
                await wait_http(session, f"{base}/-/ready", proc, START_TIMEOUT)
            await wait_http(session, f"{bb_base}/-/healthy", bb, START_TIMEOUT)
            stop = asyncio.Event()
            driver = Driver(bb_base, urls, interval)
            background = [
                asyncio.create_task(driver.run(session, stop)),
                asyncio.create_task(scraper(session, [b for _, b in daemons.values()], stop)),
            ]
            try:
                await asyncio.sleep(interval + 5)  # every target ran once; pools are warm
                t0 = time.monotonic()
                before = {
                    n: (cpu_seconds(p.pid), await daemon_checks(session, b))
                    for n, (p, b) in daemons.items()
                }
                bb_before = (cpu_seconds(bb.pid), driver.done, driver.succeeded)
                await asyncio.sleep(window)
                after = {
                    n: (cpu_seconds(p.pid), await daemon_checks(session, b))
                    for n, (p, b) in daemons.items()
                }
                bb_after = (cpu_seconds(bb.pid), driver.done, driver.succeeded)
                elapsed = time.monotonic() - t0
            finally:
                stop.set()
                await asyncio.gather(*background, return_exceptions=True)
    sides = []
    for name in daemons:
        cpu0, (ok0, bad0) = before[name]
        cpu1, (ok1, bad1) = after[name]
        sides.append(Side(name, cpu1 - cpu0, (ok1 - ok0) + (bad1 - bad0), bad1 - bad0, elapsed))
    done = bb_after[1] - bb_before[1]
    succeeded = bb_after[2] - bb_before[2]
    sides.append(
        Side("blackbox_exporter", bb_after[0] - bb_before[0], done, done - succeeded, elapsed)
    )
    return sides


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


async def one_run(args: argparse.Namespace, blackbox: str, run: int) -> list[Side]:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        workdir = Path(tmp)
        stop_after = args.interval + args.window + 120
        with process(
            [
                sys.executable,
                "-m",
                "bench.http",
                "serve",
                "--ports",
                str(args.ports),
                "--stop-after",
                str(stop_after),
            ],
            workdir / "server.log",
            env={**os.environ, "PYTHONPATH": str(REPO)},
        ) as server:
            ports = await read_ports(workdir / "server.log", server)
            urls = [f"http://127.0.0.1:{ports[n % len(ports)]}/ep/{n}" for n in range(args.targets)]
            sides = await measure(urls, args.interval, args.window, args.fresh, workdir, blackbox)
    print(
        f"run {run}: "
        + "; ".join(
            f"{s.name} {s.cpu_ms_per_check:.3f} ms/check "
            f"({s.checks:.0f} checks in {s.seconds:.1f} s, {s.failed:.0f} failed)"
            for s in sides
        ),
        flush=True,
    )
    return sides


async def read_ports(log: Path, proc: subprocess.Popen[bytes]) -> list[int]:
    end = time.monotonic() + START_TIMEOUT
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"endpoint server exited:\n{log.read_text()}")
        for line in log.read_text().splitlines():
            if line.startswith("["):
                return [int(p) for p in json.loads(line)]
        await asyncio.sleep(0.1)
    raise RuntimeError("endpoint server did not start")


def report(runs: list[list[Side]], args: argparse.Namespace) -> dict[str, object]:
    names = [s.name for s in runs[0]]
    medians = {
        name: statistics.median(
            next(s for s in run if s.name == name).cpu_ms_per_check for run in runs
        )
        for name in names
    }
    checks_per_s = args.targets / args.interval
    print()
    print(
        f"{args.targets} http targets every {args.interval:g} s ({checks_per_s:g} checks/s each), "
        f"{args.ports} ports, window {args.window:g} s, median of {len(runs)} run(s)"
    )
    print(f"{'':28} {'CPU ms/check':>13} {'% of a core':>12}")
    for name in names:
        per = medians[name]
        print(f"{name:28} {per:13.3f} {per * checks_per_s / 10:11.1f}%")
    ratio = medians["daemon"] / medians["blackbox_exporter"]
    print(f"daemon / blackbox_exporter CPU per check: {ratio:.2f} (goal: at most 0.5)")
    if "daemon keepalive=false" in medians:
        fresh = medians["daemon keepalive=false"] / medians["blackbox_exporter"]
        print(f"daemon keepalive=false / blackbox_exporter: {fresh:.2f}")
    return {
        "args": vars(args),
        "median_cpu_ms_per_check": medians,
        "ratio": ratio,
        "runs": [[asdict(s) for s in run] for run in runs],
    }


async def main_async(args: argparse.Namespace) -> None:
    blackbox = ensure_blackbox()
    runs = [await one_run(args, blackbox, n + 1) for n in range(args.runs)]
    summary = report(runs, args)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"http-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(summary, indent=2))
    print(f"results: {path.relative_to(REPO)}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="run the endpoint server (used by the benchmark)")
    server.add_argument("--ports", type=int, default=1000)
    server.add_argument("--stop-after", type=float, default=600.0)
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument(
        "--ports", type=int, default=1000, help="server ports the targets spread over"
    )
    parser.add_argument("--window", type=float, default=30.0, help="measured seconds per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--no-fresh",
        dest="fresh",
        action="store_false",
        help="skip the second daemon with keepalive = false",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "serve":
        asyncio.run(serve(args.ports, args.stop_after))
        return
    if not 1 <= args.ports <= 5000 or args.targets < 1 or args.window <= 0:
        sys.exit("--ports must be 1-5000, --targets at least 1, --window positive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
