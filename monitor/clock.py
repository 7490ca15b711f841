"""The one clock the daemon runs on; tests pass a fake one (``tests.fakes.FakeClock``).

A base module: the scheduler, alert delivery and the outbox take a
:class:`Clock` as a constructor parameter, and the daemon hands them the same
:class:`LoopClock`. Monotonic time (the event loop's, the same clock as probe
deadlines) for sleeping, wall-clock UNIX seconds for what is stored (delivery
timestamps live in SQLite and must survive a restart).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Time as the scheduler sees it; tests pass a fake one."""

    def now(self) -> float:
        """Monotonic seconds, the same clock as probe deadlines (the loop's)."""
        ...

    def wall(self) -> float:
        """UNIX time, for results."""
        ...

    async def sleep_until(
        self, when: float, waiter: asyncio.Future[None] | None = None, priority: int = 0
    ) -> None:
        """Return at ``when`` (monotonic) or soon after; or as soon as ``waiter``
        (if given) is resolved by someone else. Sleepers due at the same time
        wake in ``priority`` order (lowest first)."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``when`` (monotonic), or soon after (the tick lane)."""
        ...


class LoopClock:
    """The event loop's clock, with sleepers grouped by wake-up time.

    Run times fall on ticks, so thousands of jobs sleep until the same few
    instants. One loop timer per distinct instant wakes all of its sleepers,
    instead of one timer each in the loop's heap (whose comparisons run as
    Python code).
    """

    def __init__(self) -> None:
        # get_running_loop() makes a getpid() system call on Python 3.11; the
        # clock is read several times per run, so look the loop up once.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleepers: dict[float, list[tuple[int, asyncio.Future[None]]]] = {}

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self._running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(
        self, when: float, waiter: asyncio.Future[None] | None = None, priority: int = 0
    ) -> None:
        loop = self._running_loop()
        if when <= loop.time():
            await asyncio.sleep(0)
            return
        sleepers = self._sleepers.get(when)
        if sleepers is None:
            sleepers = self._sleepers[when] = []
            loop.call_at(when, self._wake, when)
        future = waiter if waiter is not None else loop.create_future()
        sleepers.append((priority, future))
        await future

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        # The tick lane asks once per distinct run time, so the loop's heap stays small.
        self._running_loop().call_at(when, callback)

    def _wake(self, when: float) -> None:
        sleepers = self._sleepers.pop(when, [])
        sleepers.sort(key=lambda item: item[0])  # stable: parents first, then arrival order
        for _, future in sleepers:
            if not future.done():  # a cancelled sleeper (reload) is skipped
                future.set_result(None)


async def sleep_wall(clock: Clock, until_wall: float) -> None:
    """Sleep until a wall-clock instant, measured on the monotonic clock."""
    await clock.sleep_until(clock.now() + max(0.0, until_wall - clock.wall()))
