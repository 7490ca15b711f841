"""The pure continuity state machine as tables: results in, states and events out."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.daemon import dependency_depths
from monitor.engine.state import (
    CheckPolicy,
    CheckState,
    Event,
    Health,
    TargetState,
    Topology,
    World,
    flap_ratio,
    prune,
    set_maintenance,
    step,
    step_check,
    target_health,
)
from tests.fakes import result

U, D, K, R, F, M = (
    Health.UP,
    Health.DOWN,
    Health.UNKNOWN,
    Health.UNREACHABLE,
    Health.FLAPPING,
    Health.MAINTENANCE,
)


class Sim:
    """A small world driven by hand: one icmp check per target, 10 s per round."""

    def __init__(
        self,
        parents: dict[str, list[str]],
        *,
        canaries: Iterable[str] = (),
        fall: int = 3,
        rise: int = 2,
        min_targets: int = 10,
        ratio: float = 0.5,
    ) -> None:
        self.topo = Topology.build(
            parents, canaries=canaries, isolation_min_targets=min_targets, isolation_ratio=ratio
        )
        self.states = {name: TargetState(name) for name in parents}
        self.world = World(total=len(parents))
        self.policies = {"icmp": CheckPolicy(fall=fall, rise=rise)}
        self.events: list[Event] = []
        self.rechecks: list[str] = []
        self.now = 100.0

    def feed(self, name: str, ok: bool, maintenance: bool = False) -> None:
        changes = step(
            self.states,
            self.world,
            self.topo,
            name,
            check="icmp",
            result=result(ok, started=self.now),
            now=self.now + 0.5,
            policies=self.policies,
            maintenance=maintenance,
        )
        self._apply(changes)

    def _apply(self, changes: object) -> None:
        self.states.update(changes.states)  # type: ignore[attr-defined]
        self.world = changes.world or self.world  # type: ignore[attr-defined]
        self.events += changes.events  # type: ignore[attr-defined]
        self.rechecks += sorted(changes.recheck)  # type: ignore[attr-defined]

    def round(self, outcomes: dict[str, bool], order: Iterable[str] | None = None) -> None:
        for name in order or outcomes:
            self.feed(name, outcomes[name])
        self.now += 10

    def maintenance(self, name: str, on: bool) -> None:
        self._apply(set_maintenance(self.states, self.world, self.topo, name, on=on, now=self.now))

    def health(self) -> dict[str, Health]:
        return {n: s.health for n, s in self.states.items()}

    def kinds(self, target: str | None = None, prefix: str = "target_") -> list[str]:
        return [
            e.kind for e in self.events if e.kind.startswith(prefix) and target in (None, e.target)
        ]

    def outages(self, target: str) -> list[tuple[str, float, str]]:
        return [
            (e.kind, e.at, e.cause)
            for e in self.events
            if e.target == target and e.kind.startswith("outage_")
        ]


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
    sim = Sim({"t": []}, fall=fall, rise=rise)
    seen = []
    for ch in pattern:
        sim.round({"t": ch == "+"})
        seen.append(sim.states["t"].health)
    assert seen == healths


def test_announcements_once_per_transition() -> None:
    sim = Sim({"t": []})
    for ch in "+----++++-----":
        sim.round({"t": ch == "+"})
    assert sim.kinds() == ["target_up", "target_down", "target_up", "target_down"]
    assert sim.kinds(prefix="check_") == ["check_up", "check_down", "check_up", "check_down"]


def test_down_and_outage_are_backdated_to_the_first_failed_run() -> None:
    sim = Sim({"t": []})
    sim.round({"t": True})  # at 100
    for _ in range(3):
        sim.round({"t": False})  # at 110, 120, 130
    down = next(e for e in sim.events if e.kind == "target_down")
    assert down.at == 110 and down.previous is U and down.reason == "timeout"
    assert sim.outages("t") == [("outage_started", 110, "check:icmp")]
    sim.round({"t": True})
    sim.round({"t": True})
    assert sim.outages("t")[-1] == ("outage_ended", 150.5, "check:icmp")


ROUTER = {"router": [], "site-a": ["router"], "site-b": ["router"]}


@pytest.mark.parametrize("order", [["router", "site-a", "site-b"], ["site-a", "site-b", "router"]])
def test_parent_down_makes_children_unreachable_without_down_alerts(order: list[str]) -> None:
    sim = Sim(ROUTER)
    sim.round(dict.fromkeys(ROUTER, True))
    for _ in range(4):
        sim.round(dict.fromkeys(ROUTER, False), order)
    assert sim.health() == {"router": D, "site-a": R, "site-b": R}
    assert sim.kinds("router") == ["target_up", "target_down"]
    for site in ("site-a", "site-b"):
        assert sim.kinds(site) == ["target_up", "target_unreachable"]
        assert sim.outages(site) == [("outage_started", 110, "parent:router")]
    assert sim.outages("router") == [("outage_started", 110, "check:icmp")]


def test_parent_recovery_rechecks_children_at_once_with_no_storm() -> None:
    sim = Sim(ROUTER)
    sim.round(dict.fromkeys(ROUTER, True))
    for _ in range(3):
        sim.round(dict.fromkeys(ROUTER, False))
    sim.round({"router": True})
    assert sim.rechecks == []  # one success is a soft recovery only
    sim.round({"router": True})
    assert sim.health()["router"] is U
    assert sorted(sim.rechecks) == ["site-a", "site-b"]
    assert sim.health() == {"router": U, "site-a": R, "site-b": R}  # held until re-checked
    sim.feed("site-a", True)  # the re-checks: one success is enough (rise is not needed)
    sim.feed("site-b", True)
    assert sim.health() == {"router": U, "site-a": U, "site-b": U}
    for site in ("site-a", "site-b"):
        assert sim.kinds(site) == ["target_up", "target_unreachable", "target_up"]
        assert [k for k, _, _ in sim.outages(site)] == ["outage_started", "outage_ended"]
    assert "target_down" not in sim.kinds("site-a") + sim.kinds("site-b")


def test_a_child_still_down_after_the_recheck_is_down_in_its_own_right() -> None:
    sim = Sim(ROUTER)
    sim.round(dict.fromkeys(ROUTER, True))
    for _ in range(3):
        sim.round(dict.fromkeys(ROUTER, False))
    sim.round({"router": True})
    sim.round({"router": True})
    sim.feed("site-a", False)
    sim.feed("site-b", True)
    assert sim.health() == {"router": U, "site-a": D, "site-b": U}
    assert sim.kinds("site-a") == ["target_up", "target_unreachable", "target_down"]
    assert sim.outages("site-a") == [
        ("outage_started", 110, "parent:router")
    ]  # one outage, continued


def test_redundant_parents_one_up_means_the_child_is_really_down() -> None:
    sim = Sim({"a": [], "b": [], "site": ["a", "b"]})
    sim.round({"a": True, "b": True, "site": True})
    for _ in range(3):
        sim.round({"a": False, "b": True, "site": False})
    assert sim.health() == {"a": D, "b": U, "site": D}
    assert sim.kinds("site") == ["target_up", "target_down"]
    for _ in range(3):
        sim.round({"a": False, "b": False, "site": False})
    assert sim.health()["site"] is R


def test_child_alert_waits_while_the_parent_is_only_failing() -> None:
    # The child's check falls after one failure, the router's after three: while the
    # router is failing but not yet DOWN, the child's DOWN is not announced.
    slow = Sim({"router": [], "site": ["router"]})
    slow.round({"router": True, "site": True})
    slow.policies = {"icmp": CheckPolicy(fall=3, rise=1)}
    slow.feed("router", False)
    slow.policies = {"icmp": CheckPolicy(fall=1, rise=1)}
    slow.feed("site", False)
    assert slow.states["site"].health is D and slow.states["site"].held
    assert "target_down" not in slow.kinds("site")
    slow.policies = {"icmp": CheckPolicy(fall=3, rise=1)}
    slow.feed("router", True)  # the router was fine after all: the child is re-checked first
    assert slow.kinds("site") == ["target_up"] and "site" in slow.rechecks
    slow.feed("site", False)  # still failing on its own: now it is announced
    assert slow.kinds("site") == ["target_up", "target_down"]


def test_a_parent_blip_shorter_than_fall_pages_no_child() -> None:
    sim = Sim({"router": [], "s1": ["router"], "s2": ["router"]}, fall=3, rise=2)
    sim.round({"router": True, "s1": True, "s2": True})
    sim.feed("router", False)
    for _ in range(3):  # the children are polled faster and reach their fall first
        sim.feed("s1", False)
        sim.feed("s2", False)
    sim.feed("router", False)
    assert sim.states["s1"].own is D and sim.states["s1"].held
    sim.feed("router", True)  # the blip is over before the router's fall
    sim.feed("s1", True)
    sim.feed("s2", True)
    assert "target_down" not in sim.kinds()
    assert sim.health() == {"router": U, "s1": U, "s2": U}


def test_parent_blip_then_child_really_down_is_paged_after_its_recheck() -> None:
    sim = Sim({"router": [], "s1": ["router"]}, fall=2, rise=2)
    sim.round({"router": True, "s1": True})
    sim.feed("router", False)
    sim.feed("s1", False)
    sim.feed("s1", False)
    assert sim.states["s1"].held
    sim.feed("router", True)
    assert sim.kinds("s1") == ["target_up"] and sim.states["s1"].recheck
    sim.feed("s1", False)
    assert sim.kinds("s1") == ["target_up", "target_down"]


def test_leaving_isolation_does_not_announce_what_recovered_meanwhile() -> None:
    names = {"gw": [], "router": [], "t1": []}
    sim = Sim(names, canaries=["gw"], fall=2, rise=3)
    sim.round(dict.fromkeys(names, True))
    for _ in range(3):
        sim.round(dict.fromkeys(names, False))
    assert sim.world.isolated
    # The link is repaired: the canary answers first and ends the isolation while
    # the router's check (rise 3) has not confirmed its recovery yet.
    for _ in range(4):
        sim.round({"gw": True, "router": True, "t1": True}, order=["gw", "router", "t1"])
    assert not sim.world.isolated
    assert "target_down" not in sim.kinds("router") + sim.kinds("t1")  # the canary's is muted


def test_leaving_isolation_announces_what_is_still_down_after_its_recheck() -> None:
    names = {"gw": [], "t1": [], "t2": []}
    sim = Sim(names, canaries=["gw"], fall=2)
    sim.round(dict.fromkeys(names, True))
    for _ in range(3):
        sim.round(dict.fromkeys(names, False))
    sim.feed("gw", True)
    sim.feed("gw", True)
    assert not sim.world.isolated and sim.states["t1"].recheck
    sim.feed("t1", False)
    sim.feed("t2", True)
    assert sim.kinds("t1") == ["target_up", "target_down"]
    assert sim.kinds("t2") == ["target_up"]


def test_healthy_canaries_veto_the_ratio_rule() -> None:
    names = {"gw": [], **{f"t{i}": [] for i in range(12)}}
    sim = Sim(names, canaries=["gw"], min_targets=5, ratio=0.5)
    sim.round(dict.fromkeys(names, True))
    for _ in range(3):
        sim.round({"gw": True, **{f"t{i}": False for i in range(12)}})
    assert not sim.world.isolated
    assert sim.kinds(prefix="monitor_") == []
    assert sim.kinds().count("target_down") == 12


def test_the_ratio_rule_counts_root_causes_not_consequences() -> None:
    names = {"rtr": [], **{f"s{i}": ["rtr"] for i in range(8)}, "a": [], "b": []}
    sim = Sim(names, min_targets=5, ratio=0.5)
    sim.round(dict.fromkeys(names, True))
    for _ in range(3):  # 9 of 11 failing, but only the router (and nothing else) on its own
        sim.round({**dict.fromkeys(names, False), "a": True, "b": True})
    assert not sim.world.isolated
    assert [e.target for e in sim.events if e.kind == "target_down"] == ["rtr"]


def test_isolation_message_names_the_canaries() -> None:
    names = {"gw1": [], "gw2": [], "t1": []}
    sim = Sim(names, canaries=["gw1", "gw2"])
    sim.round(dict.fromkeys(names, True))
    for _ in range(3):
        sim.round(dict.fromkeys(names, False))
    isolated = [e for e in sim.events if e.kind == "monitor_isolated"]
    assert len(isolated) == 1
    assert isolated[0].message.startswith("canaries down: gw1, gw2; 3/3 targets failing")


def test_maintenance_end_judges_a_still_down_target_afresh() -> None:
    sim = Sim({"rtr": []}, fall=3, rise=2)
    sim.round({"rtr": True})
    sim.maintenance("rtr", True)
    for _ in range(4):
        sim.feed("rtr", False, maintenance=True)
    sim.maintenance("rtr", False)
    assert sim.states["rtr"].own is K
    sim.feed("rtr", False)
    sim.feed("rtr", False)
    assert "target_down" not in sim.kinds("rtr")
    sim.feed("rtr", False)
    assert sim.kinds("rtr")[-1] == "target_down"


def test_maintenance_end_of_a_recovering_target_announces_no_down() -> None:
    sim = Sim({"rtr": []}, fall=3, rise=3)
    sim.round({"rtr": True})
    sim.maintenance("rtr", True)
    for ok in (False, False, False, False, True):
        sim.feed("rtr", ok, maintenance=True)
    sim.maintenance("rtr", False)
    sim.feed("rtr", True)
    assert sim.kinds("rtr") == ["target_up", "target_maintenance", "target_up"]


def test_flapping_is_left_only_after_a_calm_window() -> None:
    sim = Sim({"t": []}, fall=3, rise=2)
    sim.round({"t": True})
    pattern = [True, False, True, True, False] * 12  # ~40 % changes, then calmer
    for ok in pattern:
        sim.feed("t", ok)
    assert sim.states["t"].flapping
    entered = sim.kinds("t").count("target_flapping")
    assert entered == 1
    for ok in [True] * 20:
        sim.feed("t", ok)
    assert sim.states["t"].flapping  # not yet a whole calm window
    for ok in [True] * 25:
        sim.feed("t", ok)
    assert not sim.states["t"].flapping
    assert sim.kinds("t").count("target_flapping") == 1


def test_canaries_down_isolate_the_monitor_once() -> None:
    names = {"gw": [], "t1": [], "t2": []}
    sim = Sim(names, canaries=["gw"])
    sim.round(dict.fromkeys(names, True))
    for _ in range(4):
        sim.round(dict.fromkeys(names, False))
    assert sim.world.isolated
    assert sim.kinds(prefix="monitor_") == ["monitor_isolated"]
    assert sim.health() == {"gw": D, "t1": K, "t2": K}
    assert sim.outages("t1") == [] and sim.outages("t2") == []
    assert "target_down" not in sim.kinds("t1") + sim.kinds("t2")
    sim.round({"gw": True})
    sim.round({"gw": True})
    assert sim.kinds(prefix="monitor_") == ["monitor_isolated", "monitor_isolation_ended"]
    assert {"t1", "t2"} <= set(sim.rechecks)


def test_most_targets_failing_at_once_isolates_the_monitor() -> None:
    names = {f"t{i}": [] for i in range(10)}
    sim = Sim(names, min_targets=10)
    sim.round(dict.fromkeys(names, True))
    sim.round({f"t{i}": i >= 6 for i in range(10)})  # 6 of 10 fail once
    assert sim.world.isolated and sim.kinds(prefix="monitor_") == ["monitor_isolated"]
    for _ in range(3):
        sim.round({f"t{i}": i >= 6 for i in range(10)})
    assert [h for h in sim.health().values()].count(K) == 6
    assert sim.kinds(prefix="outage_") == []
    sim.round(dict.fromkeys(names, True))
    assert not sim.world.isolated


def test_flapping_is_entered_and_left_with_one_announcement_each() -> None:
    sim = Sim({"t": []}, fall=1, rise=1)
    for i in range(24):
        sim.round({"t": i % 2 == 0})
    assert sim.states["t"].flapping and sim.health()["t"] is F
    flapping_at = sim.kinds("t").index("target_flapping")
    assert sim.kinds("t")[flapping_at + 1 :] == []  # no per-transition announcements while flapping
    for _ in range(45):
        sim.round({"t": True})
    assert not sim.states["t"].flapping and sim.kinds("t")[-2:] == ["target_flapping", "target_up"]


@pytest.mark.parametrize(
    ("bits", "count", "expected"),
    [
        (0, 21, 0.0),
        (0b1, 1, 0.0),
        ((1 << 21) - 1, 21, 0.0),
        (0b10101010101010101010, 21, 1.0),
        (0b1, 21, 1.2 / 20),
    ],
)
def test_flap_ratio(bits: int, count: int, expected: float) -> None:
    assert flap_ratio(bits, count) == pytest.approx(expected)


def test_maintenance_measures_but_does_not_announce_down() -> None:
    sim = Sim({"t": []})
    sim.round({"t": True})
    sim.maintenance("t", True)
    assert sim.health()["t"] is M
    for _ in range(3):
        sim.states["t"] = sim.states["t"]  # results keep coming during the window
        sim.feed("t", False, maintenance=True)
        sim.now += 10
    assert sim.health()["t"] is M and sim.kinds("t") == ["target_up", "target_maintenance"]
    assert [k for k, _, _ in sim.outages("t")] == ["outage_started"]  # recorded, excluded later
    sim.maintenance("t", False)
    # Judged afresh: UNKNOWN until its checks settle again, then DOWN after a full fall.
    assert sim.health()["t"] is K and sim.kinds("t")[-1] == "target_maintenance"
    for _ in range(3):
        sim.feed("t", False)
    assert sim.health()["t"] is D and sim.kinds("t")[-1] == "target_down"


def test_check_state_keeps_last_result() -> None:
    r = result(False, started=5)
    s = step_check(CheckState(), r, 6, CheckPolicy())
    assert s.last is r and s.streak == 1 and s.streak_start == 5


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


def test_prune_drops_removed_checks() -> None:
    state = TargetState(
        "t",
        health=D,
        since=1,
        own=D,
        checks={"icmp": CheckState(hard=U), "snmp": CheckState(hard=D)},
    )
    pruned = prune(state, {"icmp"}, {"icmp": CheckPolicy()})
    assert set(pruned.checks) == {"icmp"} and pruned.own is U


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["router", "site-a", "site-b"]), st.booleans()), max_size=80)
)
def test_outages_never_overlap_and_close_once(feed: list[tuple[str, bool]]) -> None:
    sim = Sim(ROUTER)
    for name, ok in feed:
        sim.feed(name, ok)
        sim.now += 3
    for target in ROUTER:
        outages = sim.outages(target)
        kinds = [k for k, _, _ in outages]
        assert kinds == ["outage_started", "outage_ended"] * (len(kinds) // 2) + (
            ["outage_started"] if len(kinds) % 2 else []
        )
        for (_, start, _), (_, end, _) in zip(outages[::2], outages[1::2], strict=False):
            assert end >= start
        open_now = sim.states[target].outage_cause is not None
        assert open_now == (len(kinds) % 2 == 1)
        # never a DOWN announcement for a site while its router was announced DOWN
    for i, event in enumerate(sim.events):
        if event.kind == "target_down" and event.target != "router":
            router_down = [
                e for e in sim.events[:i] if e.target == "router" and e.kind.startswith("target_")
            ]
            assert not router_down or router_down[-1].kind != "target_down"


@pytest.mark.parametrize(
    ("parents", "expected"),
    [
        ({"a": ()}, {"a": 0}),
        ({"a": (), "b": ("a",), "c": ("b",)}, {"a": 0, "b": 1, "c": 2}),
        ({"a": (), "b": (), "c": ("a", "b"), "d": ("c", "a")}, {"a": 0, "b": 0, "c": 1, "d": 2}),
        (
            {f"t{i}": ((f"t{i - 1}",) if i else ()) for i in range(3000)},
            {f"t{i}": i for i in range(3000)},
        ),
    ],
)
def test_dependency_depths(parents: dict[str, tuple[str, ...]], expected: dict[str, int]) -> None:
    assert dependency_depths(parents) == expected
