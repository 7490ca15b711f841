"""The MQTT channel against a real mosquitto: QoS 1 alerts, retained target states,
the monitor's online/offline status with a last will seen after SIGKILL, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import trustme

from alerts.channels.base import ChannelContext, TransientError
from alerts.channels.mqtt import MqttChannel, MqttSettings
from alerts.model import Alert, Notification, Site, TargetStatus
from tests.helpers import until
from tests.peers import (
    BlackHole,
    Mosquitto,
)

pytestmark = pytest.mark.needs("mosquitto")

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def settings(broker: Mosquitto, **extra: Any) -> MqttSettings:
    base = {"type": "mqtt", "url": broker.url, "timeout": "3s", "reconnect_initial": "100ms"}
    return MqttSettings.model_validate({**base, **extra})


def notification(target: str = "bts-1", resolved: bool = False) -> Notification:
    alert = Alert(
        labels={"alertname": "TargetDown", "target": target, "severity": "critical"},
        starts_at=T0,
        annotations={"summary": "no reply"},
        site=Site(address="Binh Son", contact="+84 255 000 000"),
    )
    if resolved:
        alert = alert.resolved(T0 + 60)
    return Notification(alert.key, "noc", (alert,))


@contextlib.asynccontextmanager
async def channel(
    broker: Mosquitto, instance: str = "test-1", **extra: Any
) -> AsyncIterator[MqttChannel]:
    async with MqttChannel(
        settings(broker, **extra), ChannelContext("noc", instance=instance)
    ) as ch:
        async with asyncio.timeout(5):
            while not ch.connected:
                await asyncio.sleep(0.02)
        yield ch


@contextlib.asynccontextmanager
async def subscriber(broker: Mosquitto, topic: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier=f"sub-{time.monotonic_ns()}", timeout=5
    ) as client:
        await client.subscribe(topic, qos=1)
        yield client


async def receive(
    client: aiomqtt.Client, count: int, timeout: float = 5.0
) -> list[aiomqtt.Message]:
    out: list[aiomqtt.Message] = []
    async with asyncio.timeout(timeout):
        async for message in client.messages:
            out.append(message)
            if len(out) == count:
                break
    return out


def payload(message: aiomqtt.Message) -> dict[str, Any]:
    assert isinstance(message.payload, bytes | bytearray)
    return json.loads(message.payload)  # type: ignore[no-any-return]


async def test_firing_and_resolved_arrive_with_qos1(mosquitto: Mosquitto) -> None:
    async with subscriber(mosquitto, "continuity/alerts/#") as sub, channel(mosquitto) as ch:
        await ch.send(notification())
        await ch.send(notification(resolved=True))
        firing, resolved = await receive(sub, 2)
    assert str(firing.topic) == "continuity/alerts/critical/bts-1"
    assert firing.qos == 1 and resolved.qos == 1
    body = payload(firing)
    assert body["version"] == "1" and body["status"] == "firing" and body["instance"] == "test-1"
    assert body["dedup_key"].endswith(":firing") and body["title"] == "[FIRING] Target down bts-1"
    assert body["site"]["address"] == "Binh Son" and body["starts_at"] == "2023-11-14T22:13:20.000Z"
    assert payload(resolved)["status"] == "resolved"
    assert payload(resolved)["ends_at"] == "2023-11-14T22:14:20.000Z"


async def test_topic_values_are_one_level(mosquitto: Mosquitto) -> None:
    async with (
        subscriber(mosquitto, "noc/#") as sub,
        channel(mosquitto, topic="noc/{alertname}/{target}") as ch,
    ):
        await ch.send(notification(target="site/a+b#c"))
        [message] = await receive(sub, 1)
    assert str(message.topic) == "noc/TargetDown/site_a_b_c"


async def test_retained_state_for_late_subscribers(mosquitto: Mosquitto) -> None:
    async with subscriber(mosquitto, "continuity/state/#") as early, channel(mosquitto) as ch:
        ch.publish_state(TargetStatus("bts-1", "up", since=T0))
        ch.publish_state(
            TargetStatus("bts-1", "down", since=T0 + 5, reason="timeout")
        )  # latest wins
        ch.publish_state(TargetStatus("core", "up", since=T0))
        # Latest wins before publishing too: one message per target, then the broker has both.
        seen = {str(m.topic): payload(m)["state"] for m in await receive(early, 2)}
        assert seen == {"continuity/state/bts-1": "down", "continuity/state/core": "up"}
        async with subscriber(mosquitto, "continuity/state/#") as late:
            messages = await receive(late, 2)
    states = {str(m.topic): payload(m) for m in messages}
    assert all(m.retain for m in messages)
    assert states["continuity/state/bts-1"]["state"] == "down"
    assert states["continuity/state/bts-1"]["reason"] == "timeout"
    assert states["continuity/state/core"]["state"] == "up"


async def test_states_republished_after_broker_restart(mosquitto: Mosquitto) -> None:
    async with subscriber(mosquitto, "continuity/state/#") as early, channel(mosquitto) as ch:
        ch.publish_state(TargetStatus("bts-1", "down", since=T0))
        await receive(early, 1)  # the broker had it before it went away
        mosquitto.stop()  # no persistence: the retained state is gone with it
        mosquitto.start()
        async with asyncio.timeout(10):
            while not ch.connected:
                await asyncio.sleep(0.05)
        async with subscriber(mosquitto, "continuity/state/#") as late:
            [message] = await receive(late, 1)
        await ch.send(notification())  # and alerts flow again
    assert payload(message)["state"] == "down"


async def test_status_online_then_offline_on_clean_exit(mosquitto: Mosquitto) -> None:
    async with subscriber(mosquitto, "continuity/monitor/#") as sub:
        async with channel(mosquitto, instance="noc-qng-1"):
            [online] = await receive(sub, 1)
        [offline] = await receive(sub, 1)
    assert str(online.topic) == "continuity/monitor/noc-qng-1"
    assert (online.payload, online.qos) == (b"online", 1)
    assert offline.payload == b"offline"


HOLDER = """
import asyncio, sys
from alerts.channels.base import ChannelContext
from alerts.channels.mqtt import MqttChannel, MqttSettings

async def main():
    settings = MqttSettings.model_validate({"type": "mqtt", "url": sys.argv[1], "keepalive": "5s"})
    async with MqttChannel(settings, ChannelContext("noc", instance=sys.argv[2])) as channel:
        for _ in range(200):
            if channel.connected:
                break
            await asyncio.sleep(0.05)
        print("connected" if channel.connected else "not connected", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_last_will_offline_when_the_process_is_killed(mosquitto: Mosquitto) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, mosquitto.url, "killed-1"],
        stdout=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        assert line.strip() == b"connected"
        async with subscriber(mosquitto, "continuity/monitor/killed-1") as sub:
            [online] = await receive(sub, 1)
            assert online.payload == b"online" and online.retain
            proc.send_signal(signal.SIGKILL)
            [offline] = await receive(sub, 1, timeout=10)
        assert offline.payload == b"offline"
        async with subscriber(mosquitto, "continuity/monitor/killed-1") as late:
            [retained] = await receive(late, 1)
        assert retained.payload == b"offline" and retained.retain
    finally:
        proc.kill()
        proc.wait(timeout=5)


async def test_send_while_broker_is_down_is_transient(mosquitto: Mosquitto) -> None:
    async with channel(mosquitto, timeout="500ms") as ch:
        mosquitto.stop()
        started = time.monotonic()
        with pytest.raises(TransientError, match="MQTT"):
            await ch.send(notification())
        assert time.monotonic() - started < 2.0


async def test_authenticated_broker(tmp_path: Path) -> None:
    with Mosquitto(tmp_path, users={"continuity": "pa55-word"}) as broker:
        async with channel(broker, username="continuity", password="pa55-word") as ch:
            await ch.send(notification())


async def test_cpu_per_qos1_publish(
    mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """Measures our process's CPU per acknowledged QoS 1 alert publish (the broker apart)."""
    count = 300
    async with channel(mosquitto) as ch:
        n = notification()
        await ch.send(n)  # warm up
        cpu = time.process_time()
        for _ in range(count):
            await ch.send(n)
        per_publish = (time.process_time() - cpu) / count
    with capsys.disabled():
        print(
            f"\nMQTT channel: {per_publish * 1e6:.0f} us CPU per QoS 1 alert publish (render + JSON + publish)"
        )
    assert per_publish < 0.01


async def test_silent_broker_attempts_do_not_leak_sockets(black_hole: BlackHole) -> None:
    """A broker that accepts TCP and never sends CONNACK: each timed-out attempt is closed."""
    s = MqttSettings.model_validate(
        {
            "type": "mqtt",
            "url": f"mqtt://127.0.0.1:{black_hole.port}",
            "timeout": "200ms",
            "reconnect_initial": "50ms",
            "reconnect_max": "50ms",
        }
    )
    async with MqttChannel(s, ChannelContext("noc")):
        await until(lambda: black_hole.accepted >= 4, timeout=10, what="reconnect attempts")
        # The channel closes each timed-out attempt (a leaked socket never counts here).
        await until(lambda: black_hole.closed_by_peer >= 3, timeout=5, what="attempts closed")
        assert black_hole.accepted - black_hole.closed_by_peer <= 1  # only the current attempt


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    directory = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("continuity-monitor")
    files = {
        name: directory / f"{name}.pem"
        for name in ("ca", "server", "server_key", "client", "client_key")
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["server"]))
    server.private_key_pem.write_to_path(str(files["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(files["client"]))
    client.private_key_pem.write_to_path(str(files["client_key"]))
    return files


async def test_mqtts_with_ca_and_client_certificate(tmp_path: Path, pki: dict[str, Path]) -> None:
    tls = (pki["ca"], pki["server"], pki["server_key"])
    with Mosquitto(tmp_path, tls=tls, require_certificate=True) as broker:
        assert broker.url.startswith("mqtts://")
        extra = {
            "ca_file": str(pki["ca"]),
            "cert_file": str(pki["client"]),
            "key_file": str(pki["client_key"]),
        }
        async with channel(broker, **extra) as ch:
            await ch.send(notification())


async def test_mqtts_without_client_certificate_is_refused(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    tls = (pki["ca"], pki["server"], pki["server_key"])
    with Mosquitto(tmp_path, tls=tls, require_certificate=True) as broker:
        s = settings(broker, ca_file=str(pki["ca"]), timeout="500ms")
        async with MqttChannel(s, ChannelContext("noc")) as ch:
            with pytest.raises(TransientError, match="not connected"):
                await ch.send(notification())
