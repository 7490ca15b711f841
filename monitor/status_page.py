"""The status page served by the daemon: ``/``, ``/targets/{name}`` and their data.

``/`` lists every target grouped by province and site (the ``province`` and
``site`` labels) with its state, since when, availability over 24 h and 30 d
and, when it is not up, why; a banner on top lists open outages and active
alerts. ``/targets/{name}`` shows one target in full: checks and their last
results, recent outages, parents and children, location, silences and
maintenance windows. The page's script refreshes both every few seconds
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
comes from the store's in-memory figures (about 5 µs a target), reused for
:data:`FIGURES_TTL` seconds as the exporter does.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as date_type
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from monitor.api import api_state, parse_rfc3339
from monitor.i18n import texts
from probes.redact import redact_url
from probes.regex import compile_regex

if TYPE_CHECKING:  # monitor.web mounts this module's routes, so it cannot be imported here
    from monitor.availability import Figures
    from monitor.config import Config, Target
    from monitor.state import TargetState, World
    from monitor.web import Backend

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATE_DIR = PACKAGE_DIR / "templates"

REFRESH_SECONDS = 5.0  # how often the page's script fetches the summary
FIGURES_TTL = 15.0  # seconds availability figures are reused (as in the exporter)
BANNER_LIMIT = 50  # outages and alerts listed in the banner; the rest are counted
RECENT_OUTAGES = 20

STATES = ("down", "unreachable", "flapping", "isolated", "unknown", "maintenance", "up")
"""Every state the API can show, worst first (the order of filters and counts)."""
PROBLEM_STATES = frozenset({"down", "unreachable", "flapping", "isolated"})

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

Clock = Callable[[], float]
_EPOCH_ORDINAL = date_type(1970, 1, 1).toordinal()


# -- formatting ----------------------------------------------------------------


class Locale:
    """Formats times, durations and ratios for one language, time zone and moment."""

    def __init__(self, language: str, zone: ZoneInfo, now: float) -> None:
        self.language = language
        self.zone = zone
        self.now = now
        self.t = texts(language)
        self.today = datetime.fromtimestamp(now, zone).date()
        self._today_number = self.today.toordinal()
        self._percents: dict[float | None, str] = {}
        self._offsets: dict[int, float] = {}  # UTC hour -> the zone's offset in seconds
        self._dates: dict[int, str] = {}  # local day number -> "2026-11-27"

    def time(self, timestamp: float | None) -> str:
        """Wall time in the monitor's zone: ``14:03:27`` today, else ``2026-11-27 14:03``.

        Arithmetic on the zone's offset (looked up once per hour of UTC,
        where offsets change) rather than a datetime per call: the overview
        formats ten thousand of these when every row changes.
        """
        if timestamp is None:
            return "—"
        local = int(timestamp + self._offset(timestamp))
        day, seconds = divmod(local, 86400)
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        number = day + _EPOCH_ORDINAL
        if number == self._today_number:
            return f"{hours:02d}:{minutes:02d}:{secs:02d}"
        date = self._dates.get(number)
        if date is None:
            date = self._dates[number] = date_type.fromordinal(number).isoformat()
        return f"{date} {hours:02d}:{minutes:02d}"

    def _offset(self, timestamp: float) -> float:
        hour = int(timestamp // 3600)
        offset = self._offsets.get(hour)
        if offset is None:
            delta = datetime.fromtimestamp(hour * 3600, self.zone).utcoffset()
            offset = self._offsets[hour] = delta.total_seconds() if delta else 0.0
        return offset

    def full_time(self, timestamp: float | None) -> str:
        """``2026-11-27 14:03:27 +0700``, for the detail page and history."""
        if timestamp is None:
            return "—"
        return datetime.fromtimestamp(timestamp, self.zone).strftime("%Y-%m-%d %H:%M:%S %z")

    def duration(self, seconds: float | None) -> str:
        """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h`` (the page's script does the same)."""
        if seconds is None:
            return "—"
        return format_duration(seconds, self.t)

    def percent(self, ratio: float | None) -> str:
        """Availability as ``99.982 %``, rounded down so any downtime shows below 100."""
        text = self._percents.get(ratio)
        if text is None:
            text = self._percents[ratio] = format_percent(ratio, self.language)
        return text

    def state(self, state: str) -> str:
        return self.t.get(f"state.{state}", state)


def format_duration(seconds: float, t: Mapping[str, str]) -> str:
    """Two units at most: a NOC screen needs the order of magnitude, not the seconds."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} {t['unit.d']} {hours} {t['unit.h']}"
    if hours:
        return f"{hours} {t['unit.h']} {minutes} {t['unit.min']}"
    if minutes:
        return f"{minutes} {t['unit.min']}"
    return f"{secs} {t['unit.s']}"


def format_percent(ratio: float | None, language: str) -> str:
    if ratio is None:
        return "—"
    value = math.floor(ratio * 100_000) / 1000
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    if language == "vi":
        text = text.replace(".", ",")
    return f"{text} %"


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
    state: str, cause: str | None, failures: Sequence[Failure], t: Mapping[str, str]
) -> str:
    """Why a target is not up, in words; empty while it is up."""
    if state == "up":
        return ""
    if state == "maintenance":
        return t["reason.maintenance"]
    if cause and cause.startswith("parent:"):
        return t["reason.parent"].format(parent=cause.removeprefix("parent:"))
    if failures:
        return "; ".join(_failure_text(*failure) for failure in failures)
    fallback = _FALLBACK_REASONS.get(state)
    return t[fallback] if fallback else (cause or "")


def _failure_text(kind: str, code: str, message: str) -> str:
    """``icmp: timeout (no reply within 1s)``."""
    return f"{kind}: {code} ({message})" if message and message != code else f"{kind}: {code}"


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
    return reason_text(view["state"], outage["cause"] if outage else None, view_failures(view), t)


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
        }


def make_row(
    target: Target, state: TargetState, shown: str, ratios: tuple[str, str, str, str], loc: Locale
) -> Row:
    """``ratios``: availability 24 h text and level, then 30 d text and level."""
    reason = (
        ""
        if shown == "up"
        else reason_text(shown, state.outage_cause, state_failures(target, state), loc.t)
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
        outage_start=state.outage_start if state.outage_cause is not None else None,
    )


Ratios = tuple[float | None, float | None]
"""Availability over 24 h and 30 d."""

NO_RATIOS: Ratios = (None, None)


@dataclass(slots=True)
class Line:
    """A row with what the cache knows about it."""

    state: TargetState  # the (immutable) state it was last checked against
    ratios: Ratios
    context: tuple[Any, ...]
    key: tuple[Any, ...]  # everything the row shows
    row: Row
    changed: int  # the generation that made this row
    html: Markup | None = None  # its rendered <tr>, made when a page first needs it


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
        self,
        config: Config,
        states: Mapping[str, TargetState],
        world: World,
        ratios: Mapping[str, Ratios],
        loc: Locale,
    ) -> list[Line]:
        targets = [t for t in config.targets if t.name in states]
        self._check_layout(config, targets)
        generation = self.generation + 1
        context = (loc.today, loc.language, loc.zone.key, world.isolated)
        old, lines, changed = self.lines, {}, False
        for target in targets:
            state, pair = states[target.name], ratios.get(target.name, NO_RATIOS)
            line = old.get(target.name)
            # States are immutable and replaced on every result: the same object
            # with the same figures and context shows the same row (the usual case).
            if line is None or not (
                line.state is state and line.ratios == pair and line.context == context
            ):
                line = self._line(
                    target,
                    state,
                    pair,
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
        return list(lines.values())

    @staticmethod
    def _line(
        target: Target,
        state: TargetState,
        pair: Ratios,
        *,
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
        )
        key = (
            shown,
            state.since,
            state.outage_cause,
            state.outage_start,
            shown_ratios,
            context,
            None if shown == "up" else tuple(state_failures(target, state)),
        )
        if line is not None and line.key == key:
            line.state, line.ratios, line.context = state, pair, context
            return line
        row = make_row(target, state, shown, shown_ratios, loc)
        return Line(state, pair, context, key, row, generation)

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
class Site:
    name: str
    lines: list[Line] = field(default_factory=list)
    html: Markup = field(default_factory=Markup)


@dataclass
class Province:
    name: str
    sites: list[Site] = field(default_factory=list)


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
            [Site(site or t["no_site"], sites[site]) for site in sorted(sites, key=order)],
        )
        for province, sites in sorted(tree.items(), key=lambda item: order(item[0]))
    ]


def counts(rows: Iterable[Row]) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for row in rows:
        out[row.state] = out.get(row.state, 0) + 1
    return out


def banner_outages(rows: Iterable[Row], loc: Locale) -> list[dict[str, str]]:
    """Targets with an open outage, the longest first."""
    open_rows = sorted(
        (row for row in rows if row.outage_start is not None),
        key=lambda row: row.outage_start or 0.0,
    )
    return [
        {
            "name": row.name,
            "href": "/targets/" + path_segment(row.name),
            "state": row.state,
            "state_text": loc.state(row.state),
            "since_text": loc.time(row.outage_start),
            "reason": row.reason,
        }
        for row in open_rows
    ]


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
                "alertname": labels.get("alertname", ""),
                "severity": labels.get("severity", ""),
                "target": target,
                "href": "/targets/" + path_segment(target) if target else "",
                "summary": annotations.get("summary") or annotations.get("description") or "",
                "since_text": loc.time(_timestamp(alert["starts_at"])),
                "muted": bool(alert["muted"]),
                "notified": bool(alert.get("notified")),
            }
        )
    return out


# -- the target page ---------------------------------------------------------------


def silence_applies(silence: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """Whether a silence may hold back this target's alerts.

    Matchers on labels the target has (``target`` and its own labels) must
    match; matchers on labels only alerts carry (``alertname``, ``check``)
    cannot be judged here and are shown, not used.
    """
    known = {**labels, "target": name}
    relevant = [m for m in silence["matchers"] if m["name"] in known]
    return bool(relevant) and all(_matches(m, known[m["name"]]) for m in relevant)


def _matches(matcher: Mapping[str, Any], value: str) -> bool:
    if matcher.get("isRegex"):
        try:
            return compile_regex(matcher["value"]).fullmatch(value)  # RE2: linear time
        except ValueError:
            return False
    return bool(matcher["value"] == value)


def window_applies(window: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """The rule of :meth:`monitor.maintenance.MaintenanceWindow.selects`, on the API's view."""
    if name in window["targets"]:
        return True
    match = window["match"]
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


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
                "reason": "" if last is None or last["ok"] else last["reason"],
                "message": "" if last is None else last["message"],
                "duration": "—" if last is None else f"{last['duration_seconds'] * 1000:.1f} ms",
                "at_text": "—" if last is None else loc.time(_timestamp(last["at"])),
                "values": "" if last is None else _values_text(last["values"]),
            }
        )
    return out


def _values_text(values: Mapping[str, Any]) -> str:
    return "  ".join(f"{key}={_measurement(key, value)}" for key, value in sorted(values.items()))


def _measurement(key: str, value: Any) -> str:
    """A probe's value as people read it: seconds in ms, ratios in percent."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if key.endswith("_seconds") and abs(value) < 10:
        return f"{value * 1000:.3g} ms"
    if key.endswith("_ratio"):
        return f"{value * 100:.4g} %"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


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
                "cause": outage["cause"],
                "reason": outage["reason"],
                "message": outage["message"],
                "open": "open" if end is None else "",
            }
        )
    return out


def figure_rows(figures: Figures | None, loc: Locale) -> dict[str, Any]:
    if figures is None:
        return {}
    return {
        "availability": [
            (window, loc.percent(ratio), availability_level(ratio))
            for window, ratio in figures.availability.items()
        ],
        "outages_total": str(figures.outages_total),
        "downtime_total": loc.duration(figures.downtime_seconds_total),
        "mttr": loc.duration(figures.mttr_seconds),
        "mtbf": loc.duration(figures.mtbf_seconds),
    }


def map_link(location: Mapping[str, Any] | None) -> str:
    """An OpenStreetMap link for the coordinates (a link only: nothing is loaded from it)."""
    if not location or location.get("lat") is None or location.get("lon") is None:
        return ""
    lat, lon = float(location["lat"]), float(location["lon"])
    return (
        f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=15/{lat:.6f}/{lon:.6f}"
    )


# -- the application ------------------------------------------------------------------


class _Availability:
    """Availability 24 h and 30 d of every target, reused for :data:`FIGURES_TTL` seconds.

    A target whose outage opened or closed since its figures were computed
    gets new ones at once, so a row never shows DOWN beside a stale 100 %.
    """

    def __init__(self, backend: Backend, clock: Clock) -> None:
        self.backend = backend
        self.clock = clock
        self._ratios: dict[str, Ratios] = {}
        self._outages: dict[str, float | None] = {}  # outage start the ratios were computed at
        self._at = -math.inf

    def of(self, states: Mapping[str, TargetState], names: Iterable[str]) -> dict[str, Ratios]:
        now = self.clock()
        if now - self._at > FIGURES_TTL:
            self._ratios, self._outages, self._at = {}, {}, now
        for name in names:
            outage = states[name].outage_start
            if name not in self._ratios or self._outages[name] != outage:
                self._ratios[name] = self._compute(name)
                self._outages[name] = outage
        return self._ratios

    def _compute(self, name: str) -> Ratios:
        figures = self.backend.api_figures(name)
        if figures is None:
            return NO_RATIOS
        return (figures.availability.get("24h"), figures.availability.get("30d"))


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
    outages: list[dict[str, str]]
    alerts: list[dict[str, Any]]


class StatusPage:
    """The views; one per application, holding its template environment and row cache."""

    def __init__(self, backend: Backend, clock: Clock) -> None:
        self.backend = backend
        self.clock = clock
        self.env = make_environment()
        self.availability = _Availability(backend, clock)
        self.lines = Lines()
        # Tells the page's script that the daemon restarted (its generations start anew).
        self.epoch = secrets.token_hex(6)

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
        config, states, world = self.backend.page_state()
        ratios = self.availability.of(states, (t.name for t in config.targets if t.name in states))
        lines = self.lines.update(config, states, world, ratios, loc)
        rows = [line.row for line in lines]
        return Overview(
            lines=lines,
            isolated=world.isolated,
            counts=counts(rows),
            outages=banner_outages(rows, loc),
            alerts=banner_alerts(self.backend.api_alerts()["alerts"], loc),
        )

    def _render_sites(self, provinces: Iterable[Province], loc: Locale) -> None:
        """Each site's rows as one fragment, rendering only rows not rendered before."""
        row_macro = self.env.get_template("_row.html").module.row  # type: ignore[attr-defined]
        names = {state: loc.state(state) for state in STATES}
        for province in provinces:
            for site in province.sites:
                fragments = []
                for line in site.lines:
                    if line.html is None:
                        line.html = row_macro(line.row, names)
                    fragments.append(line.html)
                site.html = Markup("").join(fragments)

    async def index(self, _: web.Request) -> web.Response:
        loc = self.locale()
        data = self.overview(loc)
        provinces = group(data.lines, loc.t)
        self._render_sites(provinces, loc)
        return self._page(
            "index.html",
            loc,
            provinces=provinces,
            total=len(data.lines),
            counts=data.counts,
            isolated=data.isolated,
            outages=data.outages[:BANNER_LIMIT],
            outages_total=len(data.outages),
            alerts=data.alerts[:BANNER_LIMIT],
            alerts_total=len(data.alerts),
            client={
                "page": "index",
                "problem_states": sorted(PROBLEM_STATES),
                "now": loc.now,
                **self._versions(),
            },
        )

    def _versions(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "layout": self.lines.layout,
            "generation": self.lines.generation,
        }

    async def summary(self, request: web.Request) -> web.Response:
        """Counts, banner and the rows changed after generation ``?after=`` (all without it)."""
        loc = self.locale()
        data = self.overview(loc)
        after = _int_param(request.query.get("after"))
        document = {
            "generated_text": loc.time(loc.now),
            "now": loc.now,
            **self._versions(),
            "isolated": data.isolated,
            "counts": data.counts,
            "total": len(data.lines),
            "targets": [line.row.summary() for line in data.lines if line.changed > after],
            "outages": data.outages[:BANNER_LIMIT],
            "outages_total": len(data.outages),
            "alerts": data.alerts[:BANNER_LIMIT],
            "alerts_total": len(data.alerts),
        }
        return _json(document)

    async def target(self, request: web.Request) -> web.Response:
        loc = self.locale()
        name = request.match_info["name"]
        found = self.backend.api_target(name)
        if found is None:
            return self._page(
                "missing.html", loc, status=404, name=name, client={"page": "missing"}
            )
        context = await self.detail(found, loc)
        return self._page("target.html", loc, **context)

    async def detail(self, target: Mapping[str, Any], loc: Locale) -> dict[str, Any]:
        name, labels = target["name"], target["labels"]
        outages = (await self.backend.api_outages({"target": name}))["outages"]
        silences = [
            s for s in self.backend.api_silences()["silences"] if silence_applies(s, name, labels)
        ]
        windows = [
            {**w, "text": window_text(w, loc)}
            for w in self.backend.api_maintenance()["windows"]
            if window_applies(w, name, labels)
        ]
        return {
            **self._head(target, loc),
            "target": target,
            "outages": outage_rows(outages, loc),
            "figures": figure_rows(self.backend.api_figures(name), loc),
            "parents": self._relatives(target["parents"], loc),
            "children": self._relatives(target["children"], loc),
            "map_link": map_link(target["location"]),
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
            "client": {"page": "target", "name": name},
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
        return _json({"generated_text": loc.time(loc.now), **self._head(found, loc)})


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


def add_status_routes(app: web.Application, backend: Backend, clock: Clock = time.time) -> None:
    """Mount the status page, its data and its static files on ``app``."""
    page = StatusPage(backend, clock)
    app.router.add_get("/", page.index)
    app.router.add_get("/targets/{name}", page.target)
    app.router.add_get("/status/summary", page.summary)
    app.router.add_get("/status/targets/{name}", page.target_summary)
    app.router.add_get("/static/{file}", StaticFiles(STATIC_DIR).handle)
