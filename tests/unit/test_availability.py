"""Continuity arithmetic as tables, and properties against a second-by-second oracle.

Most tables use short windows (``w10`` = the last 10 s, ``w100`` = the last
100 s, MTTR/MTBF over 100 s) at ``now = 100`` so the numbers can be checked
by eye; one table uses the real 1h/24h/7d/30d windows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine.availability import (
    DAY,
    WINDOWS,
    Figures,
    MonitorHistory,
    TargetHistory,
    clip,
    figures,
    intersect,
    normalize,
    subtract,
)

SHORT = {"w10": 10.0, "w100": 100.0}
Period = tuple[float, float | None]


def build(
    outages: Sequence[Period] = (),
    *,
    periods: Sequence[Period] = ((0, None),),
    isolation: Sequence[Period] = (),
    maintenance: Sequence[Period] = (),
    first: float | None = 0,
    count_maintenance: bool = False,
) -> tuple[TargetHistory, MonitorHistory]:
    """A target's history built the way the store builds it: context first, then outages."""
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


def short(
    outages: Sequence[Period] = (),
    now: float = 100,
    count_maintenance: bool = False,
    **context: object,
) -> Figures:
    history, monitor = build(outages, count_maintenance=count_maintenance, **context)  # type: ignore[arg-type]
    return figures(
        history,
        monitor,
        now,
        count_maintenance=count_maintenance,
        windows=SHORT,
        mean_window=100,
    )


# --------------------------------------------------------------------------
# Interval helpers
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        ([], []),
        ([(5, 5)], []),  # empty intervals vanish
        ([(3, 4), (1, 2)], [(1, 2), (3, 4)]),
        ([(1, 3), (2, 4)], [(1, 4)]),
        ([(1, 2), (2, 3)], [(1, 3)]),  # touching ones join
        ([(1, 10), (2, 3)], [(1, 10)]),
    ],
)
def test_normalize(given_: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
    assert normalize(given_) == expected


def test_clip_intersect_subtract() -> None:
    a = [(0.0, 10.0), (20.0, 30.0), (40.0, math.inf)]
    assert clip(a, 5, 45) == [(5, 10), (20, 30), (40, 45)]
    assert clip(a, 10, 20) == []
    assert intersect(a, [(8.0, 22.0), (29.0, 41.0)]) == [(8, 10), (20, 22), (29, 30), (40, 41)]
    assert subtract(a, [(5.0, 25.0), (45.0, 50.0)]) == [
        (0, 5),
        (25, 30),
        (40, 45),
        (50, math.inf),
    ]
    assert subtract([(0.0, 10.0), (12.0, 20.0)], [(5.0, 15.0)]) == [(0, 5), (15, 20)]


# --------------------------------------------------------------------------
# Availability tables
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "outages", "context", "w10", "w100", "downtime"),
    [
        ("no outage", [], {}, 1.0, 1.0, 0),
        ("crossing the 10 s window's start", [(85, 95)], {}, 0.5, 0.9, 10),
        ("open outage reaches now", [(80, None)], {}, 0.0, 0.8, 20),
        ("two outages", [(10, 20), (92, 94)], {}, 0.8, 0.88, 12),
        ("first observed at 50", [(60, 70)], {"first": 50}, 1.0, 0.8, 10),
        ("first observed at 95", [], {"first": 95}, 1.0, 1.0, 0),
        ("never observed", [], {"first": None}, None, None, 0),
        (
            "monitor not running 40-60",
            [(30, 70)],
            {"periods": [(0, 40), (60, None)]},
            1.0,
            0.75,  # 20 s down of 80 s observed
            20,
        ),
        ("monitor stopped at 90", [], {"periods": [(0, 90)]}, None, 1.0, 0),
        (
            "maintenance excluded",
            [(30, 50)],
            {"maintenance": [(20, 40)]},
            1.0,
            0.875,  # 10 s down of 80 s observed
            10,
        ),
        (
            "maintenance counted",
            [(30, 50)],
            {"maintenance": [(20, 40)], "count_maintenance": True},
            1.0,
            0.8,
            20,
        ),
        # observed until 95: 3 s down of 5 (w10), of 95 (w100)
        ("open maintenance", [(92, None)], {"maintenance": [(95, None)]}, 0.4, 1 - 3 / 95, 3),
        ("isolated 0-50", [(40, 60)], {"isolation": [(0, 50)]}, 1.0, 0.8, 10),
        ("isolated since 95", [(90, None)], {"isolation": [(95, None)]}, 0.0, 1 - 5 / 95, 5),
        (
            "outage only inside a monitor gap",
            [(45, 55)],
            {"periods": [(0, 40), (60, None)]},
            1.0,
            1.0,
            0,
        ),
    ],
)
def test_availability(
    case: str,
    outages: list[Period],
    context: dict[str, object],
    w10: float | None,
    w100: float | None,
    downtime: float,
) -> None:
    result = short(outages, **context)  # type: ignore[arg-type]
    assert result.availability == {"w10": pytest.approx(w10), "w100": pytest.approx(w100)}
    assert result.downtime_seconds_total == pytest.approx(downtime)
    assert result.outages_total == len(outages)


def test_real_windows() -> None:
    now = 40 * DAY
    history, monitor = build([(now - 10 * DAY, now - 9 * DAY), (now - 2 * 3600, now - 1800)])
    result = figures(history, monitor, now)
    assert set(result.availability) == set(WINDOWS) == {"1h", "24h", "7d", "30d"}
    assert result.availability["1h"] == pytest.approx(0.5)
    assert result.availability["24h"] == pytest.approx(1 - 5400 / DAY)
    assert result.availability["7d"] == pytest.approx(1 - 5400 / (7 * DAY))
    assert result.availability["30d"] == pytest.approx(1 - (5400 + DAY) / (30 * DAY))


def test_a_long_open_outage_counts_from_its_start() -> None:
    """An outage older than every window still adds its whole downtime to the total."""
    now = 100 * DAY
    history, monitor = build([(10 * DAY, None)], maintenance=[(20 * DAY, 21 * DAY)])
    result = figures(history, monitor, now)
    assert result.availability["30d"] == 0.0
    assert result.downtime_seconds_total == pytest.approx(89 * DAY)


# --------------------------------------------------------------------------
# MTTR and MTBF
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "outages", "context", "now", "mttr", "mtbf"),
    [
        ("none", [], {}, 100, None, None),
        # 25 s down of 100 observed; 3 started; 10 and 5 repaired
        ("two closed, one open", [(10, 20), (50, 55), (90, None)], {}, 100, 7.5, 25.0),
        ("only an open one", [(60, None)], {}, 100, None, 60.0),
        # (50, 60) ended before the window (100, 200]; (90, 110) ended in it with
        # all its 20 s, but started before it, so no failure started in the window
        ("ended before / started before", [(50, 60), (90, 110)], {}, 200, 20.0, None),
        (
            "inside maintenance does not count",
            [(10, 20), (50, 55)],
            {"maintenance": [(0, 30)]},
            100,
            5.0,
            65.0,  # 70 observed - 5 down, one counted failure
        ),
        (
            "maintenance counted",
            [(10, 20), (50, 55)],
            {"maintenance": [(0, 30)], "count_maintenance": True},
            100,
            7.5,
            42.5,
        ),
        (
            "a monitor gap shortens repair",
            [(30, 70)],
            {"periods": [(0, 40), (60, None)]},
            100,
            20.0,
            60.0,
        ),
    ],
)
def test_mttr_mtbf(
    case: str,
    outages: list[Period],
    context: dict[str, object],
    now: float,
    mttr: float | None,
    mtbf: float | None,
) -> None:
    result = short(outages, now=now, **context)  # type: ignore[arg-type]
    assert (result.mttr_seconds, result.mtbf_seconds) == (
        pytest.approx(mttr),
        pytest.approx(mtbf),
    )


def test_availability_matches_mtbf_and_mttr_when_outages_are_inside_the_window() -> None:
    result = short([(10, 20), (50, 55), (70, 75)])
    assert result.mtbf_seconds is not None
    assert result.mttr_seconds is not None
    assert result.availability["w100"] == pytest.approx(
        result.mtbf_seconds / (result.mtbf_seconds + result.mttr_seconds)
    )


# --------------------------------------------------------------------------
# Outage bookkeeping
# --------------------------------------------------------------------------


def test_one_open_outage_at_a_time_and_no_overlap() -> None:
    monitor = MonitorHistory()
    monitor.set_period(0, None)
    history = TargetHistory(0)
    assert history.start_outage(10) is not None
    assert history.start_outage(12) is None  # already open
    assert history.end_outage(20, monitor, False) is not None
    assert history.end_outage(25, monitor, False) is None  # nothing open
    span = history.start_outage(15)  # a backdated start moves to the previous end
    assert span is not None
    assert span.start == 20
    assert history.end_outage(18, monitor, False) is not None  # an end before the start
    assert [(s.start, s.end) for s in history.spans] == [(10, 20), (20, 20)]
    assert history.outages_total == 2


def test_forgetting_keeps_totals_and_figures() -> None:
    history, monitor = build([(10, 20), (150, 160), (190, None)], maintenance=[(0, 5)])
    before = figures(history, monitor, 200, windows=SHORT, mean_window=100)
    history.forget_before(100)
    assert [s.start for s in history.spans] == [150, 190]
    assert figures(history, monitor, 200, windows=SHORT, mean_window=100) == before


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

NOW = 200
WINDOWS_P = {"a": 30.0, "b": 100.0, "c": 200.0}
MEAN_P = 100.0

starts = st.integers(0, NOW - 1)
lengths = st.integers(0, 80) | st.none()
periods_by_start = st.dictionaries(starts, lengths, max_size=4)


def _as_periods(by_start: Mapping[int, int | None]) -> list[Period]:
    return [(s, None if n is None else s + n) for s, n in by_start.items()]


@st.composite
def toggles(draw: st.DrawFn) -> list[tuple[str, int]]:
    """DOWN/UP results at increasing times; DOWN may be backdated, either may repeat."""
    times = sorted(draw(st.lists(starts, max_size=12)))
    out = []
    for t in times:
        kind = draw(st.sampled_from(["down", "up"]))
        back = draw(st.integers(0, 15)) if kind == "down" else 0
        out.append((kind, max(0, t - back)))
    return out


def replay(
    events: list[tuple[str, int]],
    monitor: MonitorHistory,
    count_maintenance: bool,
    history: TargetHistory,
) -> None:
    for kind, at in events:
        if kind == "down":
            history.start_outage(at)
        else:
            history.end_outage(at, monitor, count_maintenance)


def _inside(u: int, periods: list[Period], upto: float) -> bool:
    return any(s <= u < (upto if e is None else e) for s, e in periods)


def oracle(
    history: TargetHistory,
    periods: list[Period],
    isolation: list[Period],
    maintenance: list[Period],
    first: int | None,
    count_maintenance: bool,
) -> dict[str, object]:
    """The figures by looking at every second (all boundaries are whole seconds)."""
    spans = [(s.start, s.end) for s in history.spans]

    def seen(u: int) -> bool:
        return (
            first is not None
            and u >= first
            and _inside(u, periods, math.inf)
            and not _inside(u, isolation, math.inf)
            and (count_maintenance or not _inside(u, maintenance, math.inf))
        )

    def down(u: int, span: tuple[float, float | None]) -> bool:
        return seen(u) and span[0] <= u < (NOW if span[1] is None else span[1])

    per_span = [sum(down(u, sp) for u in range(NOW)) for sp in spans]
    availability: dict[str, float | None] = {}
    for name, width in WINDOWS_P.items():
        window = range(NOW - int(width), NOW)
        observed = sum(seen(u) for u in window)
        lost = sum(any(down(u, sp) for sp in spans) for u in window)
        availability[name] = None if observed == 0 else 1 - lost / observed
    lo = NOW - MEAN_P
    repaired = [
        d
        for sp, d in zip(spans, per_span, strict=True)
        if sp[1] is not None and lo < sp[1] <= NOW and d > 0
    ]
    failures = sum(1 for sp, d in zip(spans, per_span, strict=True) if lo <= sp[0] < NOW and d > 0)
    window = range(int(lo), NOW)
    up = sum(seen(u) and not any(down(u, sp) for sp in spans) for u in window)
    return {
        "availability": availability,
        "downtime": sum(per_span),
        "mttr": sum(repaired) / len(repaired) if repaired else None,
        "mtbf": up / failures if failures else None,
    }


@settings(max_examples=300, deadline=None)
@given(
    events=toggles(),
    periods=periods_by_start,
    isolation=periods_by_start,
    maintenance=periods_by_start,
    first=st.integers(0, NOW) | st.none(),
    count_maintenance=st.booleans(),
)
def test_figures_agree_with_a_second_by_second_oracle(
    events: list[tuple[str, int]],
    periods: dict[int, int | None],
    isolation: dict[int, int | None],
    maintenance: dict[int, int | None],
    first: int | None,
    count_maintenance: bool,
) -> None:
    monitor = MonitorHistory()
    for s, e in _as_periods(periods):
        monitor.set_period(s, e)
    for s, e in _as_periods(isolation):
        monitor.set_isolation(s, e)
    history = TargetHistory(first)
    for s, e in _as_periods(maintenance):
        history.set_maintenance(s, e)
    replay(events, monitor, count_maintenance, history)
    # start_outage makes a target observed from its first outage on
    first = history.first_observed  # type: ignore[assignment]
    expected = oracle(
        history,
        _as_periods(periods),
        _as_periods(isolation),
        _as_periods(maintenance),
        first,
        count_maintenance,
    )
    got = figures(
        history,
        monitor,
        NOW,
        count_maintenance=count_maintenance,
        windows=WINDOWS_P,
        mean_window=MEAN_P,
    )
    assert got.availability == {k: pytest.approx(v) for k, v in expected["availability"].items()}  # type: ignore[attr-defined]
    assert got.downtime_seconds_total == pytest.approx(expected["downtime"])
    assert got.mttr_seconds == pytest.approx(expected["mttr"])
    assert got.mtbf_seconds == pytest.approx(expected["mtbf"])
    for ratio in got.availability.values():
        assert ratio is None or 0.0 <= ratio <= 1.0


@settings(max_examples=300, deadline=None)
@given(events=toggles())
def test_outage_sequences_keep_their_invariants(events: list[tuple[str, int]]) -> None:
    """Outages never overlap, each closes at most once, downtime is closed plus open."""
    monitor = MonitorHistory()
    monitor.set_period(0, None)
    history = TargetHistory(0)
    closed: dict[int, float] = {}  # id(span) -> its end when it closed
    opened = 0
    for kind, at in events:
        if kind == "down":
            opened += history.start_outage(at) is not None
        else:
            span = history.end_outage(at, monitor, False)
            if span is not None:
                assert id(span) not in closed
                assert span.end is not None
                closed[id(span)] = span.end
        for span in history.spans:
            if id(span) in closed:  # a closed outage never changes again
                assert span.end == closed[id(span)]
    spans = history.spans
    assert history.outages_total == opened == len(spans)
    assert all(s.end is not None for s in spans[:-1])
    for a, b in itertools.pairwise(spans):
        assert a.end is not None
        assert a.start <= a.end <= b.start
    result = figures(history, monitor, NOW, windows=WINDOWS_P, mean_window=MEAN_P)
    expected = sum((NOW if s.end is None else s.end) - s.start for s in spans)
    assert result.downtime_seconds_total == pytest.approx(expected)
    for ratio in result.availability.values():
        assert ratio is None or 0.0 <= ratio <= 1.0
