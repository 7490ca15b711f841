"""A small sans-IO SNMP v1/v2c codec: BER messages in and out as pure functions.

Why our own: pysnmp decodes every varbind through generic ASN.1 machinery
(about 150 µs each), which at a thousand devices a minute costs cores. SNMP
v1/v2c messages use a tiny, fixed subset of BER, so encoding is a few byte
joins and decoding one loop over the varbind list.

Representation, chosen for the hot path:

* an OID is kept as the *content bytes* of its BER encoding (``b"+\\x06\\x01..."``
  for 1.3.6.1...). ``startswith`` on them is "is inside this subtree" (every
  sub-identifier encoding ends with an octet below 0x80, so a prefix at a
  sub-identifier boundary is a prefix of arcs), and :func:`oid_after` orders
  them as SNMP does without decoding, so walks never turn OIDs into tuples;
  :func:`oid_to_ber` / :func:`ber_to_oid` convert at the edges.
* a varbind is a plain tuple ``(oid_bytes, tag, value)`` where ``value`` is an
  ``int`` (INTEGER, Counter32, Gauge32, TimeTicks, Counter64), ``bytes``
  (OCTET STRING, IpAddress, Opaque), a tuple of ints (OBJECT IDENTIFIER) or
  ``None`` (NULL, noSuchObject, noSuchInstance, endOfMibView); ``tag`` says
  which.

Every malformed input raises :class:`SnmpCodecError` and nothing else; the
engine and the future trap receiver rely on that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "COUNTER32",
    "COUNTER64",
    "END_OF_MIB_VIEW",
    "ERROR_NAMES",
    "GAUGE32",
    "GET",
    "GETBULK",
    "GETNEXT",
    "INFORM",
    "INTEGER",
    "IPADDRESS",
    "NO_SUCH_INSTANCE",
    "NO_SUCH_OBJECT",
    "NULL",
    "OCTET_STRING",
    "OID",
    "OPAQUE",
    "REPORT",
    "RESPONSE",
    "SET",
    "TIMETICKS",
    "TRAP_V1",
    "TRAP_V2",
    "VERSION_1",
    "VERSION_2C",
    "VERSION_3",
    "Message",
    "SnmpCodecError",
    "TrapV1",
    "Value",
    "VarBind",
    "ber_header",
    "ber_integer",
    "ber_tlv",
    "ber_to_oid",
    "decode_message",
    "decode_pdu",
    "encode_message",
    "encode_request",
    "encode_request_pdu",
    "encode_trap_v1",
    "format_oid",
    "oid_after",
    "oid_to_ber",
    "parse_oid",
    "peek_request_id",
]

# Universal and SNMP application tags (RFC 1155/2578, RFC 3416).
INTEGER: Final = 0x02
OCTET_STRING: Final = 0x04
NULL: Final = 0x05
OID: Final = 0x06
SEQUENCE: Final = 0x30
IPADDRESS: Final = 0x40
COUNTER32: Final = 0x41
GAUGE32: Final = 0x42
TIMETICKS: Final = 0x43
OPAQUE: Final = 0x44
COUNTER64: Final = 0x46
NO_SUCH_OBJECT: Final = 0x80
NO_SUCH_INSTANCE: Final = 0x81
END_OF_MIB_VIEW: Final = 0x82

# PDU tags.
GET: Final = 0xA0
GETNEXT: Final = 0xA1
RESPONSE: Final = 0xA2
SET: Final = 0xA3
TRAP_V1: Final = 0xA4
GETBULK: Final = 0xA5
INFORM: Final = 0xA6
TRAP_V2: Final = 0xA7
REPORT: Final = 0xA8

VERSION_1: Final = 0
VERSION_2C: Final = 1
VERSION_3: Final = 3

_PDU_TAGS: Final = frozenset({GET, GETNEXT, RESPONSE, SET, GETBULK, INFORM, TRAP_V2, REPORT})
_INT_TAGS: Final = frozenset({INTEGER, COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
_BYTES_TAGS: Final = frozenset({OCTET_STRING, IPADDRESS, OPAQUE})
_EMPTY_TAGS: Final = frozenset({NULL, NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
_UNSIGNED_LIMIT: Final = {
    COUNTER32: 1 << 32,
    GAUGE32: 1 << 32,
    TIMETICKS: 1 << 32,
    COUNTER64: 1 << 64,
}
# Longest integer content accepted: Counter64 with a leading zero octet.
_MAX_INT_LEN: Final = 9

ERROR_NAMES: Final = (
    "noError",
    "tooBig",
    "noSuchName",
    "badValue",
    "readOnly",
    "genErr",
    "noAccess",
    "wrongType",
    "wrongLength",
    "wrongEncoding",
    "wrongValue",
    "noCreation",
    "inconsistentValue",
    "resourceUnavailable",
    "commitFailed",
    "undoFailed",
    "authorizationError",
    "notWritable",
    "inconsistentName",
)
"""RFC 3416 error-status names by number."""

Value = int | bytes | tuple[int, ...] | None
VarBind = tuple[bytes, int, Value]


class SnmpCodecError(ValueError):
    """The bytes are not a well-formed SNMP v1/v2c message (or a value cannot be encoded)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded v1/v2c message with a request-shaped PDU (everything but a v1 Trap).

    For GetBulk, ``error_status``/``error_index`` hold non-repeaters and
    max-repetitions, as on the wire.
    """

    version: int
    community: bytes
    pdu_type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]


@dataclass(frozen=True, slots=True)
class TrapV1:
    """A decoded SNMPv1 Trap-PDU (RFC 1157)."""

    community: bytes
    enterprise: tuple[int, ...]
    agent_address: bytes
    generic_trap: int
    specific_trap: int
    timestamp: int
    varbinds: list[VarBind]


# --------------------------------------------------------------------------
# OIDs
# --------------------------------------------------------------------------


def parse_oid(text: str) -> tuple[int, ...]:
    """``"1.3.6.1.2.1.1.3.0"`` (a leading dot allowed) -> a tuple of sub-identifiers."""
    body = text[1:] if text.startswith(".") else text
    parts = body.split(".")
    if len(parts) < 2 or not all(p.isdigit() and p.isascii() for p in parts):
        raise SnmpCodecError(f"expected a numeric OID such as '1.3.6.1.2.1.1.3.0', got {text!r}")
    oid = tuple(int(p) for p in parts)
    _check_oid(oid)
    return oid


def _check_oid(oid: Sequence[int]) -> None:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] > 39):
        raise SnmpCodecError(f"not a valid OID: {'.'.join(map(str, oid))}")
    if any(not 0 <= arc < (1 << 32) for arc in oid):
        raise SnmpCodecError("OID sub-identifiers must be between 0 and 4294967295")


def oid_to_ber(oid: Sequence[int] | str) -> bytes:
    """BER content octets of an OID (no tag or length)."""
    arcs = parse_oid(oid) if isinstance(oid, str) else oid
    _check_oid(arcs)
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = bytearray()
        rest = arc
        while rest:
            chunk.append((rest & 0x7F) | 0x80)
            rest >>= 7
        chunk[0] &= 0x7F
        chunk.reverse()
        out += chunk
    return bytes(out)


def decode_arcs(content: bytes | memoryview) -> list[int]:
    """Sub-identifiers of BER OID content *without* the first-two-arcs rule.

    Used for table indexes: the suffix of an OID after a column prefix.
    """
    arcs: list[int] = []
    value = 0
    pending = False
    for byte in content:
        if not pending and byte == 0x80:
            raise SnmpCodecError("OID sub-identifier with a leading 0x80 octet")
        value = (value << 7) | (byte & 0x7F)
        if byte & 0x80:
            pending = True
            continue
        arcs.append(value)
        value = 0
        pending = False
    if pending:
        raise SnmpCodecError("OID ends in the middle of a sub-identifier")
    return arcs


def ber_to_oid(content: bytes | memoryview) -> tuple[int, ...]:
    """The OID whose BER content octets are ``content``."""
    if not content:
        raise SnmpCodecError("empty OBJECT IDENTIFIER")
    arcs = decode_arcs(content)
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def oid_after(a: bytes, b: bytes, start: int = 0) -> bool:
    """Whether OID ``a`` comes after OID ``b`` (both BER content, equal before ``start``).

    Plain byte order is not OID order: 256 is ``82 00`` and 2^28 is
    ``81 80 80 80 00``. At the first differing octet, a longer encoding of
    that sub-identifier is the larger number; equal lengths compare by that
    octet.
    """
    n = min(len(a), len(b))
    i = start
    while i < n and a[i] == b[i]:
        i += 1
    if i == n:
        return len(a) > len(b)
    # Both sub-identifiers start at the same offset (all before i is equal),
    # so comparing where they end compares their encoded lengths.
    end_a = end_b = i
    while end_a < len(a) - 1 and a[end_a] & 0x80:
        end_a += 1
    while end_b < len(b) - 1 and b[end_b] & 0x80:
        end_b += 1
    if end_a != end_b:
        return end_a > end_b
    return a[i] > b[i]


def format_oid(oid: bytes | Sequence[int]) -> str:
    """Dotted text of an OID given as BER content or as sub-identifiers."""
    arcs = ber_to_oid(oid) if isinstance(oid, bytes | memoryview) else oid
    return ".".join(str(a) for a in arcs)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag,)) + _length(n) + content


def _int_content(value: int) -> bytes:
    """Minimal two's complement, as DER/pysnmp write it."""
    size = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(size, "big", signed=True)


_NULL_VALUE: Final = b"\x05\x00"
_INT_CACHE: Final = {i: _tlv(INTEGER, _int_content(i)) for i in range(128)}


def _integer(value: int) -> bytes:
    cached = _INT_CACHE.get(value)
    return cached if cached is not None else _tlv(INTEGER, _int_content(value))


ber_tlv: Final = _tlv
"""``ber_tlv(tag, content)``: one definite-length TLV (for the v3 message layer)."""
ber_integer: Final = _integer
"""``ber_integer(n)``: an INTEGER TLV in minimal two's complement."""


def encode_value(tag: int, value: Value) -> bytes:
    """One value as a complete TLV; checks that the Python value fits the tag."""
    if tag in _INT_TAGS:
        if not isinstance(value, int):
            raise SnmpCodecError(f"tag 0x{tag:02x} needs an int, got {type(value).__name__}")
        limit = _UNSIGNED_LIMIT.get(tag)
        if limit is not None and not 0 <= value < limit:
            raise SnmpCodecError(f"{value} does not fit tag 0x{tag:02x}")
        if tag == INTEGER and not -(1 << 31) <= value < (1 << 31):
            raise SnmpCodecError(f"{value} does not fit a 32-bit INTEGER")
        return _tlv(tag, _int_content(value))
    if tag in _BYTES_TAGS:
        if not isinstance(value, bytes):
            raise SnmpCodecError(f"tag 0x{tag:02x} needs bytes, got {type(value).__name__}")
        if tag == IPADDRESS and len(value) != 4:
            raise SnmpCodecError("an IpAddress is 4 octets")
        return _tlv(tag, value)
    if tag == OID:
        if not isinstance(value, tuple):
            raise SnmpCodecError("an OBJECT IDENTIFIER value needs a tuple of ints")
        return _tlv(OID, oid_to_ber(value))
    if tag in _EMPTY_TAGS:
        return bytes((tag, 0))
    raise SnmpCodecError(f"unsupported value tag 0x{tag:02x}")


def encode_request_pdu(
    pdu_type: int,
    request_id: int,
    oids: Iterable[bytes],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """The PDU TLV of a Get/GetNext/GetBulk request (the scoped PDU's data in v3)."""
    varbinds = b"".join(_tlv(SEQUENCE, _tlv(OID, oid) + _NULL_VALUE) for oid in oids)
    if pdu_type == GETBULK:
        status, index = non_repeaters, max_repetitions
    else:
        status = index = 0
    pdu = _integer(request_id) + _integer(status) + _integer(index) + _tlv(SEQUENCE, varbinds)
    return _tlv(pdu_type, pdu)


def _message(version: int, community: bytes, pdu: bytes) -> bytes:
    return _tlv(SEQUENCE, _integer(version) + _tlv(OCTET_STRING, community) + pdu)


def encode_request(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    oids: Iterable[bytes],
    *,
    non_repeaters: int = 0,
    max_repetitions: int = 0,
) -> bytes:
    """A Get/GetNext/GetBulk request for ``oids`` (BER content bytes), values NULL.

    The hot path of polling: one join per varbind and a few small concatenations.
    """
    pdu = encode_request_pdu(
        pdu_type,
        request_id,
        oids,
        non_repeaters=non_repeaters,
        max_repetitions=max_repetitions,
    )
    return _message(version, community, pdu)


def encode_message(
    version: int,
    community: bytes,
    pdu_type: int,
    request_id: int,
    varbinds: Iterable[VarBind],
    *,
    error_status: int = 0,
    error_index: int = 0,
) -> bytes:
    """Any request-shaped PDU with typed values (responses, v2 traps, informs)."""
    if pdu_type not in _PDU_TAGS:
        raise SnmpCodecError(f"not a request-shaped PDU type: 0x{pdu_type:02x}")
    body = b"".join(
        _tlv(SEQUENCE, _tlv(OID, oid) + encode_value(tag, value)) for oid, tag, value in varbinds
    )
    pdu = (
        _integer(request_id) + _integer(error_status) + _integer(error_index) + _tlv(SEQUENCE, body)
    )
    return _message(version, community, _tlv(pdu_type, pdu))


def encode_trap_v1(trap: TrapV1) -> bytes:
    """An SNMPv1 Trap message (for tests of the receiver and for tools)."""
    body = b"".join(
        _tlv(SEQUENCE, _tlv(OID, oid) + encode_value(tag, value))
        for oid, tag, value in trap.varbinds
    )
    pdu = (
        _tlv(OID, oid_to_ber(trap.enterprise))
        + encode_value(IPADDRESS, trap.agent_address)
        + _integer(trap.generic_trap)
        + _integer(trap.specific_trap)
        + encode_value(TIMETICKS, trap.timestamp)
        + _tlv(SEQUENCE, body)
    )
    return _message(VERSION_1, trap.community, _tlv(TRAP_V1, pdu))


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, content_start, content_end)`` of the TLV at ``pos``; bounds-checked."""
    if pos + 2 > end:
        raise SnmpCodecError("truncated TLV header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise SnmpCodecError("multi-octet tags are not used by SNMP")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0:
            raise SnmpCodecError("indefinite lengths are not allowed in SNMP")
        if size > 4 or pos + size > end:
            raise SnmpCodecError("bad length octets")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    stop = pos + length
    if stop > end:
        raise SnmpCodecError("length runs past the end of the enclosing value")
    return tag, pos, stop


ber_header: Final = _header
"""``ber_header(data, pos, end)`` -> ``(tag, content_start, content_end)``, bounds-checked."""


def _expect(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    got, start, stop = _header(data, pos, end)
    if got != tag:
        raise SnmpCodecError(f"expected {what} (tag 0x{tag:02x}), got tag 0x{got:02x}")
    return start, stop


def _int_at(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    start, stop = _expect(data, pos, end, INTEGER, what)
    if not 0 < stop - start <= _MAX_INT_LEN:
        raise SnmpCodecError(f"bad {what} length")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _value(tag: int, data: bytes, start: int, stop: int) -> Value:
    """Decode one value's content; unknown tags are an error."""
    if tag in _INT_TAGS:
        if not 0 < stop - start <= _MAX_INT_LEN:
            raise SnmpCodecError(f"bad integer length for tag 0x{tag:02x}")
        # Unsigned application types are decoded as unsigned even when an
        # agent forgot the leading zero octet, as net-snmp does.
        return int.from_bytes(data[start:stop], "big", signed=tag == INTEGER)
    if tag in _BYTES_TAGS:
        return data[start:stop]
    if tag in _EMPTY_TAGS:
        if stop != start:
            raise SnmpCodecError(f"tag 0x{tag:02x} must be empty")
        return None
    if tag == OID:
        return ber_to_oid(data[start:stop])
    raise SnmpCodecError(f"unsupported value tag 0x{tag:02x}")


def _varbinds(data: bytes, pos: int, end: int) -> list[VarBind]:
    start, stop = _expect(data, pos, end, SEQUENCE, "varbind list")
    if stop != end:
        raise SnmpCodecError("trailing bytes after the varbind list")
    out: list[VarBind] = []
    append = out.append
    pos = start
    while pos < stop:
        vb_start, vb_stop = _expect(data, pos, stop, SEQUENCE, "varbind")
        oid_start, oid_stop = _expect(data, vb_start, vb_stop, OID, "varbind name")
        if oid_stop == oid_start or data[oid_stop - 1] & 0x80:
            raise SnmpCodecError("bad varbind name")
        tag, v_start, v_stop = _header(data, oid_stop, vb_stop)
        if v_stop != vb_stop:
            raise SnmpCodecError("trailing bytes inside a varbind")
        append((data[oid_start:oid_stop], tag, _value(tag, data, v_start, v_stop)))
        pos = vb_stop
    return out


def _preamble(data: bytes) -> tuple[int, bytes, int, int, int]:
    """Version, community, and the PDU's tag/content bounds."""
    if not isinstance(data, bytes):
        data = bytes(data)
    end = len(data)
    start, stop = _expect(data, 0, end, SEQUENCE, "message")
    if stop != end:
        raise SnmpCodecError("trailing bytes after the message")
    version, pos = _int_at(data, start, stop, "version")
    if version not in (VERSION_1, VERSION_2C):
        raise SnmpCodecError(f"unsupported SNMP version number {version}")
    c_start, c_stop = _expect(data, pos, stop, OCTET_STRING, "community")
    pdu_type, p_start, p_stop = _header(data, c_stop, stop)
    if p_stop != stop:
        raise SnmpCodecError("trailing bytes after the PDU")
    return version, data[c_start:c_stop], pdu_type, p_start, p_stop


def decode_message(data: bytes) -> Message | TrapV1:
    """Decode a whole v1/v2c message. Raises :class:`SnmpCodecError` only."""
    try:
        version, community, pdu_type, start, stop = _preamble(data)
        if pdu_type == TRAP_V1:
            return _trap_v1(data, community, start, stop)
        if pdu_type not in _PDU_TAGS:
            raise SnmpCodecError(f"unknown PDU type 0x{pdu_type:02x}")
        request_id, pos = _int_at(data, start, stop, "request-id")
        error_status, pos = _int_at(data, pos, stop, "error-status")
        error_index, pos = _int_at(data, pos, stop, "error-index")
        varbinds = _varbinds(data, pos, stop)
    except SnmpCodecError:
        raise
    except (ValueError, TypeError, IndexError, OverflowError) as exc:  # pragma: no cover
        # Defence in depth: a bug above must still surface as a codec error.
        raise SnmpCodecError(f"malformed message: {exc}") from None
    return Message(version, community, pdu_type, request_id, error_status, error_index, varbinds)


def decode_pdu(data: bytes, pos: int, end: int) -> tuple[int, int, int, int, list[VarBind]]:
    """A request-shaped PDU TLV at ``pos`` filling ``[pos, end)`` exactly.

    Returns ``(pdu_type, request_id, error_status, error_index, varbinds)``;
    raises :class:`SnmpCodecError` only (the v3 layer decodes scoped PDUs with it).
    """
    try:
        pdu_type, start, stop = _header(data, pos, end)
        if stop != end:
            raise SnmpCodecError("trailing bytes after the PDU")
        if pdu_type not in _PDU_TAGS:
            raise SnmpCodecError(f"unknown PDU type 0x{pdu_type:02x}")
        request_id, pos = _int_at(data, start, stop, "request-id")
        error_status, pos = _int_at(data, pos, stop, "error-status")
        error_index, pos = _int_at(data, pos, stop, "error-index")
        return pdu_type, request_id, error_status, error_index, _varbinds(data, pos, stop)
    except SnmpCodecError:
        raise
    except (ValueError, TypeError, IndexError, OverflowError) as exc:  # pragma: no cover
        raise SnmpCodecError(f"malformed PDU: {exc}") from None


def _trap_v1(data: bytes, community: bytes, start: int, stop: int) -> TrapV1:
    e_start, e_stop = _expect(data, start, stop, OID, "enterprise")
    enterprise = ber_to_oid(data[e_start:e_stop])
    a_start, a_stop = _expect(data, e_stop, stop, IPADDRESS, "agent-addr")
    generic, pos = _int_at(data, a_stop, stop, "generic-trap")
    specific, pos = _int_at(data, pos, stop, "specific-trap")
    t_start, t_stop = _expect(data, pos, stop, TIMETICKS, "time-stamp")
    timestamp = _value(TIMETICKS, data, t_start, t_stop)
    assert isinstance(timestamp, int)
    varbinds = _varbinds(data, t_stop, stop)
    return TrapV1(
        community, enterprise, data[a_start:a_stop], generic, specific, timestamp, varbinds
    )


def peek_request_id(data: bytes) -> int | None:
    """The request-id of a v1/v2c response-like message, cheaply; ``None`` if not one.

    For an SNMPv3 message it is the msgID (the v3 client sends the same number
    as msgID and request-id: the request-id of an encrypted PDU cannot be read
    before decryption). The engine routes datagrams with this before anyone
    decodes the varbinds.
    """
    if _V3_VERSION in data[2:11]:
        msg_id = _peek_v3_msg_id(data)
        if msg_id is not None:
            return msg_id
    try:
        _version, _community, pdu_type, start, stop = _preamble(data)
        if pdu_type not in _PDU_TAGS:
            return None
        return _int_at(data, start, stop, "request-id")[0]
    except SnmpCodecError:
        return None


_V3_VERSION: Final = b"\x02\x01\x03"
"""msgVersion INTEGER 3, right after the message's SEQUENCE header (2 to 6 octets)."""


def _peek_v3_msg_id(data: bytes) -> int | None:
    """msgID of an SNMPv3 message (RFC 3412 msgGlobalData), or ``None``."""
    try:
        if not isinstance(data, bytes):
            data = bytes(data)
        end = len(data)
        start, stop = _expect(data, 0, end, SEQUENCE, "message")
        version, pos = _int_at(data, start, stop, "version")
        if version != VERSION_3:
            return None
        g_start, g_stop = _expect(data, pos, stop, SEQUENCE, "msgGlobalData")
        return _int_at(data, g_start, g_stop, "msgID")[0]
    except SnmpCodecError:
        return None
