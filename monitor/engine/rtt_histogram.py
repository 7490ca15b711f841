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
and renders every check's lines from that copy, in pieces of :data:`PIECE_CHECKS`
checks that a large scrape renders on the loop between its other work
(:class:`~monitor.engine.exporter.Deferred`, ``monitor.web.metrics_body``).
The cached text had been a kilobyte a target, 55 MB of the daemon's memory at
50,000 targets; rendering it costs about 3 µs a check per scrape (see
bench/README.md, issue 14 sessions 5 and 6).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
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


LineWriter = Callable[..., str]
"""Every line of one check: ``writer(labels, *cumulative_counts, sum_text)``."""

PIECE_CHECKS = 256
"""Checks per piece of a scrape's rendering (under a millisecond at about 3 µs a check)."""


def _literal(text: str) -> str:
    """``text`` as the literal part of a single-quoted f-string's source."""
    for plain, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\n", "\\n"), ("{", "{{"), ("}", "}}")):
        text = text.replace(plain, escaped)
    return text


def line_writer(bounds: Sequence[float]) -> LineWriter:
    """A function writing every line of one check, compiled once per bounds.

    A ``str.format`` template parses its format string at every call: 14 lines
    a check, 5-8 µs of each check's rendering at a scrape. An f-string is
    parsed once, when compiled, so the same lines cost about 3 µs. The source
    holds only this family's name and the bounds' own spelling (numbers):
    labels and counts are arguments, never part of the compiled text.
    """
    les = [format_value(b) for b in bounds] + ["+Inf"]
    counts = [f"c{i}" for i in range(len(les))]
    source = "".join(
        _literal(f"{NAME}_bucket{{") + "{t}" + _literal(f',le="{le}"}} ') + f"{{{c}}}\\n"
        for le, c in zip(les, counts, strict=True)
    )
    source += _literal(f"{NAME}_sum{{") + "{t}" + _literal("} ") + "{s}\\n"
    source += _literal(f"{NAME}_count{{") + "{t}" + _literal("} ") + f"{{{counts[-1]}}}\\n"
    writer: LineWriter = eval(f"lambda t, {', '.join(counts)}, s: f'{source}'", {})  # noqa: S307
    return writer


class RttHistogram:
    """Bucket counts per (target, check) in flat arrays; text rendered at the scrape."""

    def __init__(self, store: SeriesStore, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._width = len(self.bounds) + 1
        self._zeros = array("Q", [0]) * self._width
        self._writer = line_writer(self.bounds)
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
        snapshot = _Snapshot(
            self._writer, self._width, self._labels.copy(), self._counts[:], self._sums[:]
        )
        return Deferred(snapshot.pieces, len(self._slots) * (self._width + 2))

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


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """One scrape's copy of the counts, and its text in pieces (slot order, free slots
    skipped)."""

    writer: LineWriter
    width: int
    labels: list[str | None]
    counts: array[int]
    sums: array[float]

    def pieces(self) -> Iterator[bytes]:
        for start in range(0, len(self.labels), PIECE_CHECKS):
            yield self.render(start, start + PIECE_CHECKS)

    def render(self, start: int, stop: int) -> bytes:
        """The lines of the checks in slots ``start`` to ``stop``."""
        write, width, counts, sums = self.writer, self.width, self.counts, self.sums
        return "".join(
            [
                write(
                    text,
                    *accumulate(counts[slot * width : slot * width + width]),
                    format_seconds(sums[slot]),
                )
                for slot, text in enumerate(self.labels[start:stop], start)
                if text is not None
            ]
        ).encode()
