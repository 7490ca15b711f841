"""The clock delivery runs on; tests pass a fake one (``tests.fakes.FakeClock``).

The shape is the scheduler's (``monitor.scheduler.Clock``), so the daemon can
hand the same object to both. Delivery keeps its own timestamps in wall-clock
UNIX seconds (they are stored in SQLite and must survive a restart) and
sleeps on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for sleeping, wall time for what is stored."""

    def now(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep_until(self, when: float) -> None: ...


class LoopClock:
    """The running event loop's clock and ``time.time()``."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - self.now()))


async def sleep_wall(clock: Clock, until_wall: float) -> None:
    """Sleep until a wall-clock instant, measured on the monotonic clock."""
    await clock.sleep_until(clock.now() + max(0.0, until_wall - clock.wall()))
