"""SNMP modules: the description object every module is (:class:`SnmpModule`:
plan, parse, families), what they share (plans, fetched data, output, value
checks) and the user-declared ``[snmp_modules.NAME]``.

The built-in modules (``system``, ``if_mib``, ``ups``, ``host``,
``entity_sensor``) are one file each in :mod:`probes.snmp_mibs`, registered in
one dict there; a user module becomes the same object (:func:`user_module`).

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from monitor.contract import MetricFamily, ProbeEvent, Sample
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
)

__all__ = [
    "LOOKUP_MAX_AGE",
    "Fetched",
    "InterfaceFilter",
    "ModuleContext",
    "ModuleMemory",
    "Output",
    "Plan",
    "SnmpModule",
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


# --- always fetched (SNMPv2-MIB, SNMP-FRAMEWORK-MIB) ----------------------
SYS_UPTIME: Final = _o("1.3.6.1.2.1.1.3.0")
ENGINE_ID: Final = _o("1.3.6.1.6.3.10.2.1.1.0")
ENGINE_BOOTS: Final = _o("1.3.6.1.6.3.10.2.1.2.0")
ENGINE_TIME: Final = _o("1.3.6.1.6.3.10.2.1.3.0")


NUMBER_TAGS: Final = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
MISSING_TAGS: Final = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
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
    if cell is None or cell[0] not in NUMBER_TAGS:
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
    if tag in NUMBER_TAGS:
        return str(value)
    return None


def check_type(
    out: Output, cell: Cell | None, what: str, tags: frozenset[int] = NUMBER_TAGS
) -> bool:
    """True if ``cell`` is present with an expected tag; records a problem otherwise."""
    if cell is None:
        return False
    if cell[0] in MISSING_TAGS:
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
# The description object
# ==========================================================================


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


@dataclass(frozen=True, slots=True)
class ModuleContext:
    """What the prober hands a module besides the fetched data: the SNMP
    version (0 v1, 1 v2c, 3 v3), the target's memory and the check's settings
    that modules read."""

    version: int
    memory: ModuleMemory
    interfaces: InterfaceFilter = InterfaceFilter()
    battery_min_runtime: float = 0.0


@dataclass(frozen=True)
class SnmpModule:
    """One SNMP module: what to fetch (``plan``), how to read it (``parse``)
    and the metric families its samples belong to."""

    name: str
    description: str
    plan: Callable[[Plan, ModuleContext], None]
    parse: Callable[[Fetched, Output, ModuleContext], None]
    families: tuple[MetricFamily, ...] = ()
