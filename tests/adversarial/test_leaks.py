"""Nothing a device sends forges log lines; no target password or token is shown anywhere.

Before: a trap varbind ``"eth9\\n2026-... CRITICAL ... FAKE target_down"`` with
ANSI escapes was written raw to the log (a forged line), and the password and
token of ``http://user:PASS@host/p?token=T`` appeared in ``/api/v1/targets``,
the status and target pages, the logs and ``probe --format json``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.daemon_process import DaemonProcess, run_cli
from tests.e2e.test_traps_daemon import snmptrap, wait_for_log
from tests.helpers import free_udp_port
from tests.peers import WebhookReceiver, alertnames

PASSWORD = "pAss-9f3e1c"
TOKEN = "tOken-77ab20"

TRAPS = """
[monitor]
instance = "forged-logs"

[defaults]
checks = ["tcp"]
interval = "5s"
timeout = "1s"
tcp = {{ port = 9 }}

[[targets]]
name = "core"
address = "127.0.0.1"

[traps]
listen = "127.0.0.1:{port}"
communities = ["public"]
"""


@pytest.mark.slow
@pytest.mark.needs("snmptrap")
def test_a_trap_cannot_forge_log_lines_or_send_terminal_escapes(tmp_path: Path) -> None:
    port = free_udp_port()
    forged = (
        "eth9\n2026-12-06 03:00:00,000 CRITICAL monitor.daemon: FAKE target_down\x1b[2J\x1b[31m"
    )
    with DaemonProcess(TRAPS.format(port=port), tmp_path) as daemon:
        snmptrap(
            tmp_path, "-v", "2c", "-c", "public", f"127.0.0.1:{port}", "",
            "1.3.6.1.6.3.1.1.5.3",
            "1.3.6.1.2.1.2.2.1.1.2", "i", "2",
            "1.3.6.1.2.1.2.2.1.2.2", "s", forged,
        )  # fmt: skip
        log = wait_for_log(daemon, "core InterfaceDown [")
    raw = daemon.log_path.read_bytes()
    assert b"\x1b" not in raw
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith("2026-12-06 03:00:00,000 CRITICAL")]
    shown = [line for line in lines if "FAKE target_down" in line]
    assert shown and all("InterfaceDown" in line for line in shown)  # inside real lines only
    assert any("eth9\\n2026" in line and "\\x1b[2J" in line for line in shown)


class _Failing(BaseHTTPRequestHandler):
    """Answers 500 and records the request line: the probe did use the secrets."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(self.path + " " + self.headers.get("Authorization", ""))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


WEB = """
[monitor]
instance = "leaks"

[defaults]
interval = "1s"
timeout = "1s"
fall = 1

[[targets]]
name = "web"
address = "{url}"
checks = ["http"]

[channels.hook]
type = "webhook"
url = "{hook}"

[[alerts.routes]]
match = {{ severity = "critical" }}
channels = ["hook"]
"""


@pytest.mark.slow
def test_target_passwords_and_tokens_are_never_shown(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://noc:{PASSWORD}@127.0.0.1:{server.server_address[1]}/health?token={TOKEN}&x=1"
    try:
        with WebhookReceiver() as hook:
            config = WEB.format(url=url, hook=hook.url)
            with DaemonProcess(config, tmp_path) as daemon:
                page = hook.wait_body(lambda m: "TargetDown" in alertnames(m, "firing"), timeout=15)
                outputs = {"webhook": json.dumps(page)}
                for path in (
                    "/api/v1/targets",
                    "/api/v1/targets/web",
                    "/api/v1/alerts",
                    "/",
                    "/targets/web",
                    "/status/summary",
                    "/status/targets/web",
                    "/metrics",
                ):
                    status, text = daemon.get(path)
                    assert status == 200, path
                    outputs[path] = text
                target = json.loads(outputs["/api/v1/targets/web"])
                assert target["address"] == (
                    f"http://noc:<secret>@127.0.0.1:{server.server_address[1]}"
                    "/health?token=<secret>&x=<secret>"
                )
            outputs["log"] = daemon.log()
        probe = run_cli("probe", "--config", str(daemon.config), "--format", "json", "web")
        outputs["probe json"] = probe.stdout + probe.stderr
        probe = run_cli("probe", "--config", str(daemon.config), "web")
        outputs["probe text"] = probe.stdout + probe.stderr
        assert "500" in outputs["probe json"]  # the probe ran and failed as intended
    finally:
        server.shutdown()
        server.server_close()
    assert any(TOKEN in s for s in _Failing.seen)  # the secrets were used to probe
    for name, text in outputs.items():
        assert PASSWORD not in text, name
        assert TOKEN not in text, name
