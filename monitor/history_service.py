"""The daemon's measurement history: recorder, Prometheus histogram and the history view.

Wiring only: every result goes to the :class:`~monitor.engine.measurements.Recorder`
(buckets, written by the store) and to the
:class:`~monitor.engine.rtt_histogram.RttHistogram` (``/metrics``); a loop closes
buckets of checks that went quiet; :meth:`MeasurementHistory.view` answers
``/api/v1/targets/{name}/history`` and the target page's smoke graph from
the stored buckets plus the ones still open in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from monitor.contract import ProbeResult
from monitor.engine.config import HistorySection
from monitor.engine.exporter import SeriesStore
from monitor.engine.measurements import COARSE, FINE, Recorder
from monitor.engine.rtt_histogram import RttHistogram
from monitor.engine.rttsketch import Summary
from monitor.history.store import Store
from monitor.web.history_view import document, plan, steps
from probes.neterrors import LOCAL_RESOURCES

SWEEP_SECONDS = 15.0
"""How often buckets of checks without a new result are closed."""
INLINE_BUCKETS = 1000
"""Up to this many buckets are merged on the loop (well under a millisecond); more in a thread."""


class MeasurementHistory:
    """Per target and check: buckets for the store, a histogram for Prometheus."""

    def __init__(
        self,
        store: Store,
        settings: HistorySection,
        series: SeriesStore,
        wall: Callable[[], float],
    ) -> None:
        self.store = store
        self.settings = settings
        self.wall = wall
        fine, coarse = store.buckets
        self.recorder = Recorder(store, fine=fine, coarse=coarse)
        self.recorder.seed(store.bucket_seeds)
        self.histogram = RttHistogram(series, settings.rtt_buckets)

    def record(self, target: str, check: str, result: ProbeResult) -> None:
        if result.reason == LOCAL_RESOURCES:
            return  # the monitor could not run the check: says nothing about the target
        self.histogram.observe(target, check, self.recorder.record(target, check, result))

    def forget(self, names: Iterable[str]) -> None:
        names = list(names)
        self.recorder.forget(names)
        for name in names:
            self.histogram.forget(name)

    def keep(self, checks: Iterable[tuple[str, Iterable[str]]]) -> None:
        """Targets a reload changed, each with the checks it has now: a check taken
        off a target leaves (its open buckets are handed over, its series dropped)."""
        if not len(self.recorder) and not len(self.histogram):
            return  # the first configuration: nothing recorded yet
        for target, kinds in checks:
            kept = set(kinds)
            self.recorder.keep(target, kept)
            self.histogram.keep(target, kept)

    async def sweep_loop(self) -> None:
        """Close quiet buckets every :data:`SWEEP_SECONDS` (the histogram needs no
        loop: its text is rendered at the scrape)."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.recorder.sweep(self.wall())

    def close(self) -> None:
        self.recorder.close()

    async def view(
        self, target: str, range_name: str, outages: Iterable[tuple[float, float | None]]
    ) -> dict[str, Any]:
        """The history document of one target over a range (see :mod:`monitor.web.history_view`)."""
        fine, coarse = self.store.buckets
        p = plan(
            range_name,
            self.wall(),
            fine=fine,
            coarse=coarse,
            fine_retention=self.settings.fine_retention,
        )
        stored = await self.store.history(target, p.level, p.since, p.until)
        checks: dict[str, list[tuple[int, Summary]]] = {}
        for check in set(stored) | set(self.recorder.checks(target)):
            buckets = list(stored.get(check, []))
            fine_open, coarse_open = self.recorder.current(target, check)
            fine_start, coarse_start = self.recorder.open_starts(target, check)
            if p.level == FINE and fine_open is not None and fine_start is not None:
                buckets.append((fine_start, fine_open))
            elif p.level == COARSE and coarse_open is not None and coarse_start is not None:
                # The coarse bucket in progress is in memory only; its stored row (if
                # a previous run wrote one) is replaced by it.
                buckets = [b for b in buckets if b[0] != coarse_start]
                buckets.append((coarse_start, coarse_open))
            checks[check] = buckets

        outages = [
            (start, end)
            for start, end in outages
            if start < p.until and (end is None or end >= p.since)
        ]

        def merge() -> dict[str, list[tuple[int, Summary]]]:
            return {check: steps(buckets, p) for check, buckets in checks.items()}

        if sum(len(b) for b in checks.values()) <= INLINE_BUCKETS:
            return document(target, p, merge(), outages)
        # Merging a year of hours into days is a hundred ms of Python: not on the loop.
        return document(target, p, await asyncio.to_thread(merge), outages)
