"""Dependencies end to end: a router namespace with two sites behind it."""

from __future__ import annotations

import time
from pathlib import Path

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.helpers import wait_until
from tests.netns_topology import restore_uplink, router_with_sites

CONFIG = """
[monitor]
instance = "deps"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 2

[defaults.icmp]
count = 1

[[targets]]
name = "router"
address = "{router}"

[[targets]]
name = "site-a"
address = "{a}"
parents = ["router"]

[[targets]]
name = "site-b"
address = "{b}"
parents = ["router"]
"""


INTERVAL = 1.0  # the config's interval


def last_run(daemon: DaemonProcess, target: str) -> float:
    """When the target's ICMP check last started (UNIX time; 0 before its first run)."""
    started = daemon.value("continuity_check_last_run_timestamp_seconds", target=target)
    return started or 0.0


def test_cut_uplink_router_down_sites_unreachable_and_back_without_storm(tmp_path: Path) -> None:
    netns.require()
    with router_with_sites(2) as (router, (a, b)):
        config = CONFIG.format(router=router.v4, a=a.v4, b=b.v4)
        with DaemonProcess(config, tmp_path) as daemon:
            for name in ("router", "site-a", "site-b"):
                daemon.wait_for("continuity_target_up", 1, timeout=6, target=name)
            router.cut()
            daemon.wait_for("continuity_target_state", 1, timeout=6, target="router", state="down")
            for name in ("site-a", "site-b"):
                daemon.wait_for(
                    "continuity_target_state", 1, timeout=6, target=name, state="unreachable"
                )
            # Two more rounds of the router's check: nothing else may be announced.
            mark = time.time()
            wait_until(lambda: last_run(daemon, "router") >= mark + 2 * INTERVAL, 10, "2 rounds")
            restore_uplink(router, [a, b])
            started = time.monotonic()
            for name in ("router", "site-a", "site-b"):
                daemon.wait_for("continuity_target_up", 1, timeout=6, target=name)
            recovered_in = time.monotonic() - started
        log = daemon.log()
    assert recovered_in < 5, recovered_in
    assert log.count("router target_down") == 1
    assert log.count("router outage_started") == 1 and "cause=check:icmp" in log
    for site in ("site-a", "site-b"):
        assert f"{site} target_down" not in log, log
        assert log.count(f"{site} target_unreachable") == 1
        lines = [line for line in log.splitlines() if f"{site} outage_started" in line]
        assert len(lines) == 1 and "cause=parent:router" in lines[0], lines
        assert log.count(f"{site} outage_ended") == 1
