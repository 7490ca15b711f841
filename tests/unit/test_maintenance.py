"""Maintenance windows: when they are active, and their config errors."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.engine.maintenance import MaintenanceWindow, active, windows_by_target
from tests.helpers import config_errors

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(text: str, tz: str = "Asia/Ho_Chi_Minh") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


SUNDAY_2AM = MaintenanceWindow.model_validate(
    {"targets": ["a"], "schedule": {"weekday": "sun", "at": "02:00", "duration": "2h"}}
)
NIGHTLY = MaintenanceWindow.model_validate(
    {"targets": ["a"], "schedule": {"weekday": "daily", "at": "23:30", "duration": "1h"}}
)
ONE_OFF = MaintenanceWindow.model_validate(
    {"targets": ["a"], "start": datetime(2026, 12, 1, 2, 0), "end": datetime(2026, 12, 1, 4, 0)}
)
BERLIN = MaintenanceWindow.model_validate(
    {
        "targets": ["a"],
        "timezone": "Europe/Berlin",
        "schedule": {"weekday": ["sat", "sun"], "at": "02:30", "duration": "30m"},
    }
)


@pytest.mark.parametrize(
    ("window", "moment", "expected"),
    [
        (SUNDAY_2AM, at("2026-11-29T02:00:00"), True),  # 29 Nov 2026 is a Sunday
        (SUNDAY_2AM, at("2026-11-29T03:59:59"), True),
        (SUNDAY_2AM, at("2026-11-29T04:00:00"), False),
        (SUNDAY_2AM, at("2026-11-29T01:59:59"), False),
        (SUNDAY_2AM, at("2026-11-28T02:30:00"), False),  # Saturday
        (NIGHTLY, at("2026-11-28T23:45:00"), True),
        (NIGHTLY, at("2026-11-29T00:15:00"), True),  # crosses midnight
        (NIGHTLY, at("2026-11-29T00:30:00"), False),
        (ONE_OFF, at("2026-12-01T02:00:00"), True),  # naive datetimes read in the monitor's zone
        (ONE_OFF, at("2026-12-01T04:00:00"), False),
        (
            BERLIN,
            at("2026-03-28T02:45:00", "Europe/Berlin"),
            True,
        ),  # Saturday before the DST switch
        (
            BERLIN,
            at("2026-03-29T03:10:00", "Europe/Berlin"),
            False,
        ),  # 02:30 does not exist that day
        (BERLIN, at("2026-10-25T02:40:00", "Europe/Berlin"), True),  # the repeated hour
    ],
)
def test_active(window: MaintenanceWindow, moment: float, expected: bool) -> None:
    assert active(window, moment, "Asia/Ho_Chi_Minh") is expected


def test_windows_select_by_name_or_labels() -> None:
    by_label = MaintenanceWindow.model_validate(
        {"match": {"site": "QNG-CORE"}, "schedule": {"at": "02:00", "duration": "1h"}}
    )
    index = windows_by_target(
        [SUNDAY_2AM, by_label], [("a", {}), ("b", {"site": "QNG-CORE"}), ("c", {"site": "X"})]
    )
    assert index == {"a": (0,), "b": (1,)}


BASE = '[defaults]\nchecks = ["icmp"]\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[maintenance]]\nschedule = { at = "02:00", duration = "1h" }\n',
            ["maintenance[0]: name the targets (targets = [...]) or select them (match = {...})"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\n',
            ["maintenance[0]: give either start and end, or a schedule"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\nstart = 2026-12-01T02:00:00\n',
            ["maintenance[0]: a one-off window needs both start and end"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\nstart = 2026-12-01T02:00:00\nend = 2026-12-01T01:00:00\n',
            ["maintenance[0]: end must be after start"],
        ),
        (
            '[[maintenance]]\ntargets = ["zz"]\nschedule = { at = "02:00", duration = "1h" }\n',
            ["maintenance[0].targets[0]: unknown target 'zz'"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\nschedule = { at = "2am", duration = "1h" }\n',
            ["maintenance[0].schedule.at: expected a time of day as HH:MM, got '2am'"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\nschedule = { weekday = "sunday", at = "02:00", duration = "1h" }\n',
            [
                "maintenance[0].schedule.weekday: must be one of 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', "
                "'sun' or 'daily', got 'sunday'"
            ],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\nschedule = { at = "02:00", duration = "8d" }\n',
            ["maintenance[0].schedule.duration: must be at most 1w, got 8d"],
        ),
        (
            '[[maintenance]]\ntargets = ["a"]\ntimezone = "Moon/Base"\nschedule = { at = "02:00", duration = "1h" }\n',
            ["maintenance[0].timezone: unknown time zone 'Moon/Base'"],
        ),
    ],
)
def test_maintenance_config_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert config_errors(tmp_path, BASE, text) == expected
