"""system (SNMPv2-MIB): sysName, sysDescr and sysObjectID as an info series."""

from __future__ import annotations

from typing import Final

from monitor.contract import MetricFamily
from probes import snmp_modules as m
from probes.snmp_codec import oid_to_ber

SYS_DESCR: Final = oid_to_ber("1.3.6.1.2.1.1.1.0")
SYS_OBJECT_ID: Final = oid_to_ber("1.3.6.1.2.1.1.2.0")
SYS_NAME: Final = oid_to_ber("1.3.6.1.2.1.1.5.0")

SYSTEM_SCALARS: Final = (m.SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)


def parse_system(fetched: m.Fetched, out: m.Output) -> None:
    """sysName/sysDescr/sysObjectID as an info series (uptime is the prober's job)."""
    labels = []
    for oid, label in (
        (SYS_NAME, "sys_name"),
        (SYS_DESCR, "sys_descr"),
        (SYS_OBJECT_ID, "sys_object_id"),
    ):
        value = m.text(fetched.scalars.get(oid))
        if value is not None:
            labels.append((label, value[:256]))
    if labels:
        out.sample("continuity_snmp_system_info", 1.0, *labels)


FAMILIES: Final = (
    MetricFamily(
        "continuity_snmp_system_info", "info", "sysName, sysDescr and sysObjectID; always 1."
    ),
)


def _plan(plan: m.Plan, context: m.ModuleContext) -> None:
    plan.add(scalars=SYSTEM_SCALARS)


def _parse(fetched: m.Fetched, out: m.Output, context: m.ModuleContext) -> None:
    parse_system(fetched, out)


MODULE: Final = m.SnmpModule(
    name="system",
    description="sysUpTime, sysName, sysDescr, sysObjectID; reboots",
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
