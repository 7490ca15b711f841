"""``continuity_probe_rtt_seconds``: the round-trip time distribution as a Prometheus histogram.

The same times the measurement history keeps (:func:`monitor.engine.measurements.measure`:
an echo train's mean round trip, another check's duration when it succeeded)
are counted into cumulative buckets per target and check, labelled only
``target`` and ``check`` so that the cost stays ``len(bounds) + 3`` series
per check whatever labels the target carries.

What is kept per (target, check) is small: a slot number into one flat array
of bucket counts and one of sums (about 100 bytes of numbers at the default
11 bounds) and its label text. No text of its lines is kept: each scrape
copies the arrays (on the loop: a copy of a few megabytes at 50,000 targets)
and renders every check's lines from that copy where the exposition is
joined, in a thread for a large scrape (:class:`~monitor.engine.exporter.Deferred`).
The cached text had been a kilobyte a target, 55 MB of the daemon's memory at
50,000 targets; rendering it costs about 3 µs a check per scrape, off the loop
(see bench/README.md, issue 14 session 5).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import accumulate

from monitor.contract import MetricFamily
from monitor.engine.exporter import (
    Deferred,
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
    """Bucket counts per (target, check) in flat arrays; text rendered at the scrape."""

    def __init__(self, store: SeriesStore, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._width = len(self.bounds) + 1
        self._zeros = array("Q", [0]) * self._width
        self._template = template(self.bounds)
        self._slots: dict[Key, int] = {}
        self._labels: list[str | None] = []  # by slot; None while the slot is free
        self._counts = array("Q")  # _width per slot, not cumulative
        self._sums = array("d")
        self._free: list[int] = []
        # Every check kind seen: a target's keys are found by probing these few,
        # never by scanning every key (a reload may remove thousands of targets).
        self._kinds: set[str] = set()
        if self.bounds:
            store.declare(FAMILY)
            store.add_source(NAME, self.snapshot)

    def observe(self, target: str, check: str, seconds: float | None) -> None:
        if not self.bounds or seconds is None or not 0 <= seconds < math.inf:
            return
        key = (target, check)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._new(key)
        self._counts[slot * self._width + bisect_left(self.bounds, seconds)] += 1
        self._sums[slot] += seconds

    def _new(self, key: Key) -> int:
        labels = f'target="{escape_label_value(key[0])}",check="{escape_label_value(key[1])}"'
        if self._free:
            slot = self._free.pop()
            self._labels[slot] = labels
        else:
            slot = len(self._sums)
            self._sums.append(0.0)
            self._counts.extend(self._zeros)
            self._labels.append(labels)
        self._slots[key] = slot
        self._kinds.add(key[1])
        return slot

    def snapshot(self) -> Deferred | None:
        """This moment's counts, to render where the scrape is joined (None: no series)."""
        if not self._slots:
            return None
        labels, counts, sums = self._labels.copy(), self._counts[:], self._sums[:]
        return Deferred(
            partial(_render, self._template, self._width, labels, counts, sums),
            len(self._slots) * (self._width + 2),
        )

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
        base = slot * self._width
        self._counts[base : base + self._width] = self._zeros
        self._sums[slot] = 0.0
        self._labels[slot] = None
        self._free.append(slot)

    def __len__(self) -> int:
        """Checks with counts."""
        return len(self._slots)


def _render(
    template: str, width: int, labels: list[str | None], counts: array[int], sums: array[float]
) -> bytes:
    """Every check's lines from a snapshot, in slot order (free slots skipped)."""
    fmt = template.format
    out = []
    for slot, text in enumerate(labels):
        if text is not None:
            base = slot * width
            out.append(
                fmt(text, *accumulate(counts[base : base + width]), format_seconds(sums[slot]))
            )
    return "".join(out).encode()
