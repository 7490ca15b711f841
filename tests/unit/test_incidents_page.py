"""Incidents on the status page: root causes with their consequences folded under them.

Table tests over hand-built states and the real policy (no daemon): which
targets make an incident, what is folded under what, how the banner counts,
how a target in maintenance through an ancestor's window reads; and the one
place silences are matched for a target (:meth:`alerts.mute.Silence.may_cover`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.model import Alert
from alerts.mute import Matcher, Silence, silences_for
from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import topology_for
from monitor.engine.policy import Policy, ancestors
from monitor.engine.state import Health, TargetState, World
from monitor.i18n import texts
from monitor.web.page_locale import Locale
from monitor.web.status_page import Lines, incident_view, incidents, muted_text, reason_text

NOW = 1_800_000_000.0

CONFIG = """
[monitor]
timezone = "UTC"

[defaults]
checks = ["icmp"]

[[targets]]
name = "core"
address = "127.0.0.1"

[[targets]]
name = "mid"
address = "127.0.0.2"
parents = ["core"]

[[targets]]
name = "leaf"
address = "127.0.0.3"
parents = ["mid"]

[[targets]]
name = "dp-rtr"
address = "127.0.0.4"

[[targets]]
name = "site-c"
address = "127.0.0.5"
parents = ["dp-rtr"]

[[targets]]
name = "site-a"
address = "127.0.0.6"
parents = ["dp-rtr"]

[[targets]]
name = "site-b"
address = "127.0.0.7"
parents = ["dp-rtr"]

[[targets]]
name = "site-d"
address = "127.0.0.8"
parents = ["dp-rtr"]

[[targets]]
name = "bts-9"
address = "127.0.0.9"

[[targets]]
name = "rtr-2"
address = "127.0.0.10"

[[targets]]
name = "behind-2"
address = "127.0.0.11"
parents = ["rtr-2"]
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return load_config(path)


def up(name: str) -> TargetState:
    return TargetState(name, Health.UP, NOW - 3600, own=Health.UP, announced=Health.UP)


def down(name: str, at: float) -> TargetState:
    return TargetState(
        name,
        Health.DOWN,
        at,
        own=Health.DOWN,
        announced=Health.DOWN,
        flap_bits=1,
        flap_count=1,
        outage_start=at,
        outage_cause="check:icmp",
    )


def behind(name: str, parent: str, at: float) -> TargetState:
    return TargetState(
        name,
        Health.UNREACHABLE,
        at,
        own=Health.DOWN,
        announced=Health.UNREACHABLE,
        flap_bits=1,
        flap_count=1,
        outage_start=at,
        outage_cause=f"parent:{parent}",
    )


def in_maintenance(name: str, own: Health = Health.UP) -> TargetState:
    # A window opened on a failing target leaves its outage open (the report measures it).
    outage = (NOW - 120, "check:icmp") if own is Health.DOWN else (None, None)
    return TargetState(
        name,
        Health.MAINTENANCE,
        NOW - 60,
        own=own,
        maintenance=True,
        outage_start=outage[0],
        outage_cause=outage[1],
    )


def policy_for(
    config: Config, states: dict[str, TargetState], isolated: bool = False, **maintenance: str
) -> Policy:
    full = {t.name: states.get(t.name, up(t.name)) for t in config.targets}
    return Policy(full, topology_for(config), World(isolated=isolated), maintenance)


def overview(config: Config, policy: Policy) -> tuple[Lines, Locale]:
    loc = Locale("en", ZoneInfo("UTC"), NOW)
    lines = Lines()
    lines.update(config, policy, {}, loc)
    return lines, loc


STORM = {
    # A router cut with four sites behind it, a two-level chain, and an independent BTS.
    "dp-rtr": down("dp-rtr", NOW - 300),
    "site-a": behind("site-a", "dp-rtr", NOW - 290),
    "site-b": behind("site-b", "dp-rtr", NOW - 290),
    "site-c": behind("site-c", "dp-rtr", NOW - 291),
    "site-d": behind("site-d", "dp-rtr", NOW - 289),
    "core": down("core", NOW - 600),
    "mid": behind("mid", "core", NOW - 590),
    "leaf": behind("leaf", "mid", NOW - 580),
    "bts-9": down("bts-9", NOW - 295),
}


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        pytest.param({}, [], id="all up: no incident"),
        pytest.param(
            {"bts-9": down("bts-9", NOW - 10)}, [("bts-9", [])], id="one failure: one incident"
        ),
        pytest.param(
            STORM,
            [
                ("core", ["mid", "leaf"]),  # nested: the leaf hangs on core, not on mid
                ("dp-rtr", ["site-c", "site-a", "site-b", "site-d"]),  # nearest, then config
                ("bts-9", []),  # failing at the same time, on its own
            ],
            id="storm: one incident per root cause, oldest first",
        ),
        pytest.param(
            {"site-a": down("site-a", NOW - 5)},
            [("site-a", [])],
            id="a child failing under a healthy parent is a root cause",
        ),
    ],
)
def test_incidents_fold_consequences_under_their_root_cause(
    config: Config, states: dict[str, TargetState], expected: list[tuple[str, list[str]]]
) -> None:
    policy = policy_for(config, states)
    lines, _ = overview(config, policy)
    found = incidents(lines.lines.values(), policy)
    assert [(i.root.name, [c.name for c in i.consequences]) for i in found] == expected


def test_while_isolated_failing_targets_make_no_incident(config: Config) -> None:
    """The isolation notice says it; no outage is opened, so nothing is counted as one."""
    cut_off = replace(
        down("bts-9", NOW - 5), health=Health.UNKNOWN, outage_start=None, outage_cause=None
    )
    policy = policy_for(config, {"bts-9": cut_off}, isolated=True)
    lines, _ = overview(config, policy)
    assert lines.lines["bts-9"].row.state == "isolated"
    assert incidents(lines.lines.values(), policy) == []


def test_banner_counts_incidents_and_affected_targets_apart(config: Config) -> None:
    policy = policy_for(config, STORM)
    lines, loc = overview(config, policy)
    found = incidents(lines.lines.values(), policy)
    assert len(found) == 3
    assert sum(i.affected for i in found) == 9  # 3 incidents, 9 targets affected

    router = incident_view(found[1], loc)
    assert router["name"] == "dp-rtr" and router["state"] == "down"
    assert router["affected"] == 5
    assert router["behind"] == "4 targets behind it unreachable: site-c, site-a, site-b, …"
    assert [c["name"] for c in router["consequences"]] == ["site-c", "site-a", "site-b", "site-d"]
    assert router["consequences"][0]["href"] == "/targets/site-c"
    assert router["consequences"][0]["state"] == "unreachable"
    assert router["since_text"] == loc.time(NOW - 300)  # dated from the root cause

    chain = incident_view(found[0], loc)
    assert chain["behind"] == "2 targets behind it unreachable: mid, leaf"
    assert incident_view(found[2], loc)["behind"] == ""

    vi = Locale("vi", ZoneInfo("UTC"), NOW)
    assert incident_view(found[0], vi)["behind"].startswith("2 đối tượng phía sau")


def test_a_site_in_maintenance_through_its_router_says_via(config: Config) -> None:
    states = {
        "rtr-2": in_maintenance("rtr-2", own=Health.DOWN),
        "behind-2": in_maintenance("behind-2"),
    }
    policy = policy_for(config, states, **{"rtr-2": "rtr-2", "behind-2": "rtr-2"})
    lines, _ = overview(config, policy)
    assert lines.lines["behind-2"].row.reason == "in maintenance (via rtr-2)"
    assert lines.lines["rtr-2"].row.reason == "in a maintenance window"
    assert incidents(lines.lines.values(), policy) == []  # planned work is no incident

    # Only the window's owner changed (the state object did not): the row is remade.
    generation = lines.generation
    moved = Policy(policy.states, policy.topo, policy.world, {"rtr-2": "rtr-2", "behind-2": "x"})
    lines.update(config, moved, {}, Locale("en", ZoneInfo("UTC"), NOW))
    assert lines.lines["behind-2"].row.reason == "in maintenance (via x)"
    assert lines.lines["behind-2"].changed == lines.generation > generation
    assert lines.lines["core"].changed <= generation  # the rest stays as it was


@pytest.mark.parametrize(
    ("state", "via", "expected"),
    [
        ("maintenance", None, "in a maintenance window"),
        ("maintenance", "dp-rtr", "in maintenance (via dp-rtr)"),
        ("up", "dp-rtr", ""),
    ],
)
def test_reason_names_the_window_owner(state: str, via: str | None, expected: str) -> None:
    assert reason_text(state, None, [], texts("en"), via) == expected


@pytest.mark.parametrize(
    ("muted", "language", "expected"),
    [
        (None, "en", ""),
        ("maintenance", "en", "in a maintenance window"),
        ("maintenance via dp-rtr", "en", "in maintenance (via dp-rtr)"),
        ("maintenance via dp-rtr", "vi", "đang bảo trì (qua dp-rtr)"),
        ("isolated", "en", "the monitor is cut off"),
        ("recheck", "en", "re-checking after its parent recovered"),
        ("something new", "en", "something new"),  # an unknown reason is shown as it is
    ],
)
def test_muted_reason_in_words(muted: str | None, language: str, expected: str) -> None:
    assert muted_text(muted, texts(language)) == expected


@pytest.mark.parametrize(
    ("parents", "name", "expected"),
    [
        ({}, "a", []),
        ({"leaf": ("mid",), "mid": ("core",)}, "leaf", ["mid", "core"]),
        # Two parents, a shared grandparent listed once, nearest first.
        ({"s": ("r1", "r2"), "r1": ("core",), "r2": ("core",)}, "s", ["r1", "r2", "core"]),
        ({"a": ("b",), "b": ("a",)}, "a", ["b"]),  # a cycle ends
    ],
)
def test_ancestors(parents: dict[str, tuple[str, ...]], name: str, expected: list[str]) -> None:
    assert ancestors(name, parents) == expected


def silence(*matchers: Matcher) -> Silence:
    return Silence("s", matchers, 0.0, NOW * 2, "noc", "")


@pytest.mark.parametrize(
    ("matchers", "covers"),
    [
        ((Matcher("target", "bts-9"),), True),
        ((Matcher("target", "bts-.*", regex=True),), True),
        ((Matcher("target", "bts"),), False),
        ((Matcher("site", "BS-09"),), True),
        ((Matcher("site", "BS-0[0-9]", regex=True), Matcher("target", "other")), False),
        # Matchers on alert-only labels neither select nor exclude the target ...
        ((Matcher("target", "bts-9"), Matcher("alertname", "HighLoss")), True),
        # ... but a silence with nothing about the target is not the target's.
        ((Matcher("alertname", "HighLoss"),), False),
    ],
)
def test_silences_for_a_target_match_as_alerts_do(
    matchers: tuple[Matcher, ...], covers: bool
) -> None:
    labels = {"site": "BS-09"}
    found = silences_for([silence(*matchers)], "bts-9", labels)
    assert bool(found) is covers
    # The same matchers decide for an alert about the target (one matching rule).
    if covers and all(m.name != "alertname" for m in matchers):
        alert = Alert({"alertname": "TargetDown", "target": "bts-9", **labels}, NOW)
        assert silence(*matchers).covers(alert, NOW)
