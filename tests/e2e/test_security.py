"""Endpoint security and secrets, against the daemon as a process."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import trustme

from tests.daemon_process import REPO, DaemonProcess, run_cli
from tests.helpers import free_port

BASE = """
[monitor]
instance = "sec"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"

[defaults.icmp]
count = 1

[[targets]]
name = "lo"
address = "127.0.0.1"
"""
TOKEN = "tok-ABCDEFGHIJKLMNOP"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_mutating_endpoints_need_the_bearer_token(tmp_path: Path) -> None:
    with DaemonProcess(BASE + f'\n[web]\napi_token = "{TOKEN}"\n', tmp_path) as daemon:
        status, body = daemon.request("POST", "/-/reload", token=None)
        assert status == 401 and "bearer token" in body
        assert daemon.request("POST", "/-/reload", token="tok-wrong-wrong-wrong")[0] == 401
        assert daemon.request("POST", "/-/reload", token=TOKEN)[0] == 200
        silence = {
            "matchers": [{"name": "target", "value": "lo"}],
            "ends_at": "30d",
            "created_by": "x",
        }
        assert daemon.request("POST", "/api/v1/silences", silence, token=None)[0] == 401
        assert daemon.request("DELETE", "/api/v1/maintenance/x", token=None)[0] == 401
        assert daemon.get("/api/v1/targets")[0] == 200  # reads stay open without basic auth


def test_without_a_token_changes_through_the_api_are_disabled(tmp_path: Path) -> None:
    with DaemonProcess(BASE + "\n[web]\nprotect_metrics = false\n", tmp_path) as daemon:
        status, body = daemon.request("POST", "/-/reload", token="anything-at-all-123")
        assert status == 403 and "set [web] api_token" in body


def test_read_endpoints_need_basic_auth_when_users_are_set(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode()
    web = f'\n[web]\napi_token = "{TOKEN}"\nbasic_auth_users = {{ noc = "{hashed}" }}\n'
    with DaemonProcess(BASE + web, tmp_path) as daemon:
        status, _ = daemon.get("/api/v1/targets")
        assert status == 401
        assert daemon.request("GET", "/api/v1/targets", headers=basic("noc", "wrong"))[0] == 401
        assert (
            daemon.request("GET", "/api/v1/targets", headers=basic("eve", "correct horse"))[0]
            == 401
        )
        assert (
            daemon.request("GET", "/api/v1/targets", headers=basic("noc", "correct horse"))[0]
            == 200
        )
        assert daemon.get("/metrics")[0] == 200  # protect_metrics is false by default
        assert daemon.get("/-/healthy")[0] == 200
    second = tmp_path / "second"
    second.mkdir()
    with DaemonProcess(BASE + web + "protect_metrics = true\n", second) as daemon:
        assert daemon.get("/metrics")[0] == 401
        assert daemon.request("GET", "/metrics", headers=basic("noc", "correct horse"))[0] == 200


def test_tls_on_every_endpoint(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    web = f'\n[web]\ntls_cert_file = "{tmp_path / "server.pem"}"\ntls_key_file = "{tmp_path / "server.key"}"\n'
    daemon = DaemonProcess(BASE + web, tmp_path)
    daemon.start(wait_ready=False)
    try:
        context = ssl.create_default_context()
        ca.configure_trust(context)
        url = f"https://127.0.0.1:{daemon.port}/-/ready"
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            pytest.fail(daemon.log())
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/-/ready", timeout=2)
    finally:
        daemon.stop()


SECRETS = {
    "community": "SECRET-community-1f3a",
    "authkey": "SECRET-authkey-9c2e",
    "privkey": "SECRET-privkey-77b1",
    "httppass": "SECRET-httppass-5d0c",
    "bearer": "SECRET-bearer-a8e3",
    "mqttpass": "SECRET-mqttpass-2b9f",
    "hmac": "SECRET-hmac-6e4d",
    "token": "SECRET-apitoken-0c5a77",
    "smtp": "SECRET-smtp-3f1e",
}


def secret_config(dead: int) -> str:
    s = SECRETS
    return f"""
[monitor]
instance = "secrets"

[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "v2"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ version = "2c", community = "{s["community"]}", port = {dead}, modules = ["system"] }}

[[targets]]
name = "v3"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ version = "3", user = "noc", auth_protocol = "sha", auth_key = "{s["authkey"]}", priv_protocol = "aes", priv_key = "{s["privkey"]}", port = {dead}, modules = ["system"] }}

[[targets]]
name = "web-basic"
address = "http://127.0.0.1:{dead}/"
checks = ["http"]
http = {{ basic_auth = {{ username = "u", password = "{s["httppass"]}" }} }}

[[targets]]
name = "web-bearer"
address = "http://127.0.0.1:{dead}/"
checks = ["http"]
http = {{ bearer_token = "{s["bearer"]}" }}

[channels.mq]
type = "mqtt"
url = "mqtt://127.0.0.1:{dead}"
username = "continuity"
password = "{s["mqttpass"]}"

[channels.hook]
type = "webhook"
url = "http://127.0.0.1:{dead}/hook"
secret = "{s["hmac"]}"

[channels.mail]
type = "email"
smarthost = "127.0.0.1:{dead}"
security = "none"
username = "mailer"
password = "{s["smtp"]}"
from = "noc@example.vn"
to = ["oncall@example.vn"]

[[alerts.routes]]
channels = ["mq", "hook", "mail"]

[web]
api_token = "{s["token"]}"
"""


def test_no_secret_ever_shows_in_logs_errors_api_or_pages(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there: every check and channel fails
    text = secret_config(dead)
    outputs: list[str] = []
    broken = tmp_path / "broken.toml"
    broken.write_text(
        text.replace('instance = "secrets"', 'instance = "secrets"\ncolour = 1').replace(
            'modules = ["system"] }', 'modules = ["system"], retries = 99 }', 1
        )
    )
    done = run_cli("check-config", "--config", str(broken))
    assert done.returncode == 1
    outputs += [done.stdout, done.stderr]
    good = tmp_path / "good.toml"
    good.write_text(text)
    done = run_cli("check-config", "--config", str(good))
    assert done.returncode == 0, done.stderr
    outputs += [done.stdout, done.stderr]
    done = run_cli("probe", "--config", str(good), "--format", "json")
    outputs += [done.stdout, done.stderr]
    with DaemonProcess(text, tmp_path, log_name="daemon.log") as daemon:
        daemon.wait_for("continuity_check_success", 0, timeout=10, target="web-basic")
        daemon.wait_for("continuity_check_success", 0, timeout=10, target="v3")
        for path in (
            "/metrics",
            "/api/v1/targets",
            "/api/v1/targets/v3",
            "/api/v1/alerts",
            "/api/v1/silences",
            "/api/v1/maintenance",
            "/",
            "/targets/v3",
        ):
            outputs.append(daemon.get(path)[1])
        outputs.append(daemon.request("POST", "/-/reload", token="wrong-token-wrong-token")[1])
        daemon.config.write_text(text + "\ncolour = 1\n")
        outputs.append(daemon.request("POST", "/-/reload", token=SECRETS["token"])[1])
    outputs.append(daemon.log())
    everything = "\n".join(outputs)
    assert "<secret>" in everything or "SECRET" not in everything
    for name, value in SECRETS.items():
        assert value not in everything, f"the {name} secret leaked"
    assert json.dumps(SECRETS) not in everything and str(REPO)
