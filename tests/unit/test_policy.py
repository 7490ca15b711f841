"""The suppression policy as tables: roles, consequences and mutes over a tree."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engine.policy import Policy, Role, subtree_owners
from monitor.engine.state import Health, TargetState, Topology, World
from tests.harness import Harness
from tests.unit.test_lifecycle import tree

U, D, R, F = Health.UP, Health.DOWN, Health.UNREACHABLE, Health.FLAPPING

#        core
#       /    \
#    rtr-a   rtr-b
#    /  \       \
#   a1  a2      b1
#   |
#  a1x
PARENTS = {
    "core": (),
    "rtr-a": ("core",),
    "rtr-b": ("core",),
    "a1": ("rtr-a",),
    "a2": ("rtr-a",),
    "b1": ("rtr-b",),
    "a1x": ("a1",),
    "solo": (),
}
TOPO = Topology.build(PARENTS, canaries=["solo"])


def states(**health: Health) -> dict[str, TargetState]:
    out = {}
    for name in PARENTS:
        h = health.get(name, U)
        failing = h in (D, R)
        out[name] = TargetState(name, h, own=D if h is D else (D if h is R else U), failing=failing)
    return out


def policy(
    maintenance: dict[str, str] | None = None, isolated: bool = False, **health: Health
) -> Policy:
    return Policy(states(**health), TOPO, World(isolated=isolated), maintenance or {})


@pytest.mark.parametrize(
    ("health", "name", "role", "root"),
    [
        ({}, "a1", Role.OK, None),
        ({"rtr-a": D, "a1": R, "a2": R, "a1x": R}, "rtr-a", Role.ROOT_CAUSE, None),
        ({"rtr-a": D, "a1": R, "a2": R, "a1x": R}, "a1", Role.CONSEQUENCE, "rtr-a"),
        ({"rtr-a": D, "a1": R, "a2": R, "a1x": R}, "a1x", Role.CONSEQUENCE, "rtr-a"),
        ({"core": D, "rtr-a": R, "a1": R}, "a1", Role.CONSEQUENCE, "core"),
        ({"a1": D}, "a1", Role.ROOT_CAUSE, None),
        ({"a1": D, "a1x": R}, "a1x", Role.CONSEQUENCE, "a1"),
        ({"solo": D}, "solo", Role.ROOT_CAUSE, None),
        ({"a2": F}, "a2", Role.ROOT_CAUSE, None),
    ],
)
def test_roles(health: dict[str, Health], name: str, role: Role, root: str | None) -> None:
    assert policy(**health).role(name) == (role, root)


def test_consequences_of_a_root_cause_are_the_targets_out_behind_it() -> None:
    p = policy(**{"rtr-a": D, "a1": R, "a2": R, "a1x": R, "b1": D})
    assert p.consequences("rtr-a") == ["a1", "a2", "a1x"]
    assert p.consequences("b1") == []
    assert p.consequences("rtr-b") == []  # b1 is down on its own, not behind rtr-b


@pytest.mark.parametrize(
    ("kwargs", "alert", "target", "muted"),
    [
        ({}, "TargetDown", "a1", None),
        ({"maintenance": {"rtr-a": "rtr-a"}}, "TargetDown", "rtr-a", "maintenance"),
        ({"maintenance": {"a1x": "rtr-a"}}, "TargetDown", "a1x", "maintenance via rtr-a"),
        ({"isolated": True}, "TargetDown", "a1", "isolated"),
        ({"isolated": True}, "MonitorIsolated", "", None),
        ({"isolated": True}, "SLOBurnFast", "", "isolated"),
        ({"rtr-a": D, "a1": R}, "HighLoss", "a1", "consequence of rtr-a"),
        ({"a1": D}, "HighLoss", "a1", "folded into TargetDown"),
        ({"a1": D}, "InterfaceDown", "a1", "folded into TargetDown"),
        ({"a1": D}, "HighLoss", "a2", None),
        ({"rtr-a": D, "a1": R}, "TargetDown", "b1", None),
        ({"core": D, "rtr-a": R, "rtr-b": R}, "OnBattery", "b1", "consequence of core"),
    ],
)
def test_alert_mutes(kwargs: dict[str, object], alert: str, target: str, muted: str | None) -> None:
    maintenance = kwargs.pop("maintenance", None)
    isolated = bool(kwargs.pop("isolated", False))
    p = policy(maintenance, isolated, **kwargs)  # type: ignore[arg-type]
    assert p.alert_mute(alert, target) == muted


def test_a_window_covers_its_subtree_and_nothing_else() -> None:
    assert subtree_owners(["rtr-a"], TOPO.children) == {
        "rtr-a": "rtr-a",
        "a1": "rtr-a",
        "a2": "rtr-a",
        "a1x": "rtr-a",
    }
    # Overlapping windows: a target keeps its own; the rest is covered once.
    assert subtree_owners(["core", "a1"], TOPO.children)["a1"] == "a1"
    assert subtree_owners(["core", "a1"], TOPO.children)["a1x"] == "a1"
    assert len(subtree_owners(["core", "a1"], TOPO.children)) == 7


# -- maintenance as a property over random cuts ---------------------------------------

NAMES = ["rtr", "s1", "s2", "s1a", "x1"]
MAINTAINED = tree(("rtr", []), ("s1", ["rtr"]), ("s2", ["rtr"]), ("s1a", ["s1"]), ("x1", []))
SUBTREE = {"s1": {"s1", "s1a"}, "rtr": {"rtr", "s1", "s2", "s1a"}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(SUBTREE)),
    st.lists(st.tuples(st.sampled_from(NAMES), st.floats(0.5, 10.0)), min_size=1, max_size=8),
)
def test_maintenance_mutes_its_subtree_and_nothing_outside(
    owner: str, steps: list[tuple[str, float]]
) -> None:
    h = Harness(MAINTAINED)
    h.advance(10)
    h.set_maintenance([owner])
    for name, gap in steps:
        h.cut.symmetric_difference_update({name})
        h.advance(gap)
    h.advance(10)
    inside = SUBTREE[owner]
    assert not [s for s in h.sent if s.alert.target in inside], h.whats()
    if "x1" in h.cut:  # outside the window, a real outage still pages
        assert ("TargetDown", "x1", "firing") in h.whats()
