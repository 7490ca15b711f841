"""Routing as tables: matching, continue, grouping, group_wait, repeat, resolved,
escalation and acknowledgement, with time passed in (and a fake clock for the
timer that drives routing inside :class:`alerts.delivery.Delivery`)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import pytest

from alerts.channels.base import ChannelContext, ChannelKind, ChannelSettings
from alerts.config import AlertsSection, RouteConfig
from alerts.delivery import Delivery
from alerts.model import Alert, Notification, Site, fingerprint, notification_key
from alerts.route import Router, compile_routes, select_routes
from tests.fakes import FakeClock, settle
from tests.helpers import until

T0 = 1_700_000_000.0


def alert(
    target: str = "a",
    name: str = "TargetDown",
    severity: str = "critical",
    start: float = T0,
    end: float | None = None,
    **labels: str,
) -> Alert:
    return Alert(
        labels={"alertname": name, "target": target, "severity": severity, **labels},
        starts_at=start,
        ends_at=end,
        site=Site(address="Binh Son", contact="+84 255 000 000"),
    )


def router(*routes: dict[str, Any]) -> Router:
    return Router(compile_routes([RouteConfig.model_validate(r) for r in routes]))


def show(notifications: list[Notification]) -> list[str]:
    """``channel reason target:status,...`` per notification, compact for tables."""
    return [
        f"{n.channel} {n.reason} " + ",".join(f"{a.target}:{a.status}" for a in n.alerts)
        for n in notifications
    ]


Op = Literal["fire", "resolve", "tick", "ack"]


def play(r: Router, steps: list[tuple[float, Op, Any]]) -> list[list[str]]:
    """Run ``(seconds after T0, op, argument)`` steps; the notifications of each step."""
    out = []
    for offset, op, arg in steps:
        now = T0 + offset
        if op == "fire":
            a = arg if isinstance(arg, Alert) else alert(arg, start=now)
            out.append(show(r.receive(a, now)))
        elif op == "resolve":
            a = arg if isinstance(arg, Alert) else alert(arg, start=T0)
            out.append(show(r.receive(a.resolved(now), now)))
        elif op == "ack":
            r.acknowledge(alert(arg).fingerprint)
            out.append([])
        else:
            out.append(show(r.tick(now)))
    return out


MATCHING = [
    # (id, routes, alert labels, expected channels)
    (
        "first-match-wins",
        [{"match": {"severity": "critical"}, "channels": ["pager"]}, {"channels": ["mail"]}],
        {"severity": "critical"},
        ["pager"],
    ),
    (
        "falls-through",
        [{"match": {"severity": "critical"}, "channels": ["pager"]}, {"channels": ["mail"]}],
        {"severity": "warning"},
        ["mail"],
    ),
    (
        "continue",
        [
            {"match": {"severity": "critical"}, "channels": ["pager"], "continue": True},
            {"channels": ["mail"]},
        ],
        {"severity": "critical"},
        ["pager", "mail"],
    ),
    (
        "all-matchers-must-hold",
        [{"match": {"severity": "critical", "kind": "bts"}, "channels": ["pager"]}],
        {"severity": "critical"},
        [],
    ),
    (
        "regex-full-match",
        [{"match_re": {"target": "bts-.*"}, "channels": ["noc"]}, {"channels": ["mail"]}],
        {"target": "bts-binh-son-02"},
        ["noc"],
    ),
    (
        "regex-not-partial",
        [{"match_re": {"target": "bts"}, "channels": ["noc"]}, {"channels": ["mail"]}],
        {"target": "bts-binh-son-02"},
        ["mail"],
    ),
    (
        "regex-missing-label-is-empty",
        [{"match_re": {"site": ".*"}, "channels": ["noc"]}],
        {},
        ["noc"],
    ),
    ("no-route", [{"match": {"severity": "info"}, "channels": ["x"]}], {}, []),
    (
        "several-channels",
        [{"channels": ["mqtt", "hook", "mail"]}],
        {},
        ["mqtt", "hook", "mail"],
    ),
]


@pytest.mark.parametrize(
    ("routes", "labels", "expected"), [c[1:] for c in MATCHING], ids=[c[0] for c in MATCHING]
)
def test_matching(
    routes: list[dict[str, Any]], labels: dict[str, str], expected: list[str]
) -> None:
    base = {"alertname": "TargetDown", "target": "a", "severity": "warning"}
    r = router(*routes)
    got = [n.channel for n in r.receive(Alert({**base, **labels}, T0), T0)]
    assert got == expected
    chosen = select_routes(r.routes, {**base, **labels})
    assert [c for route in chosen for c in route.channels] == expected


SCENARIOS = [
    # (id, routes, steps, notifications per step)
    (
        "fire-then-resolve",
        [{"channels": ["pager"]}],
        [(0, "fire", "a"), (60, "resolve", "a"), (120, "tick", None)],
        [["pager new a:firing"], ["pager new a:resolved"], []],
    ),
    (
        "duplicate-firing-is-no-news",
        [{"channels": ["pager"]}],
        [(0, "fire", alert("a")), (30, "fire", alert("a")), (60, "resolve", "a")],
        [["pager new a:firing"], [], ["pager new a:resolved"]],
    ),
    (
        "refire-with-new-start-is-news",
        [{"channels": ["pager"]}],
        [(0, "fire", "a"), (60, "resolve", "a"), (120, "fire", "a")],
        [["pager new a:firing"], ["pager new a:resolved"], ["pager new a:firing"]],
    ),
    (
        "send-resolved-false",
        [{"channels": ["pager"], "send_resolved": False}],
        [(0, "fire", "a"), (60, "resolve", "a"), (4 * 3600, "tick", None)],
        [["pager new a:firing"], [], []],
    ),
    (
        "resolved-of-unknown-alert-still-told",  # e.g. it fired before a restart
        [{"channels": ["pager"]}],
        [(60, "resolve", "a")],
        [["pager new a:resolved"]],
    ),
    (
        "group-wait-collects",
        [{"channels": ["pager"], "group_by": ["site"], "group_wait": "30s"}],
        [
            (0, "fire", alert("a", site="S", start=T0)),
            (10, "fire", alert("b", site="S", start=T0 + 10)),
            (29, "tick", None),
            (30, "tick", None),
            (40, "fire", alert("c", site="S", start=T0 + 40)),  # group already told: at once
            (50, "fire", alert("d", site="T", start=T0 + 50)),  # another group waits
            (80, "tick", None),
        ],
        [
            [],
            [],
            [],
            ["pager new a:firing,b:firing"],
            ["pager new c:firing"],
            [],
            ["pager new d:firing"],
        ],
    ),
    (
        "resolved-within-group-wait",
        [{"channels": ["pager"], "group_wait": "30s"}],
        [(0, "fire", "a"), (10, "resolve", "a"), (30, "tick", None), (60, "tick", None)],
        [[], [], ["pager new a:resolved"], []],
    ),
    (
        "resolved-within-group-wait-not-sent-without-send-resolved",
        [{"channels": ["pager"], "group_wait": "30s", "send_resolved": False}],
        [(0, "fire", "a"), (10, "resolve", "a"), (30, "tick", None)],
        [[], [], []],
    ),
    (
        "repeat-interval",
        [{"channels": ["pager"], "repeat_interval": "1h"}],
        [
            (0, "fire", "a"),
            (3599, "tick", None),
            (3600, "tick", None),
            (7199, "tick", None),
            (7200, "tick", None),
            (7300, "resolve", "a"),
            (20000, "tick", None),
        ],
        [
            ["pager new a:firing"],
            [],
            ["pager repeat a:firing"],
            [],
            ["pager repeat a:firing"],
            ["pager new a:resolved"],
            [],
        ],
    ),
    (
        "default-repeat-is-4h",
        [{"channels": ["pager"]}],
        [(0, "fire", "a"), (4 * 3600 - 1, "tick", None), (4 * 3600, "tick", None)],
        [["pager new a:firing"], [], ["pager repeat a:firing"]],
    ),
    (
        "repeat-carries-the-group",
        [{"channels": ["pager"], "group_by": ["site"], "repeat_interval": "1h"}],
        [
            (0, "fire", alert("a", site="S")),
            (10, "fire", alert("b", site="S", start=T0 + 10)),
            (3610, "tick", None),
        ],
        [["pager new a:firing"], ["pager new b:firing"], ["pager repeat a:firing,b:firing"]],
    ),
    (
        "escalation",
        [{"channels": ["pager"], "escalate_after": "10m", "escalate_to": ["boss"]}],
        [
            (0, "fire", "a"),
            (599, "tick", None),
            (600, "tick", None),
            (700, "tick", None),
            (900, "resolve", "a"),
        ],
        [
            ["pager new a:firing"],
            [],
            ["boss escalation a:firing"],
            [],
            ["pager new a:resolved", "boss escalation a:resolved"],
        ],
    ),
    (
        "ack-stops-escalation",
        [{"channels": ["pager"], "escalate_after": "10m", "escalate_to": ["boss"]}],
        [(0, "fire", "a"), (60, "ack", "a"), (600, "tick", None), (900, "resolve", "a")],
        [["pager new a:firing"], [], [], ["pager new a:resolved"]],
    ),
    (
        "ack-stops-repeats",
        [{"channels": ["pager"], "repeat_interval": "1h"}],
        [
            (0, "fire", "a"),
            (3600, "tick", None),
            (3700, "ack", "a"),
            (7200, "tick", None),
            (10800, "tick", None),
            (11000, "resolve", "a"),
        ],
        [["pager new a:firing"], ["pager repeat a:firing"], [], [], [], ["pager new a:resolved"]],
    ),
    (
        "resolved-before-escalation",
        [{"channels": ["pager"], "escalate_after": "10m", "escalate_to": ["boss"]}],
        [(0, "fire", "a"), (300, "resolve", "a"), (600, "tick", None)],
        [["pager new a:firing"], ["pager new a:resolved"], []],
    ),
    (
        "continue-routes-group-apart",
        [
            {"match": {"severity": "critical"}, "channels": ["pager"], "continue": True},
            {"channels": ["mail"], "group_wait": "1m"},
        ],
        [(0, "fire", "a"), (60, "tick", None)],
        [["pager new a:firing"], ["mail new a:firing"]],
    ),
]


@pytest.mark.parametrize(
    ("routes", "steps", "expected"), [c[1:] for c in SCENARIOS], ids=[c[0] for c in SCENARIOS]
)
def test_scenarios(
    routes: list[dict[str, Any]], steps: list[tuple[float, Op, Any]], expected: list[list[str]]
) -> None:
    assert play(router(*routes), steps) == expected


def test_dedup_keys_are_identity_start_and_status() -> None:
    r = router({"channels": ["pager"], "repeat_interval": "1h", "fallback": "mail"})
    a = alert("a", check="icmp")
    fired = r.receive(a, T0)
    [repeat] = r.tick(T0 + 3600)
    [resolved] = r.receive(a.resolved(T0 + 3700), T0 + 3700)
    fp = fingerprint(a.labels)
    assert fired[0].key == f"TargetDown/{fp}@{T0:.3f}:firing"
    assert repeat.key == f"TargetDown/{fp}@{T0:.3f}:firing:repeat@{T0 + 3600:.0f}"
    assert resolved.key == f"TargetDown/{fp}@{T0:.3f}:resolved"
    assert {n.fallback for n in (*fired, repeat, resolved)} == {"mail"}


def test_group_key_ignores_order() -> None:
    a, b = alert("a"), alert("b")
    assert notification_key((a, b)) == notification_key((b, a))
    assert notification_key((a, b)).startswith("group/")


def test_identity_is_the_label_set() -> None:
    assert alert("a").fingerprint == alert("a", start=T0 + 5).fingerprint
    assert alert("a").fingerprint != alert("a", check="icmp").fingerprint
    assert alert("a").fingerprint != alert("b").fingerprint


def test_next_deadline() -> None:
    r = router(
        {
            "channels": ["p"],
            "group_wait": "30s",
            "repeat_interval": "1h",
            "escalate_after": "10m",
            "escalate_to": ["boss"],
        }
    )
    assert r.next_deadline() is None
    r.receive(alert("a"), T0)
    assert r.next_deadline() == T0 + 30  # group_wait
    r.tick(T0 + 30)
    assert r.next_deadline() == T0 + 30 + 600  # escalation before repeat
    r.tick(T0 + 630)
    assert r.next_deadline() == T0 + 30 + 3600  # repeat
    r.receive(alert("a").resolved(T0 + 700), T0 + 700)
    assert r.next_deadline() is None
    assert r.active() == []


def test_acknowledge_unknown_alert() -> None:
    r = router({"channels": ["p"]})
    assert not r.acknowledge("0123456789abcdef")
    r.receive(alert("a"), T0)
    assert r.acknowledge(alert("a").fingerprint)


# -- the timer inside Delivery, on a fake clock -----------------------------------


class RecordSettings(ChannelSettings):
    type: Literal["record"]


class Recorder:
    """A channel that records what it is asked to send (for routing timing only)."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        self.sent.append(notification)


@pytest.fixture
async def timed(tmp_path: Path) -> AsyncIterator[tuple[Delivery, Recorder, FakeClock]]:
    recorder = Recorder()

    @contextlib.asynccontextmanager
    async def open_record(settings: Any, context: ChannelContext) -> AsyncIterator[Recorder]:
        yield recorder

    clock = FakeClock(start=0.0, wall_offset=T0)
    alerts = AlertsSection.model_validate(
        {"routes": [{"channels": ["rec"], "group_wait": "30s", "repeat_interval": "1h"}]}
    )
    delivery = Delivery(
        channels={"rec": RecordSettings(type="record")},
        alerts=alerts,
        database=tmp_path / "outbox.db",
        clock=clock,
        kinds={"record": ChannelKind("record", RecordSettings, open_record)},
    )
    async with delivery:
        yield delivery, recorder, clock


async def test_delivery_timer_follows_the_clock(
    timed: tuple[Delivery, Recorder, FakeClock],
) -> None:
    delivery, recorder, clock = timed
    assert delivery.submit(alert("a", start=clock.wall())) == []  # waits group_wait
    await clock.advance(29)
    assert recorder.sent == []
    await clock.advance(1)
    # Stored by the outbox's writer thread, then sent: real time passes.
    await until(lambda: show(recorder.sent) == ["rec new a:firing"])
    await clock.advance(3600)
    await until(lambda: show(recorder.sent) == ["rec new a:firing", "rec repeat a:firing"])
    [n] = delivery.submit(alert("a", start=T0).resolved(clock.wall()))
    await clock.advance(0)
    await until(lambda: show(recorder.sent)[-1] == "rec new a:resolved")
    await until(lambda: [r.state for r in delivery.outbox.rows()] == ["sent", "sent", "sent"])
    assert n.key.endswith(":resolved")


async def test_submit_of_unrouted_alert_warns(
    timed: tuple[Delivery, Recorder, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    delivery, _, _ = timed
    delivery.router.routes = ()
    assert delivery.submit(alert("a")) == []
    assert "matches no route" in caplog.text


def test_flush_pending_sends_what_waits() -> None:
    r = router({"channels": ["p"], "group_wait": "30s"})
    assert r.receive(alert("a"), T0) == []
    assert show(r.flush_pending(T0 + 1)) == ["p new a:firing"]
    assert r.tick(T0 + 30) == []


async def test_closing_delivery_stores_alerts_still_in_group_wait(tmp_path: Path) -> None:
    clock = FakeClock(start=0.0, wall_offset=T0)
    recorder = Recorder()

    @contextlib.asynccontextmanager
    async def open_record(settings: Any, context: ChannelContext) -> AsyncIterator[Recorder]:
        yield recorder

    alerts = AlertsSection.model_validate({"routes": [{"channels": ["rec"], "group_wait": "1m"}]})
    delivery = Delivery(
        channels={"rec": RecordSettings(type="record")},
        alerts=alerts,
        database=tmp_path / "outbox.db",
        clock=clock,
        kinds={"record": ChannelKind("record", RecordSettings, open_record)},
    )
    async with delivery:
        delivery.submit(alert("a"))
    with contextlib.closing(sqlite3.connect(tmp_path / "outbox.db")) as db:
        rows = db.execute("SELECT channel, state FROM outbox").fetchall()
    assert rows == [("rec", "pending")]  # the next start sends it
    assert recorder.sent == []


async def test_a_failing_outbox_does_not_break_submit(
    timed: tuple[Delivery, Recorder, FakeClock],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivery, _, _ = timed

    def damaged(notifications: Any) -> asyncio.Future[list[Notification]]:
        # What the outbox's writer gives back for a failure retrying cannot fix
        # (a full disk is retried instead, see tests/adversarial/test_disk_full.py).
        future: asyncio.Future[list[Notification]] = asyncio.get_running_loop().create_future()
        future.set_exception(sqlite3.DatabaseError("database disk image is malformed"))
        return future

    monkeypatch.setattr(delivery.outbox, "enqueue", damaged)
    delivery.router.routes = compile_routes([RouteConfig.model_validate({"channels": ["rec"]})])
    assert len(delivery.submit(alert("a"))) == 1
    await settle()
    assert "could not store 1 notification(s)" in caplog.text
    assert delivery.metrics.store_errors == 1
