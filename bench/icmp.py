"""ICMP benchmark: the whole daemon against Debian's fping on the same loopback targets.

    python -m bench.icmp [--sizes 1000 10000] [--runs 3] [--window 30] [--interval 10]
                         [--scale 50000]

For each N it writes a config of N loopback targets (127.0.0.0/8 answers
every address on Linux; nothing leaves the machine), starts the real daemon
(3 echoes per target every ``--interval`` seconds, 10 by default, 1 s apart),
lets it settle for one interval plus a few seconds, then measures over
``--window`` seconds (a longer interval keeps the echo rate of 50,000 targets
within what this 2-core machine sustains: ``--sizes 50000 --interval 50`` sends
as many echoes a second as 10,000 targets every 10 s):

- daemon CPU (utime+stime from /proc) per echo sent in the window, which
  holds a gzip scrape every 15 s as Prometheus would make (since issue 14's
  session 5: the RTT histogram is rendered at the scrape, not per result),
- RSS, scheduler lag p50/p99 (from its own histogram, window deltas),
- the loop time of one ``/metrics`` scrape (median of 5, as the daemon reports it in
  ``continuity_metrics_render_seconds``: the snapshot and, since issue 14's
  session 6, the slices of rendering the loop does between its other work;
  the join, the gzip and the transfer run without blocking the loop) and the
  longest of those slices (``continuity_metrics_render_slice_seconds``),

and runs ``fping -q -C 3 -i 1 -f LIST`` over the same addresses, taking its
CPU from the child's rusage. Every run is bounded in time. Prints a table of
medians over ``--runs`` runs.

The scale row (``--scale N``, 50,000 by default; 0 skips it) starts the
daemon with N loopback targets from a CSV inventory (two labels, one echo
every 60 s; ``--history 'rtt_buckets = []'`` adds a ``[history]`` section,
here turning the RTT histogram off) and measures: the time from spawn to
``/-/ready``, RSS at ready, after one interval (every target probed, every
series rendered) and after seven gzip scrapes (as Prometheus asks; the plain
scrape that counts the bytes comes after), the ``/metrics`` size plain and
gzipped, its series per target, its loop time and longest slice (median of
5), the wall time of a gzip scrape (median of 5) and the worst response time
of ``/-/healthy`` polled every 20 ms during those scrapes, then a
reload (SIGHUP after adding one row to the CSV): the time until the daemon
logs it done, the worst response time of ``/-/healthy``
polled every 20 ms meanwhile (a stalled loop answers late), and the highest
scheduler-lag bucket the daemon's own histogram filled during the reload; and
that bucket for the plain (not gzipped) scrape, apart.
"""

from __future__ import annotations

import argparse
import gzip
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from bench.common import cpu_seconds
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[1]
INTERVAL = 10.0
ECHOES = 3


def addresses(n: int) -> list[str]:
    """N distinct loopback addresses, skipping .0 and .255 last octets."""
    out: list[str] = []
    i = 0
    while len(out) < n:
        i += 1
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        if c not in (0, 255):
            out.append(f"127.{a}.{b}.{c}")
    return out


def config_text(addrs: list[str], interval: float = INTERVAL) -> str:
    head = f"""
[monitor]
instance = "bench"
max_concurrency = 20000

[defaults]
checks = ["icmp"]
interval = "{interval:g}s"
timeout = "5s"

[defaults.icmp]
count = {ECHOES}
packet_interval = "1s"
"""
    body = "".join(f'[[targets]]\nname = "t{i}"\naddress = "{a}"\n' for i, a in enumerate(addrs))
    return head + body


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape(port: int) -> tuple[str, float]:
    start = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=120) as resp:
        text = resp.read().decode()
    return text, time.perf_counter() - start


SCRAPE_EVERY = 15.0
"""Seconds between the scrapes inside the CPU window (a common Prometheus interval)."""


def _scraped_window(port: int, window: float) -> None:
    """Wait ``window`` seconds, scraping as Prometheus would (gzip, every
    :data:`SCRAPE_EVERY` s), so that the CPU per echo includes what the scrapes cost:
    some series (the RTT histogram) are rendered at the scrape, not per result."""
    deadline = time.monotonic() + window
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(SCRAPE_EVERY, left))
        if deadline - time.monotonic() > 1.0:
            _scrape_gzip(port)


_LE = re.compile(r'[{,]le="([^"]+)"')


def lag_buckets(text: str) -> tuple[dict[float, float], float]:
    """Cumulative bucket counts of the scheduler lag histogram, and runs completed.

    Picks the two families' lines by their start: a full parse of a 50,000-target
    exposition (1.5 million series) took minutes; these are a few dozen lines.
    """
    buckets: dict[float, float] = {}
    runs = 0.0
    for line in text.splitlines():
        if line.startswith("continuity_scheduler_lag_seconds_bucket{"):
            found = _LE.search(line)
            if found is not None:
                le = float(found.group(1))
                buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("continuity_check_runs_total{"):
            runs += float(line.rsplit(" ", 1)[1])
    return buckets, runs


def _render_seconds(text: str, name: str = "continuity_metrics_render_seconds") -> float:
    """The daemon's own gauge ``name`` (NaN if absent: a tree from before it existed)."""
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return float("nan")


SLICE_GAUGE = "continuity_metrics_render_slice_seconds"


def quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """Quantile q of the window's observations, interpolated inside its bucket
    (what PromQL's histogram_quantile does)."""
    delta = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    total = delta[-1][1]
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in delta:
        if total and count >= rank:
            if le == float("inf"):
                return lower_le
            share = (rank - lower_count) / (count - lower_count) if count > lower_count else 1.0
            return lower_le + (le - lower_le) * share
        lower_le, lower_count = le, count
    return float("nan")


@dataclass
class DaemonFigures:
    cpu_per_echo_us: float
    rss_mb: float
    lag_p50_ms: float
    lag_p99_ms: float
    scrape_ms: float
    scrape_slice_ms: float
    echoes: float


def run_daemon(
    addrs: list[str], window: float, workdir: Path, interval: float = INTERVAL
) -> DaemonFigures:
    config = workdir / "bench.toml"
    config.write_text(config_text(addrs, interval))
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
            str(workdir / "state"),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "daemon.log").open("w"),
    )
    try:
        _wait_ready(port, proc, timeout=120)
        time.sleep(interval + 5)  # first runs are spread over one interval
        text0, _ = scrape(port)
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        _scraped_window(port, window)
        cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
        text1, _ = scrape(port)
        b0, runs0 = lag_buckets(text0)
        b1, runs1 = lag_buckets(text1)
        echoes = (runs1 - runs0) * ECHOES
        scrapes, slices = [], []
        for _ in range(6):  # each scrape reports the loop time of the one before
            text, _ = scrape(port)
            scrapes.append(_render_seconds(text))
            slices.append(_render_seconds(text, SLICE_GAUGE))
        scrapes, slices = scrapes[1:], slices[1:]
        del t0, t1
        return DaemonFigures(
            cpu_per_echo_us=(cpu1 - cpu0) / echoes * 1e6 if echoes else float("nan"),
            rss_mb=rss_mb(proc.pid),
            lag_p50_ms=quantile(0.5, b0, b1) * 1000,
            lag_p99_ms=quantile(0.99, b0, b1) * 1000,
            scrape_ms=statistics.median(scrapes) * 1000,
            scrape_slice_ms=statistics.median(slices) * 1000,
            echoes=echoes,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_fping(addrs: list[str], workdir: Path) -> float:
    """CPU µs per echo of ``fping -q -C 3 -i 1`` over the same list."""
    listing = workdir / "targets.txt"
    listing.write_text("\n".join(addrs) + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        ["fping", "-q", "-C", str(ECHOES), "-i", "1", "-f", str(listing)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu / (len(addrs) * ECHOES) * 1e6


SCALE_INTERVAL = 60.0


def scale_config(addrs: list[str], workdir: Path, history: str = "") -> Path:
    """A small TOML file including a CSV inventory of every target (two labels);
    ``history`` is a ``[history]`` section's body (empty: the shipped defaults)."""
    rows = "".join(f"s{i},{a},S{i % 5000},P{i % 63}\n" for i, a in enumerate(addrs))
    (workdir / "inventory.csv").write_text("name,address,label.site,label.province\n" + rows)
    config = workdir / "scale.toml"
    config.write_text(
        f"""
include = ["inventory.csv"]

[monitor]
instance = "bench"
max_concurrency = 60000

[defaults]
checks = ["icmp"]
interval = "{SCALE_INTERVAL:g}s"
timeout = "5s"

[defaults.icmp]
count = 1
"""
        + (f"\n[history]\n{history}\n" if history else "")
    )
    return config


@dataclass
class ScaleFigures:
    ready_s: float
    rss_ready_mb: float
    rss_steady_mb: float
    rss_scraped_mb: float
    metrics_mb: float
    metrics_gzip_mb: float
    series_per_target: float
    bytes_per_target: float
    render_ms: float
    render_slice_ms: float
    scrape_wall_ms: float
    scrape_worst_healthy_ms: float
    reload_s: float
    reload_worst_healthy_ms: float
    reload_lag_max_bucket_ms: float
    plain_scrape_lag_max_bucket_ms: float


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return resp.read(), resp.headers.get("Content-Encoding") or ""


def _scrape_gzip(port: int) -> tuple[str, int]:
    """A scrape as Prometheus asks for it: the text and the bytes on the wire."""
    body, coding = _get(port, "/metrics", {"Accept-Encoding": "gzip"})
    return (gzip.decompress(body) if coding == "gzip" else body).decode(), len(body)


def _tail(body: bytes, coding: str, size: int = 1 << 20) -> str:
    """The last ``size`` bytes of a scrape's text, from its last whole line on."""
    text = zlib.decompress(body, 16 + zlib.MAX_WBITS) if coding == "gzip" else body
    tail = text[-size:]
    return tail[tail.find(b"\n") + 1 :].decode()


class _HealthPoller(threading.Thread):
    """Polls ``/-/healthy`` every 20 ms; the slowest answer bounds the loop's worst stall."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.worst = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            start = time.perf_counter()
            _get(self.port, "/-/healthy")
            self.worst = max(self.worst, time.perf_counter() - start)
            self.stop.wait(0.02)


def _lag_bound(before: dict[float, float], after: dict[float, float]) -> float:
    """Smallest bucket bound under which every lag observed in the window fell."""
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    for le in sorted(after):
        if after[le] - before.get(le, 0.0) >= total:
            return le
    return float("inf")


def run_scale(addrs: list[str], workdir: Path, history: str = "") -> ScaleFigures:
    config = scale_config(addrs, workdir, history)
    port = free_port()
    log_path = workdir / "daemon.log"
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "monitor", "--log-level", "info", "run"),
            *("--config", str(config), "--listen", f"127.0.0.1:{port}"),
            *("--state-dir", str(workdir / "state")),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("w"),
    )
    try:
        _wait_ready(port, proc, timeout=120, pause=0.05)
        ready = time.monotonic() - started
        rss_ready = rss_mb(proc.pid)
        time.sleep(SCALE_INTERVAL + 5)  # every target probed once, every series rendered
        rss_steady = rss_mb(proc.pid)
        _, wire = _scrape_gzip(port)
        renders, slices, walls = [], [], []
        poller = _HealthPoller(port)  # the loop's worst stall during the scrapes
        poller.start()
        for _ in range(6):  # each scrape reports the loop time of the one before
            start = time.perf_counter()
            body, coding = _get(port, "/metrics", {"Accept-Encoding": "gzip"})
            walls.append(time.perf_counter() - start)
            # Only the end, where the daemon's own gauges are: decoding and splitting
            # 124 MB here held this process's GIL for tenths of a second, and the
            # poller's thread waited for it (its answers looked slow, not the daemon).
            tail = _tail(body, coding)
            renders.append(_render_seconds(tail))
            slices.append(_render_seconds(tail, SLICE_GAUGE))
        poller.stop.set()
        poller.join(5)
        scrape_worst_healthy = poller.worst
        last = (gzip.decompress(body) if coding == "gzip" else body).decode()
        # with whatever the gzip scrapes (what Prometheus asks for) leave behind; the
        # plain scrape that counts the bytes comes after (the bench holds its whole text)
        rss_scraped = rss_mb(proc.pid)
        before_plain, _ = lag_buckets(last)
        plain, _ = _get(port, "/metrics")
        text = plain.decode()
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        # The reload's window starts after the plain scrape, which is not the reload's
        # (and which Prometheus never makes: it asks for gzip); its own lag is apart.
        before, _ = lag_buckets(_scrape_gzip(port)[0])
        with (workdir / "inventory.csv").open("a") as fh:
            fh.write("s-extra,127.255.255.254,S0,P0\n")
        poller = _HealthPoller(port)
        poller.start()
        time.sleep(0.5)
        offset = log_path.stat().st_size
        reload_start = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        reload_s = _wait_log(log_path, "reloaded:", reload_start, timeout=120, offset=offset)
        time.sleep(0.5)
        poller.stop.set()
        poller.join(5)
        after, _ = lag_buckets(_scrape_gzip(port)[0])
        n = len(addrs)
        return ScaleFigures(
            ready_s=ready,
            rss_ready_mb=rss_ready,
            rss_steady_mb=rss_steady,
            rss_scraped_mb=rss_scraped,
            metrics_mb=len(plain) / 1e6,
            metrics_gzip_mb=wire / 1e6,
            series_per_target=series / n,
            bytes_per_target=len(plain) / n,
            render_ms=statistics.median(renders[1:]) * 1000,
            render_slice_ms=statistics.median(slices[1:]) * 1000,
            scrape_wall_ms=statistics.median(walls[1:]) * 1000,
            scrape_worst_healthy_ms=scrape_worst_healthy * 1000,
            reload_s=reload_s,
            reload_worst_healthy_ms=poller.worst * 1000,
            reload_lag_max_bucket_ms=_lag_bound(before, after) * 1000,
            plain_scrape_lag_max_bucket_ms=_lag_bound(before_plain, before) * 1000,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_log(path: Path, needle: str, since: float, timeout: float, offset: int) -> float:
    """Seconds from ``since`` until ``needle`` appears in the log after ``offset``.

    Reads only what was appended: re-reading a log of 50,000 lines every
    50 ms took CPU from the daemon being measured.
    """
    end = time.monotonic() + timeout
    with path.open("rb") as fh:
        fh.seek(offset)
        tail = b""
        while time.monotonic() < end:
            tail = tail[-len(needle) :] + fh.read()
            if needle.encode() in tail:
                return time.monotonic() - since
            time.sleep(0.02)
    raise SystemExit(f"{needle!r} not logged within {timeout:.0f} s")


def _wait_ready(
    port: int, proc: subprocess.Popen[bytes], timeout: float = 60, pause: float = 0.2
) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2):
                return
        except OSError:
            time.sleep(pause)
    raise SystemExit("daemon did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument(
        "--interval", type=float, default=INTERVAL, help="seconds between a target's runs"
    )
    parser.add_argument(
        "--scale", type=int, default=50000, help="targets of the scale row (0: none)"
    )
    parser.add_argument(
        "--history",
        default="",
        help="body of the scale config's [history] section, e.g. 'rtt_buckets = []' "
        "(the RTT histogram off); default: the shipped defaults",
    )
    args = parser.parse_args()
    if shutil.which("fping") is None:
        raise SystemExit(
            "fping not found (Debian package fping; `make bench-icmp` installs it as root)"
        )
    print(
        f"ICMP benchmark: {ECHOES} echoes per target every {args.interval:g} s, loopback targets, "
        f"{args.runs} runs, medians; CPU per echo includes everything the process does, "
        f"a gzip scrape every {SCRAPE_EVERY:g} s included"
    )
    header = (
        f"{'N':>6} | {'daemon µs/echo':>14} | {'fping µs/echo':>13} | {'ratio':>5} | "
        f"{'RSS MB':>6} | {'lag p50 ms':>10} | {'lag p99 ms':>10} | {'/metrics ms':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        addrs = addresses(n)
        daemon_runs: list[DaemonFigures] = []
        fping_runs: list[float] = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="bench-icmp-") as tmp:
                daemon_runs.append(run_daemon(addrs, args.window, Path(tmp), args.interval))
                fping_runs.append(run_fping(addrs, Path(tmp)))
        med = {
            f: statistics.median(getattr(r, f) for r in daemon_runs)
            for f in DaemonFigures.__dataclass_fields__
        }
        fping = statistics.median(fping_runs)
        print(
            f"{n:>6} | {med['cpu_per_echo_us']:>14.1f} | {fping:>13.1f} | "
            f"{med['cpu_per_echo_us'] / fping:>5.2f} | {med['rss_mb']:>6.0f} | "
            f"{med['lag_p50_ms']:>10.1f} | "
            f"{med['lag_p99_ms']:>10.1f} | {med['scrape_ms']:>11.1f}",
            flush=True,
        )
        print(
            f"       runs: daemon µs/echo {[round(r.cpu_per_echo_us, 1) for r in daemon_runs]}, "
            f"fping {[round(f, 1) for f in fping_runs]}, "
            f"lag p99 ms {[round(r.lag_p99_ms, 1) for r in daemon_runs]}, "
            f"RSS MB {[round(r.rss_mb) for r in daemon_runs]}, "
            f"/metrics longest slice ms {[round(r.scrape_slice_ms, 1) for r in daemon_runs]}",
            flush=True,
        )
    if args.scale:
        scale_main(args.scale, args.runs, args.history)


def scale_main(n: int, runs: int, history: str = "") -> None:
    print(
        f"\nScale: {n} loopback targets from a CSV inventory, 1 echo every {SCALE_INTERVAL:g} s, "
        f"{runs} runs, medians"
    )
    results: list[ScaleFigures] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-icmp-scale-") as tmp:
            results.append(run_scale(addresses(n), Path(tmp), history))
    for field in ScaleFigures.__dataclass_fields__:
        values = [getattr(r, field) for r in results]
        runs_text = [round(v, 2) for v in values]
        print(f"  {field:>26}: {statistics.median(values):10.2f}   runs {runs_text}")


if __name__ == "__main__":
    main()
