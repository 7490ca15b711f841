"""Outage history end to end: the API, availability series, and surviving kill -9."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.helpers import wait_until

CONFIG = """
[monitor]
instance = "continuity"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 1

[[targets]]
name = "site"
address = "{site}"
labels = {{ province = "Quang Ngai" }}
location = {{ address = "Binh Son", contact = "+84 255 000 000" }}

[[targets]]
name = "lo"
address = "127.0.0.1"
"""


def failed_runs(daemon: DaemonProcess) -> float:
    """ICMP runs that failed since the daemon started (only the namespace site can fail)."""
    return daemon.value("continuity_check_runs_total", kind="icmp", result="failure") or 0.0


def recorded(state: Path, sql: str) -> bool:
    """Whether the history database (read-only, beside the daemon) has a row for ``sql``."""
    path = state / "history.sqlite3"
    if not path.exists():
        return False
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchone() is not None
    finally:
        db.close()


def outages(daemon: DaemonProcess, query: str = "") -> list[dict[str, Any]]:
    found = daemon.json(f"/api/v1/outages{query}")
    assert isinstance(found, dict)
    return list(found["outages"])


def test_outage_survives_kill_9_as_one_row_then_closes(tmp_path: Path) -> None:
    netns.require()
    with netns.netns_host() as host:
        config = CONFIG.format(site=host.v4)
        first = DaemonProcess(config, tmp_path, log_name="first.log").start()
        try:
            first.wait_for("continuity_target_up", 1, timeout=6, target="site")
            host.cut()
            first.wait_for("continuity_target_up", 0, timeout=6, target="site")
            (opened,) = outages(first, "?open=true")
            assert opened["target"] == "site" and opened["end"] is None
            assert opened["cause"] == "check:icmp"
            # kill -9 only once the outage and its announcement are committed.
            wait_until(
                lambda: recorded(
                    tmp_path / "state",
                    "SELECT 1 FROM outages o JOIN events e ON e.target = o.target"
                    " WHERE o.target = 'site' AND o.\"end\" IS NULL AND e.kind = 'target_down'",
                ),
                10,
                "the open outage committed",
            )
        finally:
            first.kill()
        second = DaemonProcess(config, tmp_path, log_name="second.log").start()
        try:
            # More failed runs than fall: a forgotten outage would be announced by now.
            wait_until(lambda: failed_runs(second) >= 3, 15, "3 failed runs after the restart")
            still = outages(second, "?target=site")
            # One row, still open, same start (its path diagnosis may have landed since).
            assert [{**o, "path": None} for o in still] == [{**opened, "path": None}]
            assert "site target_down" not in second.log()  # already announced before the kill
            host.restore()
            second.wait_for("continuity_target_up", 1, timeout=6, target="site")
            wait_until(lambda: outages(second, "?open=true") == [], 5, "the outage closed")
            (closed,) = outages(second, "?target=site")
            assert closed["start"] == opened["start"] and closed["end"] is not None
            assert outages(second, "?open=true") == []
        finally:
            second.stop()


def test_api_targets_outages_and_figures(tmp_path: Path) -> None:
    with DaemonProcess(CONFIG.format(site="127.0.0.9"), tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=6, target="site")
        listing = daemon.json("/api/v1/targets")
        assert isinstance(listing, dict) and listing["isolated"] is False
        names = [t["name"] for t in listing["targets"]]
        assert names == ["site", "lo"]
        site = daemon.json("/api/v1/targets/site")
        assert isinstance(site, dict)
        assert site["state"] == "up" and site["labels"] == {"province": "Quang Ngai"}
        assert site["location"] == {"address": "Binh Son", "contact": "+84 255 000 000"}
        assert site["checks"][0]["check"] == "icmp" and site["checks"][0]["last"]["ok"] is True
        assert site["since"].endswith("Z")
        assert daemon.get("/api/v1/targets/nope")[0] == 404
        status, body = daemon.get("/api/v1/outages?since=yesterday")
        assert status == 400 and '"field": "since"' in body
        status, body = daemon.get("/api/v1/outages?open=maybe")
        assert status == 400 and '"field": "open"' in body
        assert (
            outages(daemon, "?since=2026-01-01T00:00:00Z&until=2099-01-01T00:00:00%2B07:00") == []
        )
        wait_until(
            lambda: (
                daemon.value("continuity_availability_ratio", target="site", window="1h")
                is not None
            ),
            20,
            "an availability series",
        )
        assert daemon.value("continuity_availability_ratio", target="site", window="1h") == 1.0
        assert daemon.value("continuity_outages_total", target="site") == 0


SLO = """
[[slo]]
name = "sites"
targets = ["site"]
objective = 0.999
"""


def test_slo_burn_is_exported_and_raised_as_an_event(tmp_path: Path) -> None:
    netns.require()
    with netns.netns_host() as host:
        config = (
            CONFIG.format(site=host.v4).replace(
                'instance = "continuity"', 'instance = "continuity"\nslo_interval = "1s"'
            )
            + SLO
        )
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_for("continuity_target_up", 1, timeout=6, target="site")
            wait_until(
                lambda: (
                    daemon.value("continuity_slo_error_budget_remaining_ratio", slo="sites") == 1.0
                ),
                10,
                "the SLO budget series",
            )
            host.cut()
            daemon.wait_for("continuity_target_up", 0, timeout=6, target="site")
            deadline = time.monotonic() + 10
            while "slo_burn_fast" not in daemon.log():
                assert time.monotonic() < deadline, daemon.log()
                time.sleep(0.3)
            burn = daemon.value("continuity_slo_burn_rate", slo="sites", window="5m")
            assert burn is not None and burn > 14.4
            assert daemon.value("continuity_slo_objective_ratio", slo="sites") == 0.999
        assert daemon.log().count("slo_burn_fast") == 1


def test_maintenance_through_the_api_survives_a_restart(tmp_path: Path) -> None:
    netns.require()
    with netns.netns_host() as host:
        config = CONFIG.format(site=host.v4)
        with DaemonProcess(config, tmp_path, log_name="first.log") as daemon:
            daemon.wait_for("continuity_target_up", 1, timeout=6, target="site")
            status, body = daemon.request(
                "POST", "/api/v1/maintenance", {"targets": ["nope"], "end": "30d"}
            )
            assert status == 400 and '"field": "targets"' in body
            status, body = daemon.request(
                "POST", "/api/v1/maintenance", {"targets": ["site"], "end": "2001-01-01T00:00:00Z"}
            )
            assert status == 400 and "must be in the future" in body
            status, body = daemon.request("POST", "/api/v1/maintenance", {"targets": ["site"]})
            assert status == 400 and '"field": "end"' in body
            status, body = daemon.request(
                "POST",
                "/api/v1/maintenance",
                {
                    "targets": ["site"],
                    "end": (datetime.now(UTC) + timedelta(days=30))
                    .astimezone(timezone(timedelta(hours=7)))
                    .isoformat(timespec="seconds"),
                    "comment": "swap the UPS",
                    "created_by": "noc",
                },
            )
            assert status == 201, body
            window_id = json.loads(body)["id"]
            daemon.wait_for(
                "continuity_target_state", 1, timeout=3, target="site", state="maintenance"
            )
            host.cut()
            # More failed runs than fall inside the window: without it, site would be down.
            wait_until(lambda: failed_runs(daemon) >= 3, 15, "3 failed runs in maintenance")
            assert daemon.value("continuity_target_state", target="site", state="maintenance") == 1
            assert "site target_down" not in daemon.log()
        with DaemonProcess(config, tmp_path, log_name="second.log") as daemon:
            listed = daemon.json("/api/v1/maintenance")
            assert isinstance(listed, dict)
            (window,) = listed["windows"]
            assert (window["id"], window["source"], window["active"], window["comment"]) == (
                window_id,
                "api",
                True,
                "swap the UPS",
            )
            daemon.wait_for(
                "continuity_target_state", 1, timeout=6, target="site", state="maintenance"
            )
            assert daemon.request("DELETE", f"/api/v1/maintenance/{window_id}")[0] == 204
            daemon.wait_for("continuity_target_state", 1, timeout=6, target="site", state="down")
            assert daemon.request("DELETE", f"/api/v1/maintenance/{window_id}")[0] == 404
