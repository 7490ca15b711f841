"""Uptime bars: a target's downtime and observed time per day and per hour.

The status page draws one bar per day for the last :data:`DAYS` days and one
per hour for the last :data:`HOURS` hours. Each bucket holds two sums,
(downtime, observed) seconds, with the definitions of
:mod:`monitor.engine.availability`: observed time is the monitor's run periods minus
its isolation, from the target's first observation on, minus maintenance
unless maintenance counts; downtime is outage time inside observed time. So a
day's bar and the 24 h figure of the same day agree, and a bucket with no
observed time (before the target was first seen, or the monitor was off)
is *not observed*, never 100 %.

Buckets follow the configured zone: days start at local midnight (23 or 25
hours long across a DST change), hours at the local full hour; the last
bucket of each series ends at ``now``.

Cost: outages are few, so a target without outages, maintenance or a first
observation inside the window shares one precomputed series (the monitor's
own observed time per bucket, :class:`Baseline`) and costs a few attribute
reads; a target first seen inside the window costs one bucket's arithmetic
and a tuple slice; only targets with outages or maintenance in the window
walk their intervals, once, in order (O(intervals + buckets)).
Sums rather than ratios, so sites and provinces pool their targets
(:func:`pool`) as SLOs do.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import overload
from zoneinfo import ZoneInfo

from monitor.engine.availability import (
    DAY,
    Interval,
    MonitorHistory,
    TargetHistory,
    clip,
    intersect,
    normalize,
    overlap,
)

DAYS = 90
HOURS = 48
KEEP = DAYS * DAY
"""How far back outages and maintenance must stay in memory for the day bars."""

Sum = tuple[float, float]
"""(downtime, observed) seconds of one bucket."""
Outage = tuple[float, float | None]
"""An outage as (start, end); ``None``: still open."""

NOTHING: Sum = (0.0, 0.0)


def day_edges(now: float, zone: ZoneInfo, days: int = DAYS) -> tuple[float, ...]:
    """``days + 1`` edges: the local midnights of the last ``days`` days, then ``now``."""
    today = datetime.fromtimestamp(now, zone).date()
    edges = [
        datetime.combine(today - timedelta(days=back), time(), zone).timestamp()
        for back in range(days - 1, -1, -1)
    ]
    edges.append(now)
    return tuple(edges)


def hour_edges(now: float, zone: ZoneInfo, hours: int = HOURS) -> tuple[float, ...]:
    """``hours + 1`` edges: the starts of the last ``hours`` local hours, then ``now``.

    Hours are 3600 s of real time; a zone's offset only changes by whole
    hours (or, where it has a half-hour part, keeps that part), so the local
    full hour stays 3600 s after the previous one across a DST change.
    """
    top = datetime.fromtimestamp(now, zone).replace(minute=0, second=0, microsecond=0)
    start = top.timestamp()
    edges = [start - 3600.0 * back for back in range(hours - 1, -1, -1)]
    edges.append(now)
    return tuple(edges)


def spread(intervals: Iterable[Interval], edges: Sequence[float]) -> list[float]:
    """Length of disjoint ``intervals`` inside each bucket ``[edges[i], edges[i + 1])``."""
    out = [0.0] * (len(edges) - 1)
    last = len(out)
    for start, end in intervals:
        k = max(0, bisect.bisect_right(edges, start) - 1)
        while k < last and edges[k] < end:
            lo = edges[k] if edges[k] > start else start
            hi = edges[k + 1] if edges[k + 1] < end else end
            if hi > lo:
                out[k] += hi - lo
            k += 1
    return out


@dataclass(frozen=True, slots=True)
class Series:
    """A target's buckets: sums, and the outages that touch each bucket (only where any)."""

    sums: Sequence[Sum]
    outages: Mapping[int, tuple[Outage, ...]] = field(default_factory=dict)
    first_observed: float | None = None
    shape: tuple[object, ...] | None = None
    """How the series derives from its :class:`Baseline` (``("base",)``, ``("unseen",)``,
    ``("first", k, observed)``: nothing before bucket ``k``, then the baseline), so a view
    can be shared by every target of one shape; None when it has its own outages or
    maintenance."""


def pool(members: Iterable[Series], baseline: Baseline) -> tuple[Sum, ...]:
    """A group's buckets: its targets' sums added, bucket by bucket.

    Targets of one shape (see :attr:`Series.shape`) are counted rather than
    added one by one: a group of a thousand quiet targets costs a count and
    one pass over the buckets, not a thousand.
    """
    size = len(baseline.edges) - 1
    down = [0.0] * size
    seen = [0.0] * size
    whole = 0  # targets with the baseline's observed time in every bucket
    starting = [0] * (size + 1)  # targets with the baseline's time from bucket k on
    for series in members:
        shape = series.shape
        if shape is None:
            for k, (d, o) in enumerate(series.sums):
                down[k] += d
                seen[k] += o
        elif shape[0] == "base":
            whole += 1
        elif shape[0] == "first":
            k = int(shape[1])  # type: ignore[call-overload]
            seen[k] += series.sums[k][1]
            starting[k + 1] += 1
    counted = whole
    for k, (_, o) in enumerate(baseline.series.sums):
        counted += starting[k]
        if counted:
            seen[k] += o * counted
    return tuple(zip(down, seen, strict=True))


class Baseline:
    """The monitor's observed time per bucket: the series of a target with nothing to add."""

    __slots__ = ("edges", "monitor", "observed", "series", "unseen")

    def __init__(self, monitor: MonitorHistory, edges: Sequence[float]) -> None:
        self.edges = tuple(edges)
        self.monitor = monitor
        self.observed = clip(monitor.observed(), self.edges[0], self.edges[-1])
        seen = spread(self.observed, self.edges)
        # First observed before the window (any time will do): gaps here are the monitor's.
        self.series = Series(
            tuple((0.0, o) for o in seen), first_observed=-math.inf, shape=("base",)
        )
        self.unseen = Series(tuple(NOTHING for _ in seen), shape=("unseen",))


@dataclass(frozen=True, slots=True)
class Buckets:
    """Every asked target's series over one set of edges, and the baseline they share."""

    baseline: Baseline
    series: Mapping[str, Series]


def series_of(
    history: TargetHistory | None, baseline: Baseline, *, count_maintenance: bool = False
) -> Series:
    """A target's buckets over the baseline's edges (see the module docstring for the cost)."""
    if history is None or history.first_observed is None:
        return baseline.unseen
    edges = baseline.edges
    lo, hi = edges[0], edges[-1]
    # Most targets have no outage and no maintenance: no list is built for them.
    spans = (
        [
            s
            for s in history.spans
            if s.start < hi and (s.end is None or s.end > lo or s.start >= lo)
        ]
        if history.spans
        else []
    )
    periods = [] if count_maintenance else history.maintenance()
    maintenance = clip(periods, lo, hi) if periods else []
    first = history.first_observed
    if not spans and not maintenance:
        if first <= lo:
            return baseline.series
        return _first_seen_inside(first, baseline)
    seen = history.observed(baseline.monitor, lo, hi, count_maintenance)
    down = intersect(
        normalize((max(s.start, lo), min(hi if s.end is None else s.end, hi)) for s in spans),
        seen,
    )
    observed = spread(seen, edges)
    downtime = spread(down, edges)
    return Series(
        tuple(zip(downtime, observed, strict=True)),
        _outages_by_bucket([(s.start, s.end) for s in spans], edges),
        first,
    )


def _first_seen_inside(first: float, baseline: Baseline) -> Series:
    """The baseline with nothing before ``first`` (which lies after the first edge)."""
    edges = baseline.edges
    if first >= edges[-1]:
        return Series(baseline.unseen.sums, {}, first, ("unseen",))
    k = bisect.bisect_right(edges, first) - 1
    partial = overlap(baseline.observed, first, edges[k + 1])
    return Series(FirstSeen(baseline, k, partial), {}, first, ("first", k, partial > 0))


class FirstSeen(Sequence[Sum]):
    """The buckets of a target first seen in bucket ``k``: nothing before it, ``partial``
    seconds observed in it, the baseline after it.

    Not built as a tuple: targets of one shape share a strip, so most of these are
    read at one bucket (``k``, when a group pools them) or not at all; building a
    tuple of every bucket for each of ten thousand targets was most of a redraw.
    """

    __slots__ = ("_baseline", "_k", "_partial")

    def __init__(self, baseline: Baseline, k: int, partial: float) -> None:
        self._baseline = baseline
        self._k = k
        self._partial = partial

    def __len__(self) -> int:
        return len(self._baseline.edges) - 1

    @overload
    def __getitem__(self, index: int) -> Sum: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Sum, ...]: ...

    def __getitem__(self, index: int | slice) -> Sum | tuple[Sum, ...]:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        size = len(self)
        if index < 0:
            index += size
        if not 0 <= index < size:
            raise IndexError(index)
        if index < self._k:
            return NOTHING
        if index == self._k:
            return (0.0, self._partial)
        return self._baseline.series.sums[index]


def _outages_by_bucket(
    outages: Sequence[Outage], edges: Sequence[float]
) -> dict[int, tuple[Outage, ...]]:
    """Which outages touch each bucket (an instant outage touches the bucket it is in)."""
    found: dict[int, list[Outage]] = {}
    last = len(edges) - 2
    for start, end in outages:
        first = max(0, bisect.bisect_right(edges, start) - 1)
        stop = edges[-1] if end is None else end
        final = min(last, max(first, bisect.bisect_left(edges, stop) - 1))
        for k in range(first, final + 1):
            found.setdefault(k, []).append((start, end))
    return {k: tuple(v) for k, v in found.items()}


def ratio(bucket: Sum) -> float | None:
    """Availability of a bucket; None when nothing was observed."""
    down, seen = bucket
    if seen <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - down / seen))
