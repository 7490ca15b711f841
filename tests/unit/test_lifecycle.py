"""Alert lifecycle scenarios with several things failing at once, on a fake clock.

The real pipeline, policy and alert flow run in process (tests/harness.py);
only time, scheduling and the network are simulated. Settings: interval 1 s,
down_interval 1 s, fall 3, rise 2, so the documented debounce is
D = (fall - 1) x down_interval = 2 s after the first failed run.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.harness import Harness

D = 2.0
INTERVAL = 1.0
TIMEOUT = 1.0

BASE = """
[monitor]
canaries = ["gw1", "gw2"]
isolation_min_targets = 3
isolation_min_failing = 2

[defaults]
checks = ["icmp"]
interval = "1s"
down_interval = "1s"
timeout = "1s"
fall = 3
rise = 2

[defaults.icmp]
count = 1

[[targets]]
name = "gw1"
address = "127.0.0.1"

[[targets]]
name = "gw2"
address = "127.0.0.2"
"""


def tree(*specs: tuple[str, list[str]], extra: str = "", fall: dict[str, int] | None = None) -> str:
    text = BASE
    for i, (name, parents) in enumerate(specs):
        text += f'\n[[targets]]\nname = "{name}"\naddress = "10.80.{i}.2"\n'
        if parents:
            text += "parents = [" + ", ".join(f'"{p}"' for p in parents) + "]\n"
        if fall and name in fall:
            text += f"fall = {fall[name]}\n"
    return text + extra


ROUTER = tree(("rtr", []), ("s1", ["rtr"]), ("s2", ["rtr"]), ("s3", ["rtr"]))


def settled(text: str = ROUTER) -> Harness:
    h = Harness(text)
    h.advance(10)
    assert h.sent == []
    return h


def test_site_then_router_cut_router_repaired_first() -> None:
    h = settled()
    h.cut.add("s1")
    h.advance(8)
    assert h.whats() == [("TargetDown", "s1", "firing")]
    h.cut.add("rtr")
    h.advance(10)
    h.cut.discard("rtr")
    h.advance(10)
    # s1 is still cut: no resolve for it, and its page is not repeated.
    assert [w for w in h.whats() if w[1] == "s1"] == [("TargetDown", "s1", "firing")]
    h.cut.discard("s1")
    h.advance(10)
    assert h.whats() == [
        ("TargetDown", "s1", "firing"),
        ("TargetDown", "rtr", "firing"),
        ("TargetDown", "rtr", "resolved"),
        ("TargetDown", "s1", "resolved"),
    ]


def test_site_then_router_cut_site_repaired_first() -> None:
    h = settled()
    h.cut.add("s1")
    h.advance(8)
    h.cut.add("rtr")
    h.advance(10)
    h.cut.discard("s1")  # repaired, but still behind the cut router
    h.advance(10)
    assert ("TargetDown", "s1", "resolved") not in h.whats()
    h.cut.discard("rtr")
    h.advance(10)
    assert h.whats() == [
        ("TargetDown", "s1", "firing"),
        ("TargetDown", "rtr", "firing"),
        ("TargetDown", "rtr", "resolved"),
        ("TargetDown", "s1", "resolved"),
    ]
    (resolve,) = [s for s in h.sent if s.what == ("TargetDown", "s1", "resolved")]
    assert resolve.alert.ends_at is not None and resolve.alert.ends_at > resolve.alert.starts_at


@pytest.mark.parametrize("blip", [0.5, 1.0, 1.5])
def test_router_blip_shorter_than_the_debounce_pages_nothing(blip: float) -> None:
    for phase in (0.0, 0.25, 0.5, 0.75):
        h = settled()
        h.advance(phase)
        h.cut.add("rtr")
        h.advance(blip)
        h.cut.discard("rtr")
        h.advance(15)
        assert h.sent == [], (phase, h.whats())


SLOW_ROUTER = tree(
    ("rtr", []),
    ("s1", ["rtr"]),
    ("s2", ["rtr"]),
    fall={"rtr": 4, "s1": 2, "s2": 2},
)


@pytest.mark.parametrize("phase", [0.0, 0.25, 0.5, 0.75])
def test_children_that_fall_first_are_rechecked_after_a_parent_blip(phase: float) -> None:
    # The sites reach their fall (2) during a blip shorter than the router's D (3 s):
    # their DOWNs are held while the router fails, then re-checked, and never paged.
    h = settled(SLOW_ROUTER)
    h.advance(phase)
    h.cut.add("rtr")
    h.advance(2.2)
    assert any(h.pipeline.states[s].held for s in ("s1", "s2")) or phase
    h.cut.discard("rtr")
    h.advance(15)
    assert h.sent == [], h.whats()


def test_a_site_that_is_really_down_after_a_parent_blip_is_paged_after_its_recheck() -> None:
    h = settled(SLOW_ROUTER)
    h.cut.update({"rtr", "s1"})
    h.advance(2.2)
    h.cut.discard("rtr")
    h.advance(10)
    assert h.whats() == [("TargetDown", "s1", "firing")]


def test_router_cut_pages_the_router_once_with_its_consequences() -> None:
    h = settled()
    h.cut.add("rtr")
    h.advance(INTERVAL + D + TIMEOUT + 1)
    (page,) = h.pages()
    assert page.alert.target == "rtr"
    assert page.alert.annotations["consequences"] == "s1, s2, s3"
    assert page.alert.annotations["affected"] == "3"
    h.cut.discard("rtr")
    h.advance(10)
    assert h.whats() == [("TargetDown", "rtr", "firing"), ("TargetDown", "rtr", "resolved")]


@pytest.mark.parametrize("phase", [0.0, 0.3, 0.6, 0.9])
def test_debounce_holds_at_both_ends(phase: float) -> None:
    short = settled()
    short.advance(phase)
    short.cut.add("s1")
    short.advance(D - 0.05)
    short.cut.discard("s1")
    short.advance(10)
    assert short.sent == []
    long = settled()
    long.advance(phase)
    long.cut.add("s1")
    start = long.now
    long.advance(INTERVAL + D + TIMEOUT)
    (page,) = long.pages()
    assert page.at - start <= INTERVAL + D + TIMEOUT


def test_recovery_is_confirmed_at_the_fast_interval() -> None:
    h = Harness(ROUTER.replace('interval = "1s"\ndown', 'interval = "10s"\ndown'))
    h.advance(30)
    h.cut.add("s1")
    h.advance(25)
    assert len(h.pages()) == 1
    h.cut.discard("s1")
    repaired = h.now
    h.advance(30)
    (resolve,) = [s for s in h.sent if s.alert.status == "resolved"]
    # rise 2 at down_interval 1 s: the first success within the fast interval, then one more.
    assert resolve.at - repaired <= 1.0 + 1.0 + 0.01


def test_storm_with_canaries_up_pages_each_root_cause_and_no_isolation() -> None:
    text = tree(
        ("rtr-a", []),
        *[(f"a{i}", ["rtr-a"]) for i in range(5)],
        ("x1", []),
        ("x2", []),
        ("x3", []),
        extra="""
[[alerts.rules]]
name = "HighLoss"
metric = "icmp.packet_loss_ratio"
above = 0.3
for = "2s"
""",
    )
    h = settled(text)
    h.cut.update({"rtr-a", "x1", "x2", "x3"})
    h.advance(INTERVAL + D + TIMEOUT + 2)
    pages = h.pages()
    assert sorted(p.alert.target for p in pages) == ["rtr-a", "x1", "x2", "x3"]
    assert all(s.alert.name != "MonitorIsolated" for s in h.sent)
    assert [s for s in h.sent if s.alert.name == "HighLoss"] == []  # folded or consequence
    h.cut.clear()
    h.advance(15)
    assert sorted(s.alert.target for s in h.sent if s.alert.status == "resolved") == [
        "rtr-a",
        "x1",
        "x2",
        "x3",
    ]
    assert len(h.sent) == 8


def test_cut_canaries_isolate_and_hold_what_recovers_meanwhile() -> None:
    text = tree(("rtr", []), ("s1", ["rtr"]), ("x1", []), ("x2", []))
    h = settled(text)
    everything = {"gw1", "gw2", "rtr", "x1", "x2"}
    h.cut.update(everything)  # the monitor's own uplink
    h.advance(15)
    assert h.whats() == [("MonitorIsolated", "", "firing")]
    (isolated,) = h.sent
    assert isolated.alert.annotations["summary"].startswith("canaries down: gw1, gw2")
    h.cut.difference_update(everything - {"x2"})  # repaired, but x2 is really down now
    h.advance(15)
    assert h.whats() == [
        ("MonitorIsolated", "", "firing"),
        ("MonitorIsolated", "", "resolved"),
        ("TargetDown", "x2", "firing"),
    ]


def test_maintenance_on_a_router_covers_its_sites() -> None:
    h = settled()
    h.set_maintenance(["rtr"])
    h.cut.add("rtr")
    h.advance(20)
    h.cut.discard("rtr")
    h.advance(5)
    h.set_maintenance([])
    h.advance(15)
    assert h.sent == []
    assert h.pipeline.policy().target_mute("s1") is None


def test_maintenance_ending_while_the_router_recovers_pages_nothing() -> None:
    h = settled()
    h.set_maintenance(["rtr"])
    h.cut.add("rtr")
    h.advance(20)
    h.cut.discard("rtr")
    h.advance(0.5)  # the router's first success may not have come yet
    h.set_maintenance([])
    h.advance(15)
    assert h.sent == []


def test_maintenance_ending_while_the_router_is_still_down_pages_after_fall() -> None:
    h = settled()
    h.set_maintenance(["rtr"])
    h.cut.add("rtr")
    h.advance(20)
    assert h.pipeline.policy().target_mute("s2") == "maintenance via rtr"
    h.set_maintenance([])
    ended = h.now
    h.advance(10)
    (page,) = h.pages()
    assert page.alert.target == "rtr" and page.at - ended >= D
    assert [s.what for s in h.sent] == [("TargetDown", "rtr", "firing")]


def test_a_paged_site_behind_a_router_in_maintenance_stays_firing() -> None:
    h = settled()
    h.cut.add("s1")
    h.advance(8)
    h.set_maintenance(["rtr"])
    h.advance(10)
    h.set_maintenance([])
    h.advance(10)
    assert h.whats() == [("TargetDown", "s1", "firing")]
    h.cut.clear()
    h.advance(10)
    assert h.whats() == [("TargetDown", "s1", "firing"), ("TargetDown", "s1", "resolved")]


def test_steady_loss_pages_flapping_once_per_host() -> None:
    names = [f"x{i}" for i in range(10)]
    h = settled(tree(*[(n, []) for n in names]))
    h.loss = dict.fromkeys(names, 0.2)  # one echo per run, 20 % loss, for five minutes
    h.advance(300)
    flapping = [s.alert.target for s in h.pages("TargetFlapping")]
    assert len(flapping) == len(set(flapping))  # never a second flapping page for a host
    downs = h.pages("TargetDown")
    assert all(s.alert.target in flapping for s in downs)  # only where 3 echoes in a row got lost
    assert [s for s in h.sent if s.what[0] == "TargetFlapping" and s.what[2] == "resolved"] == []
    h.loss.clear()
    h.advance(400)
    fired = sorted((s.alert.name, s.alert.target) for s in h.sent if s.alert.status == "firing")
    resolved = sorted(
        (s.alert.name, s.alert.target) for s in h.sent if s.alert.status == "resolved"
    )
    assert fired == resolved


def test_a_host_out_of_sockets_pages_monitor_degraded_not_its_targets() -> None:
    h = settled()
    h.starved.update({"s1", "s2", "rtr"})
    h.cut.add("s3")  # a real outage meanwhile still pages
    h.advance(30)
    assert sorted(h.whats()) == [("MonitorDegraded", "", "firing"), ("TargetDown", "s3", "firing")]
    assert h.pipeline.states["s1"].health.value == "up"
    assert h.pipeline.states["s1"].outage_cause is None
    h.starved.clear()
    h.cut.clear()
    h.advance(70)
    assert ("MonitorDegraded", "", "resolved") in h.whats()
    assert len(h.sent) == 4


# -- properties over random cuts and repairs -------------------------------------------

FALLS = {"rtr": 4, "s1": 2, "s2": 3, "s1a": 2}
TREE = tree(("rtr", []), ("s1", ["rtr"]), ("s2", ["rtr"]), ("s1a", ["s1"]), fall=FALLS)
ANCESTORS = {"rtr": [], "s1": ["rtr"], "s2": ["rtr"], "s1a": ["s1", "rtr"]}


def test_a_flapping_router_that_goes_down_takes_its_sites_with_it() -> None:
    h = settled(TREE)
    for _ in range(3):  # up and down every 2 s: the router flaps
        h.cut.add("rtr")
        h.advance(2)
        h.cut.discard("rtr")
        h.advance(2)
    assert h.pipeline.states["rtr"].health.value == "flapping"
    h.cut.add("rtr")  # and now stays down
    h.advance(10)
    states = h.pipeline.states
    assert states["rtr"].own.value == "down" and states["rtr"].health.value == "flapping"
    assert {s: states[s].health.value for s in ("s1", "s2", "s1a")} == dict.fromkeys(
        ("s1", "s2", "s1a"), "unreachable"
    )
    assert h.whats() == [("TargetFlapping", "rtr", "firing")]
    h.cut.discard("rtr")
    h.advance(30)
    assert [w for w in h.whats() if w[1] != "rtr"] == []


def test_a_router_cut_between_its_runs_and_a_sites_does_not_make_the_site_flap() -> None:
    # The cut falls each time after the router's and s1's runs (.2 and .3) and just
    # before s1a's (.4): s1a's first failure looks like its own until they fail.
    h = settled(TREE)
    h.advance(0.375 - (h.now % 1.0))
    for _ in range(5):
        h.cut.add("rtr")
        h.advance(2)
        h.cut.discard("rtr")
        h.advance(2)
    h.advance(60)
    assert not h.pipeline.states["s1a"].flapping
    assert [w for w in h.whats() if w[1] != "rtr"] == []


# Every link state lasts at least rise x down_interval (2 s): a parent that is
# cut again within about one interval of coming back can put its cut exactly
# between its own run and a child's re-check, which sampling cannot tell from
# the child's own failure (a known limit, in the README).
actions = st.lists(
    st.tuples(st.sampled_from(sorted(ANCESTORS)), st.floats(2.0, 12.0)),
    min_size=1,
    max_size=10,
)


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
# A flapping router that goes down for good (s1 and s2 were paged as down on their own):
@example([("rtr", 2.0)] * 6 + [("rtr", 4.0)])
# Cut just after the sites' parents last answered (s1a was paged as flapping):
@example([("rtr", 2.0), ("rtr", 2.375)] + [("rtr", 2.0)] * 5)
def test_pages_are_root_causes_and_every_page_gets_one_true_resolve(
    steps: list[tuple[str, float]],
) -> None:
    h = Harness(TREE)
    h.advance(10)
    cut_since: dict[str, float] = {}
    cut_spans: list[tuple[str, float, float]] = []
    for name, gap in steps:  # toggle that link, then let time pass
        if name in h.cut:
            h.cut.discard(name)
            cut_spans.append((name, cut_since.pop(name), h.now))
        else:
            h.cut.add(name)
            cut_since[name] = h.now
        h.advance(gap)
    for name, since in cut_since.items():
        cut_spans.append((name, since, h.now))
    h.cut.clear()
    h.advance(400)  # longer than flapping_keep_for

    def own_cut_at(name: str, at: float) -> tuple[float, float] | None:
        for n, start, end in cut_spans:
            if n == name and start <= at <= end:
                return start, end
        return None

    def outage_start(name: str, start: float) -> float:
        """Where the outage began as the monitor can see it: a repair shorter than one
        interval between two cuts may fall between runs, so the cuts are one outage."""
        earlier = [
            s for n, s, e in cut_spans if n == name and start - 1.0 < e <= start and s < start
        ]
        return outage_start(name, min(earlier)) if earlier else start

    def ancestor_cut_between(name: str, start: float, end: float) -> bool:
        return any(n in ANCESTORS[name] and s <= end and e >= start for n, s, e in cut_spans)

    open_pages: dict[tuple[str, str], float] = {}
    for sent in h.sent:
        alert = sent.alert
        key = (alert.name, alert.target)
        if alert.status == "resolved":
            assert key in open_pages, f"resolve without page: {sent.what}"
            del open_pages[key]
            assert own_cut_at(alert.target, sent.at) is None, "resolved while cut"
            assert not any(
                n in ANCESTORS[alert.target] and s <= sent.at <= e for n, s, e in cut_spans
            ), "resolved while behind a cut parent"
            continue
        assert key not in open_pages, f"paged twice: {sent.what}"
        open_pages[key] = sent.at
        own = [span for span in cut_spans if span[0] == alert.target]
        if alert.name == "TargetFlapping":  # only a target whose own link went down
            assert own, sent.what
            continue
        assert alert.name == "TargetDown", sent.what
        span = own_cut_at(alert.target, sent.at)
        assert span is not None, f"{alert.target} paged at {sent.at} without its own cut"
        began = outage_start(alert.target, span[0])
        # Behind a parent that was out, a site is re-checked when the parent recovers
        # and one failure there is enough (it failed all along): the debounce is moot.
        if not ancestor_cut_between(alert.target, began - 2.0, sent.at):
            debounce = (FALLS[alert.target] - 1) * 1.0
            assert sent.at - began >= debounce - 0.01, f"{alert.target}: a blip paged"
    assert open_pages == {}, f"pages never resolved: {open_pages}"
