"""The state step's fast path for a result that moves nothing, against the general path.

:func:`monitor.engine.state.step` first tries ``_quiet_step`` (a success of a
settled UP check on a steady UP target) and otherwise takes ``_general_step``.
Every test here checks that the fast path gives exactly what the general path
gives (states, world, events, re-checks), and that it stands aside whenever
anything could move.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine.state import (
    FLAP_WINDOW,
    Changes,
    CheckPolicy,
    CheckState,
    Health,
    StepInput,
    TargetState,
    Topology,
    World,
    _general_step,
    _quiet_step,
    step,
)
from tests.fakes import result

U, D, K = Health.UP, Health.DOWN, Health.UNKNOWN
POLICIES = {"icmp": CheckPolicy(fall=3, rise=2), "http": CheckPolicy(fall=2, rise=1)}


def _up_check(started: float = 90.0) -> CheckState:
    return CheckState(U, 50.0, True, 4, 50.0, result(True, started=started))


def _steady(name: str = "site", checks: tuple[str, ...] = ("icmp",)) -> TargetState:
    return TargetState(
        name,
        health=U,
        since=50.0,
        checks={kind: _up_check() for kind in checks},
        own=U,
        announced=U,
        announced_since=50.0,
        flap_count=7,
        ok_at=90.0,
        failed_at=10.0,
    )


def _given(
    states: dict[str, TargetState],
    world: World,
    topo: Topology,
    name: str = "site",
    check: str = "icmp",
    ok: bool = True,
    maintenance: bool = False,
    now: float = 100.5,
) -> StepInput:
    """One result of ``check`` on ``name``, started half a second before ``now``."""
    res = result(ok, started=now - 0.5, rtt_avg_seconds=0.001)
    return StepInput(states, world, topo, name, check, res, now, POLICIES, maintenance)


def _both(given: StepInput) -> tuple[Changes, Changes]:
    """What :func:`step` gives (the fast path when it takes it), and the general path."""
    fast = step(
        given.states,
        given.world,
        given.topo,
        given.name,
        check=given.check,
        result=given.result,
        now=given.now,
        policies=given.policies,
        maintenance=given.maintenance,
    )
    return fast, _general_step(given)


def _left_to_the_general_path(given: StepInput) -> Changes:
    """Asserts that the fast path stands aside and that :func:`step` then gives
    what the general path gives; returns that."""
    assert _quiet_step(given) is None
    fast, slow = _both(given)
    assert fast == slow
    return fast


def test_the_usual_result_takes_the_fast_path_and_matches() -> None:
    states = {"site": _steady()}
    world, topo = World(total=1), Topology.build({"site": []})
    assert _quiet_step(_given(states, world, topo)) is not None
    fast, slow = _both(_given(states, world, topo))
    assert fast == slow
    new = fast.states["site"]
    assert new.checks["icmp"].streak == 5 and new.checks["icmp"].since == 50.0
    assert new.ok_at == 100.0 and new.failed_at == 10.0 and new.flap_count == 8
    assert not fast.events and not fast.recheck


def test_the_flapping_count_stops_at_the_window() -> None:
    states = {"site": replace(_steady(), flap_count=FLAP_WINDOW)}
    fast, slow = _both(_given(states, World(total=1), Topology.build({"site": []})))
    assert fast == slow and fast.states["site"].flap_count == FLAP_WINDOW


@pytest.mark.parametrize(
    ("why", "state", "ok", "maintenance"),
    [
        ("a failure", _steady(), False, False),
        (
            "the check's last run failed",
            replace(_steady(), checks={"icmp": replace(_up_check(), last_ok=False)}),
            True,
            False,
        ),
        (
            "the check is not hard UP",
            replace(_steady(), checks={"icmp": replace(_up_check(), hard=D)}),
            True,
            False,
        ),
        ("a new check", replace(_steady(), checks={}), True, False),
        ("the target is not UP", replace(_steady(), health=Health.UNREACHABLE), True, False),
        ("announced otherwise", replace(_steady(), announced=D), True, False),
        ("own health not UP", replace(_steady(), own=K), True, False),
        ("failing", replace(_steady(), failing=True), True, False),
        ("a failure in the flapping window", replace(_steady(), flap_bits=4), True, False),
        ("flapping", replace(_steady(), flapping=True), True, False),
        ("held", replace(_steady(), held=True), True, False),
        ("re-checking", replace(_steady(), recheck=True), True, False),
        ("in maintenance", replace(_steady(), maintenance=True), True, True),
        ("maintenance begins", _steady(), True, True),
        (
            "an open outage",
            replace(_steady(), outage_cause="check:icmp", outage_start=1.0),
            True,
            False,
        ),
    ],
)
def test_anything_that_could_move_takes_the_general_path(
    why: str, state: TargetState, ok: bool, maintenance: bool
) -> None:
    topo = Topology.build({"site": []})
    given = _given({"site": state}, World(total=1), topo, ok=ok, maintenance=maintenance)
    _left_to_the_general_path(given)


def test_another_check_holding_the_target_down_takes_the_general_path() -> None:
    # The target's own health is stale (a reload made the http check critical
    # while it was down): the general path recomputes it, so the fast path stands aside.
    state = replace(
        _steady(checks=("icmp", "http")),
        checks={"icmp": _up_check(), "http": replace(_up_check(), hard=D, last_ok=False)},
    )
    topo = Topology.build({"site": []})
    changes = _left_to_the_general_path(_given({"site": state}, World(total=1), topo))
    assert changes.states["site"].own is D


def test_two_steady_checks_take_the_fast_path() -> None:
    states = {"site": _steady(checks=("icmp", "http"))}
    world, topo = World(total=1), Topology.build({"site": []})
    assert _quiet_step(_given(states, world, topo, check="http"))
    fast, slow = _both(_given(states, world, topo, check="http"))
    assert fast == slow


def test_a_router_answering_settles_its_held_children_as_the_general_path_does() -> None:
    router = _steady("router")
    held = replace(
        _steady("site"),
        health=D,
        own=D,
        announced=U,
        held=True,
        failing=True,
        failed_at=95.0,
        checks={"icmp": CheckState(D, 70.0, False, 3, 70.0, None)},
    )
    states = {"router": router, "site": held}
    world = World(failing=1, total=2)
    topo = Topology.build({"router": [], "site": ["router"]})
    fast, slow = _both(_given(states, world, topo, "router"))
    assert fast == slow
    assert "site" in fast.states  # the held child was settled by the router's word


def test_isolation_beginning_is_left_to_the_general_path() -> None:
    # Every canary is DOWN but the world was not isolated yet (a reload made them
    # canaries): the next result begins isolation, which settles everyone.
    canary = replace(
        _steady("canary"),
        own=D,
        health=D,
        announced=D,
        failing=True,
        checks={"icmp": CheckState(D, 70.0, False, 3, 70.0, None)},
    )
    states = {"site": _steady(), "canary": canary}
    world = World(failing=1, total=2)
    topo = Topology.build({"site": [], "canary": []}, canaries=["canary"])
    changes = _left_to_the_general_path(_given(states, world, topo))
    assert changes.world is not None and changes.world.isolated


NAMES = ("router", "a", "b", "canary")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(("icmp", "http")), st.booleans()),
        min_size=1,
        max_size=80,
    )
)
def test_any_history_gives_the_same_changes_on_both_paths(
    runs: list[tuple[str, str, bool]],
) -> None:
    """Random results on a small world (a router with two sites, a canary): at
    every step the full step and the general path agree exactly."""
    topo = Topology.build(
        {"router": [], "a": ["router"], "b": ["router"], "canary": []},
        canaries=["canary"],
        isolation_min_targets=2,
        isolation_min_failing=1,
    )
    states = {name: TargetState(name) for name in NAMES}
    world = World(total=len(NAMES))
    now = 100.0
    for name, check, ok in runs:
        fast, slow = _both(_given(states, world, topo, name, check, ok, now=now))
        assert fast == slow
        states.update(fast.states)
        world = fast.world or world
        now += 1.0
