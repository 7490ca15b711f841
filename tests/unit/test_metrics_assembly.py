"""``/metrics`` assembly: a small scrape renders its deferred parts at once, a large one
on the loop in slices (their slicing: tests/unit/test_metrics_body.py)."""

from __future__ import annotations

import asyncio
import gzip
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp.test_utils import make_mocked_request

from monitor.engine.exporter import Deferred, Part, weight
from monitor.web.server import THREAD_PARTS, _Handlers, assemble
from tests.fakes import MetricsBackend


def _deferred(series: int, seen: list[int]) -> Deferred:
    def pieces() -> Iterator[bytes]:
        seen.append(threading.get_ident())
        yield b"".join(b'x_bucket{le="%d"} 1\n' % i for i in range(series))

    return Deferred(pieces, series)


def test_weight_counts_the_series_a_deferred_part_will_write() -> None:
    assert weight([b"# HELP x\n", _deferred(40, []), b"y 1\n"]) == 3 + 40


def test_assemble_renders_deferred_parts_in_place_and_gzips_the_whole() -> None:
    seen: list[int] = []
    parts: list[Part] = [b"# HELP x_bucket h\n" * 300, _deferred(3, seen), b"y 1\n"]
    body, gzipped = assemble(parts, compress=True)
    text = gzip.decompress(body)
    assert gzipped and seen == [threading.get_ident()]
    assert text.endswith(b'x_bucket{le="0"} 1\nx_bucket{le="1"} 1\nx_bucket{le="2"} 1\ny 1\n')


def _scrape(parts: list[Part]) -> Any:
    async def run() -> Any:
        request = make_mocked_request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        return await _Handlers(MetricsBackend(parts)).metrics(request)  # type: ignore[arg-type]

    return asyncio.run(run())


def test_deferred_parts_heavy_or_light_are_rendered_on_the_loop() -> None:
    # Rendered in a thread, their Python code held the GIL the loop needs after each of
    # its system calls (metrics_body's docstring); only the compression is the thread's.
    loop_thread = threading.get_ident()  # asyncio.run runs the loop in this thread
    heavy: list[int] = []
    response = _scrape([b"# HELP x_bucket h\n", _deferred(THREAD_PARTS + 1, heavy)])
    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.body).count(b"\n") == THREAD_PARTS + 2
    assert heavy == [loop_thread]
    light: list[int] = []
    _scrape([b"# HELP x_bucket h\n", _deferred(10, light)])
    assert light == [loop_thread]
