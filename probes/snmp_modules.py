"""SNMP modules: what to fetch for ``system``, ``if_mib``, ``ups``, ``host``,
``entity_sensor`` and user-declared ``[snmp_modules.NAME]``, and how to turn
the fetched varbinds into samples, values and events.

A module is data plus a pure parse step. Its *plan* lists scalar OIDs to GET,
table columns to walk on every poll, and *cached* columns (index -> name
lookups such as ifName) that the prober re-walks only after a reboot, when
ifTableLastChange moves, or every :data:`LOOKUP_MAX_AGE` seconds. Its
*parse* reads a :class:`Fetched` (values keyed by OID bytes, see
:mod:`probes.snmp_codec`) and writes into an :class:`Output`, keeping
per-target memory (last oper status, UPS state, flap counters) in the
objects the prober hands it. Numeric OIDs only: no MIB compilation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.config_types import StrictModel
from monitor.contract import ProbeEvent, Sample
from monitor.regex import Regex
from probes.snmp_codec import (
    COUNTER32,
    COUNTER64,
    END_OF_MIB_VIEW,
    GAUGE32,
    INTEGER,
    IPADDRESS,
    NO_SUCH_INSTANCE,
    NO_SUCH_OBJECT,
    OCTET_STRING,
    OID,
    OPAQUE,
    TIMETICKS,
    SnmpCodecError,
    Value,
    decode_arcs,
    format_oid,
    oid_to_ber,
    parse_oid,
)

__all__ = [
    "BUILTIN_MODULES",
    "LOOKUP_MAX_AGE",
    "Fetched",
    "InterfaceFilter",
    "Lookup",
    "ModuleMemory",
    "Output",
    "Plan",
    "SnmpModulesSection",
    "UserModule",
    "parse_if_mib",
    "user_metric_name",
]

LOOKUP_MAX_AGE: Final = 900.0
"""Seconds after which cached index -> name lookups are walked again anyway
(an ifAlias edit does not move ifTableLastChange)."""

Cell = tuple[int, Value]
"""A fetched value with its BER tag."""
Column = dict[bytes, Cell]
"""A walked column: index suffix (BER bytes) -> value."""


def _o(text: str) -> bytes:
    return oid_to_ber(text)


# --- system (SNMPv2-MIB, SNMP-FRAMEWORK-MIB) -------------------------------
SYS_DESCR: Final = _o("1.3.6.1.2.1.1.1.0")
SYS_OBJECT_ID: Final = _o("1.3.6.1.2.1.1.2.0")
SYS_UPTIME: Final = _o("1.3.6.1.2.1.1.3.0")
SYS_NAME: Final = _o("1.3.6.1.2.1.1.5.0")
ENGINE_ID: Final = _o("1.3.6.1.6.3.10.2.1.1.0")
ENGINE_BOOTS: Final = _o("1.3.6.1.6.3.10.2.1.2.0")
ENGINE_TIME: Final = _o("1.3.6.1.6.3.10.2.1.3.0")

# --- if_mib (IF-MIB) -------------------------------------------------------
IF_TABLE_LAST_CHANGE: Final = _o("1.3.6.1.2.1.31.1.5.0")
IF_DESCR: Final = _o("1.3.6.1.2.1.2.2.1.2")
IF_SPEED: Final = _o("1.3.6.1.2.1.2.2.1.5")
IF_ADMIN: Final = _o("1.3.6.1.2.1.2.2.1.7")
IF_OPER: Final = _o("1.3.6.1.2.1.2.2.1.8")
IF_LAST_CHANGE: Final = _o("1.3.6.1.2.1.2.2.1.9")
IF_IN_OCTETS: Final = _o("1.3.6.1.2.1.2.2.1.10")
IF_IN_DISCARDS: Final = _o("1.3.6.1.2.1.2.2.1.13")
IF_IN_ERRORS: Final = _o("1.3.6.1.2.1.2.2.1.14")
IF_OUT_OCTETS: Final = _o("1.3.6.1.2.1.2.2.1.16")
IF_OUT_DISCARDS: Final = _o("1.3.6.1.2.1.2.2.1.19")
IF_OUT_ERRORS: Final = _o("1.3.6.1.2.1.2.2.1.20")
IF_NAME: Final = _o("1.3.6.1.2.1.31.1.1.1.1")
IF_HC_IN_OCTETS: Final = _o("1.3.6.1.2.1.31.1.1.1.6")
IF_HC_OUT_OCTETS: Final = _o("1.3.6.1.2.1.31.1.1.1.10")
IF_HIGH_SPEED: Final = _o("1.3.6.1.2.1.31.1.1.1.15")
IF_ALIAS: Final = _o("1.3.6.1.2.1.31.1.1.1.18")

# --- ups (RFC 1628 UPS-MIB) ------------------------------------------------
UPS_BATTERY_STATUS: Final = _o("1.3.6.1.2.1.33.1.2.1.0")
UPS_SECONDS_ON_BATTERY: Final = _o("1.3.6.1.2.1.33.1.2.2.0")
UPS_MINUTES_REMAINING: Final = _o("1.3.6.1.2.1.33.1.2.3.0")
UPS_CHARGE_REMAINING: Final = _o("1.3.6.1.2.1.33.1.2.4.0")
UPS_OUTPUT_SOURCE: Final = _o("1.3.6.1.2.1.33.1.4.1.0")
UPS_INPUT_VOLTAGE: Final = _o("1.3.6.1.2.1.33.1.3.3.1.3")
UPS_OUTPUT_LOAD: Final = _o("1.3.6.1.2.1.33.1.4.4.1.5")

# --- host (HOST-RESOURCES-MIB) ---------------------------------------------
HR_PROCESSOR_LOAD: Final = _o("1.3.6.1.2.1.25.3.3.1.2")
HR_STORAGE_DESCR: Final = _o("1.3.6.1.2.1.25.2.3.1.3")
HR_STORAGE_UNITS: Final = _o("1.3.6.1.2.1.25.2.3.1.4")
HR_STORAGE_SIZE: Final = _o("1.3.6.1.2.1.25.2.3.1.5")
HR_STORAGE_USED: Final = _o("1.3.6.1.2.1.25.2.3.1.6")

# --- entity_sensor (ENTITY-SENSOR-MIB, ENTITY-MIB) -------------------------
ENT_SENSOR_TYPE: Final = _o("1.3.6.1.2.1.99.1.1.1.1")
ENT_SENSOR_SCALE: Final = _o("1.3.6.1.2.1.99.1.1.1.2")
ENT_SENSOR_PRECISION: Final = _o("1.3.6.1.2.1.99.1.1.1.3")
ENT_SENSOR_VALUE: Final = _o("1.3.6.1.2.1.99.1.1.1.4")
ENT_SENSOR_STATUS: Final = _o("1.3.6.1.2.1.99.1.1.1.5")
ENT_PHYSICAL_NAME: Final = _o("1.3.6.1.2.1.47.1.1.1.1.7")

BUILTIN_MODULES: Final = ("system", "if_mib", "ups", "host", "entity_sensor")

_NUMBER_TAGS: Final = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_MISSING_TAGS: Final = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
_TAG_NAMES: Final = {
    INTEGER: "INTEGER",
    OCTET_STRING: "OCTET STRING",
    OID: "OBJECT IDENTIFIER",
    IPADDRESS: "IpAddress",
    COUNTER32: "Counter32",
    GAUGE32: "Gauge32",
    TIMETICKS: "TimeTicks",
    OPAQUE: "Opaque",
    COUNTER64: "Counter64",
    NO_SUCH_OBJECT: "noSuchObject",
    NO_SUCH_INSTANCE: "noSuchInstance",
    END_OF_MIB_VIEW: "endOfMibView",
    0x05: "NULL",
}

# ==========================================================================
# User modules: the [snmp_modules.NAME] section
# ==========================================================================

_NAME_RE: Final = re.compile(r"^[a-z_][a-z0-9_]*$")
_LABEL_RE: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the exporter or the snmp kind set themselves.
_RESERVED_LABELS: Final = frozenset({"target", "check", "state", "instance", "job"})


def _oid_text(value: str) -> str:
    try:
        parse_oid(value)
    except SnmpCodecError:
        raise ValueError(
            f"expected a numeric OID such as '1.3.6.1.4.1.9.2.1.58.0', got {value!r}"
        ) from None
    return value.lstrip(".")


def _label_name(value: str) -> str:
    if not _LABEL_RE.match(value) or value.startswith("__"):
        raise ValueError(
            f"label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __, got {value!r}"
        )
    if value in _RESERVED_LABELS:
        raise ValueError(f"{value!r} is set by the monitor itself; choose another label name")
    return value


OidText = Annotated[str, AfterValidator(_oid_text)]
LabelName = Annotated[str, AfterValidator(_label_name)]


class Lookup(StrictModel):
    """``lookup = { oid = "1.3.6.1.2.1.31.1.1.1.1", label = "interface" }``: a column
    indexed like the module's table whose (string) value becomes a label."""

    oid: OidText
    label: LabelName


class UserModule(StrictModel):
    """``[snmp_modules.NAME]``: one named OID (scalar) or table column.

    With ``index = []`` (the default) ``oid`` is fetched with GET, so name
    the instance (``...0`` for a scalar). With index labels it is walked as
    a column and each index sub-identifier becomes a label (the last label
    takes the rest of the index, dotted, when it is longer).
    """

    oid: OidText
    type: Literal["gauge", "counter", "info"] = "gauge"
    index: list[LabelName] = Field(default_factory=list)
    lookup: Lookup | None = None
    scale: float = 1.0
    help: str = ""
    min: int | None = None
    """Lowest valid raw value (the MIB's range); values outside are unknown: no sample."""
    max: int | None = None
    """Highest valid raw value; e.g. ``min = 0`` drops an agent's -1 for "unknown"."""

    @model_validator(mode="after")
    def _lookup_needs_index(self) -> UserModule:
        if self.lookup is not None and not self.index:
            raise ValueError("lookup needs index labels: a scalar has no index to look up")
        if self.lookup is not None and self.lookup.label in self.index:
            raise ValueError(f"lookup label {self.lookup.label!r} is also an index label")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


def _module_name_problem(name: str) -> str | None:
    if not _NAME_RE.match(name):
        return f"module names must match [a-z_][a-z0-9_]*, got {name!r}"
    if name in BUILTIN_MODULES:
        return f"{name!r} is a built-in module; choose another name"
    return None


class SnmpModulesSection(RootModel[dict[str, UserModule]]):
    """The top-level ``[snmp_modules]`` table: user module name -> definition."""

    model_config = ConfigDict(frozen=True, strict=True)

    @model_validator(mode="after")
    def _names(self) -> SnmpModulesSection:
        # Reported at snmp_modules.NAME (a key validator would say "[key]").
        errors = [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": problem}),
                loc=(name,),
                input=name,
            )
            for name in self.root
            if (problem := _module_name_problem(name)) is not None
        ]
        if errors:
            raise ValidationError.from_exception_data("snmp_modules", errors)
        return self


def user_metric_name(name: str, module: UserModule) -> str:
    """``continuity_snmp_<name>``, with ``_total`` for counters and ``_info`` for info."""
    base = f"continuity_snmp_{name}"
    if module.type == "counter" and not base.endswith("_total"):
        return base + "_total"
    if module.type == "info" and not base.endswith("_info"):
        return base + "_info"
    return base


# ==========================================================================
# Fetch plans, fetched data, output
# ==========================================================================


@dataclass
class Plan:
    """What the modules of one check need fetched."""

    scalars: list[bytes] = field(default_factory=list)
    columns: list[bytes] = field(default_factory=list)
    cached: list[bytes] = field(default_factory=list)

    def add(
        self,
        scalars: Iterable[bytes] = (),
        columns: Iterable[bytes] = (),
        cached: Iterable[bytes] = (),
    ) -> None:
        for target, items in (
            (self.scalars, scalars),
            (self.columns, columns),
            (self.cached, cached),
        ):
            for oid in items:
                if oid not in target:
                    target.append(oid)


@dataclass
class Fetched:
    """Scalars by OID and columns by column OID, as the agent returned them."""

    scalars: dict[bytes, Cell] = field(default_factory=dict)
    columns: dict[bytes, Column] = field(default_factory=dict)

    def column(self, oid: bytes) -> Column:
        return self.columns.get(oid) or {}


@dataclass
class Output:
    """What parsing produces: samples, named values, events and problems.

    A problem is ``(reason, message)``; the first one decides the result's
    reason, all of them go into its message.
    """

    samples: list[Sample] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    events: list[ProbeEvent] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    """Values outside their MIB range (``what=value``): not exported, no event."""

    def sample(self, name: str, value: float, *labels: tuple[str, str]) -> None:
        self.samples.append(Sample(name, float(value), labels))

    def problem(self, reason: str, message: str) -> None:
        self.problems.append((reason, message))

    def unknown(self, what: str, value: int) -> None:
        self.unknowns.append(f"{what}={value}")


@dataclass
class ModuleMemory:
    """Per-target state the modules keep between polls (on the prober, by target)."""

    oper_up: dict[bytes, bool] = field(default_factory=dict)
    flaps: dict[bytes, int] = field(default_factory=dict)
    hc_missing: bool = False
    on_battery: bool | None = None
    battery_low: bool | None = None


def type_name(tag: int) -> str:
    return _TAG_NAMES.get(tag, f"tag 0x{tag:02x}")


def number(cell: Cell | None) -> int | None:
    """An integer value, or ``None`` when absent or of another type."""
    if cell is None or cell[0] not in _NUMBER_TAGS:
        return None
    value = cell[1]
    return value if isinstance(value, int) else None


def text(cell: Cell | None) -> str | None:
    """A display string: OCTET STRING as UTF-8 (lenient), numbers and OIDs as text."""
    if cell is None:
        return None
    tag, value = cell
    if tag == OCTET_STRING and isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if tag == IPADDRESS and isinstance(value, bytes) and len(value) == 4:
        return ".".join(str(b) for b in value)
    if tag == OID and isinstance(value, tuple):
        return format_oid(value)
    if tag in _NUMBER_TAGS:
        return str(value)
    return None


def check_type(
    out: Output, cell: Cell | None, what: str, tags: frozenset[int] = _NUMBER_TAGS
) -> bool:
    """True if ``cell`` is present with an expected tag; records a problem otherwise."""
    if cell is None:
        return False
    if cell[0] in _MISSING_TAGS:
        out.problem("no_such_object", f"{what}: {type_name(cell[0])}")
        return False
    if cell[0] not in tags:
        out.problem("bad_value", f"{what} is {type_name(cell[0])}, expected a number")
        return False
    return True


Valid = tuple[int, int]
"""An inclusive ``(low, high)`` range of a MIB object's valid values."""
_INT32_MAX: Final = (1 << 31) - 1
NON_NEGATIVE: Final[Valid] = (0, _INT32_MAX)
POSITIVE: Final[Valid] = (1, _INT32_MAX)


def ranged(out: Output, cell: Cell | None, what: str, valid: Valid) -> int | None:
    """``number(cell)`` when it is inside the MIB's ``valid`` range, else ``None``.

    A value outside it is *unknown*, not a figure: agents answer -1 (or its
    unsigned twin 4294967295) for "cannot estimate". It is recorded on
    ``out.unknowns`` (counted and logged at debug by the prober) and never
    exported nor turned into an event.
    """
    value = number(cell)
    if value is None:
        return None
    if not valid[0] <= value <= valid[1]:
        out.unknown(what, value)
        return None
    return value


def index_text(suffix: bytes) -> str:
    try:
        return ".".join(str(a) for a in decode_arcs(suffix))
    except SnmpCodecError:
        return suffix.hex()


def unique_label(name: str, suffix: bytes, seen: dict[str, bytes]) -> str:
    """A label value not used yet in this poll (duplicate ifNames happen)."""
    if name not in seen:
        seen[name] = suffix
        return name
    unique = f"{name} ({index_text(suffix)})"
    seen[unique] = suffix
    return unique


# ==========================================================================
# system
# ==========================================================================

SYSTEM_SCALARS: Final = (SYS_UPTIME, SYS_NAME, SYS_DESCR, SYS_OBJECT_ID)


def parse_system(fetched: Fetched, out: Output) -> None:
    """sysName/sysDescr/sysObjectID as an info series (uptime is the prober's job)."""
    labels = []
    for oid, label in (
        (SYS_NAME, "sys_name"),
        (SYS_DESCR, "sys_descr"),
        (SYS_OBJECT_ID, "sys_object_id"),
    ):
        value = text(fetched.scalars.get(oid))
        if value is not None:
            labels.append((label, value[:256]))
    if labels:
        out.sample("continuity_snmp_system_info", 1.0, *labels)


# ==========================================================================
# if_mib
# ==========================================================================

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
_ADMIN_VALID: Final[Valid] = (1, 3)  # up, down, testing
_OPER_VALID: Final[Valid] = (1, 7)  # up .. lowerLayerDown


@dataclass(frozen=True)
class InterfaceFilter:
    """Which interfaces count: include/exclude regexes over name or alias, admin status."""

    include: Regex | None = None  # RE2: names and aliases come from the device
    exclude: Regex | None = None
    admin_down: Literal["include", "exclude"] = "include"

    def selects(self, name: str, alias: str, admin_up: bool) -> bool:
        if not admin_up and self.admin_down == "exclude":
            return False
        if self.include is not None and not (
            self.include.search(name) or (alias and self.include.search(alias))
        ):
            return False
        return not (
            self.exclude is not None
            and (self.exclude.search(name) or (alias and self.exclude.search(alias)))
        )


def if_mib_plan(plan: Plan, *, version: int, hc_missing: bool) -> None:
    plan.add(scalars=(IF_TABLE_LAST_CHANGE,), cached=IF_NAME_COLUMNS)
    # SNMPv1 has no Counter64: the 32-bit octet counters are all it can read.
    octets = IF_32_COLUMNS if version == 0 or hc_missing else IF_HC_COLUMNS
    plan.add(columns=(*IF_STATUS_COLUMNS, *octets, *IF_ERROR_COLUMNS))


def parse_if_mib(
    fetched: Fetched, out: Output, memory: ModuleMemory, select: InterfaceFilter
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
        index = index_text(suffix)
        name = text(names.get(suffix)) or text(descrs.get(suffix)) or index
        alias = text(aliases.get(suffix)) or ""
        admin_cell, oper_cell = admin.get(suffix), oper.get(suffix)
        admin_code = ranged(out, admin_cell, f"ifAdminStatus.{index}", _ADMIN_VALID)
        oper_code = ranged(out, oper_cell, f"ifOperStatus.{index}", _OPER_VALID)
        if admin_code is None or oper_code is None:
            if number(admin_cell) is None or number(oper_cell) is None:
                incomplete.append(name)
            # else: a status outside the MIB's codes is unknown: no status, no flap.
            continue
        admin_up = admin_code == _ADMIN_UP
        if not select.selects(name, alias, admin_up):
            continue
        labels = (("interface", unique_label(name, suffix, seen)), ("alias", alias))
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
    out: Output,
    memory: ModuleMemory,
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

    counters: tuple[tuple[str, Column], ...]
    speed: Column
    speed_scale: float
    last_change: Column

    @classmethod
    def of(cls, fetched: Fetched) -> _IfFigures:
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

    def emit(self, out: Output, suffix: bytes, labels: tuple[tuple[str, str], ...]) -> None:
        for metric, column in self.counters:
            value = number(column.get(suffix))
            if value is not None:
                out.sample(metric, value, *labels)
        speed = number(self.speed.get(suffix))
        if speed is not None:
            out.sample(
                "continuity_snmp_interface_speed_bytes_per_second",
                speed * self.speed_scale,
                *labels,
            )
        changed = number(self.last_change.get(suffix))
        if changed is not None:
            # ifLastChange is sysUpTime at the change, in centiseconds.
            out.sample("continuity_snmp_interface_last_change_seconds", changed / 100.0, *labels)


# ==========================================================================
# ups
# ==========================================================================

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
# Valid ranges from RFC 1628: upsOutputSource other(1)..reducer(7), the
# estimates PositiveInteger minutes and 0..100 percent, the load 0..200 %.
_SOURCE_VALID: Final[Valid] = (1, 7)
_STATUS_VALID: Final[Valid] = (1, 4)
_CHARGE_VALID: Final[Valid] = (0, 100)
_LOAD_VALID: Final[Valid] = (0, 200)


def parse_ups(fetched: Fetched, out: Output, memory: ModuleMemory, min_runtime: float) -> None:
    """RFC 1628 battery and power figures, and the OnBattery/BatteryLow/PowerRestored events."""
    scalars = fetched.scalars
    source_cell = scalars.get(UPS_OUTPUT_SOURCE)
    status_cell = scalars.get(UPS_BATTERY_STATUS)
    have_source = check_type(out, source_cell, "upsOutputSource")
    have_status = check_type(out, status_cell, "upsBatteryStatus")
    if not have_source and not have_status:
        if not out.problems:
            out.problem("no_such_object", "the agent has no UPS-MIB (upsOutputSource)")
        return
    seconds = ranged(out, scalars.get(UPS_SECONDS_ON_BATTERY), "upsSecondsOnBattery", NON_NEGATIVE)
    source = ranged(out, source_cell, "upsOutputSource", _SOURCE_VALID)
    on_battery = _on_battery(source, seconds)
    out.sample("continuity_ups_on_battery", float(on_battery))
    out.values["ups_on_battery"] = float(on_battery)
    status = ranged(out, status_cell, "upsBatteryStatus", _STATUS_VALID)
    if status is not None:
        for code, label in BATTERY_STATUS.items():
            out.sample("continuity_ups_battery_status", float(code == status), ("status", label))
        out.values["ups_battery_status"] = float(status)
    runtime = None
    minutes = scalars.get(UPS_MINUTES_REMAINING)
    if check_type(out, minutes, "upsEstimatedMinutesRemaining"):
        value = ranged(out, minutes, "upsEstimatedMinutesRemaining", POSITIVE)
        if value is not None:
            runtime = value * 60.0
            out.sample("continuity_ups_battery_runtime_seconds", runtime)
            out.values["ups_battery_runtime_seconds"] = runtime
    charge = scalars.get(UPS_CHARGE_REMAINING)
    if check_type(out, charge, "upsEstimatedChargeRemaining"):
        percent = ranged(out, charge, "upsEstimatedChargeRemaining", _CHARGE_VALID)
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


def _ups_lines(fetched: Fetched, out: Output) -> None:
    voltages: list[float] = []
    for suffix, cell in sorted(fetched.column(UPS_INPUT_VOLTAGE).items()):
        value = ranged(out, cell, f"upsInputVoltage.{index_text(suffix)}", NON_NEGATIVE)
        if value is not None:
            voltages.append(float(value))
            out.sample("continuity_ups_input_voltage_volts", value, ("line", index_text(suffix)))
    loads: list[float] = []
    for suffix, cell in sorted(fetched.column(UPS_OUTPUT_LOAD).items()):
        value = ranged(out, cell, f"upsOutputPercentLoad.{index_text(suffix)}", _LOAD_VALID)
        if value is not None:
            loads.append(value / 100.0)
            out.sample(
                "continuity_ups_output_load_ratio", value / 100.0, ("line", index_text(suffix))
            )
    if voltages:
        out.values["ups_input_voltage_volts"] = min(voltages)
    if loads:
        out.values["ups_output_load_ratio"] = max(loads)


def _ups_events(
    out: Output, memory: ModuleMemory, on_battery: bool, low: bool, runtime: float | None
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


# ==========================================================================
# host
# ==========================================================================

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


# ==========================================================================
# entity_sensor
# ==========================================================================

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
_SENSOR_TYPE_VALID: Final[Valid] = (1, 12)
_SENSOR_SCALE_VALID: Final[Valid] = (1, 17)
_SENSOR_PRECISION_VALID: Final[Valid] = (-8, 9)
_SENSOR_VALUE_VALID: Final[Valid] = (-1_000_000_000, 1_000_000_000)
_SENSOR_STATUS_VALID: Final[Valid] = (1, 3)


def parse_entity_sensor(fetched: Fetched, out: Output) -> None:
    """Temperature and voltage sensors (where present: no sensors is not an error)."""
    names = fetched.column(ENT_PHYSICAL_NAME)
    scales = fetched.column(ENT_SENSOR_SCALE)
    precisions = fetched.column(ENT_SENSOR_PRECISION)
    values = fetched.column(ENT_SENSOR_VALUE)
    statuses = fetched.column(ENT_SENSOR_STATUS)
    seen: dict[str, bytes] = {}
    for suffix, cell in sorted(fetched.column(ENT_SENSOR_TYPE).items()):
        row = index_text(suffix)
        metric = _SENSOR_METRICS.get(
            ranged(out, cell, f"entPhySensorType.{row}", _SENSOR_TYPE_VALID) or 0
        )
        if metric is None:
            continue
        raw = ranged(out, values.get(suffix), f"entPhySensorValue.{row}", _SENSOR_VALUE_VALID)
        status_cell = statuses.get(suffix)
        status = ranged(out, status_cell, f"entPhySensorOperStatus.{row}", _SENSOR_STATUS_VALID)
        if (
            raw is None
            or status not in (None, _SENSOR_OK)
            or (status is None and number(status_cell) is not None)
        ):
            continue
        scale_cell, precision_cell = scales.get(suffix), precisions.get(suffix)
        scale = ranged(out, scale_cell, f"entPhySensorScale.{row}", _SENSOR_SCALE_VALID)
        precision = ranged(
            out, precision_cell, f"entPhySensorPrecision.{row}", _SENSOR_PRECISION_VALID
        )
        if (scale is None and number(scale_cell) is not None) or (
            precision is None and number(precision_cell) is not None
        ):
            continue  # an unknown scale or precision makes the reading unknown
        scale = scale or _SCALE_UNITS
        precision = precision or 0
        value = raw * 10.0 ** (3 * (scale - _SCALE_UNITS) - precision)
        name = unique_label(text(names.get(suffix)) or index_text(suffix), suffix, seen)
        out.sample(metric, value, ("sensor", name))


# ==========================================================================
# user modules
# ==========================================================================


def user_plan(plan: Plan, module: UserModule) -> None:
    if not module.index:
        plan.add(scalars=(oid_to_ber(module.oid),))
        return
    plan.add(columns=(oid_to_ber(module.oid),))
    if module.lookup is not None:
        plan.add(cached=(oid_to_ber(module.lookup.oid),))


def parse_user(fetched: Fetched, out: Output, name: str, module: UserModule) -> None:
    """A user module's samples: one per scalar or per row of its column."""
    metric = user_metric_name(name, module)
    oid = oid_to_ber(module.oid)
    if not module.index:
        cell = fetched.scalars.get(oid)
        if cell is None or cell[0] in _MISSING_TAGS:
            shown = type_name(cell[0]) if cell is not None else "no value"
            out.problem("no_such_object", f"module {name}: {module.oid}: {shown}")
            return
        _user_sample(out, name=name, module=module, metric=metric, cell=cell, labels=())
        return
    column = fetched.column(oid)
    if not column:
        out.problem("no_such_object", f"module {name}: no rows under {module.oid}")
        return
    lookup = fetched.column(oid_to_ber(module.lookup.oid)) if module.lookup is not None else {}
    for suffix, cell in sorted(column.items()):
        labels = _index_labels(module.index, suffix)
        if module.lookup is not None:
            labels.append((module.lookup.label, text(lookup.get(suffix)) or index_text(suffix)))
        _user_sample(out, name=name, module=module, metric=metric, cell=cell, labels=tuple(labels))


def _index_labels(names: Sequence[str], suffix: bytes) -> list[tuple[str, str]]:
    try:
        arcs = [str(a) for a in decode_arcs(suffix)]
    except SnmpCodecError:
        arcs = [suffix.hex()]
    if len(arcs) > len(names):
        arcs = [*arcs[: len(names) - 1], ".".join(arcs[len(names) - 1 :])]
    return list(zip(names, arcs, strict=False))


def _user_sample(
    out: Output,
    *,
    name: str,
    module: UserModule,
    metric: str,
    cell: Cell,
    labels: tuple[tuple[str, str], ...],
) -> None:
    if module.type == "info":
        shown = text(cell)
        if shown is None:
            out.problem("bad_value", f"module {name}: {type_name(cell[0])} is not displayable")
            return
        out.sample(metric, 1.0, *labels, (name, shown[:256]))
        return
    value = number(cell)
    if value is None:
        out.problem("bad_value", f"module {name}: {type_name(cell[0])} is not a number")
        return
    if (module.min is not None and value < module.min) or (
        module.max is not None and value > module.max
    ):
        shown = ",".join(v for _l, v in labels)
        out.unknown(f"{name}{'{' + shown + '}' if shown else ''}", value)
        return
    out.sample(metric, value * module.scale, *labels)


# ==========================================================================
# Registry of built-ins
# ==========================================================================


BUILTIN_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "system": "sysUpTime, sysName, sysDescr, sysObjectID; reboots",
    "if_mib": "ifTable + ifXTable: status, HC octets, errors, discards, speed, flaps",
    "ups": "RFC 1628 UPS-MIB: on battery, runtime, charge, battery status, input voltage, load",
    "host": "HOST-RESOURCES-MIB: CPU load, storage",
    "entity_sensor": "ENTITY-SENSOR-MIB temperature and voltage sensors",
}
