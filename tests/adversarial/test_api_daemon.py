"""The issue's hostile API bodies against a daemon process: 400 naming the field,
nothing stored, no traceback; and a daemon whose store holds a hostile silence starts."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.history.store import database_path
from tests.daemon_process import DaemonProcess

CONFIG = """
[monitor]
instance = "bodies"
timezone = "Asia/Ho_Chi_Minh"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "1s"

[[targets]]
name = "lo"
address = "127.0.0.1"
tcp = { port = 9 }
"""
CATASTROPHIC = "(.|.|.|.|.|.|.|.)*X"
MATCHERS = [{"name": "target", "value": "lo"}]


def silence(ends_at: str, matchers: list[dict[str, object]] = MATCHERS) -> dict[str, object]:
    return {"matchers": matchers, "ends_at": ends_at, "created_by": "noc"}


@pytest.mark.slow
def test_hostile_bodies_are_400_naming_the_field_and_store_nothing(tmp_path: Path) -> None:
    with DaemonProcess(CONFIG, tmp_path) as daemon:
        cases = [
            ("/api/v1/silences", silence("9999-12-31T23:59:59-12:00"), "ends_at"),
            ("/api/v1/silences", silence("9999-12-31T23:59:59Z"), "ends_at"),
            ("/api/v1/maintenance", {"targets": ["lo"], "end": "9999-12-31T23:59:59Z"}, "end"),
            ("/api/v1/maintenance", {"targets": ["lo"], "end": "9999-12-31T23:59:59-12:00"}, "end"),
            (
                "/api/v1/silences",
                silence("2h", [{"name": "target", "value": "(a)\\1", "isRegex": True}]),
                "matchers[0].value",
            ),
        ]
        for path, body, field in cases:
            status, text = daemon.request("POST", path, body)
            assert status == 400, (path, body, text)
            assert json.loads(text)["field"] == field
        deep = "[" * 5000 + "]" * 5000
        for path in ("/api/v1/silences", "/api/v1/maintenance"):
            status, text = daemon.request("POST", path, json.loads("[" * 900 + "]" * 900))
            assert status == 400 and json.loads(text)["field"] == "body"
        req = urllib.request.Request(
            daemon.url + "/api/v1/silences",
            data=deep.encode(),
            method="POST",
            headers={"Authorization": "Bearer test-token-0123456789"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, answer = exc.code, exc.read()
        assert status == 400 and json.loads(answer)["field"] == "body"
        assert daemon.json("/api/v1/silences") == {"silences": []}
        assert [
            w for w in daemon.json("/api/v1/maintenance")["windows"] if w["source"] == "api"
        ] == []  # type: ignore[index]

        # Accepted: a relative end, and the catastrophic pattern (matched by RE2 in linear time).
        status, text = daemon.request(
            "POST", "/api/v1/maintenance", {"targets": ["lo"], "end": "2h"}
        )
        assert status == 201, text
        status, text = daemon.request(
            "POST",
            "/api/v1/silences",
            silence("90m", [{"name": "alertname", "value": CATASTROPHIC, "isRegex": True}]),
        )
        assert status == 201, text
        start = time.monotonic()
        for path in (
            "/-/healthy",
            "/api/v1/silences",
            "/api/v1/alerts",
            "/api/v1/targets",
            "/",
            "/targets/lo",
        ):
            status, _ = daemon.get(path)
            assert status == 200, path
        assert time.monotonic() - start < 3
        assert "Traceback" not in daemon.log()


@pytest.mark.slow
def test_a_daemon_with_hostile_silences_in_its_store_starts(tmp_path: Path) -> None:
    daemon = DaemonProcess(CONFIG, tmp_path)
    with daemon:
        pass
    ends = "2099-01-01T00:00:00.000Z"
    rows = {
        "catastrophic": {
            "matchers": [{"name": "alertname", "value": CATASTROPHIC, "isRegex": True}]
        },
        "backreference": {"matchers": [{"name": "alertname", "value": "(a)\\1", "isRegex": True}]},
    }
    with sqlite3.connect(database_path(tmp_path / "state")) as db:
        for sid, row in rows.items():
            definition = {**row, "starts_at": "2026-01-01T00:00:00.000Z", "ends_at": ends}
            db.execute(
                "INSERT INTO silences (id, definition) VALUES (?, ?)", (sid, json.dumps(definition))
            )
    start = time.monotonic()
    with daemon:  # waits (bounded) until /-/ready
        assert time.monotonic() - start < 20
        ids = [s["id"] for s in daemon.json("/api/v1/silences")["silences"]]  # type: ignore[index]
        assert ids == ["catastrophic"]
        skipped = [line for line in daemon.log().splitlines() if "ignoring stored silence" in line]
        assert len(skipped) == 1 and "backreference" in skipped[0]
        assert daemon.get("/-/healthy")[0] == 200


@pytest.mark.slow
def test_a_config_window_ending_in_year_9999_is_a_config_error(tmp_path: Path) -> None:
    """Pages in +07:00 cannot show 9999-12-31T23:59:59Z: refused where it is written."""
    window = (
        '\n[[maintenance]]\ntargets = ["lo"]\n'
        "start = 2026-01-01T00:00:00Z\nend = 9999-12-31T23:59:59Z\n"
    )
    daemon = DaemonProcess(CONFIG + window, tmp_path)
    daemon.start(wait_ready=False)
    assert daemon.proc is not None
    assert daemon.proc.wait(30) != 0
    daemon.stop()
    log = daemon.log()
    assert "maintenance[0].end" in log and "9000" in log
    assert "Traceback" not in log
