"""The daemon, as a process, polling a UPS that answers -1 (unknown) beside one that is low.

Issue 11 item 8: a Huawei GSE200M on mains answers -1 for
upsEstimatedMinutesRemaining and upsEstimatedChargeRemaining. Out of the
RFC 1628 ranges, they are unknown: no runtime or charge series and no
BatteryLow alert, while a UPS whose battery really is low (a valid
recording, same snmpsim) still gets its series and its BatteryLow.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.daemon_process import DaemonProcess
from tests.helpers import wait_until
from tests.snmp_agents import SnmpsimAgent

pytestmark = pytest.mark.needs("snmpsim")

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"

CONFIG = """
[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "ups-gse"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ community = "gse", port = {port}, modules = ["system", "ups"] }}

[[targets]]
name = "ups-low"
address = "127.0.0.1"
checks = ["snmp"]
snmp = {{ community = "low", port = {port}, modules = ["system", "ups"] }}
"""


def alerts_by_target(daemon: DaemonProcess) -> dict[str, set[str]]:
    """alertname values of the active alerts, per target."""
    view = daemon.json("/api/v1/alerts")
    assert isinstance(view, dict)
    out: dict[str, set[str]] = {}
    for alert in view["alerts"]:
        labels = alert["labels"]
        out.setdefault(labels.get("target", ""), set()).add(labels["alertname"])
    return out


def battery_low_targets(daemon: DaemonProcess) -> set[str]:
    return {t for t, names in alerts_by_target(daemon).items() if "BatteryLow" in names}


def snmp_runs(daemon: DaemonProcess) -> float:
    """SNMP polls completed, either outcome (both targets are SNMP)."""
    runs = daemon.metrics().get("continuity_check_runs_total", [])
    return sum(value for labels, value in runs if labels.get("kind") == "snmp")


def test_unknown_estimates_give_no_series_and_no_battery_low(tmp_path: Path) -> None:
    with SnmpsimAgent(tmp_path / "snmpsim") as sim:
        sim.put("gse", (DATA / "ups-unknown-estimates.snmprec").read_text().splitlines())
        sim.put("low", (DATA / "ups-low-battery.snmprec").read_text().splitlines())
        sim.start(wait_community="gse")
        daemon = DaemonProcess(CONFIG.format(port=sim.port), tmp_path).start()
        try:
            daemon.wait_for("continuity_ups_on_battery", 0.0, timeout=20, target="ups-gse")
            daemon.wait_for("continuity_ups_on_battery", 1.0, timeout=20, target="ups-low")
            wait_until(lambda: battery_low_targets(daemon) == {"ups-low"}, 20, "BatteryLow")
            polls = snmp_runs(daemon)
            wait_until(lambda: snmp_runs(daemon) >= polls + 4, 20, "two more polls of each UPS")
            assert battery_low_targets(daemon) == {"ups-low"}  # the unknown UPS: still nothing
            assert "ups-gse" not in alerts_by_target(daemon)  # no alert of any kind
            metrics = daemon.metrics()
        finally:
            daemon.stop()

    def targets(name: str) -> set[str]:
        return {labels.get("target", "") for labels, _value in metrics.get(name, [])}

    for name in ("continuity_ups_battery_runtime_seconds", "continuity_ups_battery_charge_ratio"):
        assert targets(name) == {"ups-low"}, name
    assert targets("continuity_ups_input_voltage_volts") == {"ups-gse", "ups-low"}
