"""Jobs and their run grid: what the scheduler and its tick lane share.

A job is one check of one target; its runs fall on a grid of ``interval``
from a stable offset (:func:`first_run`, :func:`next_run`), and the
:class:`Limiter` bounds how many run at once. Kept apart from
:mod:`monitor.engine.scheduler` so that the tick lane (:mod:`monitor.engine.tick_lane`),
which the scheduler drives, needs nothing from the scheduler itself.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import math
from dataclasses import dataclass, field
from typing import Protocol

from monitor.contract import CheckSettings, ProbeTarget


class Limiter:
    """A counting semaphore whose uncontended acquire is a compare and a decrement.

    asyncio.Semaphore costs several microseconds per acquire (a coroutine, a
    scan of its waiters); at thousands of runs a second that shows. Slots are
    handed to waiters in FIFO order by :meth:`release`.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us just as we were cancelled
            else:
                self._waiters.remove(future)
            raise

    def release(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # hand the slot over directly
                return
        self._free += 1


@dataclass(frozen=True, slots=True)
class Job:
    """One check of one target. Equal jobs keep running across a reload."""

    target: ProbeTarget
    kind: str
    settings: CheckSettings
    depth: int = 0
    """How many parents deep the target sits: when a parent and its child are
    due at the same moment, the parent is polled first."""
    key: tuple[str, str] = field(init=False, compare=False, repr=False)
    """(target name, kind): made once, the scheduler and the tick lane look it up per run."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.target.name, self.kind))


class SchedulerMetrics(Protocol):
    """What the scheduler reports; implemented by the exporter's self-metrics."""

    def observe_lag(self, kind: str, seconds: float) -> None: ...
    def count_skipped(self, kind: str, runs: int) -> None: ...
    def in_flight(self, kind: str, delta: int) -> None: ...


def first_run(key: tuple[str, str], interval: float, start: float, tick: float = 0.0) -> float:
    """A stable offset in ``[start, start + interval)`` derived from the job's key,
    rounded up to a multiple of ``tick`` (see :data:`DEFAULT_TICK`)."""
    digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
    when = start + int.from_bytes(digest, "big") / 2**64 * interval
    return math.ceil(when / tick) * tick if tick > 0 else when


def next_run(scheduled: float, interval: float, now: float) -> tuple[float, int]:
    """The next grid slot after ``scheduled`` and how many whole slots were missed.

    A slot that is late by less than one interval still runs (late, with lag
    recorded): skipping it would turn every small stall into a lost run.
    Slots overtaken entirely by ``now`` are skipped.
    """
    nxt = scheduled + interval
    missed = int((now - nxt) // interval) if now > nxt + interval else 0
    return nxt + missed * interval, missed
