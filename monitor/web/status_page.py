"""The status page served by the daemon: ``/``, ``/targets/{name}`` and their data.

``/`` lists every target grouped by province and site (the ``province`` and
``site`` labels) with its state, since when, availability over 24 h and 30 d,
when it is not up, why, and its uptime bars (:mod:`monitor.web.uptime_view`; also
per site and province); a banner on top lists the ongoing incidents (one
per root cause, the targets out because of it folded under it in a
``<details>``, see :func:`incidents`) and the active alerts; under it the power board of the
sites on battery (:mod:`monitor.web.power_board`).
``/targets/{name}`` shows one target in full: its part in an incident (role,
root cause, consequences, why its alerts are held back), a latency and loss
graph per check over ``?range=`` (SVG from :mod:`monitor.web.history_view`, reused
for :data:`SMOKE_TTL` seconds), checks and their
last results, recent outages, parents and children, location, the silences
and maintenance windows that apply to it (asked of the daemon, which matches
them where alerting does). The page's script refreshes both every few seconds
without reloading: ``/status/summary?after=G`` returns the counts, the
banner and only the rows changed after generation ``G`` (see :class:`Lines`),
``/status/targets/{name}`` one target's state and checks; texts come already
formatted in the page's language, so the script only places text
(``textContent``) and never parses HTML.

HTML comes only from the autoescaping Jinja2 environment made in
:func:`add_status_routes` (one per application, so per daemon); JSON only
from ``json.dumps``. Everything the page loads (CSS, script, icon) is served
from ``/static/`` by the daemon itself, and a Content-Security-Policy forbids
anything else, so the page works on a NOC network without Internet access.

Cost at ten thousand targets (measured on the daemon with 10k loopback
targets): a row is rebuilt and re-rendered only when what it shows changed,
so a first paint costs about 0.1 s when rows are known and 0.5 s when all
changed, and a refresh of a quiet network a few hundred bytes. Availability
comes from the store's in-memory figures (about 1 µs a target without an
outage in the last 30 days, whose figures the store keeps until they can
change; 5-10 µs with one), reused for :data:`FIGURES_TTL` seconds as the
exporter does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from monitor.clock import Clock, LoopClock
from monitor.engine.availability import WINDOWS as WINDOW_SECONDS
from monitor.engine.policy import Policy, Role
from monitor.i18n import (
    alert_cause,
    alert_title,
    cause_words,
    detail_words,
    failure_words,
    reason_word,
)
from monitor.redact import redact_url
from monitor.web import units
from monitor.web.api import api_state, parse_rfc3339
from monitor.web.history_view import DEFAULT_RANGE, RANGES, smoke
from monitor.web.page_locale import Locale
from monitor.web.power_board import board_rows
from monitor.web.uptime_view import Drawn, UptimeBars

if TYPE_CHECKING:  # monitor.web mounts this module's routes, so it cannot be imported here
    from monitor.engine.availability import Figures
    from monitor.engine.config import Config, Target
    from monitor.engine.state import TargetState, World
    from monitor.web.backend import Backend

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # monitor/: templates, static
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

REFRESH_SECONDS = 5.0  # how often the page's script fetches the summary
RELOAD_ISSUES_SHOWN = 5  # problems of a refused config shown on the page (all in the log)
FIGURES_TTL = 15.0  # seconds availability figures are reused (as in the exporter)
BANNER_LIMIT = 50  # incidents and alerts listed in the banner; the rest are counted
CONSEQUENCES_LISTED = 50  # consequences listed under one incident; the rest are counted
FIRST_NAMES = 3  # consequences named in an incident's one-line summary
RECENT_OUTAGES = 20
SMOKE_TTL = 10.0  # seconds a target's smoke graph is reused (its shortest step is a minute)
SMOKE_CACHED = 256  # graphs kept (target, range, language); the oldest goes first
BARS_VIEWED = 300.0  # seconds after a page load or refresh (or the start) the page is kept ready
BARS_LEAD = 5.0  # seconds before they expire that the bars are drawn anew, between requests
ROWS_EVERY = 15.0  # seconds between the keeper's passes over the rows (as FIGURES_TTL)
ROWS_CHUNK = 500  # rows rendered by the keeper between two turns of the event loop
KEEPER_REST = 0.001
"""Seconds the keeper leaves the loop to itself between two chunks of its work. Not
``sleep(0)``: a task whose timer fell due during a chunk is woken one loop iteration
later, behind the next chunk (see ``monitor.web.metrics_body.REST``)."""
LINES_CHUNK = 1000
"""Targets whose rows the keeper brings up to date between two rests (about 10 ms)."""
FIGURES_CHUNK = 250
"""Targets whose availability the keeper computes between two turns of the event loop
(about 10 ms: every target's at once held the loop 90 ms at 10,000 targets)."""
READY_AT_START = 10_000
"""Inventories up to this size have the overview made ready at start, before anyone looks.

Keeping it ready holds every row's HTML, figures and bars: about 3.7 KB a target
(185 MB at 50,000 targets, measured; bench/README.md, issue 14 session 5). Up to the
size the page is built and measured for, the first visit is worth that; above it the
overview is made at the first visit, and a daemon nobody looks at does not pay for it."""

STATES = ("down", "unreachable", "flapping", "isolated", "unknown", "maintenance", "up")
"""Every state the API can show, worst first (the order of filters and counts)."""
PROBLEM_STATES = frozenset({"down", "unreachable", "flapping", "isolated"})
INCIDENT_STATES = frozenset({"down", "unreachable", "flapping"})
"""States that make an incident without an open outage (isolation is the banner's notice)."""

# Only what the daemon serves itself; inline scripts and styles are refused too.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

WallTime = Callable[[], float]
"""UNIX time now for what a page shows (``time.time``; tests fix it); the
daemon's scheduling clock is :class:`monitor.clock.Clock`."""


def availability_level(ratio: float | None) -> str:
    """A CSS class: ``good`` from three nines, ``fair`` from two, else ``poor``."""
    if ratio is None:
        return "none"
    if ratio >= 0.999:
        return "good"
    return "fair" if ratio >= 0.99 else "poor"


def path_segment(name: str) -> str:
    """A target name as one URL path segment (``/`` and every other reserved byte quoted)."""
    return quote(name, safe="")


def _timestamp(text: str | None) -> float | None:
    return None if text is None else parse_rfc3339(text)


# -- reasons -----------------------------------------------------------------------

Failure = tuple[str, str, str]
"""A check whose last run failed: (kind, reason code, message)."""

# Why a target is in a state when no check says it (texts keys).
_FALLBACK_REASONS = {
    "isolated": "reason.isolated",
    "flapping": "reason.flapping",
    "unknown": "reason.pending",
}


def reason_text(
    state: str,
    cause: str | None,
    failures: Sequence[Failure],
    t: Mapping[str, str],
    via: str | None = None,
) -> str:
    """Why a target is not up, in words; empty while it is up.

    ``via``: the ancestor whose maintenance window covers the target, if not its own.
    """
    if state == "up":
        return ""
    if state == "maintenance":
        return t["reason.maintenance_via"].format(parent=via) if via else t["reason.maintenance"]
    if cause and cause.startswith("parent:"):
        return t["reason.parent"].format(parent=cause.removeprefix("parent:"))
    if failures:
        return "; ".join(failure_words(*failure, t) for failure in failures)
    fallback = _FALLBACK_REASONS.get(state)
    return t[fallback] if fallback else cause_words(cause, t)


def state_failures(target: Target, state: TargetState) -> list[Failure]:
    """Failed last runs, from the daemon's live state (the overview's fast path)."""
    out = []
    for check in target.checks:
        check_state = state.checks.get(check.kind)
        last = check_state.last if check_state is not None else None
        if last is not None and not last.ok:
            out.append((check.kind, last.reason, last.message))
    return out


def view_failures(view: Mapping[str, Any]) -> list[Failure]:
    """Failed last runs, from a target's API view (``/api/v1/targets/{name}``)."""
    return [
        (check["check"], check["last"]["reason"], check["last"]["message"])
        for check in view["checks"]
        if check["last"] is not None and not check["last"]["ok"]
    ]


def view_reason(view: Mapping[str, Any], t: Mapping[str, str]) -> str:
    outage = view["outage"]
    via = view["maintenance_via"]
    return reason_text(
        view["state"],
        outage["cause"] if outage else None,
        view_failures(view),
        t,
        via if via != view["name"] else None,
    )


# -- the overview ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One target as a line of the overview (and as an entry of the summary).

    Nothing here moves with the clock alone (the running "for 3 h" is the
    script's, from ``since``), so a row stays the same object, and its HTML
    the same fragment, until its target changes.
    """

    name: str
    address: str
    province: str
    site: str
    state: str
    since: float | None
    since_text: str
    reason: str
    a24: str
    a24_level: str
    a30: str
    a30_level: str
    outage_start: float | None
    a24_note: str = ""
    a30_note: str = ""

    def summary(self) -> dict[str, Any]:
        """What the page's script needs to update the line."""
        return {
            "name": self.name,
            "state": self.state,
            "since": self.since,
            "since_text": self.since_text,
            "reason": self.reason,
            "a24": self.a24,
            "a24_level": self.a24_level,
            "a30": self.a30,
            "a30_level": self.a30_level,
            "a24_note": self.a24_note,
            "a30_note": self.a30_note,
        }


def short_history(observed_since: float | None, window: str, loc: Locale) -> str:
    """``since 11:54`` when the history is shorter than ``window``, else empty.

    Only the start is shown (not how long ago), so the row changes with the data,
    not with the clock."""
    width = WINDOW_SECONDS[window]
    if observed_since is None or loc.now - observed_since >= width:
        return ""
    return loc.t["availability.since"].format(time=loc.time(observed_since))


def make_row(
    target: Target,
    state: TargetState,
    shown: str,
    ratios: tuple[str, str, str, str, str, str],
    loc: Locale,
    *,
    via: str | None = None,
) -> Row:
    """``ratios``: availability 24 h text and level, 30 d text and level, then the notes
    of each window whose history is shorter (``since 11:54``).

    ``via``: the ancestor whose maintenance window covers the target, if not its own.
    """
    reason = (
        ""
        if shown == "up"
        else reason_text(shown, state.outage_cause, state_failures(target, state), loc.t, via)
    )
    return Row(
        name=target.name,
        address=redact_url(target.address),
        province=target.labels.get("province", ""),
        site=target.labels.get("site", ""),
        state=shown,
        since=state.since,
        since_text=loc.time(state.since),
        reason=reason,
        a24=ratios[0],
        a24_level=ratios[1],
        a30=ratios[2],
        a30_level=ratios[3],
        a24_note=ratios[4],
        a30_note=ratios[5],
        outage_start=state.outage_start if state.outage_cause is not None else None,
    )


Ratios = tuple[float | None, float | None, float | None]
"""Availability over 24 h and 30 d, and since when the target has been observed."""

NO_RATIOS: Ratios = (None, None, None)


@dataclass(slots=True)
class Line:
    """A row with what the cache knows about it."""

    state: TargetState  # the (immutable) state it was last checked against
    via: str | None  # the ancestor whose maintenance window covers it (changes alone)
    ratios: Ratios
    context: tuple[Any, ...]
    key: tuple[Any, ...]  # everything the row shows
    row: Row
    changed: int  # the generation that made this row
    html: Markup | None = None  # its rendered <tr> up to the bars, made when a page first needs it


class Lines:
    """The overview's rows, remade only for targets whose shown values changed.

    At ten thousand targets, building every row and rendering its HTML on
    each request costs half a second; most targets do not change between two
    requests, so each row is kept with a key of everything it shows. Every
    update that changes something is a new *generation*, and each row records
    the generation that made it: the page's script asks for rows changed
    after the generation it has (``/status/summary?after=G``). ``layout``
    changes when the targets or their grouping change (a reload), which the
    script answers by loading the page anew.
    """

    def __init__(self) -> None:
        self.lines: dict[str, Line] = {}
        self.generation = 0
        self.layout = 0
        self._config: Config | None = None
        self._places: list[tuple[str, str, str]] = []

    def update(
        self, config: Config, policy: Policy, ratios: Mapping[str, Ratios], loc: Locale
    ) -> list[Line]:
        for _ in self._updating(config, policy, ratios, loc):
            pass
        return list(self.lines.values())

    async def update_in_chunks(
        self,
        config: Config,
        policy: Policy,
        ratios: Mapping[str, Ratios],
        loc: Locale,
        rest: Callable[[], Awaitable[None]],
    ) -> bool:
        """:meth:`update`, with a ``rest()`` every :data:`LINES_CHUNK` targets (every
        target's state changes between two passes of the keeper: 70-130 ms at 10,000
        targets in one go). False, and nothing changed, when a request brought the rows
        up to date meanwhile (its rows are the newer)."""
        old = self.lines
        for _ in self._updating(config, policy, ratios, loc):
            await rest()
            if self.lines is not old:
                return False
        return True

    def _updating(
        self, config: Config, policy: Policy, ratios: Mapping[str, Ratios], loc: Locale
    ) -> Iterator[None]:
        """The update, pausing (a yield) every :data:`LINES_CHUNK` targets; the new rows
        replace the old ones only once it has run to its end."""
        states, world = policy.states, policy.world
        targets = [t for t in config.targets if t.name in states]
        self._check_layout(config, targets)
        generation = self.generation + 1
        context = (loc.today, loc.language, loc.zone.key, world.isolated)
        old, lines, changed = self.lines, {}, False
        for index, target in enumerate(targets):
            if index % LINES_CHUNK == LINES_CHUNK - 1:
                yield
            state = states.get(target.name)
            if state is None:  # a reload removed it while the update paused
                continue
            pair = ratios.get(target.name, NO_RATIOS)
            owner = policy.maintenance.get(target.name)
            via = owner if owner != target.name else None
            line = old.get(target.name)
            # States are immutable and replaced on every result: the same object
            # with the same figures and context shows the same row (the usual case).
            if line is None or not (
                line.state is state
                and line.via == via
                and line.ratios == pair
                and line.context == context
            ):
                line = self._line(
                    target,
                    state,
                    pair,
                    via=via,
                    context=context,
                    world=world,
                    loc=loc,
                    line=line,
                    generation=generation,
                )
                changed = changed or line.changed == generation
            lines[target.name] = line
        if changed or len(lines) != len(old):
            self.generation = generation
        self.lines = lines

    @staticmethod
    def _line(
        target: Target,
        state: TargetState,
        pair: Ratios,
        *,
        via: str | None,
        context: tuple[Any, ...],
        world: World,
        loc: Locale,
        line: Line | None,
        generation: int,
    ) -> Line:
        """The line of a target whose state object changed: a new row only if what it shows did."""
        shown = api_state(state, world)
        shown_ratios = (
            loc.percent(pair[0]),
            availability_level(pair[0]),
            loc.percent(pair[1]),
            availability_level(pair[1]),
            short_history(pair[2], "24h", loc),
            short_history(pair[2], "30d", loc),
        )
        key = (
            shown,
            state.since,
            state.outage_cause,
            state.outage_start,
            shown_ratios,
            context,
            via,
            None if shown == "up" else tuple(state_failures(target, state)),
        )
        if line is not None and line.key == key:
            line.state, line.via, line.ratios, line.context = state, via, pair, context
            return line
        row = make_row(target, state, shown, shown_ratios, loc, via=via)
        return Line(state, via, pair, context, key, row, generation)

    def _check_layout(self, config: Config, targets: Sequence[Target]) -> None:
        """A new layout when a reload changed the targets, their groups or the page's language."""
        if config is self._config:
            return
        places = [(t.name, t.labels.get("province", ""), t.labels.get("site", "")) for t in targets]
        places.append(("", config.monitor.language, config.monitor.timezone))
        if places != self._places:
            self.layout += 1
            self._places = places
        self._config = config


@dataclass
class SiteGroup:
    """A site's lines on the status page, under its province."""

    name: str
    lines: list[Line] = field(default_factory=list)
    html: list[Markup] = field(default_factory=list)
    """Its rows' HTML, each row's in two parts (up to its bars cell, then that cell)."""
    bars: Markup = field(default_factory=Markup)


@dataclass
class Province:
    name: str
    sites: list[SiteGroup] = field(default_factory=list)
    bars: Markup = field(default_factory=Markup)


def bar_groups(provinces: Iterable[Province]) -> dict[str, dict[str, list[str]]]:
    """Target names by province and site as shown, for the uptime bars."""
    return {
        province.name: {
            site.name: [line.row.name for line in site.lines] for site in province.sites
        }
        for province in provinces
    }


def group(lines: Iterable[Line], t: Mapping[str, str]) -> list[Province]:
    """Lines by province, then site (labels); named groups sorted, unlabelled ones last."""
    tree: dict[str, dict[str, list[Line]]] = {}
    for line in lines:
        tree.setdefault(line.row.province, {}).setdefault(line.row.site, []).append(line)

    def order(name: str) -> tuple[bool, str]:
        return (name == "", name.casefold())

    return [
        Province(
            province or t["no_province"],
            [SiteGroup(site or t["no_site"], sites[site]) for site in sorted(sites, key=order)],
        )
        for province, sites in sorted(tree.items(), key=lambda item: order(item[0]))
    ]


def counts(rows: Iterable[Row]) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for row in rows:
        out[row.state] = out.get(row.state, 0) + 1
    return out


@dataclass(frozen=True, slots=True)
class Incident:
    """One root cause and the targets out because of it: one entry of the banner."""

    root: Row
    consequences: tuple[Row, ...]

    @property
    def start(self) -> float:
        """When it began: the root cause's outage (or state) start."""
        root = self.root
        if root.outage_start is not None:
            return root.outage_start
        starts = [r.outage_start for r in self.consequences if r.outage_start is not None]
        return min(starts, default=root.since or 0.0)

    @property
    def affected(self) -> int:
        """Targets affected: the root cause and its consequences."""
        return 1 + len(self.consequences)


def incidents(lines: Iterable[Line], policy: Policy) -> list[Incident]:
    """What is wrong now, one incident per root cause, the oldest first.

    A target takes part when it has an open outage or a problem state, and
    is not in maintenance (its own window or an ancestor's). The
    policy says whether it is a root cause or hangs on one; a consequence is
    folded under its root cause (nearest first), never listed on its own, so a
    cut router with five sites behind it is one incident of six targets.
    Anything the policy does not tie to a root cause stands alone.
    """
    rows = {line.row.name: line.row for line in lines}
    folded: dict[str, list[Row]] = {}
    for row in rows.values():
        if row.state == "maintenance" or (
            row.outage_start is None and row.state not in INCIDENT_STATES
        ):
            continue  # planned work is no incident, even with an outage still open
        role, root = policy.role(row.name)
        if role is Role.CONSEQUENCE and root is not None and root in rows:
            folded.setdefault(root, []).append(row)
        else:
            folded.setdefault(row.name, [])
    out = []
    for name, members in folded.items():
        if members:
            nearest = {n: i for i, n in enumerate(policy.consequences(name))}
            members.sort(key=lambda r: (nearest.get(r.name, len(nearest)), r.name))
        out.append(Incident(rows[name], tuple(members)))
    out.sort(key=lambda incident: (incident.start, incident.root.name))
    return out


def incident_view(incident: Incident, loc: Locale) -> dict[str, Any]:
    """An incident as the banner shows it (the template and the page's script alike)."""
    root, members = incident.root, incident.consequences
    behind = ""
    if members:
        names = [row.name for row in members[:FIRST_NAMES]]
        if len(members) > FIRST_NAMES:
            names.append("…")
        key = "incident.behind_one" if len(members) == 1 else "incident.behind"
        behind = loc.t[key].format(count=len(members), names=", ".join(names))
    return {
        **_banner_row(root, loc),
        "since_text": loc.time(incident.start),
        "behind": behind,
        "affected": incident.affected,
        "consequences": [_banner_row(row, loc) for row in members[:CONSEQUENCES_LISTED]],
        "more": max(0, len(members) - CONSEQUENCES_LISTED),
    }


def _banner_row(row: Row, loc: Locale) -> dict[str, Any]:
    return {
        "name": row.name,
        "href": "/targets/" + path_segment(row.name),
        "state": row.state,
        "state_text": loc.state(row.state),
        "reason": row.reason,
    }


def alert_summary(annotations: Mapping[str, str], t: Mapping[str, str]) -> str:
    """An alert's line on the page: a state alert's reason in words, else its summary
    (a rule's, as the operator wrote it)."""
    if "reason" in annotations or "cause" in annotations:
        return alert_cause(annotations, t)
    return detail_words(annotations.get("summary") or annotations.get("description") or "", t)


def banner_alerts(alerts: Sequence[Mapping[str, Any]], loc: Locale) -> list[dict[str, Any]]:
    """Active alerts, critical ones and the oldest first."""
    ordered = sorted(
        alerts,
        key=lambda a: (a["labels"].get("severity") != "critical", a["starts_at"] or ""),
    )
    out = []
    for alert in ordered:
        labels, annotations = alert["labels"], alert["annotations"]
        target = labels.get("target", "")
        out.append(
            {
                "alertname": alert_title(labels.get("alertname", ""), loc.t),
                "severity": labels.get("severity", ""),
                "severity_text": loc.t.get(
                    f"severity.{labels.get('severity', '')}", labels.get("severity", "")
                ),
                "target": target,
                "href": "/targets/" + path_segment(target) if target else "",
                "summary": alert_summary(annotations, loc.t),
                "since_text": loc.time(_timestamp(alert["starts_at"])),
                "muted": bool(alert["muted"]),
                "notified": bool(alert.get("notified")),
            }
        )
    return out


# -- the target page ---------------------------------------------------------------


def incident_key(view: Mapping[str, Any]) -> str:
    """What the target page's incident card shows, as a short key.

    The page's script compares it on each refresh and draws the page anew
    when it changed (the card appears, goes or lists other targets): rare, so
    the card is drawn by the template alone.
    """
    parts = [view["role"], view["root_cause"] or "", view["muted"] or "", *view["consequences"]]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def muted_text(muted: str | None, t: Mapping[str, str]) -> str:
    """Why the policy holds back a target's alerts, in words (empty when it does not)."""
    if muted is None:
        return ""
    if muted.startswith("maintenance via "):
        return t["muted.maintenance_via"].format(parent=muted.removeprefix("maintenance via "))
    return t.get(f"muted.{muted}", muted)


def window_text(window: Mapping[str, Any], loc: Locale) -> str:
    """``2026-11-29 02:00 - 2026-11-29 04:00`` or ``every sun at 02:00 for 2 h 0 min``."""
    schedule = window["schedule"]
    if schedule is not None:
        weekday = schedule["weekday"]
        days = ", ".join(weekday) if isinstance(weekday, list) else weekday
        return loc.t["every"].format(
            weekday=days, at=schedule["at"], duration=loc.duration(schedule["duration"])
        )
    start, end = _timestamp(window["start"]), _timestamp(window["end"])
    return f"{loc.full_time(start)} \u2013 {loc.full_time(end)}"


def check_rows(target: Mapping[str, Any], loc: Locale) -> list[dict[str, Any]]:
    """The checks of a target as the detail page and its script show them."""
    out = []
    for check in target["checks"]:
        last = check["last"]
        since = _timestamp(check["since"])
        out.append(
            {
                "check": check["check"],
                "state": check["state"],
                "state_text": loc.state(check["state"]),
                "since_text": loc.time(since),
                "result": "" if last is None else ("ok" if last["ok"] else "failed"),
                "result_text": ""
                if last is None
                else loc.t["result.ok" if last["ok"] else "result.failed"],
                "reason": "" if last is None or last["ok"] else reason_word(last["reason"], loc.t),
                "message": "" if last is None else detail_words(last["message"], loc.t),
                "duration": "—" if last is None else f"{last['duration_seconds'] * 1000:.1f} ms",
                "at_text": "—" if last is None else loc.time(_timestamp(last["at"])),
                "values": "" if last is None else _values_text(last["values"], loc.t),
            }
        )
    return out


def _values_text(values: Mapping[str, Any], t: Mapping[str, str]) -> str:
    """``jitter 0.03 ms · packet loss 0 %``: a label people read, the value in its unit."""
    return " · ".join(
        f"{t.get('value.' + key, units.label(key))} {units.amount(key, float(value), t)}"
        for key, value in sorted(values.items())
        if isinstance(value, int | float) and not isinstance(value, bool)
    )


def outage_rows(outages: Sequence[Mapping[str, Any]], loc: Locale) -> list[dict[str, str]]:
    """The most recent outages, newest first."""
    recent = sorted(outages, key=lambda o: o["start"], reverse=True)[:RECENT_OUTAGES]
    out = []
    for outage in recent:
        start, end = _timestamp(outage["start"]), _timestamp(outage["end"])
        out.append(
            {
                "start": loc.full_time(start),
                "end": loc.full_time(end) if end is not None else loc.t["ongoing"],
                "duration": loc.duration((end if end is not None else loc.now) - (start or 0)),
                "cause": cause_words(outage["cause"], loc.t),
                "reason": reason_word(outage["reason"], loc.t) if outage["reason"] else "",
                "message": detail_words(outage["message"], loc.t),
                "path": detail_words(outage.get("path") or "", loc.t),
                "open": "open" if end is None else "",
            }
        )
    return out


def path_rows(path: Mapping[str, Any] | None, loc: Locale) -> dict[str, Any] | None:
    """The target page's path card: the last diagnosis and the baseline's hops."""
    if path is None:
        return None
    diagnosis = path.get("diagnosis")
    baseline = path.get("baseline")
    return {
        "diagnosis": None
        if diagnosis is None
        else {
            "text": detail_words(diagnosis["text"], loc.t),
            "at": loc.full_time(_timestamp(diagnosis["at"])),
        },
        "baseline_at": loc.full_time(_timestamp(baseline["at"])) if baseline else "",
        "hops": [
            {
                "hop": hop["hop"],
                "address": hop["address"] or loc.t["path.silent"],
                "name": hop["name"] or "",
                "rtt": "" if hop["rtt_seconds"] is None else f"{hop['rtt_seconds'] * 1000:.2f} ms",
            }
            for hop in (baseline["hops"] if baseline else ())
        ],
    }


def figure_rows(figures: Figures | None, loc: Locale) -> dict[str, Any]:
    if figures is None:
        return {}
    return {
        "availability": [
            (
                window_label(window, figures.observed_since, loc),
                loc.percent(ratio),
                availability_level(ratio),
            )
            for window, ratio in figures.availability.items()
        ],
        "outages_total": str(figures.outages_total),
        "downtime_total": loc.duration(figures.downtime_seconds_total),
        "mttr": loc.duration(figures.mttr_seconds),
        "mtbf": loc.duration(figures.mtbf_seconds),
    }


def window_label(window: str, observed_since: float | None, loc: Locale) -> str:
    """``30 d``, or ``since 12:04 (6 min)`` when the history is shorter than the window."""
    width = WINDOW_SECONDS.get(window)
    if observed_since is not None and width is not None and loc.now - observed_since < width:
        return loc.t["availability.observed"].format(
            time=loc.time(observed_since), duration=loc.duration(loc.now - observed_since)
        )
    return loc.t.get(f"availability.{window}", window)


_PHONE = re.compile(r"\+?\d[\d .()-]{4,}\d")


def phone_number(contact: str | None) -> str | None:
    """The number to dial in a contact text (``Kỹ thuật Đức Phổ: 0255 3 859 123``)."""
    if not contact:
        return None
    found = _PHONE.search(contact)
    if found is None:
        return None
    number = re.sub(r"[^\d+]", "", found.group())
    return number if len(number.lstrip("+")) >= 5 else None


def map_link(location: Mapping[str, Any] | None) -> str:
    """An OpenStreetMap link for the coordinates (a link only: nothing is loaded from it)."""
    if not location or location.get("lat") is None or location.get("lon") is None:
        return ""
    lat, lon = float(location["lat"]), float(location["lon"])
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=15/{lat:.6f}/{lon:.6f}"
    )


# -- the application ------------------------------------------------------------------


def shown(config: Config, states: Mapping[str, TargetState]) -> list[str]:
    """The targets the overview shows: the configured ones that have a state."""
    return [t.name for t in config.targets if t.name in states]


class _Availability:
    """Availability 24 h and 30 d of every target, each reused for :data:`FIGURES_TTL`
    seconds.

    A target whose outage opened or closed since its figures were computed
    gets new ones at once, so a row never shows DOWN beside a stale 100 %.
    The keeper computes the stale ones a chunk at a time between turns of the
    loop (:meth:`refresh`), so a request finds them fresh; :meth:`of` computes
    whatever is still stale when it is asked.
    """

    def __init__(self, backend: Backend, clock: WallTime) -> None:
        self.backend = backend
        self.clock = clock
        self._ratios: dict[str, Ratios] = {}
        # per target: when its ratios were computed, and the outage start they saw
        self._made: dict[str, tuple[float, float | None]] = {}

    def _stale(self, name: str, state: TargetState, now: float) -> bool:
        made = self._made.get(name)
        return made is None or now - made[0] > FIGURES_TTL or made[1] != state.outage_start

    def _update(self, name: str, state: TargetState, now: float) -> None:
        self._ratios[name] = self._compute(name)
        self._made[name] = (now, state.outage_start)

    def of(self, states: Mapping[str, TargetState], names: Iterable[str]) -> dict[str, Ratios]:
        now = self.clock()
        for name in names:
            state = states[name]
            if self._stale(name, state, now):
                self._update(name, state, now)
        return self._ratios

    async def refresh(
        self,
        states: Mapping[str, TargetState],
        names: Iterable[str],
        rest: Callable[[], Awaitable[None]],
    ) -> None:
        """Compute the stale figures of ``names``, :data:`FIGURES_CHUNK` between two
        ``rest()``s; forget targets no longer named (a reload removed them)."""
        wanted = list(names)
        for gone in self._made.keys() - set(wanted):
            del self._made[gone]
            self._ratios.pop(gone, None)
        now = self.clock()
        stale = [name for name in wanted if self._stale(name, states[name], now)]
        for start in range(0, len(stale), FIGURES_CHUNK):
            if start:
                await rest()
            for name in stale[start : start + FIGURES_CHUNK]:
                state = states.get(name)  # the states may have moved on meanwhile
                if state is not None:
                    self._update(name, state, self.clock())

    def _compute(self, name: str) -> Ratios:
        figures = self.backend.api_figures(name)
        if figures is None:
            return NO_RATIOS
        return (
            figures.availability.get("24h"),
            figures.availability.get("30d"),
            figures.observed_since,
        )


def make_environment() -> jinja2.Environment:
    """The page's templates, from the package, HTML-escaping every value."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["segment"] = path_segment
    return env


@dataclass(frozen=True)
class Overview:
    """Everything ``/`` and ``/status/summary`` show, from one pass over the targets."""

    lines: list[Line]
    isolated: bool
    counts: dict[str, int]
    incidents: list[Incident]
    alerts: list[dict[str, Any]]

    @property
    def affected(self) -> int:
        """Targets affected by the incidents (each root cause and its consequences)."""
        return sum(incident.affected for incident in self.incidents)

    def banner(self, loc: Locale) -> dict[str, Any]:
        """The banner's data, for the template and the summary alike."""
        return {
            "isolated": self.isolated,
            "incidents": [incident_view(i, loc) for i in self.incidents[:BANNER_LIMIT]],
            "incidents_total": len(self.incidents),
            "affected_total": self.affected,
            "affected_text": loc.t[
                "incidents.affected_one" if self.affected == 1 else "incidents.affected"
            ].format(count=self.affected),
            "alerts": self.alerts[:BANNER_LIMIT],
            "alerts_total": len(self.alerts),
        }


class StatusPage:
    """The views; one per application, holding its template environment and row cache."""

    def __init__(
        self,
        backend: Backend,
        clock: WallTime,
        timer: Clock | None = None,
        ready_at_start: int = READY_AT_START,
    ) -> None:
        self.backend = backend
        self.ready_at_start = ready_at_start
        self.clock = clock
        # Times the bars keeper's watch window and its waits (monotonic; tests pass a fake).
        self.timer = timer or LoopClock()
        self.env = make_environment()
        self.availability = _Availability(backend, clock)
        self.bars = UptimeBars(backend.api_uptime, self.env)
        self.lines = Lines()
        self._smoke: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
        # Tells the page's script that the daemon restarted (its generations start anew).
        self.epoch = secrets.token_hex(6)
        self._viewed = -math.inf  # when a page last loaded or refreshed the overview
        self._start_look = False  # the last look is the daemon's start, not a page
        self._rows_at = -math.inf  # when a request last brought the rows up to date
        self._keeper: asyncio.Task[None] | None = None
        # The overview's groups as last rendered: (generation, layout, language), the bars'
        # drawing, the HTML and the quiet strips' figures (see groups()).
        self._groups: tuple[tuple[int, int, str], Drawn, Markup, dict[str, str]] | None = None

    def compile_templates(self) -> None:
        """Compile every page template now (Jinja2 keeps them), so no request pays for it.

        The target page with its graph is about 60 ms of compiling on this machine's
        cores: the first visit after a start would otherwise wait for it.
        """
        for name in self.env.list_templates(filter_func=lambda name: name.endswith(".html")):
            self.env.get_template(name)

    def _config(self) -> Config:
        return self.backend.page_state()[0]

    def locale(self) -> Locale:
        monitor = self._config().monitor
        return Locale(monitor.language, ZoneInfo(monitor.timezone), self.clock())

    def _page(self, template: str, loc: Locale, status: int = 200, **context: Any) -> web.Response:
        monitor = self._config().monitor
        client = {
            "language": loc.language,
            "refresh_seconds": REFRESH_SECONDS,
            "texts": dict(loc.t),
            **context.pop("client", {}),
        }
        html = self.env.get_template(template).render(
            t=loc.t,
            lang=loc.language,
            instance=monitor.instance,
            timezone=monitor.timezone,
            now_text=loc.full_time(loc.now),
            states=STATES,
            client=client,
            **context,
        )
        response = web.Response(
            text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS
        )
        response.enable_compression()
        return response

    def overview(self, loc: Locale) -> Overview:
        config, policy = self.backend.page_state()
        states = policy.states
        ratios = self.availability.of(states, shown(config, states))
        lines = self.lines.update(config, policy, ratios, loc)
        self._rows_at = self.timer.now()
        return Overview(
            lines=lines,
            isolated=policy.world.isolated,
            counts=counts(line.row for line in lines),
            incidents=incidents(lines, policy),
            alerts=banner_alerts(self.backend.api_alerts()["alerts"], loc),
        )

    def groups(self, lines: Iterable[Line], loc: Locale) -> tuple[Markup, dict[str, str]]:
        """The provinces and sites with their rows, rendered, and the quiet strips' figures
        by key (see :meth:`_render_sites`).

        Reused while nothing in them changed (no row: the same generation; the same
        drawing of the bars; the same layout and language): a load of a quiet overview
        at ten thousand targets then renders nothing of it.
        """
        provinces = group(lines, loc.t)
        drawn = self.bars.draw(bar_groups(provinces), self.backend.page_state()[1].states, loc)
        key = (self.lines.generation, self.lines.layout, loc.language)
        kept = self._groups
        if kept is not None and kept[0] == key and kept[1] is drawn:
            return kept[2], kept[3]
        labels = self._render_sites(provinces, drawn, loc)
        module: Any = self.env.get_template("_groups.html").module  # its macro
        html: Markup = module.groups(provinces, loc.t)
        self._groups = (key, drawn, html, labels)
        return html, labels

    def _render_sites(
        self, provinces: Sequence[Province], drawn: Drawn, loc: Locale
    ) -> dict[str, str]:
        """Each site's rows as fragments of HTML, rendering only rows that changed.

        A row's HTML stops before its bars cell, which follows it: a redraw of the
        bars (each minute, and every row's at the full hour) renders no row again.
        Returns the figure of each shared strip shown, by its key (the quiet cells'
        titles, given to the page's script once: see ``quiet`` in _row.html).
        """
        module: Any = self.env.get_template("_row.html").module  # its macros
        names = {state: loc.state(state) for state in STATES}
        # By the strip's markup (kept alive here, so its id is not reused while this runs):
        # shared strips are one object, met thousands of times.
        cells: dict[int, tuple[Markup, Markup]] = {}
        labels: dict[str, str] = {}
        empty = Markup()
        for province in provinces:
            province.bars = drawn.provinces.get(province.name, Markup())
            for site in province.sites:
                site.bars = drawn.sites.get((province.name, site.name), Markup())
                fragments = site.html = []
                for line in site.lines:
                    bars = drawn.targets.get(line.row.name, empty)
                    html = line.html
                    if html is None:
                        html = line.html = module.row(line.row, names)
                    found = cells.get(id(bars))
                    if found is None:
                        cell = self._cell(module, drawn, line, bars, labels)
                        found = cells[id(bars)] = (bars, cell)
                    fragments.append(html)
                    fragments.append(found[1])
        return labels

    def _cell(
        self, module: Any, drawn: Drawn, line: Line, bars: Markup, labels: dict[str, str]
    ) -> Markup:
        """A row's bars cell: a quiet (shared) strip by its class (its figure noted in
        ``labels``), any other inline."""
        strip = drawn.strips.get(line.row.name)
        src = drawn.sources.get(strip, "") if strip is not None else ""
        cell: Markup  # the macros render through the autoescaping environment
        if strip is not None and src:
            key = self.bars.key(src)
            labels[key] = strip.label  # one figure per key: the key hashes it too
            cell = module.quiet(key)
        else:
            cell = module.bars(bars)
        return cell

    def render_rows(self, lines: Iterable[Line], loc: Locale) -> int:
        """Render the rows that have no HTML yet (the next page load finds them ready);
        how many were rendered."""
        module: Any = self.env.get_template("_row.html").module  # its macros
        names = {state: loc.state(state) for state in STATES}
        done = 0
        for line in lines:
            if line.html is None:
                line.html = module.row(line.row, names)
                done += 1
        return done

    def watched(self, *, start: bool = False) -> None:
        """The overview is being looked at (or, ``start``, the daemon starts): keep it
        ready (see :meth:`keep_ready`)."""
        self._viewed = self.timer.now()
        self._start_look = start
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self.keep_ready())

    async def keep_ready(self) -> None:
        """Keep what a load of the overview needs ready between requests, while it is looked at.

        At ten thousand targets a load that finds nothing ready renders every row (about
        0.4 s of CPU) and draws the bars (0.2 s); done here, a load or refresh finds them
        done and renders only what changed since. Every :data:`ROWS_EVERY` seconds the
        rows are brought up to date (unless a request just did) and those that changed are
        rendered, :data:`ROWS_CHUNK` at a time so that probes are not held up; the bars are
        drawn anew shortly before they expire; the groups are rendered with them if anything
        in them changed (:meth:`groups`). The daemon's start counts as a look (the
        first visit finds the page ready; not above :data:`READY_AT_START` targets), and
        it stops :data:`BARS_VIEWED` seconds after the last load or refresh (an open page
        refreshes every few seconds), so nobody watching costs no CPU.
        """
        while self.timer.now() - self._viewed < BARS_VIEWED:
            wait = min(ROWS_EVERY, max(1.0, self.bars.expires_in(self.clock()) - BARS_LEAD))
            await self.timer.sleep_until(self.timer.now() + wait)
            if self.timer.now() - self._viewed >= BARS_VIEWED:
                break
            if not self.backend.ready:
                continue  # starting: no targets or states yet
            if self._start_look and len(self._config().targets) > self.ready_at_start:
                break  # too large to keep ready for nobody (READY_AT_START)
            loc = self.locale()
            await self.prepare_rows(loc)
            if self.bars.expires_in(loc.now) <= BARS_LEAD:
                groups = bar_groups(group(self.lines.lines.values(), loc.t))
                states = self.backend.page_state()[1].states
                await self.bars.redraw(groups, states, loc, self._rest)
            await self._rest()
            self.groups(self.lines.lines.values(), loc)  # rendered now if anything changed

    async def _rest(self) -> None:
        """Leave the loop to itself for :data:`KEEPER_REST` between two chunks of work."""
        await self.timer.sleep_until(self.timer.now() + KEEPER_REST)

    async def prepare_rows(self, loc: Locale) -> int:
        """Bring the rows up to date (unless a request did within :data:`ROWS_EVERY`
        seconds) and render those without HTML; how many were rendered."""
        if self.timer.now() - self._rows_at >= ROWS_EVERY:
            config, policy = self.backend.page_state()
            await self.availability.refresh(policy.states, shown(config, policy.states), self._rest)
            config, policy = self.backend.page_state()  # a reload may have come meanwhile
            ratios = self.availability.of(policy.states, shown(config, policy.states))
            if await self.lines.update_in_chunks(config, policy, ratios, loc, self._rest):
                self._rows_at = self.timer.now()
        waiting = [line for line in self.lines.lines.values() if line.html is None]
        done = 0
        for start in range(0, len(waiting), ROWS_CHUNK):
            if start:
                await self._rest()  # a request may render or replace some meanwhile: harmless
            done += self.render_rows(waiting[start : start + ROWS_CHUNK], loc)
        return done

    async def stop(self) -> None:
        """Stop keeping the page ready (the application is shutting down)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    async def index(self, _: web.Request) -> web.Response:
        self.watched()
        loc = self.locale()
        data = self.overview(loc)
        groups, bar_labels = self.groups(data.lines, loc)
        return self._page(
            "index.html",
            loc,
            groups=groups,
            total=len(data.lines),
            counts=data.counts,
            reload=self.reload_banner(loc),
            bar_styles=self.bars.stylesheet()[0],
            power=self.power(loc),
            **data.banner(loc),
            client={
                "page": "index",
                "problem_states": sorted(PROBLEM_STATES),
                "now": loc.now,
                "bar_labels": bar_labels,
                **self._versions(),
            },
        )

    def power(self, loc: Locale) -> list[dict[str, Any]]:
        """The power board: sites on battery, soonest dark first (see monitor.power_board)."""
        config, policy = self.backend.page_state()
        return board_rows(self.backend.power_board(), config, policy, loc)

    def reload_banner(self, loc: Locale) -> dict[str, Any] | None:
        """The last refused reload (until a good one): when, and its first problems."""
        failure = self.backend.reload_failure()
        if failure is None:
            return None
        return {
            "text": loc.t["reload_failed"].format(time=loc.full_time(failure.at)),
            "issues": list(failure.issues[:RELOAD_ISSUES_SHOWN]),
            "more": max(0, len(failure.issues) - RELOAD_ISSUES_SHOWN),
        }

    def _versions(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "layout": self.lines.layout,
            "generation": self.lines.generation,
        }

    async def summary(self, request: web.Request) -> web.Response:
        """Counts, banner and the rows changed after generation ``?after=`` (all without it)."""
        if request.query.get("after") is not None:
            self.watched()  # the page's own refresh
        loc = self.locale()
        data = self.overview(loc)
        after = _int_param(request.query.get("after"))
        changed = [line for line in data.lines if line.changed > after]
        document = {
            "generated_text": loc.time(loc.now),
            "now": loc.now,
            **self._versions(),
            "reload": self.reload_banner(loc),
            "power": self.power(loc),
            "counts": data.counts,
            "total": len(data.lines),
            # Everything (no ?after=) is for other readers: without the bars.
            "targets": self._changed_rows(changed, loc, bars=after >= 0),
            **data.banner(loc),
        }
        return _json(document)

    def _changed_rows(
        self, changed: Sequence[Line], loc: Locale, *, bars: bool
    ) -> list[dict[str, Any]]:
        """The changed rows for the script, each with its uptime strip to redraw.

        The bars are looked up only when some row changed (a quiet refresh stays cheap);
        bars that move with no row changing are redrawn at the next page load.
        """
        if not changed or not bars:
            return [line.row.summary() for line in changed]
        drawn = self.bars.draw(
            bar_groups(group(self.lines.lines.values(), loc.t)),
            self.backend.page_state()[1].states,
            loc,
        )
        out = []
        for line in changed:
            item = line.row.summary()
            strip = drawn.data(line.row.name)
            if strip is not None:
                item["bars"] = strip
            out.append(item)
        return out

    async def bar_image(self, request: web.Request) -> web.Response:
        """A shared uptime strip's SVG (``/status/bars/KEY.svg``; see UptimeBars).

        Named by a hash of its content (and figure), so a browser keeps it as long as it likes.
        """
        found = self.bars.image(request.match_info["key"])
        if found is None:
            raise web.HTTPNotFound()
        headers = {
            **SECURITY_HEADERS,
            "Cache-Control": "private, max-age=86400, immutable",
        }
        response = web.Response(body=found, content_type="image/svg+xml", headers=headers)
        response.enable_compression()
        return response

    async def bar_styles(self, request: web.Request) -> web.Response:
        """The quiet strips' classes (``/status/bars.css?v=VERSION``; see UptimeBars).

        The page names the version it was drawn with: kept by the browser while that
        is the current one; any other asks for the current sheet, not kept.
        """
        version, css = self.bars.stylesheet()
        cache = "private, max-age=86400" if request.query.get("v") == version else "no-store"
        headers = {**SECURITY_HEADERS, "Cache-Control": cache}
        response = web.Response(body=css, content_type="text/css", headers=headers)
        response.enable_compression()
        return response

    async def target(self, request: web.Request) -> web.Response:
        loc = self.locale()
        name = request.match_info["name"]
        found = self.backend.api_target(name)
        if found is None:
            return self._page(
                "missing.html", loc, status=404, name=name, client={"page": "missing"}
            )
        range_name = request.query.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            range_name = DEFAULT_RANGE
        context = await self.detail(found, loc, range_name)
        return self._page("target.html", loc, **context)

    async def smoke_graphs(self, name: str, range_name: str, loc: Locale) -> dict[str, Any]:
        """The smoke graph of each check over the range, reused for :data:`SMOKE_TTL` seconds.

        A step of the shortest range is a minute, so a graph a few seconds old
        shows the same; reloading the page then costs what it did without it.
        """
        key = (name, range_name, loc.language)
        cached = self._smoke.get(key)
        if cached is not None and cached[0] > loc.now:
            return cached[1]
        graphs = await self._smoke_graphs(name, range_name, loc)
        if len(self._smoke) >= SMOKE_CACHED:
            self._smoke.pop(next(iter(self._smoke)))
        self._smoke[key] = (loc.now + SMOKE_TTL, graphs)
        return graphs

    async def _smoke_graphs(self, name: str, range_name: str, loc: Locale) -> dict[str, Any]:
        found = await self.backend.api_history(name, range_name)
        graphs = []
        if found is not None:
            span = RANGES[range_name][0]
            # Axis labels short enough for five across a phone: 14:05, 12-01, 2026-12.
            cut = (11, 16) if span <= 2 * 86400 else (5, 10) if span <= 31 * 86400 else (0, 7)

            def time_text(t: float) -> str:
                return loc.full_time(t)[cut[0] : cut[1]]

            for check in found["checks"]:
                graph = smoke(
                    check["points"],
                    found["outages"],
                    since=found["since"],
                    until=found["until"],
                    step=found["step_seconds"],
                    now=loc.now,
                    time_text=time_text,
                    step_text=loc.time,
                    words=loc.t,
                )
                graphs.append({"check": check["check"], **graph})
        return {"smoke": graphs, "smoke_range": range_name, "smoke_ranges": list(RANGES)}

    async def detail(
        self, target: Mapping[str, Any], loc: Locale, range_name: str = DEFAULT_RANGE
    ) -> dict[str, Any]:
        name = target["name"]
        outages = (await self.backend.api_outages({"target": name}))["outages"]
        mutes = self.backend.target_mutes(name)  # matched where the alerting side matches
        windows = [{**w, "text": window_text(w, loc)} for w in mutes["windows"]]
        silences = mutes["silences"]
        return {
            **self._head(target, loc),
            **self._incident(target, loc),
            **(await self.smoke_graphs(name, range_name, loc)),
            "target": target,
            "outages": outage_rows(outages, loc),
            "path": path_rows(target.get("path"), loc),
            "figures": figure_rows(self.backend.api_figures(name), loc),
            "parents": self._relatives(target["parents"], loc),
            "children": self._relatives(target["children"], loc),
            "map_link": map_link(target["location"]),
            "phone": phone_number((target["location"] or {}).get("contact")),
            "silences": [
                {
                    **s,
                    "starts_text": loc.full_time(_timestamp(s["starts_at"])),
                    "ends_text": loc.full_time(_timestamp(s["ends_at"])),
                }
                for s in silences
            ],
            "windows": windows,
            "alerts": [
                alert
                for alert in banner_alerts(self.backend.api_alerts()["alerts"], loc)
                if alert["target"] == name
            ],
            "client": {"page": "target", "name": name, "incident": incident_key(target)},
        }

    @staticmethod
    def _head(target: Mapping[str, Any], loc: Locale) -> dict[str, Any]:
        """State, since, reason and checks: what the detail page shows and refreshes."""
        since = _timestamp(target["since"])
        return {
            "state": target["state"],
            "state_text": loc.state(target["state"]),
            "since_text": loc.full_time(since),
            "duration": "" if since is None else loc.duration(loc.now - since),
            "reason": view_reason(target, loc.t),
            "checks": check_rows(target, loc),
        }

    def _incident(self, target: Mapping[str, Any], loc: Locale) -> dict[str, Any]:
        """The target's part in what is going on: role, root cause, consequences, mute."""
        role, root = target["role"], target["root_cause"]
        role_text = ""
        if role == Role.ROOT_CAUSE:
            count = len(target["consequences"])
            role_text = (
                loc.t["role.root_cause"]
                if not count
                else (
                    loc.t["role.root_cause_one" if count == 1 else "role.root_cause_of"].format(
                        count=count
                    )
                )
            )
        elif role == Role.CONSEQUENCE:
            role_text = loc.t["role.consequence"]
        return {
            "role": role,
            "role_text": role_text,
            "root_cause": self._relatives([root], loc)[0] if root else None,
            "consequences": self._relatives(target["consequences"], loc),
            "muted_text": muted_text(target["muted"], loc.t),
        }

    def _relatives(self, names: Iterable[str], loc: Locale) -> list[dict[str, str]]:
        out = []
        for name in names:
            found = self.backend.api_target(name)
            state = found["state"] if found is not None else "unknown"
            out.append({"name": name, "state": state, "state_text": loc.state(state)})
        return out

    async def target_summary(self, request: web.Request) -> web.Response:
        """One target's state and checks, formatted, for the detail page's script."""
        loc = self.locale()
        found = self.backend.api_target(request.match_info["name"])
        if found is None:
            return _json({"error": "no such target"}, status=404)
        return _json(
            {
                "generated_text": loc.time(loc.now),
                "incident": incident_key(found),
                **self._head(found, loc),
            }
        )


class StaticFiles:
    """The page's CSS, scripts and icon: read once, served with an ETag.

    Only the files present at start are served (no path from a request ever
    reaches the file system), and browsers revalidate each time (``no-cache``
    with a cheap 304), so a page loaded after an upgrade never runs old scripts.
    """

    TYPES: ClassVar[dict[str, str]] = {
        ".css": "text/css",
        ".js": "text/javascript",
        ".svg": "image/svg+xml",
    }

    def __init__(self, directory: Path) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(directory.iterdir()):
            kind = self.TYPES.get(path.suffix)
            if kind is not None and path.is_file():
                body = path.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                self.files[path.name] = (body, kind, etag)

    async def handle(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["file"])
        if found is None:
            raise web.HTTPNotFound()
        body, kind, etag = found
        headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        response = web.Response(body=body, content_type=kind, charset="utf-8", headers=headers)
        response.enable_compression()
        return response


def _int_param(text: str | None) -> int:
    """A generation from the query; anything else means "send everything"."""
    try:
        return int(text) if text else -1
    except ValueError:
        return -1


def _json(document: Mapping[str, Any], status: int = 200) -> web.Response:
    response = web.Response(
        text=json.dumps(document, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )
    response.enable_compression()  # only when the client accepts it; 10k rows shrink 25 times
    return response


def add_status_routes(app: web.Application, backend: Backend, clock: WallTime = time.time) -> None:
    """Mount the status page, its data and its static files on ``app``."""
    page = StatusPage(backend, clock)

    async def start(_: web.Application) -> None:
        await asyncio.to_thread(page.compile_templates)  # off the loop: it is starting too
        # The start counts as a look: the first visit finds the page ready (up to
        # READY_AT_START targets).
        page.watched(start=True)

    async def stop(_: web.Application) -> None:
        await page.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_get("/", page.index)
    app.router.add_get("/targets/{name}", page.target)
    app.router.add_get("/status/summary", page.summary)
    app.router.add_get("/status/targets/{name}", page.target_summary)
    app.router.add_get("/status/bars/{key:[0-9a-f]{16}}.svg", page.bar_image)
    app.router.add_get("/status/bars.css", page.bar_styles)
    app.router.add_get("/static/{file}", StaticFiles(STATIC_DIR).handle)
