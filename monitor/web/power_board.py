"""The status page's power board: every site on battery, the soonest dark first.

One row per UPS target on battery (from the daemon's :class:`monitor.engine.power.PowerWatch`),
with the minutes left, the predicted clock time, which estimate that is, the
charge, how long it has been on battery, the site's contact, and the targets
that go dark with it (:func:`monitor.engine.power.goes_dark_with` over the dependency
tree). Rows are plain data: the index template renders them (autoescaped) and
``/status/summary`` carries the same rows for the page's script to place as
text. Sorted by time left; sites with nothing to predict yet come last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from monitor.engine.power import Estimate, goes_dark_with

if TYPE_CHECKING:  # the status page imports this module
    from monitor.engine.config import Config, Location
    from monitor.engine.policy import Policy
    from monitor.web.page_locale import Locale

BEHIND_LISTED = 20
"""Targets named under one site; the rest are counted."""


def board_rows(
    outlook: Mapping[str, Estimate | None],
    config: Config,
    policy: Policy,
    loc: Locale,
) -> list[dict[str, Any]]:
    """The board's rows, soonest dark first (no prediction yet: last, by name)."""

    def order(name: str) -> tuple[bool, float, str]:
        estimate = outlook[name]
        return estimate is None, estimate.dark_at if estimate else 0.0, name

    rows = []
    targets = {t.name: t for t in config.targets} if outlook else {}
    for name in sorted((n for n in outlook if n in policy.states), key=order):
        target = targets.get(name)
        if target is not None:
            rows.append(
                _row(
                    name,
                    outlook[name],
                    labels=target.labels,
                    location=target.location,
                    policy=policy,
                    loc=loc,
                )
            )
    return rows


def _row(
    name: str,
    estimate: Estimate | None,
    *,
    labels: Mapping[str, str],
    location: Location | None,
    policy: Policy,
    loc: Locale,
) -> dict[str, Any]:
    t = loc.t
    behind = goes_dark_with(name, policy.topo.parents, policy.topo.children)
    row: dict[str, Any] = {
        "name": name,
        "site": labels.get("site", ""),
        "province": labels.get("province", ""),
        "contact": (location.contact if location is not None else None) or "",
        "behind": [_relative(child, policy, loc) for child in behind[:BEHIND_LISTED]],
        "behind_more": max(0, len(behind) - BEHIND_LISTED),
        "seconds_left": None,
        "left_text": t["power.unknown"],
        "dark_text": "—",
        "method": "",
        "method_text": "",
        "charge_text": "—",
        "battery_text": "",
        "level": "unknown",
    }
    if estimate is None:
        return row
    left = estimate.dark_at - loc.now
    row.update(
        seconds_left=round(left),
        left_text=(
            t["power.in"].format(duration=loc.duration(left))
            if left >= 0
            else t["power.overdue"].format(duration=loc.duration(-left))
        ),
        dark_text=loc.time(estimate.dark_at),
        method=estimate.method,
        method_text=t[f"power.method.{estimate.method}"],
        charge_text="—" if estimate.charge is None else f"{round(estimate.charge * 100)} %",
        battery_text=t["power.on_battery_for"].format(
            duration=loc.duration(loc.now - estimate.on_battery_since)
        ),
        level=_level(left),
    )
    return row


def _level(seconds_left: float) -> str:
    """A CSS class: ``dark`` past due, ``critical`` within 30 min, ``soon`` within 2 h."""
    if seconds_left <= 0:
        return "dark"
    if seconds_left <= 1800:
        return "critical"
    return "soon" if seconds_left <= 7200 else "later"


def _relative(name: str, policy: Policy, loc: Locale) -> dict[str, str]:
    state = policy.states.get(name)
    health = state.health.value if state is not None else "unknown"
    return {"name": name, "state": health, "state_text": loc.state(health)}
