"""Time to dark: when a UPS on battery runs out, from two estimates, the earlier one.

A UPS polled with the ``ups`` SNMP module reports whether it is on battery,
its own estimate of the runtime left (upsEstimatedMinutesRemaining) and the
charge left (upsEstimatedChargeRemaining). The device's runtime is computed
from the load at that moment and is often optimistic on an ageing battery;
the charge polled over time shows how fast this battery really drains. So
two predictions of the moment the site goes dark are made:

- **device**: the poll's time plus the runtime the device reports;
- **trend**: a least-squares line through the charge of the recent polls on
  battery (at most :data:`TREND_POINTS` polls within :data:`TREND_WINDOW`
  seconds), extended to zero charge. It needs :data:`MIN_POINTS` polls and a
  falling line; a battery that is charging again (its charge rose
  :data:`RECHARGE_STEP` above the lowest of the window) starts a new window,
  since the earlier discharge no longer describes it.

The earlier of the two is the prediction, and it says which one it is
(``method``): a NOC sends the generator truck on the pessimistic figure.

Pure: times come with the readings (the polls' start times), nothing reads a
clock, so tests drive it with any timeline. :class:`PowerWatch` holds one
:class:`DischargeTrend` per UPS target; the daemon owns it (runtime state,
never on config objects).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

TREND_WINDOW: Final = 1800.0
"""Seconds of polls on battery the trend looks back over."""
TREND_POINTS: Final = 60
"""Polls kept for the trend at most (bounded memory per UPS, whatever the interval)."""
MIN_POINTS: Final = 3
"""Polls on battery with a charge before the trend says anything."""
RECHARGE_STEP: Final = 0.03
"""A charge this far above the window's lowest (3 points of percent, beyond the
1-point steps and jitter of reported charges) means the battery is charging."""
_FLAT: Final = 1e-9
"""Slopes above this (charge ratio per second, i.e. under 0.4 % a year) are not a discharge."""

Method = Literal["device", "trend"]


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll's power figures (the ``ups`` module's values) at ``at`` (UNIX seconds)."""

    at: float
    on_battery: bool
    charge: float | None = None  # 0..1
    runtime: float | None = None  # seconds, as the device estimates them

    @classmethod
    def from_values(cls, at: float, values: Mapping[str, float]) -> Reading | None:
        """From a result's values; None when the result carries no UPS figures."""
        on_battery = values.get("ups_on_battery")
        if on_battery is None:
            return None
        return cls(
            at,
            on_battery >= 0.5,
            values.get("ups_battery_charge_ratio"),
            values.get("ups_battery_runtime_seconds"),
        )


@dataclass(frozen=True, slots=True)
class Estimate:
    """When a UPS on battery is predicted to run out, and how that was worked out."""

    dark_at: float  # UNIX seconds: the earlier of the two predictions
    method: Method  # which one it is
    device_at: float | None  # poll time + the device's runtime
    trend_at: float | None  # the charge line reaching zero
    charge: float | None  # the last charge reported
    rate: float | None  # charge ratio lost per second by the trend (positive), if falling
    on_battery_since: float  # first poll seen on battery in this episode

    def seconds_left(self, now: float) -> float:
        return self.dark_at - now


def least_squares(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """(slope, value at the last point's time) of the least-squares line through ``points``.

    Times are taken relative to their mean, so UNIX-sized times lose no
    precision. None for fewer than two distinct times.
    """
    n = len(points)
    if n < 2:
        return None
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread <= 0.0:
        return None
    slope = sum((t - mean_t) * (v - mean_v) for t, v in points) / spread
    last_t = points[-1][0]
    return slope, mean_v + slope * (last_t - mean_t)


class DischargeTrend:
    """One UPS: its recent charge on battery and its latest reading."""

    def __init__(
        self,
        *,
        window: float = TREND_WINDOW,
        max_points: int = TREND_POINTS,
        min_points: int = MIN_POINTS,
    ) -> None:
        self.window = window
        self.min_points = max(2, min_points)
        self.points: deque[tuple[float, float]] = deque(maxlen=max(self.min_points, max_points))
        self.last: Reading | None = None
        self.since: float | None = None  # first poll on battery of this episode
        self._estimate: Estimate | None = None
        self._stale = True  # the cached estimate predates the last reading

    def observe(self, reading: Reading) -> None:
        """Take a poll's reading; a reading older than the last one is ignored."""
        if self.last is not None and reading.at < self.last.at:
            return  # a late result must not rewind the line
        self.last = reading
        self._stale = True
        if not reading.on_battery:
            self.points.clear()  # mains back: the next discharge is a new story
            self.since = None
            return
        if self.since is None:
            self.since = reading.at
        if reading.charge is None:
            return
        if self.points and reading.charge >= min(v for _, v in self.points) + RECHARGE_STEP:
            self.points.clear()  # charging again (a generator, solar): start a new line
        self.points.append((reading.at, reading.charge))
        horizon = reading.at - self.window
        while self.points and self.points[0][0] < horizon:
            self.points.popleft()

    def trend_at(self) -> tuple[float, float] | None:
        """(when the charge line reaches zero, charge lost per second), or None."""
        if len(self.points) < self.min_points:
            return None
        fit = least_squares(list(self.points))
        if fit is None:
            return None
        slope, level = fit
        if slope >= -_FLAT:
            return None  # flat or rising: no discharge to extend
        last_t = self.points[-1][0]
        return last_t + max(0.0, level) / -slope, -slope

    def estimate(self) -> Estimate | None:
        """The prediction now, or None when not on battery or nothing can be said.

        Worked out once per reading (the alert timer asks every second)."""
        if self._stale:
            self._estimate = self._work_out()
            self._stale = False
        return self._estimate

    def _work_out(self) -> Estimate | None:
        last = self.last
        if last is None or not last.on_battery or self.since is None:
            return None
        device_at = last.at + last.runtime if last.runtime is not None else None
        trend = self.trend_at()
        trend_at = trend[0] if trend is not None else None
        rate = trend[1] if trend is not None else None
        if device_at is None and trend_at is None:
            return None
        method: Method
        if trend_at is not None and (device_at is None or trend_at < device_at):
            dark_at, method = trend_at, "trend"
        else:
            assert device_at is not None
            dark_at, method = device_at, "device"
        return Estimate(dark_at, method, device_at, trend_at, last.charge, rate, self.since)


class PowerWatch:
    """Every UPS target's trend: the daemon's power state (one per daemon)."""

    def __init__(self, *, window: float = TREND_WINDOW, max_points: int = TREND_POINTS) -> None:
        self.window = window
        self.max_points = max_points
        self._trends: dict[str, DischargeTrend] = {}

    def observe(self, target: str, at: float, values: Mapping[str, float]) -> bool:
        """A result's values; True when they were UPS figures (the target's outlook may move)."""
        reading = Reading.from_values(at, values)
        if reading is None:
            return False
        trend = self._trends.get(target)
        if trend is None:
            if not reading.on_battery:
                return True  # on mains and never seen on battery: nothing to keep
            trend = self._trends[target] = DischargeTrend(
                window=self.window, max_points=self.max_points
            )
        trend.observe(reading)
        if not reading.on_battery:
            del self._trends[target]
        return True

    def estimate(self, target: str) -> Estimate | None:
        trend = self._trends.get(target)
        return trend.estimate() if trend is not None else None

    def on_battery(self) -> dict[str, Estimate | None]:
        """Every target on battery now, with its prediction (None while nothing can be said)."""
        return {name: trend.estimate() for name, trend in self._trends.items()}

    def keep(self, names: Iterable[str]) -> list[str]:
        """Forget targets no longer configured; returns the forgotten ones."""
        wanted = set(names)
        gone = [name for name in self._trends if name not in wanted]
        for name in gone:
            del self._trends[name]
        return gone


def goes_dark_with(
    name: str, parents: Mapping[str, tuple[str, ...]], children: Mapping[str, tuple[str, ...]]
) -> list[str]:
    """The targets that go dark when ``name`` does (breadth first, each once).

    A target behind it goes dark when every one of its parents does, as the
    continuity model makes a target UNREACHABLE (one working parent is
    redundancy); so a site fed through two routers stays lit when one dies.
    """
    dark = {name}
    out: list[str] = []
    queue = list(children.get(name, ()))
    while queue:
        child = queue.pop(0)
        if child in dark or not all(p in dark for p in parents.get(child, ())):
            continue
        dark.add(child)
        out.append(child)
        queue.extend(children.get(child, ()))
    return out
