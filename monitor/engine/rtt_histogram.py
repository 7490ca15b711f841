"""``continuity_probe_rtt_seconds``: the round-trip time distribution as a Prometheus histogram.

The same times the measurement history keeps (:func:`monitor.engine.measurements.measure`:
an echo train's mean round trip, another check's duration when it succeeded)
are counted into cumulative buckets per target and check, labelled only
``target`` and ``check`` so that the cost stays ``len(bounds) + 3`` series
per check whatever labels the target carries.

What is kept per (target, check) is small: a slot number into one flat array
of bucket counts and one of sums (about 100 bytes of numbers at the default
11 bounds), and the rendered text of its lines in the exporter's
:class:`~monitor.engine.exporter.SeriesStore`. An observation only counts and
marks the check pending; the text of pending checks is rendered in slices by
the history's loop (:meth:`RttHistogram.render_pending`, a check rendered once
however many results arrived since) and whatever is still pending when a
scrape assembles ``/metrics`` (the store calls :meth:`render_pending` first).
At 50,000 targets this took 3.5 KB per target down to about 1.2 KB (see
bench/README.md, issue 14 session 4).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from itertools import accumulate

from monitor.contract import MetricFamily
from monitor.engine.exporter import (
    SeriesStore,
    escape_label_value,
    format_seconds,
    format_value,
)

NAME = "continuity_probe_rtt_seconds"
FAMILY = MetricFamily(
    NAME,
    "histogram",
    "Round-trip time of echo trains (mean per run) and duration of successful checks.",
)
PART_SUFFIX = "\x00rtt"
"""Appended to the check kind to make the series store's part (never a kind's name)."""

Key = tuple[str, str]
"""(target, check kind)."""


def template(bounds: Sequence[float]) -> str:
    """Every line of one check for :meth:`str.format`: ``{0}`` its labels, ``{1}`` to
    ``{n}`` the cumulative counts (the last one is ``+Inf`` and ``_count``), ``{n+1}`` the sum.
    """
    les = [format_value(b) for b in bounds] + ["+Inf"]
    lines = [f'{NAME}_bucket{{{{{{0}},le="{le}"}}}} {{{i}}}\n' for i, le in enumerate(les, 1)]
    n = len(les)
    lines.append(f"{NAME}_sum{{{{{{0}}}}}} {{{n + 1}}}\n")
    lines.append(f"{NAME}_count{{{{{{0}}}}}} {{{n}}}\n")
    return "".join(lines)


class RttHistogram:
    """Bucket counts per (target, check) in flat arrays; text rendered when pending."""

    def __init__(self, store: SeriesStore, bounds: Sequence[float]) -> None:
        self.store = store
        self.bounds = tuple(bounds)
        self._width = len(self.bounds) + 1
        self._zeros = array("Q", [0]) * self._width
        self._template = template(self.bounds)
        self._slots: dict[Key, int] = {}
        self._counts = array("Q")  # _width per slot, not cumulative
        self._sums = array("d")
        self._free: list[int] = []
        # Insertion-ordered set of checks observed since their text was rendered.
        self._pending: dict[Key, None] = {}
        # Every check kind seen: a target's keys are found by probing these few,
        # never by scanning every key (a reload may remove thousands of targets).
        self._kinds: set[str] = set()
        self._parts: dict[str, str] = {}  # kind -> the store's part, one string for all
        if self.bounds:
            store.declare(FAMILY)
            store.add_pending(self.render_pending)

    def observe(self, target: str, check: str, seconds: float | None) -> None:
        if not self.bounds or seconds is None or not 0 <= seconds < math.inf:
            return
        key = (target, check)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._new(key)
        self._counts[slot * self._width + bisect_left(self.bounds, seconds)] += 1
        self._sums[slot] += seconds
        self._pending[key] = None

    def _new(self, key: Key) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._sums)
            self._sums.append(0.0)
            self._counts.extend(self._zeros)
        self._slots[key] = slot
        if key[1] not in self._kinds:
            self._kinds.add(key[1])
            self._parts[key[1]] = key[1] + PART_SUFFIX
        return slot

    def render_pending(self, limit: int | None = None) -> int:
        """Render the text of up to ``limit`` pending checks (all by default);
        returns how many are still pending."""
        pending = self._pending
        todo = len(pending) if limit is None else min(limit, len(pending))
        slots, counts, sums, width = self._slots, self._counts, self._sums, self._width
        fmt = self._template.format
        replace = self.store.replace_text
        parts = self._parts
        for _ in range(todo):
            key, _ = pending.popitem()  # the newest: order does not matter, O(1)
            slot = slots[key]
            base = slot * width
            labels = f'target="{escape_label_value(key[0])}",check="{escape_label_value(key[1])}"'
            text = fmt(labels, *accumulate(counts[base : base + width]), format_seconds(sums[slot]))
            replace((key[0], parts[key[1]]), {NAME: text})
        return len(pending)

    def forget(self, target: str) -> None:
        """The target is gone: its counts and series (the exporter may have dropped
        the series already; a render between then and now would have put them back)."""
        for kind in self._kinds:
            self._drop((target, kind))

    def keep(self, target: str, checks: Iterable[str]) -> None:
        """The target now has only ``checks``: drop the others' counts and series."""
        for kind in self._kinds - set(checks):
            self._drop((target, kind))

    def _drop(self, key: Key) -> None:
        slot = self._slots.pop(key, None)
        if slot is None:
            return
        self._pending.pop(key, None)
        base = slot * self._width
        self._counts[base : base + self._width] = self._zeros
        self._sums[slot] = 0.0
        self._free.append(slot)
        self.store.remove((key[0], self._parts[key[1]]))

    def __len__(self) -> int:
        """Checks with counts."""
        return len(self._slots)
