"""entity_sensor (ENTITY-SENSOR-MIB, ENTITY-MIB): temperature and voltage
sensors, named by entPhysicalName.
"""

from __future__ import annotations

from typing import Final

from monitor.contract import MetricFamily
from probes import snmp_modules as m
from probes.snmp_codec import oid_to_ber

ENT_SENSOR_TYPE: Final = oid_to_ber("1.3.6.1.2.1.99.1.1.1.1")
ENT_SENSOR_SCALE: Final = oid_to_ber("1.3.6.1.2.1.99.1.1.1.2")
ENT_SENSOR_PRECISION: Final = oid_to_ber("1.3.6.1.2.1.99.1.1.1.3")
ENT_SENSOR_VALUE: Final = oid_to_ber("1.3.6.1.2.1.99.1.1.1.4")
ENT_SENSOR_STATUS: Final = oid_to_ber("1.3.6.1.2.1.99.1.1.1.5")
ENT_PHYSICAL_NAME: Final = oid_to_ber("1.3.6.1.2.1.47.1.1.1.1.7")

SENSOR_COLUMNS: Final = (
    ENT_SENSOR_TYPE,
    ENT_SENSOR_SCALE,
    ENT_SENSOR_PRECISION,
    ENT_SENSOR_VALUE,
    ENT_SENSOR_STATUS,
)
SENSOR_CACHED: Final = (ENT_PHYSICAL_NAME,)
_SENSOR_METRICS: Final = {
    8: "continuity_snmp_sensor_temperature_celsius",
    3: "continuity_snmp_sensor_voltage_volts",  # voltsAC
    4: "continuity_snmp_sensor_voltage_volts",  # voltsDC
}
_SCALE_UNITS: Final = 9  # entPhySensorScale: units(9); each step is 10^3
_SENSOR_OK: Final = 1
# ENTITY-SENSOR-MIB (RFC 3433) ranges.
_SENSOR_TYPE_VALID: Final[m.Valid] = (1, 12)
_SENSOR_SCALE_VALID: Final[m.Valid] = (1, 17)
_SENSOR_PRECISION_VALID: Final[m.Valid] = (-8, 9)
_SENSOR_VALUE_VALID: Final[m.Valid] = (-1_000_000_000, 1_000_000_000)
_SENSOR_STATUS_VALID: Final[m.Valid] = (1, 3)


def parse_entity_sensor(fetched: m.Fetched, out: m.Output) -> None:
    """Temperature and voltage sensors (where present: no sensors is not an error)."""
    names = fetched.column(ENT_PHYSICAL_NAME)
    scales = fetched.column(ENT_SENSOR_SCALE)
    precisions = fetched.column(ENT_SENSOR_PRECISION)
    values = fetched.column(ENT_SENSOR_VALUE)
    statuses = fetched.column(ENT_SENSOR_STATUS)
    seen: dict[str, bytes] = {}
    for suffix, cell in sorted(fetched.column(ENT_SENSOR_TYPE).items()):
        row = m.index_text(suffix)
        metric = _SENSOR_METRICS.get(
            m.ranged(out, cell, f"entPhySensorType.{row}", _SENSOR_TYPE_VALID) or 0
        )
        if metric is None:
            continue
        raw = m.ranged(out, values.get(suffix), f"entPhySensorValue.{row}", _SENSOR_VALUE_VALID)
        status_cell = statuses.get(suffix)
        status = m.ranged(out, status_cell, f"entPhySensorOperStatus.{row}", _SENSOR_STATUS_VALID)
        if (
            raw is None
            or status not in (None, _SENSOR_OK)
            or (status is None and m.number(status_cell) is not None)
        ):
            continue
        scale_cell, precision_cell = scales.get(suffix), precisions.get(suffix)
        scale = m.ranged(out, scale_cell, f"entPhySensorScale.{row}", _SENSOR_SCALE_VALID)
        precision = m.ranged(
            out, precision_cell, f"entPhySensorPrecision.{row}", _SENSOR_PRECISION_VALID
        )
        if (scale is None and m.number(scale_cell) is not None) or (
            precision is None and m.number(precision_cell) is not None
        ):
            continue  # an unknown scale or precision makes the reading unknown
        scale = scale or _SCALE_UNITS
        precision = precision or 0
        value = raw * 10.0 ** (3 * (scale - _SCALE_UNITS) - precision)
        name = m.unique_label(m.text(names.get(suffix)) or m.index_text(suffix), suffix, seen)
        out.sample(metric, value, ("sensor", name))


FAMILIES: Final = (
    MetricFamily(
        "continuity_snmp_sensor_temperature_celsius",
        "gauge",
        "ENTITY-SENSOR-MIB temperature sensors.",
    ),
    MetricFamily(
        "continuity_snmp_sensor_voltage_volts", "gauge", "ENTITY-SENSOR-MIB voltage sensors."
    ),
)


def _plan(plan: m.Plan, context: m.ModuleContext) -> None:
    plan.add(columns=SENSOR_COLUMNS, cached=SENSOR_CACHED)


def _parse(fetched: m.Fetched, out: m.Output, context: m.ModuleContext) -> None:
    parse_entity_sensor(fetched, out)


MODULE: Final = m.SnmpModule(
    name="entity_sensor",
    description="ENTITY-SENSOR-MIB temperature and voltage sensors",
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
