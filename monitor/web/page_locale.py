"""How pages write times, durations and ratios for one language, zone and moment.

The status page, the target page, the public page and their parts (uptime
bars, the power board) all format through one :class:`Locale`; it lives
apart from :mod:`monitor.web.status_page` so that those parts need nothing from
the page that assembles them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date as date_type
from datetime import datetime
from zoneinfo import ZoneInfo

from monitor.i18n import texts

_EPOCH_ORDINAL = date_type(1970, 1, 1).toordinal()


class Locale:
    """Formats times, durations and ratios for one language, time zone and moment."""

    def __init__(self, language: str, zone: ZoneInfo, now: float) -> None:
        self.language = language
        self.zone = zone
        self.now = now
        self.t = texts(language)
        self.today = datetime.fromtimestamp(now, zone).date()
        self._today_number = self.today.toordinal()
        self._percents: dict[float | None, str] = {}
        self._offsets: dict[int, float] = {}  # UTC hour -> the zone's offset in seconds
        self._dates: dict[int, str] = {}  # local day number -> "2026-11-27"

    def time(self, timestamp: float | None) -> str:
        """Wall time in the monitor's zone: ``14:03:27`` today, else ``2026-11-27 14:03``.

        Arithmetic on the zone's offset (looked up once per hour of UTC,
        where offsets change) rather than a datetime per call: the overview
        formats ten thousand of these when every row changes.
        """
        if timestamp is None:
            return "—"
        local = int(timestamp + self._offset(timestamp))
        day, seconds = divmod(local, 86400)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        number = day + _EPOCH_ORDINAL
        if number == self._today_number:
            return f"{hours:02d}:{minutes:02d}:{secs:02d}"
        date = self._dates.get(number)
        if date is None:
            date = self._dates[number] = date_type.fromordinal(number).isoformat()
        return f"{date} {hours:02d}:{minutes:02d}"

    def _offset(self, timestamp: float) -> float:
        hour = int(timestamp // 3600)
        offset = self._offsets.get(hour)
        if offset is None:
            delta = datetime.fromtimestamp(hour * 3600, self.zone).utcoffset()
            offset = self._offsets[hour] = delta.total_seconds() if delta else 0.0
        return offset

    def full_time(self, timestamp: float | None) -> str:
        """``2026-11-27 14:03:27 +0700``, for the detail page and history."""
        if timestamp is None:
            return "—"
        return datetime.fromtimestamp(timestamp, self.zone).strftime("%Y-%m-%d %H:%M:%S %z")

    def duration(self, seconds: float | None) -> str:
        """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h`` (the page's script does the same)."""
        if seconds is None:
            return "—"
        return format_duration(seconds, self.t)

    def percent(self, ratio: float | None) -> str:
        """Availability as ``99.98 %``, rounded down so any downtime shows below 100."""
        text = self._percents.get(ratio)
        if text is None:
            text = self._percents[ratio] = format_percent(ratio, self.language)
        return text

    def state(self, state: str) -> str:
        return self.t.get(f"state.{state}", state)


def format_duration(seconds: float, t: Mapping[str, str]) -> str:
    """Two units at most: a NOC screen needs the order of magnitude, not the seconds."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} {t['unit.d']} {hours} {t['unit.h']}"
    if hours:
        return f"{hours} {t['unit.h']} {minutes} {t['unit.min']}"
    if minutes:
        return f"{minutes} {t['unit.min']}"
    return f"{secs} {t['unit.s']}"


def format_percent(ratio: float | None, language: str) -> str:
    if ratio is None:
        return "—"
    value = math.floor(ratio * 10_000 + 1e-6) / 100  # down: any downtime shows below 100
    text = f"{value:.2f}"
    if language == "vi":
        text = text.replace(".", ",")
    return f"{text} %"
