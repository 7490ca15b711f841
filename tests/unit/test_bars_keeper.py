"""The status page keeps itself ready between requests while a page is open (and after the start).

Its uptime bars are drawn anew before they expire, and its rows brought up to
date and rendered, so that a load finds them done. A fake wall clock (what the
page shows), the project's fake monotonic clock for the keeper's watch window
and waits (``tests.fakes.FakeClock``), a counting ``api_uptime``, and for the
rows a real config and policy over hand-made states: no sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from monitor.engine.availability import MonitorHistory
from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import topology_for
from monitor.engine.policy import Policy
from monitor.engine.state import Health, TargetState, World
from monitor.engine.uptime import Baseline, Buckets
from monitor.web import status_page
from monitor.web.page_locale import Locale
from monitor.web.status_page import BARS_LEAD, BARS_VIEWED, ROWS_EVERY, StatusPage
from monitor.web.uptime_view import TTL
from tests.fakes import FakeClock

NOW = 1_796_500_000.0


class Backend:
    """What the keeper asks of the daemon: its config and states, and the buckets."""

    def __init__(self) -> None:
        self.monitor = MonitorHistory()
        self.monitor.set_period(NOW - 86400, None)
        self.drawn = 0
        self.ready = True

    def page_state(self) -> tuple[Any, Any]:
        config = SimpleNamespace(
            monitor=SimpleNamespace(language="en", timezone="Asia/Ho_Chi_Minh"), targets=[]
        )
        policy = SimpleNamespace(states={}, world=World(), maintenance={})
        return config, policy

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
        # Fresh again: the keeper's passes (every ROWS_EVERY) do not draw them anew
        # until they come within the lead of their expiry.
        page.watched()
        await timer.advance(TTL - BARS_LEAD - 1)
        assert backend.drawn == 4
        wall[0] += TTL - BARS_LEAD
        await timer.advance(ROWS_EVERY)
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


CONFIG = """
[monitor]
timezone = "Asia/Ho_Chi_Minh"

[defaults]
checks = ["icmp"]

[[targets]]
name = "bts-1"
address = "127.0.0.1"
labels = { province = "P", site = "S" }

[[targets]]
name = "bts-2"
address = "127.0.0.2"
labels = { province = "P", site = "S" }

[[targets]]
name = "bts-3"
address = "127.0.0.3"
labels = { province = "P", site = "T" }
"""


class Daemon(Backend):
    """A daemon starting: not ready at first, then its targets with their states."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.ready = False
        self.states = {
            t.name: TargetState(t.name, Health.UP, NOW - 600, own=Health.UP, announced=Health.UP)
            for t in config.targets
        }

    def page_state(self) -> tuple[Any, Any]:
        policy = Policy(dict(self.states), topology_for(self.config), World(), {})
        return self.config, policy

    def api_figures(self, name: str) -> None:
        return None

    def api_alerts(self) -> dict[str, Any]:
        return {"alerts": []}

    def api_uptime(self, names: Iterable[str], edges: Sequence[float]) -> Buckets:
        self.drawn += 1
        return Buckets(Baseline(self.monitor, edges), {})


@pytest.fixture
def backend(tmp_path: Path) -> Daemon:
    """A daemon with :data:`CONFIG`'s three targets, not ready yet."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return Daemon(load_config(path))


async def test_a_large_inventory_is_made_ready_at_the_first_look_not_at_the_start(
    backend: Daemon,
) -> None:
    """Above ``ready_at_start`` targets the start renders nothing (memory for nobody);
    a page's look then keeps it ready as for any inventory."""
    backend.ready = True
    timer = FakeClock()
    page = StatusPage(backend, lambda: NOW, timer, ready_at_start=2)  # type: ignore[arg-type]
    try:
        page.watched(start=True)
        await timer.advance(ROWS_EVERY + 1)
        assert page.lines.lines == {} and backend.drawn == 0
        page.watched()  # a page loads (its request renders; the keeper keeps it after)
        await timer.advance(ROWS_EVERY + 1)
        lines = page.lines.lines
        assert sorted(lines) == ["bts-1", "bts-2", "bts-3"]
        assert all(line.html is not None for line in lines.values()) and backend.drawn == 2
    finally:
        await page.stop()


async def test_from_the_start_the_rows_are_rendered_before_a_page_asks(backend: Daemon) -> None:
    """The start counts as a look: once the daemon is ready the rows are made and rendered
    and the bars drawn; a row that changes is rendered anew at the next pass, alone."""
    wall = [NOW]
    timer = FakeClock()
    page = StatusPage(backend, lambda: wall[0], timer)  # type: ignore[arg-type]
    try:
        page.watched(start=True)  # as the application's start does
        await timer.advance(1)
        assert page.lines.lines == {} and backend.drawn == 0  # not ready: nothing asked
        backend.ready = True
        await timer.advance(1)
        lines = page.lines.lines
        assert sorted(lines) == ["bts-1", "bts-2", "bts-3"]
        assert all(line.html is not None for line in lines.values())
        assert 'data-state="up"' in str(lines["bts-2"].html)
        assert backend.drawn == 2  # days and hours: the bars too
        kept = {name: line.html for name, line in lines.items()}
        # bts-2 goes down; the next pass renders it, and only it.
        backend.states["bts-2"] = TargetState(
            "bts-2",
            Health.DOWN,
            NOW + 5,
            own=Health.DOWN,
            announced=Health.DOWN,
            outage_start=NOW + 5,
            outage_cause="check:icmp",
        )
        wall[0] += ROWS_EVERY
        # the next pass (its wait counts from the end of the last, which rested between
        # its chunks of work: a few milliseconds)
        await timer.advance(ROWS_EVERY + 1)
        lines = page.lines.lines
        assert 'data-state="down"' in str(lines["bts-2"].html)
        assert lines["bts-1"].html is kept["bts-1"] and lines["bts-3"].html is kept["bts-3"]
        # A page load now renders no row: every one is ready.
        rendered = page.render_rows(lines.values(), page.locale())
        assert rendered == 0
    finally:
        await page.stop()


async def test_the_groups_are_rendered_again_only_when_something_in_them_changed(
    backend: Daemon,
) -> None:
    """A load of a quiet overview reuses the rendered groups; a row that changes, or a new
    drawing of the bars, renders them anew."""
    backend.ready = True
    wall = [NOW]
    page = StatusPage(backend, lambda: wall[0], FakeClock())  # type: ignore[arg-type]
    loc = page.locale()
    first, _ = page.groups(page.overview(loc).lines, loc)
    assert str(first).count('<tr class="t"') == 3
    again, _ = page.groups(page.overview(loc).lines, loc)
    assert again is first  # nothing changed: not rendered again
    backend.states["bts-3"] = TargetState(
        "bts-3", Health.DOWN, NOW, own=Health.DOWN, announced=Health.DOWN
    )
    changed, _ = page.groups(page.overview(loc).lines, loc)
    assert changed is not first and 'data-state="down"' in str(changed)
    wall[0] += TTL + 1  # the bars expire: drawn anew, so the groups are rendered anew
    later = page.locale()
    redrawn, _ = page.groups(page.overview(later).lines, later)
    assert redrawn is not changed and backend.drawn == 4


async def test_the_keepers_chunked_update_makes_the_rows_a_request_would(
    backend: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keeper brings the rows up to date a chunk at a time (a rest between two):
    the same rows and generation as one update; and when a request updates the rows
    during a rest, the keeper's partial work is dropped (the request's rows are newer)."""
    monkeypatch.setattr(status_page, "LINES_CHUNK", 2)  # three targets: two chunks
    page = StatusPage(backend, lambda: NOW, FakeClock())  # type: ignore[arg-type]
    config, policy = backend.page_state()
    loc = page.locale()
    rests: list[int] = []

    async def rest() -> None:
        rests.append(len(rests))

    chunked, whole = status_page.Lines(), status_page.Lines()
    assert await chunked.update_in_chunks(config, policy, {}, loc, rest)
    whole.update(config, policy, {}, loc)
    assert rests == [0]
    assert chunked.generation == whole.generation == 1
    assert {n: line.key for n, line in chunked.lines.items()} == {
        n: line.key for n, line in whole.lines.items()
    }

    backend.states["bts-1"] = TargetState(
        "bts-1", Health.DOWN, NOW, own=Health.DOWN, announced=Health.DOWN
    )
    config, policy = backend.page_state()

    async def a_request_meanwhile() -> None:
        chunked.update(config, policy, {}, loc)

    before = chunked.generation
    assert not await chunked.update_in_chunks(config, policy, {}, loc, a_request_meanwhile)
    assert chunked.generation == before + 1  # the request's update, not a second one
    assert chunked.lines["bts-1"].row.state == "down"


async def test_availability_is_refreshed_in_chunks_when_stale_and_forgets_removed_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_page, "FIGURES_CHUNK", 2)
    computed: list[str] = []

    class Figures:
        def api_figures(self, name: str) -> None:
            computed.append(name)

    wall = [NOW]
    availability = status_page._Availability(Figures(), lambda: wall[0])  # type: ignore[arg-type]
    states = {n: TargetState(n, Health.UP, NOW - 60) for n in ("a", "b", "c")}
    rests: list[None] = []

    async def rest() -> None:
        rests.append(None)

    await availability.refresh(states, list(states), rest)
    assert computed == ["a", "b", "c"] and len(rests) == 1  # two chunks
    computed.clear()
    await availability.refresh(states, list(states), rest)
    assert computed == []  # fresh: nothing again
    states["b"] = TargetState("b", Health.DOWN, NOW, outage_start=NOW)
    await availability.refresh(states, list(states), rest)
    assert computed == ["b"]  # its outage opened: at once
    wall[0] += status_page.FIGURES_TTL + 1
    computed.clear()
    del states["c"]
    availability.of(states, list(states))  # a request finds them stale: computed there
    assert computed == ["a", "b"]
    await availability.refresh(states, list(states), rest)
    assert "c" not in availability.of(states, list(states))  # removed by a reload: forgotten
