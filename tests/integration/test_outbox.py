"""Nothing lost: the outbox across a broker outage, a SIGKILL of the process holding
it, and a channel down past its TTL (fallback); plus dedup, ordering, timeouts,
metrics and the Delivery entry point end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.channels.base import ChannelContext, PermanentError, TransientError
from alerts.channels.mqtt import MqttChannel, MqttSettings
from alerts.channels.webhook import WebhookChannel, WebhookSettings
from alerts.config import AlertsSection
from alerts.delivery import Delivery
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, Notification
from alerts.outbox import OUTBOX_MIGRATIONS, DeliveryPolicy, Outbox
from monitor.clock import LoopClock
from tests.helpers import free_port, until
from tests.peers import Mosquitto, http_receiver
from tests.prometheus_peer import check_metrics
from tests.tmpfs import fill, free, tmpfs

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0
END_MARKER = "continuity/alerts/test/end"
"""Published by the test's watcher itself, after the outbox's messages."""
FAST = DeliveryPolicy(timeout=1.0, ttl=60.0, backoff_initial=0.05, backoff_max=0.3)


def alert(target: str, resolved: bool = False) -> Alert:
    a = Alert({"alertname": "TargetDown", "target": target, "severity": "critical"}, T0)
    return a.resolved(T0 + 60) if resolved else a


def notification(
    target: str, channel: str = "c", resolved: bool = False, fallback: str | None = None
) -> Notification:
    a = alert(target, resolved)
    return Notification(a.key, channel, (a,), "new", T0, fallback)


def webhook(url: str, name: str = "c") -> WebhookChannel:
    s = WebhookSettings.model_validate({"type": "webhook", "url": url, "timeout": "1s"})
    return WebhookChannel(s, ChannelContext(name))


class Scripted:
    """A channel whose every attempt does what the script says next."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.sent: list[Notification] = []

    async def send(self, notification: Notification) -> None:
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        if step == "hang":
            await asyncio.sleep(3600)
        self.sent.append(notification)


# -- (1) broker down while notifications are queued ---------------------------------------


@pytest.mark.needs("mosquitto")
async def test_broker_outage_loses_nothing(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path, persistent=True)
    broker.start()
    watcher = {
        "hostname": "127.0.0.1",
        "port": broker.port,
        "identifier": "watcher",
        "clean_session": False,
        "timeout": 5,
    }
    try:
        async with aiomqtt.Client(**watcher) as sub:  # a persistent QoS 1 session
            await sub.subscribe("continuity/alerts/#", qos=1)
        settings = MqttSettings.model_validate(
            {
                "type": "mqtt",
                "url": broker.url,
                "timeout": "1s",
                "reconnect_initial": "100ms",
                "reconnect_max": "300ms",
            }
        )
        channel = MqttChannel(settings, ChannelContext("noc", instance="t"))
        metrics = DeliveryMetrics(time.time)
        async with (
            channel,
            Outbox(tmp_path / "o.db", {"noc": channel}, {"noc": FAST}, metrics=metrics) as outbox,
        ):
            broker.stop()
            queued = [notification(f"t{i}", "noc") for i in range(5)]
            queued += [notification(f"t{i}", "noc", resolved=True) for i in range(5)]
            assert await outbox.enqueue(queued) == queued
            await until(lambda: metrics.failed[("noc", "transient")] >= 2, what="failed attempts")
            assert metrics.pending["noc"] == 10 and metrics.sent["noc"] == 0
            broker.start()
            await until(lambda: metrics.pending["noc"] == 0, timeout=15, what="outbox drained")
            assert [r.state for r in outbox.rows()] == ["sent"] * 10
        keys: list[str] = []
        async with aiomqtt.Client(**watcher) as sub:
            # The broker queues this marker behind what the session holds: when it
            # arrives, every copy the outbox published (a duplicate too) has been read.
            await sub.publish(END_MARKER, b"{}", qos=1)
            async with asyncio.timeout(10):
                async for message in sub.messages:
                    if message.topic.matches(END_MARKER):
                        break
                    assert isinstance(message.payload, bytes)
                    keys.append(json.loads(message.payload)["dedup_key"])
        assert keys == [n.key for n in queued]  # all, in order, each once
    finally:
        broker.stop()


# -- (2) SIGKILL with notifications pending, restart on the same database -------------------

HOLDER = """
import asyncio, sys
from alerts.channels.base import ChannelContext
from alerts.channels.webhook import WebhookChannel, WebhookSettings
from monitor.clock import LoopClock
from alerts.model import Alert, Notification
from alerts.outbox import OUTBOX_MIGRATIONS, DeliveryPolicy, Outbox

async def main():
    db, url = sys.argv[1], sys.argv[2]
    s = WebhookSettings.model_validate({"type": "webhook", "url": url, "timeout": "1s"})
    channel = WebhookChannel(s, ChannelContext("hook"))
    policy = DeliveryPolicy(timeout=1, ttl=600, backoff_initial=0.05, backoff_max=0.2)
    async with channel, Outbox(db, {"hook": channel}, {"hook": policy}) as outbox:
        batch = []
        for i in range(5):
            a = Alert({"alertname": "TargetDown", "target": f"t{i}"}, 1700000000.0)
            batch.append(Notification(a.key, "hook", (a,)))
        await outbox.enqueue(batch)
        while outbox.rows()[0].attempts < 1:  # nothing listens: the head fails
            await asyncio.sleep(0.01)
        print("attempted", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_sigkill_with_pending_then_restart_delivers(tmp_path: Path) -> None:
    db = tmp_path / "outbox.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), url],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.strip() == b"attempted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
    finally:
        proc.kill()
        proc.wait(timeout=5)
    async with http_receiver(port=port) as peer:
        channel = webhook(url, "hook")
        async with channel, Outbox(db, {"hook": channel}, {"hook": FAST}) as outbox:
            requests = await peer.wait(5)
            await until(lambda: len(outbox.rows(state="sent")) == 5, what="all marked sent")
            rows = outbox.rows()
    assert [r.json()["alerts"][0]["target"] for r in requests] == [f"t{i}" for i in range(5)]
    assert all(r.attempts >= 2 for r in rows[:1])  # the head was tried before the kill too


# -- (3) a channel down past its TTL goes to the fallback -------------------------------


async def test_channel_down_past_ttl_goes_to_fallback(tmp_path: Path) -> None:
    down = webhook(f"http://127.0.0.1:{free_port()}/hook", "primary")
    short = DeliveryPolicy(timeout=1.0, ttl=0.5, backoff_initial=0.05, backoff_max=0.1)
    metrics = DeliveryMetrics(time.time)
    async with http_receiver() as peer:
        backup = webhook(f"{peer.url}/backup", "backup")
        channels = {"primary": down, "backup": backup}
        async with (
            down,
            backup,
            Outbox(
                tmp_path / "o.db", channels, {"primary": short, "backup": FAST}, metrics=metrics
            ) as outbox,
        ):
            await outbox.enqueue(
                [notification(f"t{i}", "primary", fallback="backup") for i in range(3)]
            )
            requests = await peer.wait(3, timeout=10)
            await until(lambda: len(outbox.rows("backup", "sent")) == 3)
            primary = outbox.rows("primary")
            backups = outbox.rows("backup")
    assert [r.state for r in primary] == ["dead"] * 3
    assert primary[0].last_error is not None
    assert primary[0].last_error.startswith("not delivered within its TTL (POST http://127.0.0.1:")
    assert [r.key for r in backups] == [f"{r.key}|fallback:primary" for r in primary]
    assert [r.json()["reason"] for r in requests] == ["fallback"] * 3
    assert [r.json()["alerts"][0]["target"] for r in requests] == ["t0", "t1", "t2"]
    assert metrics.dead["primary"] == 3 and metrics.sent["backup"] == 3


# -- the rest of the contract ---------------------------------------------------------------


async def test_permanent_error_is_dead_at_once_with_fallback(tmp_path: Path) -> None:
    primary = Scripted(PermanentError("HTTP 400"))
    backup = Scripted()
    async with Outbox(
        tmp_path / "o.db", {"p": primary, "b": backup}, {"p": FAST, "b": FAST}
    ) as outbox:
        await outbox.enqueue([notification("a", "p", fallback="b")])
        await until(lambda: len(backup.sent) == 1)
        await outbox.written()  # the marks queued before the sends returned
        [dead] = outbox.rows("p")
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 0, "HTTP 400")
    assert backup.sent[0].reason == "fallback"


async def test_same_key_is_stored_once(tmp_path: Path) -> None:
    channel = Scripted(TransientError("down"), TransientError("down"))
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": FAST}) as outbox:
        n = notification("a")
        assert await outbox.enqueue([n, n]) == [n]
        assert await outbox.enqueue([n]) == []
        await until(lambda: len(channel.sent) == 1)
        assert await outbox.enqueue([n]) == []  # delivered keys are remembered too
        later = notification("b")
        await outbox.enqueue([later])
        await until(lambda: len(channel.sent) == 2, what="the later one")
    assert channel.sent == [n, later]  # a second copy of n would have come before it


async def test_head_of_line_order_and_backoff(tmp_path: Path) -> None:
    channel = Scripted(TransientError("down"), TransientError("down"), TransientError("down"))
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": FAST}) as outbox:
        await outbox.enqueue([notification(f"t{i}") for i in range(4)])
        await until(lambda: len(channel.sent) == 4)
        await outbox.written()
        rows = outbox.rows()
    assert [n.alerts[0].target for n in channel.sent] == ["t0", "t1", "t2", "t3"]
    assert [r.attempts for r in rows] == [4, 1, 1, 1]


async def test_attempt_timeout_is_enforced(tmp_path: Path) -> None:
    channel = Scripted("hang")
    policy = DeliveryPolicy(timeout=0.2, ttl=60, backoff_initial=0.05, backoff_max=0.1)
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": policy}) as outbox:
        await outbox.enqueue([notification("a")])
        await until(lambda: len(channel.sent) == 1, timeout=5)
        await outbox.written()
        [row] = outbox.rows()
    assert row.last_error == "attempt timed out after 0.2s" and row.attempts == 2


async def test_a_buggy_channel_does_not_stop_its_queue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    channel = Scripted(KeyError("bug"))
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": FAST}) as outbox:
        await outbox.enqueue([notification("a")])
        await until(lambda: len(channel.sent) == 1)
        await outbox.written()
        [row] = outbox.rows()
    assert row.last_error == "unexpected error: KeyError"
    assert "unexpected error while sending" in caplog.text


async def test_metrics_exposition(tmp_path: Path) -> None:
    now = [T0]
    metrics = DeliveryMetrics(lambda: now[0])
    registry = CollectorRegistry()
    registry.register(metrics)
    channel = Scripted(*[TransientError("down")] * 1000)
    policy = DeliveryPolicy(timeout=1, ttl=600, backoff_initial=10, backoff_max=10)
    async with Outbox(
        tmp_path / "o.db", {"noc": channel}, {"noc": policy}, metrics=metrics
    ) as outbox:
        await outbox.enqueue([notification("a", "noc"), notification("b", "noc")])
        await until(lambda: metrics.failed[("noc", "transient")] == 1)
        oldest = metrics.oldest["noc"]
        assert oldest is not None
        now[0] = oldest + 42
        text = generate_latest(registry).decode()
    assert 'continuity_notifications_pending{channel="noc"} 2.0' in text
    assert 'continuity_notification_oldest_pending_age_seconds{channel="noc"} 42.0' in text
    assert 'continuity_notifications_sent_total{channel="noc"} 0.0' in text
    assert 'continuity_notifications_failed_total{channel="noc",kind="transient"} 1.0' in text
    assert 'continuity_notifications_failed_total{channel="noc",kind="permanent"} 0.0' in text
    assert 'continuity_notifications_dead_total{channel="noc"} 0.0' in text
    check_metrics(text)


async def test_pending_survives_a_clean_restart(tmp_path: Path) -> None:
    down = Scripted(*[TransientError("down")] * 1000)
    async with Outbox(tmp_path / "o.db", {"c": down}, {"c": FAST}) as outbox:
        await outbox.enqueue([notification("a"), notification("b")])
        await until(lambda: len(down.script) < 1000, what="a failed attempt")
    up = Scripted()
    metrics = DeliveryMetrics(time.time)
    async with Outbox(tmp_path / "o.db", {"c": up}, {"c": FAST}, metrics=metrics):
        await until(lambda: len(up.sent) == 2)
    assert [n.alerts[0].target for n in up.sent] == ["a", "b"]


async def test_retention_deletes_old_done_rows(tmp_path: Path) -> None:
    channel = Scripted()
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": FAST}) as outbox:
        await outbox.enqueue([notification("a")])
        await until(lambda: len(channel.sent) == 1)
    async with Outbox(tmp_path / "o.db", {"c": channel}, {"c": FAST}, retention=0.001) as outbox:
        await asyncio.sleep(0.01)
        await outbox.housekeep()
        assert outbox.rows() == []


# -- Delivery: from submit() to a peer -----------------------------------------------------


@contextlib.asynccontextmanager
async def delivery(
    tmp_path: Path, url: str, metrics: DeliveryMetrics | None = None, **route: Any
) -> AsyncIterator[Delivery]:
    channels = {
        "hook": WebhookSettings.model_validate({"type": "webhook", "url": url, "timeout": "1s"}),
    }
    alerts = AlertsSection.model_validate({"routes": [{"channels": ["hook"], **route}]})
    async with Delivery(
        channels=channels,
        alerts=alerts,
        database=tmp_path / "o.db",
        instance="noc-1",
        metrics=metrics or DeliveryMetrics(time.time),
    ) as d:
        yield d


async def test_delivery_submit_to_webhook(tmp_path: Path) -> None:
    async with http_receiver() as peer, delivery(tmp_path, f"{peer.url}/hook") as d:
        a = Alert(
            {"alertname": "TargetDown", "target": "bts-1", "severity": "critical"}, time.time()
        )
        [queued] = d.submit(a)
        await d.outbox.written()
        assert d.outbox.rows()[0].key == queued.key
        assert d.active() == [a]
        d.submit(a.resolved(time.time()))
        requests = await peer.wait(2)
    assert [r.json()["status"] for r in requests] == ["firing", "resolved"]
    assert requests[0].json()["instance"] == "noc-1"


async def test_resubmission_after_restart_is_not_sent_twice(tmp_path: Path) -> None:
    a = Alert({"alertname": "TargetDown", "target": "bts-1"}, time.time())
    b = Alert({"alertname": "TargetDown", "target": "bts-2"}, time.time())
    async with http_receiver() as peer:
        async with delivery(tmp_path, f"{peer.url}/hook") as d:
            d.submit(a)
            await peer.wait(1)
        async with delivery(tmp_path, f"{peer.url}/hook") as d:  # the rule side re-submits
            d.submit(a)
            d.submit(b)
            await peer.wait(2)
    # A second copy of a would have been queued, and sent, before b.
    assert [r.json()["alerts"][0]["target"] for r in peer.requests] == ["bts-1", "bts-2"]


async def test_a_firing_for_a_resolved_episode_is_refused_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = DeliveryMetrics(time.time)
    a = Alert({"alertname": "TargetDown", "target": "bts-1"}, time.time())
    async with (
        http_receiver() as peer,
        delivery(tmp_path, f"{peer.url}/hook", metrics=metrics) as d,
    ):
        d.submit(a)
        d.submit(a.resolved(time.time()))
        await peer.wait(2)
        assert d.submit(a) == []  # same episode again: it would be dropped as a duplicate
    assert metrics.refused == {"closed_episode": 1}
    assert "was already resolved" in caplog.text
    assert [r.json()["status"] for r in peer.requests] == ["firing", "resolved"]


class EarlierClock(LoopClock):
    """Wall time two hours ago: rows stored with it look old to the next run."""

    def wall(self) -> float:
        return time.time() - 7200


async def test_a_row_past_its_ttl_after_downtime_still_gets_one_attempt(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", {}, clock=EarlierClock()) as outbox:
        await outbox.enqueue([notification("a", fallback="b")])  # no worker for 'c' in this run
    up, backup = Scripted(), Scripted()
    async with Outbox(tmp_path / "o.db", {"c": up, "b": backup}, {"c": FAST, "b": FAST}) as outbox:
        await until(lambda: len(up.sent) == 1)
        await outbox.written()
        assert [r.state for r in outbox.rows()] == ["sent"]
    assert backup.sent == []


# -- the outbox file: migrations, a full disk, a damaged file --------------------------------

OLD_SCHEMA = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    fallback TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    done_at REAL,
    UNIQUE (channel, key)
);
CREATE INDEX outbox_queue ON outbox (channel, state, id);
"""


async def test_an_outbox_made_before_versions_is_adopted_with_its_pending_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as db:  # the format of earlier releases
        db.executescript(OLD_SCHEMA)
        for i, state in enumerate(("sent", "pending", "pending")):
            n = notification(f"t{i}")
            db.execute(
                "INSERT INTO outbox (channel, key, body, state, created_at, next_attempt_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (n.channel, n.key, n.to_json(), state, time.time(), 0.0),
            )
        db.commit()
    channel = Scripted()
    async with Outbox(path, {"c": channel}, {"c": FAST}) as outbox:
        await until(lambda: len(channel.sent) == 2)
        assert await outbox.enqueue([notification("t0")]) == []  # dedup memory kept
    assert [n.alerts[0].target for n in channel.sent] == ["t1", "t2"]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [
            (len(OUTBOX_MIGRATIONS),)
        ]


async def test_on_a_full_disk_nothing_is_sent_before_it_is_stored(tmp_path: Path) -> None:
    channel = Scripted()
    metrics = DeliveryMetrics(time.time)
    with tmpfs(tmp_path / "mnt", "4m") as mnt:
        async with Outbox(
            mnt / "outbox.sqlite3",
            {"c": channel},
            {"c": FAST},
            metrics=metrics,
            backoff_initial=0.05,
            backoff_max=0.2,
        ) as outbox:
            await outbox.enqueue([notification("before")])
            await until(lambda: len(channel.sent) == 1)
            fill(mnt)
            stored = outbox.enqueue([notification(f"t{i}") for i in range(3)])
            await until(lambda: metrics.writes.failures["outbox"] >= 3, what="retried")
            assert not stored.done()
            assert metrics.writes.pending["outbox"] == 3
            assert metrics.writes.available["outbox"] is False
            assert len(channel.sent) == 1  # nothing sent that is not stored
            free(mnt)
            assert len(await stored) == 3
            await until(lambda: len(channel.sent) == 4)
            assert metrics.writes.pending["outbox"] == 0
            assert metrics.writes.available["outbox"] is True
            await until(lambda: len(outbox.rows(state="sent")) == 4)
    assert [n.alerts[0].target for n in channel.sent] == ["before", "t0", "t1", "t2"]


async def test_a_damaged_outbox_keeps_notifications_until_it_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"not a database" * 100)
    channel = Scripted()
    metrics = DeliveryMetrics(time.time)
    async with Outbox(
        path, {"c": channel}, {"c": FAST}, metrics=metrics, backoff_initial=0.05, backoff_max=0.1
    ) as outbox:
        stored = outbox.enqueue([notification("a")])
        await until(lambda: metrics.writes.failures["outbox"] >= 2, what="retried")
        assert channel.sent == [] and not stored.done()
        assert f"{path}: not a SQLite database" in caplog.text
        path.rename(tmp_path / "outbox.damaged")  # what the log line says to do
        await stored
        await until(lambda: len(channel.sent) == 1)
    assert caplog.text.count("cannot write") == 1  # one line, not one per retry
