"""The Alertmanager channel against a real prometheus-alertmanager (API v2), plus an
HTTP receiver to watch re-sends and an HA pair with one member down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
from aiohttp import web

from alerts.channels.alertmanager import AlertmanagerChannel, AlertmanagerSettings
from alerts.channels.base import ChannelContext, TransientError
from alerts.model import Alert, Notification, Site
from alerts.payload import rfc3339
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
    s = settings(receiver.url, resend_interval="200ms", resolved_resend_for="1s")
    async with AlertmanagerChannel(s, ChannelContext("am")) as channel:
        channel.observe(note(alert))  # routed here, as after a restart: kept fresh without a send
        requests = await receiver.wait(2, timeout=3)
        body = requests[-1].json()
        assert requests[-1].path == "/api/v2/alerts"
        assert body[0]["labels"] == dict(alert.labels) and "endsAt" in body[0]
        resolved = alert.resolved(time.time())
        channel.observe(note(resolved))
        # Re-sent as resolved (a member that missed the resolve learns it) ...
        assert [a.ends_at for a in channel.due_for_resend(time.time())] == [resolved.ends_at]
        count = len(receiver.requests)
        later = await receiver.wait(count + 1, timeout=3)
        assert later[-1].json()[0]["endsAt"] == body_ends_at(resolved)
        # ... until resolved_resend_for has passed, then no more.
        assert channel.due_for_resend(time.time() + 1.5) == []
        assert channel.active == ()


def body_ends_at(alert: Alert) -> str:
    assert alert.ends_at is not None
    return rfc3339(alert.ends_at)


async def test_a_resolve_never_overtakes_a_resend_round_in_flight() -> None:
    """A re-send round read the alert as firing; the resolve that follows must reach
    Alertmanager only after that round was answered, or the firing copy, merged
    last, would re-open the alert there."""
    held = asyncio.Event()
    release = asyncio.Event()
    second = asyncio.Event()
    log: list[tuple[str, float, float]] = []  # (endsAt of the first alert, arrived, answered)

    async def handle(request: web.Request) -> web.Response:
        arrived = time.monotonic()
        body = await request.json()
        if held.is_set():
            second.set()
        else:
            held.set()
            await release.wait()
        log.append((body[0]["endsAt"], arrived, time.monotonic()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/api/v2/alerts", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        # The client waits longer than the server holds the round.
        s = settings(f"http://127.0.0.1:{port}", resend_interval="50ms", timeout="10s")
        async with AlertmanagerChannel(s, ChannelContext("am")) as channel:
            alert = firing()
            channel.observe(note(alert))
            async with asyncio.timeout(5):
                await held.wait()  # the re-send round is in flight, held by the server
            resolving = asyncio.create_task(channel.send(note(alert.resolved(time.time()))))
            # Hold the round until the resolve arrives (it must not) or 2 s have passed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(second.wait(), 2)
            release.set()
            async with asyncio.timeout(5):
                await resolving
        resend, resolve = log[0], log[-1]
        assert resolve[0] != resend[0]  # the resolve carries the real end
        assert resolve[1] >= resend[2], "the resolve arrived while the re-send was in flight"
    finally:
        await runner.cleanup()


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
