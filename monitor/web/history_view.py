"""What the history API and the target page's smoke graph show, from stored buckets (pure).

A range (``3h``, ``30h``, ``10d``, ``360d``) is read at a step that gives a
few hundred points: fine buckets (a minute) for the short ranges, coarse ones
(an hour) for the long ones, merged into steps of ten minutes or a day where
the range needs it. Merging is exact (:mod:`monitor.engine.rttsketch`), so a point's
quantiles are those of every time in its step. Steps without results are
left out: a gap in the graph means nothing was measured.

:func:`smoke` lays one check's points out as SVG shapes in the manner of
SmokePing: per step a pale bar from min to max, a darker one from p10 to
p90 (the "smoke"), and the median as a short line coloured by the step's
loss; outages are shaded behind. Each layer is one SVG path (numbers only)
that the template places, autoescaped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.engine.rttsketch import Summary
from monitor.i18n import texts

_ENGLISH = texts("en")

RANGES: dict[str, tuple[int, int]] = {
    "3h": (3 * 3600, 60),
    "30h": (30 * 3600, 600),
    "10d": (10 * 86400, 3600),
    "360d": (360 * 86400, 86400),
}
"""Range name -> (span, wanted step) in seconds."""
DEFAULT_RANGE = "3h"
LOSS_LEVELS = (0.0, 0.05, 0.10, 0.25, 0.50)
"""Upper bounds of loss classes l0..l4 (SmokePing's 0, 1, 2, 5, 10 of 20); above: l5."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Which buckets a range reads, and at what step it shows them."""

    name: str
    level: str
    bucket: int
    step: int
    since: int
    until: int


def plan(name: str, now: float, *, fine: int, coarse: int, fine_retention: float) -> Plan:
    """The plan of a range; ``until`` is the end of the step in progress."""
    span, wanted = RANGES[name]
    level = "fine" if wanted < coarse and span <= fine_retention else "coarse"
    bucket = fine if level == "fine" else coarse
    step = max(bucket, math.ceil(wanted / bucket) * bucket)
    until = (int(now) // step + 1) * step
    since = until - math.ceil(span / step) * step
    return Plan(name, level, bucket, step, since, until)


def steps(buckets: Iterable[tuple[int, Summary]], p: Plan) -> list[tuple[int, Summary]]:
    """Buckets merged into the plan's steps, in time order (steps without buckets left out)."""
    out: dict[int, Summary] = {}
    for t, summary in buckets:
        if not p.since <= t < p.until:
            continue
        start = t // p.step * p.step
        found = out.get(start)
        if found is None:
            out[start] = summary.copy()
        else:
            found.merge(summary)
    return sorted(out.items())


def point(t: int, s: Summary) -> dict[str, Any]:
    """One step as the API shows it (seconds; ``None`` without times)."""
    return {
        "t": t,
        "count": s.count,
        "sent": s.sent,
        "lost": s.lost,
        "loss_ratio": s.loss_ratio(),
        "min": s.low,
        "p10": s.quantile(0.1),
        "p50": s.quantile(0.5),
        "p90": s.quantile(0.9),
        "max": s.high,
    }


def document(
    target: str,
    p: Plan,
    checks: Mapping[str, Sequence[tuple[int, Summary]]],
    outages: Iterable[tuple[float, float | None]],
) -> dict[str, Any]:
    """``GET /api/v1/targets/{name}/history``: every check's points and the outages."""
    return {
        "target": target,
        "range": p.name,
        "ranges": list(RANGES),
        "level": p.level,
        "step_seconds": p.step,
        "since": p.since,
        "until": p.until,
        "checks": [
            {"check": check, "points": [point(t, s) for t, s in checks[check]]}
            for check in sorted(checks)
        ],
        "outages": [{"start": start, "end": end} for start, end in outages],
    }


# -- the smoke graph ----------------------------------------------------------------

WIDTH, HEIGHT = 800, 240
LEFT, RIGHT, TOP, BOTTOM = 78, 12, 10, 28
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM


def loss_class(ratio: float | None) -> str:
    if ratio is None:
        return "l0"
    for level, bound in enumerate(LOSS_LEVELS):
        if ratio <= bound:
            return f"l{level}"
    return "l5"


def nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 0.001
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value:
            return factor * power
    return 10 * power


def ms_text(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.3g} ms" if ms < 1000 else f"{seconds:.3g} s"


def smoke(
    points: Sequence[Mapping[str, Any]],
    outages: Iterable[Mapping[str, Any]],
    *,
    since: int,
    until: int,
    step: int,
    now: float,
    time_text: Callable[[float], str],
    step_text: Callable[[float], str] | None = None,
    words: Mapping[str, str] = _ENGLISH,
) -> dict[str, Any]:
    """SVG shapes (view-box coordinates) of one check's points over ``[since, until)``.

    ``time_text`` makes the axis labels, ``step_text`` (default: the same) the
    time of the last step in the summary line.
    """
    span = max(1, until - since)
    scale_x = PLOT_W / span

    def x(t: float) -> float:
        return round(LEFT + (min(max(t, since), until) - since) * scale_x, 1)

    highs = sorted(p["p90"] for p in points if p["p90"] is not None)
    # Like SmokePing, scale to the usual (the 95th percentile of the steps' p90), not to spikes.
    top = nice_ceiling(1.2 * highs[int(0.95 * (len(highs) - 1))]) if highs else 0.001

    def y(seconds: float) -> float:
        return round(TOP + PLOT_H * (1 - min(seconds, top) / top), 1)

    width = max(1.0, round(step * scale_x, 1))
    # One path per layer (and per loss class for the median), not an element per
    # step; plain arithmetic and one format per rectangle, since this runs for
    # every page view (about 0.5 ms for 180 steps).
    ranges: list[str] = []
    bands: list[str] = []
    medians: dict[str, list[str]] = {f"l{i}": [] for i in range(6)}
    lost_only: list[str] = []
    bottom = TOP + PLOT_H
    per_second = PLOT_H / top
    rect = "M%.1f %.1fh%.1fv%.1fh-%.1fz"
    for p in points:
        left = LEFT + (min(max(p["t"], since), until) - since) * scale_x
        if p["p50"] is None:
            lost_only.append(rect % (left, bottom - 6, width, 6, width))
            continue
        high = bottom - min(p["max"], top) * per_second
        low = bottom - min(p["min"], top) * per_second
        ranges.append(rect % (left, high, width, max(0.5, low - high), width))
        p90 = bottom - min(p["p90"], top) * per_second
        p10 = bottom - min(p["p10"], top) * per_second
        bands.append(rect % (left, p90, width, max(0.5, p10 - p90), width))
        median = bottom - min(p["p50"], top) * per_second - 1
        medians[loss_class(p["loss_ratio"])].append(rect % (left, median, width, 2, width))
    last = next((p for p in reversed(points) if p["sent"]), None)
    summary = ""
    if last is not None:
        fields = {
            "time": (step_text or time_text)(last["t"]),
            "lost": last["lost"],
            "sent": last["sent"],
        }
        if last["p50"] is None:
            summary = words["smoke.last_loss"].format(**fields)
        else:
            summary = words["smoke.last"].format(
                **fields,
                p50=ms_text(last["p50"]),
                p10=ms_text(last["p10"]),
                p90=ms_text(last["p90"]),
            )
    spans = []
    for outage in outages:
        start, end = outage["start"], outage["end"] if outage["end"] is not None else now
        if end < since or start >= until:
            continue
        spans.append(
            {
                "x": x(start),
                "w": max(1.0, round(x(end) - x(start), 1)),
                "title": f"{time_text(start)} - {time_text(end)}",
            }
        )
    y_ticks = [{"y": y(top * f), "text": ms_text(top * f)} for f in (0.0, 0.25, 0.5, 0.75, 1.0)]
    x_ticks = [
        {"x": x(since + span * f), "text": time_text(since + span * f)}
        for f in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"x": LEFT, "y": TOP, "w": PLOT_W, "h": PLOT_H, "bottom": TOP + PLOT_H},
        "ranges": " ".join(ranges),
        "bands": " ".join(bands),
        "medians": {k: " ".join(v) for k, v in medians.items() if v},
        "lost_only": " ".join(lost_only),
        "summary": summary,
        "steps": len(points),
        "outages": spans,
        "y_ticks": y_ticks,
        "x_ticks": x_ticks,
        "empty": not points,
    }
