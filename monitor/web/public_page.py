"""An optional public status page (``[public]``): a chosen subset of targets and fields.

For customers or the public, not the NOC: it shows only the targets whose
labels match ``match``, only the chosen ``fields`` (state, since,
availability, reason in words), never addresses, probe messages, labels,
contacts or alerts. It is served on its own listener (``[public] listen``),
a separate aiohttp application with nothing else mounted on it, so no API
and no NOC page is reachable there and it needs no credentials even when
``[web]`` requires basic auth on the main port. The page is rendered on the
server (autoescaping template) and refreshes itself with a meta refresh, so
it runs no script at all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from monitor.i18n import reason_word
from monitor.web.api import api_state
from monitor.web.page_locale import Locale
from monitor.web.status_page import (
    SECURITY_HEADERS,
    STATIC_DIR,
    TEMPLATE_DIR,
    StaticFiles,
    WallTime,
    availability_level,
    short_history,
)

if TYPE_CHECKING:
    from monitor.engine.config import Config, PublicSection, Target
    from monitor.engine.state import TargetState, World
    from monitor.web.backend import Backend


def selected(section: PublicSection, target: Target) -> bool:
    """Whether the public page shows ``target`` (all of ``match`` on its labels)."""
    return all(
        target.labels.get(k) == v or (k == "target" and target.name == v)
        for k, v in section.match.items()
    )


def public_row(
    target: Target,
    state: TargetState,
    world: World,
    ratios: Mapping[str, float | None],
    loc: Locale,
    *,
    observed_since: float | None = None,
) -> dict[str, Any]:
    """One target as the public sees it: no address, no message, no labels.

    A window longer than the target's history says since when (``since 11:54``).
    """
    shown = api_state(state, world)
    failures = [
        reason_word(check.last.reason, loc.t)
        for check in state.checks.values()
        if check.last is not None and not check.last.ok
    ]
    return {
        "name": target.name,
        "state": shown,
        "state_text": loc.state(shown),
        "since": loc.full_time(state.since),
        "availability": [
            (
                loc.t.get(f"availability.{w}", w),
                loc.percent(r),
                availability_level(r),
                short_history(observed_since, w, loc),
            )
            for w, r in ratios.items()
        ],
        "reason": "" if shown == "up" else "; ".join(dict.fromkeys(failures)),
    }


class PublicPage:
    """The handler of ``GET /`` on the public listener."""

    def __init__(self, backend: Backend, clock: WallTime = time.time) -> None:
        self.backend = backend
        self.clock = clock
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def rows(self, config: Config, section: PublicSection, loc: Locale) -> list[dict[str, Any]]:
        _, policy = self.backend.page_state()
        states, world = policy.states, policy.world
        out = []
        for target in config.targets:
            if not selected(section, target) or target.name not in states:
                continue
            ratios: Mapping[str, float | None] = {}
            since = None
            if "availability" in section.fields:
                figures = self.backend.api_figures(target.name)
                all_ratios = figures.availability if figures is not None else {}
                ratios = {w: all_ratios.get(w) for w in ("24h", "30d")}
                since = figures.observed_since if figures is not None else None
            out.append(
                public_row(target, states[target.name], world, ratios, loc, observed_since=since)
            )
        return out

    async def index(self, _: web.Request) -> web.Response:
        config = self.backend.page_state()[0]
        section = config.public
        if section is None:  # removed by a reload: the listener stays until restart
            return web.Response(status=404, text="no public page configured\n")
        loc = Locale(config.monitor.language, ZoneInfo(config.monitor.timezone), self.clock())
        html = self.env.get_template("public.html").render(
            t=loc.t,
            lang=loc.language,
            title=section.title or loc.t["title"],
            fields=section.fields,
            rows=self.rows(config, section, loc),
            refresh=round(section.refresh),
            now_text=loc.full_time(loc.now),
        )
        return web.Response(text=html, content_type="text/html", headers=SECURITY_HEADERS)


class PublicServer:
    """The public page on its own address; started by the daemon when ``[public]`` is set."""

    def __init__(self, backend: Backend, clock: WallTime = time.time) -> None:
        app = web.Application(client_max_size=1024)
        page = PublicPage(backend, clock)
        app.router.add_get("/", page.index)
        app.router.add_get("/static/{file}", StaticFiles(STATIC_DIR).handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or None, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise

    async def stop(self) -> None:
        await self._runner.cleanup()
