"""The daily commands (maintenance, silence, ack, status, reload) against a running daemon.

The daemon is a real process on a loopback port
(:func:`tests.operator_daemon.operator_config`); a webhook receiver
(:class:`tests.peers.WebhookReceiver`) takes its notifications so that a firing alert
can be acknowledged. The CLI runs as a subprocess with a controlled
environment, once with the token from the config file, once from
``CONTINUITY_TOKEN``/``CONTINUITY_URL``.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import build_parser
from probes import KINDS
from tests.daemon_process import API_TOKEN, REPO, DaemonProcess
from tests.helpers import free_port
from tests.language_check import english_left
from tests.operator_daemon import client_config, operator_cli, operator_config
from tests.peers import WebhookReceiver


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    with WebhookReceiver() as hook:
        config = operator_config(
            instance="e2e-cli",
            refused="closed-port",
            closed_port=free_port(),
            hook=hook,
            up_labels='{ site = "LOCAL" }',
        )
        with DaemonProcess(config, tmp_path) as running:
            running.wait_for("continuity_target_up", 1, timeout=10, target="lo-1")
            yield running


def test_maintenance_add_list_end_with_the_token_from_the_config(
    tmp_path: Path, daemon: DaemonProcess
) -> None:
    config = str(client_config(tmp_path, daemon, API_TOKEN))
    added = operator_cli(
        "maintenance", "add", "lo-1", "--for", "2h", "--comment", "fibre", "--config", config
    )
    assert added.returncode == 0, added.stderr
    window = re.fullmatch(r"maintenance ([0-9a-f]{12}) until \S+ \S+ [+-]\d{4}\n", added.stdout)
    assert window, added.stdout
    ident = window.group(1)
    (api,) = [w for w in daemon.json("/api/v1/maintenance")["windows"] if w["id"] == ident]  # type: ignore[index]
    assert api["targets"] == ["lo-1"] and api["comment"] == "fibre" and api["active"]
    ends = time.mktime(time.strptime(api["end"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(ends - (time.time() + 7200)) < 60

    listed = operator_cli("maintenance", "list", "--config", config)
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "NOW", "TARGETS", "FROM", "UNTIL", "COMMENT"]
    assert row.startswith(f"{ident}  active  lo-1") and row.endswith("fibre")

    status = operator_cli("status", "--config", config)
    assert status.returncode == 1  # something is not up
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["TARGET", "STATE", "SINCE", "CAUSE"]
    assert any(line.split()[:2] == ["lo-1", "maintenance"] for line in lines[1:])
    (closed,) = [line for line in lines[1:] if line.split()[:2] == ["closed-port", "down"]]
    assert "failed checks: tcp; tcp: connection refused (connection to 127.0.0.1:" in closed
    assert lines[-1].startswith("2 targets: ")

    ended = operator_cli("maintenance", "end", ident, "--config", config)
    assert (ended.returncode, ended.stdout) == (0, f"maintenance {ident} ended\n")
    assert operator_cli("maintenance", "list", "--config", config).stdout == "(no maintenance)\n"
    again = operator_cli("maintenance", "end", ident, "--config", config)
    assert again.returncode == 1
    assert again.stderr == (
        "continuity-monitor: the daemon refused (404): "
        "no such maintenance window made through the API\n"
    )


def test_silences_and_ack_with_url_and_token_from_the_environment(
    tmp_path: Path, daemon: DaemonProcess
) -> None:
    env = {"CONTINUITY_URL": daemon.url, "CONTINUITY_TOKEN": API_TOKEN}
    none = str(tmp_path / "absent.toml")
    added = operator_cli(
        "silence", "add", "--match", "target=lo-1", "--for", "1h", "--comment", "works",
        "--config", none, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    ident = added.stdout.split()[1]
    listed = operator_cli("silence", "list", "--config", none, env=env).stdout.splitlines()
    assert listed[0].split() == ["ID", "MATCHERS", "UNTIL", "BY", "COMMENT"]
    assert listed[1].startswith(f"{ident}  target=lo-1  ") and listed[1].endswith("works")
    expired = operator_cli("silence", "expire", ident, "--config", none, env=env)
    assert (expired.returncode, expired.stdout) == (0, f"silence {ident} expired\n")
    assert operator_cli("silence", "list", "--config", none, env=env).stdout == "(no silences)\n"

    deadline = time.monotonic() + 15
    while True:
        alerts = [
            a
            for a in daemon.json("/api/v1/alerts")["alerts"]  # type: ignore[index]
            if a["labels"].get("target") == "closed-port" and a["notified"]
        ]
        if alerts or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert alerts, daemon.json("/api/v1/alerts")
    fingerprint = alerts[0]["fingerprint"]
    acked = operator_cli("ack", fingerprint, "--config", none, env=env)
    assert (acked.returncode, acked.stdout) == (0, f"alert {fingerprint} acknowledged\n")
    unknown = operator_cli("ack", "0123456789abcdef", "--config", none, env=env)
    assert unknown.returncode == 1
    assert unknown.stderr == "continuity-monitor: the daemon refused (404): no such firing alert\n"


def test_wrong_token_missing_token_and_bad_fields_are_one_line_each(
    tmp_path: Path, daemon: DaemonProcess
) -> None:
    wrong = operator_cli(
        "silence", "add", "--match", "target=lo-1", "--for", "1h",
        "--url", daemon.url, "--token", "not-the-token-at-all", "--config", "absent.toml",
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr == (
        f"continuity-monitor: the token was refused by {daemon.url}: set [web] api_token "
        "in the config, CONTINUITY_TOKEN or --token to the daemon's token\n"
    )
    missing = operator_cli(
        "maintenance", "add", "lo-1", "--for", "1h", "--url", daemon.url, "--config", "absent.toml"
    )
    assert missing.returncode == 1 and "no token given by" in missing.stderr
    unknown = operator_cli(
        "maintenance", "add", "nope", "--for", "1h",
        "--config", str(client_config(tmp_path, daemon, API_TOKEN)),
    )  # fmt: skip
    assert unknown.stderr == (
        "continuity-monitor: the daemon refused (400): targets: unknown target(s): nope\n"
    )
    bad_for = operator_cli(
        "silence", "add", "--match", "a=b", "--for", "2 hours", "--url", daemon.url
    )
    assert bad_for.returncode == 1
    assert bad_for.stderr.startswith("continuity-monitor: --for: expected a duration such as")


def test_reload_fails_with_every_problem_and_succeeds_once_fixed(
    tmp_path: Path, daemon: DaemonProcess
) -> None:
    good = daemon.config.read_text()
    daemon.config.write_text(good.replace("icmp = { count = 1 }", "icmp = { count = 0 }"))
    env = {"CONTINUITY_URL": daemon.url, "CONTINUITY_TOKEN": API_TOKEN}
    refused = operator_cli("reload", "--config", "absent.toml", env=env)
    assert refused.returncode == 1
    assert refused.stderr == (
        "continuity-monitor: invalid configuration, the running one is kept:\n"
        f"  {daemon.config}:15 (lo-1): icmp.count: must be at least 1, got 0\n"
    )
    status, body = daemon.request("POST", "/-/reload")
    assert status == 400
    assert json.loads(body) == {
        "error": "invalid configuration, the running one is kept",
        "issues": [f"{daemon.config}:15 (lo-1): icmp.count: must be at least 1, got 0"],
    }
    daemon.config.write_text(good)
    done = operator_cli("reload", "--config", "absent.toml", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("reloaded: 2 targets")


def test_a_stopped_daemon_is_named_with_its_address(tmp_path: Path) -> None:
    port = free_port()
    down = operator_cli("status", "--url", f"http://127.0.0.1:{port}")
    assert down.returncode == 1
    assert down.stderr == (
        f"continuity-monitor: cannot reach the daemon at http://127.0.0.1:{port} "
        "([Errno 111] Connection refused); is it running? (set --url or CONTINUITY_URL)\n"
    )


def test_errors_are_in_the_configured_language(tmp_path: Path) -> None:
    """With ``language = "vi"`` the one-line errors are Vietnamese too."""
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[monitor]\nlanguage = "vi"\nlisten = "127.0.0.1:{port}"\n\n'
        '[web]\napi_token = "tok-vi-0123456789abcdef"\n\n'
        '[[targets]]\nname = "gw"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n'
    )
    down = operator_cli("status", "--config", str(config))
    usage = operator_cli("maintenance", "add", "--for", "2h", "--config", str(config))
    pairs = operator_cli(
        "silence", "add", "--match", "target", "--for", "2h", "--config", str(config)
    )
    assert down.returncode == usage.returncode == pairs.returncode == 1
    assert down.stderr.startswith("continuity-monitor: không kết nối được tới dịch vụ tại ")
    assert f"http://127.0.0.1:{port}" in down.stderr
    assert usage.stderr == (
        "continuity-monitor: nêu ít nhất một ĐỐI_TƯỢNG hoặc cho --match TÊN=GIÁ_TRỊ\n"
    )
    assert "cần dạng TÊN=GIÁ_TRỊ" in pairs.stderr
    for result in (down, usage, pairs):
        assert english_left(result.stderr, ("cli.error",)) == [], result.stderr


PROBE_CONFIG = """
[[targets]]
name = "lo-1"
address = "127.0.0.1"
checks = ["icmp"]
icmp = {{ count = 2, packet_interval = "50ms" }}

[[targets]]
name = "closed"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed} }}
"""


def test_probe_prints_human_units_and_a_verdict(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(PROBE_CONFIG.format(closed=free_port()))
    ok = operator_cli("probe", "--config", str(path), "lo-1")
    assert ok.returncode == 0, ok.stderr
    line, verdict = ok.stdout.splitlines()
    assert re.fullmatch(
        r"OK   lo-1 icmp in \d+\.\d ms \(jitter \d+\.\d\d ms, packet loss 0 %, "
        r"packets received 2, packets sent 2, RTT avg \d+\.\d\d ms, "
        r"RTT max \d+\.\d\d ms, RTT min \d+\.\d\d ms\)",
        line,
    ), line
    assert verdict == "OK: all 1 check of 1 target passed"
    both = operator_cli("probe", "--config", str(path), "--log-level", "warning")
    assert both.returncode == 1
    lines = both.stdout.splitlines()
    assert re.fullmatch(
        r"FAIL closed tcp \(connection refused\) in \d+\.\d+ ms: "
        r"connection to 127\.0\.0\.1:\d+ refused"
        r"( \(.*\))?",
        lines[1],
    ), lines[1]
    assert lines[-1] == "FAILED: 1 of 2 checks of 2 targets: closed tcp (connection refused)"
    values = json.loads(
        operator_cli("probe", "--config", str(path), "lo-1", "--format", "json").stdout
    )
    assert set(values["values"]) <= KINDS["icmp"].values  # type: ignore[operator]


def test_version_and_log_level_after_the_command() -> None:
    version = operator_cli("--version")
    assert re.fullmatch(r"continuity-monitor \S+\n", version.stdout), version
    args = build_parser().parse_args(["run", "--log-level", "debug", "--config", "x.toml"])
    assert args.log_level == "debug"
    args = build_parser().parse_args(["--log-level", "warning", "status"])
    assert args.log_level == "warning"
    bad = operator_cli("run", "--log-level", "loud")
    assert bad.returncode == 2 and "invalid choice: 'loud'" in bad.stderr


def test_the_units_exec_reload_line_reloads_and_fails_on_a_refused_file(tmp_path: Path) -> None:
    """ExecReload as the unit writes it, with $MAINPID and the paths filled in."""
    unit = (REPO / "deploy/systemd/continuity-monitor.service").read_text()
    (line,) = [x for x in unit.splitlines() if x.startswith("ExecReload=")]
    words = shlex.split(line.removeprefix("ExecReload="))
    assert words[0] == "/opt/continuity-monitor/bin/continuity-monitor"
    with DaemonProcess(LOOPBACK_NO_TOKEN, tmp_path) as daemon:
        assert daemon.proc is not None
        args = [str(daemon.config) if w == "/etc/continuity/config.toml" else w for w in words[1:]]
        args = [str(daemon.proc.pid) if w == "$MAINPID" else w for w in args]
        # no [web] api_token: the command falls back to SIGHUP and the daemon reloads
        done = operator_cli(*args, "--url", daemon.url)
        assert done.returncode == 0, done.stderr
        assert done.stdout == (
            f"sent SIGHUP to {daemon.proc.pid}; without an API token the result is only in the log\n"
        )
        deadline = time.monotonic() + 10
        while "reloaded:" not in daemon.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "reloaded:" in daemon.log()
    # with [web] api_token (read from the same --config): a refused file fails the reload
    token_dir = tmp_path / "with-token"
    token_dir.mkdir()
    text = LOOPBACK_NO_TOKEN + f'api_token = "{API_TOKEN}"\n'
    with DaemonProcess(text, token_dir) as daemon:
        assert daemon.proc is not None
        args = [str(daemon.config) if w == "/etc/continuity/config.toml" else w for w in words[1:]]
        args = [str(daemon.proc.pid) if w == "$MAINPID" else w for w in args]
        daemon.config.write_text(text.replace('checks = ["icmp"]', 'checks = ["icmpp"]'))
        refused = operator_cli(*args, "--url", daemon.url)
        assert refused.returncode == 1
        assert "unknown check kind 'icmpp'" in refused.stderr
        assert "did you mean icmp?" in refused.stderr


LOOPBACK_NO_TOKEN = """
[[targets]]
name = "lo-1"
address = "127.0.0.1"
checks = ["icmp"]

[web]
"""
