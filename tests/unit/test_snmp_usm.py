"""Our USM (probes/snmp_usm.py) byte for byte against pysnmp, plus round trips and garbage.

pysnmp is the reference here: keys, ciphertexts, the message layout and the
MAC it produces for the same inputs (fixed engine ID, boots, time, salt,
msgID) must be the bytes we produce. net-snmp interoperability is tested in
tests/integration/test_snmp_snmpd.py.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import univ
from pysnmp.entity import config
from pysnmp.proto.api import v2c
from pysnmp.proto.mpmod.rfc3412 import HeaderData, ScopedPDU, SNMPv3Message
from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters

from probes import snmp_usm as usm
from probes.snmp_codec import (
    GET,
    GETBULK,
    REPORT,
    RESPONSE,
    SnmpCodecError,
    encode_message,
    encode_request_pdu,
    oid_to_ber,
    peek_request_id,
)
from probes.snmp_credentials import AuthProtocol, PrivProtocol
from probes.snmp_pysnmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS

ENGINE_ID = bytes.fromhex("80001f888012345678abcdef00")
AUTH_NAMES = ("md5", "sha", "sha224", "sha256", "sha384", "sha512")
PRIV_NAMES = ("des", "3des", "aes128", "aes192", "aes256", "aes192b", "aes256b")
OIDS = ("1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.31.1.1.1.6")


def pysnmp_keys(auth: str, priv: str | None) -> tuple[bytes, bytes]:
    """Localized auth and priv keys as pysnmp computes them."""
    auth_service = config.AUTH_SERVICES[AUTH_PROTOCOLS[auth]]
    engine = univ.OctetString(ENGINE_ID)
    auth_key = bytes(
        auth_service.localize_key(auth_service.hash_passphrase(b"auth-pass-1"), engine)
    )
    if priv is None:
        return auth_key, b""
    priv_service = config.PRIV_SERVICES[PRIV_PROTOCOLS[priv]]
    master = priv_service.hash_passphrase(AUTH_PROTOCOLS[auth], b"priv-pass-22")
    return auth_key, bytes(priv_service.localize_key(AUTH_PROTOCOLS[auth], master, engine))


def our_keys(auth: str, priv: str | None) -> usm.LocalKeys:
    algorithm = usm.AUTH[auth]
    auth_key = usm.localize(
        usm.hash_passphrase(b"auth-pass-1", algorithm.hash_name), ENGINE_ID, algorithm.hash_name
    )
    if priv is None:
        return usm.LocalKeys.build(algorithm, auth_key)
    master = usm.hash_passphrase(b"priv-pass-22", algorithm.hash_name)
    priv_key = usm.localize_priv(usm.PRIV[priv], master, ENGINE_ID, algorithm.hash_name)
    return usm.LocalKeys.build(algorithm, auth_key, usm.PRIV[priv], priv_key)


@pytest.mark.parametrize(("auth", "priv"), list(itertools.product(AUTH_NAMES, PRIV_NAMES)))
def test_localized_keys_match_pysnmp(auth: str, priv: str) -> None:
    keys = our_keys(auth, priv)
    assert (keys.auth_key, keys.priv_key) == pysnmp_keys(auth, priv)


def pysnmp_scoped_pdu(request_id: int, *, bulk: int = 0) -> bytes:
    pdu = v2c.GetBulkRequestPDU() if bulk else v2c.GetRequestPDU()
    api = v2c.apiBulkPDU if bulk else v2c.apiPDU
    api.set_defaults(pdu)
    api.set_request_id(pdu, request_id)
    if bulk:
        api.set_max_repetitions(pdu, bulk)
    api.set_varbinds(pdu, [(oid, v2c.Null("")) for oid in OIDS])
    scoped = ScopedPDU()
    scoped["contextEngineId"] = ENGINE_ID
    scoped["contextName"] = b"ctx"
    scoped["data"].setComponentByType(pdu.tagSet, pdu)
    return bytes(encoder.encode(scoped))


def our_scoped_pdu(request_id: int, *, bulk: int = 0) -> bytes:
    pdu = encode_request_pdu(
        GETBULK if bulk else GET,
        request_id,
        [oid_to_ber(o) for o in OIDS],
        max_repetitions=bulk,
    )
    return usm.encode_scoped_pdu(ENGINE_ID, b"ctx", pdu)


@pytest.mark.parametrize("bulk", [0, 25])
def test_scoped_pdu_matches_pysnmp(bulk: int) -> None:
    assert our_scoped_pdu(4242, bulk=bulk) == pysnmp_scoped_pdu(4242, bulk=bulk)


@pytest.mark.parametrize("priv", PRIV_NAMES)
def test_ciphertext_matches_pysnmp(priv: str) -> None:
    keys = our_keys("sha256", priv)
    service: Any = type(config.PRIV_SERVICES[PRIV_PROTOCOLS[priv]])()
    service.local_int = 0x01020304  # pysnmp's salt counter: the next salt it uses
    # One octet short of whole DES blocks: pysnmp pads to the next block, as do we.
    plaintext = our_scoped_pdu(77) + b"x" * (7 - len(our_scoped_pdu(77)) % 8)
    theirs, their_params = service.encrypt_data(
        univ.OctetString(keys.priv_key), (7, 123456, None), plaintext
    )
    ours, our_params = usm.encrypt(keys, 7, 123456, 0x01020304, plaintext)
    assert (ours, our_params) == (bytes(theirs), bytes(their_params))
    assert usm.decrypt(keys, 7, 123456, our_params, ours)[: len(plaintext)] == plaintext


def pysnmp_message(
    flags: int, usm_params: usm.UsmParams, data: bytes, mac_length: int, *, encrypted: bool
) -> bytes:
    security = UsmSecurityParameters()
    security["msgAuthoritativeEngineId"] = usm_params.engine_id
    security["msgAuthoritativeEngineBoots"] = usm_params.boots
    security["msgAuthoritativeEngineTime"] = usm_params.time
    security["msgUserName"] = usm_params.user
    security["msgAuthenticationParameters"] = bytes(mac_length)
    security["msgPrivacyParameters"] = usm_params.priv_params
    header = HeaderData()
    header["msgID"] = 99
    header["msgMaxSize"] = 65507
    header["msgFlags"] = bytes((flags,))
    header["msgSecurityModel"] = 3
    message = SNMPv3Message()
    message["msgVersion"] = 3
    message["msgGlobalData"] = header
    message["msgSecurityParameters"] = encoder.encode(security)
    if encrypted:
        message["msgData"]["encryptedPDU"] = data
    else:
        scoped, _rest = decoder.decode(data, asn1Spec=ScopedPDU())
        message["msgData"]["plaintext"] = scoped
    return bytes(encoder.encode(message))


@pytest.mark.parametrize(("auth", "priv"), [(a, p) for a in AUTH_NAMES for p in (None, "aes128")])
def test_whole_message_and_mac_match_pysnmp(auth: str, priv: str | None) -> None:
    keys = our_keys(auth, priv)
    scoped = our_scoped_pdu(99)
    flags = usm.FLAG_AUTH | usm.FLAG_REPORTABLE
    data, priv_params = scoped, b""
    if priv is not None:
        flags |= usm.FLAG_PRIV
        data, priv_params = usm.encrypt(keys, 3, 1000, 5, scoped)
    params = usm.UsmParams(ENGINE_ID, 3, 1000, b"noc", b"", priv_params)
    assert keys.auth is not None
    n = keys.auth.mac_length
    ours, offset = usm.encode_v3(99, 65507, flags, params, data, mac_length=n)
    reference = pysnmp_message(flags, params, data, n, encrypted=priv is not None)
    assert ours == reference
    service = config.AUTH_SERVICES[AUTH_PROTOCOLS[auth]]
    signed = usm.authenticate(keys, ours, offset)
    assert signed == bytes(
        service.authenticate_outgoing_message(univ.OctetString(keys.auth_key), reference)
    )
    decoded = usm.decode_v3(signed)
    assert decoded.usm.auth_offset == offset
    assert usm.verify(keys, signed, offset, decoded.usm.auth_params)
    tampered = signed[:-1] + bytes((signed[-1] ^ 1,))
    assert not usm.verify(keys, tampered, offset, usm.decode_v3(tampered).usm.auth_params)


def test_settings_offer_exactly_the_protocols_implemented() -> None:
    assert set(get_args(AuthProtocol)) == set(usm.AUTH) == set(AUTH_PROTOCOLS)
    assert set(get_args(PrivProtocol)) == set(usm.PRIV) == set(PRIV_PROTOCOLS)


def test_report_counter_names_usm_stats() -> None:
    varbinds = [(oid_to_ber("1.3.6.1.6.3.15.1.1.2.0"), 0x41, 3)]
    assert usm.report_counter(varbinds) == "usmStatsNotInTimeWindows"
    assert usm.report_counter([(oid_to_ber("1.3.6.1.6.3.11.2.1.3.0"), 0x41, 1)]) is None


# --------------------------------------------------------------------------
# Round trips and garbage (hypothesis)
# --------------------------------------------------------------------------

octets = st.binary(max_size=40)
counters = st.integers(0, (1 << 31) - 1)


@settings(max_examples=200, deadline=None)
@given(
    msg_id=counters,
    engine_id=octets,
    boots=counters,
    time=counters,
    user=st.binary(max_size=32),
    priv_params=st.binary(max_size=8),
    flags=st.sampled_from([0, 4, 1, 5, 3, 7]),
    mac_length=st.sampled_from([0, 12, 16, 24, 32, 48]),
    request_id=counters,
    pdu_type=st.sampled_from([GET, RESPONSE, REPORT]),
)
def test_v3_round_trip(
    msg_id: int,
    engine_id: bytes,
    boots: int,
    time: int,
    user: bytes,
    priv_params: bytes,
    flags: int,
    mac_length: int,
    request_id: int,
    pdu_type: int,
) -> None:
    pdu = encode_message(1, b"", pdu_type, request_id, [(oid_to_ber(OIDS[0]), 0x43, 12345)])
    pdu = pdu[pdu.index(bytes((pdu_type,))) :]  # the PDU TLV only
    scoped = usm.encode_scoped_pdu(engine_id, b"ctx", pdu)
    data = b"\x99" * 24 if flags & usm.FLAG_PRIV else scoped
    params = usm.UsmParams(engine_id, boots, time, user, b"", priv_params)
    message, offset = usm.encode_v3(msg_id, 65507, flags, params, data, mac_length=mac_length)
    decoded = usm.decode_v3(message)
    assert (decoded.msg_id, decoded.flags, decoded.max_size) == (msg_id, flags, 65507)
    assert decoded.usm.auth_offset == offset
    assert decoded.usm.auth_params == bytes(mac_length)
    assert (decoded.usm.engine_id, decoded.usm.boots, decoded.usm.time) == (engine_id, boots, time)
    assert (decoded.usm.user, decoded.usm.priv_params) == (user, priv_params)
    assert decoded.data == data
    if not flags & usm.FLAG_PRIV:
        context, name, (kind, rid, _s, _i, varbinds) = usm.decode_scoped_pdu(decoded.data)
        assert (context, name, kind, rid) == (engine_id, b"ctx", pdu_type, request_id)
        assert varbinds == [(oid_to_ber(OIDS[0]), 0x43, 12345)]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_never_raises_anything_else(data: bytes) -> None:
    for decode in (usm.decode_v3, usm.decode_scoped_pdu):
        with contextlib.suppress(SnmpCodecError):
            decode(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 400), st.integers(0, 255))
def test_mutated_messages_never_raise_anything_else(position: int, value: int) -> None:
    keys = our_keys("sha", "aes128")
    data, priv_params = usm.encrypt(keys, 1, 2, 3, our_scoped_pdu(5))
    params = usm.UsmParams(ENGINE_ID, 1, 2, b"noc", b"", priv_params)
    message, _offset = usm.encode_v3(5, 65507, 7, params, data, mac_length=12)
    mutated = bytearray(message)
    mutated[position % len(mutated)] = value
    try:
        decoded = usm.decode_v3(bytes(mutated))
        plain = usm.decrypt(
            keys, decoded.usm.boots, decoded.usm.time, decoded.usm.priv_params, decoded.data
        )
        usm.decode_scoped_pdu(plain)
    except SnmpCodecError:
        pass


def test_des_needs_whole_blocks() -> None:
    keys = our_keys("md5", "des")
    with pytest.raises(SnmpCodecError):
        usm.decrypt(keys, 1, 2, bytes(8), b"\x00" * 13)
    with pytest.raises(SnmpCodecError):
        usm.decrypt(keys, 1, 2, bytes(7), b"\x00" * 16)


@pytest.mark.parametrize("padding", [0, 200, 70000])
def test_the_engine_routes_v3_answers_by_msg_id(padding: int) -> None:
    """The shared UDP engine matches v3 answers by msgID, whatever the length form."""
    params = usm.UsmParams(ENGINE_ID, 1, 2, b"u" * 32, b"", b"")
    scoped = usm.encode_scoped_pdu(ENGINE_ID, b"x" * padding, our_scoped_pdu(5))
    message, _offset = usm.encode_v3(123456789, 65507, 0, params, scoped)
    assert peek_request_id(message) == 123456789
    assert peek_request_id(message[:-1]) is None
