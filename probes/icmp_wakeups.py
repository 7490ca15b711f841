"""What one wake-up of the ICMP engine serves: timers in buckets, results in batches.

At ten thousand targets the engine wakes up a few hundred times a second and
each wake-up serves dozens of echoes; what it costs per echo outside the
system calls is mostly bookkeeping. Two pieces keep that bookkeeping per
wake-up instead of per echo:

- :class:`TimerBuckets`: every timer of the engine (the next echo of a run,
  a run's deadline, a retried send) behind one asyncio timer, filed in
  buckets of one millisecond. The runs of one scheduler tick start within a
  millisecond or two, so their timers share a handful of buckets: a dict
  lookup and two list appends per timer (its callback and its one argument,
  side by side: no tuple and no bound method per timer, objects the garbage
  collector would walk while the runs are in flight), one heap entry per bucket.
- :class:`Batch`: items collected during one wake-up (the runs that settled
  while the socket was drained) handed on by one loop callback, in the order
  they came, instead of one future, one done callback and one loop handle each.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

BUCKETS_PER_SECOND: Final = 1000
"""Timer buckets per second: a timer fires at most this long after its time (1 ms)."""

_Entries = list[Any]
"""A bucket's timers: callback, argument, callback, argument, ... in the order set."""

_ROUNDING: Final = 1e-6
"""Buckets: a time at most this far (a nanosecond) past a millisecond files in it."""


def millisecond_of(when: float) -> float:
    """The start of the millisecond ``when`` falls in (a nanosecond's rounding forgiven:
    a callback asyncio runs a hair before its time counts in its time's millisecond)."""
    return math.floor(when * BUCKETS_PER_SECOND + _ROUNDING) / BUCKETS_PER_SECOND


class TimerBuckets:
    """Many timers behind one asyncio timer, filed in millisecond buckets.

    A timer fires at the end of its bucket, up to one clock resolution (at
    least 2 ms) early as asyncio's own timers may, never more than a
    millisecond late for that reason; within a bucket timers fire in the
    order they were set. Entries are never cancelled: callbacks check whether
    their run is still going, which costs less than cancelling.

    ``loop`` is the seam: anything with asyncio's ``time()`` and
    ``call_at()`` (tests pass a fake clock).
    """

    __slots__ = ("_buckets", "_handle", "_heap", "_loop", "_slack", "_when")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slack = max(time.get_clock_info("monotonic").resolution, 0.002)
        self._buckets: dict[int, _Entries] = {}
        self._heap: list[int] = []  # bucket numbers, each at most once
        self._handle: asyncio.TimerHandle | None = None
        self._when = math.inf

    def __len__(self) -> int:
        """Timers set and not fired yet."""
        return sum(len(entries) for entries in self._buckets.values()) // 2

    def at(self, when: float, callback: Callable[[T], None], arg: T) -> None:
        """Call ``callback(arg)`` at ``when`` (the loop's clock), or up to 1 ms later.

        One argument, not ``*args``: a call with ``*args`` makes a tuple, and a run's
        timers held two objects each for the collector to walk (see the module's
        docstring). A callback that needs more takes an object holding them.
        """
        # A time a float's rounding put a hair past a millisecond (a tick time
        # plus whole seconds) stays in that millisecond's bucket: it fires then,
        # with the tick's own callback, instead of in a wake-up of its own 1 ms later.
        bucket = math.ceil(when * BUCKETS_PER_SECOND - _ROUNDING)
        entries = self._buckets.get(bucket)
        if entries is not None:
            entries.append(callback)
            entries.append(arg)
            return
        self._buckets[bucket] = [callback, arg]
        heapq.heappush(self._heap, bucket)
        end = bucket / BUCKETS_PER_SECOND
        if end < self._when:
            self._arm(end)

    def close(self) -> None:
        """Drop every timer."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._when = math.inf
        self._heap.clear()
        self._buckets.clear()

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._when = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._when = math.inf
        heap, buckets = self._heap, self._buckets
        due = (self._loop.time() + self._slack) * BUCKETS_PER_SECOND
        try:
            while heap and heap[0] <= due:
                # Taken out before it runs: a callback that sets a timer in the same
                # bucket starts a new one, which this loop fires too.
                entries = buckets.pop(heapq.heappop(heap))
                for index in range(0, len(entries), 2):
                    try:
                        entries[index](entries[index + 1])
                    except BaseException:
                        # A bug, which the loop reports: the bucket's other timers
                        # must still fire.
                        self._requeue(entries[index + 2 :])
                        raise
        finally:
            if heap:
                self._arm(heap[0] / BUCKETS_PER_SECOND)

    def _requeue(self, entries: _Entries) -> None:
        """Put unfired timers back, ahead of the current bucket's (fired next)."""
        if not entries:
            return
        bucket = math.ceil(self._loop.time() * BUCKETS_PER_SECOND)
        present = self._buckets.get(bucket)
        if present is not None:
            present[:0] = entries
            return
        self._buckets[bucket] = entries
        heapq.heappush(self._heap, bucket)


class Batch(Generic[T]):
    """Items gathered during one wake-up, handed to ``deliver`` by one loop callback.

    The first :meth:`add` since the last delivery asks ``call_soon`` (the
    loop's, or a test's) for the delivery; the ones after it join. Items are
    delivered in the order they were added, never inside :meth:`add`; a
    ``deliver`` that raises is logged and the batch's other items are still
    delivered.
    """

    __slots__ = ("_call_soon", "_deliver", "_items")

    def __init__(
        self, call_soon: Callable[[Callable[[], None]], object], deliver: Callable[[T], None]
    ) -> None:
        self._call_soon = call_soon
        self._deliver = deliver
        self._items: list[T] = []

    def __len__(self) -> int:
        """Items waiting for the delivery."""
        return len(self._items)

    def add(self, item: T) -> None:
        if not self._items:
            self._call_soon(self._flush)
        self._items.append(item)

    def _flush(self) -> None:
        items, self._items = self._items, []
        deliver = self._deliver
        for item in items:
            try:
                deliver(item)
            except Exception:  # one consumer's bug must not lose the batch's other results
                log.exception("ICMP: delivering a settled run failed")
