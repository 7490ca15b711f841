"""Wrong basic-auth passwords from many clients must not stall the monitor.

Before: bcrypt ran on the event loop (100-160 ms a check), so 8-32 clients
sending wrong passwords delayed every probe, ``/-/healthy`` took seconds and
a false TargetDown went out. Here 24 clients, each connection from another
loopback source address (so that the per-client limiter alone cannot be what
holds), send wrong passwords for 10 s to a daemon probing loopback targets.
While they do: ``/-/healthy`` answers fast, check runs start on time, no
target leaves UP and nothing is paged. Then a real outage (the TCP service
closes) must page: the receiver was listening all along.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import bcrypt
import pytest

from tests.daemon_process import DaemonProcess
from tests.peers import WebhookReceiver, alertnames

TOKEN = "tok-ABCDEFGHIJKLMNOP"
FLOOD_SECONDS = 10.0
CLIENTS = 24

CONFIG = """
[monitor]
instance = "login-flood"

[defaults]
interval = "1s"
timeout = "1s"
fall = 2
rise = 2

[[targets]]
name = "lo"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {port} }}

[[targets]]
name = "lo2"
address = "127.0.0.2"
checks = ["tcp"]
tcp = {{ port = {port2} }}

[channels.hook]
type = "webhook"
url = "{hook}"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["hook"]

[web]
api_token = "{token}"
basic_auth_users = {{ noc = "{hashed}" }}
"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def listener(host: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen(64)
    return sock


def lag_counts(daemon: DaemonProcess) -> dict[str, float]:
    """Cumulative lag histogram of tcp check runs, by upper bound."""
    return {
        labels["le"]: value
        for labels, value in daemon.metrics().get("continuity_scheduler_lag_seconds_bucket", [])
        if labels.get("kind") == "tcp"
    }


class Flood:
    """CLIENTS threads sending wrong passwords until the deadline; counts answers."""

    def __init__(self, port: int, deadline: float) -> None:
        self.port = port
        self.deadline = deadline
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,)) for i in range(CLIENTS)]

    def _client(self, index: int) -> None:
        attempt = 0
        while time.monotonic() < self.deadline:
            attempt += 1
            # Every connection from another source address in 127.0.1.0/24.
            source = f"127.0.1.{(index * 7 + attempt) % 250 + 1}"
            conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=5, source_address=(source, 0)
            )
            try:
                for _ in range(3):
                    conn.request("GET", "/api/v1/targets", headers=basic("noc", f"guess{attempt}"))
                    response = conn.getresponse()
                    response.read()
                    with self.lock:
                        self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            except OSError:
                with self.lock:
                    self.statuses[0] = self.statuses.get(0, 0) + 1
            finally:
                conn.close()

    def __enter__(self) -> Flood:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for thread in self.threads:
            thread.join(15)


@pytest.mark.slow
def test_wrong_passwords_from_many_clients_do_not_stall_probes_or_page(tmp_path: Path) -> None:
    service, service2 = listener("127.0.0.1"), listener("127.0.0.2")
    hashed = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(10)).decode()
    with WebhookReceiver() as hook:
        config = CONFIG.format(
            port=service.getsockname()[1],
            port2=service2.getsockname()[1],
            hook=hook.url,
            token=TOKEN,
            hashed=hashed,
        )
        with DaemonProcess(config, tmp_path) as daemon:
            good = basic("noc", "correct horse")
            assert daemon.request("GET", "/api/v1/targets", headers=good)[0] == 200
            time.sleep(2.5)  # both targets UP (rise = 2)
            before = lag_counts(daemon)
            health: list[float] = []
            logged_in: list[int] = []
            with Flood(daemon.port, time.monotonic() + FLOOD_SECONDS) as flood:
                while time.monotonic() < flood.deadline:
                    start = time.monotonic()
                    assert daemon.get("/-/healthy")[0] == 200
                    health.append(time.monotonic() - start)
                    # A user who logged in before keeps working during the flood.
                    logged_in.append(daemon.request("GET", "/api/v1/targets", headers=good)[0])
                    time.sleep(0.2)
            after = lag_counts(daemon)

            refused = sum(n for s, n in flood.statuses.items() if s in (401, 429, 503))
            assert refused >= 200, flood.statuses  # the attack really ran
            assert flood.statuses.get(401, 0) >= 50, flood.statuses  # and bcrypt ran for it
            assert flood.statuses.get(200, 0) == 0
            health.sort()
            assert health[int(len(health) * 0.95)] < 0.25, health
            assert health[-1] < 1.0, health
            assert set(logged_in) == {200}, logged_in
            runs = after["+Inf"] - before["+Inf"]
            late = runs - (after["0.25"] - before["0.25"])
            assert runs >= FLOOD_SECONDS  # two targets, one run a second each
            assert late <= runs * 0.02, (late, runs)
            status, text = daemon.request("GET", "/api/v1/targets", headers=good)
            assert status == 200
            assert {t["name"]: t["state"] for t in json.loads(text)["targets"]} == {
                "lo": "up",
                "lo2": "up",
            }
            assert hook.bodies() == []  # nothing paged

            # The positive signal: a real outage pages through the same receiver.
            service.close()
            hook.wait_body(lambda m: "TargetDown" in alertnames(m, "firing"), timeout=15)
            assert "Traceback" not in daemon.log()
    service2.close()
