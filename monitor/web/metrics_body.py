"""A large ``/metrics`` body: deferred parts rendered on the loop in slices, then
compressed in a thread or written to the client a batch at a time.

Some series are rendered at the scrape from a snapshot
(:class:`~monitor.engine.exporter.Deferred`: the RTT histogram, 10,000 checks'
lines at 10,000 targets). Rendered in a thread, that Python code held the GIL
for tens of milliseconds while the loop probed:
every ``sendto``/``recvmsg`` of the loop releases the GIL, the thread took it,
and the loop waited for it back after each call (a GIL convoy: at 10,000 ICMP
targets, 10-15 % more CPU per echo and a scheduler lag p99 of 0.1-0.2 s).

So a deferred part's pieces are rendered here, on the loop, in slices of about
:data:`SLICE` seconds with a rest of :data:`REST` between two slices; its work
is the same, but nothing waits for a GIL. A thread gets only what releases the
GIL: for a gzipped body (what Prometheus asks for) the compression,
:data:`BATCH` bytes at a time as the pieces are rendered (:func:`gzipped`), so
that neither the plain text nor its pieces are ever held whole; a plain body
is written to the client a batch at a time as it is rendered (:func:`streamed`).

Finding the deferred parts is a scan of the parts, at 50,000 targets about a
million of them: done in C (``map(type, ...)``), :data:`SCAN` parts a step,
also between yields.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from isal import isal_zlib

from monitor.engine.exporter import Part

T = TypeVar("T")

SLICE = 0.005
"""Seconds of rendering on the loop before it yields (one slice)."""
SCAN = 65536
"""Parts a step of the scan for deferred parts looks at (about a millisecond)."""
BATCH = 1 << 20
"""Bytes of rendered text gathered on the loop before a thread compresses them
(:func:`gzipped`): about a millisecond of ISA-L's deflate at level 1."""
REST = 0.001
"""Seconds the loop is left to itself between two slices.

Not ``sleep(0)``: that queues the next slice behind the callbacks already
ready, but a coroutine whose timer fell due during a slice is woken one loop
iteration later still (the timer completes a future, the future wakes the
task), behind the next slice: every ``asyncio.sleep`` of the daemon waited
two or three slices (15-20 ms measured at 10,000 targets). A real sleep lets
every iteration run until the loop is done with what fell due."""


async def _rest() -> None:
    await asyncio.sleep(REST)


@dataclass(slots=True)
class LoopShare:
    """The scrape's time on the loop: slices of work separated by yields."""

    clock: Callable[[], float] = time.perf_counter
    pause: Callable[[], Awaitable[None]] = _rest
    budget: float = SLICE
    total: float = 0.0
    """Seconds of loop time, every slice."""
    longest: float = 0.0
    """The longest slice: how long the loop went without a break for this scrape."""
    slices: int = 0
    _start: float = field(default=0.0, repr=False)

    def begin(self) -> None:
        self._start = self.clock()

    async def step(self) -> None:
        """After a bounded piece of work: yield to the loop if the slice is used up."""
        if self.clock() - self._start >= self.budget:
            await self.rest()

    async def rest(self) -> None:
        """End this slice and yield to the loop; the next slice starts after it."""
        self.end()
        await self.pause()
        self.begin()

    def end(self) -> None:
        spent = self.clock() - self._start
        self.total += spent
        self.longest = max(self.longest, spent)
        self.slices += 1

    async def meanwhile(self, work: Awaitable[T]) -> T:
        """End this slice while ``work`` (a thread's) runs: the loop is free meanwhile."""
        self.end()
        try:
            return await work
        finally:
            self.begin()


async def _batches(parts: list[Part], share: LoopShare) -> AsyncIterator[bytes]:
    """The body's text in batches of about :data:`BATCH` bytes, in order: the deferred
    parts' pieces rendered on the loop within ``share``'s slices. What a batch is
    handed to (a compressor, the socket) runs outside the slices."""
    batch: list[bytes] = []
    size = 0
    for start in range(0, len(parts), SCAN):
        chunk = parts[start : start + SCAN]
        types = list(map(type, chunk))
        if types.count(bytes) == len(types):
            text = b"".join(cast("list[bytes]", chunk))
            batch.append(text)
            size += len(text)
        else:
            for part in chunk:
                if isinstance(part, bytes):
                    batch.append(part)
                    size += len(part)
                    continue
                for piece in part.pieces():
                    batch.append(piece)
                    size += len(piece)
                    if size >= BATCH:
                        yield b"".join(batch)
                        batch, size = [], 0
                    else:
                        await share.step()
        if size >= BATCH:
            yield b"".join(batch)
            batch, size = [], 0
        await share.step()
    yield b"".join(batch)


async def gzipped(parts: list[Part], share: LoopShare, level: int) -> bytes:
    """The body as one gzip member, made as it is rendered (:func:`_batches`), each batch
    compressed in a thread while the loop goes on (that wait is the slice's rest).
    Neither the plain text nor its rendered pieces are ever held whole: gathered
    first, they were 125 MB more at the peak of each scrape at 50,000 targets.

    Compressed with ISA-L (``isal``: a gzip stream as zlib's, 4 times faster than
    zlib at level 1, 11 against 46 ms for the 19 MB of 10,000 targets, and as small;
    both release the GIL)."""
    compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)
    out: list[bytes] = []
    async for text in _batches(parts, share):
        out.append(await share.meanwhile(asyncio.to_thread(compressor.compress, text)))
    out.append(compressor.flush())
    return b"".join(out)


async def streamed(
    parts: list[Part], share: LoopShare, write: Callable[[bytes], Awaitable[None]]
) -> None:
    """The plain body written as it is rendered (:func:`_batches`), a batch at a time,
    each write waiting for the client as the socket's flow control says (that wait is
    the slice's rest). Joined whole and handed to the transport at once, the 125 MB of
    a 50,000-target body were copied into its buffer on the loop: runs started up to
    250 ms late."""
    async for text in _batches(parts, share):
        await share.meanwhile(write(text))
        # A write that finds room in the transport's buffer returns without yielding,
        # and the slice it ended restarts: without this rest, a client that reads fast
        # had the loop render the whole body without a break (runs 0.5 s late).
        await share.rest()
