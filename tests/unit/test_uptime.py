"""Uptime bars: day and hour buckets as tables with a fake clock, and against a brute force.

Times are real UNIX seconds around 2026-12-06 in the configured zone
(Asia/Ho_Chi_Minh, UTC+7, unless a case says otherwise), built with
:func:`at`, so "an outage from 23:30 to 00:30" reads as such.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from monitor.engine.availability import MonitorHistory, TargetHistory, overlap
from monitor.engine.uptime import (
    DAYS,
    HOURS,
    Baseline,
    Buckets,
    Series,
    day_edges,
    hour_edges,
    pool,
    series_of,
    spread,
)
from monitor.web.page_locale import Locale
from monitor.web.status_page import TEMPLATE_DIR
from monitor.web.uptime_view import FILLS, Drawing, Strip, UptimeBars, level

VN = ZoneInfo("Asia/Ho_Chi_Minh")
Period = tuple[float, float | None]


def at(text: str, zone: ZoneInfo = VN) -> float:
    """``"2026-12-05 23:30"`` in ``zone`` as UNIX seconds."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone).timestamp()


NOW = at("2026-12-06 10:00")


def build(
    outages: Sequence[Period] = (),
    *,
    first: float | None = 0.0,
    maintenance: Sequence[Period] = (),
    periods: Sequence[Period] = ((0.0, None),),
    isolation: Sequence[Period] = (),
    count_maintenance: bool = False,
) -> tuple[TargetHistory, MonitorHistory]:
    """A target's history as the store builds it: context first, then outages."""
    monitor = MonitorHistory()
    for start, end in periods:
        monitor.set_period(start, end)
    for start, end in isolation:
        monitor.set_isolation(start, end)
    history = TargetHistory(first)
    for start, end in maintenance:
        history.set_maintenance(start, end)
    for start, end in outages:
        assert history.start_outage(start) is not None
        if end is not None:
            assert history.end_outage(end, monitor, count_maintenance) is not None
    return history, monitor


def days_of(
    history: TargetHistory,
    monitor: MonitorHistory,
    now: float = NOW,
    zone: ZoneInfo = VN,
    *,
    count_maintenance: bool = False,
) -> Series:
    baseline = Baseline(monitor, day_edges(now, zone))
    return series_of(history, baseline, count_maintenance=count_maintenance)


def minutes(series: Series, back: int) -> tuple[float, float]:
    """(downtime, observed) of the bucket ``back`` buckets before the last, in minutes."""
    down, seen = series.sums[len(series.sums) - 1 - back]
    return round(down / 60, 6), round(seen / 60, 6)


# -- edges ------------------------------------------------------------------------


def test_days_start_at_local_midnight_and_the_last_ends_now() -> None:
    edges = day_edges(NOW, VN)
    assert len(edges) == DAYS + 1
    assert edges[-1] == NOW
    assert edges[-2] == at("2026-12-06 00:00")  # 2026-12-05 17:00 UTC
    assert edges[-3] == at("2026-12-05 00:00")
    assert edges[0] == at("2026-09-08 00:00")  # 89 days before today


def test_a_dst_day_is_23_hours_long_in_a_zone_that_has_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = at("2026-03-30 12:00", berlin)
    edges = day_edges(now, berlin, days=3)
    assert edges[1] - edges[0] == 86400  # 2026-03-28
    assert edges[2] - edges[1] == 23 * 3600  # 2026-03-29: clocks go forward
    assert edges[2] == at("2026-03-30 00:00", berlin)


def test_hours_start_at_the_local_full_hour() -> None:
    edges = hour_edges(at("2026-12-06 10:25"), VN)
    assert len(edges) == HOURS + 1
    assert edges[-2] == at("2026-12-06 10:00")
    assert edges[0] == at("2026-12-04 11:00")
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: the local hour starts at :30 UTC
    assert hour_edges(at("2026-12-06 10:25", kolkata), kolkata)[-2] == at(
        "2026-12-06 10:00", kolkata
    )


# -- buckets as tables ---------------------------------------------------------------


CASES: dict[str, tuple[list[Period], dict[str, Any], dict[int, tuple[float, float]]]] = {
    # name: (outages, kwargs, expected {buckets back: (down min, observed min)})
    "an outage crossing midnight is split between the two days": (
        [(at("2026-12-04 23:30"), at("2026-12-05 00:45"))],
        {},
        {2: (30, 1440), 1: (45, 1440), 0: (0, 600)},
    ),
    "an outage still open counts up to now": (
        [(at("2026-12-06 09:20"), None)],
        {},
        {1: (0, 1440), 0: (40, 600)},
    ),
    "maintenance is not observed time when it does not count": (
        [(at("2026-12-05 10:00"), at("2026-12-05 12:00"))],
        {"maintenance": [(at("2026-12-05 11:00"), at("2026-12-05 13:00"))]},
        {1: (60, 1440 - 120), 0: (0, 600)},
    ),
    "maintenance counts like any time when the config says so": (
        [(at("2026-12-05 10:00"), at("2026-12-05 12:00"))],
        {
            "maintenance": [(at("2026-12-05 11:00"), at("2026-12-05 13:00"))],
            "count_maintenance": True,
        },
        {1: (120, 1440), 0: (0, 600)},
    ),
    "a target first observed 3 days ago has nothing before": (
        [],
        {"first": at("2026-12-03 18:00")},
        {4: (0, 0), 3: (0, 360), 2: (0, 1440), 1: (0, 1440), 0: (0, 600)},
    ),
    "a stopped monitor observes nothing, outage or not": (
        [(at("2026-12-05 08:00"), at("2026-12-05 20:00"))],
        {"periods": [(0.0, at("2026-12-05 12:00")), (at("2026-12-05 18:00"), None)]},
        {1: (240 + 120, 1440 - 360), 0: (0, 600)},
    ),
    "an isolated monitor observes nothing either": (
        [],
        {"isolation": [(at("2026-12-05 12:00"), at("2026-12-05 13:00"))]},
        {1: (0, 1380), 0: (0, 600)},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_day_buckets(case: str) -> None:
    outages, kwargs, expected = CASES[case]
    count = bool(kwargs.get("count_maintenance", False))
    history, monitor = build(outages, **kwargs)
    series = days_of(history, monitor, count_maintenance=count)
    for back, figures in expected.items():
        assert minutes(series, back) == figures, (case, back)


def test_outages_are_listed_in_every_bucket_they_touch() -> None:
    crossing = (at("2026-12-04 23:30"), at("2026-12-05 00:45"))
    still = (at("2026-12-06 09:20"), None)
    history, monitor = build([crossing, still])
    series = days_of(history, monitor)
    last = DAYS - 1
    assert series.outages == {last - 2: (crossing,), last - 1: (crossing,), last: (still,)}


def test_hour_buckets_of_an_open_outage() -> None:
    history, monitor = build([(at("2026-12-06 08:45"), None)])
    now = at("2026-12-06 10:20")
    series = series_of(history, Baseline(monitor, hour_edges(now, VN)))
    assert minutes(series, 0) == (20, 20)  # 10:00 - now
    assert minutes(series, 1) == (60, 60)  # 09:00
    assert minutes(series, 2) == (15, 60)  # 08:00
    assert minutes(series, 3) == (0, 60)


def test_the_configured_zone_decides_which_day_an_outage_falls_on() -> None:
    # 16:30-17:30 UTC: the same hour is split at midnight in Hanoi, not in London.
    outage = (at("2026-12-05 16:30", ZoneInfo("UTC")), at("2026-12-05 17:30", ZoneInfo("UTC")))
    history, monitor = build([outage])
    hanoi = days_of(history, monitor, zone=VN)
    assert minutes(hanoi, 1) == (30, 1440) and minutes(hanoi, 0)[0] == 30
    london = days_of(history, monitor, zone=ZoneInfo("Europe/London"))
    assert minutes(london, 1)[0] == 60 and minutes(london, 0)[0] == 0  # 2026-12-05 there


def test_never_observed_and_quiet_targets_share_one_series() -> None:
    monitor = MonitorHistory()
    monitor.set_period(0.0, None)
    baseline = Baseline(monitor, day_edges(NOW, VN))
    quiet = [series_of(TargetHistory(0.0), baseline) for _ in range(3)]
    assert all(s is baseline.series for s in quiet)
    assert series_of(None, baseline) is baseline.unseen
    assert series_of(TargetHistory(None), baseline) is baseline.unseen


# -- against a brute force ------------------------------------------------------------


def brute(
    history: TargetHistory, monitor: MonitorHistory, edges: Sequence[float], count: bool
) -> list[tuple[float, float]]:
    """Per bucket, straight from the definitions: observed time, and down time inside it."""
    out = []
    for lo, hi in itertools.pairwise(edges):
        seen = history.observed(monitor, lo, hi, count)
        down = 0.0
        for span in history.spans:
            end = hi if span.end is None else min(span.end, hi)
            for s, e in seen:
                down += max(0.0, min(e, end) - max(s, span.start))
        out.append((down, overlap(seen, lo, hi)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_buckets_match_a_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    now = 1000.0
    edges = [0.0, *sorted(rng.sample(range(1, 1000), 9)), now]

    def periods(n: int) -> list[Period]:
        cuts = sorted(rng.sample(range(-200, 1000), 2 * n))
        return [(float(a), float(b)) for a, b in zip(cuts[::2], cuts[1::2], strict=True)]

    outages: list[Period] = list(periods(rng.randint(0, 5)))
    if outages and rng.random() < 0.5:
        outages[-1] = (outages[-1][0], None)
    count = rng.random() < 0.3
    stop = float(rng.randint(500, 900))
    history, monitor = build(
        outages,
        first=float(rng.randint(-300, 700)),
        maintenance=periods(rng.randint(0, 3)),
        periods=[(-500.0, stop), (stop + rng.randint(0, 50), None)],
        isolation=periods(rng.randint(0, 2)),
        count_maintenance=count,
    )
    got = series_of(history, Baseline(monitor, edges), count_maintenance=count)
    want = brute(history, monitor, edges, count)
    assert [(round(d, 6), round(o, 6)) for d, o in got.sums] == [
        (round(d, 6), round(o, 6)) for d, o in want
    ]


@pytest.mark.parametrize("seed", range(10))
def test_pooled_groups_match_adding_every_target(seed: int) -> None:
    rng = random.Random(seed)
    monitor = MonitorHistory()
    monitor.set_period(0.0, 400.0)
    monitor.set_period(450.0, None)
    baseline = Baseline(monitor, [0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0])
    members = []
    for _ in range(30):
        history = TargetHistory(float(rng.choice([0, 0, 50, 150, 420, 550, 700])))
        if rng.random() < 0.3:
            start = float(rng.randint(0, 550))
            history.start_outage(start)
            history.end_outage(start + rng.randint(1, 100), monitor, False)
        members.append(series_of(history, baseline))
    pooled = pool(members, baseline)
    added = [
        (sum(m.sums[k][0] for m in members), sum(m.sums[k][1] for m in members)) for k in range(6)
    ]
    assert [(round(d, 6), round(o, 6)) for d, o in pooled] == [
        (round(d, 6), round(o, 6)) for d, o in added
    ]


def test_spread_splits_intervals_over_buckets() -> None:
    assert spread([(5.0, 25.0), (30.0, 31.0)], [0.0, 10.0, 20.0, 30.0]) == [5.0, 10.0, 5.0]
    assert spread([(-5.0, 1.0)], [0.0, 10.0]) == [1.0]


# -- the strips -------------------------------------------------------------------------


LATER = NOW + 1800  # 10:30: the current hour has begun


def drawing(history: TargetHistory, monitor: MonitorHistory, language: str = "en") -> Drawing:
    loc = Locale(language, VN, LATER)
    return Drawing(
        loc, Baseline(monitor, day_edges(LATER, VN)), Baseline(monitor, hour_edges(LATER, VN))
    )


def strip_of(history: TargetHistory, monitor: MonitorHistory, language: str = "en") -> Strip:
    draw = drawing(history, monitor, language)
    days = series_of(history, draw.baselines[0])
    hours = series_of(history, draw.baselines[1])
    return draw.strip(days, hours)


def test_a_quiet_target_is_one_bar_per_series() -> None:
    history, monitor = build()
    strip = strip_of(history, monitor)
    assert [(r.level, r.x, r.width) for r in strip.rects] == [
        ("full", 0, DAYS * 3 - 1),
        ("full", DAYS * 3 + 9, HOURS * 3 - 1),
    ]
    # Shared by every quiet target: the strip's title sums its runs up.
    assert [r.title for r in strip.rects] == ["", ""]
    assert strip.label == "90 d: 100.00 % · 48 h: 100.00 %"
    assert strip.days == ()


def test_not_yet_observed_is_drawn_apart_from_100_percent() -> None:
    history, monitor = build(first=at("2026-12-03 18:00"))
    strip = strip_of(history, monitor)
    first, second = strip.rects[:2]
    assert first.level == "none" and first.height < second.height
    assert (first.x, first.width, second.x) == (0, 86 * 3 - 1, 86 * 3)  # 2026-09-08 .. 12-02
    # The window is named by its first bucket, so targets first seen the same day share a strip.
    assert strip.label.startswith("since 2026-12-03: 100.00 %")


def test_a_day_with_an_outage_names_it_and_is_listed_for_a_tap() -> None:
    outage = (at("2026-12-04 23:30"), at("2026-12-05 00:45"))
    history, monitor = build([outage])
    strip = strip_of(history, monitor)
    bad = [r for r in strip.rects if r.level != "full"]
    # 30 and 45 min of a day: below 99 %; then the hours 23:00 and 00:00
    assert [(r.level, r.x < DAYS * 3) for r in bad] == [
        ("poor", True),
        ("poor", True),
        ("poor", False),
        ("poor", False),
    ]
    assert bad[1].title == (
        "2026-12-05: 96.87 % · down 45 min\noutage 2026-12-04 23:30 \u2013 2026-12-05 00:45 (1 h 15 min)"
    )
    assert strip.days[0].startswith("2026-12-05: 96.87 % · down 45 min; outage")
    assert len(strip.days) == 2


def test_strips_speak_vietnamese() -> None:
    history, monitor = build([(at("2026-12-06 09:50"), None)], first=at("2026-12-03 18:00"))
    strip = strip_of(history, monitor, "vi")
    texts = " ".join([strip.label, *(r.title for r in strip.rects)])
    assert "chưa được giám sát" in texts and "gián đoạn 40 phút" in texts
    assert "đang diễn ra" in texts and "not yet" not in texts and "outage" not in texts


def test_levels() -> None:
    assert level((0.0, 0.0)) == "none"
    assert level((0.0, 100.0)) == "full"
    assert level((0.05, 100.0)) == "good"
    assert level((0.5, 100.0)) == "fair"
    assert level((5.0, 100.0)) == "poor"


# -- the cache -------------------------------------------------------------------------


class _State:
    def __init__(self, outage_start: float | None = None) -> None:
        self.outage_start = outage_start


def test_strips_are_kept_until_an_outage_opens_and_the_groups_pool_their_targets() -> None:
    history, monitor = build()
    histories = {"a": history, "b": TargetHistory(at("2026-12-06 09:00"))}
    calls: list[int] = []

    def uptime(names: Iterable[str], edges: Sequence[float]) -> Buckets:
        calls.append(1)
        baseline = Baseline(monitor, edges)
        return Buckets(baseline, {n: series_of(histories[n], baseline) for n in names})

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)
    bars = UptimeBars(uptime, env)
    groups = {"Quảng Ngãi": {"Đức Phổ": ["a", "b"]}}
    states = {"a": _State(), "b": _State()}
    loc = Locale("en", VN, NOW)
    drawn = bars.draw(groups, states, loc)  # type: ignore[arg-type]
    assert len(calls) == 2  # days and hours
    assert bars.draw(groups, states, Locale("en", VN, NOW + 5)) is drawn  # type: ignore[arg-type]
    # Quiet: a shared strip, an image with the strip's title (its bars in the image).
    assert '<img class="bars" src="/status/bars/' in drawn.targets["a"]
    assert "<script" not in drawn.targets["a"]
    site = drawn.sites[("Quảng Ngãi", "Đức Phổ")]
    assert "since 2026-12-06 09:00" not in site and "90 d: 100.00 %" in site
    history.start_outage(NOW - 60)
    states["a"] = _State(NOW - 60)
    again = bars.draw(groups, states, Locale("en", VN, NOW + 10))  # type: ignore[arg-type]
    assert again is not drawn and len(calls) == 4
    assert (
        'class="poor"' in again.targets["a"]
        and 'class="poor"' in again.sites[("Quảng Ngãi", "Đức Phổ")]
    )
    assert "<svg" in again.targets["a"] and "<img" not in again.targets["a"]
    assert math.isfinite(NOW)


def test_a_quiet_strip_is_one_image_shared_by_its_rows_and_served_by_its_hash() -> None:
    """Rows of one shape show one image; its SVG holds the same bars as the inline strip
    would; an unknown key finds nothing; the previous drawing's images stay served."""
    _, monitor = build()
    first = at("2026-12-01 12:00")
    histories = {n: TargetHistory(first) for n in ("a", "b", "c")}
    histories["d"] = TargetHistory(at("2026-12-06 09:00"))  # another shape

    def uptime(names: Iterable[str], edges: Sequence[float]) -> Buckets:
        baseline = Baseline(monitor, edges)
        return Buckets(baseline, {n: series_of(histories[n], baseline) for n in names})

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)
    bars = UptimeBars(uptime, env)
    groups = {"P": {"S": ["a", "b", "c", "d"]}}
    states = {n: _State() for n in histories}
    drawn = bars.draw(groups, states, Locale("en", VN, NOW))  # type: ignore[arg-type]
    sources = {
        n: re.search(r'src="/status/bars/([0-9a-f]{16})\.svg"', drawn.targets[n]) for n in histories
    }
    keys = {n: m.group(1) for n, m in sources.items() if m is not None}
    assert set(keys) == {"a", "b", "c", "d"}
    assert keys["a"] == keys["b"] == keys["c"] != keys["d"]
    assert drawn.targets["a"] is drawn.targets["b"]  # rendered once
    assert 'title="since 2026-12-01: 100.00 % · 48 h: 100.00 %"' in drawn.targets["a"]
    image = bars.image(keys["a"])
    assert image is not None and image.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"')
    # Named by its picture and its figure (so a key always stands for one figure).
    label = drawn.strips["a"].label
    assert hashlib.sha256(image + b"\n" + label.encode()).hexdigest()[:16] == keys["a"]
    # The bars in the image are the strip's: not observed before Dec 1, then 100 %.
    strip = drawn.strips["a"]
    fills = re.findall(rb'<rect fill="(#[0-9a-f]{6})" x="(\d+)"', image)
    assert [(f.decode(), int(x)) for f, x in fills] == [(FILLS[r.level], r.x) for r in strip.rects]
    assert [r.level for r in strip.rects][:2] == ["none", "full"]
    assert drawn.data("a") == {**strip.data(), "src": f"/status/bars/{keys['a']}.svg"}
    assert bars.image("0" * 16) is None
    # The overview's rows show it by a class per image, from one stylesheet.
    version, css = bars.stylesheet()
    assert css.decode().splitlines() == sorted(
        f".q-{k}{{background-image:url(/status/bars/{k}.svg)}}" for k in {keys["a"], keys["d"]}
    )
    assert bars.stylesheet() == (version, css)
    # A redraw (an outage opened elsewhere) keeps the images a page may still ask for.
    histories["d"].start_outage(NOW - 60)
    states["d"] = _State(NOW - 60)
    again = bars.draw(groups, states, Locale("en", VN, NOW + 10))  # type: ignore[arg-type]
    assert "<img" not in again.targets["d"] and bars.image(keys["d"]) is not None
    # The previous drawing's classes stay (with any the new drawing adds).
    assert set(css.decode().splitlines()) <= set(bars.stylesheet()[1].decode().splitlines())
    # Once the previous drawing is gone, so is its class (and the version moves).
    histories["e"] = TargetHistory(first)
    groups["P"]["S"].append("e")
    states["e"] = _State()
    third = bars.draw(groups, states, Locale("en", VN, NOW + 20))  # type: ignore[arg-type]
    newer, sheet = bars.stylesheet()
    shown = {bars.key(src) for drawing in (again, third) for src in drawing.sources.values()}
    assert newer != version and keys["d"] not in shown
    assert set(re.findall(r"\.q-([0-9a-f]{16})\{", sheet.decode())) == shown


def test_targets_with_their_own_outages_get_their_own_strips() -> None:
    """Strips made for one target only must not be mistaken for one another."""
    monitor = MonitorHistory()
    monitor.set_period(0.0, None)
    histories = {}
    for i, name in enumerate(["a", "b", "c", "d"]):
        history = TargetHistory(0.0)
        start = at("2026-12-05 01:00") + i * 3600
        history.start_outage(start)
        history.end_outage(start + 60 * (i + 1), monitor, False)
        histories[name] = history

    def uptime(names: Iterable[str], edges: Sequence[float]) -> Buckets:
        baseline = Baseline(monitor, edges)
        return Buckets(baseline, {n: series_of(histories[n], baseline) for n in names})

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True)
    groups = {"P": {"S": list(histories)}}
    states = {name: _State() for name in histories}
    drawn = UptimeBars(uptime, env).draw(groups, states, Locale("en", VN, NOW))  # type: ignore[arg-type]
    for i, name in enumerate(histories):
        assert f"down {i + 1} min" in drawn.targets[name]
        assert sum(f"down {j + 1} min" in drawn.targets[name] for j in range(4)) == 1
