"""SNMPv3 polling over the shared UDP engine: USM users, engine discovery, time windows.

The v3 client offers the same small interface as the v1/v2c one
(``get``/``next``/``bulk`` returning :class:`~probes.snmp_engine.Reply` or
:class:`~probes.snmp_engine.Failure`): messages are built and read by
:mod:`probes.snmp_usm` around the PDUs of :mod:`probes.snmp_codec`, and they
travel over the same :class:`~probes.snmp_engine.SnmpUdpEngine` socket as
v1/v2c, matched by msgID (the client uses one number as msgID and
request-id).

Per agent address the session remembers the authoritative engine (ID,
boots, time and when they were learnt): the first request to an agent is a
discovery probe (empty engine ID, answered with a ``usmStatsUnknownEngineIDs``
Report carrying the agent's engine ID and clock). A ``usmStatsNotInTimeWindows``
Report (an agent reboot, a clock step) resynchronises from the Report's
authenticated clock and the request is sent again; a ``usmStatsUnknownEngineIDs``
Report for a known agent (a replaced unit) starts again with the engine ID it
names. Localized keys are kept per (credentials, engine ID); the megabyte of
password hashing per pass phrase runs once, in a worker thread.

USM failures become distinct reasons: ``unknown_user`` (usmStatsUnknownUserNames),
``auth`` (usmStatsWrongDigests, or a response failing our check),
``decrypt`` (usmStatsDecryptionErrors, an undecryptable response, or the
silent authPriv case below), ``security`` (unsupported security level, still
out of the time window after resynchronising, other Reports), ``timeout``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from probes.snmp_codec import (
    GET,
    GETBULK,
    GETNEXT,
    REPORT,
    RESPONSE,
    SnmpCodecError,
    VarBind,
    encode_request_pdu,
    oid_to_ber,
)
from probes.snmp_engine import Failure, Reply, SnmpUdpEngine, SockAddr
from probes.snmp_usm import (
    AUTH,
    FLAG_AUTH,
    FLAG_PRIV,
    FLAG_REPORTABLE,
    PRIV,
    LocalKeys,
    Pdu,
    UsmParams,
    V3Message,
    authenticate,
    decode_scoped_pdu,
    decode_v3,
    decrypt,
    encode_scoped_pdu,
    encode_v3,
    encrypt,
    hash_passphrase,
    localize,
    localize_priv,
    report_counter,
    verify,
)

__all__ = ["MAX_MESSAGE_SIZE", "Credentials", "V3Client", "V3Session"]

Credentials = tuple[str, str | None, str | None, str | None, str | None, str]
"""(user, auth protocol, auth key, priv protocol, priv key, context)."""

MAX_MESSAGE_SIZE: Final = 65507
"""msgMaxSize we announce: the largest UDP payload over IPv4."""
_DIAGNOSIS_SHARE: Final = 0.4
"""Share of a poll's time kept back to diagnose an unanswered authPriv request."""
_RESENDS: Final = 2
"""Requests sent again after a resynchronisation or a new engine ID, per call."""
_SYS_UPTIME: Final = oid_to_ber("1.3.6.1.2.1.1.3.0")
_TIME_MAX: Final = (1 << 31) - 1
_UNANSWERED: Final = frozenset({"timeout", "send_error", "local_resources"})


@dataclass(slots=True)
class _Peer:
    """An agent's authoritative engine as last learnt: ID, boots, time and when."""

    engine_id: bytes
    boots: int
    time: int
    at: float

    def clock(self, now: float) -> tuple[int, int]:
        return self.boots, min(self.time + int(now - self.at), _TIME_MAX)

    def sync(self, usm: UsmParams, now: float) -> None:
        self.boots, self.time, self.at = usm.boots, usm.time, now


class _Resend:
    """A Report asked for the request again (new clock or new engine ID)."""


_RESEND: Final = _Resend()


class V3Session:
    """The prober's v3 state: engines per agent address, keys per engine, the salt counter."""

    def __init__(self, engine: SnmpUdpEngine, *, salt: int | None = None) -> None:
        self._engine = engine
        self._masters: dict[tuple[str, str], bytes] = {}
        self._keys: dict[tuple[Credentials, bytes], LocalKeys] = {}
        self._peers: dict[tuple[str, int], _Peer] = {}
        self._salt = salt if salt is not None else int.from_bytes(os.urandom(8), "big")

    @property
    def engine(self) -> SnmpUdpEngine:
        return self._engine

    def next_salt(self) -> int:
        """A fresh privacy salt (a 64-bit counter from a random start, RFC 3826 3.1.2.1)."""
        self._salt = (self._salt + 1) & 0xFFFFFFFFFFFFFFFF
        return self._salt

    def peer(self, addr: SockAddr) -> _Peer | None:
        return self._peers.get((addr[0], addr[1]))

    def set_peer(self, addr: SockAddr, peer: _Peer) -> None:
        self._peers[(addr[0], addr[1])] = peer

    async def keys(self, credentials: Credentials, engine_id: bytes) -> LocalKeys:
        """The user's keys localized to ``engine_id`` (built off the loop the first time)."""
        cached = self._keys.get((credentials, engine_id))
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        keys = await loop.run_in_executor(None, self._localize, credentials, engine_id)
        self._keys[(credentials, engine_id)] = keys
        return keys

    def _master(self, hash_name: str, passphrase: str) -> bytes:
        master = self._masters.get((hash_name, passphrase))
        if master is None:
            master = hash_passphrase(passphrase.encode(), hash_name)
            self._masters[(hash_name, passphrase)] = master
        return master

    def _localize(self, credentials: Credentials, engine_id: bytes) -> LocalKeys:
        _user, auth_name, auth_key, priv_name, priv_key, _context = credentials
        if auth_name is None or auth_key is None:
            return LocalKeys.build(None, b"")
        auth = AUTH[auth_name]
        auth_local = localize(self._master(auth.hash_name, auth_key), engine_id, auth.hash_name)
        if priv_name is None or priv_key is None:
            return LocalKeys.build(auth, auth_local)
        priv = PRIV[priv_name]
        priv_master = self._master(auth.hash_name, priv_key)
        priv_local = localize_priv(priv, priv_master, engine_id, auth.hash_name)
        return LocalKeys.build(auth, auth_local, priv, priv_local)

    def client(
        self,
        credentials: Credentials,
        family: int,
        addr: SockAddr,
        *,
        retries: int,
        try_timeout: float,
        deadline: float,
    ) -> V3Client:
        return V3Client(
            self,
            credentials,
            family,
            addr,
            retries=retries,
            try_timeout=try_timeout,
            deadline=deadline,
        )


class V3Client:
    """``get``/``next``/``bulk`` against one agent with one user, for one poll.

    A wrong priv key is silent on the wire: the agent cannot decrypt the
    request and drops it, exactly like a dead device. So when the first
    authPriv request of a poll gets no answer, the client asks again at
    authNoPriv with the same user and auth key (with the time it kept back):
    an answer means the device is up and authenticates us, so the priv key
    or protocol is wrong (``decrypt``).
    """

    version = 3

    def __init__(
        self,
        session: V3Session,
        credentials: Credentials,
        family: int,
        addr: SockAddr,
        *,
        retries: int,
        try_timeout: float,
        deadline: float,
    ) -> None:
        self._session = session
        self._credentials = credentials
        self._user = credentials[0].encode()
        self._context = credentials[5].encode()
        self._family = family
        self._addr = addr
        self._retries = retries
        self._try_timeout = try_timeout
        self._deadline = deadline
        self._answered = False
        flags = FLAG_REPORTABLE
        if credentials[1] is not None:
            flags |= FLAG_AUTH
            if credentials[3] is not None:
                flags |= FLAG_PRIV
        self._flags = flags

    async def get(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._first_or_call(GET, oids, 0)

    async def next(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._first_or_call(GETNEXT, oids, 0)

    async def bulk(self, oids: Sequence[bytes], max_repetitions: int) -> Reply | Failure:
        return await self._first_or_call(GETBULK, oids, max_repetitions)

    async def _first_or_call(
        self, pdu_type: int, oids: Sequence[bytes], reps: int
    ) -> Reply | Failure:
        if self._answered or not self._flags & FLAG_PRIV:
            return await self._call(pdu_type, oids, reps, self._deadline)
        loop = asyncio.get_running_loop()
        reserve = (self._deadline - loop.time()) * _DIAGNOSIS_SHARE
        reply = await self._call(pdu_type, oids, reps, self._deadline - reserve)
        if not (isinstance(reply, Failure) and reply.reason == "timeout"):
            return reply
        return await self._diagnose(reply)

    async def _diagnose(self, timed_out: Failure) -> Failure:
        user, auth_proto, auth_key, _pp, _pk, context = self._credentials
        probe = self._session.client(
            (user, auth_proto, auth_key, None, None, context),
            self._family,
            self._addr,
            retries=0,
            try_timeout=max(0.05, self._deadline - asyncio.get_running_loop().time()),
            deadline=self._deadline,
        )
        answer = await probe.get([_SYS_UPTIME])
        if isinstance(answer, Failure) and answer.reason in _UNANSWERED:
            return timed_out
        if isinstance(answer, Failure) and answer.reason in ("auth", "unknown_user"):
            return answer
        return Failure(
            "decrypt",
            f"no answer at authPriv, but the agent answers user {user!r} at authNoPriv: "
            "wrong priv_key or priv_protocol",
        )

    # -- one request --------------------------------------------------------

    async def _call(
        self, pdu_type: int, oids: Sequence[bytes], reps: int, deadline: float
    ) -> Reply | Failure:
        peer = self._session.peer(self._addr)
        if peer is None:
            discovered = await self._discover(deadline)
            if isinstance(discovered, Failure):
                return discovered
            peer = discovered
        for _ in range(_RESENDS + 1):
            keys = await self._session.keys(self._credentials, peer.engine_id)
            outcome = await self._exchange(pdu_type, oids, reps, deadline, peer=peer, keys=keys)
            if not isinstance(outcome, _Resend):
                if isinstance(outcome, Reply):
                    self._answered = True
                return outcome
            peer = self._session.peer(self._addr) or peer
        return Failure(
            "security",
            "the agent keeps reporting usmStatsNotInTimeWindows / usmStatsUnknownEngineIDs "
            "after resynchronising",
        )

    async def _exchange(
        self,
        pdu_type: int,
        oids: Sequence[bytes],
        reps: int,
        deadline: float,
        *,
        peer: _Peer,
        keys: LocalKeys,
    ) -> Reply | Failure | _Resend:
        loop = asyncio.get_running_loop()
        boots, time = peer.clock(loop.time())
        sent: list[int] = []

        def build(request_id: int) -> bytes:
            sent.append(request_id)
            pdu = encode_request_pdu(pdu_type, request_id, oids, max_repetitions=reps)
            scoped = encode_scoped_pdu(peer.engine_id, self._context, pdu)
            return self._seal(request_id, peer.engine_id, boots, time, keys=keys, scoped=scoped)

        raw = await self._request(build, deadline)
        if isinstance(raw, Failure):
            return raw
        return self._read(raw, keys, peer, sent[0])

    def _seal(
        self,
        msg_id: int,
        engine_id: bytes,
        boots: int,
        time: int,
        *,
        keys: LocalKeys,
        scoped: bytes,
    ) -> bytes:
        """The whole request message: encrypted and authenticated as the flags say."""
        flags = self._flags
        priv_params = b""
        data = scoped
        if flags & FLAG_PRIV:
            data, priv_params = encrypt(keys, boots, time, self._session.next_salt(), scoped)
        auth = keys.auth if flags & FLAG_AUTH else None
        mac_length = auth.mac_length if auth is not None else 0
        usm = UsmParams(engine_id, boots, time, self._user, b"", priv_params)
        message, offset = encode_v3(
            msg_id, MAX_MESSAGE_SIZE, flags, usm, data, mac_length=mac_length
        )
        return authenticate(keys, message, offset) if auth is not None else message

    async def _request(self, build: Callable[[int], bytes], deadline: float) -> bytes | Failure:
        return await self._session.engine.request(
            self._family,
            self._addr,
            build,
            retries=self._retries,
            try_timeout=self._try_timeout,
            deadline=deadline,
        )

    async def _discover(self, deadline: float) -> _Peer | Failure:
        """Learn the agent's engine ID and clock with an empty-engine-ID probe (RFC 3414 4)."""

        def build(request_id: int) -> bytes:
            scoped = encode_scoped_pdu(b"", b"", encode_request_pdu(GET, request_id, ()))
            usm = UsmParams(b"", 0, 0, b"", b"", b"")
            return encode_v3(request_id, MAX_MESSAGE_SIZE, FLAG_REPORTABLE, usm, scoped)[0]

        raw = await self._request(build, deadline)
        if isinstance(raw, Failure):
            return raw
        try:
            message = decode_v3(raw)
        except SnmpCodecError as exc:
            return Failure("decode_error", f"malformed answer to engine discovery: {exc}")
        if not message.usm.engine_id:
            return Failure("security", "the agent's discovery answer names no engine ID")
        peer = _Peer(
            message.usm.engine_id,
            message.usm.boots,
            message.usm.time,
            asyncio.get_running_loop().time(),
        )
        self._session.set_peer(self._addr, peer)
        return peer

    # -- reading the answer ---------------------------------------------------

    def _read(
        self, raw: bytes, keys: LocalKeys, peer: _Peer, request_id: int
    ) -> Reply | Failure | _Resend:
        try:
            message = decode_v3(raw)
        except SnmpCodecError as exc:
            return Failure("decode_error", f"malformed response: {exc}")
        authenticated = self._authentic(raw, message, keys)
        if isinstance(authenticated, Failure):
            return authenticated
        pdu = self._open(message, keys)
        if isinstance(pdu, Failure):
            return pdu
        pdu_type, response_id, status, index, varbinds = pdu
        if pdu_type == REPORT:
            return self._report(message, varbinds, authenticated, peer)
        wrong = self._unacceptable(pdu_type, response_id == request_id, authenticated)
        if wrong is not None:
            return wrong
        if authenticated:
            peer.sync(message.usm, asyncio.get_running_loop().time())
        return Reply(status, index, varbinds)

    def _unacceptable(self, pdu_type: int, same_id: bool, authenticated: bool) -> Failure | None:
        if pdu_type != RESPONSE or not same_id:
            return Failure("decode_error", "the agent answered with something else than a Response")
        if self._flags & FLAG_AUTH and not authenticated:
            return Failure("security", "an unauthenticated response to an authenticated request")
        return None

    def _authentic(self, raw: bytes, message: V3Message, keys: LocalKeys) -> bool | Failure:
        """Whether the answer is authenticated (and its MAC right); a failure if it is wrong."""
        if not message.flags & FLAG_AUTH:
            return False
        if keys.auth is None or message.usm.user != self._user:
            return Failure("security", "an authenticated answer for another user")
        if not verify(keys, raw, message.usm.auth_offset, message.usm.auth_params):
            return Failure(
                "auth", "the response failed authentication: wrong auth_key or auth_protocol"
            )
        return True

    @staticmethod
    def _open(message: V3Message, keys: LocalKeys) -> Pdu | Failure:
        private = bool(message.flags & FLAG_PRIV)
        try:
            plaintext = message.data
            if private:
                if keys.priv is None:
                    return Failure("security", "an encrypted answer to a request without privacy")
                usm = message.usm
                plaintext = decrypt(keys, usm.boots, usm.time, usm.priv_params, message.data)
            _engine, _context, pdu = decode_scoped_pdu(plaintext)
        except SnmpCodecError as exc:
            if private:
                return Failure(
                    "decrypt",
                    f"cannot decrypt the response ({exc}): wrong priv_key or priv_protocol",
                )
            return Failure("decode_error", f"malformed scoped PDU: {exc}")
        return pdu

    def _report(
        self, message: V3Message, varbinds: list[VarBind], authenticated: bool, peer: _Peer
    ) -> Failure | _Resend:
        counter = report_counter(varbinds)
        user = self._credentials[0]
        now = asyncio.get_running_loop().time()
        if counter == "usmStatsNotInTimeWindows" and (authenticated or not self._flags & FLAG_AUTH):
            peer.sync(message.usm, now)
            return _RESEND
        if counter == "usmStatsUnknownEngineIDs" and message.usm.engine_id not in (
            b"",
            peer.engine_id,
        ):
            usm = message.usm
            self._session.set_peer(self._addr, _Peer(usm.engine_id, usm.boots, usm.time, now))
            return _RESEND
        reason, text = _REPORTS.get(counter or "", ("security", "the agent sent a Report"))
        return Failure(reason, f"{text} for user {user!r} ({counter or 'no usmStats varbind'})")


_REPORTS: Final[dict[str, tuple[str, str]]] = {
    "usmStatsUnknownUserNames": ("unknown_user", "the agent does not know the user"),
    "usmStatsWrongDigests": ("auth", "wrong digest: wrong auth_key or auth_protocol"),
    "usmStatsDecryptionErrors": (
        "decrypt",
        "the agent could not decrypt the request: wrong priv_key or priv_protocol",
    ),
    "usmStatsUnsupportedSecLevels": (
        "security",
        "the agent does not support this security level",
    ),
    "usmStatsNotInTimeWindows": (
        "security",
        "not in the agent's time window (an unauthenticated Report cannot resynchronise)",
    ),
    "usmStatsUnknownEngineIDs": ("security", "the agent does not know its own engine ID"),
}
