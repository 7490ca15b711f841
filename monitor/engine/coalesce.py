"""Requests for a job that arrive while it runs are merged into one more run.

A reload at fifty thousand targets takes seconds; six SIGHUPs in three
seconds used to queue six full reloads back to back. With :class:`Coalesced`
the first request starts a run, every request made during it shares a single
next run (which reads the file as it is by then), and each caller gets the
result of the run that covers its request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    """Runs ``job`` at most once at a time, with at most one more run pending."""

    def __init__(self, job: Callable[[], Awaitable[T]]) -> None:
        self._job = job
        self._current: asyncio.Future[T] | None = None
        self._next: asyncio.Future[T] | None = None
        self.runs = 0  # how many times the job ran (tests, logs)

    def request(self) -> asyncio.Future[T]:
        """A future with the result of the run that covers this request."""
        if self._current is None:
            self._current = asyncio.ensure_future(self._run())
            return self._current
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    async def __call__(self) -> T:
        # Shielded: a caller that gives up (an HTTP client going away) does not
        # cancel a reload half-way for the others.
        return await asyncio.shield(self.request())

    async def _run(self) -> T:
        self.runs += 1
        try:
            return await self._job()
        finally:
            waiting = self._next
            # The next run is made now but starts a moment later: requests that
            # arrive until it starts (signals queued while the loop was busy) still
            # join ``waiting``, which it covers; only then does ``_next`` clear.
            self._current = (
                None if waiting is None else asyncio.ensure_future(self._run_for(waiting))
            )

    async def _run_for(self, waiting: asyncio.Future[T]) -> T:
        if self._next is waiting:
            self._next = None
        run = asyncio.ensure_future(self._run())
        run.add_done_callback(lambda done: _copy(done, waiting))
        return await run


def _copy(source: asyncio.Future[T], target: asyncio.Future[T]) -> None:
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif (exc := source.exception()) is not None:
        target.set_exception(exc)
    else:
        target.set_result(source.result())
