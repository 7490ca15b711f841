"""The status page keeps its uptime bars drawn between requests while a page is open.

A fake wall clock (what the page shows), the project's fake monotonic clock
for the keeper's watch window and waits (``tests.fakes.FakeClock``), and a
counting ``api_uptime``: no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from monitor.engine.availability import MonitorHistory
from monitor.engine.uptime import Baseline, Buckets
from monitor.web.page_locale import Locale
from monitor.web.status_page import BARS_LEAD, BARS_VIEWED, StatusPage
from monitor.web.uptime_view import TTL
from tests.fakes import FakeClock

NOW = 1_796_500_000.0


class Backend:
    """What the keeper asks of the daemon: its config and states, and the buckets."""

    def __init__(self) -> None:
        self.monitor = MonitorHistory()
        self.monitor.set_period(NOW - 86400, None)
        self.drawn = 0

    def page_state(self) -> tuple[Any, Any]:
        config = SimpleNamespace(
            monitor=SimpleNamespace(language="en", timezone="Asia/Ho_Chi_Minh"), targets=[]
        )
        return config, SimpleNamespace(states={})

    def api_uptime(self, names: Iterable[str], edges: Sequence[float]) -> Buckets:
        self.drawn += 1
        return Buckets(Baseline(self.monitor, edges), {})


async def test_bars_are_drawn_anew_before_they_expire_while_watched() -> None:
    backend = Backend()
    wall = [NOW]
    timer = FakeClock()
    page = StatusPage(backend, lambda: wall[0], timer)  # type: ignore[arg-type]
    page.bars.draw({}, {}, Locale("en", page.locale().zone, NOW))
    assert backend.drawn == 2  # days and hours
    try:
        # Within the lead of the expiry: drawn anew after the keeper's shortest wait.
        wall[0] = NOW + TTL - BARS_LEAD + 0.5
        page.watched()
        await timer.advance(0.5)
        assert backend.drawn == 2
        await timer.advance(0.5)
        assert backend.drawn == 4
        assert page.bars.expires_in(wall[0]) == TTL  # a page load now finds them fresh
        # Fresh again: the keeper waits for the next expiry rather than drawing on.
        page.watched()
        await timer.advance(TTL - BARS_LEAD - 1)
        assert backend.drawn == 4
        wall[0] += TTL - BARS_LEAD
        await timer.advance(1)
        assert backend.drawn == 6
    finally:
        await page.stop()


async def test_the_keeper_stops_when_nobody_looks() -> None:
    backend = Backend()
    wall = [NOW]
    timer = FakeClock()
    page = StatusPage(backend, lambda: wall[0], timer)  # type: ignore[arg-type]
    page.bars.draw({}, {}, Locale("en", page.locale().zone, NOW))
    try:
        page.watched()
        # The wall clock keeps pace with the timer; the bars expire every TTL.
        for _ in range(int(BARS_VIEWED // TTL) + 3):
            wall[0] += TTL
            await timer.advance(TTL)
        drawn = backend.drawn
        assert drawn > 2
        assert page._keeper is not None and page._keeper.done()
        wall[0] += 10 * TTL
        await timer.advance(10 * TTL)
        assert backend.drawn == drawn  # nobody watching: no drawing
    finally:
        await page.stop()
