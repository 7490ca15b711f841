"""Notifications on the wire: v1 Trap, v2c Trap and InformRequest, and the v3 header.

Pure functions over bytes, built on the primitives of :mod:`probes.snmp_codec`
(which already decodes every v1/v2c PDU shape). What this module adds:

* :func:`peek_version`: the message version, read from the first few octets,
  so the receiver can route a datagram without decoding it;
* :func:`notification_of`: a decoded v1/v2c message as a :class:`Notification`
  in SNMPv2 form (RFC 3584 section 3.1: a v1 Trap-PDU becomes a
  ``snmpTrapOID`` plus its varbinds), or ``None`` for a PDU that is not a
  notification (a GetRequest sent to the trap port);
* :func:`inform_response`: the Response that acknowledges a v2c InformRequest
  (same request-id and varbinds, RFC 3416 section 4.2.7);
* :func:`decode_v3_header`: the cleartext part of an SNMPv3 message (flags,
  security model, authoritative engine ID, user name), enough to reject an
  unknown user or engine cheaply before USM processing, which pysnmp does;
* :func:`classify`: what a notification means for continuity, as the
  :class:`~monitor.contract.ProbeEvent` polling would produce for the same change
  (``linkDown`` is ``InterfaceDown`` labelled with ifName, else ifDescr, else
  ifIndex; ``coldStart``/``warmStart`` are ``DeviceRebooted``; the UPS-MIB's
  ``upsTrapOnBattery`` and battery alarms are ``OnBattery``, ``BatteryLow``,
  ``PowerRestored``), or ``None`` for an informational one.

Every malformed input raises :class:`~probes.snmp_codec.SnmpCodecError`, and
nothing else.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from monitor.contract import ProbeEvent

# The codec's TLV readers are module-private there; they are the primitives
# this module is meant to share (one BER reader, one set of bounds checks).
from probes.snmp_codec import (
    INFORM,
    IPADDRESS,
    OCTET_STRING,
    OID,
    RESPONSE,
    SEQUENCE,
    TIMETICKS,
    TRAP_V1,
    TRAP_V2,
    VERSION_1,
    VERSION_2C,
    Message,
    SnmpCodecError,
    TrapV1,
    VarBind,
    _expect,
    _header,
    _int_at,
    decode_arcs,
    encode_message,
    oid_to_ber,
)

__all__ = [
    "COLD_START",
    "LINK_DOWN",
    "LINK_UP",
    "SNMP_TRAP_ADDRESS",
    "SNMP_TRAP_OID",
    "SYS_UPTIME",
    "UPS_ALARM_ADDED",
    "UPS_ALARM_REMOVED",
    "UPS_ON_BATTERY",
    "VERSION_3",
    "WARM_START",
    "Notification",
    "V3Header",
    "classify",
    "decode_v3_header",
    "generic_trap_oid",
    "inform_response",
    "notification_from_varbinds",
    "notification_of",
    "peek_version",
]

VERSION_3: Final = 3
SYS_UPTIME: Final = oid_to_ber("1.3.6.1.2.1.1.3.0")
SNMP_TRAP_OID: Final = oid_to_ber("1.3.6.1.6.3.1.1.4.1.0")
SNMP_TRAP_ADDRESS: Final = oid_to_ber("1.3.6.1.6.3.18.1.3.0")
"""snmpTrapAddress.0 (RFC 3584): the originating agent, added by trap forwarders."""
_SNMP_TRAPS: Final = (1, 3, 6, 1, 6, 3, 1, 1, 5)
_ENTERPRISE_SPECIFIC: Final = 6
_USM: Final = 3


@dataclass(frozen=True, slots=True)
class Notification:
    """A trap or inform in SNMPv2 form, whatever version carried it.

    ``varbinds`` are the notification's objects without ``sysUpTime.0`` and
    ``snmpTrapOID.0`` (those are ``uptime`` and ``trap_oid``).
    ``agent_address`` is the v1 agent-addr or a forwarder's snmpTrapAddress.0,
    ``None`` when the message names no agent (then the UDP source is it).
    """

    version: int
    pdu_type: int
    trap_oid: tuple[int, ...]
    uptime: int | None
    varbinds: Sequence[VarBind]
    agent_address: str | None = None
    request_id: int = 0

    @property
    def is_inform(self) -> bool:
        return self.pdu_type == INFORM


def peek_version(data: bytes) -> int | None:
    """The msgVersion of an SNMP message (0, 1, 3, ...), or ``None`` if it is not one."""
    try:
        start, stop = _expect(data, 0, len(data), SEQUENCE, "message")
        if stop != len(data):
            return None
        return _int_at(data, start, stop, "version")[0]
    except SnmpCodecError:
        return None


def generic_trap_oid(generic: int, enterprise: tuple[int, ...], specific: int) -> tuple[int, ...]:
    """The snmpTrapOID of a v1 trap (RFC 3584 section 3.1, rules 2 and 3)."""
    if 0 <= generic < _ENTERPRISE_SPECIFIC:
        return (*_SNMP_TRAPS, generic + 1)
    if generic == _ENTERPRISE_SPECIFIC:
        if not 0 <= specific < (1 << 32):
            raise SnmpCodecError(f"specific-trap {specific} out of range")
        return (*enterprise, 0, specific)
    raise SnmpCodecError(f"generic-trap {generic} out of range")


def notification_of(message: Message | TrapV1) -> Notification | None:
    """A decoded v1/v2c message as a notification; ``None`` for other PDUs.

    A v1 Trap-PDU is accepted only in a v1 message and SNMPv2-Trap/Inform
    only in a v2c one, as RFC 3584 has it.
    """
    if isinstance(message, TrapV1):
        return Notification(
            VERSION_1,
            TRAP_V1,
            generic_trap_oid(message.generic_trap, message.enterprise, message.specific_trap),
            message.timestamp,
            message.varbinds,
            _agent_address(message.agent_address) or _forwarded_address(message.varbinds),
        )
    if message.version != VERSION_2C or message.pdu_type not in (TRAP_V2, INFORM):
        return None
    return notification_from_varbinds(
        message.version, message.pdu_type, message.varbinds, request_id=message.request_id
    )


def notification_from_varbinds(
    version: int, pdu_type: int, varbinds: Sequence[VarBind], *, request_id: int = 0
) -> Notification:
    """An SNMPv2-Trap or InformRequest from its varbind list (any version).

    RFC 3416 puts ``sysUpTime.0`` first and ``snmpTrapOID.0`` second; both
    are required, as net-snmp requires them.
    """
    if len(varbinds) < 2:
        raise SnmpCodecError("a notification needs sysUpTime.0 and snmpTrapOID.0")
    (up_oid, up_tag, uptime), (trap_name, trap_tag, trap_oid) = varbinds[0], varbinds[1]
    if up_oid != SYS_UPTIME or up_tag != TIMETICKS or not isinstance(uptime, int):
        raise SnmpCodecError("the first varbind of a notification must be sysUpTime.0")
    if trap_name != SNMP_TRAP_OID or trap_tag != OID or not isinstance(trap_oid, tuple):
        raise SnmpCodecError("the second varbind of a notification must be snmpTrapOID.0")
    rest = varbinds[2:]
    return Notification(
        version, pdu_type, trap_oid, uptime, rest, _forwarded_address(rest), request_id
    )


def _agent_address(raw: bytes) -> str | None:
    if len(raw) != 4 or raw == b"\0\0\0\0":
        return None  # some agents leave agent-addr empty: the UDP source is then the agent
    return str(ipaddress.IPv4Address(raw))


def _forwarded_address(varbinds: Sequence[VarBind]) -> str | None:
    for oid, tag, value in varbinds:
        if oid == SNMP_TRAP_ADDRESS and tag == IPADDRESS and isinstance(value, bytes):
            return _agent_address(value)
    return None


def inform_response(community: bytes, request_id: int, varbinds: Sequence[VarBind]) -> bytes:
    """The v2c Response acknowledging an InformRequest: same request-id and varbinds."""
    return encode_message(VERSION_2C, community, RESPONSE, request_id, varbinds)


@dataclass(frozen=True, slots=True)
class V3Header:
    """The cleartext header of an SNMPv3 message with the User-based Security Model."""

    msg_id: int
    flags: int
    engine_id: bytes
    user: bytes

    @property
    def authenticated(self) -> bool:
        return bool(self.flags & 0x01)


def decode_v3_header(data: bytes) -> V3Header:
    """msgGlobalData and the USM security parameters (RFC 3412 section 6, RFC 3414 2.4).

    Raises :class:`SnmpCodecError` for anything but a well-formed v3 USM header.
    The scoped PDU (often encrypted) is left alone.
    """
    end = len(data)
    start, stop = _expect(data, 0, end, SEQUENCE, "message")
    if stop != end:
        raise SnmpCodecError("trailing bytes after the message")
    version, pos = _int_at(data, start, stop, "msgVersion")
    if version != VERSION_3:
        raise SnmpCodecError(f"not an SNMPv3 message (version {version})")
    g_start, g_stop = _expect(data, pos, stop, SEQUENCE, "msgGlobalData")
    msg_id, gpos = _int_at(data, g_start, g_stop, "msgID")
    _max_size, gpos = _int_at(data, gpos, g_stop, "msgMaxSize")
    f_start, f_stop = _expect(data, gpos, g_stop, OCTET_STRING, "msgFlags")
    if f_stop - f_start != 1:
        raise SnmpCodecError("msgFlags must be one octet")
    model, gpos = _int_at(data, f_stop, g_stop, "msgSecurityModel")
    if gpos != g_stop:
        raise SnmpCodecError("trailing bytes in msgGlobalData")
    if model != _USM:
        raise SnmpCodecError(f"unsupported security model {model}")
    s_start, s_stop = _expect(data, g_stop, stop, OCTET_STRING, "msgSecurityParameters")
    engine_id, user = _usm_parameters(data, s_start, s_stop)
    _tag, _d_start, d_stop = _header(data, s_stop, stop)
    if d_stop != stop:
        raise SnmpCodecError("trailing bytes after msgData")
    return V3Header(msg_id, data[f_start], engine_id, user)


def _usm_parameters(data: bytes, start: int, stop: int) -> tuple[bytes, bytes]:
    p_start, p_stop = _expect(data, start, stop, SEQUENCE, "UsmSecurityParameters")
    if p_stop != stop:
        raise SnmpCodecError("trailing bytes after UsmSecurityParameters")
    e_start, e_stop = _expect(data, p_start, p_stop, OCTET_STRING, "msgAuthoritativeEngineID")
    _boots, pos = _int_at(data, e_stop, p_stop, "msgAuthoritativeEngineBoots")
    _time, pos = _int_at(data, pos, p_stop, "msgAuthoritativeEngineTime")
    u_start, u_stop = _expect(data, pos, p_stop, OCTET_STRING, "msgUserName")
    if u_stop - u_start > 32:
        raise SnmpCodecError("msgUserName is longer than 32 octets")
    return data[e_start:e_stop], data[u_start:u_stop]


# ==========================================================================
# What a notification means: the events polling produces (probes.snmp_modules)
# ==========================================================================

COLD_START: Final = (*_SNMP_TRAPS, 1)
WARM_START: Final = (*_SNMP_TRAPS, 2)
LINK_DOWN: Final = (*_SNMP_TRAPS, 3)
LINK_UP: Final = (*_SNMP_TRAPS, 4)
_UPS_TRAPS: Final = (1, 3, 6, 1, 2, 1, 33, 2)
UPS_ON_BATTERY: Final = (*_UPS_TRAPS, 1)
UPS_ALARM_ADDED: Final = (*_UPS_TRAPS, 3)
UPS_ALARM_REMOVED: Final = (*_UPS_TRAPS, 4)

_IF_INDEX: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.1")
_IF_DESCR: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.2")
_IF_ADMIN: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.7")
_IF_OPER: Final = oid_to_ber("1.3.6.1.2.1.2.2.1.8")
_IF_NAME: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.1")
_IF_ALIAS: Final = oid_to_ber("1.3.6.1.2.1.31.1.1.1.18")
_IF_COLUMNS: Final = (_IF_INDEX, _IF_DESCR, _IF_ADMIN, _IF_OPER, _IF_NAME, _IF_ALIAS)
_UPS_MINUTES_REMAINING: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.3.0")
_UPS_SECONDS_ON_BATTERY: Final = oid_to_ber("1.3.6.1.2.1.33.1.2.2.0")
_UPS_ALARM_DESCR: Final = oid_to_ber("1.3.6.1.2.1.33.1.6.2.1.2")
_UPS_WELL_KNOWN: Final = (1, 3, 6, 1, 2, 1, 33, 1, 6, 3)
_ALARM_ON_BATTERY: Final = (*_UPS_WELL_KNOWN, 2)
_ALARM_LOW_BATTERY: Final = (*_UPS_WELL_KNOWN, 3)
_ALARM_DEPLETED_BATTERY: Final = (*_UPS_WELL_KNOWN, 4)


def _text(tag: int, value: object) -> str:
    if tag == OCTET_STRING and isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return ""


def _instance(oid: bytes, column: bytes) -> str | None:
    """The index after ``column`` in ``oid`` (``"3"`` for ifDescr.3), if inside it."""
    if len(oid) <= len(column) or not oid.startswith(column):
        return None
    try:
        return ".".join(str(arc) for arc in decode_arcs(oid[len(column) :]))
    except SnmpCodecError:
        return None


def _reboot(notification: Notification, name: str) -> ProbeEvent:
    values = {}
    if notification.uptime is not None:
        values["uptime_seconds"] = notification.uptime / 100.0
    return ProbeEvent("DeviceRebooted", f"device restarted ({name} trap)", values=values)


def _link(notification: Notification, up: bool) -> ProbeEvent:
    """InterfaceUp/Down labelled like polling: ifName, else ifDescr, else ifIndex."""
    found: dict[bytes, str] = {}
    index: str | None = None
    for oid, tag, value in notification.varbinds:
        for column in _IF_COLUMNS:
            suffix = _instance(oid, column)
            if suffix is None:
                continue
            index = index or suffix
            found[column] = _text(tag, value)
    name = found.get(_IF_NAME) or found.get(_IF_DESCR) or index or "unknown"
    labels: tuple[tuple[str, str], ...] = (("interface", name),)
    if found.get(_IF_ALIAS):
        labels += (("alias", found[_IF_ALIAS]),)
    values = {"if_index": float(index)} if index and index.isdigit() else {}
    state = "up" if up else "down"
    trap = "linkUp" if up else "linkDown"
    return ProbeEvent(
        "InterfaceUp" if up else "InterfaceDown",
        f"interface {name} is {state} ({trap} trap)",
        labels=labels,
        values=values,
    )


def _ups_figures(notification: Notification) -> dict[str, float]:
    figures: dict[str, float] = {}
    for oid, _tag, value in notification.varbinds:
        if not isinstance(value, int):
            continue
        if oid == _UPS_MINUTES_REMAINING:
            figures["battery_runtime_seconds"] = value * 60.0
        elif oid == _UPS_SECONDS_ON_BATTERY:
            figures["seconds_on_battery"] = float(value)
    return figures


def _battery_left(figures: Mapping[str, float]) -> str:
    runtime = figures.get("battery_runtime_seconds")
    return f", {runtime / 60:.0f} min of battery left" if runtime is not None else ""


def _on_battery(notification: Notification) -> ProbeEvent:
    figures = _ups_figures(notification)
    return ProbeEvent(
        "OnBattery",
        f"UPS is running on battery{_battery_left(figures)} (upsTrapOnBattery)",
        values=figures,
    )


def _ups_alarm(notification: Notification, added: bool) -> ProbeEvent | None:
    """upsTrapAlarmEntryAdded/Removed for the battery alarms; other alarms inform only."""
    alarm = next(
        (
            value
            for oid, _tag, value in notification.varbinds
            if oid.startswith(_UPS_ALARM_DESCR) and isinstance(value, tuple)
        ),
        None,
    )
    figures = _ups_figures(notification)
    left = _battery_left(figures)
    if alarm == _ALARM_ON_BATTERY:
        if added:
            return ProbeEvent(
                "OnBattery", f"UPS is running on battery{left} (alarm)", values=figures
            )
        return ProbeEvent(
            "PowerRestored", "UPS input power is back (alarm cleared)", values=figures
        )
    if added and alarm in (_ALARM_LOW_BATTERY, _ALARM_DEPLETED_BATTERY):
        return ProbeEvent("BatteryLow", f"UPS battery is low{left} (alarm)", values=figures)
    return None


_HANDLERS: Final[dict[tuple[int, ...], Callable[[Notification], ProbeEvent | None]]] = {
    COLD_START: lambda n: _reboot(n, "coldStart"),
    WARM_START: lambda n: _reboot(n, "warmStart"),
    LINK_DOWN: lambda n: _link(n, up=False),
    LINK_UP: lambda n: _link(n, up=True),
    UPS_ON_BATTERY: _on_battery,
    UPS_ALARM_ADDED: lambda n: _ups_alarm(n, added=True),
    UPS_ALARM_REMOVED: lambda n: _ups_alarm(n, added=False),
}


def classify(notification: Notification) -> ProbeEvent | None:
    """The event a notification means, or ``None`` for an informational one.

    A v1 enterprise trap arrives as ``enterprise.0.specific`` (RFC 3584);
    the UPS-MIB's SMIv2 names have no ``.0``, so both spellings match.
    """
    oid = notification.trap_oid
    handler = _HANDLERS.get(oid)
    if handler is None and len(oid) > 2 and oid[-2] == 0:
        handler = _HANDLERS.get((*oid[:-2], oid[-1]))
    return handler(notification) if handler is not None else None
