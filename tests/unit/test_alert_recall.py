"""After a restart: device, time-to-dark and threshold alerts come back from the outbox.

:func:`alerts.reopen.open_episodes` finds the episodes a stored notification
carries firing and none carries resolved; :meth:`RuleBook.restore` makes them
active again so that the condition still holding pages nobody twice and the
condition found gone resolves them. Table tests, times passed in.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alerts.model import Alert, Notification, Reason, notification_key
from alerts.reopen import open_alerts, open_episodes
from alerts.rules import RECALLED, RuleBook, TargetInfo, ThresholdRule
from monitor.alert_flow import interfaces_up
from monitor.contract import ProbeResult, Sample

T0 = 1_796_528_400.0
UPS = TargetInfo("ups-a", {"site": "A"}, None, "127.0.0.1")
OTHER = TargetInfo("ups-b", {"site": "B"}, None, "127.0.0.2")
ON_BATTERY = {"ups_on_battery": 1.0}
ON_MAINS = {"ups_on_battery": 0.0}


def fired(book: RuleBook, kind: str, target: TargetInfo = UPS, at: float = T0) -> Alert:
    (alert,) = book.device_event(kind, target, at, {}, f"{kind} happened")
    return alert


def body(*alerts: Alert, reason: Reason = "new") -> str:
    return Notification(notification_key(alerts), "hook", alerts, reason).to_json()


# -- which episodes are open ------------------------------------------------------------


def test_open_episodes_are_fired_and_never_resolved() -> None:
    book = RuleBook(instance="m")
    a = fired(book, "OnBattery")
    b = fired(book, "OnBattery", OTHER)
    reboot = fired(book, "DeviceRebooted")
    bodies = [
        body(a),
        body(a, b),  # a group carrying both
        body(b, reason="repeat"),
        body(reboot),
        body(reboot.resolved(T0 + 900)),
    ]
    found = open_episodes(bodies, RECALLED)
    assert sorted(x.target for x in found) == ["ups-a", "ups-b"]
    assert all(x.status == "firing" and x.starts_at == T0 for x in found)


def test_a_later_episode_is_open_after_an_earlier_one_resolved() -> None:
    book = RuleBook(instance="m")
    first = fired(book, "OnBattery")
    (resolved,) = book.device_event("PowerRestored", UPS, T0 + 60, {}, "back")
    second = fired(book, "OnBattery", at=T0 + 120)
    (found,) = open_episodes([body(first), body(resolved), body(second)], RECALLED)
    assert found.starts_at == T0 + 120 and found.fingerprint == first.fingerprint


@pytest.mark.parametrize(
    ("names", "expected"),
    [(RECALLED, 1), (frozenset({"TargetDown"}), 0), (frozenset(), 0)],
    ids=["device", "state-only", "none"],
)
def test_only_the_names_asked_for(names: frozenset[str], expected: int) -> None:
    alert = fired(RuleBook(instance="m"), "BatteryLow")
    assert len(open_episodes([body(alert)], names)) == expected


def test_unreadable_rows_are_skipped() -> None:
    alert = fired(RuleBook(instance="m"), "OnBattery")
    assert len(open_episodes(["{not json", '{"alerts": 3}', body(alert)], RECALLED)) == 1


def test_reads_the_outbox_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    assert open_alerts(path, RECALLED) == []  # a first start: no file
    alert = fired(RuleBook(instance="m"), "OnBattery")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.executemany("INSERT INTO outbox (body) VALUES (?)", [(body(alert),), ('{"x": 1}',)])
    db.commit()
    db.close()
    (found,) = open_alerts(path, RECALLED)
    assert found == alert
    path.write_bytes(b"garbage, not a database" * 100)
    assert open_alerts(path, RECALLED) == []  # logged; the daemon starts anyway


# -- what a restored alert does next ----------------------------------------------------

# (what the first poll after the restart says, then the probe's events) -> what is sent
RESTORED_POWER = [
    ("battery", ["OnBattery"], []),  # still on battery: the probe's news is no page
    ("battery", ["OnBattery", "BatteryLow"], ["firing BatteryLow"]),  # new news pages
    ("mains", [], ["resolved OnBattery"]),  # mains came back during the restart
]


@pytest.mark.parametrize(("poll", "events", "sent"), RESTORED_POWER, ids=["on", "low", "mains"])
def test_restored_power_alert_follows_the_first_poll(
    poll: str, events: list[str], sent: list[str]
) -> None:
    before = RuleBook(instance="m")
    alert = fired(before, "OnBattery")
    after = RuleBook(instance="m")
    after.restore([alert])
    at = T0 + 600
    out = after.check_result(
        UPS, "snmp", ON_BATTERY if poll == "battery" else ON_MAINS, frozenset(), at
    )
    for kind in events:
        out += after.device_event(kind, UPS, at, {}, kind)
    assert [f"{a.status} {a.name}" for a in out] == sent
    for a in out:
        if a.name == "OnBattery":
            assert a.starts_at == T0 and a.ends_at == at  # the old episode, ended now
    # Only the first poll decides: a later mains poll without the probe's PowerRestored
    # is not taken as one (the live lifecycle is the probe's events again).
    if poll == "battery":
        assert after.check_result(UPS, "snmp", ON_MAINS, frozenset(), at + 60) == []
        back = after.device_event("PowerRestored", UPS, at + 60, {}, "back")
        assert {(a.name, a.status, a.starts_at) for a in back} == {
            ("OnBattery", "resolved", T0),
            ("BatteryLow", "resolved", at),
        } - ({("BatteryLow", "resolved", at)} if events == ["OnBattery"] else set())


def test_a_poll_without_ups_figures_decides_nothing() -> None:
    alert = fired(RuleBook(instance="m"), "OnBattery")
    after = RuleBook(instance="m")
    after.restore([alert])
    assert after.check_result(UPS, "icmp", {"rtt_seconds": 0.01}, frozenset(), T0 + 1) == []
    (done,) = after.check_result(UPS, "snmp", ON_MAINS, frozenset(), T0 + 2)
    assert done.status == "resolved"


def test_restored_point_and_level_alerts_resolve_as_before() -> None:
    before = RuleBook(instance="m", point_resolve_after=900)
    reboot = fired(before, "DeviceRebooted")
    (cert,) = before.device_event("CertificateExpiring", UPS, T0, {"check": "https"}, "soon")
    after = RuleBook(instance="m", point_resolve_after=900)
    after.restore([reboot, cert])
    assert after.sweep(T0 + 899) == []
    (ended,) = after.sweep(T0 + 900)
    assert ended.name == "DeviceRebooted"
    (gone,) = after.check_result(UPS, "https", {}, frozenset(), T0 + 950)
    assert gone.name == "CertificateExpiring" and gone.status == "resolved"


def test_restored_site_going_dark_waits_for_a_prediction_within_the_lead() -> None:
    """The trend starts afresh after a restart: a first estimate beyond the lead is
    not the load shed; a prediction within it resumes the lifecycle."""
    lead = 1800.0
    before = RuleBook(instance="m")
    (dark,) = before.going_dark(UPS, T0 + 600, T0, lead=lead)
    after = RuleBook(instance="m")
    after.restore([dark])
    assert after.going_dark(UPS, None, T0 + 10, lead=lead) == []  # nothing predicted yet
    assert after.going_dark(UPS, T0 + 7200, T0 + 11, lead=lead) == []  # the device's guess
    assert after.going_dark(UPS, T0 + 600, T0 + 20, lead=lead) == []  # within: still firing
    (better,) = after.going_dark(UPS, T0 + 7200, T0 + 30, lead=lead)
    assert better.status == "resolved" and better.starts_at == T0
    (again,) = after.going_dark(UPS, T0 + 600, T0 + 40, lead=lead)
    assert again.status == "firing" and again.starts_at > T0
    assert after.going_dark(UPS, T0 + 9000, T0 + 50, lead=lead)[0].status == "resolved"


def test_restored_site_going_dark_resolves_on_mains() -> None:
    before = RuleBook(instance="m")
    (dark,) = before.going_dark(UPS, T0 + 600, T0, lead=1800.0)
    after = RuleBook(instance="m")
    after.restore([dark])
    (done,) = after.check_result(UPS, "snmp", ON_MAINS, frozenset(), T0 + 5)
    assert done.name == "SiteGoingDark" and done.starts_at == T0


def test_threshold_alerts_are_recalled_when_their_rule_exists() -> None:
    rule = ThresholdRule.model_validate(
        {"name": "HighLoad", "metric": "snmp.ups_output_load_ratio", "above": 0.9}
    )
    book = RuleBook(instance="m", rules=(rule,))
    assert "HighLoad" in book.recalled() and book.recalled() >= RECALLED
    assert "HighLoad" not in RuleBook(instance="m").recalled()


def test_restored_interface_down_follows_the_first_poll_of_its_interface() -> None:
    """The interface poll reports changes only: after a restart its first poll says
    nothing, so the poll's states decide (up resolves, down keeps, unseen waits)."""
    before = RuleBook(instance="m")
    alerts = [
        before.device_event("InterfaceDown", UPS, T0, {"interface": name}, "down")[0]
        for name in ("ge-0/0/1", "ge-0/0/2", "ge-0/0/3")
    ]
    after = RuleBook(instance="m")
    after.restore(alerts)
    assert after.awaits_interfaces("ups-a")
    (back,) = after.interfaces_polled("ups-a", {"ge-0/0/1": True, "ge-0/0/2": False}, T0 + 60)
    assert back.labels["interface"] == "ge-0/0/1" and back.starts_at == T0
    assert after.awaits_interfaces("ups-a")  # ge-0/0/3 not polled yet
    assert after.interfaces_polled("ups-a", {"ge-0/0/2": True, "ge-0/0/3": False}, T0 + 70) == []
    assert not after.awaits_interfaces("ups-a")  # each decided once; the probe's events now
    (up,) = after.device_event("InterfaceUp", UPS, T0 + 80, {"interface": "ge-0/0/2"}, "up")
    assert up.status == "resolved" and up.labels["interface"] == "ge-0/0/2"


def test_interface_states_come_from_the_poll_samples() -> None:
    result = ProbeResult(
        ok=True,
        reason="",
        message="",
        started=T0,
        duration=0.1,
        samples=(
            Sample("continuity_snmp_interface_up", 1.0, (("interface", "a"), ("alias", ""))),
            Sample("continuity_snmp_interface_up", 0.0, (("interface", "b"), ("alias", ""))),
            Sample("continuity_snmp_interface_admin_up", 1.0, (("interface", "c"),)),
        ),
    )
    assert interfaces_up(result) == {"a": True, "b": False}
