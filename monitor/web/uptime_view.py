"""Uptime bars as the status page draws them: one small inline SVG per row.

Each target, site and province gets one strip: a bar per day for the last
:data:`~monitor.engine.uptime.DAYS` days, a gap, then a bar per hour for the last
:data:`~monitor.engine.uptime.HOURS` hours, coloured by availability (``full``: no
downtime, ``good`` from three nines, ``fair`` from two, ``poor`` below,
``none``: nothing observed, drawn as a low grey stub so it never reads as
100 %). Hovering a bar shows its figure and outages (an SVG ``<title>``);
a target with downtime in the window also gets a ``<details>`` under its
strip, so a tap on a phone lists the days with downtime and their outages.
No inline script or style is needed, so the strict Content-Security-Policy
holds; the page's own script redraws the strip of a row that changed, from
:meth:`Strip.data` in ``/status/summary`` (with DOM calls, never HTML), and
gives a quiet row its figure as a title on hover (below).

The HTML stays small: consecutive buckets without downtime or outages (all
``full`` or all ``none``) are one ``<rect>`` with one title for the range,
so a quiet target is a strip of two or three rects. Targets of one shape
(:attr:`monitor.engine.uptime.Series.shape`: quiet, or first seen in the same
bucket) share one strip, built and rendered once, and shown as an image of
it (``/status/bars/KEY.svg``): on a row of the overview the background of its
cell by a class (``q-KEY``, about 30 bytes a row; its figure is the cell's title
on hover, given once per key to the page's script), on a site's or province's
head an ``<img>`` with the figure as its title; one picture for the browser
instead of an SVG per row.

:class:`UptimeBars` keeps the strips for :data:`TTL` seconds and computes
them anew sooner when the buckets move (a new hour), the grouping changes
or a target's outage opened or closed; so a minute is the most a bar lags
(the growing share of the current hour), while an outage shows at once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from monitor.engine.uptime import (
    DAYS,
    HOURS,
    Baseline,
    Buckets,
    Outage,
    Series,
    Sum,
    day_edges,
    hour_edges,
    pool,
    ratio,
)

if TYPE_CHECKING:
    from monitor.engine.state import TargetState
    from monitor.web.page_locale import Locale

TTL = 60.0  # seconds the strips are reused (an outage opening or closing redraws at once)
DETAIL_DAYS = 14  # days with downtime listed under a strip for a tap; the rest are counted
OUTAGES_LISTED = 5  # outages named in one bar's title; the rest are counted

# Geometry in SVG units (the CSS scales the strip to the cell).
DAY_STEP, DAY_WIDTH = 3, 2
HOUR_STEP, HOUR_WIDTH = 3, 2
GAP = 9
HEIGHT = 12
STUB = 3  # the height of a bar with nothing observed
HOURS_X = DAYS * DAY_STEP + GAP
WIDTH = HOURS_X + HOURS * HOUR_STEP - (HOUR_STEP - HOUR_WIDTH)


def level(bucket: Sum) -> str:
    """A CSS class for a bucket (see the module docstring)."""
    value = ratio(bucket)
    if value is None:
        return "none"
    if bucket[0] <= 0:
        return "full"
    if value >= 0.999:
        return "good"
    return "fair" if value >= 0.99 else "poor"


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    width: int
    level: str
    title: str

    @property
    def y(self) -> int:
        return HEIGHT - STUB if self.level == "none" else 0

    @property
    def height(self) -> int:
        return STUB if self.level == "none" else HEIGHT


@dataclass(frozen=True, slots=True)
class Strip:
    """One row's bars: what the ``_bars.html`` macro draws."""

    rects: tuple[Rect, ...]
    label: str
    days: tuple[str, ...] = ()
    """Days with downtime or outages, newest first, for the tap list."""
    more_text: str = ""
    """``and 3 more`` when more days had downtime than are listed."""

    shared: bool = False
    """Quiet (only 100 % and not observed, no title per bar) and met by many rows: drawn
    as an image (see :class:`UptimeBars`), not inline."""

    width: int = WIDTH
    height: int = HEIGHT

    def data(self, src: str = "") -> dict[str, Any]:
        """The strip for the page's script, which redraws a changed row's bars from it
        (``src``: its image, when it is shared)."""
        return {
            "src": src,
            "label": self.label,
            "width": self.width,
            "height": self.height,
            "rects": [[r.level, r.x, r.y, r.width, r.height, r.title] for r in self.rects],
            "days": list(self.days),
            "more": self.more_text,
        }


class Formatter:
    """Bucket names, figures and outage texts in the page's language and zone."""

    def __init__(self, loc: Locale) -> None:
        self.loc = loc
        self.t = loc.t

    def day(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.loc.zone).strftime("%Y-%m-%d")

    def hour(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.loc.zone).strftime("%Y-%m-%d %H:%M")

    def minute(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.loc.zone).strftime("%Y-%m-%d %H:%M")

    def figure(self, bucket: Sum, unseen: bool) -> str:
        """``99.52 % · down 7 min``, or why nothing was observed."""
        value = ratio(bucket)
        if value is None:
            return self.t["bars.unseen" if unseen else "bars.gap"]
        text = self.loc.percent(value)
        if bucket[0] > 0:
            text += " · " + self.t["bars.down"].format(duration=self.loc.duration(bucket[0]))
        return text

    def outage(self, outage: Outage) -> str:
        start, end = outage
        until = self.loc.now if end is None else end
        return self.t["bars.outage"].format(
            start=self.minute(start),
            end=self.t["ongoing"] if end is None else self.minute(end),
            duration=self.loc.duration(until - start),
        )

    def outages(self, outages: Sequence[Outage]) -> list[str]:
        lines = [self.outage(o) for o in outages[:OUTAGES_LISTED]]
        if len(outages) > OUTAGES_LISTED:
            lines.append(self.t["and_more"].format(count=len(outages) - OUTAGES_LISTED))
        return lines


@dataclass(frozen=True, slots=True)
class Axis:
    """One series' buckets: their edges, step and width in the strip, and how they are named."""

    edges: tuple[float, ...]
    x0: int
    step: int
    width: int
    name: Callable[[float], str]
    names: tuple[str, ...] = ()
    """Each bucket's name (``name`` of its start), formatted once per drawing."""

    @classmethod
    def make(
        cls, edges: tuple[float, ...], x0: int, step: int, width: int, name: Callable[[float], str]
    ) -> Axis:
        return cls(edges, x0, step, width, name, tuple(name(at) for at in edges[:-1]))


def rects(
    sums: Sequence[Sum],
    outages: Mapping[int, tuple[Outage, ...]],
    first: float | None,
    axis: Axis,
    fmt: Formatter,
    *,
    titles: bool = True,
) -> list[Rect]:
    """The bars of one series; buckets without downtime or outages merged into runs.

    ``titles=False``: runs get no title of their own (the strip's covers them).
    """
    out: list[Rect] = []
    run_start = -1
    run_level = ""
    run_unseen = False
    edges = axis.edges

    def close(end: int) -> None:
        if run_start < 0:
            return
        if not titles:
            width = (end - run_start) * axis.step - (axis.step - axis.width)
            out.append(Rect(axis.x0 + run_start * axis.step, width, run_level, ""))
            return
        name = axis.names[run_start]
        if end - run_start > 1:
            name = f"{name} \u2013 {axis.names[end - 1]}"
        # A run is all 100 % or all not observed: its figure needs no sum of its seconds.
        total = (0.0, 1.0 if run_level == "full" else 0.0)
        figure = fmt.figure(total, run_unseen)
        out.append(
            Rect(
                axis.x0 + run_start * axis.step,
                (end - run_start) * axis.step - (axis.step - axis.width),
                run_level,
                fmt.t["bars.figure"].format(when=name, figure=figure),
            )
        )

    none_empty = not outages
    for k, bucket in enumerate(sums):
        # level(), inlined: this loop runs for every bucket of every strip made.
        down, seen = bucket
        if seen <= 0:
            kind = "none"
        elif down <= 0:
            kind = "full"
        else:
            kind = level(bucket)
        unseen = kind == "none" and (first is None or edges[k + 1] <= first)
        touched = () if none_empty else outages.get(k, ())
        if not touched and kind in {"full", "none"}:
            if run_start >= 0 and kind == run_level and unseen == run_unseen:
                continue
            close(k)
            run_start, run_level, run_unseen = k, kind, unseen
            continue
        close(k)
        run_start = -1
        figure = fmt.figure(bucket, unseen)
        lines = [fmt.t["bars.figure"].format(when=axis.names[k], figure=figure)]
        lines += fmt.outages(touched)
        out.append(Rect(axis.x0 + k * axis.step, axis.width, kind, "\n".join(lines)))
    close(len(sums))
    return out


def window_label(
    sums: Sequence[Sum], first: float | None, axis: Axis, window: str, fmt: Formatter
) -> str:
    """``90 d: 99.95 %``, or ``since 2026-12-03: 100 %`` when the history is shorter."""
    total = (sum(map(itemgetter(0), sums)), sum(map(itemgetter(1), sums)))
    when = fmt.t[window]
    if first is not None and first > axis.edges[0]:
        when = fmt.t["availability.since"].format(time=axis.name(first))
    value = ratio(total)
    figure = fmt.t["bars.unseen"] if value is None else fmt.loc.percent(value)
    return fmt.t["bars.figure"].format(when=when, figure=figure)


def day_list(series: Series, axis: Axis, fmt: Formatter) -> tuple[tuple[str, ...], int]:
    """Days with downtime or outages, newest first (at most :data:`DETAIL_DAYS`)."""
    days = [
        k
        for k in range(len(series.sums) - 1, -1, -1)
        if series.sums[k][0] > 0 or k in series.outages
    ]
    lines = []
    for k in days[:DETAIL_DAYS]:
        first = series.first_observed
        unseen = first is None or axis.edges[k + 1] <= first
        parts = [fmt.figure(series.sums[k], unseen), *fmt.outages(series.outages.get(k, ()))]
        lines.append(fmt.t["bars.figure"].format(when=axis.names[k], figure="; ".join(parts)))
    return tuple(lines), max(0, len(days) - DETAIL_DAYS)


class Drawing:
    """Strips for one moment: the two axes, their baselines and the strips made so far."""

    def __init__(self, loc: Locale, days: Baseline, hours: Baseline) -> None:
        self.fmt = Formatter(loc)
        self.days = Axis.make(days.edges, 0, DAY_STEP, DAY_WIDTH, self.fmt.day)
        self.hours = Axis.make(hours.edges, HOURS_X, HOUR_STEP, HOUR_WIDTH, self.fmt.hour)
        self.baselines = (days, hours)
        self._shared: dict[tuple[object, ...], Strip] = {}
        self._groups: dict[tuple[object, ...], Strip] = {}

    def strip(self, days: Series, hours: Series, *, details: bool = True) -> Strip:
        """A target's strip; targets whose two series have a shape share one."""
        key = None
        if days.shape is not None and hours.shape is not None:
            key = (days.shape, hours.shape)
            found = self._shared.get(key)
            if found is not None:
                return found
        # A shared strip is only runs of 100 % and not observed, which its own title
        # sums up: its runs go without titles, so ten thousand quiet rows stay small.
        made = self._make(days, hours, details=details, titles=key is None, shared=key is not None)
        if key is not None:
            self._shared[key] = made
        return made

    def _make(
        self,
        days: Series,
        hours: Series,
        *,
        details: bool,
        titles: bool = True,
        shared: bool = False,
    ) -> Strip:
        fmt = self.fmt
        bars = rects(days.sums, days.outages, days.first_observed, self.days, fmt, titles=titles)
        bars += rects(
            hours.sums, hours.outages, hours.first_observed, self.hours, fmt, titles=titles
        )
        label = " · ".join(
            (
                window_label(days.sums, days.first_observed, self.days, "bars.days", fmt),
                window_label(hours.sums, hours.first_observed, self.hours, "bars.hours", fmt),
            )
        )
        listed, more = day_list(days, self.days, fmt) if details else ((), 0)
        more_text = fmt.t["and_more"].format(count=more) if more else ""
        return Strip(tuple(bars), label, listed, more_text, shared)

    def group(self, days: Sequence[Series], hours: Sequence[Series]) -> Strip:
        """A site's or province's strip: its targets' time pooled (no outages listed).

        Buckets before its first target was seen are *not yet observed*.
        """
        key = _group_key(days, hours)
        if key is not None:
            found = self._groups.get(key)
            if found is not None:
                return found
        firsts = [s.first_observed for s in days if s.first_observed is not None]
        first = min(firsts) if firsts else None
        day_sums = pool(days, self.baselines[0])
        hour_sums = pool(hours, self.baselines[1])
        made = self._make(
            Series(day_sums, {}, first),
            Series(hour_sums, {}, first),
            details=False,
            titles=key is None,
            shared=key is not None,
        )
        if key is not None:
            self._groups[key] = made
        return made


def _group_key(days: Sequence[Series], hours: Sequence[Series]) -> tuple[object, ...] | None:
    """What a group's strip depends on when all its targets are quiet, else None.

    Series with a shape have no downtime, so each pooled bucket is 100 % or
    not observed, which the set of shapes alone decides (not how many targets
    have each): the sites of quiet targets share a strip.
    """
    day_shapes = {s.shape for s in days}
    hour_shapes = {s.shape for s in hours}
    if None in day_shapes or None in hour_shapes:
        return None
    return (frozenset(day_shapes), frozenset(hour_shapes))


@dataclass(frozen=True, slots=True)
class Drawn:
    """The strips of one moment, rendered: by target, by site and by province."""

    targets: Mapping[str, Markup]
    sites: Mapping[tuple[str, str], Markup]
    provinces: Mapping[str, Markup]
    strips: Mapping[str, Strip] = field(default_factory=dict)
    """Each target's strip, for the summary the page's script reads."""
    sources: Mapping[Strip, str] = field(default_factory=dict)
    """The image of each shared strip (its URL)."""

    def data(self, name: str) -> dict[str, Any] | None:
        """A target's strip for the page's script (None if it has none)."""
        strip = self.strips.get(name)
        return None if strip is None else strip.data(self.sources.get(strip, ""))


Groups = Mapping[str, Mapping[str, Sequence[str]]]
"""Target names by province, then site (the page's grouping, labels as shown)."""

Rendered = tuple[Markup, str, bytes]
"""A strip's HTML, its image's URL and the image (both empty unless it is shared)."""

FILLS = {
    "full": "#3fb950",
    "good": "#a8d26a",
    "fair": "#e3b341",
    "poor": "#ff5c57",
    "none": "#4a5a70",
}
"""A shared strip's colours (an image does not see the page's stylesheet: as in style.css)."""


UPTIME_CHUNK = 500
"""Targets whose buckets :meth:`UptimeBars.redraw` reads between two turns of the loop."""


def _names(groups: Groups) -> list[str]:
    return [n for sites in groups.values() for members in sites.values() for n in members]


def _drawing_key(groups: Groups, loc: Locale) -> tuple[object, ...]:
    """What a drawing depends on besides the outages: the local full hour (the buckets
    move then), the language, the zone and the groups."""
    hour = hour_edges(loc.now, loc.zone, 1)[0]
    return (
        hour,
        loc.language,
        loc.zone.key,
        tuple((p, tuple(s.items())) for p, s in groups.items()),
    )


class UptimeBars:
    """Every row's strip, kept for :data:`TTL` seconds (see the module docstring).

    A shared strip (quiet: only 100 % and not observed, and the same for many rows)
    is drawn once as an SVG image at ``/status/bars/KEY.svg`` (``KEY`` a hash of its
    content and its figure); a row of the overview shows it as the background of its
    cell, by a class from :meth:`stylesheet`, its figure given once per key to the page's
    script, which makes it the cell's title on hover (a site or province head, and a row
    the script redraws, with an ``<img>`` and its title): at ten thousand rows that keeps the
    page near its size without bars and spares the browser ten thousand inline SVGs
    (or images) to build and lay out. The images of the current and the
    previous drawing are kept (:meth:`image`), so a page loaded just before a redraw
    still finds its own.
    """

    def __init__(
        self,
        uptime: Callable[[Iterable[str], Sequence[float]], Buckets | None],
        env: jinja2.Environment,
        prefix: str = "/status/bars/",
    ) -> None:
        self.uptime = uptime
        self.env = env
        self.prefix = prefix
        self._drawn: Drawn | None = None
        self._key: tuple[object, ...] = ()
        self._at = -math.inf
        self._outages: dict[str, float | None] = {}
        self._html: dict[Strip, Rendered] = {}  # the last drawing's strips, rendered
        self._images: dict[str, bytes] = {}  # the current drawing's images by key
        self._older: dict[str, bytes] = {}  # the previous drawing's
        self._css_keys: list[str] = []
        self._css = b""
        self._css_version = hashlib.sha256(b"").hexdigest()[:16]

    def image(self, key: str) -> bytes | None:
        """A shared strip's SVG document, by the key in its URL."""
        return self._images.get(key) or self._older.get(key)

    def stylesheet(self) -> tuple[str, bytes]:
        """(version, CSS): a class ``q-KEY`` per shared strip showing its image.

        A quiet row's cell takes that class (see ``quiet`` in _row.html) rather than
        holding an ``<img>``: ten thousand fewer elements to build, load and lay out.
        It covers the current and the previous drawing, as :meth:`image` does.
        """
        keys = sorted(self._images.keys() | self._older.keys())
        if keys != self._css_keys:
            # Keys are hex digits and the prefix is ours: nothing here needs escaping.
            css = "".join(f".q-{k}{{background-image:url({self.prefix}{k}.svg)}}\n" for k in keys)
            self._css = css.encode()
            self._css_version = hashlib.sha256(self._css).hexdigest()[:16]
            self._css_keys = keys
        return self._css_version, self._css

    def key(self, src: str) -> str:
        """The key of a shared strip's image URL."""
        return src[len(self.prefix) : -len(".svg")]

    def expires_in(self, now: float) -> float:
        """Seconds until the kept strips are drawn anew by the next :meth:`draw`."""
        return self._at + TTL - now

    def draw(
        self,
        groups: Groups,
        states: Mapping[str, TargetState],
        loc: Locale,
        *,
        force: bool = False,
    ) -> Drawn:
        """The strips, kept or drawn anew (``force``: anew in any case)."""
        names = _names(groups)
        key = _drawing_key(groups, loc)
        outages = {name: states[name].outage_start for name in names if name in states}
        if (
            not force
            and self._drawn is not None
            and key == self._key
            and loc.now - self._at <= TTL
            and outages == self._outages
        ):
            return self._drawn
        days = self.uptime(names, day_edges(loc.now, loc.zone))
        hours = self.uptime(names, hour_edges(loc.now, loc.zone))
        return self._keep(self._draw(groups, names, loc, days, hours), key, loc, outages)

    async def redraw(
        self,
        groups: Groups,
        states: Mapping[str, TargetState],
        loc: Locale,
        rest: Callable[[], Awaitable[None]],
    ) -> Drawn:
        """:meth:`draw` anew, for the page's keeper: the buckets are read
        :data:`UPTIME_CHUNK` targets at a time, with a ``rest()`` between two chunks
        (every target's at once held the loop about 60 ms at 10,000 targets)."""
        names = _names(groups)
        key = _drawing_key(groups, loc)
        days = await self._uptime_in_chunks(names, day_edges(loc.now, loc.zone), rest)
        hours = await self._uptime_in_chunks(names, hour_edges(loc.now, loc.zone), rest)
        outages = {name: states[name].outage_start for name in names if name in states}
        return self._keep(self._draw(groups, names, loc, days, hours), key, loc, outages)

    async def _uptime_in_chunks(
        self, names: Sequence[str], edges: Sequence[float], rest: Callable[[], Awaitable[None]]
    ) -> Buckets | None:
        series: dict[str, Series] = {}
        first: Buckets | None = None
        for start in range(0, len(names), UPTIME_CHUNK):
            if start:
                await rest()
            part = self.uptime(names[start : start + UPTIME_CHUNK], edges)
            if part is None:
                return None
            first = first or part
            series.update(part.series)
        return Buckets(first.baseline, series) if first is not None else self.uptime((), edges)

    def _keep(
        self, drawn: Drawn, key: tuple[object, ...], loc: Locale, outages: dict[str, float | None]
    ) -> Drawn:
        self._drawn, self._key, self._at, self._outages = drawn, key, loc.now, outages
        return drawn

    def _draw(
        self,
        groups: Groups,
        names: Sequence[str],
        loc: Locale,
        days: Buckets | None,
        hours: Buckets | None,
    ) -> Drawn:
        if days is None or hours is None:
            return Drawn({}, {}, {})
        by_day, by_hour = days.series, hours.series
        drawing = Drawing(loc, days.baseline, hours.baseline)
        module = self.env.get_template("_bars.html").module
        macro = module.strip  # type: ignore[attr-defined]
        picture = module.image  # type: ignore[attr-defined]
        # A strip that looks as it did in the last drawing (most do) is not rendered again.
        # Looked up by identity first: shared strips are one object, met thousands of times;
        # the strip is kept with its HTML so that its id is not reused while this runs.
        last = self._html
        html: dict[Strip, Rendered] = {}
        seen: dict[int, tuple[Strip, Markup]] = {}
        images: dict[str, bytes] = {}
        sources: dict[Strip, str] = {}

        def render(strip: Strip) -> Markup:
            found = seen.get(id(strip))
            if found is None:
                made = html.get(strip) or last.get(strip)
                if made is None:
                    made = self._render(strip, macro, picture)
                markup, src, document = made
                if src:
                    images[self.key(src)] = document
                    sources[strip] = src
                html[strip] = made
                found = seen[id(strip)] = (strip, markup)
            return found[1]

        targets: dict[str, Markup] = {}
        strips: dict[str, Strip] = {}
        sites: dict[tuple[str, str], Markup] = {}
        provinces: dict[str, Markup] = {}
        for province, members in groups.items():
            province_names: list[str] = []
            for site, site_names in members.items():
                present = [n for n in site_names if n in by_day and n in by_hour]
                for name in present:
                    strip = strips[name] = drawing.strip(by_day[name], by_hour[name])
                    targets[name] = render(strip)
                sites[(province, site)] = render(
                    drawing.group([by_day[n] for n in present], [by_hour[n] for n in present])
                )
                province_names += present
            provinces[province] = render(
                drawing.group(
                    [by_day[n] for n in province_names], [by_hour[n] for n in province_names]
                )
            )
        self._html = html
        self._older, self._images = self._images, images
        return Drawn(targets, sites, provinces, strips, sources)

    def _render(
        self, strip: Strip, macro: Callable[..., Markup], picture: Callable[..., Markup]
    ) -> Rendered:
        """A strip's HTML (autoescaped by the template), and if shared its image and URL."""
        if not strip.shared:
            return macro(strip, ""), "", b""
        document = str(picture(strip, FILLS)).encode()
        # Named by its picture and its figure: a key always means one figure, so the
        # page can give each key's figure once for all the rows showing it.
        digest = hashlib.sha256(document + b"\n" + strip.label.encode()).hexdigest()
        src = f"{self.prefix}{digest[:16]}.svg"
        return macro(strip, src), src, document
