"""Measurement history: every result folded into fixed time buckets per target and check.

The :class:`Recorder` lives on the event loop. Each (target, check) has one
open *fine* bucket (a minute by default) and one open *coarse* bucket (an
hour). A result is added to its fine bucket (see :func:`measure`); when the
fine bucket ends (the check's next result falls in a later one, or the
periodic :meth:`Recorder.sweep` finds it over) it is handed to the sink as a
row and merged into the coarse bucket, which is handed over in turn when it
ends. Coarse buckets are therefore exactly the merge of their fine buckets
(:mod:`monitor.engine.rttsketch`), never a resampling.

A result whose fine bucket was already handed over (it started before the
last closed bucket ended: a slow check, a restart in the same minute) goes
into the next bucket instead, so a stored row is never replaced by a
smaller one. The sink is :class:`monitor.history.store.Store`, which writes rows in
its writer thread's batches; at open it gives back the fine rows of the
coarse bucket in progress (:meth:`Recorder.seed`), so a restart does not lose
the hour so far.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.contract import ProbeResult
from monitor.engine.rttsketch import Summary

Key = tuple[str, str]
"""(target, check kind)."""


class BucketSink(Protocol):
    """Where closed buckets go (the store)."""

    def write_buckets(self, level: str, rows: list[tuple[str, str, int, Summary]]) -> None: ...


FINE = "fine"
COARSE = "coarse"


def measure(result: ProbeResult) -> tuple[int, int, float | None]:
    """(sent, lost, seconds) of a result.

    A result that reports packets (``packets_sent``/``packets_received``, an
    echo train) counts them and its mean round trip (the Prometheus histogram
    takes that, one observation a run; the buckets take each echo's round trip
    from ``result.rtts``); any other counts one
    attempt, lost when it failed, timed by its duration when it succeeded.
    """
    values = result.values
    sent = values.get("packets_sent")
    if sent is not None:
        received = values.get("packets_received", 0.0)
        return int(sent), max(0, int(sent - received)), values.get("rtt_avg_seconds")
    if result.ok:
        return 1, 0, result.duration
    return 1, 1, None


@dataclass(slots=True)
class _Open:
    fine_start: int | None
    fine: Summary
    coarse_start: int | None
    coarse: Summary
    closed_until: int
    """End of the last fine bucket handed over: results before it go to the next one."""


class Recorder:
    """Open buckets of every check; closed ones go to the sink in batches."""

    def __init__(self, sink: BucketSink, *, fine: int = 60, coarse: int = 3600) -> None:
        if fine <= 0 or coarse % fine:
            raise ValueError("the coarse bucket must be a multiple of the fine bucket")
        self.sink = sink
        self.fine = fine
        self.coarse = coarse
        self._open: dict[Key, _Open] = {}
        self._kinds: set[str] = set()  # every check kind seen (see keep)
        self._fine_rows: list[tuple[str, str, int, Summary]] = []
        self._coarse_rows: list[tuple[str, str, int, Summary]] = []

    def seed(self, seeds: Mapping[Key, tuple[int, Summary, int]]) -> None:
        """Coarse buckets in progress from a previous run: (start, summary, closed_until)."""
        for key, (start, summary, closed_until) in seeds.items():
            self._open[key] = _Open(None, Summary(), start, summary, closed_until)
            self._kinds.add(key[1])

    def record(self, target: str, check: str, result: ProbeResult) -> float | None:
        """Fold one result into its check's bucket (an echo train: every echo's round trip).

        Returns the result's seconds as :func:`measure` gives them, so that the
        RTT histogram takes them without measuring the result a second time.
        """
        sent, lost, seconds = measure(result)
        start = int(result.started // self.fine) * self.fine
        key = (target, check)
        entry = self._open.get(key)
        if entry is None:
            entry = self._open[key] = _Open(None, Summary(), None, Summary(), 0)
            self._kinds.add(check)
        start = max(start, entry.closed_until)
        if entry.fine_start is not None and start > entry.fine_start:
            self._close_fine(key, entry)
        if entry.fine_start is None:
            entry.fine_start = start
        if result.rtts:
            # The spread within a run is what SmokePing's smoke shows: every echo counts.
            entry.fine.add(sent=sent, lost=lost, seconds=None)
            entry.fine.observe_all(result.rtts)
        else:
            entry.fine.add(sent=sent, lost=lost, seconds=seconds)
        if self._fine_rows or self._coarse_rows:  # a bucket closed above (once a minute)
            self._hand_over()
        return seconds

    def sweep(self, now: float, grace: float | None = None) -> None:
        """Close buckets that ended more than ``grace`` (a fine bucket) ago."""
        grace = self.fine if grace is None else grace
        for key, entry in self._open.items():
            if entry.fine_start is not None and entry.fine_start + self.fine + grace <= now:
                self._close_fine(key, entry)
            if (
                entry.fine_start is None
                and entry.coarse_start is not None
                and entry.coarse_start + self.coarse + grace <= now
            ):
                self._close_coarse(key, entry)
        self._hand_over()

    def close(self) -> None:
        """At shutdown: hand over the fine buckets in progress (the coarse is rebuilt at open)."""
        for key, entry in self._open.items():
            if entry.fine_start is not None:
                self._emit_fine(key, entry)
        self._open.clear()
        self._hand_over()

    def forget(self, names: Iterable[str]) -> None:
        """Targets removed by a reload: their open buckets are handed over as they are
        (looked up by the check kinds seen, which are few: no scan of every key)."""
        for name in names:
            for kind in self._kinds:
                if (name, kind) in self._open:
                    self._drop((name, kind))
        self._hand_over()

    def keep(self, target: str, checks: Iterable[str]) -> None:
        """The target now has only ``checks``: the others' open buckets are handed over
        and dropped (the check kinds seen are few: no scan of every key)."""
        for kind in self._kinds - set(checks):
            if (target, kind) in self._open:
                self._drop((target, kind))
        self._hand_over()

    def _drop(self, key: Key) -> None:
        entry = self._open.pop(key)
        if entry.fine_start is not None:
            self._close_fine(key, entry)
        if entry.coarse_start is not None:
            self._close_coarse(key, entry)

    def current(self, target: str, check: str) -> tuple[Summary | None, Summary | None]:
        """Copies of the open fine and coarse buckets (for reads that include now)."""
        entry = self._open.get((target, check))
        if entry is None:
            return None, None
        fine = entry.fine.copy() if entry.fine_start is not None else None
        coarse = entry.coarse.copy() if entry.coarse_start is not None else None
        if fine is not None:
            if coarse is None or entry.coarse_start != self._coarse_of(entry.fine_start or 0):
                coarse = fine.copy()
            else:
                coarse.merge(fine)
        return fine, coarse

    def open_starts(self, target: str, check: str) -> tuple[int | None, int | None]:
        """Starts of the open fine bucket and of the coarse bucket ``current`` gives."""
        entry = self._open.get((target, check))
        if entry is None:
            return None, None
        if entry.fine_start is not None:
            return entry.fine_start, self._coarse_of(entry.fine_start)
        return None, entry.coarse_start

    def checks(self, target: str) -> list[str]:
        return sorted(check for name, check in self._open if name == target)

    def __len__(self) -> int:
        return len(self._open)

    # -- internals -----------------------------------------------------------

    def _coarse_of(self, start: int) -> int:
        return start // self.coarse * self.coarse

    def _emit_fine(self, key: Key, entry: _Open) -> None:
        assert entry.fine_start is not None
        self._fine_rows.append((key[0], key[1], entry.fine_start, entry.fine))
        entry.closed_until = entry.fine_start + self.fine

    def _close_fine(self, key: Key, entry: _Open) -> None:
        assert entry.fine_start is not None
        self._emit_fine(key, entry)
        hour = self._coarse_of(entry.fine_start)
        if entry.coarse_start is not None and entry.coarse_start != hour:
            self._close_coarse(key, entry)
        if entry.coarse_start is None:
            entry.coarse_start = hour
        entry.coarse.merge(entry.fine)
        entry.fine_start, entry.fine = None, Summary()

    def _close_coarse(self, key: Key, entry: _Open) -> None:
        assert entry.coarse_start is not None
        self._coarse_rows.append((key[0], key[1], entry.coarse_start, entry.coarse))
        entry.coarse_start, entry.coarse = None, Summary()

    def _hand_over(self) -> None:
        if self._fine_rows:
            rows, self._fine_rows = self._fine_rows, []
            self.sink.write_buckets(FINE, rows)
        if self._coarse_rows:
            rows, self._coarse_rows = self._coarse_rows, []
            self.sink.write_buckets(COARSE, rows)
