"""The pure state machine as tables: results in, states and events out."""

from __future__ import annotations

import pytest

from monitor.state import (
    CheckPolicy,
    CheckState,
    Health,
    TargetState,
    prune,
    step,
    step_check,
    target_health,
)
from tests.fakes import result

U, D, K = Health.UP, Health.DOWN, Health.UNKNOWN


def run(pattern: str, fall: int = 3, rise: int = 2) -> list[tuple[Health, list[str]]]:
    """Feed results ('+' ok, '-' fail) one per 10 s; return health and event kinds after each."""
    state = TargetState("t")
    policies = {"icmp": CheckPolicy(fall=fall, rise=rise)}
    out = []
    for i, ch in enumerate(pattern):
        now = 100.0 + 10 * i
        state, events = step(state, "icmp", result(ch == "+", started=now), now, policies)
        out.append((state.health, [e.kind for e in events]))
    return out


@pytest.mark.parametrize(
    ("pattern", "fall", "rise", "healths"),
    [
        ("+", 3, 2, [U]),  # a first success settles at once
        ("-", 3, 2, [K]),  # a first failure does not
        ("---", 3, 2, [K, K, D]),  # fall failures make it DOWN
        ("+--", 3, 2, [U, U, U]),  # soft failures
        ("+---", 3, 2, [U, U, U, D]),
        ("+---+", 3, 2, [U, U, U, D, D]),  # one success is not enough to rise
        ("+---++", 3, 2, [U, U, U, D, D, U]),
        ("+--+--", 3, 2, [U] * 6),  # broken streaks never go hard
        ("+-", 1, 1, [U, D]),
        ("+-+", 1, 1, [U, D, U]),
        ("-----+", 5, 3, [K, K, K, K, D, D]),
    ],
)
def test_soft_and_hard_states(pattern: str, fall: int, rise: int, healths: list[Health]) -> None:
    assert [h for h, _ in run(pattern, fall, rise)] == healths


def test_events_are_emitted_once_per_transition() -> None:
    events = [e for _, es in run("+---+++---") for e in es]
    assert events == [
        "check_up",
        "target_up",
        "check_down",
        "target_down",
        "check_up",
        "target_up",
        "check_down",
        "target_down",
    ]


def test_down_is_backdated_to_the_first_failed_run() -> None:
    state = TargetState("t")
    policies = {"icmp": CheckPolicy(fall=3, rise=2)}
    state, _ = step(state, "icmp", result(True, started=100), 100.5, policies)
    for t in (110, 120, 130):
        state, events = step(state, "icmp", result(False, started=t), t + 0.5, policies)
    assert state.health is D and state.since == 110
    (check_down, target_down) = events
    assert check_down.at == 110 and target_down.at == 110
    assert target_down.previous is U and target_down.reason == "timeout"


@pytest.mark.parametrize(
    ("checks", "critical", "expected"),
    [
        ({"icmp": U, "snmp": U}, {"icmp", "snmp"}, U),
        ({"icmp": U, "snmp": D}, {"icmp", "snmp"}, D),
        ({"icmp": U, "snmp": D}, {"icmp"}, U),  # snmp informational
        ({"icmp": U, "snmp": K}, {"icmp", "snmp"}, U),
        ({"icmp": K, "snmp": K}, {"icmp", "snmp"}, K),
        ({"icmp": D}, set(), D),  # no critical check: all count
    ],
)
def test_target_health_from_checks(
    checks: dict[str, Health], critical: set[str], expected: Health
) -> None:
    states = {k: CheckState(hard=h) for k, h in checks.items()}
    policies = {k: CheckPolicy(critical=k in critical) for k in checks}
    assert target_health(states, policies) is expected


def test_step_check_keeps_last_result() -> None:
    r = result(False, started=5)
    s = step_check(CheckState(), r, 6, CheckPolicy())
    assert s.last is r and s.streak == 1 and s.streak_start == 5


def test_prune_drops_removed_checks() -> None:
    policies = {"icmp": CheckPolicy(), "snmp": CheckPolicy()}
    state = TargetState(
        "t", health=D, since=1, checks={"icmp": CheckState(hard=U), "snmp": CheckState(hard=D)}
    )
    pruned = prune(state, {"icmp"}, {"icmp": policies["icmp"]})
    assert set(pruned.checks) == {"icmp"} and pruned.health is U
