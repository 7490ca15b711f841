"""Alert rules and muting as tables with injected time."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.model import Alert
from alerts.mute import Gate, Matcher, Silence
from alerts.rules import BuiltinSetting, RuleBook, TargetInfo, ThresholdRule
from tests.helpers import config_errors

BTS = TargetInfo("bts-1", {"kind": "bts", "site": "BS-01"})


def names(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.name, a.status) for a in alerts]


def book(**kw: object) -> RuleBook:
    return RuleBook(instance="noc-1", **kw)  # type: ignore[arg-type]


def test_target_down_fires_once_and_only_up_resolves_it() -> None:
    rules = book()
    assert names(rules.state_event("target_up", BTS, 1)) == []
    (down,) = rules.state_event("target_down", BTS, 10, message="0/1 replies")
    assert down.labels == {
        "kind": "bts",
        "site": "BS-01",
        "alertname": "TargetDown",
        "severity": "critical",
        "monitor": "noc-1",
        "target": "bts-1",
    }
    assert down.starts_at == 10 and down.annotations["description"] == "0/1 replies"
    assert rules.state_event("target_down", BTS, 11) == []  # one alert per real problem
    (resolved,) = rules.state_event("target_up", BTS, 20)
    assert (resolved.fingerprint, resolved.ends_at) == (down.fingerprint, 20)


F, R = "firing", "resolved"


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        # Inside a DOWN episode nothing resolves it but the target being up.
        (["target_down", "target_unreachable"], [("TargetDown", F)]),
        (["target_down", "target_unreachable", "target_down"], [("TargetDown", F)]),
        (
            ["target_down", "target_unreachable", "target_up"],
            [("TargetDown", F), ("TargetDown", R)],
        ),
        (["target_down", "target_maintenance"], [("TargetDown", F)]),
        (["target_down", "target_flapping"], [("TargetDown", F)]),  # no second page
        (
            ["target_down", "target_flapping", "target_up"],
            [("TargetDown", F), ("TargetDown", R)],
        ),
        # Flapping resolves only after flapping_keep_for (see the sweep test).
        (["target_flapping", "target_up"], [("TargetFlapping", F)]),
        # A DOWN pages on its own; the flapping episode stays open.
        (["target_flapping", "target_down"], [("TargetFlapping", F), ("TargetDown", F)]),
        (["target_unreachable", "target_up"], []),  # off by default
        (["target_maintenance", "target_up"], []),
    ],
)
def test_state_sequences(sequence: list[str], expected: list[tuple[str, str]]) -> None:
    rules = book()
    out = []
    for i, kind in enumerate(sequence):
        out += rules.state_event(kind, BTS, float(i))
    assert names(out) == expected


def test_builtin_settings_switch_on_off_and_change_severity() -> None:
    rules = book(
        builtin={
            "TargetUnreachable": BuiltinSetting(enabled=True, severity="warning"),
            "TargetDown": BuiltinSetting(enabled=False),
        }
    )
    assert rules.state_event("target_down", BTS, 1) == []
    (alert,) = rules.state_event("target_unreachable", BTS, 2, cause="parent:core")
    assert (
        alert.labels["severity"] == "warning" and "parent:core" in alert.annotations["description"]
    )


def test_monitor_and_slo_alerts() -> None:
    rules = book()
    assert names(rules.state_event("monitor_isolated", None, 1)) == [("MonitorIsolated", "firing")]
    assert names(rules.state_event("monitor_isolation_ended", None, 2)) == [
        ("MonitorIsolated", "resolved")
    ]
    (fast,) = rules.state_event("slo_burn_fast", None, 3, cause="slo:bts")
    assert fast.labels["slo"] == "bts" and fast.labels["severity"] == "critical"
    assert rules.state_event("slo_burn_fast_ended", None, 4, cause="slo:other") == []
    assert names(rules.state_event("slo_burn_fast_ended", None, 5, cause="slo:bts")) == [
        ("SLOBurnFast", "resolved")
    ]


def test_device_events_fire_and_resolve_per_interface() -> None:
    rules = book()
    assert names(rules.device_event("InterfaceDown", BTS, 1, {"interface": "ge-0/0/1"}, "")) == [
        ("InterfaceDown", "firing")
    ]
    assert names(rules.device_event("InterfaceDown", BTS, 2, {"interface": "ge-0/0/2"}, "")) == [
        ("InterfaceDown", "firing")
    ]
    (up,) = rules.device_event("InterfaceUp", BTS, 3, {"interface": "ge-0/0/1"}, "")
    assert up.labels["interface"] == "ge-0/0/1" and up.status == "resolved"
    assert names(rules.device_event("OnBattery", BTS, 4, {}, "")) == [("OnBattery", "firing")]
    assert names(rules.device_event("BatteryLow", BTS, 5, {}, "12 min left")) == [
        ("BatteryLow", "firing")
    ]
    assert sorted(names(rules.device_event("PowerRestored", BTS, 6, {}, ""))) == [
        ("BatteryLow", "resolved"),
        ("OnBattery", "resolved"),
    ]


def test_reboot_is_a_point_alert_that_resolves_by_itself() -> None:
    rules = book(point_resolve_after=900)
    assert names(rules.device_event("DeviceRebooted", BTS, 100, {}, "uptime went back")) == [
        ("DeviceRebooted", "firing")
    ]
    assert rules.sweep(999) == []
    assert names(rules.sweep(1000)) == [("DeviceRebooted", "resolved")]


def test_certificate_expiring_is_a_condition_of_each_run() -> None:
    rules = book()
    (fired,) = rules.device_event("CertificateExpiring", BTS, 1, {"check": "http"}, "3 days left")
    assert fired.labels["check"] == "http"
    assert rules.check_result(BTS, "http", {}, frozenset({"CertificateExpiring"}), 2) == []
    assert (
        rules.check_result(BTS, "tcp", {}, frozenset(), 3) == []
    )  # another check: not its condition
    assert names(rules.check_result(BTS, "http", {}, frozenset(), 4)) == [
        ("CertificateExpiring", "resolved")
    ]


LOSS = ThresholdRule.model_validate(
    {
        "name": "HighPacketLoss",
        "match": {"kind": "bts"},
        "metric": "icmp.packet_loss_ratio",
        "above": 0.2,
        "for": "2m",
        "keep_for": "1m",
        "summary": "loss {{ value }} on {{ target }}",
    }
)


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        # (time, loss) -> what happens
        ([(0, 0.5), (60, 0.5), (119, 0.5)], []),  # not held for 2 minutes yet
        ([(0, 0.5), (60, 0.5), (120, 0.5)], [("HighPacketLoss", "firing")]),
        ([(0, 0.5), (60, 0.1), (120, 0.5), (239, 0.5)], []),  # the streak broke at 60
        (
            [(0, 0.5), (120, 0.5), (150, 0.0), (200, 0.0)],
            [("HighPacketLoss", "firing")],
        ),  # keep_for holds it
        (
            [(0, 0.5), (120, 0.5), (150, 0.0), (210, 0.0)],
            [("HighPacketLoss", "firing"), ("HighPacketLoss", "resolved")],
        ),
    ],
)
def test_threshold_rule_for_and_keep_for(
    series: list[tuple[float, float]], expected: list[tuple[str, str]]
) -> None:
    rules = book(rules=(LOSS,))
    out = []
    for at, loss in series:
        out += rules.check_result(BTS, "icmp", {"packet_loss_ratio": loss}, frozenset(), at)
    assert names(out) == expected
    if expected:
        assert (
            out[0].starts_at == 0
            or out[0].starts_at == 120
            or out[0].annotations["summary"].startswith("loss")
        )


def test_threshold_rule_only_for_selected_targets_and_its_check() -> None:
    rules = book(rules=(LOSS.model_copy(update={"for_": None}),))
    core = TargetInfo("core-1", {"kind": "core"})
    assert rules.check_result(core, "icmp", {"packet_loss_ratio": 1.0}, frozenset(), 0) == []
    assert rules.check_result(BTS, "http", {"packet_loss_ratio": 1.0}, frozenset(), 0) == []
    (alert,) = rules.check_result(BTS, "icmp", {"packet_loss_ratio": 1.0}, frozenset(), 0)
    assert alert.annotations["summary"] == "loss 1.0 on bts-1" and alert.labels["check"] == "icmp"


def alert(name: str = "TargetDown", **labels: str) -> Alert:
    return Alert(labels={"alertname": name, "target": "bts-1", **labels}, starts_at=1.0)


def never(_: Alert) -> str | None:
    return None


def test_gate_holds_muted_alerts_and_pairs_resolves() -> None:
    gate = Gate()
    silence = Silence("s1", (Matcher("site", "BS-0.", regex=True),), 0, 100, "noc", "fibre work")
    gate.silences["s1"] = silence
    firing = alert(site="BS-01")
    assert gate.offer([firing], 10, never) == []  # silenced: held
    assert gate.release(50, never) == []
    assert gate.release(100, never) == [firing]  # the silence ended and it still fires
    assert gate.offer([firing.resolved(120)], 120, never) == [firing.resolved(120)]
    other = alert(site="X")
    assert gate.offer([other], 10, never) == [other]


def test_gate_never_sends_a_resolve_for_an_unsent_firing() -> None:
    gate = Gate()
    maintenance = {"on": True}

    def context(_: Alert) -> str | None:
        return "maintenance" if maintenance["on"] else None

    firing = alert()
    assert gate.offer([firing], 1, context) == []
    assert gate.offer([firing.resolved(5)], 5, context) == []  # never paged: not told it is over
    maintenance["on"] = False
    assert gate.release(6, context) == []  # it is over: nothing left to release


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[alerts.rules]]\nname = "Loss"\nmetric = "icmp"\nabove = 0.2\n',
            [
                "alerts.rules[0].metric: expected CHECK.VALUE such as 'icmp.packet_loss_ratio', got 'icmp'"
            ],
        ),
        (
            '[[alerts.rules]]\nname = "Loss"\nmetric = "icmp.packet_loss_ratio"\n',
            ["alerts.rules[0]: give exactly one of above or below"],
        ),
        (
            '[[alerts.rules]]\nname = "Loss"\nmetric = "icmp.x"\nabove = 1\nsummary = "{{ value"\n',
            [
                "alerts.rules[0].summary: template does not render: unexpected end of template, expected 'end of print statement'."
            ],
        ),
        (
            '[[alerts.rules]]\nname = "TargetDown"\nmetric = "icmp.x"\nabove = 1\n',
            ["alerts.rules: rule name 'TargetDown' is a built-in alert; choose another"],
        ),
        (
            "[alerts.builtin.TargetDwn]\nenabled = false\n",
            [
                "alerts.builtin: unknown built-in alert 'TargetDwn' (known: TargetDown, TargetUnreachable, "
                "TargetFlapping, DeviceRebooted, InterfaceDown, OnBattery, BatteryLow, CertificateExpiring, "
                "SLOBurnFast, SLOBurnSlow, MonitorIsolated, MonitorDegraded, SiteGoingDark)"
            ],
        ),
        (
            '[[alerts.rules]]\nname = "Loss"\nmetric = "icmp.x"\nabove = 1\nseverity = "page"\n',
            [
                "alerts.rules[0].severity: must be one of 'critical', 'warning' or 'info', got 'page'"
            ],
        ),
    ],
)
def test_rule_config_errors(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert config_errors(tmp_path, '[defaults]\nchecks = ["icmp"]\n', text) == expected


def test_reconfigure_keeps_active_alerts_and_their_timers() -> None:
    rules = book(point_resolve_after=900)
    rules.device_event("DeviceRebooted", BTS, 100, {}, "")
    rules.state_event("target_down", BTS, 100)
    rules.reconfigure(instance="noc-2", builtin={}, rules=(), point_resolve_after=60)
    assert len(rules.active) == 2
    assert names(rules.sweep(1000)) == [("DeviceRebooted", "resolved")]  # the old schedule holds


def test_a_new_episode_never_reuses_the_identity_of_the_last_one() -> None:
    rules = book()
    (first,) = rules.state_event("target_down", BTS, 10)
    (ended,) = rules.state_event("target_up", BTS, 20)
    # Re-announced with a start inside the old episode (e.g. backdated to its first failure).
    (second,) = rules.state_event("target_down", BTS, 15)
    assert second.starts_at > ended.ends_at  # type: ignore[operator]
    assert len({first.key, ended.key, second.key}) == 3


def test_the_down_page_carries_address_consequences_and_link() -> None:
    info = TargetInfo("rtr", {"kind": "router"}, None, "10.80.2.1", "https://noc/targets/rtr")
    (down,) = book().state_event(
        "target_down",
        info,
        1.0,
        message="0/3 replies from 10.80.2.1 within 3 s",
        consequences="a, b",
        affected=2,
    )
    assert down.annotations["description"] == "0/3 replies from 10.80.2.1 within 3 s"
    assert down.annotations["address"] == "10.80.2.1"
    assert (down.annotations["consequences"], down.annotations["affected"]) == ("a, b", "2")
    assert down.generator_url == "https://noc/targets/rtr"


def test_monitor_degraded_fires_and_resolves() -> None:
    rules = book()
    (fired,) = rules.state_event("monitor_degraded", None, 1.0, message="no sockets")
    assert (fired.name, fired.status) == ("MonitorDegraded", "firing")
    (resolved,) = rules.state_event("monitor_degraded_ended", None, 70.0)
    assert resolved.status == "resolved"


def test_flapping_resolves_after_keep_for_unless_it_flaps_again() -> None:
    rules = book(flapping_keep_for=300.0)
    (fired,) = rules.state_event("target_flapping", BTS, 0.0)
    assert rules.state_event("target_up", BTS, 100.0) == []
    assert rules.sweep(350.0) == []
    assert rules.state_event("target_flapping", BTS, 360.0) == []  # same episode
    assert rules.state_event("target_up", BTS, 400.0) == []
    (resolved,) = rules.sweep(700.0)
    assert (resolved.fingerprint, resolved.ends_at) == (fired.fingerprint, 400.0)
