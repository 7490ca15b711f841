"""The daemon as a real process: start, scrape, reload, signals, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import netns
from tests.daemon_process import REPO, DaemonProcess, monitor_command, run_cli
from tests.helpers import free_port, require_peer
from tests.prometheus_peer import check_metrics

FAST = """
[monitor]
instance = "e2e"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 2
packet_interval = "100ms"
"""


def target(name: str, address: str, **extra: str) -> str:
    lines = [f'[[targets]]\nname = "{name}"\naddress = "{address}"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


LOOPBACK = (
    FAST
    + target("lo-1", "127.0.0.1", labels='{ site = "LOCAL", province = "Local" }')
    + target("lo-2", "127.0.0.2", parents='["lo-1"]')
    + target("lo-6", "::1")
)


def test_starts_scrapes_and_reports_targets_up(tmp_path: Path) -> None:
    with DaemonProcess(LOOPBACK, tmp_path) as daemon:
        for name in ("lo-1", "lo-2", "lo-6"):
            daemon.wait_for("continuity_target_up", 1, timeout=5, target=name)
        assert daemon.get("/-/healthy") == (200, "OK\n")
        up = [lab for lab, _ in daemon.metrics()["continuity_target_up"] if lab["target"] == "lo-1"]
        assert up == [{"target": "lo-1", "site": "LOCAL", "province": "Local"}]
        assert daemon.value("continuity_icmp_packet_loss_ratio", target="lo-6") == 0
        assert daemon.value("continuity_config_last_reload_successful") == 1
        assert daemon.value("continuity_build_info") == 1
    assert "Traceback" not in daemon.log()


def _scrape(daemon: DaemonProcess, accept: str | None) -> tuple[str | None, bytes]:
    headers = {} if accept is None else {"Accept-Encoding": accept}
    request = urllib.request.Request(daemon.url + "/metrics", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.headers.get("Content-Encoding"), resp.read()


def _series(text: str) -> set[str]:
    """Series names with labels (values and the render-time figures move between scrapes)."""
    return {line.rpartition(" ")[0] for line in text.splitlines() if not line.startswith("#")}


def test_metrics_are_gzipped_when_the_scraper_asks(tmp_path: Path) -> None:
    with DaemonProcess(LOOPBACK, tmp_path) as daemon:
        for name in ("lo-1", "lo-2", "lo-6"):  # every series there before comparing
            daemon.wait_for("continuity_target_up", 1, timeout=5, target=name)
        plain_coding, plain = _scrape(daemon, None)
        gzip_coding, zipped = _scrape(daemon, "gzip, deflate")  # what Prometheus sends
        refused_coding, _ = _scrape(daemon, "gzip;q=0, identity")
    assert (plain_coding, gzip_coding, refused_coding) == (None, "gzip", None)
    assert len(zipped) < len(plain) / 3
    # The same series either way (nothing lost in compression).
    assert _series(gzip.decompress(zipped).decode()) == _series(plain.decode())
    # The one state series of lo-1 is its current state, with value 1.
    states = [ln for ln in plain.decode().splitlines() if ln.startswith("continuity_target_state{")]
    assert [ln for ln in states if 'target="lo-1"' in ln] == [
        'continuity_target_state{target="lo-1",province="Local",site="LOCAL",state="up"} 1'
    ]


@pytest.mark.needs("promtool")
def test_metrics_pass_promtool(tmp_path: Path) -> None:
    with DaemonProcess(LOOPBACK, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=5, target="lo-1")
        _, text = daemon.get("/metrics")
    assert check_metrics(text) == ""  # not even lint warnings


def test_reload_applies_a_valid_config_and_keeps_unchanged_targets(tmp_path: Path) -> None:
    with DaemonProcess(LOOPBACK, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=5, target="lo-1")
        since = daemon.value("continuity_target_state_since_timestamp_seconds", target="lo-1")
        daemon.config.write_text(
            LOOPBACK.replace('"lo-6"', '"lo-6b"') + target("lo-3", "127.0.0.3")
        )
        status, body = daemon.request("POST", "/-/reload")
        assert status == 200, body
        assert "checks started 2, stopped 1, kept 2" in body
        daemon.wait_for("continuity_target_up", 1, timeout=5, target="lo-3")
        assert (
            daemon.value("continuity_target_up", target="lo-6") is None
        )  # removed target's series gone
        assert (
            daemon.value("continuity_target_state_since_timestamp_seconds", target="lo-1") == since
        )


def test_invalid_reload_keeps_the_running_config(tmp_path: Path) -> None:
    with DaemonProcess(LOOPBACK, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=5, target="lo-6")
        good = daemon.config.read_text()
        daemon.config.write_text(
            good.replace('address = "::1"', 'address = "::1"\nicmp = { count = 0 }')
        )
        status, body = daemon.request("POST", "/-/reload")
        assert status == 400
        assert json.loads(body)["issues"] == [
            f"{daemon.config}:26 (lo-6): icmp.count: must be at least 1, got 0"
        ]
        assert daemon.value("continuity_config_last_reload_successful") == 0
        before = daemon.value("continuity_check_last_run_timestamp_seconds", target="lo-6")
        time.sleep(1.5)
        assert daemon.value("continuity_check_last_run_timestamp_seconds", target="lo-6") > before  # type: ignore[operator]
        # SIGHUP with a fixed file reloads too
        daemon.config.write_text(good)
        daemon.signal(signal.SIGHUP)
        daemon.wait_for("continuity_config_last_reload_successful", 1, timeout=5)
        assert daemon.get("/-/reload")[0] == 405


def test_sigterm_stops_cleanly_within_5_seconds(tmp_path: Path) -> None:
    daemon = DaemonProcess(LOOPBACK, tmp_path).start()
    daemon.wait_for("continuity_target_up", 1, timeout=5, target="lo-1")
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 5
    assert "shutting down" in daemon.log() and "Traceback" not in daemon.log()


def test_python_m_monitor_and_console_script_are_the_same_program() -> None:
    script = shutil.which("continuity-monitor", path=str(Path(sys.executable).parent))
    assert script is not None, "console script not installed"
    a = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30, check=True)
    b = subprocess.run(
        monitor_command("--help"), capture_output=True, text=True, timeout=30, check=True, cwd=REPO
    )
    assert a.stdout == b.stdout and "check-config" in a.stdout and "probe" in a.stdout


# -- bad input: one clear message, never a traceback ------------------------


def test_invalid_config_at_start_is_one_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(FAST + target("a", "127.0.0.1", icmp="{ count = 0 }") + "colour = 1\n")
    for command in ("run", "check-config", "probe"):
        done = run_cli(command, "--config", str(config))
        assert done.returncode == 1, (command, done.stderr)
        assert f"{config}:18 (a): icmp.count: must be at least 1, got 0" in done.stderr
        assert f"{config}:19 (a): colour: unknown key" in done.stderr
        assert "Traceback" not in done.stderr


def test_check_config_accepts_the_shipped_config() -> None:
    done = run_cli("check-config", "--config", str(REPO / "config.toml"))
    assert done.returncode == 0 and "OK: 5 targets, 5 checks" in done.stdout


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('[monitor]\ninstance = "unterminated\n')
    done = run_cli("check-config", "--config", str(config))
    assert done.returncode == 1
    assert done.stderr == (
        f"{config}:2: TOML syntax error: Illegal character '\\n' (column 25)\n"
        "1 error; the configuration is not valid\n"
    )


def test_port_in_use_is_one_clear_message(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(LOOPBACK)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli(
            "run",
            "--config",
            str(tmp_path / "c.toml"),
            "--listen",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(tmp_path / "s"),
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: " in done.stderr and "Traceback" not in done.stderr


def test_no_icmp_permission_is_one_clear_message(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to take CAP_NET_RAW away from the daemon")
    require_peer("setpriv")
    (tmp_path / "c.toml").write_text(LOOPBACK)
    with netns.sysctl("net.ipv4.ping_group_range", "1\t0"):
        done = run_cli(
            "run",
            "--config",
            str(tmp_path / "c.toml"),
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--state-dir",
            str(tmp_path / "s"),
            drop_net_raw=True,
        )
    assert done.returncode == 1, done.stderr
    assert "CAP_NET_RAW" in done.stderr and "ping_group_range" in done.stderr
    assert "Traceback" not in done.stderr


def test_probe_command_prints_json_lines_and_exit_status(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(LOOPBACK)
    done = run_cli("probe", "--config", str(config), "--format", "json", "lo-1", "lo-6")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["target"], r["check"], r["ok"], r["reason"]) for r in records] == [
        ("lo-1", "icmp", True, "ok"),
        ("lo-6", "icmp", True, "ok"),
    ]
    for record in records:
        assert 0 < record["duration_seconds"] < 1
        assert record["values"]["packets_received"] == 2
        assert record["values"]["rtt_avg_seconds"] > 0
    done = run_cli("probe", "--config", str(config), "nope")
    assert done.returncode == 1 and "unknown target(s): nope" in done.stderr


def test_unresolvable_host_fails_its_check_and_the_rest_keep_running(tmp_path: Path) -> None:
    """In a namespace of its own, so the lookup cannot leave the machine."""
    netns.require()
    config = tmp_path / "c.toml"
    config.write_text(FAST + target("ghost", "ghost.invalid") + target("lo", "127.0.0.1"))
    with netns.netns_host() as host:
        host.exec("ip", "link", "set", "lo", "up")
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                host.name,
                *monitor_command("probe", "--config", str(config), "--format", "json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
    records = {r["target"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert done.returncode == 1, done.stderr
    assert (records["ghost"]["ok"], records["ghost"]["reason"]) == (False, "dns")
    assert "ghost.invalid" in records["ghost"]["message"]
    assert (records["lo"]["ok"], records["lo"]["reason"]) == (True, "ok")


def test_netns_target_goes_down_and_comes_back(tmp_path: Path) -> None:
    """fall x interval + 1 s after the cut it is DOWN; after the restore UP again."""
    netns.require()
    with netns.netns_host() as host:
        config = (
            FAST + target("site", host.v4, labels='{ site = "NS" }') + target("lo", "127.0.0.1")
        )
        with DaemonProcess(config, tmp_path) as daemon:
            daemon.wait_for("continuity_target_up", 1, timeout=5, target="site")
            host.cut()
            waited = daemon.wait_for(
                "continuity_target_up", 0, timeout=2 * 1 + 1 + 1, target="site"
            )
            assert waited <= 2 * 1 + 1, f"DOWN after {waited:.2f} s"
            assert daemon.value("continuity_target_state", target="site", state="down") == 1
            assert daemon.value("continuity_target_up", target="lo") == 1
            host.restore()
            daemon.wait_for("continuity_target_up", 1, timeout=1 * 1 + 2, target="site")
        log = daemon.log()
    assert "site target_down" in log and "site target_up" in log
