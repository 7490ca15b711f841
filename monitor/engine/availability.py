"""Continuity arithmetic: intervals, observed time, downtime, availability, MTTR, MTBF.

Pure code: no I/O and no clock reads. :mod:`monitor.history.store` keeps one
:class:`TargetHistory` per target and one :class:`MonitorHistory`, updates
them from its write calls and asks :func:`figures` when the daemon renders a
target, so a scrape never queries the database. Most targets have no outage
in the horizon, and their figures stay the same for long stretches:
:meth:`TargetHistory.steady_figures` keeps them until they can change.

Times are UNIX seconds; every interval is half-open, ``[start, end)``, and an
interval still open (``end`` unknown) reaches ``now``.

Definitions
-----------
*Observed time* of a target within ``[lo, hi)`` is the time the monitor was
running (its observation periods), minus the time it declared itself isolated
(cut off from the network, so it could not tell up from down), minus the time
before the target was first observed, minus the target's maintenance periods
unless ``count_maintenance`` is set. Unobserved time counts neither as up nor
as down.

*Downtime* is the part of the target's outages that lies in observed time. An
outage that spans a restart of the monitor therefore loses the gap, and one
inside a maintenance period loses that part when maintenance is excluded.

*Availability* over a window ``w`` (1h, 24h, 7d, 30d) is
``1 - downtime / observed time`` within ``[now - w, now)``; ``None`` when
nothing was observed in the window.

An outage *counts* when its downtime over its whole span (not only the part in
a window) is above zero: one entirely inside maintenance (when excluded),
isolation or a monitor gap is not a failure.

*MTTR* (30 days): the mean downtime of the counted outages that ended in
``(now - 30d, now]``, each with its whole downtime (also the part before the
window, since repair began then); ``None`` if none ended.

*MTBF* (30 days): the observed up time in ``[now - 30d, now)`` (observed time
minus downtime) divided by the number of counted outages that started in that
window; ``None`` if none started. For outages that lie inside the window,
``availability ~= MTBF / (MTBF + MTTR)``.

*outages_total* counts every outage started that the history holds (counted or
not: the row exists and an operator will see it); *downtime_seconds_total* is
the downtime of all of them, the open one up to ``now``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

Interval = tuple[float, float]

DAY = 86400.0
WINDOWS: Mapping[str, float] = {"1h": 3600.0, "24h": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
"""Availability windows by their ``window`` label value."""
MEAN_WINDOW = 30 * DAY
"""The window of MTTR and MTBF."""
HORIZON = max([*WINDOWS.values(), MEAN_WINDOW])
"""How far back outages must stay in memory for :func:`figures`."""
STEADY_MARGIN = 1e-3
"""Seconds :meth:`TargetHistory.steady_figures` keeps clear of a time at which the figures
may change (rounding ``now - w`` at today's UNIX times errs by 1e-7 s)."""
_END_WIDTHS = tuple(sorted({0.0, *WINDOWS.values(), MEAN_WINDOW, HORIZON}))
_QUIET_AVAILABILITY: Mapping[tuple[bool, ...], Mapping[str, float | None]] = {
    seen: MappingProxyType({w: 1.0 if on else None for w, on in zip(WINDOWS, seen, strict=True)})
    for seen in itertools.product((False, True), repeat=len(WINDOWS))
}
"""Availability without downtime, by which windows have observed time: shared by the
steady figures of every target."""


# --------------------------------------------------------------------------
# Intervals: lists sorted by start, disjoint, non-empty ("normalized")
# --------------------------------------------------------------------------


def normalize(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as a normalized list; touching intervals are joined."""
    out: list[Interval] = []
    for start, end in sorted(iv for iv in intervals if iv[1] > iv[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def _end(interval: Interval) -> float:
    return interval[1]


def clip(intervals: Sequence[Interval], lo: float, hi: float) -> list[Interval]:
    """The parts of normalized ``intervals`` inside ``[lo, hi)``."""
    out: list[Interval] = []
    # Normalized ends increase too, so bisect skips what ended by lo.
    for i in range(bisect.bisect_right(intervals, lo, key=_end), len(intervals)):
        start, end = intervals[i]
        if start >= hi:
            break
        out.append((max(start, lo), min(end, hi)))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """The intersection of two normalized lists."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """``a`` without ``b`` (both normalized)."""
    out: list[Interval] = []
    j = 0
    for a_start, end in a:
        start = a_start
        while j < len(b) and b[j][1] <= start:
            j += 1
        k = j
        # b[k] may also cover the next interval of a, so j stays where it is.
        while k < len(b) and b[k][0] < end:
            if b[k][0] > start:
                out.append((start, b[k][0]))
            start = max(start, b[k][1])
            k += 1
        if start < end:
            out.append((start, end))
    return out


def measure(intervals: Iterable[Interval]) -> float:
    """Total length of disjoint intervals."""
    return sum(end - start for start, end in intervals)


def overlap(intervals: Iterable[Interval], lo: float, hi: float) -> float:
    """Length of disjoint ``intervals`` inside ``[lo, hi)``, without building a list."""
    total = 0.0
    for start, end in intervals:
        # Comparisons rather than min()/max(): this runs ten times per target render.
        if end > lo and start < hi:
            total += (end if end < hi else hi) - (start if start > lo else lo)
    return total


def _periods(periods: Mapping[float, float | None]) -> list[Interval]:
    """Periods by start (``None`` end: still open) as a normalized list."""
    return normalize((s, math.inf if e is None else e) for s, e in periods.items())


# --------------------------------------------------------------------------
# What the figures are computed from
# --------------------------------------------------------------------------


class MonitorHistory:
    """When the monitor was observing: its run periods minus its isolation periods.

    Both are keyed by their start, so opening and later closing a period is
    the same call with the end filled in.
    """

    __slots__ = ("_isolation", "_observed", "_periods", "version")

    def __init__(self) -> None:
        self._periods: dict[float, float | None] = {}
        self._isolation: dict[float, float | None] = {}
        self._observed: list[Interval] | None = []
        self.version = 0
        """Counts changes: figures kept by :meth:`TargetHistory.steady_figures` note it."""

    def set_period(self, start: float, end: float | None) -> None:
        """Open (``end=None``) or close the monitor's run period that began at ``start``."""
        self._periods[start] = end
        self._observed = None
        self.version += 1

    def set_isolation(self, start: float, end: float | None) -> None:
        """Open or close a period in which the monitor declared itself isolated."""
        self._isolation[start] = end
        self._observed = None
        self.version += 1

    def observed(self) -> list[Interval]:
        """All observed time (normalized; an open period reaches infinity)."""
        if self._observed is None:
            # Recomputed only when a period or isolation changes: rare.
            self._observed = subtract(_periods(self._periods), _periods(self._isolation))
        return self._observed


class Span:
    """One outage as the figures see it; ``downtime`` is set when it ends."""

    __slots__ = ("downtime", "end", "start")

    def __init__(self, start: float, end: float | None = None, downtime: float = 0.0) -> None:
        self.start = start
        self.end = end
        self.downtime = downtime

    def __repr__(self) -> str:
        return f"Span({self.start!r}, {self.end!r}, {self.downtime!r})"


class TargetHistory:
    """A target's first observation, maintenance, recent outages and totals.

    ``spans`` are sorted, never overlap, and only the last may be open. Spans
    that ended before the horizon are forgotten (their downtime stays in
    ``closed_downtime``), so memory holds the last ``horizon`` (the store keeps 90 days,
    for the status page's day bars) per target.
    """

    __slots__ = (
        "_maintenance",
        "_maintenance_norm",
        "_steady",
        "_steady_key",
        "_steady_since",
        "_steady_until",
        "closed_downtime",
        "first_observed",
        "outages_total",
        "spans",
    )

    def __init__(self, first_observed: float | None = None) -> None:
        self.first_observed = first_observed
        self.spans: list[Span] = []
        self.outages_total = 0
        self.closed_downtime = 0.0
        self._maintenance: dict[float, float | None] = {}
        self._maintenance_norm: list[Interval] | None = []
        # see steady_figures(); every change to this history drops them
        self._steady: Figures | None = None
        self._steady_key = 0
        self._steady_since = 0.0
        self._steady_until = 0.0

    @property
    def open(self) -> Span | None:
        """The outage in progress, if any."""
        if self.spans and self.spans[-1].end is None:
            return self.spans[-1]
        return None

    def observe(self, at: float) -> bool:
        """The target was observed at ``at``; True if that moved its first observation."""
        if self.first_observed is None or at < self.first_observed:
            self.first_observed = at
            self._steady = None
            return True
        return False

    def set_maintenance(self, start: float, end: float | None) -> None:
        """Open (``end=None``) or close the maintenance period that began at ``start``."""
        self._maintenance[start] = end
        self._maintenance_norm = None
        self._steady = None

    def maintenance(self) -> list[Interval]:
        """Maintenance time (normalized; an open period reaches infinity)."""
        if self._maintenance_norm is None:
            self._maintenance_norm = _periods(self._maintenance)
        return self._maintenance_norm

    def observed(
        self, monitor: MonitorHistory, lo: float, hi: float, count_maintenance: bool
    ) -> list[Interval]:
        """The target's observed time inside ``[lo, hi)`` (see the module docstring)."""
        if self.first_observed is None:
            return []
        lo = max(lo, self.first_observed)
        if lo >= hi:
            return []
        seen = clip(monitor.observed(), lo, hi)
        if not count_maintenance and self._maintenance:
            seen = subtract(seen, clip(self.maintenance(), lo, hi))
        return seen

    def start_outage(self, start: float) -> Span | None:
        """Open an outage; None (nothing changes) if one is already open.

        A start before the previous outage's end is moved to that end, so
        outages never overlap even when a DOWN state is backdated.
        """
        if self.open is not None:
            return None
        if self.spans:
            previous_end = self.spans[-1].end
            assert previous_end is not None
            start = max(start, previous_end)
        span = Span(start)
        self.spans.append(span)
        self._steady = None
        self.outages_total += 1
        self.observe(start)
        return span

    def end_outage(
        self, end: float, monitor: MonitorHistory, count_maintenance: bool
    ) -> Span | None:
        """Close the open outage at ``end`` (not before its start); None if none is open.

        Its downtime is fixed now, from what is known about observation and
        maintenance at this moment.
        """
        span = self.open
        if span is None:
            return None
        span.end = max(end, span.start)
        self._steady = None
        span.downtime = measure(self.observed(monitor, span.start, span.end, count_maintenance))
        self.closed_downtime += span.downtime
        return span

    def forget_before(self, horizon: float) -> None:
        """Drop outages and maintenance that ended before ``horizon``.

        Maintenance overlapping the open outage stays: its downtime is
        computed from its start when it ends.
        """
        keep_from = bisect.bisect_left(
            self.spans, horizon, key=lambda s: math.inf if s.end is None else s.end
        )
        if keep_from:
            del self.spans[:keep_from]
            self._steady = None
        span = self.open
        limit = horizon if span is None else min(horizon, span.start)
        old = [s for s, e in self._maintenance.items() if e is not None and e < limit]
        for start in old:
            del self._maintenance[start]
        if old:
            self._maintenance_norm = None
            self._steady = None

    def needs_forgetting(self, horizon: float) -> bool:
        """Cheap test: does the oldest outage in memory end before ``horizon``?"""
        end = self.spans[0].end if self.spans else None
        return end is not None and end < horizon

    def steady_figures(
        self, monitor: MonitorHistory, now: float, count_maintenance: bool = False
    ) -> Figures:
        """:func:`figures` with the default windows, computed again only when they can move.

        Without an outage in the horizon (most targets, most of the time) the
        figures hold no downtime: availability is 1.0 in each window that
        has observed time and None in the others, MTTR and MTBF are None, the
        totals fixed. They change when this history or the monitor's changes
        (both drop what is kept), or when ``now`` passes a time at which a
        window starts or stops seeing observed time (:meth:`_keep_until`).
        Until then the figures computed last are returned, the same object,
        except ``observed_since`` while it is the horizon's start (observed
        all along): that moves with ``now``, so a copy carries it.
        """
        kept = self._steady
        if (
            kept is not None
            and self._steady_key == monitor.version * 2 + count_maintenance
            and self._steady_since <= now < self._steady_until
        ):
            since = kept.observed_since
            if since is None or since != self._steady_since - HORIZON:
                return kept
            return Figures(
                kept.outages_total,
                kept.downtime_seconds_total,
                kept.availability,
                None,
                None,
                now - HORIZON,
            )
        result = figures(self, monitor, now, count_maintenance=count_maintenance)
        until = self._keep_until(monitor, now, count_maintenance)
        if until <= now:
            self._steady = None
            return result
        # Memory: one mapping per combination, shared (a dict per target was 184 B), and
        # the downtime total is the closed downtime (no outage open), not a copy.
        shared = _QUIET_AVAILABILITY[tuple(v is not None for v in result.availability.values())]
        kept = self._steady = Figures(
            result.outages_total, self.closed_downtime, shared, None, None, result.observed_since
        )
        self._steady_key = monitor.version * 2 + count_maintenance
        self._steady_since = now
        self._steady_until = until
        return kept

    def _keep_until(self, monitor: MonitorHistory, now: float, count_maintenance: bool) -> float:
        """Until when the figures at ``now`` stay the same (``now`` or less: do not keep them).

        With no outage ending inside the horizon, every comparison
        :func:`figures` makes that decides its result sets ``now`` against a
        start ``s`` of the target's observed time (``s < now``, ``s`` against
        ``now - HORIZON``) or ``now - w`` against an end ``e`` (``w`` a window
        or the horizon). So the result holds until ``now`` reaches the first
        ``s``, ``s + HORIZON`` or ``e + w`` not yet passed. Times more than a
        second before the horizon's start cannot reach ``now`` (no ``w``
        exceeds the horizon), so the observed time is read from there (the
        start it is clipped to reaches only ``now - 1 s``). Each side keeps
        :data:`STEADY_MARGIN` from those times, far more than the rounding of
        ``now - w``.
        """
        last = self.spans[-1].end if self.spans else -math.inf
        lo = now - HORIZON
        if last is None or last > lo:
            return now  # an outage in the horizon: its downtime moves with time
        floor = now - STEADY_MARGIN
        until = math.inf
        for start, end in self.observed(monitor, lo - 1.0, math.inf, count_maintenance):
            if floor <= start < until:
                until = start
            if floor <= start + HORIZON < until:
                until = start + HORIZON
            if end < math.inf:
                for width in _END_WIDTHS:
                    if floor <= end + width < until:
                        until = end + width
        return until - STEADY_MARGIN


@dataclass(frozen=True, slots=True)
class Figures:
    """A target's continuity figures at one moment (see the module docstring)."""

    outages_total: int
    downtime_seconds_total: float
    availability: Mapping[str, float | None]
    """By window label (``1h``, ``24h``, ``7d``, ``30d``); None when nothing was observed."""
    mttr_seconds: float | None
    mtbf_seconds: float | None
    observed_since: float | None = None
    """Start of the observed history within the figures' horizon: a window longer than
    ``now - observed_since`` covers only that much (the status page says so)."""


def figures(
    history: TargetHistory,
    monitor: MonitorHistory,
    now: float,
    *,
    count_maintenance: bool = False,
    windows: Mapping[str, float] = WINDOWS,
    mean_window: float = MEAN_WINDOW,
) -> Figures:
    """A target's figures at ``now``; costs O(its outages and maintenance in memory)."""
    lo = now - max([*windows.values(), mean_window])
    seen = history.observed(monitor, lo, now, count_maintenance)
    recent = [s for s in history.spans if s.end is None or s.end > lo]
    down = intersect(
        normalize((max(s.start, lo), min(now if s.end is None else s.end, now)) for s in recent),
        seen,
    )
    availability: dict[str, float | None] = {}
    for name, width in windows.items():
        observed = overlap(seen, now - width, now)
        ratio = 1.0 - overlap(down, now - width, now) / observed if observed > 0 else None
        # Float sums can stray by an ulp past the bounds.
        availability[name] = None if ratio is None else min(1.0, max(0.0, ratio))
    live = _open_downtime(history, monitor, now, lo, down, count_maintenance=count_maintenance)
    mean_lo = now - mean_window
    repaired = [
        s.downtime
        for s in recent
        if s.end is not None and mean_lo < s.end <= now and s.downtime > 0
    ]
    failures = sum(
        1
        for s in recent
        if mean_lo <= s.start < now and (s.downtime if s.end is not None else live) > 0
    )
    up = overlap(seen, mean_lo, now) - overlap(down, mean_lo, now)
    return Figures(
        outages_total=history.outages_total,
        downtime_seconds_total=history.closed_downtime + live,
        availability=availability,
        mttr_seconds=sum(repaired) / len(repaired) if repaired else None,
        mtbf_seconds=max(0.0, up) / failures if failures else None,
        observed_since=seen[0][0] if seen else None,
    )


def _open_downtime(
    history: TargetHistory,
    monitor: MonitorHistory,
    now: float,
    lo: float,
    down: Sequence[Interval],
    *,
    count_maintenance: bool,
) -> float:
    """Downtime of the open outage so far (its whole span, also before the horizon)."""
    span = history.open
    if span is None:
        return 0.0
    if span.start >= lo:
        return overlap(down, span.start, now)
    # A long outage: its start lies before the figures' horizon.
    return measure(history.observed(monitor, span.start, now, count_maintenance))


def window_sums(
    history: TargetHistory,
    monitor: MonitorHistory,
    now: float,
    windows: Mapping[str, float],
    *,
    count_maintenance: bool = False,
) -> dict[str, tuple[float, float]]:
    """(downtime, observed) seconds of a target in each window ending at ``now``.

    Sums, not ratios, so that several targets can be pooled (an SLO over a
    set of sites weighs each by the time it was observed).
    """
    lo = now - max(windows.values())
    seen = history.observed(monitor, lo, now, count_maintenance)
    recent = [s for s in history.spans if s.end is None or s.end > lo]
    down = intersect(
        normalize((max(s.start, lo), min(now if s.end is None else s.end, now)) for s in recent),
        seen,
    )
    return {
        name: (overlap(down, now - width, now), overlap(seen, now - width, now))
        for name, width in windows.items()
    }
