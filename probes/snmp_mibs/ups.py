"""ups (RFC 1628 UPS-MIB): on battery, runtime, charge, battery status,
input voltage and load; OnBattery/BatteryLow events.
"""

from __future__ import annotations

from typing import Final

from monitor.contract import MetricFamily, ProbeEvent
from probes import snmp_modules as m
from probes.snmp_codec import oid_to_ber

UPS_BATTERY_STATUS: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.1.0")
UPS_SECONDS_ON_BATTERY: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.2.0")
UPS_MINUTES_REMAINING: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.3.0")
UPS_CHARGE_REMAINING: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.4.0")
UPS_OUTPUT_SOURCE: Final = oid_to_ber("1.3.6.1.2.1.33.1.4.1.0")
UPS_INPUT_VOLTAGE: Final = oid_to_ber("1.3.6.1.2.1.33.1.3.3.1.3")
UPS_OUTPUT_LOAD: Final = oid_to_ber("1.3.6.1.2.1.33.1.4.4.1.5")

UPS_SCALARS: Final = (
    UPS_OUTPUT_SOURCE,
    UPS_BATTERY_STATUS,
    UPS_SECONDS_ON_BATTERY,
    UPS_MINUTES_REMAINING,
    UPS_CHARGE_REMAINING,
)
UPS_COLUMNS: Final = (UPS_INPUT_VOLTAGE, UPS_OUTPUT_LOAD)
BATTERY_STATUS: Final = {1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
_OUTPUT_ON_BATTERY: Final = 5
# m.Valid ranges from RFC 1628: upsOutputSource other(1)..reducer(7), the
# estimates PositiveInteger minutes and 0..100 percent, the load 0..200 %.
_SOURCE_VALID: Final[m.Valid] = (1, 7)
_STATUS_VALID: Final[m.Valid] = (1, 4)
_CHARGE_VALID: Final[m.Valid] = (0, 100)
_LOAD_VALID: Final[m.Valid] = (0, 200)


def parse_ups(
    fetched: m.Fetched, out: m.Output, memory: m.ModuleMemory, min_runtime: float
) -> None:
    """RFC 1628 battery and power figures, and the OnBattery/BatteryLow/PowerRestored events."""
    scalars = fetched.scalars
    source_cell = scalars.get(UPS_OUTPUT_SOURCE)
    status_cell = scalars.get(UPS_BATTERY_STATUS)
    have_source = m.check_type(out, source_cell, "upsOutputSource")
    have_status = m.check_type(out, status_cell, "upsBatteryStatus")
    if not have_source and not have_status:
        if not out.problems:
            out.problem("no_such_object", "the agent has no UPS-MIB (upsOutputSource)")
        return
    seconds = m.ranged(
        out, scalars.get(UPS_SECONDS_ON_BATTERY), "upsSecondsOnBattery", m.NON_NEGATIVE
    )
    source = m.ranged(out, source_cell, "upsOutputSource", _SOURCE_VALID)
    on_battery = _on_battery(source, seconds)
    out.sample("continuity_ups_on_battery", float(on_battery))
    out.values["ups_on_battery"] = float(on_battery)
    status = m.ranged(out, status_cell, "upsBatteryStatus", _STATUS_VALID)
    if status is not None:
        for code, label in BATTERY_STATUS.items():
            out.sample("continuity_ups_battery_status", float(code == status), ("status", label))
        out.values["ups_battery_status"] = float(status)
    runtime = None
    minutes = scalars.get(UPS_MINUTES_REMAINING)
    if m.check_type(out, minutes, "upsEstimatedMinutesRemaining"):
        value = m.ranged(out, minutes, "upsEstimatedMinutesRemaining", m.POSITIVE)
        if value is not None:
            runtime = value * 60.0
            out.sample("continuity_ups_battery_runtime_seconds", runtime)
            out.values["ups_battery_runtime_seconds"] = runtime
    charge = scalars.get(UPS_CHARGE_REMAINING)
    if m.check_type(out, charge, "upsEstimatedChargeRemaining"):
        percent = m.ranged(out, charge, "upsEstimatedChargeRemaining", _CHARGE_VALID)
        if percent is not None:
            out.sample("continuity_ups_battery_charge_ratio", percent / 100.0)
            out.values["ups_battery_charge_ratio"] = percent / 100.0
    if seconds is not None:
        out.sample("continuity_ups_seconds_on_battery", float(seconds))
    _ups_lines(fetched, out)
    low = (runtime is not None and runtime < min_runtime) or status in (3, 4)
    _ups_events(out, memory, on_battery, low, runtime)


def _on_battery(source: int | None, seconds_on_battery: int | None) -> bool:
    if source is not None:
        return source == _OUTPUT_ON_BATTERY
    return bool(seconds_on_battery)


def _ups_lines(fetched: m.Fetched, out: m.Output) -> None:
    voltages: list[float] = []
    for suffix, cell in sorted(fetched.column(UPS_INPUT_VOLTAGE).items()):
        value = m.ranged(out, cell, f"upsInputVoltage.{m.index_text(suffix)}", m.NON_NEGATIVE)
        if value is not None:
            voltages.append(float(value))
            out.sample("continuity_ups_input_voltage_volts", value, ("line", m.index_text(suffix)))
    loads: list[float] = []
    for suffix, cell in sorted(fetched.column(UPS_OUTPUT_LOAD).items()):
        value = m.ranged(out, cell, f"upsOutputPercentLoad.{m.index_text(suffix)}", _LOAD_VALID)
        if value is not None:
            loads.append(value / 100.0)
            out.sample(
                "continuity_ups_output_load_ratio", value / 100.0, ("line", m.index_text(suffix))
            )
    if voltages:
        out.values["ups_input_voltage_volts"] = min(voltages)
    if loads:
        out.values["ups_output_load_ratio"] = max(loads)


def _ups_events(
    out: m.Output, memory: m.ModuleMemory, on_battery: bool, low: bool, runtime: float | None
) -> None:
    left = f", {runtime / 60:.0f} min of battery left" if runtime is not None else ""
    figures = {"battery_runtime_seconds": runtime} if runtime is not None else {}
    # The first poll of a UPS already on battery is news too: nobody knew.
    if on_battery and memory.on_battery is not True:
        out.events.append(
            ProbeEvent("OnBattery", f"UPS is running on battery{left}", values=figures)
        )
    elif not on_battery and memory.on_battery is True:
        out.events.append(ProbeEvent("PowerRestored", "UPS input power is back", values=figures))
    if low and memory.battery_low is not True:
        out.events.append(ProbeEvent("BatteryLow", f"UPS battery is low{left}", values=figures))
    memory.on_battery = on_battery
    memory.battery_low = low


FAMILIES: Final = (
    MetricFamily(
        "continuity_ups_on_battery", "gauge", "1 while the UPS output is fed from its battery."
    ),
    MetricFamily(
        "continuity_ups_battery_runtime_seconds",
        "gauge",
        "Estimated battery runtime left (upsEstimatedMinutesRemaining).",
    ),
    MetricFamily(
        "continuity_ups_battery_charge_ratio", "gauge", "Estimated battery charge left, 0 to 1."
    ),
    MetricFamily(
        "continuity_ups_battery_status",
        "gauge",
        "1 for the current battery status among unknown, normal, low, depleted.",
    ),
    MetricFamily(
        "continuity_ups_seconds_on_battery",
        "gauge",
        "Seconds since the UPS switched to battery (0 on mains).",
    ),
    MetricFamily(
        "continuity_ups_input_voltage_volts", "gauge", "UPS input RMS voltage per input line."
    ),
    MetricFamily(
        "continuity_ups_output_load_ratio",
        "gauge",
        "UPS output load per output line, 0 to 1 (of rated capacity).",
    ),
)


def _plan(plan: m.Plan, context: m.ModuleContext) -> None:
    plan.add(scalars=UPS_SCALARS, columns=UPS_COLUMNS)


def _parse(fetched: m.Fetched, out: m.Output, context: m.ModuleContext) -> None:
    parse_ups(fetched, out, context.memory, context.battery_min_runtime)


MODULE: Final = m.SnmpModule(
    name="ups",
    description=(
        "RFC 1628 UPS-MIB: on battery, runtime, charge, battery status, input voltage, load"
    ),
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
