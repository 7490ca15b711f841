"""Maintenance windows: which targets are in planned work, and when.

A window names its targets (``targets = [...]``) or selects them by labels
(``match = { site = "QNG-CORE" }``), and is either one interval
(``start``/``end``, TOML datetimes; without an offset they are read in the
window's time zone) or recurring (``schedule = { weekday = "sun", at =
"02:00", duration = "2h" }``, weekdays ``mon``..``sun``, a list of them, or
``daily``). Recurring windows follow the wall clock of ``timezone`` (default
``[monitor] timezone``), so a 02:00 window stays at 02:00 across DST changes.

Everything here is pure: ``active(window, now)`` decides from a UNIX time.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from monitor.config_types import Duration, StrictModel, format_duration

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily"]
_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class Schedule(StrictModel):
    """A weekly (or daily) recurring window."""

    weekday: Weekday | list[Weekday] = "daily"
    at: str
    duration: Duration

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if not _AT.match(value):
            raise ValueError(f"expected a time of day as HH:MM, got {value!r}")
        return value

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: float) -> float:
        if value > 7 * 86400:
            raise ValueError(f"must be at most 1w, got {format_duration(value)}")
        return value

    def days(self) -> frozenset[int]:
        """Weekday numbers (Monday = 0) the window starts on."""
        names = self.weekday if isinstance(self.weekday, list) else [self.weekday]
        if "daily" in names:
            return frozenset(range(7))
        return frozenset(WEEKDAYS.index(n) for n in names)


MAX_YEAR = 9000  # any later date overflows when shown in a zone east of UTC


class MaintenanceWindow(StrictModel):
    """One ``[[maintenance]]`` table."""

    name: str = ""
    targets: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    schedule: Schedule | None = None
    timezone: str | None = None
    comment: str = ""

    @field_validator("start", "end")
    @classmethod
    def _showable(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59Z is year 10000 in +07:00: pages showing it failed.
        if value is not None and not 1970 <= value.year <= MAX_YEAR:
            raise ValueError(f"must be between 1970 and the year {MAX_YEAR}")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceWindow:
        if not self.targets and not self.match:
            raise ValueError("name the targets (targets = [...]) or select them (match = {...})")
        fixed = self.start is not None or self.end is not None
        if fixed == (self.schedule is not None):
            raise ValueError("give either start and end, or a schedule")
        if fixed and (self.start is None or self.end is None):
            raise ValueError("a one-off window needs both start and end")
        if self.start is not None and self.end is not None and _naive_safe_le(self.end, self.start):
            raise ValueError("end must be after start")
        return self

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether this window covers a target."""
        if name in self.targets:
            return True
        return bool(self.match) and all(labels.get(k) == v for k, v in self.match.items())


def _naive_safe_le(a: datetime, b: datetime) -> bool:
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    return a <= b


def _epoch(moment: datetime, tz: zoneinfo.ZoneInfo) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def active(window: MaintenanceWindow, now: float, default_tz: str) -> bool:
    """Whether ``window`` covers the UNIX time ``now``."""
    tz = zoneinfo.ZoneInfo(window.timezone or default_tz)
    if window.schedule is None:
        assert window.start is not None and window.end is not None
        return _epoch(window.start, tz) <= now < _epoch(window.end, tz)
    schedule = window.schedule
    hour, minute = (int(x) for x in schedule.at.split(":"))
    local = datetime.fromtimestamp(now, tz)
    days_back = int(schedule.duration // 86400) + 1
    for back in range(days_back + 1):
        day = (local - timedelta(days=back)).date()
        if day.weekday() not in schedule.days():
            continue
        began = datetime.combine(day, time(hour, minute), tz).timestamp()
        if began <= now < began + schedule.duration:
            return True
    return False


def windows_by_target(
    windows: Iterable[MaintenanceWindow], targets: Iterable[tuple[str, Mapping[str, str]]]
) -> dict[str, tuple[int, ...]]:
    """For each target covered by some window, the indexes of its windows."""
    listed = list(windows)
    out: dict[str, tuple[int, ...]] = {}
    if not listed:
        return out  # the usual case: no need to look at 50,000 targets
    for name, labels in targets:
        found = tuple(i for i, w in enumerate(listed) if w.selects(name, labels))
        if found:
            out[name] = found
    return out
