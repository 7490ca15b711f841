"""ICMP packet building and parsing with bytes, plus the pure parts of the probe.

Packets here are assembled field by field with ``struct`` (not with the
module under test), so a mistake in the module cannot hide in the fixture.
"""

from __future__ import annotations

import errno
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import icmp_packet as pkt
from probes.icmp import echo_stats, stats_samples, summarize
from probes.icmp_engine import (
    PingOutcome,
    _Channel,
    icmp_filter_v4,
    icmp_filter_v6,
    send_failure,
)

COOKIE = b"\x8c\x01\xfe\x55\x10\x20\x30\x40"
OTHER_COOKIE = b"someone!"
PAYLOAD = COOKIE + bytes(range(48))
DST = "10.80.7.2"
DST6 = "fd80:7::2"


# --------------------------------------------------------------------------
# Packet assembly helpers (independent of the module under test)
# --------------------------------------------------------------------------


def icmp(icmp_type: int, code: int, ident: int, seq: int, payload: bytes = b"") -> bytes:
    """An ICMP message with a correct (v4) checksum; v6 parsing ignores it."""
    header = struct.pack("!BBHHH", icmp_type, code, 0, ident, seq)
    data = header + payload
    padded = data + b"\x00" if len(data) % 2 else data
    total = sum(struct.unpack(f"!{len(padded) // 2}H", padded))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF
    return struct.pack("!BBHHH", icmp_type, code, checksum, ident, seq) + payload


def ipv4(src: str, dst: str, body: bytes, *, proto: int = 1, options: bytes = b"") -> bytes:
    """An IPv4 header (IHL from ``options``, a multiple of 4 bytes) plus body."""
    ihl = 5 + len(options) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        ihl * 4 + len(body),
        0x1234,
        0,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return header + options + body


def ipv6(src: str, dst: str, body: bytes, *, next_header: int = 58) -> bytes:
    header = struct.pack("!IHBB", 6 << 28, len(body), next_header, 64)
    return (
        header
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + body
    )


def v4_error(icmp_type: int, code: int, quoted: bytes) -> bytes:
    """An ICMPv4 error (unused word zero) quoting ``quoted``."""
    return icmp(icmp_type, code, 0, 0, quoted)


def extended_err(origin: int, icmp_type: int, code: int, offender: bytes = b"") -> bytes:
    return struct.pack("=IBBBBII", errno.EHOSTUNREACH, origin, icmp_type, code, 0, 0, 0) + offender


def sockaddr_in(addr: str) -> bytes:
    return struct.pack("=H", socket.AF_INET) + b"\x00\x00" + socket.inet_aton(addr) + bytes(8)


def sockaddr_in6(addr: str) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET6)
        + bytes(6)
        + socket.inet_pton(socket.AF_INET6, addr)
        + bytes(4)
    )


ECHO_REQ = icmp(8, 0, 0x1234, 7, PAYLOAD)
ECHO_REQ6 = icmp(128, 0, 0x1234, 7, PAYLOAD)
REPLY = icmp(0, 0, 0x1234, 7, PAYLOAD)
REPLY6 = icmp(129, 0, 0x1234, 7, PAYLOAD)


# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------


@pytest.mark.parametrize("ident", [0, 1, 0x1234, 0xFFFF])
@pytest.mark.parametrize("seq", [0, 7, 0xFFFE, 0xFFFF])
@pytest.mark.parametrize("size", [0, 8, 9, 56, 1400])
def test_v4_echo_request_checksums_to_zero(ident: int, seq: int, size: int) -> None:
    payload = pkt.make_payload(COOKIE, size)
    packet = pkt.build_echo_request(ident, seq, payload)
    assert pkt.internet_checksum(packet) == 0
    assert packet[:2] == b"\x08\x00"
    assert struct.unpack("!HH", packet[4:8]) == (ident, seq)
    assert packet[8:] == payload
    # The precomputed form must give the same bytes.
    base = pkt.checksum_base(payload)
    assert pkt.build_echo_request(ident, seq, payload, base=base) == packet


def test_v4_echo_request_matches_reference_bytes() -> None:
    assert pkt.build_echo_request(0x1234, 7, PAYLOAD) == ECHO_REQ


def test_v6_echo_request_leaves_checksum_to_the_kernel() -> None:
    packet = pkt.build_echo_request(0xBEEF, 3, PAYLOAD, v6=True)
    assert packet == struct.pack("!BBHHH", 128, 0, 0, 0xBEEF, 3) + PAYLOAD


@pytest.mark.parametrize(
    ("size", "length"),
    [(0, 8), (5, 8), (8, 8), (56, 56), (1400, 1400)],
)
def test_payload_always_starts_with_the_cookie(size: int, length: int) -> None:
    payload = pkt.make_payload(COOKIE, size)
    assert payload.startswith(COOKIE)
    assert len(payload) == length


def test_internet_checksum_of_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (+carry).
    assert pkt.internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == (~0xDDF2) & 0xFFFF


# --------------------------------------------------------------------------
# Parsing: IPv4 raw (IP header included)
# --------------------------------------------------------------------------

ERR_UNREACH = pkt.EchoError(0x1234, 7, "unreachable", 3, 1, DST)

V4_RAW_CASES = [
    ("reply", ipv4(DST, "10.80.7.1", REPLY), pkt.EchoReply(0x1234, 7)),
    (
        "reply with IP options (IHL 6)",
        ipv4(DST, "10.80.7.1", REPLY, options=b"\x01\x01\x01\x00"),
        pkt.EchoReply(0x1234, 7),
    ),
    (
        "reply, payload exactly the cookie",
        ipv4(DST, "10.80.7.1", icmp(0, 0, 1, 2, COOKIE)),
        pkt.EchoReply(1, 2),
    ),
    ("empty", b"", None),
    ("truncated IP header", ipv4(DST, "10.80.7.1", REPLY)[:19], None),
    ("truncated ICMP header", ipv4(DST, "10.80.7.1", REPLY)[:27], None),
    ("reply cut inside the cookie", ipv4(DST, "10.80.7.1", REPLY)[:31], None),
    (
        "reply to another process, same ident",
        ipv4(DST, "10.80.7.1", icmp(0, 0, 0x1234, 7, OTHER_COOKIE + bytes(48))),
        None,
    ),
    ("reply without payload (ping -s 0)", ipv4(DST, "10.80.7.1", icmp(0, 0, 0x1234, 7)), None),
    ("echo request seen on loopback", ipv4("127.0.0.1", "127.0.0.5", ECHO_REQ), None),
    ("reply with nonzero code", ipv4(DST, "10.80.7.1", icmp(0, 1, 0x1234, 7, PAYLOAD)), None),
    ("redirect", ipv4(DST, "10.80.7.1", icmp(5, 1, 0, 0, bytes(28))), None),
    ("not ICMP (UDP)", ipv4(DST, "10.80.7.1", REPLY, proto=17), None),
    ("IPv6 version nibble", b"\x65" + ipv4(DST, "10.80.7.1", REPLY)[1:], None),
    ("IHL below 5", b"\x44" + ipv4(DST, "10.80.7.1", REPLY)[1:], None),
    ("IHL beyond the packet", b"\x4f" + ipv4(DST, "10.80.7.1", REPLY)[1:40], None),
    (
        "host unreachable quoting our echo",
        ipv4("10.80.7.254", "10.80.7.1", v4_error(3, 1, ipv4("10.80.7.1", DST, ECHO_REQ))),
        ERR_UNREACH,
    ),
    (
        "time exceeded quoting only 8 bytes of our echo (RFC 792)",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(11, 0, ipv4("10.80.7.1", DST, ECHO_REQ)[:28])),
        pkt.EchoError(0x1234, 7, "ttl_exceeded", 11, 0, DST),
    ),
    (
        "error quoting half the cookie",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(3, 13, ipv4("10.80.7.1", DST, ECHO_REQ)[:32])),
        pkt.EchoError(0x1234, 7, "unreachable", 3, 13, DST),
    ),
    (
        "error quoting an inner header with options",
        ipv4(
            "10.80.9.9",
            "10.80.7.1",
            v4_error(3, 0, ipv4("10.80.7.1", DST, ECHO_REQ, options=bytes(8))),
        ),
        pkt.EchoError(0x1234, 7, "unreachable", 3, 0, DST),
    ),
    (
        "error quoting another process's echo",
        ipv4(
            "10.80.9.9",
            "10.80.7.1",
            v4_error(3, 1, ipv4("10.80.7.1", DST, icmp(8, 0, 0x1234, 7, OTHER_COOKIE))),
        ),
        None,
    ),
    (
        "error quoting UDP",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(3, 3, ipv4("10.80.7.1", DST, bytes(16), proto=17))),
        None,
    ),
    (
        "error quoting an echo reply",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(3, 1, ipv4("10.80.7.1", DST, REPLY))),
        None,
    ),
    (
        "error with the quoted ICMP header cut",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(3, 1, ipv4("10.80.7.1", DST, ECHO_REQ)[:26])),
        None,
    ),
    (
        "error with the quoted IP header cut",
        ipv4("10.80.9.9", "10.80.7.1", v4_error(3, 1, ipv4("10.80.7.1", DST, ECHO_REQ)[:12])),
        None,
    ),
]


@pytest.mark.parametrize(
    ("packet", "expected"), [c[1:] for c in V4_RAW_CASES], ids=[c[0] for c in V4_RAW_CASES]
)
def test_parse_v4_raw(packet: bytes, expected: pkt.Parsed | None) -> None:
    assert pkt.parse_v4_raw(packet, COOKIE) == expected


# --------------------------------------------------------------------------
# Parsing: IPv4 datagram ping sockets (no IP header, kernel identifier)
# --------------------------------------------------------------------------

V4_DGRAM_CASES = [
    ("reply with the kernel's identifier", icmp(0, 0, 25121, 9, PAYLOAD), pkt.EchoReply(25121, 9)),
    ("truncated header", icmp(0, 0, 25121, 9, PAYLOAD)[:7], None),
    ("foreign cookie", icmp(0, 0, 25121, 9, OTHER_COOKIE), None),
    ("an IP header is not expected", ipv4(DST, "10.80.7.1", REPLY), None),
    ("echo request", ECHO_REQ, None),
]


@pytest.mark.parametrize(
    ("packet", "expected"), [c[1:] for c in V4_DGRAM_CASES], ids=[c[0] for c in V4_DGRAM_CASES]
)
def test_parse_v4_dgram(packet: bytes, expected: pkt.Parsed | None) -> None:
    assert pkt.parse_v4_dgram(packet, COOKIE) == expected


# --------------------------------------------------------------------------
# Parsing: IPv6 (raw and datagram: no IP header)
# --------------------------------------------------------------------------

V6_CASES = [
    ("reply", REPLY6, pkt.EchoReply(0x1234, 7)),
    ("truncated", REPLY6[:7], None),
    ("reply cut inside the cookie", REPLY6[:12], None),
    ("reply to another process", icmp(129, 0, 0x1234, 7, OTHER_COOKIE), None),
    ("echo request seen on loopback", ECHO_REQ6, None),
    ("an ICMPv4 reply", REPLY, None),
    ("neighbor solicitation", icmp(135, 0, 0, 0, bytes(16)), None),
    (
        "address unreachable quoting our echo",
        icmp(1, 3, 0, 0, ipv6("fd80:7::1", DST6, ECHO_REQ6)),
        pkt.EchoError(0x1234, 7, "unreachable", 1, 3, DST6),
    ),
    (
        "hop limit exceeded quoting our echo header only",
        icmp(3, 0, 0, 0, ipv6("fd80:7::1", DST6, ECHO_REQ6)[:48]),
        pkt.EchoError(0x1234, 7, "ttl_exceeded", 3, 0, DST6),
    ),
    (
        "error quoting another process's echo",
        icmp(1, 0, 0, 0, ipv6("fd80:7::1", DST6, icmp(128, 0, 0x1234, 7, OTHER_COOKIE))),
        None,
    ),
    (
        "error quoting UDP",
        icmp(1, 4, 0, 0, ipv6("fd80:7::1", DST6, bytes(16), next_header=17)),
        None,
    ),
    ("error with the quoted header cut", icmp(1, 0, 0, 0, ipv6("fd80:7::1", DST6, b"")[:30]), None),
    (
        "error quoting an IPv4 header",
        icmp(1, 0, 0, 0, ipv4("10.80.7.1", DST, ECHO_REQ6) + bytes(20)),
        None,
    ),
]


@pytest.mark.parametrize(
    ("packet", "expected"), [c[1:] for c in V6_CASES], ids=[c[0] for c in V6_CASES]
)
def test_parse_v6(packet: bytes, expected: pkt.Parsed | None) -> None:
    assert pkt.parse_v6(packet, COOKIE) == expected


# --------------------------------------------------------------------------
# Parsing: the error queue of datagram ping sockets
# --------------------------------------------------------------------------

ERRQUEUE_CASES = [
    (
        "v4 host unreachable",
        ECHO_REQ,
        extended_err(2, 3, 1, sockaddr_in("10.80.7.254")),
        False,
        pkt.EchoError(0x1234, 7, "unreachable", 3, 1, None),
    ),
    (
        "v4 time exceeded",
        ECHO_REQ[:8],
        extended_err(2, 11, 0),
        False,
        pkt.EchoError(0x1234, 7, "ttl_exceeded", 11, 0, None),
    ),
    ("v4 local error (EMSGSIZE)", ECHO_REQ, extended_err(1, 0, 0), False, None),
    ("v4 other ICMP type", ECHO_REQ, extended_err(2, 12, 0), False, None),
    ("v4 truncated extended error", ECHO_REQ, extended_err(2, 3, 1)[:10], False, None),
    (
        "v4 quoted echo is not ours",
        icmp(8, 0, 1, 2, OTHER_COOKIE),
        extended_err(2, 3, 1),
        False,
        None,
    ),
    ("v4 quoted data is not an echo", REPLY, extended_err(2, 3, 1), False, None),
    (
        "v6 address unreachable",
        ECHO_REQ6,
        extended_err(3, 1, 3, sockaddr_in6("fd80:7::fe")),
        True,
        pkt.EchoError(0x1234, 7, "unreachable", 1, 3, None),
    ),
    ("v6 origin ICMPv4 is not ours", ECHO_REQ6, extended_err(2, 1, 3), True, None),
    ("v6 packet too big", ECHO_REQ6, extended_err(3, 2, 0), True, None),
]


@pytest.mark.parametrize(
    ("quoted", "ee", "v6", "expected"),
    [c[1:] for c in ERRQUEUE_CASES],
    ids=[c[0] for c in ERRQUEUE_CASES],
)
def test_parse_error_queue(quoted: bytes, ee: bytes, v6: bool, expected: object) -> None:
    assert pkt.parse_error_queue(quoted, ee, COOKIE, v6=v6) == expected


@pytest.mark.parametrize(
    ("ee", "expected"),
    [
        (extended_err(2, 3, 1, sockaddr_in("10.80.7.254")), "10.80.7.254"),
        (extended_err(3, 1, 3, sockaddr_in6("fd80:7::fe")), "fd80:7::fe"),
        (extended_err(2, 3, 1), None),
        (extended_err(2, 3, 1, b"\x02\x00\x00"), None),
    ],
)
def test_error_offender(ee: bytes, expected: str | None) -> None:
    assert pkt.error_offender(ee) == expected


@pytest.mark.parametrize(
    ("icmp_type", "code", "v6", "text"),
    [
        (3, 1, False, "host unreachable"),
        (3, 13, False, "communication administratively prohibited"),
        (3, 99, False, "destination unreachable (code 99)"),
        (11, 0, False, "time to live exceeded in transit"),
        (1, 3, True, "address unreachable"),
        (3, 0, True, "hop limit exceeded in transit"),
    ],
)
def test_describe_error(icmp_type: int, code: int, v6: bool, text: str) -> None:
    assert pkt.describe_error(icmp_type, code, v6=v6) == text


# --------------------------------------------------------------------------
# Fuzz: parsing never raises
# --------------------------------------------------------------------------

VALID = [c[1] for c in V4_RAW_CASES + V6_CASES + V4_DGRAM_CASES if c[2] is not None]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_never_raise_on_random_bytes(data: bytes) -> None:
    for parse in (pkt.parse_v4_raw, pkt.parse_v4_dgram, pkt.parse_v6):
        parse(data, COOKIE)
    pkt.parse_error_queue(data, data, COOKIE, v6=False)
    pkt.parse_error_queue(data, data, COOKIE, v6=True)
    pkt.error_offender(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_parsers_never_raise_on_cut_or_flipped_packets(packet: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(packet)))
    flip = data.draw(st.integers(0, max(len(packet) - 1, 0)))
    mutated = bytearray(packet)
    if mutated:
        mutated[flip] ^= data.draw(st.integers(1, 255))
    for candidate in (packet[:cut], bytes(mutated)):
        for parse in (pkt.parse_v4_raw, pkt.parse_v4_dgram, pkt.parse_v6):
            result = parse(candidate, COOKIE)
            assert result is None or isinstance(result, pkt.EchoReply | pkt.EchoError)


# --------------------------------------------------------------------------
# Engine helpers that are pure
# --------------------------------------------------------------------------


def test_icmp_filter_v4_passes_only_replies_and_errors() -> None:
    (mask,) = struct.unpack("=I", icmp_filter_v4())
    passed = {t for t in range(32) if not mask & (1 << t)}
    assert passed == {0, 3, 11}


def test_icmp6_filter_passes_only_replies_and_errors() -> None:
    words = struct.unpack("=8I", icmp_filter_v6())
    passed = {t for t in range(256) if not words[t >> 5] & (1 << (t & 31))}
    assert passed == {1, 3, 129}


@pytest.mark.parametrize(
    ("err", "v6", "reason"),
    [
        (errno.EHOSTUNREACH, False, "unreachable"),
        (errno.ENETUNREACH, False, "unreachable"),
        (errno.EHOSTUNREACH, True, "unreachable"),
        (errno.ENETUNREACH, True, "address_family"),
        (errno.EADDRNOTAVAIL, True, "address_family"),
        (errno.EADDRNOTAVAIL, False, "send_error"),
        (errno.EPERM, False, "send_error"),
        (errno.EMSGSIZE, True, "send_error"),
    ],
)
def test_send_failure_reasons(err: int, v6: bool, reason: str) -> None:
    got, message = send_failure(OSError(err, "boom"), v6=v6)
    assert got == reason
    assert "boom" in message


@pytest.mark.parametrize("err", [errno.ENOBUFS, errno.ENOMEM, errno.EMFILE, errno.ENFILE])
def test_a_send_refused_for_lack_of_local_resources_is_not_the_targets_fault(err: int) -> None:
    got, message = send_failure(OSError(err, "boom"), v6=False)
    assert got == "local_resources"
    assert errno.errorcode[err] in message and "the target was not checked" in message


def test_sequence_keys_skip_echoes_still_outstanding() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        channel = _Channel(sock, "dgram", ident_base=4242)
        channel.next_key = 0xFFFE
        channel.pending[0xFFFF] = (None, 0)  # type: ignore[assignment]
        channel.pending[0] = (None, 0)  # type: ignore[assignment]
        assert channel.allocate() == 0xFFFE
        assert channel.allocate() == 1  # wrapped, skipping 0xFFFF and 0
        assert channel.ident_seq(1) == (4242, 1)
        channel.pending.update({k: (None, 0) for k in range(0x10000)})  # type: ignore[misc]
        assert channel.allocate() is None


def test_raw_keys_span_identifier_and_sequence() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        channel = _Channel(sock, "raw", ident_base=0xFFFF)
        channel.next_key = 0xFFFF
        assert channel.allocate() == 0xFFFF
        assert channel.allocate() == 0x10000
        assert channel.ident_seq(0xFFFF) == (0xFFFF, 0xFFFF)
        assert channel.ident_seq(0x10000) == (0, 0)  # next identifier, wrapped


# --------------------------------------------------------------------------
# Echo statistics and results
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rtts", "loss", "rmin", "ravg", "rmax", "jitter"),
    [
        ([0.010, 0.020, 0.030], 0.0, 0.010, 0.020, 0.030, 0.010),
        ([0.010, None, 0.030, 0.020], 0.25, 0.010, 0.020, 0.030, 0.015),
        ([0.005], 0.0, 0.005, 0.005, 0.005, None),
        ([None, 0.004], 0.5, 0.004, 0.004, 0.004, None),
        ([None, None], 1.0, None, None, None, None),
        ([], 1.0, None, None, None, None),
    ],
)
def test_echo_stats(
    rtts: list[float | None],
    loss: float,
    rmin: float | None,
    ravg: float | None,
    rmax: float | None,
    jitter: float | None,
) -> None:
    stats = echo_stats(rtts)
    assert stats.loss_ratio == pytest.approx(loss)
    assert stats.rtt_min == pytest.approx(rmin)
    assert stats.rtt_avg == pytest.approx(ravg)
    assert stats.rtt_max == pytest.approx(rmax)
    assert stats.jitter == pytest.approx(jitter)


def test_samples_and_values_follow_what_was_measured() -> None:
    samples, values = stats_samples(echo_stats([0.001, 0.003]))
    assert {(s.name, s.labels) for s in samples} == {
        ("continuity_icmp_packet_loss_ratio", ()),
        ("continuity_icmp_rtt_seconds", (("stat", "min"),)),
        ("continuity_icmp_rtt_seconds", (("stat", "avg"),)),
        ("continuity_icmp_rtt_seconds", (("stat", "max"),)),
        ("continuity_icmp_jitter_seconds", ()),
    }
    assert values == pytest.approx(
        {
            "rtt_min_seconds": 0.001,
            "rtt_avg_seconds": 0.002,
            "rtt_max_seconds": 0.003,
            "jitter_seconds": 0.002,
            "packet_loss_ratio": 0.0,
            "packets_sent": 2.0,
            "packets_received": 2.0,
        }
    )
    samples, values = stats_samples(echo_stats([None]))
    assert [(s.name, s.value) for s in samples] == [("continuity_icmp_packet_loss_ratio", 1.0)]
    assert values == {"packet_loss_ratio": 1.0, "packets_sent": 1.0, "packets_received": 0.0}


@pytest.mark.parametrize(
    ("rtts", "failures", "max_loss", "ok", "reason", "needle"),
    [
        ((0.001, 0.002), (), 1.0, True, "ok", "2/2 replies from h"),
        ((0.001, None), (), 1.0, True, "ok", "1/2 replies"),
        ((0.001, None), (), 0.4, False, "loss", "loss 50% above max_loss_ratio 40%"),
        ((0.001, None), (), 0.5, True, "ok", "1/2"),
        ((None, None), (), 1.0, False, "timeout", "0/2 replies from h within the deadline"),
        (
            (None, None),
            (("send_error", "send: x"), ("unreachable", "host unreachable (from r)")),
            1.0,
            False,
            "unreachable",
            "host unreachable (from r)",
        ),
        ((None,), (("ttl_exceeded", "ttl (from r)"),), 1.0, False, "ttl_exceeded", "ttl"),
        ((None,), (("send_error", "send: boom"),), 1.0, False, "send_error", "send: boom"),
        ((0.001, None), (("unreachable", "u"),), 1.0, True, "ok", "1/2"),
    ],
)
def test_summarize(
    rtts: tuple[float | None, ...],
    failures: tuple[tuple[str, str], ...],
    max_loss: float,
    ok: bool,
    reason: str,
    needle: str,
) -> None:
    result = summarize(
        PingOutcome("h", rtts, failures), max_loss, name="h", started=1.0, duration=0.5
    )
    assert (result.ok, result.reason) == (ok, reason)
    assert needle in result.message
    assert result.started == 1.0
    assert result.duration == 0.5


PRIORITY = ("local_resources", "unreachable", "ttl_exceeded", "address_family", "send_error")


def _reference_summary(
    rtts: tuple[float | None, ...], failures: tuple[tuple[str, str], ...], max_loss: float
) -> tuple[bool, str, str, tuple[object, ...], dict[str, float], tuple[float, ...]]:
    """What ``summarize`` made before its per-result fast path (session 7), written plainly."""
    got = [rtt for rtt in rtts if rtt is not None]
    sent, received = len(rtts), len(got)
    loss = 1.0 - received / sent if sent else 1.0
    samples: list[object] = [("continuity_icmp_packet_loss_ratio", loss, ())]
    values = {"packet_loss_ratio": loss, "packets_sent": float(sent)}
    values["packets_received"] = float(received)
    replies = f"{received}/{sent} replies from h"
    if not got:
        reason, cause = "timeout", ""
        for wanted in PRIORITY:
            cause = next((m for r, m in failures if r == wanted), "")
            if cause:
                reason = wanted
                break
        message = replies + (f": {cause}" if cause else " within the deadline")
        return False, reason, message, tuple(samples), values, ()
    low, avg, high = min(got), sum(got) / received, max(got)
    for stat, value in (("min", low), ("avg", avg), ("max", high)):
        samples.append(("continuity_icmp_rtt_seconds", value, (("stat", stat),)))
        values[f"rtt_{stat}_seconds"] = value
    text = f"rtt min/avg/max {low * 1000:.3f}/{avg * 1000:.3f}/{high * 1000:.3f} ms"
    if received >= 2:
        jitter = sum(abs(got[i + 1] - got[i]) for i in range(received - 1)) / (received - 1)
        samples.append(("continuity_icmp_jitter_seconds", jitter, ()))
        values["jitter_seconds"] = jitter
        text += f", jitter {jitter * 1000:.3f} ms"
    if loss <= max_loss:
        return True, "ok", f"{replies}, {text}", tuple(samples), values, tuple(got)
    message = f"{replies}: loss {loss:.0%} above max_loss_ratio {max_loss:.0%}, {text}"
    return False, "loss", message, tuple(samples), values, tuple(got)


@settings(max_examples=300, deadline=None)
@given(
    rtts=st.lists(
        st.one_of(st.none(), st.floats(min_value=0.0, max_value=10.0)), min_size=0, max_size=6
    ),
    failures=st.lists(
        st.sampled_from(
            [("unreachable", "host unreachable"), ("send_error", "send: x"), ("ttl_exceeded", "t")]
        ),
        max_size=2,
    ),
    max_loss=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_summarize_makes_what_the_plain_summary_made(
    rtts: list[float | None], failures: list[tuple[str, str]], max_loss: float
) -> None:
    result = summarize(
        PingOutcome("h", tuple(rtts), tuple(failures)),
        max_loss,
        name="h",
        started=1.0,
        duration=0.5,
    )
    ok, reason, message, samples, values, kept = _reference_summary(
        tuple(rtts), tuple(failures), max_loss
    )
    assert (result.ok, result.reason, result.message) == (ok, reason, message)
    assert result.samples == samples
    assert all(type(s).__name__ == "Sample" for s in result.samples)
    assert list(result.values.items()) == list(values.items())  # same order too
    assert result.rtts == kept


@settings(max_examples=300, deadline=None)
@given(
    rtts=st.lists(
        st.one_of(
            st.floats(min_value=0.0, max_value=10.0), st.floats(min_value=0.0, max_value=1e-4)
        ),
        min_size=1,
        max_size=6,
    ),
    max_loss=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_summarize_of_a_run_with_every_echo_answered_is_the_plain_summary(
    rtts: list[float], max_loss: float
) -> None:
    """The usual run (every echo answered; three by default) has a path of its own."""
    result = summarize(
        PingOutcome("h", tuple(rtts), ()), max_loss, name="h", started=1.0, duration=0.5
    )
    ok, reason, message, samples, values, kept = _reference_summary(tuple(rtts), (), max_loss)
    assert (result.ok, result.reason, result.message) == (ok, reason, message)
    assert result.samples == samples
    assert all(type(s).__name__ == "Sample" for s in result.samples)
    assert list(result.values.items()) == list(values.items())
    assert result.rtts == kept
    assert (result.started, result.duration, result.events) == (1.0, 0.5, ())
