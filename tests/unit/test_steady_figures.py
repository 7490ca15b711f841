"""Steady figures (``TargetHistory.steady_figures``) against the full computation.

A fake clock at today's UNIX times (so ``now - w`` rounds as in production)
runs random histories: outages opened, closed and backdated, maintenance,
the monitor's isolation and its own down time (restarts), targets first seen
recently or added later (a reload: no observed time yet), windows that see
none (an isolation or maintenance left open), the clock stepping back, steps
that land on a window's edge or within ulps of it, and figures asked with
maintenance counted or not. After every step each target's steady
figures must equal :func:`~monitor.engine.availability.figures` computed from
scratch, field for field; the steady ones are asked at every step, so what
they keep is reused across many steps of time alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import availability
from monitor.engine.availability import (
    DAY,
    HORIZON,
    STEADY_MARGIN,
    WINDOWS,
    Figures,
    MonitorHistory,
    TargetHistory,
    figures,
)

START = 1_800_000_000.0
EDGES = sorted({0.0, *WINDOWS.values(), HORIZON})
STEPS = st.one_of(
    st.sampled_from([*EDGES, 1.0, 60.0, 15.0]),
    # just before and after an edge, inside and outside the margin
    st.builds(
        lambda edge, d: edge + d,
        st.sampled_from(EDGES),
        st.sampled_from(
            [-1.0, -STEADY_MARGIN, -1e-4, -5e-7, -2.5e-7, 2.5e-7, 5e-7, 1e-4, STEADY_MARGIN, 1.0]
        ),
    ).filter(lambda step: step >= 0),
    st.sampled_from([0.1, 0.3, 1e-7]),  # times that do not add up exactly
    st.integers(0, 40 * int(DAY)).map(float),
)
TARGET = st.integers(0, 2)
OPS = st.one_of(
    st.tuples(st.just("advance"), STEPS),
    st.tuples(st.just("back"), st.sampled_from([1e-4, 1.0, 3600.0])),
    st.tuples(st.just("down"), TARGET, st.sampled_from([0.0, 30.0, 3600.0, 2 * DAY])),
    st.tuples(st.just("up"), TARGET),
    st.tuples(st.just("maintenance"), TARGET),
    st.tuples(st.just("isolation")),
    st.tuples(st.just("restart"), STEPS),
    st.tuples(st.just("observe"), TARGET, st.sampled_from([0.0, 60.0, 40 * DAY])),
    st.tuples(st.just("forget"), TARGET),
    st.tuples(st.just("add")),
    st.tuples(st.just("mode")),
)


@dataclass
class World:
    """The monitor, a few targets and the clock, changed the way the store changes them."""

    count_maintenance: bool
    now: float = START
    monitor: MonitorHistory = field(default_factory=MonitorHistory)
    targets: list[TargetHistory] = field(default_factory=list)
    period: float = START
    isolated: float | None = None
    maintenance: dict[int, float] = field(default_factory=dict)
    asked_with: bool = False
    """Whether the figures are asked with maintenance counted (usually as recorded)."""

    def __post_init__(self) -> None:
        # the monitor ran before this start, with a gap
        self.monitor.set_period(START - 50 * DAY, START - 10.0)
        self.monitor.set_period(self.period, None)
        self.asked_with = self.count_maintenance

    def apply(self, op: tuple[object, ...]) -> None:
        kind, *args = op
        if kind in ("down", "up", "maintenance", "observe", "forget"):
            index = args[0]
            assert isinstance(index, int)
            if index >= len(self.targets):
                return
            target = self.targets[index]
        if kind == "advance":
            self.now += float(args[0])  # type: ignore[arg-type]
        elif kind == "back":
            self.now -= float(args[0])  # type: ignore[arg-type]
        elif kind == "down":
            target.observe(self.now)
            target.start_outage(self.now - float(args[1]))  # type: ignore[arg-type]
        elif kind == "up":
            target.end_outage(self.now, self.monitor, self.count_maintenance)
        elif kind == "maintenance":
            start = self.maintenance.pop(index, None)
            if start is None:
                self.maintenance[index] = self.now
                target.set_maintenance(self.now, None)
            else:
                target.set_maintenance(start, self.now)
        elif kind == "isolation":
            if self.isolated is None:
                self.isolated = self.now
                self.monitor.set_isolation(self.now, None)
            else:
                self.monitor.set_isolation(self.isolated, self.now)
                self.isolated = None
        elif kind == "restart":  # the monitor is down for a while (its own down time)
            self.monitor.set_period(self.period, self.now)
            self.now += float(args[0])  # type: ignore[arg-type]
            self.period = self.now
            self.monitor.set_period(self.period, None)
        elif kind == "observe":
            target.observe(self.now - float(args[1]))  # type: ignore[arg-type]
        elif kind == "forget":
            horizon = self.now - 2 * HORIZON
            if target.needs_forgetting(horizon):
                target.forget_before(horizon)
        elif kind == "add":  # a reload adds a target: no history until it is observed
            self.targets.append(TargetHistory())
        elif kind == "mode":
            self.asked_with = not self.asked_with

    def check(self) -> None:
        for target in self.targets:
            full = figures(target, self.monitor, self.now, count_maintenance=self.asked_with)
            steady = target.steady_figures(self.monitor, self.now, self.asked_with)
            assert steady == full, (self.now, steady, full)
            assert [*steady.availability] == [*full.availability]


@settings(max_examples=1500, deadline=None)
@given(
    ops=st.lists(OPS, max_size=60),
    first=st.lists(st.sampled_from([0.0, 10.0, 20 * DAY, 40 * DAY]), min_size=1, max_size=3),
    count_maintenance=st.booleans(),
)
def test_steady_figures_equal_the_full_computation_at_every_step(
    ops: list[tuple[object, ...]], first: list[float], count_maintenance: bool
) -> None:
    world = World(count_maintenance)
    # some targets observed before this run (their history loaded at start)
    world.targets = [TargetHistory(START - back) for back in first]
    world.check()
    for op in ops:
        world.apply(op)
        world.check()


def _quiet(first: float) -> tuple[TargetHistory, MonitorHistory]:
    monitor = MonitorHistory()
    monitor.set_period(START - 50 * DAY, None)
    return TargetHistory(first), monitor


def test_a_quiet_target_gets_the_same_object_until_a_window_edge() -> None:
    """The point of it: no recomputation while nothing can move, then at the edge a
    fresh computation (here the 30 d window ceases to reach before the first observation,
    so ``observed_since`` starts to follow the horizon)."""
    history, monitor = _quiet(START)
    at_start = history.steady_figures(monitor, START + 10)
    assert at_start.observed_since == START
    assert history.steady_figures(monitor, START + 20 * DAY) is at_start
    after = history.steady_figures(monitor, START + HORIZON + 5)
    assert after is not at_start
    assert after.observed_since == START + HORIZON + 5 - HORIZON
    assert after == figures(history, monitor, START + HORIZON + 5)


def test_what_is_kept_is_dropped_by_any_change() -> None:
    """An outage, maintenance, isolation or an earlier first observation each
    take effect at once, without time passing."""
    history, monitor = _quiet(START)
    now = START + DAY
    history.steady_figures(monitor, now)
    changes = [  # each one changes a figure
        lambda: monitor.set_isolation(now - 7200, None),  # 1h: nothing observed
        lambda: monitor.set_isolation(now - 7200, now - 5400),
        lambda: history.set_maintenance(now - 7200, None),
        lambda: history.set_maintenance(now - 7200, now - 5400),
        lambda: history.observe(START - DAY),
        lambda: history.start_outage(now - 20),
        lambda: history.end_outage(now - 10, monitor, False),
    ]
    for change in changes:
        before = history.steady_figures(monitor, now)
        change()
        after = history.steady_figures(monitor, now)
        assert after == figures(history, monitor, now)
        assert after != before


def test_an_outage_in_the_horizon_is_computed_each_time() -> None:
    history, monitor = _quiet(START)
    history.start_outage(START + 100)
    history.end_outage(START + 200, monitor, False)
    one = history.steady_figures(monitor, START + 300)
    two = history.steady_figures(monitor, START + 300)
    assert one == two and one is not two
    assert isinstance(one, Figures) and one.availability["1h"] != 1.0


def test_figures_observed_all_along_are_not_computed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Observed for longer than the horizon, ``observed_since`` follows ``now`` (the
    horizon's start), yet nothing is computed again: only that field moves."""
    history, monitor = _quiet(START - 40 * DAY)
    computed: list[float] = []

    def counting(*args: Any, **kwargs: Any) -> Figures:
        computed.append(args[2])
        return figures(*args, **kwargs)

    monkeypatch.setattr(availability, "figures", counting)
    for step in range(100):
        now = START + step * 15.0
        got = history.steady_figures(monitor, now)
        assert got.observed_since == now - HORIZON
        assert got == figures(history, monitor, now)
    assert computed == [START]
