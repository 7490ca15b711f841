"""A worker thread that steps back while the event loop is busy.

A config reload runs in a thread so that the loop keeps probing, but both
need the GIL. Every ``sendto`` and ``recvmsg`` of a probe releases it; with
a CPU-bound thread beside it, the loop then waits for the thread to hand it
back at each call (the switch interval, plus a wake-up that takes a good
part of a millisecond on a virtual machine), and a tick that sends fifty
echoes stretched from a few milliseconds to over 100 ms.

So the loop beats (a timestamp every couple of milliseconds) while the
thread works, and the thread calls :meth:`LoopPacer.pause` between small
slices of its work: while the beat is stale the loop is busy (running a long
callback, or waiting for the GIL inside one), and the thread sleeps without
the GIL until the loop has had its turn. When the loop is idle the thread
runs at full speed; a pause never lasts more than ``longest``, so a loop that
stays busy slows the thread down but never stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Iterator

__all__ = ["PAUSE_EVERY", "SWITCH_INTERVAL", "LoopPacer", "loop_first"]

PAUSE_EVERY = 128
"""Rows or targets between two calls of ``pause`` in a long load (well under a millisecond)."""

BEAT = 0.002
"""Seconds between two beats of the loop."""
PATIENCE = 0.006
"""A beat older than this means the loop is busy."""
NAP = 0.001
"""Seconds the thread sleeps before it looks at the beat again."""
LONGEST = 0.05
"""At most this long in one pause, so the thread always gets on."""


class LoopPacer:
    """The loop's heartbeat, and the pause a worker thread takes while it is stale."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        beat: float = BEAT,
        patience: float = PATIENCE,
        nap: float = NAP,
        longest: float = LONGEST,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._beat = beat
        self._patience = patience
        self._nap = nap
        self._longest = longest
        self._last = clock()
        self.paused = 0.0
        """Seconds the thread spent in pauses (for the log line of a reload)."""

    def beat(self) -> None:
        """The loop is running now."""
        self._last = self._clock()

    async def heartbeat(self) -> None:
        """Beat until cancelled (a task on the loop while the thread works)."""
        while True:
            self.beat()
            await asyncio.sleep(self._beat)

    def pause(self) -> None:
        """In the thread, between two slices of work: wait while the loop is busy."""
        start = now = self._clock()
        while now - self._last > self._patience and now - start < self._longest:
            self._sleep(self._nap)
            now = self._clock()
        self.paused += now - start


SWITCH_INTERVAL = 0.0002
"""GIL switch interval while a worker thread runs Python code (Python's default is 5 ms)."""


@contextlib.contextmanager
def loop_first() -> Iterator[None]:
    """While a worker thread runs Python code, let the event loop take the GIL back fast.

    Every ``sendto`` and ``recvmsg`` of a probe releases the GIL; with a
    CPU-bound thread beside it, the loop then waits up to the switch interval
    (5 ms) to get it back, thousands of times a second: a 20,000-target
    reload delayed most runs by over half a second, and a scrape rendering
    10,000 checks' histograms in its thread 0.1-0.2 s. A short interval bounds
    each wait; the worker gets the time the loop does not use.

    The interval is the interpreter's, and a reload and a scrape may overlap:
    whoever found it short already leaves it as it is on the way out, so an
    overlap never leaves it short for good (at worst the one still running
    finishes at the default).
    """
    previous = sys.getswitchinterval()
    # short already (another worker's): leave it (it reads back rounded to the µs)
    mine = previous > SWITCH_INTERVAL * 1.01
    if mine:
        sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        if mine:
            sys.setswitchinterval(previous)
