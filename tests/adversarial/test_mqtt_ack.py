"""Acknowledgements over MQTT must be signed: forged, stale or replayed ones change nothing.

Before: any client that could publish on the broker could send an alert's
fingerprint (read from the alerts topic) to the command topic and stop its
repeats and escalation. Here a real mosquitto carries real messages between
the daemon and ``mosquitto_pub``/``mosquitto_sub``.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from alerts.ack import sign
from tests.daemon_process import DaemonProcess
from tests.e2e.test_alerting import Subscriber
from tests.helpers import require_peer
from tests.peers import Mosquitto

SECRET = "ack-secret-0123456789abcdef"
REPEAT = 2.0

CONFIG = """
[monitor]
instance = "acks"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "1s"
fall = 1

[[targets]]
name = "cut"
address = "127.0.0.1"
tcp = {{ port = 9 }}

[channels.noc]
type = "mqtt"
url = "{url}"
command_topic = "continuity/commands/{{instance}}/ack"
command_secret = "{secret}"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["noc"]
repeat_interval = "{repeat}s"
"""


def publish(broker: Mosquitto, payload: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
         "-t", "continuity/commands/acks/ack", "-m", payload],
        check=True, timeout=10,
    )  # fmt: skip


def firing(sub: Subscriber) -> list[tuple[float, str]]:
    out = []
    for at, topic, body in sub.poll():
        if topic.startswith("continuity/alerts/") and '"TargetDown"' in body:
            doc = json.loads(body)
            if doc.get("status") == "firing":
                out.append((at, doc["fingerprint"]))
    return out


def repeats_after(sub: Subscriber, since: float, wait: float) -> int:
    time.sleep(wait)
    return sum(1 for at, _ in firing(sub) if at > since)


@pytest.mark.slow
def test_only_a_signed_fresh_acknowledgement_stops_the_repeats(tmp_path: Path) -> None:
    require_peer("mosquitto")
    with Mosquitto(tmp_path) as broker:
        sub = Subscriber(broker, tmp_path / "sub.txt")
        try:
            config = CONFIG.format(url=broker.url, secret=SECRET, repeat=REPEAT)
            with DaemonProcess(config, tmp_path) as daemon:
                end = time.monotonic() + 15
                while not firing(sub):
                    assert time.monotonic() < end, "no TargetDown published"
                    time.sleep(0.1)
                fingerprint = firing(sub)[0][1]
                now = int(time.time())
                valid = {"fingerprint": fingerprint, "at": now, "by": "alice"}
                forged = [
                    fingerprint,  # the old format: a bare fingerprint
                    json.dumps({"fingerprint": fingerprint}),
                    json.dumps({**valid, "hmac": "00" * 32}),
                    json.dumps(
                        {**valid, "hmac": sign("another-secret-entirely", fingerprint, now)}
                    ),
                    json.dumps(
                        {**valid, "at": now - 3600, "hmac": sign(SECRET, fingerprint, now - 3600)}
                    ),
                    json.dumps({**valid, "hmac": sign(SECRET, fingerprint, now + 1)}),
                    "{" * 10_000,
                ]
                for payload in forged:
                    publish(broker, payload)
                sent = time.monotonic()
                # The repeats go on (at least two repeat intervals' worth).
                assert repeats_after(sub, sent, 2 * REPEAT + 1) >= 2
                assert daemon.value(
                    "continuity_alert_acknowledgements_total", via="mqtt", result="refused"
                ) == len(forged)

                signed = json.dumps({**valid, "hmac": sign(SECRET, fingerprint, now)})
                publish(broker, signed)
                time.sleep(0.5)
                acked = time.monotonic()
                assert repeats_after(sub, acked, 3 * REPEAT) == 0
                assert (
                    daemon.value(
                        "continuity_alert_acknowledgements_total", via="mqtt", result="acknowledged"
                    )
                    == 1
                )
                publish(broker, signed)  # a replay of the accepted one
                time.sleep(1)
                assert (
                    daemon.value(
                        "continuity_alert_acknowledgements_total", via="mqtt", result="refused"
                    )
                    == len(forged) + 1
                )
                log = daemon.log()
        finally:
            sub.close()
    audit = [line for line in log.splitlines() if f"acknowledgement of {fingerprint}" in line]
    assert len(audit) == 1 and "via mqtt by 'alice' (unauthenticated claim)" in audit[0]
    refusals = [line for line in log.splitlines() if "refused" in line and "over MQTT" in line]
    assert 1 <= len(refusals) <= 2  # a flood of forgeries is one line a minute
    assert "Traceback" not in log
