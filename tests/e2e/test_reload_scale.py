"""A reload of a large inventory keeps the event loop responsive.

The daemon runs 20,000 loopback ICMP targets from a CSV include (one echo
every 30 s, so hundreds of runs are due every second). The inventory is
then rewritten: every target gets a new label, 1,000 rows go and 1,000 new
ones come. During the reload the daemon keeps probing; its own scheduler-lag
histogram must show no run delayed by half a second or more (a loop frozen
while the new config is built would delay every run due meanwhile). The
bound is generous for a shared test machine; ``python -m bench.icmp`` has
the strict figures at 50,000 targets.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.daemon_process import DaemonProcess

TARGETS = 20_000
LAG_BOUND = 0.5

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


def loopback(i: int) -> str:
    """127.1.0.1 and on (each address distinct, no .0 or .255)."""
    return f"127.{1 + i // 64516}.{(i // 254) % 254 + 1}.{i % 254 + 1}"


def write_inventory(path: Path, indices: range, site: str) -> None:
    rows = "".join(f"t{i},{loopback(i)},{site}\n" for i in indices)
    path.write_text("name,address,label.site\n" + rows)


def lag_histogram(daemon: DaemonProcess) -> dict[str, float]:
    """Cumulative counts by ``le`` of the ICMP scheduler lag."""
    return {
        labels["le"]: value
        for labels, value in daemon.metrics()["continuity_scheduler_lag_seconds_bucket"]
        if labels.get("kind") == "icmp"
    }


def test_reload_of_20000_targets_keeps_the_loop_responsive(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.csv"
    write_inventory(inventory, range(TARGETS), "A")
    daemon = DaemonProcess(CONFIG, tmp_path)
    daemon.start(wait_ready=False)
    try:
        daemon.wait_ready(timeout=90)
        time.sleep(3)  # runs are under way
        before = lag_histogram(daemon)
        write_inventory(inventory, range(1000, TARGETS + 1000), "B")
        loaded = daemon.value("continuity_config_last_reload_success_timestamp_seconds")
        started = time.monotonic()
        daemon.signal(signal.SIGHUP)  # a reload may outlast an HTTP client's timeout here
        while daemon.value("continuity_config_last_reload_success_timestamp_seconds") == loaded:
            assert time.monotonic() - started < 120, "the reload did not finish in 2 minutes"
            time.sleep(0.2)
        took = time.monotonic() - started
        assert "checks started 1000, stopped 1000, kept 19000" in daemon.log()
        after = lag_histogram(daemon)
        states = {lab["target"]: lab for lab, _ in daemon.metrics()["continuity_target_state"]}
        assert len(states) == TARGETS
        assert "t0" not in states  # removed
        assert states[f"t{TARGETS}"]["site"] == "B"  # added
        assert states["t1000"]["site"] == "B"  # relabelled
    finally:
        daemon.stop()
    observed = after["+Inf"] - before["+Inf"]
    within = after[str(LAG_BOUND)] - before[str(LAG_BOUND)]
    assert observed > 100, f"too few runs during the reload to judge ({observed})"
    assert within == observed, (
        f"{observed - within:.0f} of {observed:.0f} runs were delayed {LAG_BOUND} s or more "
        f"during a reload that took {took:.1f} s"
    )
    assert "Traceback" not in daemon.log()
