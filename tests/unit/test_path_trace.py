"""Path traces without sockets: router answers as bytes, hops from answers, words from hops.

Packets are assembled here field by field (as Linux and RFC 792 / RFC 4884
routers build them), never with the module under test.
"""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine.paths import TraceBudget, diagnose
from probes import icmp_packet as pkt
from probes.icmp_engine import EchoAnswer, PingOutcome, ttl_ancillary
from probes.trace import Hop, PathTrace, assemble, not_sent
from tests.unit.test_icmp_packet import COOKIE, OTHER_COOKIE, extended_err, icmp, ipv6

ME, DST, ROUTER = "10.80.1.1", "10.80.9.2", "10.80.2.2"
ME6, DST6, ROUTER6 = "fd80:1::1", "fd80:9::2", "fd80:2::2"
IDENT, SEQ = 0xBEEF, 0x0102
ECHO = icmp(8, 0, IDENT, SEQ, COOKIE)  # what a trace sends: the cookie, 8 bytes
ECHO6 = icmp(128, 0, IDENT, SEQ, COOKIE)


def ip4(src: str, dst: str, body: bytes, *, ttl: int = 64, proto: int = 1) -> bytes:
    """An IPv4 header with ``ttl`` (a router quotes the header as it arrived: TTL 1)."""
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(body),
            7,
            0,
            ttl,
            proto,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        + body
    )


def ip6_hop1(src: str, dst: str, body: bytes) -> bytes:
    """An IPv6 header with hop limit 1, as a router quotes an expired packet."""
    return (
        struct.pack("!IHBB", 6 << 28, len(body), 58, 1)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + body
    )


def rfc4884(quoted: bytes, *, v6: bool = False) -> bytes:
    """The quoted datagram padded to 128 bytes and an MPLS extension object after it
    (RFC 4884 / RFC 4950), as MPLS core routers send."""
    padded = quoted[:128].ljust(128, b"\x00")
    mpls = struct.pack("!HBB", 8, 1, 1) + struct.pack("!I", (16004 << 12) | (1 << 8) | 1)
    extension = struct.pack("!BBH", 0x20, 0, 0) + mpls
    return padded + extension


def error4(icmp_type: int, code: int, quoted: bytes, length_words: int = 0) -> bytes:
    """An ICMPv4 error; ``length_words`` is RFC 4884's length of the original datagram."""
    return icmp(icmp_type, code, length_words << 8 if length_words else 0, 0, quoted)


def error6(icmp_type: int, code: int, quoted: bytes, length_words: int = 0) -> bytes:
    return icmp(icmp_type, code, length_words << 8 if length_words else 0, 0, quoted)


TE4 = pkt.EchoError(IDENT, SEQ, "ttl_exceeded", 11, 0, DST)
UN4 = pkt.EchoError(IDENT, SEQ, "unreachable", 3, 0, DST)
TE6 = pkt.EchoError(IDENT, SEQ, "ttl_exceeded", 3, 0, DST6)
UN6 = pkt.EchoError(IDENT, SEQ, "unreachable", 1, 0, DST6)

RAW_V4 = [
    (
        "Linux router: Time Exceeded quoting the whole echo (TTL 1 as it arrived)",
        ip4(ROUTER, ME, error4(11, 0, ip4(ME, DST, ECHO, ttl=1))),
        TE4,
    ),
    (
        "RFC 792 router: header and 8 bytes only (no cookie quoted)",
        ip4(ROUTER, ME, error4(11, 0, ip4(ME, DST, ECHO, ttl=1)[:28])),
        TE4,
    ),
    (
        "RFC 4884 router with an MPLS label stack after the quote",
        ip4(ROUTER, ME, error4(11, 0, rfc4884(ip4(ME, DST, ECHO, ttl=1)), 32)),
        TE4,
    ),
    (
        "fragment reassembly time exceeded (code 1) still names our echo",
        ip4(ROUTER, ME, error4(11, 1, ip4(ME, DST, ECHO, ttl=1))),
        pkt.EchoError(IDENT, SEQ, "ttl_exceeded", 11, 1, DST),
    ),
    (
        "router without a route: network unreachable",
        ip4(ROUTER, ME, error4(3, 0, ip4(ME, DST, ECHO, ttl=3))),
        UN4,
    ),
    (
        "last router: host unreachable (its neighbour did not answer ARP)",
        ip4(ROUTER, ME, error4(3, 1, ip4(ME, DST, ECHO, ttl=2))),
        pkt.EchoError(IDENT, SEQ, "unreachable", 3, 1, DST),
    ),
    (
        "Time Exceeded about another process's echo (foreign cookie)",
        ip4(ROUTER, ME, error4(11, 0, ip4(ME, DST, icmp(8, 0, IDENT, SEQ, OTHER_COOKIE)))),
        None,
    ),
    (
        "Time Exceeded about a UDP traceroute of someone else",
        ip4(ROUTER, ME, error4(11, 0, ip4(ME, DST, bytes(16), proto=17, ttl=1))),
        None,
    ),
    (
        "Time Exceeded cut inside the quoted ICMP header",
        ip4(ROUTER, ME, error4(11, 0, ip4(ME, DST, ECHO, ttl=1)[:25])),
        None,
    ),
]

V6 = [
    (
        "hop limit exceeded quoting the whole echo",
        error6(3, 0, ip6_hop1(ME6, DST6, ECHO6)),
        TE6,
    ),
    (
        "hop limit exceeded quoting the echo header only",
        error6(3, 0, ip6_hop1(ME6, DST6, ECHO6)[:48]),
        TE6,
    ),
    (
        "RFC 4884 hop limit exceeded with an MPLS extension",
        error6(3, 0, rfc4884(ip6_hop1(ME6, DST6, ECHO6), v6=True), 16),
        TE6,
    ),
    ("no route to destination", error6(1, 0, ipv6(ME6, DST6, ECHO6)), UN6),
    (
        "address unreachable (the last router's neighbour discovery failed)",
        error6(1, 3, ipv6(ME6, DST6, ECHO6)),
        pkt.EchoError(IDENT, SEQ, "unreachable", 1, 3, DST6),
    ),
    (
        "hop limit exceeded about another process's echo",
        error6(3, 0, ip6_hop1(ME6, DST6, icmp(128, 0, IDENT, SEQ, OTHER_COOKIE))),
        None,
    ),
    ("hop limit exceeded with the quoted header cut", error6(3, 0, bytes(30)), None),
]


@pytest.mark.parametrize(
    ("packet", "expected"), [c[1:] for c in RAW_V4], ids=[c[0] for c in RAW_V4]
)
def test_router_answers_v4_raw(packet: bytes, expected: pkt.EchoError | None) -> None:
    assert pkt.parse_v4_raw(packet, COOKIE) == expected


@pytest.mark.parametrize(("packet", "expected"), [c[1:] for c in V6], ids=[c[0] for c in V6])
def test_router_answers_v6(packet: bytes, expected: pkt.EchoError | None) -> None:
    assert pkt.parse_v6(packet, COOKIE) == expected


@pytest.mark.parametrize(
    ("v6", "icmp_type", "offender", "sockaddr", "reason"),
    [
        (
            False,
            11,
            ROUTER,
            lambda a: struct.pack("=H", socket.AF_INET) + b"\0\0" + socket.inet_aton(a) + bytes(8),
            "ttl_exceeded",
        ),
        (
            False,
            3,
            ROUTER,
            lambda a: struct.pack("=H", socket.AF_INET) + b"\0\0" + socket.inet_aton(a) + bytes(8),
            "unreachable",
        ),
        (
            True,
            3,
            ROUTER6,
            lambda a: (
                struct.pack("=H", socket.AF_INET6)
                + bytes(6)
                + socket.inet_pton(socket.AF_INET6, a)
                + bytes(4)
            ),
            "ttl_exceeded",
        ),
        (
            True,
            1,
            ROUTER6,
            lambda a: (
                struct.pack("=H", socket.AF_INET6)
                + bytes(6)
                + socket.inet_pton(socket.AF_INET6, a)
                + bytes(4)
            ),
            "unreachable",
        ),
    ],
    ids=["v4 time exceeded", "v4 unreachable", "v6 hop limit", "v6 unreachable"],
)
def test_ping_socket_error_queue_names_the_router(
    v6: bool, icmp_type: int, offender: str, sockaddr: object, reason: str
) -> None:
    """Datagram ping sockets: the echo comes back on the error queue, the router as offender."""
    origin = pkt.SO_EE_ORIGIN_ICMP6 if v6 else pkt.SO_EE_ORIGIN_ICMP
    ee = extended_err(origin, icmp_type, 0, sockaddr(offender))  # type: ignore[operator]
    parsed = pkt.parse_error_queue(ECHO6 if v6 else ECHO, ee, COOKIE, v6=v6)
    assert parsed == pkt.EchoError(IDENT, SEQ, reason, icmp_type, 0, None)  # type: ignore[arg-type]
    assert pkt.error_offender(ee) == offender


@settings(max_examples=300, deadline=None)
@given(
    ident=st.integers(0, 0xFFFF),
    seq=st.integers(0, 0xFFFF),
    router=st.tuples(st.integers(0, 255), st.integers(1, 254)),
    quoted_extra=st.integers(0, 8),
    code=st.sampled_from(
        [
            (11, 0, "ttl_exceeded"),
            (11, 1, "ttl_exceeded"),
            (3, 0, "unreachable"),
            (3, 1, "unreachable"),
            (3, 13, "unreachable"),
        ]
    ),
)
def test_any_v4_router_answer_gives_back_the_echo_key(
    ident: int, seq: int, router: tuple[int, int], quoted_extra: int, code: tuple[int, int, str]
) -> None:
    """Whatever a router quotes (8 bytes or more of the echo), the key and destination come back."""
    icmp_type, icmp_code, reason = code
    echo = icmp(8, 0, ident, seq, COOKIE)
    quoted = ip4(ME, DST, echo, ttl=1)[: 28 + quoted_extra]
    packet = ip4(f"10.80.{router[0]}.{router[1]}", ME, error4(icmp_type, icmp_code, quoted))
    assert pkt.parse_v4_raw(packet, COOKIE) == pkt.EchoError(
        ident,
        seq,
        reason,
        icmp_type,
        icmp_code,
        DST,  # type: ignore[arg-type]
    )


@settings(max_examples=300, deadline=None)
@given(
    ident=st.integers(0, 0xFFFF),
    seq=st.integers(0, 0xFFFF),
    quoted_extra=st.integers(0, 8),
    code=st.sampled_from([(3, 0, "ttl_exceeded"), (1, 0, "unreachable"), (1, 3, "unreachable")]),
    extension=st.booleans(),
)
def test_any_v6_router_answer_gives_back_the_echo_key(
    ident: int, seq: int, quoted_extra: int, code: tuple[int, int, str], extension: bool
) -> None:
    icmp_type, icmp_code, reason = code
    quoted = ip6_hop1(ME6, DST6, icmp(128, 0, ident, seq, COOKIE))
    # RFC 4884: the whole (short) datagram, zero-padded to 128 bytes; else a router
    # may quote less than the whole echo.
    quoted = rfc4884(quoted, v6=True) if extension else quoted[: 48 + quoted_extra]
    packet = error6(icmp_type, icmp_code, quoted, 16 if extension else 0)
    assert pkt.parse_v6(packet, COOKIE) == pkt.EchoError(
        ident,
        seq,
        reason,
        icmp_type,
        icmp_code,
        DST6,  # type: ignore[arg-type]
    )


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([c[1] for c in RAW_V4 + V6]), st.data())
def test_mangled_router_answers_never_raise(packet: bytes, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(packet)))
    flip = data.draw(st.integers(0, max(cut - 1, 0)))
    mangled = bytearray(packet[:cut])
    if mangled:
        mangled[flip] ^= data.draw(st.integers(1, 255))
    for parse in (pkt.parse_v4_raw, pkt.parse_v6):
        parse(bytes(mangled), COOKIE)


def test_ttl_travels_as_ancillary_data_of_its_own_send() -> None:
    assert ttl_ancillary(3, v6=False) == [(socket.IPPROTO_IP, socket.IP_TTL, struct.pack("=i", 3))]
    assert ttl_ancillary(64, v6=True) == [
        (socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("=i", 64))
    ]


# --------------------------------------------------------------------------
# From answers to hops
# --------------------------------------------------------------------------


def te(address: str, rtt: float = 0.001) -> EchoAnswer:
    return EchoAnswer("ttl_exceeded", address, rtt)


def un(address: str) -> EchoAnswer:
    return EchoAnswer("unreachable", address, 0.002)


def reply(address: str = DST) -> EchoAnswer:
    return EchoAnswer("reply", address, 0.003)


R1, R2, R3 = "10.80.1.2", "10.80.2.2", "10.80.3.2"

ASSEMBLE = [
    (
        "whole path to the destination",
        {1: [te(R1)], 2: [te(R2)], 3: [te(R3)], 4: [reply()], 5: [reply()]},
        [
            (1, R1, "ttl_exceeded"),
            (2, R2, "ttl_exceeded"),
            (3, R3, "ttl_exceeded"),
            (4, DST, "reply"),
        ],
        True,
        3,
    ),
    (
        "the second probe answers when the first was lost",
        {1: [None, te(R1)], 2: [None, reply()]},
        [(1, R1, "ttl_exceeded"), (2, DST, "reply")],
        True,
        1,
    ),
    (
        "a silent router in the middle is a silent hop",
        {1: [te(R1)], 2: [None, None], 3: [reply()]},
        [(1, R1, "ttl_exceeded"), (2, None, "silent"), (3, DST, "reply")],
        True,
        1,
    ),
    (
        "cut after r2: silence to the last TTL probed",
        {1: [te(R1)], 2: [te(R2)], 3: [None], 4: [None]},
        [
            (1, R1, "ttl_exceeded"),
            (2, R2, "ttl_exceeded"),
            (3, None, "silent"),
            (4, None, "silent"),
        ],
        False,
        2,
    ),
    (
        "r2 without a route says unreachable for TTL 2 on",
        {1: [te(R1)], 2: [un(R2)], 3: [un(R2)], 4: [None]},
        [(1, R1, "ttl_exceeded"), (2, R2, "unreachable")],
        False,
        2,
    ),
    (
        "r2 forwards TTL 2 into a dead link, then says unreachable: it is still hop 2",
        {1: [te(R1)], 2: [te(R2)], 3: [un(R2)], 4: [un(R2)]},
        [(1, R1, "ttl_exceeded"), (2, R2, "unreachable")],
        False,
        2,
    ),
    (
        "nothing answers",
        {1: [None], 2: [None]},
        [(1, None, "silent"), (2, None, "silent")],
        False,
        None,
    ),
]


@pytest.mark.parametrize(
    ("answers", "hops", "reached", "last"), [c[1:] for c in ASSEMBLE], ids=[c[0] for c in ASSEMBLE]
)
def test_assemble(
    answers: dict[int, list[EchoAnswer | None]],
    hops: list[tuple[int, str | None, str]],
    reached: bool,
    last: int | None,
) -> None:
    trace = assemble(DST, answers)
    assert [(h.ttl, h.address, h.kind) for h in trace.hops] == hops
    assert trace.reached is reached
    assert (trace.last_answering.ttl if trace.last_answering else None) == last


ANSWER = st.one_of(
    st.none(),
    st.builds(
        EchoAnswer,
        st.sampled_from(["ttl_exceeded", "unreachable", "reply"]),
        st.sampled_from([R1, R2, R3, DST]),
        st.floats(0, 1),
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.lists(ANSWER, min_size=1, max_size=3), min_size=1, max_size=16))
def test_assembled_paths_are_well_formed(per_ttl: list[list[EchoAnswer | None]]) -> None:
    trace = assemble(DST, dict(enumerate(per_ttl, 1)))
    ttls = [h.ttl for h in trace.hops]
    assert ttls == sorted(set(ttls)) and (not ttls or ttls[0] == 1)
    assert all(h.kind not in ("reply", "unreachable") for h in trace.hops[:-1])
    assert trace.reached == (bool(trace.hops) and trace.hops[-1].kind == "reply")
    last = trace.last_answering
    assert last is None or (last.answered and last.kind != "reply")
    if last is not None:
        assert all(not h.answered or h.kind == "reply" for h in trace.hops if h.ttl > last.ttl)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        ((), ""),
        ((("ttl_exceeded", "time to live exceeded in transit (from 10.80.1.2)"),), ""),
        (
            (("unreachable", "send: No route to host"),),
            f"this monitor cannot send to {DST} (send: No route to host)",
        ),
        (
            (
                (
                    "address_family",
                    "no IPv6 route (Network is unreachable); is IPv6 configured here?",
                ),
            ),
            f"this monitor cannot send to {DST} (no IPv6 route (Network is unreachable); "
            "is IPv6 configured here?)",
        ),
    ],
)
def test_echoes_this_host_refused_to_send(
    failures: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert not_sent([PingOutcome(DST, (None,), failures)]) == expected


# --------------------------------------------------------------------------
# From hops to words
# --------------------------------------------------------------------------

NAMES = {R1: ["r1"], R2: ["r2"], R3: ["r3"], DST: ["site"]}
BASELINE = PathTrace(
    DST,
    (
        Hop(1, R1, "ttl_exceeded"),
        Hop(2, R2, "ttl_exceeded"),
        Hop(3, R3, "ttl_exceeded"),
        Hop(4, DST, "reply"),
    ),
    True,
    8,
    0.01,
)


def path(*hops: Hop, reached: bool = False, error: str = "") -> PathTrace:
    return PathTrace(DST, hops, reached, 8, 1.0, error)


CUT_AFTER_R2 = path(Hop(1, R1, "ttl_exceeded"), Hop(2, R2, "ttl_exceeded"), Hop(3, None, "silent"))

DIAGNOSES = [
    (
        "cut after r2, named, with the baseline's next hop",
        CUT_AFTER_R2,
        BASELINE,
        NAMES,
        "path breaks after hop 2 (10.80.2.2, r2); the baseline path went on to hop 3 "
        "(10.80.3.2, r3) and reached the target at hop 4",
    ),
    (
        "hops that are no configured target are not named",
        CUT_AFTER_R2,
        BASELINE,
        {},
        "path breaks after hop 2 (10.80.2.2); the baseline path went on to hop 3 "
        "(10.80.3.2) and reached the target at hop 4",
    ),
    (
        "r2 reports it has no way on",
        path(Hop(1, R1, "ttl_exceeded"), Hop(2, R2, "unreachable")),
        BASELINE,
        NAMES,
        "path breaks after hop 2 (10.80.2.2, r2), which reports the target unreachable; "
        "the baseline path went on to hop 3 (10.80.3.2, r3) and reached the target at hop 4",
    ),
    (
        "the path changed: another router at hop 2",
        path(
            Hop(1, R1, "ttl_exceeded"), Hop(2, "10.80.66.2", "ttl_exceeded"), Hop(3, None, "silent")
        ),
        BASELINE,
        NAMES,
        "path breaks after hop 2 (10.80.66.2); the path changed: hop 2 was 10.80.2.2, r2; "
        "the baseline path went on to hop 3 (10.80.3.2, r3) and reached the target at hop 4",
    ),
    (
        "the last router before the target answers",
        path(
            Hop(1, R1, "ttl_exceeded"),
            Hop(2, R2, "ttl_exceeded"),
            Hop(3, R3, "ttl_exceeded"),
            Hop(4, None, "silent"),
        ),
        BASELINE,
        NAMES,
        "path breaks after hop 3 (10.80.3.2, r3); the baseline path reached the target at hop 4",
    ),
    (
        "no baseline yet",
        CUT_AFTER_R2,
        None,
        NAMES,
        "path breaks after hop 2 (10.80.2.2, r2); no baseline path recorded yet",
    ),
    (
        "nothing answers",
        path(Hop(1, None, "silent")),
        BASELINE,
        NAMES,
        "path breaks before hop 1: no hop answers (this monitor's own link or first router); "
        "the baseline path went on to hop 1 (10.80.1.2, r1) and reached the target at hop 4",
    ),
    (
        "the target answers the trace",
        path(Hop(1, R1, "ttl_exceeded"), Hop(2, DST, "reply"), reached=True),
        BASELINE,
        NAMES,
        "path complete: the target answers at hop 2 (the path is not what fails)",
    ),
    (
        "not traced",
        path(error="IPv6 unavailable on this host"),
        BASELINE,
        NAMES,
        "path not traced: IPv6 unavailable on this host",
    ),
]


@pytest.mark.parametrize(
    ("trace", "baseline", "names", "text"),
    [c[1:] for c in DIAGNOSES],
    ids=[c[0] for c in DIAGNOSES],
)
def test_diagnosis_text(
    trace: PathTrace, baseline: PathTrace | None, names: dict[str, list[str]], text: str
) -> None:
    diagnosis = diagnose(trace, baseline, lambda a: names.get(a, []), at=1.0)
    assert diagnosis.text == text


def test_diagnosis_names_the_last_answering_hop() -> None:
    diagnosis = diagnose(CUT_AFTER_R2, BASELINE, lambda a: NAMES.get(a, []), at=5.0)
    assert diagnosis.to_dict() == {
        "text": diagnosis.text,
        "reached": False,
        "last_hop": 2,
        "last_address": R2,
        "last_name": "r2",
    }


# --------------------------------------------------------------------------
# The rate bound
# --------------------------------------------------------------------------


def test_budget_is_a_sliding_minute() -> None:
    budget = TraceBudget(4)
    assert [budget.take(t) for t in (0.0, 1.0, 2.0, 3.0, 4.0)] == [True] * 4 + [False]
    assert not budget.take(59.9)
    assert budget.take(60.0)  # the first has left the window
    assert budget.used(60.0) == 4


def test_baselines_leave_half_the_budget_to_outages() -> None:
    budget = TraceBudget(6)
    assert [budget.take(0.0, baseline=True) for _ in range(4)] == [True, True, True, False]
    assert [budget.take(1.0) for _ in range(4)] == [True, True, True, False]
    assert not budget.take(2.0, baseline=True)
