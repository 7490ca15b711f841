"""The v1/v2c codec: byte for byte against pysnmp, and never more than a codec error on garbage."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder as ber_decoder
from pyasn1.codec.ber import encoder as ber_encoder
from pysnmp.proto import api

from probes import snmp_codec as c

V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

OIDS = [
    (1, 3, 6, 1, 2, 1, 1, 3, 0),
    (1, 3, 6, 1, 2, 1, 2, 2, 1, 2),
    (1, 3, 6, 1, 4, 1, 9, 9, 109, 1, 1, 1, 1, 8, 4294967295),
    (1, 3, 6, 1, 4, 1, 2636, 3, 1, 13, 1, 5, 9, 1, 0, 0),
    (2, 999, 3),
    (0, 0),
]

# (our tag, our value, pysnmp value) for every type the codec knows.
VALUES: list[tuple[int, Any, Any]] = [
    (c.INTEGER, 0, V2.Integer(0)),
    (c.INTEGER, -1, V2.Integer(-1)),
    (c.INTEGER, 127, V2.Integer(127)),
    (c.INTEGER, 128, V2.Integer(128)),
    (c.INTEGER, -129, V2.Integer(-129)),
    (c.INTEGER, 2147483647, V2.Integer(2147483647)),
    (c.INTEGER, -2147483648, V2.Integer(-2147483648)),
    (c.INTEGER, -128, V2.Integer(-128)),
    (c.OCTET_STRING, b"", V2.OctetString(b"")),
    (c.OCTET_STRING, b"GigabitEthernet0/1", V2.OctetString(b"GigabitEthernet0/1")),
    (c.OCTET_STRING, bytes(range(256)) * 2, V2.OctetString(bytes(range(256)) * 2)),
    (c.NULL, None, V2.Null("")),
    (
        c.OID,
        (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10),
        V2.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)),
    ),
    (c.IPADDRESS, b"\x0a\x50\x00\x01", V2.IpAddress("10.80.0.1")),
    (c.COUNTER32, 0, V2.Counter32(0)),
    (c.COUNTER32, 4294967295, V2.Counter32(4294967295)),
    (c.COUNTER32, 2147483648, V2.Counter32(2147483648)),
    (c.GAUGE32, 1000, V2.Gauge32(1000)),
    (c.TIMETICKS, 492446481, V2.TimeTicks(492446481)),
    (c.OPAQUE, b"\x9f\x78\x04\x3f\x80\x00\x00", V2.Opaque(b"\x9f\x78\x04\x3f\x80\x00\x00")),
    (c.COUNTER64, 18446744073709551615, V2.Counter64(18446744073709551615)),
    (c.COUNTER64, 1 << 63, V2.Counter64(1 << 63)),
    (c.NO_SUCH_OBJECT, None, V2.NoSuchObject("")),
    (c.NO_SUCH_INSTANCE, None, V2.NoSuchInstance("")),
    (c.END_OF_MIB_VIEW, None, V2.EndOfMibView("")),
]


def pyasn1_quirk(tag: int, value: Any) -> bool:
    """pyasn1 writes -2^(8k-1) with a redundant 0xff octet (-128 as ff 80); we write
    the minimal form (80), as DER and net-snmp do. Both decode to the same value."""
    return tag == c.INTEGER and value in {-(1 << (8 * k - 1)) for k in range(1, 9)}


def pysnmp_message(mod: Any, pdu: Any, community: bytes = b"public") -> bytes:
    msg = mod.Message()
    mod.apiMessage.set_defaults(msg)
    mod.apiMessage.set_community(msg, community)
    mod.apiMessage.set_pdu(msg, pdu)
    return bytes(ber_encoder.encode(msg))


def pysnmp_request(
    mod: Any, kind: str, request_id: int, oids: list[tuple[int, ...]], reps: int = 0
) -> bytes:
    if kind == "bulk":
        pdu = mod.GetBulkRequestPDU()
        mod.apiBulkPDU.set_defaults(pdu)
        mod.apiBulkPDU.set_request_id(pdu, request_id)
        mod.apiBulkPDU.set_non_repeaters(pdu, 0)
        mod.apiBulkPDU.set_max_repetitions(pdu, reps)
        mod.apiBulkPDU.set_varbinds(pdu, [(o, mod.Null("")) for o in oids])
    else:
        pdu = {"get": mod.GetRequestPDU, "next": mod.GetNextRequestPDU}[kind]()
        mod.apiPDU.set_defaults(pdu)
        mod.apiPDU.set_request_id(pdu, request_id)
        mod.apiPDU.set_varbinds(pdu, [(o, mod.Null("")) for o in oids])
    return pysnmp_message(mod, pdu)


@pytest.mark.parametrize(
    ("version", "mod", "kind"),
    [(c.VERSION_1, V1, "get"), (c.VERSION_1, V1, "next")]  # GetBulk does not exist in v1
    + [(c.VERSION_2C, V2, kind) for kind in ("get", "next", "bulk")],
    ids=["v1-get", "v1-next", "v2c-get", "v2c-next", "v2c-bulk"],
)
@pytest.mark.parametrize("request_id", [0, 1, 127, 128, 65535, 2147483647])
def test_requests_match_pysnmp(version: int, mod: Any, kind: str, request_id: int) -> None:
    pdu_type = {"get": c.GET, "next": c.GETNEXT, "bulk": c.GETBULK}[kind]
    ours = c.encode_request(
        version,
        b"public",
        pdu_type,
        request_id,
        [c.oid_to_ber(o) for o in OIDS],
        max_repetitions=25 if kind == "bulk" else 0,
    )
    assert ours == pysnmp_request(mod, kind, request_id, OIDS, 25)


def test_long_request_uses_long_form_lengths_like_pysnmp() -> None:
    oids = [(1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, i) for i in range(1, 60)]
    ours = c.encode_request(
        1, b"x" * 300, c.GETBULK, 9, [c.oid_to_ber(o) for o in oids], max_repetitions=200
    )
    bulk = V2.GetBulkRequestPDU()
    V2.apiBulkPDU.set_defaults(bulk)
    V2.apiBulkPDU.set_request_id(bulk, 9)
    V2.apiBulkPDU.set_non_repeaters(bulk, 0)
    V2.apiBulkPDU.set_max_repetitions(bulk, 200)
    V2.apiBulkPDU.set_varbinds(bulk, [(o, V2.Null("")) for o in oids])
    assert ours == pysnmp_message(V2, bulk, b"x" * 300)


def pysnmp_response(
    request_id: int, varbinds: list[tuple[tuple[int, ...], Any]], status: int = 0, index: int = 0
) -> bytes:
    pdu = V2.ResponsePDU()
    V2.apiPDU.set_defaults(pdu)
    V2.apiPDU.set_request_id(pdu, request_id)
    V2.apiPDU.set_error_status(pdu, status)
    V2.apiPDU.set_error_index(pdu, index)
    V2.apiPDU.set_varbinds(pdu, varbinds)
    return pysnmp_message(V2, pdu)


@pytest.mark.parametrize(
    ("tag", "value", "theirs"), VALUES, ids=[f"{t:#04x}-{i}" for i, (t, _, _) in enumerate(VALUES)]
)
def test_response_values_match_pysnmp_both_ways(tag: int, value: Any, theirs: Any) -> None:
    oid = (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 3)
    wire = pysnmp_response(77, [(oid, theirs)])
    ours = c.encode_message(1, b"public", c.RESPONSE, 77, [(c.oid_to_ber(oid), tag, value)])
    if pyasn1_quirk(tag, value):
        assert c.decode_message(ours) == c.decode_message(wire)
        assert bytes(ber_encoder.encode(theirs))[2:] == b"\xff" + c.encode_value(tag, value)[2:]
    else:
        assert ours == wire
    message = c.decode_message(wire)
    assert isinstance(message, c.Message)
    assert message.varbinds == [(c.oid_to_ber(oid), tag, value)]
    assert (message.version, message.community, message.pdu_type, message.request_id) == (
        1,
        b"public",
        c.RESPONSE,
        77,
    )


def test_response_with_every_type_and_error_status() -> None:
    varbinds = [((1, 3, 6, 1, 2, 1, 1, 3, i), theirs) for i, (_t, _v, theirs) in enumerate(VALUES)]
    wire = pysnmp_response(2147483647, varbinds, status=5, index=3)
    message = c.decode_message(wire)
    assert isinstance(message, c.Message)
    assert (message.error_status, message.error_index) == (5, 3)
    assert [(t, v) for _o, t, v in message.varbinds] == [(t, v) for t, v, _ in VALUES]
    ours = c.encode_message(
        1,
        b"public",
        c.RESPONSE,
        2147483647,
        [(c.oid_to_ber(o), t, v) for (o, _), (t, v, _) in zip(varbinds, VALUES, strict=True)],
        error_status=5,
        error_index=3,
    )
    assert c.decode_message(ours) == message
    if not any(pyasn1_quirk(t, v) for t, v, _ in VALUES):
        assert ours == wire


def test_our_responses_decode_in_pysnmp() -> None:
    vbs = [(c.oid_to_ber((1, 3, 6, 1, 2, 1, 1, 3, i)), t, v) for i, (t, v, _) in enumerate(VALUES)]
    wire = c.encode_message(1, b"public", c.RESPONSE, 5, vbs)
    msg, rest = ber_decoder.decode(wire, asn1Spec=V2.Message())
    assert rest == b""
    pdu = V2.apiMessage.get_pdu(msg)
    got = V2.apiPDU.get_varbinds(pdu)
    assert [tuple(o) for o, _ in got] == [c.ber_to_oid(o) for o, _, _ in vbs]
    for (_o, value), (_t, _v, theirs) in zip(got, VALUES, strict=True):
        assert value == theirs


def test_v2_trap_and_inform_round_trip_with_pysnmp() -> None:
    for pdu_type, cls in ((c.TRAP_V2, V2.SNMPv2TrapPDU), (c.INFORM, V2.InformRequestPDU)):
        pdu = cls()
        V2.apiPDU.set_defaults(pdu)
        V2.apiPDU.set_request_id(pdu, 31337)
        vbs = [
            ((1, 3, 6, 1, 2, 1, 1, 3, 0), V2.TimeTicks(12345)),
            (
                (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0),
                V2.ObjectIdentifier((1, 3, 6, 1, 6, 3, 1, 1, 5, 3)),
            ),
            ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 7), V2.Integer(7)),
        ]
        V2.apiPDU.set_varbinds(pdu, vbs)
        wire = pysnmp_message(V2, pdu)
        message = c.decode_message(wire)
        assert isinstance(message, c.Message)
        assert message.pdu_type == pdu_type
        assert message.varbinds[1] == (
            c.oid_to_ber(vbs[1][0]),
            c.OID,
            (1, 3, 6, 1, 6, 3, 1, 1, 5, 3),
        )
        again = c.encode_message(1, b"public", pdu_type, 31337, message.varbinds)
        assert again == wire


def test_v1_trap_matches_pysnmp() -> None:
    pdu = V1.TrapPDU()
    V1.apiTrapPDU.set_defaults(pdu)
    V1.apiTrapPDU.set_enterprise(pdu, (1, 3, 6, 1, 4, 1, 318))
    V1.apiTrapPDU.set_agent_address(pdu, "127.0.0.1")
    V1.apiTrapPDU.set_generic_trap(pdu, 6)
    V1.apiTrapPDU.set_specific_trap(pdu, 5)
    V1.apiTrapPDU.set_timestamp(pdu, 4242)
    V1.apiTrapPDU.set_varbinds(pdu, [((1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0), V1.Integer(9))])
    wire = pysnmp_message(V1, pdu)
    trap = c.decode_message(wire)
    assert trap == c.TrapV1(
        b"public",
        (1, 3, 6, 1, 4, 1, 318),
        b"\x7f\x00\x00\x01",
        6,
        5,
        4242,
        [(c.oid_to_ber((1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0)), c.INTEGER, 9)],
    )
    assert isinstance(trap, c.TrapV1)
    assert c.encode_trap_v1(trap) == wire


@pytest.mark.parametrize("oid", OIDS)
def test_oid_round_trip_matches_pysnmp(oid: tuple[int, ...]) -> None:
    theirs = bytes(ber_encoder.encode(V2.ObjectIdentifier(oid)))
    assert theirs[2:] == c.oid_to_ber(oid) or theirs[3:] == c.oid_to_ber(oid)
    assert c.ber_to_oid(c.oid_to_ber(oid)) == oid
    assert c.parse_oid(".".join(map(str, oid))) == oid
    assert c.format_oid(c.oid_to_ber(oid)) == ".".join(map(str, oid))


@pytest.mark.parametrize(
    "text",
    ["", "1", "1.3.6.x", "1..3", "iso.3.6", "3.1", "1.40", "1.3.6.1.-1", "1.3.6.1.4294967296"],
)
def test_bad_oid_text_is_a_codec_error(text: str) -> None:
    with pytest.raises(c.SnmpCodecError):
        c.parse_oid(text)


arcs = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12)
oids = st.builds(
    lambda first, second, rest: (first, second, *rest), st.integers(0, 1), st.integers(0, 39), arcs
)


@given(oids, oids)
@settings(max_examples=300, deadline=None)
def test_oid_after_orders_like_oids(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """The walk relies on this: comparing BER bytes is comparing OIDs."""
    ea, eb = c.oid_to_ber(a), c.oid_to_ber(b)
    assert c.oid_after(ea, eb) == (a > b)
    assert c.oid_after(eb, ea) == (b > a)
    assert ea.startswith(eb) == (a[: len(b)] == b)


def test_oid_order_across_encoding_lengths() -> None:
    # 256 encodes as 82 00 and 2^28 as 81 80 80 80 00: plain byte order is wrong here.
    small, big = c.oid_to_ber((1, 3, 6, 256)), c.oid_to_ber((1, 3, 6, 1 << 28))
    assert small > big
    assert c.oid_after(big, small)
    assert not c.oid_after(small, big)


def _valid_message(data: st.DataObject) -> bytes:
    count = data.draw(st.integers(0, 6))
    vbs = []
    for _ in range(count):
        tag, value, _theirs = data.draw(st.sampled_from(VALUES))
        vbs.append((c.oid_to_ber(data.draw(oids)), tag, value))
    return c.encode_message(
        data.draw(st.sampled_from([0, 1])),
        data.draw(st.binary(max_size=20)),
        data.draw(st.sampled_from([c.RESPONSE, c.GET, c.TRAP_V2, c.INFORM, c.REPORT])),
        data.draw(st.integers(-(2**31), 2**31 - 1)),
        vbs,
    )


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_valid_messages_round_trip(data: st.DataObject) -> None:
    wire = _valid_message(data)
    message = c.decode_message(wire)
    assert isinstance(message, c.Message)
    again = c.encode_message(
        message.version, message.community, message.pdu_type, message.request_id, message.varbinds
    )
    assert again == wire
    assert c.peek_request_id(wire) == message.request_id


@given(st.data())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_truncated_or_mutated_messages_only_raise_codec_errors(data: st.DataObject) -> None:
    wire = bytearray(_valid_message(data))
    if data.draw(st.booleans()):
        wire = wire[: data.draw(st.integers(0, max(0, len(wire) - 1)))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            if wire:
                wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    _decode_or_codec_error(bytes(wire))


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_random_bytes_only_raise_codec_errors(wire: bytes) -> None:
    _decode_or_codec_error(wire)
    _decode_or_codec_error(b"\x30" + bytes([len(wire) & 0x7F]) + wire)


def _decode_or_codec_error(wire: bytes) -> None:
    with contextlib.suppress(c.SnmpCodecError):
        c.decode_message(wire)
    c.peek_request_id(wire)  # never raises


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x30",
        b"\x30\x80\x02\x01\x01\x00\x00",  # indefinite length
        b"\x30\x84\xff\xff\xff\xff",  # length past the end
        b"\x30\x03\x02\x01\x03",  # version 3: not ours
        b"\x30\x05\x02\x01\x01\x04\x00",  # no PDU
        b"\x30\x0b\x02\x01\x01\x04\x00\xa2\x04\x02\x02\x00\x01",  # truncated PDU
    ],
)
def test_malformed_examples(wire: bytes) -> None:
    with pytest.raises(c.SnmpCodecError):
        c.decode_message(wire)


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        (c.INTEGER, 1 << 31),
        (c.COUNTER32, -1),
        (c.COUNTER64, 1 << 64),
        (c.IPADDRESS, b"\x01"),
        (c.OCTET_STRING, 5),
        (0x47, 1),
    ],
)
def test_unencodable_values(tag: int, value: Any) -> None:
    with pytest.raises(c.SnmpCodecError):
        c.encode_value(tag, value)
