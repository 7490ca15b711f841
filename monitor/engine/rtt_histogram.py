"""``continuity_probe_rtt_seconds``: the round-trip time distribution as a Prometheus histogram.

The same times the measurement history keeps (:func:`monitor.engine.measurements.measure`:
an echo train's mean round trip, another check's duration when it succeeded)
are counted into cumulative buckets per target and check, labelled only
``target`` and ``check`` so that the cost stays ``len(bounds) + 3`` series
per check whatever labels the target carries. Lines are rendered when a
result arrives and kept in the exporter's :class:`~monitor.engine.exporter.SeriesStore`
under their own part, so a scrape only joins bytes, as for every other series.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from monitor.contract import MetricFamily
from monitor.engine.exporter import SeriesStore, escape_label_value, format_value

NAME = "continuity_probe_rtt_seconds"
FAMILY = MetricFamily(
    NAME,
    "histogram",
    "Round-trip time of echo trains (mean per run) and duration of successful checks.",
)
PART_SUFFIX = "\x00rtt"
"""Appended to the check kind to make the series store's part (never a kind's name)."""


class RttHistogram:
    """Cumulative bucket counts per (target, check), rendered on each observation."""

    def __init__(self, store: SeriesStore, bounds: Sequence[float]) -> None:
        self.store = store
        self.bounds = tuple(bounds)
        self._les = [format_value(b) for b in self.bounds] + ["+Inf"]
        self._counts: dict[tuple[str, str], tuple[list[int], list[float], list[str]]] = {}
        if self.bounds:
            store.declare(FAMILY)

    def observe(self, target: str, check: str, seconds: float | None) -> None:
        if not self.bounds or seconds is None or seconds < 0:
            return
        key = (target, check)
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = self._new(target, check)
        counts, total, heads = found
        counts[bisect_left(self.bounds, seconds)] += 1
        total[0] += seconds
        parts = []
        cumulative = 0
        for head, n in zip(heads, counts, strict=False):  # heads also has _sum and _count
            cumulative += n
            parts.append(f"{head}{cumulative}\n")
        parts.append(f"{heads[-2]}{format_value(total[0])}\n{heads[-1]}{cumulative}\n")
        self.store.replace_text((target, check + PART_SUFFIX), {NAME: "".join(parts)})

    def _new(self, target: str, check: str) -> tuple[list[int], list[float], list[str]]:
        """Zero counts, and each line's text up to its value (made once per check)."""
        labels = f'target="{escape_label_value(target)}",check="{escape_label_value(check)}"'
        heads = [f'{NAME}_bucket{{{labels},le="{le}"}} ' for le in self._les]
        heads += [f"{NAME}_sum{{{labels}}} ", f"{NAME}_count{{{labels}}} "]
        return [0] * len(self._les), [0.0], heads

    def forget(self, target: str) -> None:
        """The target is gone (its series leave with the exporter's ``remove_target``)."""
        for key in [k for k in self._counts if k[0] == target]:
            del self._counts[key]
