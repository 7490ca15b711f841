"""The webhook channel against an aiohttp receiver: schema, HMAC signature, headers,
templates, status classification, and retries through the outbox (first 3 get 503)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.base import ChannelContext, PermanentError, TransientError
from alerts.channels.webhook import WebhookChannel, WebhookSettings
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, Notification, Site
from alerts.outbox import DeliveryPolicy, Outbox
from tests.helpers import until
from tests.peers import HttpReceiver, http_receiver

T0 = 1_700_000_000.0


def settings(url: str, **extra: Any) -> WebhookSettings:
    return WebhookSettings.model_validate({"type": "webhook", "url": url, "timeout": "2s", **extra})


def notification(target: str = "post-tracking-api") -> Notification:
    alert = Alert(
        labels={"alertname": "TargetDown", "target": target, "severity": "critical"},
        starts_at=T0,
        annotations={"summary": "HTTP 503"},
        site=Site(address="Ha Noi", lat=21.03, lon=105.85, contact="noc@example.vn"),
    )
    return Notification(alert.key, "oncall", (alert,), "new", T0, None, {})


async def send(url: str, n: Notification | None = None, **extra: Any) -> None:
    async with WebhookChannel(
        settings(url, **extra), ChannelContext("oncall", "noc-1", "vi")
    ) as ch:
        await ch.send(n or notification())


async def test_schema_signature_and_headers(receiver: HttpReceiver) -> None:
    await send(
        f"{receiver.url}/hook",
        secret="hmac-key-1",
        headers={"Authorization": "Bearer token-1", "X-Site": "QNG"},
    )
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["X-Site"] == "QNG"
    expected = hmac.new(b"hmac-key-1", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Continuity-Signature"] == f"sha256={expected}"
    body = request.json()
    assert body["version"] == "1" and body["instance"] == "noc-1"
    assert body["status"] == "firing" and body["reason"] == "new"
    assert body["dedup_key"] == notification().key
    assert body["title"] == "[CẢNH BÁO] Mất kết nối post-tracking-api"  # language "vi"
    assert "Địa điểm: Ha Noi" in body["text"]
    [alert] = body["alerts"]
    assert alert["labels"]["target"] == "post-tracking-api"
    assert alert["site"] == {
        "address": "Ha Noi",
        "lat": 21.03,
        "lon": 105.85,
        "contact": "noc@example.vn",
    }


async def test_no_signature_without_secret(receiver: HttpReceiver) -> None:
    await send(f"{receiver.url}/hook")
    assert "X-Continuity-Signature" not in receiver.requests[0].headers


async def test_template_body(receiver: HttpReceiver) -> None:
    template = (
        '{"text": {{ (alert.target ~ " " ~ state) | tojson }}, "key": {{ dedup_key | tojson }}}'
    )
    await send(f"{receiver.url}/hook", template=template)
    assert receiver.requests[0].json() == {
        "text": "post-tracking-api CẢNH BÁO",
        "key": notification().key,
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (200, None),
        (204, None),
        (400, PermanentError),
        (401, PermanentError),
        (404, PermanentError),
        (408, TransientError),
        (429, TransientError),
        (500, TransientError),
        (503, TransientError),
    ],
)
async def test_status_classification(
    receiver: HttpReceiver, status: int, error: type[Exception] | None
) -> None:
    url = f"{receiver.url}/status-{status}/hook?token=query-secret"
    if error is None:
        await send(url)
        return
    with pytest.raises(error) as info:
        await send(url)
    assert str(info.value) == f"POST {receiver.url} answered HTTP {status}"


async def test_retried_through_the_outbox_until_delivered(tmp_path: Path) -> None:
    async with http_receiver(fail_first=3) as peer:
        channel = WebhookChannel(settings(f"{peer.url}/hook"), ChannelContext("oncall"))
        metrics = DeliveryMetrics(lambda: T0)
        policy = DeliveryPolicy(timeout=2, ttl=60, backoff_initial=0.05, backoff_max=0.2)
        async with (
            channel,
            Outbox(
                tmp_path / "o.db", {"oncall": channel}, {"oncall": policy}, metrics=metrics
            ) as outbox,
        ):
            await outbox.enqueue([notification()])
            requests = await peer.wait(4)
            await until(lambda: bool(outbox.rows(state="sent")))
            [row] = outbox.rows()
    assert len(requests) == 4
    assert len({r.body for r in requests}) == 1  # the same notification each time
    assert (row.state, row.attempts) == ("sent", 4)
    assert row.last_error == f"POST {peer.url} answered HTTP 503"
    assert metrics.failed[("oncall", "transient")] == 3 and metrics.sent["oncall"] == 1
    assert metrics.pending["oncall"] == 0


async def test_group_notification_body(receiver: HttpReceiver) -> None:
    a, b = notification("a").alerts[0], notification("b").alerts[0]
    group = Notification(
        "group/x", "oncall", (a, b.resolved(T0 + 60)), "new", T0, None, {"site": "S"}
    )
    await send(f"{receiver.url}/hook", group)
    body = receiver.requests[0].json()
    assert body["group"] == {"site": "S"} and body["status"] == "firing"
    assert [x["status"] for x in body["alerts"]] == ["firing", "resolved"]
    assert json.dumps(body, ensure_ascii=False).count("TargetDown") >= 2
