"""A reload that takes a check off a target drops that check's RTT histogram series.

A real daemon measures one loopback target with two checks (ICMP echoes to
127.0.0.1 and a TCP connect to a port this test listens on), so both have a
``continuity_probe_rtt_seconds`` histogram; the config is rewritten with the
ICMP check only and reloaded: the TCP histogram leaves the scrape, the ICMP
one stays and keeps counting. Before issue 14's session 4 the series of a
removed check stayed until the whole target was removed.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess

CONFIG = """
[monitor]
instance = "histogram-reload"

[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "site-1"
address = "127.0.0.1"
checks = [{checks}]
icmp = {{ count = 1 }}
{tcp}
"""

COUNT = "continuity_probe_rtt_seconds_count"


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback TCP port that accepts (the kernel completes the handshakes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def counts(daemon: DaemonProcess) -> dict[str, float]:
    """The histogram's ``_count`` of site-1 per check, from one scrape."""
    return {
        labels["check"]: value
        for labels, value in daemon.metrics().get(COUNT, [])
        if labels.get("target") == "site-1"
    }


def wait_counts(daemon: DaemonProcess, checks: set[str], timeout: float = 10) -> dict[str, float]:
    """Poll until exactly ``checks`` have a histogram, each with a count."""
    end = time.monotonic() + timeout
    found: dict[str, float] = {}
    while time.monotonic() < end:
        found = counts(daemon)
        if set(found) == checks and all(v >= 1 for v in found.values()):
            return found
        time.sleep(0.1)
    raise AssertionError(f"histograms {found}, wanted {sorted(checks)}")


def test_a_check_taken_off_by_a_reload_leaves_the_histogram(tmp_path: Path, listener: int) -> None:
    both = CONFIG.format(checks='"icmp", "tcp"', tcp=f"tcp = {{ port = {listener} }}")
    with DaemonProcess(both, tmp_path) as daemon:
        wait_counts(daemon, {"icmp", "tcp"})
        daemon.config.write_text(CONFIG.format(checks='"icmp"', tcp=""))
        status, body = daemon.request("POST", "/-/reload")
        assert status == 200, body
        before = wait_counts(daemon, {"icmp"})  # the TCP histogram is gone at once
        series = daemon.metrics()
        assert not [
            labels
            for name in (COUNT, "continuity_probe_rtt_seconds_bucket")
            for labels, _ in series.get(name, [])
            if labels.get("check") == "tcp"
        ]
        end = time.monotonic() + 10  # and the ICMP one keeps counting
        while counts(daemon).get("icmp", 0) <= before["icmp"] and time.monotonic() < end:
            time.sleep(0.1)
        assert counts(daemon)["icmp"] > before["icmp"]
    assert "Traceback" not in daemon.log()
