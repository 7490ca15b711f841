"""host (HOST-RESOURCES-MIB): CPU load per processor and storage."""

from __future__ import annotations

from typing import Final

from monitor.contract import MetricFamily
from probes import snmp_modules as m
from probes.snmp_codec import oid_to_ber

HR_PROCESSOR_LOAD: Final = oid_to_ber("1.3.6.1.2.1.25.3.3.1.2")
HR_STORAGE_DESCR: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.3")
HR_STORAGE_UNITS: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.4")
HR_STORAGE_SIZE: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.5")
HR_STORAGE_USED: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.6")

HOST_COLUMNS: Final = (HR_PROCESSOR_LOAD, HR_STORAGE_UNITS, HR_STORAGE_SIZE, HR_STORAGE_USED)
_PERCENT: Final[m.Valid] = (0, 100)
HOST_CACHED: Final = (HR_STORAGE_DESCR,)


def parse_host(fetched: m.Fetched, out: m.Output) -> None:
    """HOST-RESOURCES CPU load per processor and storage size/used in bytes."""
    loads = []
    for suffix, cell in sorted(fetched.column(HR_PROCESSOR_LOAD).items()):
        value = m.ranged(out, cell, f"hrProcessorLoad.{m.index_text(suffix)}", _PERCENT)
        if value is not None:
            loads.append(value / 100.0)
            out.sample(
                "continuity_snmp_cpu_load_ratio", value / 100.0, ("cpu", m.index_text(suffix))
            )
    if loads:
        out.values["cpu_load_ratio"] = sum(loads) / len(loads)
    descrs = fetched.column(HR_STORAGE_DESCR)
    units = fetched.column(HR_STORAGE_UNITS)
    seen: dict[str, bytes] = {}
    for suffix, cell in sorted(fetched.column(HR_STORAGE_SIZE).items()):
        row = m.index_text(suffix)
        size = m.ranged(out, cell, f"hrStorageSize.{row}", m.NON_NEGATIVE)
        used_cell = fetched.column(HR_STORAGE_USED).get(suffix)
        used = m.ranged(out, used_cell, f"hrStorageUsed.{row}", m.NON_NEGATIVE)
        unit = m.ranged(out, units.get(suffix), f"hrStorageAllocationUnits.{row}", m.POSITIVE)
        if size is None or unit is None:
            continue
        name = m.unique_label(m.text(descrs.get(suffix)) or m.index_text(suffix), suffix, seen)
        out.sample("continuity_snmp_storage_size_bytes", size * unit, ("storage", name))
        if used is not None:
            out.sample("continuity_snmp_storage_used_bytes", used * unit, ("storage", name))
    if not loads and not seen:
        out.problem(
            "no_such_object", "the agent has no HOST-RESOURCES-MIB processor or storage table"
        )


FAMILIES: Final = (
    MetricFamily(
        "continuity_snmp_cpu_load_ratio", "gauge", "hrProcessorLoad per processor, 0 to 1."
    ),
    MetricFamily("continuity_snmp_storage_size_bytes", "gauge", "hrStorageSize in bytes."),
    MetricFamily("continuity_snmp_storage_used_bytes", "gauge", "hrStorageUsed in bytes."),
)


def _plan(plan: m.Plan, context: m.ModuleContext) -> None:
    plan.add(columns=HOST_COLUMNS, cached=HOST_CACHED)


def _parse(fetched: m.Fetched, out: m.Output, context: m.ModuleContext) -> None:
    parse_host(fetched, out)


MODULE: Final = m.SnmpModule(
    name="host",
    description="HOST-RESOURCES-MIB: CPU load, storage",
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
