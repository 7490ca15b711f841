"""The state machine: a pure function from (state, result, now) to (state, events).

No I/O and no clock reads happen here, so every transition can be tested as a
table with an injected time. A check moves between soft and hard states the
Nagios/Icinga way: ``fall`` failures in a row make it hard DOWN, ``rise``
successes in a row make it UP again. A target's health is derived from its
critical checks. The continuity model (dependencies, flapping, isolation,
maintenance) grows on top of this in later work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from probes.base import ProbeResult


class Health(StrEnum):
    """The states a check or target can be in; values are metric label values."""

    UP = "up"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    FLAPPING = "flapping"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """The parts of a check's settings that steer transitions."""

    fall: int = 3
    rise: int = 2
    critical: bool = True


@dataclass(frozen=True, slots=True)
class CheckState:
    """One check's position in the soft/hard machine."""

    hard: Health = Health.UNKNOWN
    since: float | None = None  # when the hard state began (backdated for DOWN)
    last_ok: bool | None = None
    streak: int = 0  # results in a row equal to last_ok
    streak_start: float | None = None  # when the current streak's first run started
    last: ProbeResult | None = None


@dataclass(frozen=True, slots=True)
class TargetState:
    """A target's health and its checks' states."""

    name: str
    health: Health = Health.UNKNOWN
    since: float | None = None
    checks: Mapping[str, CheckState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed, for logs, history and alerting."""

    kind: str  # check_down, check_up, target_down, target_up
    target: str
    at: float
    check: str | None = None
    previous: Health = Health.UNKNOWN
    reason: str = ""
    message: str = ""


def step_check(
    state: CheckState, result: ProbeResult, now: float, policy: CheckPolicy
) -> CheckState:
    """Advance one check by one result."""
    if result.ok == state.last_ok:
        streak, streak_start = state.streak + 1, state.streak_start
    else:
        streak, streak_start = 1, result.started
    hard, since = state.hard, state.since
    if result.ok and hard is not Health.UP and (hard is Health.UNKNOWN or streak >= policy.rise):
        # A first success settles an unknown check at once; a DOWN one needs `rise`.
        hard, since = Health.UP, now
    elif not result.ok and hard is not Health.DOWN and streak >= policy.fall:
        # The outage began with the first failed run of the streak, not now.
        hard, since = Health.DOWN, streak_start
    return CheckState(hard, since, result.ok, streak, streak_start, result)


def target_health(checks: Mapping[str, CheckState], policies: Mapping[str, CheckPolicy]) -> Health:
    """DOWN if a critical check is DOWN; UP if one is UP and none DOWN; else UNKNOWN.

    A target with no critical checks takes its health from all of them.
    """
    counted = [s for k, s in checks.items() if policies.get(k, CheckPolicy()).critical]
    if not counted:
        counted = list(checks.values())
    states = {s.hard for s in counted}
    if Health.DOWN in states:
        return Health.DOWN
    if Health.UP in states:
        return Health.UP
    return Health.UNKNOWN


def step(
    state: TargetState,
    check: str,
    result: ProbeResult,
    now: float,
    policies: Mapping[str, CheckPolicy],
) -> tuple[TargetState, list[Event]]:
    """Advance a target by one check result; returns the new state and its events."""
    policy = policies.get(check, CheckPolicy())
    before = state.checks.get(check, CheckState())
    after = step_check(before, result, now, policy)
    events: list[Event] = []
    if after.hard is not before.hard and after.hard in (Health.UP, Health.DOWN):
        events.append(
            Event(
                kind=f"check_{after.hard.value}",
                target=state.name,
                at=after.since if after.since is not None else now,
                check=check,
                previous=before.hard,
                reason=result.reason,
                message=result.message,
            )
        )
    checks = {**state.checks, check: after}
    health = target_health(checks, policies)
    # Constructors, not dataclasses.replace(): this runs thousands of times a second.
    new = TargetState(state.name, state.health, state.since, checks)
    if health is not state.health:
        since = now
        if health is Health.DOWN:
            since = min(
                (s.since for s in checks.values() if s.hard is Health.DOWN and s.since is not None),
                default=now,
            )
        new = TargetState(state.name, health, since, checks)
        if health in (Health.UP, Health.DOWN):
            events.append(
                Event(
                    kind=f"target_{health.value}",
                    target=state.name,
                    at=since,
                    check=check,
                    previous=state.health,
                    reason=result.reason,
                    message=result.message,
                )
            )
    return new, events


def prune(state: TargetState, checks: set[str], policies: Mapping[str, CheckPolicy]) -> TargetState:
    """Drop states of checks a reload removed, and re-derive the target's health."""
    kept = {k: v for k, v in state.checks.items() if k in checks}
    if kept.keys() == state.checks.keys():
        return state
    health = target_health(kept, policies)
    since = state.since if health is state.health else None
    return replace(state, checks=kept, health=health, since=since)
