"""The status page keeps its uptime bars drawn between requests while a page is open.

A fake wall clock (what the page shows) and a counting ``api_uptime``; the
keeper's own waits are real but short (it wakes at least a second apart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

from monitor.engine.availability import MonitorHistory
from monitor.engine.uptime import Baseline, Buckets
from monitor.web.page_locale import Locale
from monitor.web.status_page import BARS_LEAD, StatusPage
from monitor.web.uptime_view import TTL

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
    clock = [NOW]
    page = StatusPage(backend, lambda: clock[0])  # type: ignore[arg-type]
    page.bars.draw({}, {}, Locale("en", page.locale().zone, NOW))
    assert backend.drawn == 2  # days and hours
    try:
        # Within the lead of the expiry: drawn anew, without any request.
        clock[0] = NOW + TTL - BARS_LEAD + 0.5
        page.watched()
        for _ in range(40):
            if backend.drawn > 2:
                break
            await asyncio.sleep(0.1)
        assert backend.drawn == 4
        assert page.bars.expires_in(clock[0]) == TTL  # a page load now finds them fresh
        # Fresh again: the keeper waits for the next expiry rather than drawing on.
        page.watched()
        await asyncio.sleep(1.5)
        assert backend.drawn == 4
    finally:
        await page.stop()
