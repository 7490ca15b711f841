"""Nothing lost: notifications pending when the daemon is SIGKILLed go out after the restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.helpers import free_port, wait_until
from tests.peers import WebhookReceiver

CONFIG = """
[monitor]
instance = "restart"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 2

[defaults.icmp]
count = 1

[[targets]]
name = "site"
address = "{site}"

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
timeout = "1s"

[[alerts.routes]]
channels = ["hook"]
"""


def alerts(daemon: DaemonProcess) -> list[dict[str, Any]]:
    document = daemon.json("/api/v1/alerts")
    assert isinstance(document, dict)
    return list(document["alerts"])


def test_pending_notifications_survive_kill_9(tmp_path: Path) -> None:
    netns.require()
    port = free_port()  # nobody listens there yet: the webhook fails and keeps retrying
    with netns.netns_host() as host:
        config = CONFIG.format(site=host.v4, port=port)
        first = DaemonProcess(config, tmp_path, log_name="first.log").start()
        try:
            first.wait_for("continuity_target_up", 1, timeout=6, target="site")
            host.cut_peer()
            first.wait_for("continuity_target_up", 0, timeout=6, target="site")
            first.wait_for("continuity_notifications_pending", 1, timeout=6, channel="hook")
        finally:
            first.kill()
        # Now the receiver listens on the port the daemon was given before it did.
        with (
            WebhookReceiver(port=port) as receiver,
            DaemonProcess(config, tmp_path, log_name="second.log") as second,
        ):
            wait_until(lambda: bool(receiver.bodies()), 20, "a delivery")
            # Once the rules have raised the alert again (a duplicate would be queued
            # then) and the queue is empty, exactly one notification was sent.
            wait_until(lambda: bool(alerts(second)), 10, "the alert active again")
            second.wait_for("continuity_notifications_pending", 0, timeout=10, channel="hook")
            sent = second.value("continuity_notifications_sent_total", channel="hook")
            assert sent == 1, receiver.bodies()
    firing = [b for b in receiver.bodies() if b.get("status") == "firing"]
    assert len(firing) == 1, receiver.bodies()
    text = json.dumps(firing[0])
    assert "TargetDown" in text and '"site"' in text
