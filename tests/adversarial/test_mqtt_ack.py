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
from tests.helpers import require_peer, wait_until
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

[[targets]]
name = "witness"
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


def firing(sub: Subscriber, target: str) -> list[tuple[float, str]]:
    """(arrival, fingerprint) of each firing TargetDown of ``target`` so far."""
    out = []
    for at, topic, body in sub.poll():
        if topic.startswith("continuity/alerts/") and '"TargetDown"' in body:
            doc = json.loads(body)
            if doc.get("status") == "firing" and doc.get("target") == target:
                out.append((at, doc["fingerprint"]))
    return out


def repeats_after(sub: Subscriber, target: str, since: float) -> int:
    return sum(1 for at, _ in firing(sub, target) if at > since)


def acknowledgements(daemon: DaemonProcess, result: str) -> float:
    value = daemon.value("continuity_alert_acknowledgements_total", via="mqtt", result=result)
    return value or 0.0


@pytest.mark.slow
def test_only_a_signed_fresh_acknowledgement_stops_the_repeats(tmp_path: Path) -> None:
    require_peer("mosquitto", "mosquitto_sub", "mosquitto_pub")
    with Mosquitto(tmp_path) as broker:
        sub = Subscriber(broker, tmp_path / "sub.txt")
        try:
            config = CONFIG.format(url=broker.url, secret=SECRET, repeat=REPEAT)
            with DaemonProcess(config, tmp_path) as daemon:
                wait_until(lambda: bool(firing(sub, "cut")), 15, "a TargetDown published")
                fingerprint = firing(sub, "cut")[0][1]
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
                wait_until(
                    lambda: acknowledgements(daemon, "refused") == len(forged), 10, "refusals"
                )
                # The repeats go on (at least two repeat intervals' worth).
                wait_until(lambda: repeats_after(sub, "cut", sent) >= 2, 4 * REPEAT, "repeats")

                signed = json.dumps({**valid, "hmac": sign(SECRET, fingerprint, now)})
                publish(broker, signed)
                wait_until(lambda: acknowledgements(daemon, "acknowledged") == 1, 10, "the ack")
                acked = time.monotonic()
                # The witness's unacknowledged alert repeats twice: cut's would have by now.
                wait_until(lambda: repeats_after(sub, "witness", acked) >= 2, 4 * REPEAT, "witness")
                assert repeats_after(sub, "cut", acked) == 0
                publish(broker, signed)  # a replay of the accepted one
                wait_until(
                    lambda: acknowledgements(daemon, "refused") == len(forged) + 1, 10, "refused"
                )
                log = daemon.log()
        finally:
            sub.close()
    audit = [line for line in log.splitlines() if f"acknowledgement of {fingerprint}" in line]
    assert len(audit) == 1 and "via mqtt by 'alice' (unauthenticated claim)" in audit[0]
    refusals = [line for line in log.splitlines() if "refused" in line and "over MQTT" in line]
    assert 1 <= len(refusals) <= 2  # a flood of forgeries is one line a minute
    assert "Traceback" not in log
