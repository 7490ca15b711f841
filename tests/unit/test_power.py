"""Time to dark: the estimator on made-up timelines (a fake clock: every time is given)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from monitor.engine.power import (
    RECHARGE_STEP,
    DischargeTrend,
    Estimate,
    PowerWatch,
    Reading,
    goes_dark_with,
    least_squares,
)

T0 = 1_800_000_000.0
MINUTE = 60.0


def run(readings: Sequence[Reading], **kwargs: float) -> Estimate | None:
    trend = DischargeTrend(**kwargs)  # type: ignore[arg-type]
    for reading in readings:
        trend.observe(reading)
    return trend.estimate()


def discharge(
    charges: Sequence[float], *, every: float = MINUTE, runtime: float | None = None
) -> list[Reading]:
    """Polls on battery ``every`` seconds with these charges (percent)."""
    return [
        Reading(T0 + i * every, True, charge / 100.0, runtime) for i, charge in enumerate(charges)
    ]


LINEAR = [90.0 - i for i in range(10)]  # 1 % a minute: 81 % left after 9 minutes
NOISE = [0.0, 1.0, -1.0, 0.0, -1.0, 1.0, 1.0, -1.0, 0.0, 0.0, 1.0, -1.0]


@pytest.mark.parametrize(
    ("name", "readings", "method", "dark_at", "tolerance"),
    [
        # 81 % at 1 %/min from T0+9 min: dark 81 min later; the device says 3 h.
        (
            "linear, device optimistic",
            discharge(LINEAR, runtime=180 * MINUTE),
            "trend",
            T0 + 90 * MINUTE,
            1e-6,
        ),
        # The device's 20 minutes come before the trend's 81.
        (
            "device more pessimistic",
            discharge(LINEAR, runtime=20 * MINUTE),
            "device",
            T0 + 29 * MINUTE,
            1e-6,
        ),
        # Jitter of a point around 1 %/min: the line still finds the rate (within 10 %).
        (
            "noisy charge",
            discharge([90.0 - i + NOISE[i] for i in range(12)], runtime=600 * MINUTE),
            "trend",
            T0 + 90 * MINUTE,
            0.1 * 79 * MINUTE,
        ),
        # Only two polls: no trend yet, the device's figure is all there is.
        (
            "too few points",
            discharge([90.0, 89.0], runtime=50 * MINUTE),
            "device",
            T0 + 51 * MINUTE,
            1e-6,
        ),
        # A charge that stays put is no discharge: the device decides.
        (
            "flat charge",
            discharge([80.0] * 6, runtime=30 * MINUTE),
            "device",
            T0 + 35 * MINUTE,
            1e-6,
        ),
        # No runtime reported (a UPS without upsEstimatedMinutesRemaining): the trend alone.
        ("trend only", discharge(LINEAR), "trend", T0 + 90 * MINUTE, 1e-6),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_prediction(
    name: str, readings: list[Reading], method: str, dark_at: float, tolerance: float
) -> None:
    estimate = run(readings)
    assert estimate is not None, name
    assert estimate.method == method
    assert estimate.dark_at == pytest.approx(dark_at, abs=tolerance)
    assert estimate.on_battery_since == T0
    assert estimate.dark_at == min(
        t for t in (estimate.device_at, estimate.trend_at) if t is not None
    )


@pytest.mark.parametrize(
    ("name", "readings"),
    [
        ("nothing seen", []),
        ("too few points, no runtime", discharge([90.0, 89.0])),
        ("on mains", [Reading(T0, False, 1.0, 3600.0)]),
        ("mains came back", [*discharge(LINEAR, runtime=600.0), Reading(T0 + 600, False, 0.8)]),
    ],
)
def test_no_prediction(name: str, readings: list[Reading]) -> None:
    assert run(readings) is None, name


def test_charging_again_drops_the_old_discharge() -> None:
    """A generator starts while the UPS still reports battery: the charge climbs back,
    and the discharge before it says nothing about the battery any more."""
    falling = discharge(LINEAR, runtime=120 * MINUTE)
    rising = [
        Reading(T0 + (10 + i) * MINUTE, True, (81.0 + 2 * i) / 100.0, 120 * MINUTE)
        for i in range(1, 4)
    ]
    trend = DischargeTrend()
    for reading in falling:
        trend.observe(reading)
    before = trend.estimate()
    assert before is not None and before.method == "trend"
    for reading in rising:
        trend.observe(reading)
    after = trend.estimate()
    assert after is not None
    assert after.trend_at is None  # a rising line predicts no dark
    assert after.method == "device"
    assert after.dark_at == rising[-1].at + 120 * MINUTE
    # 2 points above the lowest is jitter, not charging: the line stays.
    assert RECHARGE_STEP > 0.02


def test_the_window_forgets_old_polls() -> None:
    """A fast drain an hour ago (a heavy load since shed) does not steer the line now."""
    old = discharge([90.0 - 5 * i for i in range(5)])  # 5 %/min
    late = [Reading(T0 + (60 + i) * MINUTE, True, (70.0 - i) / 100.0) for i in range(6)]
    estimate = run([*old, *late], window=30 * MINUTE)
    assert estimate is not None and estimate.rate is not None
    assert estimate.rate == pytest.approx(0.01 / MINUTE)
    assert estimate.dark_at == pytest.approx(late[-1].at + 65 * MINUTE)


def test_points_are_bounded() -> None:
    trend = DischargeTrend(max_points=5)
    for reading in discharge([90.0 - 0.5 * i for i in range(50)]):
        trend.observe(reading)
    assert len(trend.points) == 5


def test_a_late_reading_is_ignored() -> None:
    trend = DischargeTrend()
    for reading in discharge(LINEAR):
        trend.observe(reading)
    before = trend.estimate()
    trend.observe(Reading(T0, True, 0.10))  # an old result arriving late
    assert trend.estimate() == before


def test_a_new_episode_starts_afresh() -> None:
    trend = DischargeTrend()
    for reading in discharge(LINEAR):
        trend.observe(reading)
    trend.observe(Reading(T0 + 10 * MINUTE, False, 0.81))
    again = T0 + 20 * MINUTE
    trend.observe(Reading(again, True, 0.95, 40 * MINUTE))
    estimate = trend.estimate()
    assert estimate is not None
    assert estimate.on_battery_since == again
    assert estimate.trend_at is None and estimate.method == "device"


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0.0, 1.0), (1.0, 0.0)], (-1.0, 0.0)),
        ([(T0, 0.9), (T0 + 60, 0.8), (T0 + 120, 0.7)], (-0.1 / 60, 0.7)),
        ([(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)], (0.5, 2.5)),
        ([(5.0, 1.0), (5.0, 2.0)], None),
        ([(5.0, 1.0)], None),
    ],
)
def test_least_squares(
    points: list[tuple[float, float]], expected: tuple[float, float] | None
) -> None:
    fit = least_squares(points)
    if expected is None:
        assert fit is None
    else:
        assert fit == pytest.approx(expected)


def test_the_watch_keeps_only_ups_targets_on_battery() -> None:
    watch = PowerWatch()
    assert not watch.observe("router", T0, {"rtt_avg_seconds": 0.01})
    assert watch.observe("ups-mains", T0, {"ups_on_battery": 0.0, "ups_battery_charge_ratio": 1.0})
    assert watch.on_battery() == {}
    for i, charge in enumerate(LINEAR):
        watch.observe(
            "ups-1",
            T0 + i * MINUTE,
            {"ups_on_battery": 1.0, "ups_battery_charge_ratio": charge / 100.0},
        )
    watch.observe("ups-2", T0, {"ups_on_battery": 1.0})  # on battery, nothing to go by yet
    outlook = watch.on_battery()
    assert set(outlook) == {"ups-1", "ups-2"}
    assert outlook["ups-2"] is None
    assert outlook["ups-1"] is not None
    assert outlook["ups-1"].dark_at == pytest.approx(T0 + 90 * MINUTE)
    assert watch.keep(["ups-1"]) == ["ups-2"]
    watch.observe("ups-1", T0 + 11 * MINUTE, {"ups_on_battery": 0.0})
    assert watch.on_battery() == {} and watch.estimate("ups-1") is None


TREE = {
    # ups-1 feeds rtr-1; behind it two sites; site-c also hangs on rtr-2 (redundant);
    # site-d behind site-a (two levels down).
    "rtr-1": ("ups-1",),
    "site-a": ("rtr-1",),
    "site-b": ("rtr-1",),
    "site-c": ("rtr-1", "rtr-2"),
    "site-d": ("site-a",),
    "rtr-2": (),
    "ups-1": (),
}


def children_of(parents: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for child, mine in parents.items():
        for parent in mine:
            out.setdefault(parent, []).append(child)
    return {k: tuple(v) for k, v in out.items()}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ups-1", ["rtr-1", "site-a", "site-b", "site-d"]),
        ("rtr-1", ["site-a", "site-b", "site-d"]),
        ("rtr-2", []),
        ("site-d", []),
    ],
)
def test_what_goes_dark_with_a_target(name: str, expected: list[str]) -> None:
    assert goes_dark_with(name, TREE, children_of(TREE)) == expected
