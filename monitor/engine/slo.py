"""Service level objectives: error budgets and multi-window burn rates.

``[[slo]]`` pools a set of targets (by name or labels) against an objective
over a window (default 30 days). Its error ratio in a window is the pooled
downtime over the pooled observed time; the burn rate is that ratio over the
budget (1 - objective), so 1 means spending the budget exactly as fast as the
window allows. The alert conditions are Google SRE's multi-window ones, so
the on-call person hears that continuity is *threatened* before the objective
is broken:

- fast: burn > 14.4 over both 1h and 5m (2 % of a 30-day budget in an hour);
- slow: burn > 6 over both 6h and 30m, or burn > 1 over 3d.

Pure functions; the daemon feeds them sums from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, model_validator

from monitor.config_types import Duration, StrictModel

BURN_WINDOWS: dict[str, float] = {
    "5m": 300.0,
    "30m": 1800.0,
    "1h": 3600.0,
    "6h": 21600.0,
    "3d": 259200.0,
}
FAST = (("1h", "5m"), 14.4)
SLOW = ((("6h", "30m"), 6.0), (("3d",), 1.0))


class SloConfig(StrictModel):
    """One ``[[slo]]`` table."""

    name: str
    targets: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    objective: Annotated[float, Field(ge=0.5, le=0.999999)]
    window: Duration = 30 * 86400.0

    @model_validator(mode="after")
    def _selects_something(self) -> SloConfig:
        if not self.targets and not self.match:
            raise ValueError("name the targets (targets = [...]) or select them (match = {...})")
        return self

    def selects(self, name: str, labels: Mapping[str, str]) -> bool:
        if name in self.targets:
            return True
        return bool(self.match) and all(labels.get(k) == v for k, v in self.match.items())

    def windows(self) -> dict[str, float]:
        return {**BURN_WINDOWS, "slo": self.window}


@dataclass(frozen=True, slots=True)
class SloStatus:
    budget_remaining: float | None  # 1 = untouched, 0 = spent, negative = overspent
    burn: Mapping[str, float | None]
    fast: bool
    slow: bool


def pool(sums: Iterable[Mapping[str, tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """Add per-target (downtime, observed) sums window by window."""
    total: dict[str, tuple[float, float]] = {}
    for per_target in sums:
        for window, (down, seen) in per_target.items():
            d, s = total.get(window, (0.0, 0.0))
            total[window] = (d + down, s + seen)
    return total


def status(slo: SloConfig, pooled: Mapping[str, tuple[float, float]]) -> SloStatus:
    """Budget and burn rates from pooled sums (see the module docstring)."""
    budget = 1.0 - slo.objective

    def burn(window: str) -> float | None:
        down, seen = pooled.get(window, (0.0, 0.0))
        return (down / seen) / budget if seen > 0 else None

    rates = {w: burn(w) for w in BURN_WINDOWS}
    slo_burn = burn("slo")
    remaining = None if slo_burn is None else 1.0 - slo_burn

    def above(windows: tuple[str, ...], threshold: float) -> bool:
        return all((rates[w] or 0.0) > threshold for w in windows)

    fast = above(*FAST)
    slow = any(above(windows, threshold) for windows, threshold in SLOW)
    return SloStatus(remaining, rates, fast, slow)
