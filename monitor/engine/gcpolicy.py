"""When the cyclic garbage collector runs, and how long it holds the loop.

At 50,000 targets the daemon holds about 1.5 million objects the collector
tracks (config models, states and results, history buckets, jobs); one
collection that walks all of them held the loop (and the GIL) for 0.9 s on
the test VM, and the objects the last minute's results left were half of
them. So:

- Young collections (generations 0 and 1) run as Python runs them, with a
  bounded young generation (:data:`THRESHOLD_GEN0`).
- Automatic full collections are off. Every 1-60 s :meth:`GcPolicy.periodic`
  collects what is neither young nor frozen (what survived young collections
  since the last pass), then freezes the survivors (``gc.freeze``: the
  collector no longer walks them; objects freed by reference counting still
  go at once). Each pass walks only what results and requests left since the
  previous one; the period adapts to keep a pass under :data:`TARGET_PAUSE`.
- A (re)load's objects are frozen once it is adopted, without a walk.

What freezing costs: a frozen object that later ends up in a reference cycle
and nowhere else is not collected (objects that die by reference counting
go at once, frozen or not). A pass finds such garbage only among what it
walks, so once every :data:`FULL_PERIOD` a pass unfreezes and walks
everything: the one long pause left (0.9-1.3 s at 50,000 targets on the test
VM), once a day. How much it is for: the end of ``bench.gc_pauses`` counts
the garbage that sat frozen. (The size of the frozen set cannot guide this:
``gc.get_freeze_count`` walks the whole set, 0.1 s at 50,000 targets.)

:class:`GcPauses` times every collection through ``gc.callbacks`` and
exports the times as ``continuity_gc_pause_seconds``.
"""

from __future__ import annotations

import bisect
import gc
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

THRESHOLD_GEN0 = 2_000
"""Allocations between young collections (Python's default is 700). A generation-1
collection walks up to ten times this many objects plus their referents (at
10,000, and with the exporter's series dicts among them, up to 0.18 s)."""
TARGET_PAUSE = 0.04  # seconds a periodic pass should take at most
PERIOD_MIN = 1.0
PERIOD_MAX = 60.0
FULL_PERIOD = 86_400.0
"""Seconds between passes that unfreeze and walk everything (frozen cycles)."""
SLOW_PAUSE = 0.1  # seconds: a collection this long is logged
PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class GcPolicy:
    """Freezes what loads leave, and runs the periodic passes.

    The collector's state is the interpreter's; this object keeps only the
    period and when everything was last walked.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, full_period: float = FULL_PERIOD
    ) -> None:
        self._clock = clock
        self.full_period = full_period
        self.period = PERIOD_MIN * 4  # seconds to the next pass (see :meth:`next_period`)
        self._full_at = clock()

    def settle(self) -> None:
        """At start-up (before the daemon is ready): collect everything once, freeze the
        survivors and turn automatic full collections off."""
        self._collect_everything()
        # Young collections only; full ones are :meth:`periodic`'s.
        gc.set_threshold(THRESHOLD_GEN0, 10, 1_000_000)

    def _collect_everything(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._full_at = self._clock()

    def adopted(self) -> None:
        """After a reload is adopted: freeze the new config and plan without a full walk.

        The replaced config is freed by reference counting (what a load makes holds
        no reference cycle).
        """
        gc.collect(1)  # the load's young garbage goes first, not into the frozen set
        gc.freeze()

    def periodic(self) -> bool:
        """Collect what is not frozen and freeze the survivors; walk everything once
        every :data:`FULL_PERIOD`. True if it walked everything."""
        started = self._clock()
        if started - self._full_at >= self.full_period:
            self._collect_everything()
            return True
        gc.collect()
        gc.freeze()
        self.next_period(self._clock() - started)
        return False

    def next_period(self, took: float) -> float:
        """Halve the period after a pass longer than :data:`TARGET_PAUSE`, double it after
        one under a third of it: a pass walks what the last period left, which grows
        with the results a second (a few thousand objects a second at 50,000 targets
        every minute)."""
        if took > TARGET_PAUSE:
            self.period = max(PERIOD_MIN, self.period / 2)
        elif took < TARGET_PAUSE / 3:
            self.period = min(PERIOD_MAX, self.period * 2)
        return self.period


class GcPauses(Collector):
    """Times every collection (``gc.callbacks``) and exports a histogram by generation.

    :meth:`install` adds the callback and returns the function that removes it
    (several daemons may run in one process, as in the tests).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._started = 0.0
        self._counts = {g: [0] * (len(PAUSE_BUCKETS) + 1) for g in range(3)}
        self._sums = dict.fromkeys(range(3), 0.0)
        self.worst = 0.0

    def install(self) -> Callable[[], None]:
        gc.callbacks.append(self.callback)

        def remove() -> None:
            if self.callback in gc.callbacks:
                gc.callbacks.remove(self.callback)

        return remove

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self._clock()
            return
        self.observe(int(info["generation"]), self._clock() - self._started, info)

    def observe(self, generation: int, seconds: float, info: dict[str, Any]) -> None:
        counts = self._counts.get(generation)
        if counts is None:
            return
        counts[bisect.bisect_left(PAUSE_BUCKETS, seconds)] += 1
        self._sums[generation] += seconds
        self.worst = max(self.worst, seconds)
        if seconds >= SLOW_PAUSE:
            log.debug(
                "garbage collection of generation %d took %.0f ms (%s collected)",
                generation,
                seconds * 1000,
                info.get("collected"),
            )

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            "continuity_gc_pause_seconds",
            "Time each cyclic garbage collection held the interpreter (the event loop "
            "waits), by generation (2: a full collection).",
            labels=["generation"],
        )
        for generation, counts in self._counts.items():
            cumulative, buckets = 0, []
            for bound, count in zip((*PAUSE_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            family.add_metric([str(generation)], buckets, self._sums[generation])
        yield family
