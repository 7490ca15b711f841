"""Device alerts across a restart: no second page for what still fires, a resolve for
what ended, while the daemon was down or after.

Two UPS, each a real net-snmp snmpd answering UPS-MIB from a state file the test
rewrites (the pass_persist script of the time-to-dark test), paged to a real
aiohttp webhook receiver:

- ``ups-a`` on battery with one minute of runtime: ``OnBattery``, ``BatteryLow`` and
  ``SiteGoingDark``;
- ``ups-b`` on battery with four hours: ``OnBattery``.

The daemon is restarted (SIGTERM or SIGKILL, then a new process on the same state
directory) while all four fire, and ``ups-a`` gets mains back while it is down or
after. After the restart ``ups-a`` gets exactly one resolve per alert, with the
original start, and ``ups-b``, still on battery, is not paged again. Every wait is bounded and ends on
a positive signal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess
from tests.detect_lab import webhook_channel
from tests.e2e.test_time_to_dark import PASS_SCRIPT, PassState
from tests.helpers import require_peer, wait_until
from tests.peers import Delivery, WebhookReceiver
from tests.snmp_agents import SnmpdAgent

PAGES = {
    ("OnBattery", "ups-a"),
    ("BatteryLow", "ups-a"),  # one minute of runtime is under the low mark too
    ("SiteGoingDark", "ups-a"),
    ("OnBattery", "ups-b"),
}


def ups_target(name: str, agent: SnmpdAgent) -> str:
    return f"""
[[targets]]
name = "{name}"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ community = "{agent.community}", port = {agent.port}, modules = ["system", "ups"] }}
"""


def config(a: SnmpdAgent, b: SnmpdAgent, receiver: WebhookReceiver) -> str:
    head = """
[monitor]
instance = "e2e-restart-power"

[defaults]
interval = "1s"
timeout = "1s"

[alerts]
going_dark_lead = "90s"
"""
    return head + ups_target("ups-a", a) + ups_target("ups-b", b) + webhook_channel(receiver)


@pytest.fixture
def two_ups(tmp_path: Path) -> Iterator[tuple[tuple[SnmpdAgent, PassState], ...]]:
    require_peer("snmpd")
    made = []
    agents = []
    try:
        for name in ("a", "b"):
            work = tmp_path / f"snmpd-{name}"
            work.mkdir()
            script = work / "ups_pass.py"
            script.write_text(PASS_SCRIPT)
            state = PassState(work / "ups.json")
            state.write(on_battery=True, charge=80, rate=0, minutes=1 if name == "a" else 240)
            line = f"pass_persist .1.3.6.1.2.1.33 {sys.executable} {script} {state.path}"
            agent = SnmpdAgent(work, extra_config=line)
            agents.append(agent)
            agent.__enter__()
            made.append((agent, state))
        yield tuple(made)
    finally:
        for agent in agents:
            agent.__exit__(None, None, None)


def key(d: Delivery) -> tuple[str, str]:
    return d.alertname, d.target


def polled_after(daemon: DaemonProcess, target: str, moment: float) -> bool:
    """Whether the target's check ran after the wall-clock ``moment``."""
    last = daemon.value("continuity_check_last_run_timestamp_seconds", target=target)
    return last is not None and last > moment


@pytest.mark.parametrize(
    ("ending", "mains"),
    [("sigterm", "while down"), ("sigkill", "while down"), ("sigterm", "after the restart")],
)
def test_power_alerts_survive_a_restart(
    tmp_path: Path, two_ups: tuple[tuple[SnmpdAgent, PassState], ...], ending: str, mains: str
) -> None:
    """SIGTERM (an ordinary restart) or SIGKILL (a crash: no shutdown code runs); ups-a's
    mains comes back while the daemon is down (no PowerRestored can be seen: its first
    poll decides) or once the new process has polled it on battery (the probe's own
    PowerRestored)."""
    (a, a_state), (b, _) = two_ups
    with WebhookReceiver() as receiver:
        text = config(a, b, receiver)
        first = DaemonProcess(text, tmp_path, log_name="first.log").start()
        try:
            wait_until(
                lambda: {key(d) for d in receiver.deliveries() if d.status == "firing"} >= PAGES,
                30,
                "the four pages",
            )
            first.wait_for("continuity_notifications_pending", 0, timeout=10, channel="hook")
        finally:
            if ending == "sigkill":
                first.kill()
            else:
                first.stop()
        pages = {key(d): d for d in receiver.deliveries() if d.status == "firing"}
        assert len(receiver.deliveries()) == len(PAGES), [key(d) for d in receiver.deliveries()]
        if mains == "while down":
            a_state.write(on_battery=False, charge=100, rate=0, minutes=240)

        mark = time.monotonic()
        restarted = time.time()
        with DaemonProcess(text, tmp_path, log_name="second.log") as second:
            if mains == "after the restart":
                wait_until(lambda: polled_after(second, "ups-a", restarted), 20, "ups-a polled")
                second.wait_for("continuity_ups_on_battery", 1, timeout=5, target="ups-a")
                a_state.write(on_battery=False, charge=100, rate=0, minutes=240)
            for name in ("OnBattery", "BatteryLow", "SiteGoingDark"):
                wait_until(
                    lambda name=name: any(  # type: ignore[misc]
                        key(d) == (name, "ups-a") and d.status == "resolved"
                        for d in receiver.deliveries(mark)
                    ),
                    30,
                    f"{name} of ups-a resolved",
                )
            # ups-b polled on battery by the new process, twice (its first poll's
            # OnBattery is where a second page would come from), and all delivered.
            wait_until(lambda: polled_after(second, "ups-b", restarted + 1.5), 20, "ups-b polled")
            second.wait_for("continuity_ups_on_battery", 1, timeout=5, target="ups-b")
            second.wait_for("continuity_notifications_pending", 0, timeout=10, channel="hook")
            active = second.json("/api/v1/alerts")
            assert isinstance(active, dict)
            firing = {(x["labels"]["alertname"], x["labels"]["target"]) for x in active["alerts"]}
            assert firing == {("OnBattery", "ups-b")}

        after = receiver.deliveries(mark)
        assert sorted((key(d), d.status) for d in after) == [
            (("BatteryLow", "ups-a"), "resolved"),
            (("OnBattery", "ups-a"), "resolved"),
            (("SiteGoingDark", "ups-a"), "resolved"),
        ], [(key(d), d.status) for d in after]
        for d in after:  # the episodes paged before the restart, ended now
            assert (
                d.starts_at == pages[key(d)].starts_at
                and d.fingerprint == pages[key(d)].fingerprint
            )
