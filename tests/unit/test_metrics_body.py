"""A large ``/metrics`` body: deferred parts rendered on the loop in slices, then
compressed in a thread or written to the client a batch at a time.

Pure logic with a fake clock (slices, scan, batches); then the real handler on a
real aiohttp server, scraped while ``/-/healthy`` is polled from another thread.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest
from aiohttp import web

from monitor.engine.exporter import Deferred, Part, resolve
from monitor.web import metrics_body
from monitor.web.metrics_body import SCAN, LoopShare
from monitor.web.server import THREAD_PARTS, _Handlers
from tests.fakes import MetricsBackend


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Rests:
    """The pause between slices, recorded (at the fake clock's time)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.at: list[float] = []

    async def __call__(self) -> None:
        self.at.append(self.clock.now)


def _sliced(
    name: bytes, pieces: int, clock: FakeClock | None = None, cost: float = 0.0
) -> Deferred:
    """A deferred part of ``pieces`` pieces, each advancing ``clock`` by ``cost``."""

    def each() -> Iterator[bytes]:
        for i in range(pieces):
            if clock is not None:
                clock.now += cost
            yield b'%s_bucket{i="%d"} %d\n' % (name, i, i)

    return Deferred(each, pieces)


def _run(share: LoopShare, parts: list[Part]) -> bytes:
    """The plain body as :func:`metrics_body.streamed` writes it (the last write ends
    the last slice)."""
    written: list[bytes] = []

    async def write(text: bytes) -> None:
        written.append(text)

    async def go() -> bytes:
        share.begin()
        await metrics_body.streamed(parts, share, write)
        return b"".join(written)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("cost", "pieces", "rests", "longest"),
    [
        (0.002, 10, [0.006, 0.012, 0.018], 0.006),  # 3 pieces (6 ms) a slice, a rest after
        (0.001, 4, [], 0.004),  # all within one slice
        (0.006, 3, [0.006, 0.012, 0.018], 0.006),  # a piece over the budget: a rest after each
    ],
)
def test_pieces_are_rendered_in_slices_with_a_rest_when_the_budget_is_spent(
    cost: float, pieces: int, rests: list[float], longest: float
) -> None:
    clock = FakeClock()
    pause = Rests(clock)
    share = LoopShare(clock=clock, pause=pause, budget=0.005)
    parts: list[Part] = [b"# HELP x_bucket h\n", _sliced(b"x", pieces, clock, cost), b"y 1\n"]
    body = _run(share, parts)
    assert body == b"".join(resolve(parts))  # the same bytes as the unsliced join
    # then one more rest, after the body's one write (at the end of the rendering)
    assert pause.at == pytest.approx([*rests, cost * pieces])
    assert share.slices == len(rests) + 2  # the write's own slice boundary, then the rest
    assert share.total == pytest.approx(cost * pieces)
    assert share.longest == pytest.approx(longest)


def test_deferred_parts_are_found_across_the_scans_steps() -> None:
    """The scan looks at SCAN parts a step: parts on each side of a step's edge, the
    first and the last part, are all found, and everything between keeps its order."""
    texts: list[Part] = [b"%d\n" % i for i in range(2 * SCAN + 10)]
    for position in (0, SCAN - 1, SCAN, 2 * SCAN + 9):
        texts[position] = _sliced(b"d%d" % position, 2)
    clock = FakeClock()
    pause = Rests(clock)
    body = _run(LoopShare(clock=clock, pause=pause), texts)
    assert body == b"".join(resolve(texts))


def _mixed() -> list[Part]:
    """More parts than one scan step takes, deferred parts among them."""
    parts: list[Part] = [b"%d\n" % i for i in range(SCAN * 2 + 3)]
    parts[5] = _sliced(b"a", 4)
    parts[SCAN] = _sliced(b"b", 3)
    parts[-1] = _sliced(b"c", 2)
    return parts


@pytest.mark.parametrize("batch", [10, 1 << 20])
def test_a_plain_body_is_written_as_it_is_rendered_and_is_the_unsliced_join(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain path writes a batch at a time (a tiny batch: a write after nearly every
    piece), each write ending a slice; what the client gets is the unsliced join."""
    monkeypatch.setattr(metrics_body, "BATCH", batch)
    parts = _mixed()
    clock = FakeClock()
    pause = Rests(clock)
    share = LoopShare(clock=clock, pause=pause)
    written: list[bytes] = []

    async def write(text: bytes) -> None:
        written.append(text)

    async def go() -> None:
        share.begin()
        await metrics_body.streamed(parts, share, write)

    asyncio.run(go())
    assert b"".join(written) == b"".join(resolve(parts))
    assert len(written) > (6 if batch == 10 else 0)
    assert len(pause.at) == len(written)  # a rest after every write, yielding or not
    assert max(map(len, written)) < (1 << 20 if batch == 10 else 2 << 20)


@pytest.mark.parametrize("batch", [10, 1 << 20])
def test_a_gzipped_body_is_compressed_as_it_is_rendered_and_is_the_unsliced_join(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gzip path renders the pieces on the loop and hands them to a thread's
    compressor a batch at a time (a tiny batch: a hand-over after nearly every piece),
    each hand-over ending a slice; the member is the unsliced join's text."""
    monkeypatch.setattr(metrics_body, "BATCH", batch)
    parts = _mixed()
    clock = FakeClock()
    share = LoopShare(clock=clock, pause=Rests(clock))

    async def go() -> bytes:
        share.begin()
        body = await metrics_body.gzipped(parts, share, 1)
        share.end()
        return body

    body = asyncio.run(go())
    assert gzip.decompress(body) == b"".join(resolve(parts))
    assert share.slices > (6 if batch == 10 else 0)


def test_no_deferred_part_one_write_one_rest_and_the_parts_unchanged() -> None:
    clock = FakeClock()
    pause = Rests(clock)
    parts: list[Part] = [b"a 1\n", b"b 2\n"]
    assert _run(LoopShare(clock=clock, pause=pause), parts) == b"a 1\nb 2\n"
    assert pause.at == [0.0] and parts == [b"a 1\n", b"b 2\n"]


PIECE_SECONDS = 0.002
PIECES = 150


def _busy_pieces(threads: set[int]) -> Deferred:
    """300 ms of Python work on whatever thread renders it, 2 ms a piece."""

    def each() -> Iterator[bytes]:
        for i in range(PIECES):
            threads.add(threading.get_ident())
            end = time.perf_counter() + PIECE_SECONDS
            while time.perf_counter() < end:
                pass
            yield b'x_bucket{i="%d"} %d\n' % (i, i) * 40

    return Deferred(each, PIECES * 40)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read(), response.headers.get("Content-Encoding") or ""


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_large_scrape_keeps_the_loop_answering_and_its_body_is_the_unsliced_join(
    gzipped: bool,
) -> None:
    """300 ms of rendering at the scrape: on the loop, in slices; ``/-/healthy`` polled
    every 10 ms from another thread meanwhile never waits for all of it. Gzipped (as
    Prometheus asks) or plain (written to the client as it is rendered)."""
    threads: set[int] = set()
    parts: list[Part] = [b"# HELP x_bucket h\n", *[b"y 1\n"] * THREAD_PARTS, _busy_pieces(threads)]
    backend = MetricsBackend(parts)
    expected = b"".join(resolve([p for p in parts if isinstance(p, bytes)]))

    async def serve() -> tuple[bytes, str, float, int]:
        handlers = _Handlers(backend)  # type: ignore[arg-type]
        app = web.Application()
        app.router.add_get("/metrics", handlers.metrics)
        app.router.add_get("/-/healthy", handlers.healthy)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            scrape = await asyncio.to_thread(_scrape_while_polling, port, gzipped)
            return (*scrape, threading.get_ident())
        finally:
            await runner.cleanup()

    body, coding, worst, loop_thread = asyncio.run(serve())
    assert coding == ("gzip" if gzipped else "")
    text = gzip.decompress(body) if gzipped else body
    rendered = b"".join(b'x_bucket{i="%d"} %d\n' % (i, i) * 40 for i in range(PIECES))
    assert text == expected + rendered
    assert threads == {loop_thread}  # rendered on the loop, not in a thread
    assert worst < 0.1, f"/-/healthy waited {worst * 1000:.0f} ms during the scrape"
    gauges = {
        line.split()[0]: float(line.split()[1])
        for line in backend.self_metrics.render().decode().splitlines()
        if line.startswith("continuity_metrics_render")
    }
    assert gauges["continuity_metrics_render_seconds"] >= PIECES * PIECE_SECONDS
    assert 0 < gauges["continuity_metrics_render_slice_seconds"] < 0.1


def _scrape_while_polling(port: int, gzipped: bool) -> tuple[bytes, str, float]:
    worst = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal worst
        while not done.is_set():
            start = time.perf_counter()
            _get(port, "/-/healthy")
            worst = max(worst, time.perf_counter() - start)
            done.wait(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.05)
    try:
        body, coding = _get(port, "/metrics", {"Accept-Encoding": "gzip" if gzipped else ""})
    finally:
        done.set()
        poller.join(10)
    return body, coding, worst
