"""ICMP echo packets as bytes: pure build and parse functions, no sockets.

The engine (:mod:`probes.icmp_engine`) stays thin by handing every packet it
reads to one of the ``parse_*`` functions below, which answer with an
:class:`EchoReply`, an :class:`EchoError` or ``None``. They never raise: a
raw ICMP socket sees every ICMP packet reaching the host (other processes'
pings, errors about someone's UDP traffic, garbage), so anything that is not
clearly an answer to one of *our* echoes is ``None``.

"Ours" means: the echo carries the engine's random cookie at the start of
its payload. Identifiers alone are not enough (another process may pick the
same one, and on datagram ping sockets the kernel chooses it), and the
cookie is cheaper to compare than a checksum is to verify.

Socket flavours and what a read returns:

* IPv4 raw (``SOCK_RAW``): the IP header (variable length, IHL) then ICMP.
* IPv4 datagram ping socket (``SOCK_DGRAM, IPPROTO_ICMP``): ICMP only; the
  kernel rewrites the identifier to the socket's "port" and fills the
  checksum; ICMP errors arrive on the error queue (``IP_RECVERR``).
* IPv6 raw or datagram: ICMPv6 only (no IP header); the kernel always
  computes the ICMPv6 checksum, which covers a pseudo-header we don't see.
"""

from __future__ import annotations

import socket
import struct
from typing import Final, Literal, NamedTuple

# --------------------------------------------------------------------------
# Protocol constants (RFC 792, RFC 4443)
# --------------------------------------------------------------------------

ICMP_ECHO_REPLY: Final = 0
ICMP_DEST_UNREACH: Final = 3
ICMP_ECHO_REQUEST: Final = 8
ICMP_TIME_EXCEEDED: Final = 11

ICMP6_DEST_UNREACH: Final = 1
ICMP6_TIME_EXCEEDED: Final = 3
ICMP6_ECHO_REQUEST: Final = 128
ICMP6_ECHO_REPLY: Final = 129

IPPROTO_ICMP: Final = 1
IPPROTO_ICMPV6: Final = 58

ECHO_HEADER_LEN: Final = 8
IPV6_HEADER_LEN: Final = 40
COOKIE_LEN: Final = 8
"""Length of the per-engine random cookie that starts every payload we send."""

# sock_extended_err.ee_origin values (linux/errqueue.h)
SO_EE_ORIGIN_ICMP: Final = 2
SO_EE_ORIGIN_ICMP6: Final = 3

_HEADER: Final = struct.Struct("!BBHHH")
_EXTENDED_ERR: Final = struct.Struct("=IBBBBII")

ErrorReason = Literal["unreachable", "ttl_exceeded"]

_V4_UNREACH_CODES: Final = {
    0: "network unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "destination network unknown",
    7: "destination host unknown",
    9: "network administratively prohibited",
    10: "host administratively prohibited",
    11: "network unreachable for TOS",
    12: "host unreachable for TOS",
    13: "communication administratively prohibited",
}
_V6_UNREACH_CODES: Final = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed policy",
    6: "reject route to destination",
}


class EchoReply(NamedTuple):
    """An echo reply to one of our requests (cookie checked)."""

    ident: int
    seq: int


class EchoError(NamedTuple):
    """An ICMP error quoting one of our echo requests.

    ``destination`` is the address the quoted request was sent to (text, as
    :func:`socket.inet_ntop` writes it) so the engine can check it against
    the probe that is waiting; ``None`` when the packet does not carry it
    (error-queue reads, where the socket address supplies it instead).
    """

    ident: int
    seq: int
    reason: ErrorReason
    icmp_type: int
    icmp_code: int
    destination: str | None


Parsed = EchoReply | EchoError


# --------------------------------------------------------------------------
# Building echo requests
# --------------------------------------------------------------------------


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 ones'-complement checksum of ``data``."""
    return _fold(_sum16(data))


def _sum16(data: bytes) -> int:
    """Sum of the big-endian 16-bit words of ``data`` (zero-padded), unfolded."""
    if len(data) % 2:
        data += b"\x00"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make_payload(cookie: bytes, size: int) -> bytes:
    """The echo payload: the cookie, then a fixed filler up to ``size`` bytes.

    The payload is never shorter than the cookie, so ``payload_size = 0``
    still sends the cookie: without it replies to other processes' pings
    could not be told apart from ours.
    """
    filler = bytes(i & 0xFF for i in range(max(size - len(cookie), 0)))
    return cookie + filler


def checksum_base(payload: bytes, *, v6: bool = False) -> int:
    """The unfolded checksum sum of an echo request minus identifier and sequence.

    Computed once per payload; :func:`build_echo_request` then adds the two
    16-bit fields and folds, so the per-echo cost does not grow with the
    payload size.
    """
    echo_type = ICMP6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    return (echo_type << 8) + _sum16(payload)


def build_echo_request(
    ident: int, seq: int, payload: bytes, *, v6: bool = False, base: int | None = None
) -> bytes:
    """An ICMP (or ICMPv6) echo request with ``payload``.

    For IPv6 the checksum field is left zero: the kernel computes it over
    the IPv6 pseudo-header for raw and datagram ICMPv6 sockets alike. Pass
    ``base`` from :func:`checksum_base` to skip summing the payload again.
    """
    if v6:
        return _HEADER.pack(ICMP6_ECHO_REQUEST, 0, 0, ident, seq) + payload
    if base is None:
        base = checksum_base(payload)
    checksum = _fold(base + ident + seq)
    return _HEADER.pack(ICMP_ECHO_REQUEST, 0, checksum, ident, seq) + payload


# --------------------------------------------------------------------------
# Parsing what a socket reads
# --------------------------------------------------------------------------


def parse_v4_raw(packet: bytes, cookie: bytes) -> Parsed | None:
    """Parse a read from a raw IPv4 ICMP socket (IP header included)."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != IPPROTO_ICMP:
        return None
    ihl = (packet[0] & 0x0F) * 4
    if ihl < 20:
        return None
    return parse_v4_icmp(packet[ihl:], cookie)


def parse_v4_dgram(packet: bytes, cookie: bytes) -> Parsed | None:
    """Parse a read from an IPv4 datagram ping socket (ICMP only)."""
    return parse_v4_icmp(packet, cookie)


def parse_v4_icmp(icmp: bytes, cookie: bytes) -> Parsed | None:
    """Parse an ICMPv4 message: an echo reply or an error quoting our echo."""
    if len(icmp) < ECHO_HEADER_LEN:
        return None
    icmp_type = icmp[0]
    if icmp_type == ICMP_ECHO_REPLY:
        return _echo_reply(icmp, cookie)
    if icmp_type == ICMP_DEST_UNREACH:
        return _v4_error(icmp, cookie, "unreachable")
    if icmp_type == ICMP_TIME_EXCEEDED:
        return _v4_error(icmp, cookie, "ttl_exceeded")
    return None


def parse_v6(packet: bytes, cookie: bytes) -> Parsed | None:
    """Parse a read from a raw or datagram ICMPv6 socket (no IP header)."""
    if len(packet) < ECHO_HEADER_LEN:
        return None
    icmp_type = packet[0]
    if icmp_type == ICMP6_ECHO_REPLY:
        return _echo_reply(packet, cookie)
    if icmp_type == ICMP6_DEST_UNREACH:
        return _v6_error(packet, cookie, "unreachable")
    if icmp_type == ICMP6_TIME_EXCEEDED:
        return _v6_error(packet, cookie, "ttl_exceeded")
    return None


def parse_error_queue(
    quoted: bytes, extended_err: bytes, cookie: bytes, *, v6: bool = False
) -> EchoError | None:
    """Parse an error-queue read of a datagram ping socket (``IP_RECVERR``).

    ``quoted`` is the message data: our original echo request as the error
    quoted it (identifier as rewritten by the kernel). ``extended_err`` is
    the ``IP_RECVERR``/``IPV6_RECVERR`` control message data, a ``struct
    sock_extended_err`` followed by the offender's address. The original
    destination comes from the socket address of the read, so the result's
    ``destination`` is ``None``.
    """
    if len(extended_err) < _EXTENDED_ERR.size:
        return None
    _errno, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(
        extended_err
    )
    reason = _error_reason(origin, icmp_type, v6=v6)
    if reason is None:
        return None
    request = ICMP6_ECHO_REQUEST if v6 else ICMP_ECHO_REQUEST
    echo = _quoted_echo(quoted, request, cookie)
    if echo is None:
        return None
    return EchoError(echo[0], echo[1], reason, icmp_type, icmp_code, None)


def error_offender(extended_err: bytes) -> str | None:
    """The address of the host that sent the ICMP error (``SO_EE_OFFENDER``)."""
    addr = extended_err[_EXTENDED_ERR.size :]
    if len(addr) >= 8 and int.from_bytes(addr[:2], "little") == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, addr[4:8])
    if len(addr) >= 24 and int.from_bytes(addr[:2], "little") == socket.AF_INET6:
        return socket.inet_ntop(socket.AF_INET6, addr[8:24])
    return None


def describe_error(icmp_type: int, icmp_code: int, *, v6: bool = False) -> str:
    """A human phrase for an ICMP error type and code, for result messages."""
    if v6:
        if icmp_type == ICMP6_TIME_EXCEEDED:
            return "hop limit exceeded in transit"
        return _V6_UNREACH_CODES.get(icmp_code, f"destination unreachable (code {icmp_code})")
    if icmp_type == ICMP_TIME_EXCEEDED:
        return "time to live exceeded in transit"
    return _V4_UNREACH_CODES.get(icmp_code, f"destination unreachable (code {icmp_code})")


def _echo_reply(icmp: bytes, cookie: bytes) -> EchoReply | None:
    if icmp[1] != 0 or icmp[ECHO_HEADER_LEN : ECHO_HEADER_LEN + len(cookie)] != cookie:
        return None
    return EchoReply((icmp[4] << 8) | icmp[5], (icmp[6] << 8) | icmp[7])


def _v4_error(icmp: bytes, cookie: bytes, reason: ErrorReason) -> EchoError | None:
    inner = icmp[ECHO_HEADER_LEN:]
    if len(inner) < 20 or inner[0] >> 4 != 4 or inner[9] != IPPROTO_ICMP:
        return None
    ihl = (inner[0] & 0x0F) * 4
    if ihl < 20:
        return None
    echo = _quoted_echo(inner[ihl:], ICMP_ECHO_REQUEST, cookie)
    if echo is None:
        return None
    destination = socket.inet_ntop(socket.AF_INET, inner[16:20])
    return EchoError(echo[0], echo[1], reason, icmp[0], icmp[1], destination)


def _v6_error(icmp: bytes, cookie: bytes, reason: ErrorReason) -> EchoError | None:
    inner = icmp[ECHO_HEADER_LEN:]
    # Extension headers between the quoted IPv6 header and ICMPv6 are not
    # followed: our echo requests are sent without any.
    if len(inner) < IPV6_HEADER_LEN or inner[0] >> 4 != 6 or inner[6] != IPPROTO_ICMPV6:
        return None
    echo = _quoted_echo(inner[IPV6_HEADER_LEN:], ICMP6_ECHO_REQUEST, cookie)
    if echo is None:
        return None
    destination = socket.inet_ntop(socket.AF_INET6, inner[24:40])
    return EchoError(echo[0], echo[1], reason, icmp[0], icmp[1], destination)


def _quoted_echo(quoted: bytes, request_type: int, cookie: bytes) -> tuple[int, int] | None:
    """(ident, seq) of a quoted echo request, if it is plausibly ours.

    RFC 792 routers quote only 8 bytes after the IP header, so a missing or
    cut payload is accepted; whatever part of the cookie is quoted must match.
    """
    if len(quoted) < ECHO_HEADER_LEN or quoted[0] != request_type or quoted[1] != 0:
        return None
    present = quoted[ECHO_HEADER_LEN : ECHO_HEADER_LEN + len(cookie)]
    if present != cookie[: len(present)]:
        return None
    return (quoted[4] << 8) | quoted[5], (quoted[6] << 8) | quoted[7]


def _error_reason(origin: int, icmp_type: int, *, v6: bool) -> ErrorReason | None:
    if v6:
        if origin != SO_EE_ORIGIN_ICMP6:
            return None
        return _V6_REASONS.get(icmp_type)
    if origin != SO_EE_ORIGIN_ICMP:
        return None
    return _V4_REASONS.get(icmp_type)


_V4_REASONS: Final[dict[int, ErrorReason]] = {
    ICMP_DEST_UNREACH: "unreachable",
    ICMP_TIME_EXCEEDED: "ttl_exceeded",
}
_V6_REASONS: Final[dict[int, ErrorReason]] = {
    ICMP6_DEST_UNREACH: "unreachable",
    ICMP6_TIME_EXCEEDED: "ttl_exceeded",
}
