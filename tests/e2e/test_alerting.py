"""Alerting end to end: a namespace target cut off pages on MQTT and Alertmanager, fast."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alerts.ack import sign
from tests import netns
from tests.daemon_process import DaemonProcess
from tests.helpers import require_peer, wait_until
from tests.peers import Alertmanager, Mosquitto

CONFIG = """
[monitor]
instance = "e2e-alerts"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 2

[defaults.icmp]
count = 1

[[targets]]
name = "bts-1"
address = "{site}"
labels = {{ site = "BS-01", kind = "bts" }}
location = {{ address = "Binh Son, Quang Ngai", lat = 15.29, lon = 108.76, contact = "+84 255 000 000" }}

[channels.noc-mqtt]
type = "mqtt"
url = "{mqtt}"
command_topic = "continuity/commands/{{instance}}/ack"
command_secret = "e2e-ack-secret-0123456789"

[channels.am]
type = "alertmanager"
urls = ["{am}"]

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["noc-mqtt", "am"]
"""


def signed_ack(fingerprint: str) -> str:
    """An acknowledgement signed with the channel's command_secret (see alerts.ack)."""
    at = int(time.time())
    mac = sign("e2e-ack-secret-0123456789", fingerprint, at)
    return json.dumps({"fingerprint": fingerprint, "at": at, "by": "noc", "hmac": mac})


class Subscriber:
    """``mosquitto_sub`` on every topic, each line stamped when we read it."""

    def __init__(self, broker: Mosquitto, path: Path) -> None:
        self.path = path
        self.out = path.open("wb")
        self.proc = subprocess.Popen(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(broker.port),
                "-t",
                "continuity/#",
                "-q",
                "1",
                "-v",
            ],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        self.seen: list[tuple[float, str, str]] = []
        self._read = 0

    def poll(self) -> list[tuple[float, str, str]]:
        text = self.path.read_bytes().decode(errors="replace")
        lines = text.splitlines(keepends=True)
        for line in lines[self._read :]:
            if line.endswith("\n"):
                topic, _, body = line.strip().partition(" ")
                self.seen.append((time.monotonic(), topic, body))
                self._read += 1
        return self.seen

    def wait(self, predicate: Any, timeout: float) -> tuple[float, str, dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for at, topic, body in self.poll():
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"raw": body}
                if not isinstance(payload, dict):
                    payload = {"raw": body}
                if predicate(topic, payload):
                    return at, topic, payload
            time.sleep(0.02)
        raise AssertionError(f"no matching message in {timeout} s: {self.seen[-10:]}")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        self.out.close()


def alert_messages(topic: str, payload: dict[str, Any], status: str) -> bool:
    return (
        topic.startswith("continuity/alerts/")
        and payload.get("status") == status
        and any(
            a.get("labels", {}).get("alertname") == "TargetDown"
            for a in payload.get("alerts", [payload])
        )
    )


def am_alerts(am: Alertmanager) -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"{am.url}/api/v2/alerts?active=true&silenced=false", timeout=5
    ) as r:
        return [a for a in json.load(r) if a["labels"].get("alertname") == "TargetDown"]


@pytest.fixture
def peers(tmp_path: Path) -> Any:
    netns.require()
    require_peer("mosquitto", "alertmanager", "mosquitto_sub")
    (tmp_path / "mq").mkdir()
    (tmp_path / "am").mkdir()
    with Mosquitto(tmp_path / "mq") as broker, Alertmanager(tmp_path / "am") as am:
        yield broker, am


def test_cut_target_pages_then_resolves_within_bounds(tmp_path: Path, peers: Any) -> None:
    broker, am = peers
    with netns.netns_host() as host:
        config = CONFIG.format(site=host.v4, mqtt=broker.url, am=am.url)
        sub = Subscriber(broker, tmp_path / "sub.txt")
        try:
            with DaemonProcess(config, tmp_path) as daemon:
                daemon.wait_for("continuity_target_up", 1, timeout=6, target="bts-1")
                sub.wait(
                    lambda t, p: t == "continuity/monitor/e2e-alerts" and p.get("raw") == "online",
                    5,
                )
                cut = time.monotonic()
                host.cut_peer()
                at, _, page = sub.wait(lambda t, p: alert_messages(t, p, "firing"), timeout=10)
                assert at - cut <= 2 * 1 + 2, f"TargetDown after {at - cut:.2f} s"
                assert "Binh Son" in json.dumps(page, ensure_ascii=False)
                assert "+84 255 000 000" in json.dumps(page, ensure_ascii=False)
                wait_until(lambda: bool(am_alerts(am)), 10, "the alert in Alertmanager")
                (am_alert,) = am_alerts(am)
                assert (
                    am_alert["labels"]["target"] == "bts-1"
                    and am_alert["labels"]["site"] == "BS-01"
                )
                (active,) = daemon.json("/api/v1/alerts")["alerts"]  # type: ignore[index]
                subprocess.run(
                    [
                        "mosquitto_pub",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(broker.port),
                        "-q",
                        "1",
                        "-t",
                        "continuity/commands/e2e-alerts/ack",
                        "-m",
                        signed_ack(active["fingerprint"]),
                    ],
                    check=True,
                    timeout=10,
                )
                deadline = time.monotonic() + 5
                while (
                    f"acknowledgement of {active['fingerprint']} via mqtt by 'noc' "
                    "(unauthenticated claim): repeats and escalation stopped" not in daemon.log()
                ):
                    assert time.monotonic() < deadline, daemon.log()
                    time.sleep(0.1)
                state = sub.wait(
                    lambda t, p: t == "continuity/state/bts-1" and p.get("state") == "down", 5
                )
                assert state[2]["target"] == "bts-1"
                restored = time.monotonic()
                host.restore()
                at, _, _ = sub.wait(lambda t, p: alert_messages(t, p, "resolved"), timeout=10)
                assert at - restored <= 2 * 1 + 2, f"resolve after {at - restored:.2f} s"
                wait_until(lambda: not am_alerts(am), 10, "the alert gone from Alertmanager")
            firing = [s for s in sub.poll() if "TargetDown" in s[2] and '"firing"' in s[2]]
            assert len(firing) == 1  # one alert per real problem
        finally:
            sub.close()


def active_alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    document = daemon.json("/api/v1/alerts")
    assert isinstance(document, dict)
    return list(document["alerts"])


def test_silence_holds_the_page_until_it_is_removed(tmp_path: Path, peers: Any) -> None:
    broker, am = peers
    with netns.netns_host() as host:
        config = CONFIG.format(site=host.v4, mqtt=broker.url, am=am.url)
        sub = Subscriber(broker, tmp_path / "sub.txt")
        try:
            with DaemonProcess(config, tmp_path) as daemon:
                daemon.wait_for("continuity_target_up", 1, timeout=6, target="bts-1")
                status, body = daemon.request(
                    "POST",
                    "/api/v1/silences",
                    {"matchers": [], "ends_at": "30d", "created_by": "noc"},
                )
                assert status == 400 and '"field": "matchers"' in body
                status, body = daemon.request(
                    "POST",
                    "/api/v1/silences",
                    {
                        "matchers": [{"name": "target", "value": "bts-9"}],
                        "ends_at": "30d",
                        "created_by": "noc",
                    },
                )
                assert status == 400 and "unknown target 'bts-9'" in body, body
                assert daemon.json("/api/v1/silences") == {"silences": []}
                status, body = daemon.request(
                    "POST",
                    "/api/v1/silences",
                    {
                        "matchers": [{"name": "site", "value": "BS-0[0-9]", "isRegex": True}],
                        "ends_at": "30d",
                        "created_by": "noc",
                        "comment": "planned fibre work",
                    },
                )
                assert status == 201, body
                silence = json.loads(body)["id"]
                host.cut_peer()
                daemon.wait_for("continuity_target_up", 0, timeout=6, target="bts-1")
                # The alert is raised and muted: routing has decided, and sent nothing.
                wait_until(lambda: len(active_alerts(daemon)) == 1, 10, "the muted alert")
                (active,) = active_alerts(daemon)
                assert not [s for s in sub.poll() if s[1].startswith("continuity/alerts/")]
                assert active["muted"] == f"silence:{silence}" and active["notified"] is False
                assert (
                    daemon.request("POST", f"/api/v1/alerts/{active['fingerprint']}/ack")[0] == 404
                )
                assert daemon.request("DELETE", f"/api/v1/silences/{silence}")[0] == 204
                sub.wait(lambda t, p: alert_messages(t, p, "firing"), timeout=5)
                ack = daemon.request("POST", f"/api/v1/alerts/{active['fingerprint']}/ack")
                assert ack[0] == 200, ack
        finally:
            sub.close()
