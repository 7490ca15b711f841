"""A reload of a large inventory keeps the event loop responsive.

The daemon runs 20,000 loopback ICMP targets from a CSV include (one echo
every 30 s, so hundreds of runs are due every second). Two reloads follow:
first the inventory is rewritten (every target gets a new label, 1,000 rows
go and 1,000 new ones come: every row is validated again), then one row is
added (one row validated, the others taken from the previous load). During
each reload the daemon keeps probing; its own scheduler-lag histogram must
show no run delayed by half a second or more (a loop frozen while the new
config is built would delay every run due meanwhile). The bound is generous
for a shared test machine; ``python -m bench.reload_stalls`` and
``python -m bench.icmp --scale`` have the strict figures at 50,000 targets.

Every wait is for a positive signal (runs counted, the reload's log line),
and the histogram is read with one regular expression per scrape rather than
by parsing every one of the 300,000 samples of ``/metrics``.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from tests.daemon_process import DaemonProcess

TARGETS = 20_000
LAG_BOUND = "0.5"
ENOUGH_RUNS = 1_000  # about 1.5 s of runs at 20,000 targets every 30 s

CONFIG = """
include = ["inventory.csv"]

[monitor]
instance = "reload-scale"
max_concurrency = 30000

[defaults]
checks = ["icmp"]
interval = "30s"
timeout = "2s"

[defaults.icmp]
count = 1
"""

_LAG = re.compile(
    r'^continuity_scheduler_lag_seconds_bucket\{kind="icmp",le="([^"]+)"\} (\S+)$', re.M
)


def loopback(i: int) -> str:
    """127.1.0.1 and on (each address distinct, no .0 or .255)."""
    return f"127.{1 + i // 64516}.{(i // 254) % 254 + 1}.{i % 254 + 1}"


def write_inventory(path: Path, indices: range, site: str) -> None:
    rows = "".join(f"t{i},{loopback(i)},{site}\n" for i in indices)
    path.write_text("name,address,label.site\n" + rows)


def lag_histogram(daemon: DaemonProcess) -> dict[str, float]:
    """Cumulative counts by ``le`` of the ICMP scheduler lag (one scrape)."""
    status, text = daemon.request("GET", "/metrics", timeout=60)
    assert status == 200
    found = {le: float(value) for le, value in _LAG.findall(text)}
    assert "+Inf" in found and LAG_BOUND in found, "no ICMP lag histogram in /metrics"
    return found


def runs_under_way(daemon: DaemonProcess, timeout: float = 60) -> dict[str, float]:
    """The lag histogram once at least ``ENOUGH_RUNS`` runs have started."""
    start = time.monotonic()
    while (histogram := lag_histogram(daemon))["+Inf"] < ENOUGH_RUNS:
        assert time.monotonic() - start < timeout, f"fewer than {ENOUGH_RUNS} runs in {timeout} s"
        time.sleep(0.5)
    return histogram


def reload_and_wait(daemon: DaemonProcess, expected: str, timeout: float = 120) -> float:
    """SIGHUP, then wait for the reload's log line; returns how long it took."""
    done = daemon.log().count("reloaded:")
    start = time.monotonic()
    daemon.signal(signal.SIGHUP)  # as systemctl reload does; a reload may outlast HTTP timeouts
    while daemon.log().count("reloaded:") == done:
        assert "reload rejected" not in daemon.log(), daemon.log()[-2000:]
        assert time.monotonic() - start < timeout, f"no reload in {timeout} s"
        time.sleep(0.05)
    took = time.monotonic() - start
    assert expected in daemon.log(), daemon.log()[-2000:]
    return took


def late_runs(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
    """Runs started between the two scrapes, and how many of them were late by the bound."""
    observed = after["+Inf"] - before["+Inf"]
    return observed, observed - (after[LAG_BOUND] - before[LAG_BOUND])


def test_reloads_of_20000_targets_keep_the_loop_responsive(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.csv"
    write_inventory(inventory, range(TARGETS), "A")
    daemon = DaemonProcess(CONFIG, tmp_path)
    daemon.start(wait_ready=False)
    try:
        daemon.wait_ready(timeout=90)
        before = runs_under_way(daemon)
        write_inventory(inventory, range(1000, TARGETS + 1000), "B")
        took = reload_and_wait(daemon, "checks started 1000, stopped 1000, kept 19000")
        # This scrape is answered by the loop after the runs that came due during the
        # reload were started (their timers come first), so it counts them all.
        relabelled = lag_histogram(daemon)
        assert f"{TARGETS} targets, {TARGETS} validated, 0 as in the last load" in daemon.log()
        with inventory.open("a") as fh:
            fh.write(f"t{TARGETS + 1000},{loopback(TARGETS + 1000)},B\n")
        took_one = reload_and_wait(daemon, "checks started 1, stopped 0, kept 20000")
        one_row = lag_histogram(daemon)
        assert f"{TARGETS + 1} targets, 1 validated, {TARGETS} as in the last load" in daemon.log()
        states = {
            labels["target"]: labels
            for labels, _ in daemon.metrics()["continuity_target_state"]  # parsed once, at the end
        }
        assert len(states) == TARGETS + 1
        assert "t0" not in states  # removed
        assert states[f"t{TARGETS}"]["site"] == "B"  # added
        assert states["t1000"]["site"] == "B"  # relabelled
    finally:
        daemon.stop()
    for what, (observed, late), seconds in (
        ("every row changed", late_runs(before, relabelled), took),
        ("one row added", late_runs(relabelled, one_row), took_one),
    ):
        assert observed > 100, f"{what}: too few runs during the reload to judge ({observed})"
        assert late == 0, (
            f"{what}: {late:.0f} of {observed:.0f} runs were delayed {LAG_BOUND} s or more "
            f"during a reload that took {seconds:.1f} s"
        )
    assert "Traceback" not in daemon.log()
