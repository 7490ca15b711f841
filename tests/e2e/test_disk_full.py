"""A full disk loses nothing that was accepted (issue 13).

The daemon's state dir is a small tmpfs. With the disk full, a TCP target is
cut: the TargetDown notification cannot be stored, so it is not sent (the
rule: stored before any send), and the outage and state changes wait in
memory; ``continuity_store_pending_writes`` and
``continuity_store_write_failures_total`` show it. The target comes back
while the disk is still full. When space returns, everything is written: the
webhook gets the FIRING and then the RESOLVED, each once (never a RESOLVED
for a page nobody got), and the outage is in the history, also after a restart.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from pathlib import Path
from typing import Any

from tests.daemon_process import DaemonProcess
from tests.helpers import free_port, wait_until
from tests.peers import WebhookReceiver
from tests.tmpfs import fill, free, tmpfs

CONFIG = """
[monitor]
instance = "diskfull"

[defaults]
checks = ["tcp"]
interval = "500ms"
timeout = "400ms"
fall = 2
rise = 2

[[targets]]
name = "post"
address = "127.0.0.1"
tcp = {{ port = {target} }}

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:{hook}/hook"
timeout = "1s"

[[alerts.routes]]
channels = ["hook"]
group_wait = "0s"
"""


class _Closer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        pass  # accept and close: the TCP check succeeds


def serve(port: int) -> socketserver.ThreadingTCPServer:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", port), _Closer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_full_disk_loses_no_page_and_no_outage(tmp_path: Path) -> None:
    target_port, hook_port = free_port(), free_port()
    config = CONFIG.format(target=target_port, hook=hook_port)
    receiver = WebhookReceiver(port=hook_port).__enter__()  # left in the outer finally
    target = serve(target_port)
    try:
        with tmpfs(tmp_path / "state", "16m") as state:
            daemon = DaemonProcess(config, tmp_path).start()
            try:
                daemon.wait_for("continuity_target_up", 1, timeout=10, target="post")
                fill(state)
                target.shutdown()
                target.server_close()  # cut: connection refused
                daemon.wait_for("continuity_target_up", 0, timeout=10, target="post")
                wait_until(
                    lambda: (
                        (daemon.value("continuity_store_pending_writes", database="outbox") or 0)
                        >= 1
                    ),
                    10,
                    "the TargetDown waits in memory",
                )
                assert (
                    daemon.value("continuity_store_pending_writes", database="history") or 0
                ) >= 1
                assert daemon.value("continuity_store_available", database="outbox") == 0
                assert daemon.value("continuity_store_available", database="history") == 0
                for database in ("outbox", "history"):
                    failures = daemon.value(
                        "continuity_store_write_failures_total", database=database
                    )
                    assert (failures or 0) >= 1, database
                time.sleep(1.0)
                assert receiver.bodies() == []  # not stored, so not sent
                target = serve(target_port)  # back while the disk is still full
                daemon.wait_for("continuity_target_up", 1, timeout=10, target="post")
                assert receiver.bodies() == []
                free(state)
                for database in ("outbox", "history"):
                    daemon.wait_for(
                        "continuity_store_pending_writes", 0, timeout=30, database=database
                    )
                    daemon.wait_for("continuity_store_available", 1, timeout=5, database=database)
                wait_until(lambda: len(receiver.bodies()) >= 2, 20, "firing and resolved delivered")
                # Both marked sent and nothing left to send: no duplicate can follow.
                daemon.wait_for(
                    "continuity_notifications_sent_total", 2, timeout=10, channel="hook"
                )
                daemon.wait_for("continuity_notifications_pending", 0, timeout=10, channel="hook")
                found = daemon.json("/api/v1/outages?target=post")
                log = daemon.log()
            finally:
                daemon.stop()
            with DaemonProcess(config, tmp_path, log_name="second.log") as second:
                after_restart = second.json("/api/v1/outages?target=post")
    finally:
        target.shutdown()
        target.server_close()
        receiver.__exit__(None, None, None)
    statuses = [(b["status"], _alertname(b)) for b in receiver.bodies()]
    assert statuses == [("firing", "TargetDown"), ("resolved", "TargetDown")], receiver.bodies()
    assert "Traceback" not in log
    for outages in (found, after_restart):
        [outage] = _rows(outages)
        assert outage["target"] == "post" and outage["end"] is not None, outages


def _alertname(body: dict[str, Any]) -> str:
    text = json.dumps(body)
    return "TargetDown" if "TargetDown" in text else text


def _rows(found: object) -> list[dict[str, Any]]:
    if isinstance(found, dict):
        found = found.get("outages", found.get("data"))
    assert isinstance(found, list), found
    return found
