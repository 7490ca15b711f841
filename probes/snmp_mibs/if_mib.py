"""if_mib (IF-MIB ifTable + ifXTable): interface status, octets, errors,
discards, speed and flaps of the selected interfaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitor.contract import MetricFamily, ProbeEvent
from probes import snmp_modules as m
from probes.snmp_codec import oid_to_ber

IF_TABLE_LAST_CHANGE: Final = oid_to_ber("1.3.6.1.2.1.31.1.5.0")
IF_DESCR: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.2")
IF_SPEED: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.5")
IF_ADMIN: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.7")
IF_OPER: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.8")
IF_LAST_CHANGE: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.9")
IF_IN_OCTETS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.10")
IF_IN_DISCARDS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.13")
IF_IN_ERRORS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.14")
IF_OUT_OCTETS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.16")
IF_OUT_DISCARDS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.19")
IF_OUT_ERRORS: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.20")
IF_NAME: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.1")
IF_HC_IN_OCTETS: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.6")
IF_HC_OUT_OCTETS: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.10")
IF_HIGH_SPEED: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.15")
IF_ALIAS: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.18")

IF_NAME_COLUMNS: Final = (IF_NAME, IF_DESCR, IF_ALIAS)
IF_STATUS_COLUMNS: Final = (IF_ADMIN, IF_OPER, IF_LAST_CHANGE)
IF_ERROR_COLUMNS: Final = (IF_IN_ERRORS, IF_OUT_ERRORS, IF_IN_DISCARDS, IF_OUT_DISCARDS)
IF_HC_COLUMNS: Final = (IF_HC_IN_OCTETS, IF_HC_OUT_OCTETS, IF_HIGH_SPEED)
IF_32_COLUMNS: Final = (IF_IN_OCTETS, IF_OUT_OCTETS, IF_SPEED)

IF_COUNTERS: Final = (
    ("continuity_snmp_interface_in_errors_total", IF_IN_ERRORS),
    ("continuity_snmp_interface_out_errors_total", IF_OUT_ERRORS),
    ("continuity_snmp_interface_in_discards_total", IF_IN_DISCARDS),
    ("continuity_snmp_interface_out_discards_total", IF_OUT_DISCARDS),
)
_OPER_UP: Final = frozenset({1, 5})  # up, dormant (dial-on-demand links idle by design)
_ADMIN_UP: Final = 1
_ADMIN_VALID: Final[m.Valid] = (1, 3)  # up, down, testing
_OPER_VALID: Final[m.Valid] = (1, 7)  # up .. lowerLayerDown


def if_mib_plan(plan: m.Plan, *, version: int, hc_missing: bool) -> None:
    plan.add(scalars=(IF_TABLE_LAST_CHANGE,), cached=IF_NAME_COLUMNS)
    # SNMPv1 has no Counter64: the 32-bit octet counters are all it can read.
    octets = IF_32_COLUMNS if version == 0 or hc_missing else IF_HC_COLUMNS
    plan.add(columns=(*IF_STATUS_COLUMNS, *octets, *IF_ERROR_COLUMNS))


def parse_if_mib(
    fetched: m.Fetched, out: m.Output, memory: m.ModuleMemory, select: m.InterfaceFilter
) -> None:
    """Interface status, counters and flaps of the selected interfaces."""
    admin = fetched.column(IF_ADMIN)
    oper = fetched.column(IF_OPER)
    if not admin and not oper:
        out.problem("no_such_object", "the agent has no ifTable (IF-MIB)")
        return
    names, descrs, aliases = (fetched.column(c) for c in IF_NAME_COLUMNS)
    figures = _IfFigures.of(fetched)
    seen: dict[str, bytes] = {}
    up_count = down_count = 0
    incomplete: list[str] = []
    for suffix in sorted(admin.keys() | oper.keys()):
        index = m.index_text(suffix)
        name = m.text(names.get(suffix)) or m.text(descrs.get(suffix)) or index
        alias = m.text(aliases.get(suffix)) or ""
        admin_cell, oper_cell = admin.get(suffix), oper.get(suffix)
        admin_code = m.ranged(out, admin_cell, f"ifAdminStatus.{index}", _ADMIN_VALID)
        oper_code = m.ranged(out, oper_cell, f"ifOperStatus.{index}", _OPER_VALID)
        if admin_code is None or oper_code is None:
            if m.number(admin_cell) is None or m.number(oper_cell) is None:
                incomplete.append(name)
            # else: a status outside the MIB's codes is unknown: no status, no flap.
            continue
        admin_up = admin_code == _ADMIN_UP
        if not select.selects(name, alias, admin_up):
            continue
        labels = (("interface", m.unique_label(name, suffix, seen)), ("alias", alias))
        out.sample("continuity_snmp_interface_admin_up", float(admin_up), *labels)
        if admin_up:
            is_up = oper_code in _OPER_UP
            up_count += is_up
            down_count += not is_up
            out.sample("continuity_snmp_interface_up", float(is_up), *labels)
            _track_flap(out, memory, suffix, is_up, labels)
        else:
            # Admin-down is intended: never "down", and its flap history ends.
            memory.oper_up.pop(suffix, None)
        out.sample("continuity_snmp_interface_oper_status", float(oper_code), *labels)
        out.sample("continuity_snmp_interface_flaps_total", memory.flaps.get(suffix, 0), *labels)
        figures.emit(out, suffix, labels)
    if incomplete:
        shown = ", ".join(incomplete[:5]) + (" ..." if len(incomplete) > 5 else "")
        out.problem(
            "bad_value",
            f"{len(incomplete)} interface(s) without a valid admin/oper status "
            f"(table ended early or wrong types): {shown}",
        )
    out.values["interfaces_up"] = float(up_count)
    out.values["interfaces_down"] = float(down_count)


def _track_flap(
    out: m.Output,
    memory: m.ModuleMemory,
    suffix: bytes,
    is_up: bool,
    labels: tuple[tuple[str, str], tuple[str, str]],
) -> None:
    before = memory.oper_up.get(suffix)
    memory.oper_up[suffix] = is_up
    if before is None or before == is_up:
        return
    memory.flaps[suffix] = memory.flaps.get(suffix, 0) + 1
    name = labels[0][1]
    kind = "InterfaceUp" if is_up else "InterfaceDown"
    message = f"interface {name} is {'up' if is_up else 'down'}"
    out.events.append(ProbeEvent(kind, message, labels=labels[:1] if not labels[1][1] else labels))


@dataclass(frozen=True)
class _IfFigures:
    """The counter and speed columns of one poll, HC (64-bit) where walked."""

    counters: tuple[tuple[str, m.Column], ...]
    speed: m.Column
    speed_scale: float
    last_change: m.Column

    @classmethod
    def of(cls, fetched: m.Fetched) -> _IfFigures:
        hc = IF_HC_IN_OCTETS in fetched.columns
        octets = (
            ("continuity_snmp_interface_in_octets_total", IF_HC_IN_OCTETS if hc else IF_IN_OCTETS),
            (
                "continuity_snmp_interface_out_octets_total",
                IF_HC_OUT_OCTETS if hc else IF_OUT_OCTETS,
            ),
        )
        return cls(
            counters=tuple(
                (metric, fetched.column(oid)) for metric, oid in (*octets, *IF_COUNTERS)
            ),
            speed=fetched.column(IF_HIGH_SPEED if hc else IF_SPEED),
            # ifHighSpeed is in Mbit/s, ifSpeed in bit/s; exported in bytes/s
            # (the base unit, and what rate() of the octet counters gives).
            speed_scale=125_000.0 if hc else 0.125,
            last_change=fetched.column(IF_LAST_CHANGE),
        )

    def emit(self, out: m.Output, suffix: bytes, labels: tuple[tuple[str, str], ...]) -> None:
        for metric, column in self.counters:
            value = m.number(column.get(suffix))
            if value is not None:
                out.sample(metric, value, *labels)
        speed = m.number(self.speed.get(suffix))
        if speed is not None:
            out.sample(
                "continuity_snmp_interface_speed_bytes_per_second",
                speed * self.speed_scale,
                *labels,
            )
        changed = m.number(self.last_change.get(suffix))
        if changed is not None:
            # ifLastChange is sysUpTime at the change, in centiseconds.
            out.sample("continuity_snmp_interface_last_change_seconds", changed / 100.0, *labels)


FAMILIES: Final = (
    MetricFamily(
        "continuity_snmp_interface_up",
        "gauge",
        "1 if an admin-up interface is operationally up, 0 if down.",
    ),
    MetricFamily(
        "continuity_snmp_interface_admin_up", "gauge", "1 if the interface is administratively up."
    ),
    MetricFamily(
        "continuity_snmp_interface_oper_status",
        "gauge",
        "ifOperStatus code (1 up, 2 down, 5 dormant, 7 lowerLayerDown, ...).",
    ),
    MetricFamily(
        "continuity_snmp_interface_flaps_total",
        "counter",
        "Oper-status changes of the admin-up interface seen by this monitor.",
    ),
    MetricFamily(
        "continuity_snmp_interface_in_octets_total",
        "counter",
        "Octets received (ifHCInOctets, else ifInOctets); resets on reboot.",
    ),
    MetricFamily(
        "continuity_snmp_interface_out_octets_total",
        "counter",
        "Octets sent (ifHCOutOctets, else ifOutOctets); resets on reboot.",
    ),
    MetricFamily(
        "continuity_snmp_interface_in_errors_total",
        "counter",
        "Inbound packets with errors (ifInErrors).",
    ),
    MetricFamily(
        "continuity_snmp_interface_out_errors_total",
        "counter",
        "Outbound packets with errors (ifOutErrors).",
    ),
    MetricFamily(
        "continuity_snmp_interface_in_discards_total",
        "counter",
        "Inbound packets discarded (ifInDiscards).",
    ),
    MetricFamily(
        "continuity_snmp_interface_out_discards_total",
        "counter",
        "Outbound packets discarded (ifOutDiscards).",
    ),
    MetricFamily(
        "continuity_snmp_interface_speed_bytes_per_second",
        "gauge",
        "Interface speed in bytes/s (ifHighSpeed x 125000, else ifSpeed / 8).",
    ),
    MetricFamily(
        "continuity_snmp_interface_last_change_seconds",
        "gauge",
        "sysUpTime, in seconds, at the interface's last status change.",
    ),
)


def _plan(plan: m.Plan, context: m.ModuleContext) -> None:
    if_mib_plan(plan, version=context.version, hc_missing=context.memory.hc_missing)


def _parse(fetched: m.Fetched, out: m.Output, context: m.ModuleContext) -> None:
    parse_if_mib(fetched, out, context.memory, context.interfaces)


MODULE: Final = m.SnmpModule(
    name="if_mib",
    description="ifTable + ifXTable: status, HC octets, errors, discards, speed, flaps",
    plan=_plan,
    parse=_parse,
    families=FAMILIES,
)
