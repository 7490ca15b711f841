"""The Alertmanager channel against a real prometheus-alertmanager (API v2), plus an
HTTP receiver to watch re-sends and an HA pair with one member down."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerSettings
from alerts.channels.base import ChannelContext, TransientError
from alerts.model import Alert, Notification, Site
from tests.helpers import free_port
from tests.peers import (
    Alertmanager,
    HttpReceiver,
)


def settings(*urls: str, **extra: Any) -> AlertmanagerSettings:
    return AlertmanagerSettings.model_validate(
        {"type": "alertmanager", "urls": list(urls), "timeout": "2s", **extra}
    )


def firing(target: str = "qng-core-1") -> Alert:
    # Alertmanager ignores alerts that start in the future; start a little in the past.
    return Alert(
        labels={
            "alertname": "TargetDown",
            "target": target,
            "severity": "critical",
            "check": "icmp",
        },
        starts_at=time.time() - 60,
        annotations={"summary": "no reply to ping", "runbook_url": "https://runbooks.example/x"},
        site=Site(address="Quang Ngai", lat=15.12, lon=108.8, contact="+84 255 111 111"),
        generator_url="http://127.0.0.1:9925/targets/qng-core-1",
    )


def note(alert: Alert) -> Notification:
    return Notification(alert.key, "am", (alert,))


needs_alertmanager = pytest.mark.needs("alertmanager")


@needs_alertmanager
async def test_firing_appears_and_resolved_disappears(alertmanager: Alertmanager) -> None:
    alert = firing()
    async with AlertmanagerChannel(settings(alertmanager.url), ChannelContext("am")) as channel:
        await channel.send(note(alert))
        shown = await asyncio.to_thread(alertmanager.alerts)
        assert len(shown) == 1
        [got] = shown
        assert got["labels"] == dict(alert.labels)
        assert got["annotations"]["summary"] == "no reply to ping"
        assert got["annotations"]["site_address"] == "Quang Ngai"
        assert got["annotations"]["site_coordinates"] == "15.12000,108.80000"
        assert got["annotations"]["site_contact"] == "+84 255 111 111"
        assert got["generatorURL"] == alert.generator_url
        assert got["status"]["state"] == "active"
        assert channel.active == (alert,)
        await channel.send(note(alert.resolved(time.time() - 1)))
        assert channel.active == ()
        shown = await asyncio.to_thread(alertmanager.alerts)
    assert shown == []


@needs_alertmanager
async def test_ha_pair_with_one_member_down(alertmanager: Alertmanager) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with AlertmanagerChannel(
        settings(down, alertmanager.url), ChannelContext("am")
    ) as channel:
        await channel.send(note(firing()))
    assert len(await asyncio.to_thread(alertmanager.alerts)) == 1


async def test_all_down_is_transient() -> None:
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    async with AlertmanagerChannel(settings(*urls), ChannelContext("am")) as channel:
        with pytest.raises(TransientError) as info:
            await channel.send(note(firing()))
    assert str(info.value) == (
        f"POST {urls[0]} failed: Connection refused; POST {urls[1]} failed: Connection refused"
    )


async def test_firing_alerts_are_resent_while_active(receiver: HttpReceiver) -> None:
    alert = firing()
    s = settings(receiver.url, resend_interval="200ms")
    async with AlertmanagerChannel(s, ChannelContext("am")) as channel:
        channel.observe(note(alert))  # routed here, as after a restart: kept fresh without a send
        requests = await receiver.wait(2, timeout=3)
        body = requests[-1].json()
        assert requests[-1].path == "/api/v2/alerts"
        assert body[0]["labels"] == dict(alert.labels) and "endsAt" in body[0]
        channel.observe(note(alert.resolved(time.time())))
        await asyncio.sleep(0.1)
        count = len(receiver.requests)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == count  # no longer re-sent once resolved


async def test_firing_ends_at_is_a_few_resend_intervals_ahead(receiver: HttpReceiver) -> None:
    async with AlertmanagerChannel(settings(receiver.url), ChannelContext("am")) as channel:
        before = time.time()
        await channel.send(note(firing()))
    [alert] = receiver.requests[0].json()
    ends = time.mktime(time.strptime(alert["endsAt"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert 4 * 60 - 5 <= ends - before <= 4 * 60 + 5


async def test_bearer_token(receiver: HttpReceiver) -> None:
    async with AlertmanagerChannel(
        settings(receiver.url, bearer_token="tok-1"), ChannelContext("am")
    ) as ch:
        await ch.send(note(firing()))
    assert receiver.requests[0].headers["Authorization"] == "Bearer tok-1"
