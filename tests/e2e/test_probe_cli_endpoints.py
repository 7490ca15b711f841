"""``continuity-monitor probe --format json`` and the daemon with http, tcp and dns targets.

The peers (an aiohttp app on HTTP and HTTPS, an SMTP-like banner server and
:class:`~tests.integration.test_dns_probe.LoopbackDns`) run on 127.0.0.1 in a
background thread's event loop, so the CLI and the daemon can run as real
processes beside them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from probes import KINDS
from tests.daemon_process import DaemonProcess, run_cli
from tests.integration.test_dns_probe import LoopbackDns
from tests.integration.test_http_probe import Pki, app
from tests.prometheus_peer import check_metrics


@dataclass
class Peers:
    http_port: int
    https_port: int
    smtp_port: int
    dns: str  # "127.0.0.1:PORT"
    ca_file: str


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 post.test ESMTP\r\n")
    await writer.drain()
    try:
        await reader.read(100)
    finally:
        writer.close()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    """Start the peers in a thread's loop; stop them after the test."""
    pki = Pki(tmp_path)
    leaf = pki.leaf(days=(-30, 5))  # expires in 5 days: a CertificateExpiring warning
    server_context = pki.server_context(leaf)
    loop = asyncio.new_event_loop()
    ready: Future[Peers] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        runner = web.AppRunner(app(), handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context).start()
        smtp = await asyncio.start_server(_banner, "127.0.0.1", 0)
        async with LoopbackDns() as dns_server:
            ready.set_result(
                Peers(
                    http_port=runner.addresses[0][1],
                    https_port=runner.addresses[1][1],
                    smtp_port=smtp.sockets[0].getsockname()[1],
                    dns=dns_server.address,
                    ca_file=pki.ca_file,
                )
            )
            await stop.wait()
        smtp.close()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.result(timeout=10)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(peers: Peers, *, broken: bool = False) -> str:
    """One target of each kind; ``broken`` makes each one fail in its own way."""
    http_path = "/error" if broken else "/json"
    smtp_port = closed_port() if broken else peers.smtp_port
    name = "nx.test" if broken else "ok.test"
    return f"""
[monitor]
instance = "e2e-endpoints"

[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "tracking-api"
address = "http://127.0.0.1:{peers.http_port}{http_path}"
checks = ["http"]
labels = {{ service = "tracking" }}
http = {{ expect_status = [200], json_equals = {{ "status" = "ok" }} }}

[[targets]]
name = "portal"
address = "https://127.0.0.1:{peers.https_port}/json"
checks = ["http"]
http = {{ ca_file = "{peers.ca_file}", cert_min_days = 14 }}

[[targets]]
name = "post-smtp"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {smtp_port}, expect = "^220" }}

[[targets]]
name = "resolver"
address = "{peers.dns}"
checks = ["dns"]
dns = {{ name = "{name}", type = "A", expect_answer_regex = "^127\\\\." }}
"""


def probe_json(tmp_path: Path, text: str) -> tuple[int, list[dict[str, Any]], str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    done = run_cli("probe", "--config", str(path), "--format", "json", timeout=60)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, records, done.stderr


def test_probe_json_prints_one_record_per_check(tmp_path: Path, peers: Peers) -> None:
    code, records, stderr = probe_json(tmp_path, config(peers))
    assert code == 0, (records, stderr)
    assert "Traceback" not in stderr
    by_target = {r["target"]: r for r in records}
    assert [r["check"] for r in records] == ["http", "http", "tcp", "dns"]
    for record in records:
        assert set(record) == {
            "target",
            "check",
            "ok",
            "reason",
            "message",
            "duration_seconds",
            "started",
            "values",
        }
        assert record["ok"] is True
        assert record["reason"] == "ok"
        assert 0 < record["duration_seconds"] < 1
        # what rules may name (config check of [[alerts.rules]] metric) is what comes out
        declared = KINDS[record["check"]].values
        assert declared is not None and set(record["values"]) <= declared, record
    api = by_target["tracking-api"]["values"]
    assert api["status_code"] == 200
    assert api["content_length_bytes"] > 0
    assert {f"phase_{p}_seconds" for p in ("dns", "connect", "tls", "first_byte", "total")} <= set(
        api
    )
    portal = by_target["portal"]
    assert 4.9 < portal["values"]["cert_days_left"] <= 5
    assert "warning: certificate CN=127.0.0.1 expires" in portal["message"]
    assert by_target["post-smtp"]["values"]["phase_connect_seconds"] > 0
    assert "reply matched '^220'" in by_target["post-smtp"]["message"]
    resolver = by_target["resolver"]["values"]
    assert resolver["answers"] == 2
    assert resolver["rcode"] == 0


def test_probe_json_failures_name_their_reason(tmp_path: Path, peers: Peers) -> None:
    code, records, stderr = probe_json(tmp_path, config(peers, broken=True))
    assert code == 1, (records, stderr)
    assert "Traceback" not in stderr
    reasons = {r["target"]: (r["ok"], r["reason"]) for r in records}
    assert reasons == {
        "tracking-api": (False, "status"),
        "portal": (True, "ok"),
        "post-smtp": (False, "connect_refused"),
        "resolver": (False, "rcode"),
    }


def test_probe_names_the_bad_key_of_an_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[targets]]\nname = "p"\naddress = "https://x.example.vn/"\nchecks = ["http"]\n'
        'http = { body_regex = "(" }\n'
    )
    done = run_cli("probe", "--config", str(path), "--format", "json", timeout=60)
    assert done.returncode == 1
    assert f"{path}:5 (p): http.body_regex: not a valid regular expression '('" in done.stderr
    assert "Traceback" not in done.stderr


def test_daemon_exports_endpoint_series(tmp_path: Path, peers: Peers) -> None:
    text = config(peers)
    text += f"""
[[targets]]
name = "down-api"
address = "http://127.0.0.1:{peers.http_port}/html"
checks = ["http"]
http = {{ json_equals = {{ "status" = "ok" }} }}
"""
    with DaemonProcess(text, tmp_path) as daemon:
        daemon.wait_for("continuity_check_success", 1, timeout=10, target="resolver")
        daemon.wait_for("continuity_check_success", 1, timeout=10, target="portal")
        daemon.wait_for("continuity_check_success", 1, timeout=10, target="post-smtp")
        daemon.wait_for("continuity_check_failure_info", 1, timeout=10, target="down-api")
        assert daemon.value(
            "continuity_check_failure_info", target="down-api", reason="json_invalid"
        )
        assert (
            daemon.value("continuity_http_status_code", target="tracking-api", service="tracking")
            == 200
        )
        assert daemon.value("continuity_http_phase_duration_seconds", target="portal", phase="tls")
        expiry = daemon.value(
            "continuity_tls_certificate_expiry_timestamp_seconds", target="portal"
        )
        assert expiry is not None and expiry > 0
        assert daemon.value("continuity_tls_version_info", target="portal", tls_version="TLSv1.3")
        assert daemon.value("continuity_dns_answer_records", target="resolver") == 2
        assert daemon.value(
            "continuity_tcp_phase_duration_seconds", target="post-smtp", phase="connect"
        )
        status, metrics_text = daemon.get("/metrics")
        assert status == 200
    assert "Traceback" not in daemon.log()
    assert check_metrics(metrics_text) == ""
