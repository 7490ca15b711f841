"""The daemon as a process with ``[traps]``: a linkDown trap reaches its target at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess
from tests.helpers import free_udp_port

pytestmark = pytest.mark.needs("snmptrap")

CONFIG = """
[monitor]
instance = "e2e-traps"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"

[defaults.icmp]
count = 1

[[targets]]
name = "core"
address = "127.0.0.1"

[traps]
listen = "127.0.0.1:{port}"
communities = ["public"]
"""

IF_DOWN = (
    "1.3.6.1.6.3.1.1.5.3",
    "1.3.6.1.2.1.2.2.1.1.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.2.2", "s", "eth1",
)  # fmt: skip


def snmptrap(directory: Path, *args: str) -> None:
    (directory / "conf").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SNMPCONFPATH": str(directory / "conf"),
        "SNMP_PERSISTENT_DIR": str(directory / "persist"),
        "MIBS": "",
        "HOME": str(directory),
    }
    done = subprocess.run(
        ["snmptrap", *args], env=env, capture_output=True, text=True, timeout=15, check=False
    )
    assert done.returncode == 0, done.stderr


def wait_for_log(daemon: DaemonProcess, text: str, timeout: float = 10) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        log = daemon.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in the log after {timeout} s:\n{daemon.log()}")


def test_link_down_trap_is_an_event_of_its_target(tmp_path: Path) -> None:
    port = free_udp_port()
    with DaemonProcess(CONFIG.format(port=port), tmp_path) as daemon:
        target = f"127.0.0.1:{port}"
        # From an agent that is no target (v1 agent-addr), and with a wrong community:
        snmptrap(tmp_path, "-v", "1", "-c", "public", target, "1.3.6.1.4.1.8072.3.2.10",
                 "127.0.0.9", "2", "0", "", "1.3.6.1.2.1.2.2.1.2.9", "s", "eth9")  # fmt: skip
        snmptrap(tmp_path, "-v", "2c", "-c", "wrong", target, "", *IF_DOWN)
        wait_for_log(daemon, "ignored: bad_community")
        # The real one, from 127.0.0.1 (the target's address):
        started = time.monotonic()
        snmptrap(tmp_path, "-v", "2c", "-c", "public", target, "", *IF_DOWN)
        log = wait_for_log(
            daemon, "core InterfaceDown [interface=eth1]: interface eth1 is down (linkDown trap)"
        )
        assert time.monotonic() - started < 5
        assert daemon.value("continuity_snmp_traps_total", result="accepted") == 2
        assert daemon.value("continuity_snmp_traps_total", result="bad_community") == 1
        assert daemon.value("continuity_listener_unmatched_events_total", listener="traps") == 1
    assert "eth9" not in log  # the unknown agent's trap reached no target
    assert log.count("core InterfaceDown [") == 1
    assert "Traceback" not in daemon.log()


def test_a_taken_trap_port_is_one_startup_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        daemon = DaemonProcess(CONFIG.format(port=port), tmp_path)
        daemon.start(wait_ready=False)
        assert daemon.proc is not None
        code = daemon.proc.wait(30)
        daemon.stop()
    log = daemon.log()
    assert code != 0
    assert f"cannot start a listener: traps.listen 127.0.0.1:{port}: Address already in use" in log
    assert "Traceback" not in log


def test_reload_reopens_the_listener_with_the_new_section(tmp_path: Path) -> None:
    port = free_udp_port()
    config = CONFIG.format(port=port)
    with DaemonProcess(config, tmp_path) as daemon:
        target = f"127.0.0.1:{port}"
        daemon.config.write_text(
            daemon.config.read_text().replace(
                'communities = ["public"]', 'communities = ["rotated"]'
            )
        )
        daemon.signal(signal.SIGHUP)
        wait_for_log(daemon, "reloaded:")
        snmptrap(tmp_path, "-v", "2c", "-c", "public", target, "", *IF_DOWN)
        wait_for_log(daemon, "ignored: bad_community")
        snmptrap(tmp_path, "-v", "2c", "-c", "rotated", target, "", *IF_DOWN)
        log = wait_for_log(daemon, "core InterfaceDown [interface=eth1]")
    assert log.count("receiving SNMP traps on") == 2
    assert "Traceback" not in daemon.log()
