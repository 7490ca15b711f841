"""host (HOST-RESOURCES-MIB): CPU load per processor and storage.

One SNMP module: numeric OIDs, a plan, a pure parse step and its families
(see :mod:`probes.snmp_modules`).
"""

from __future__ import annotations

from typing import Final

from monitor.contract import MetricFamily
from probes.snmp_codec import (
    oid_to_ber,
)
from probes.snmp_modules import (
    NON_NEGATIVE,
    POSITIVE,
    Fetched,
    ModuleContext,
    Output,
    Plan,
    SnmpModule,
    Valid,
    index_text,
    ranged,
    text,
    unique_label,
)

HR_PROCESSOR_LOAD: Final = oid_to_ber("1.3.6.1.2.1.25.3.3.1.2")
HR_STORAGE_DESCR: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.3")
HR_STORAGE_UNITS: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.4")
HR_STORAGE_SIZE: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.5")
HR_STORAGE_USED: Final = oid_to_ber("1.3.6.1.2.1.25.2.3.1.6")

HOST_COLUMNS: Final = (HR_PROCESSOR_LOAD, HR_STORAGE_UNITS, HR_STORAGE_SIZE, HR_STORAGE_USED)
_PERCENT: Final[Valid] = (0, 100)
HOST_CACHED: Final = (HR_STORAGE_DESCR,)


def parse_host(fetched: Fetched, out: Output) -> None:
    """HOST-RESOURCES CPU load per processor and storage size/used in bytes."""
    loads = []
    for suffix, cell in sorted(fetched.column(HR_PROCESSOR_LOAD).items()):
        value = ranged(out, cell, f"hrProcessorLoad.{index_text(suffix)}", _PERCENT)
        if value is not None:
            loads.append(value / 100.0)
            out.sample("continuity_snmp_cpu_load_ratio", value / 100.0, ("cpu", index_text(suffix)))
    if loads:
        out.values["cpu_load_ratio"] = sum(loads) / len(loads)
    descrs = fetched.column(HR_STORAGE_DESCR)
    units = fetched.column(HR_STORAGE_UNITS)
    seen: dict[str, bytes] = {}
    for suffix, cell in sorted(fetched.column(HR_STORAGE_SIZE).items()):
        row = index_text(suffix)
        size = ranged(out, cell, f"hrStorageSize.{row}", NON_NEGATIVE)
        used_cell = fetched.column(HR_STORAGE_USED).get(suffix)
        used = ranged(out, used_cell, f"hrStorageUsed.{row}", NON_NEGATIVE)
        unit = ranged(out, units.get(suffix), f"hrStorageAllocationUnits.{row}", POSITIVE)
        if size is None or unit is None:
            continue
        name = unique_label(text(descrs.get(suffix)) or index_text(suffix), suffix, seen)
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


def _plan(plan: Plan, context: ModuleContext) -> None:
    plan.add(columns=HOST_COLUMNS, cached=HOST_CACHED)


def _parse(fetched: Fetched, out: Output, context: ModuleContext) -> None:
    parse_host(fetched, out)


MODULE: Final = SnmpModule(
    name="host",
    description="HOST-RESOURCES-MIB: CPU load, storage",
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
