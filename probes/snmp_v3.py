"""SNMPv3 requests through pysnmp 7 (asyncio), with one shared ``SnmpEngine``.

v3 needs USM (key localisation, HMAC, DES/AES, engine discovery, time
windows): that is pysnmp's job here, not ours. This module adapts pysnmp's
high-level commands to the small client interface the prober walks with
(``get``/``next``/``bulk`` returning :class:`~probes.snmp_engine.Reply` or a
:class:`~probes.snmp_engine.Failure`) and converts pysnmp's values into the
codec's compact ``(oid_bytes, tag, value)`` varbinds, so the modules parse
v1/v2c and v3 answers with the same code.

USM failures become distinct reasons: ``unknown_user`` (the agent does not
know the user), ``auth`` (wrong digest: wrong auth key or protocol),
``decrypt`` (the agent could not decrypt: wrong priv key or protocol),
``security`` (other USM reports), ``timeout``.

pysnmp's high-level API keys USM users by user name, so the prober keeps
one ``SnmpEngine`` per distinct credential set (usually one for the whole
network) rather than strictly one per process.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any, Final

from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    Udp6TransportTarget,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
    usm3DESEDEPrivProtocol,
    usmAesBlumenthalCfb192Protocol,
    usmAesBlumenthalCfb256Protocol,
    usmAesCfb128Protocol,
    usmAesCfb192Protocol,
    usmAesCfb256Protocol,
    usmDESPrivProtocol,
    usmHMAC128SHA224AuthProtocol,
    usmHMAC192SHA256AuthProtocol,
    usmHMAC256SHA384AuthProtocol,
    usmHMAC384SHA512AuthProtocol,
    usmHMACMD5AuthProtocol,
    usmHMACSHAAuthProtocol,
    usmNoAuthProtocol,
    usmNoPrivProtocol,
)
from pysnmp.proto import errind
from pysnmp.proto.error import StatusInformation

from probes.snmp_codec import VarBind, ber_to_oid, oid_to_ber
from probes.snmp_engine import Failure, Reply, SockAddr

__all__ = ["AUTH_PROTOCOLS", "PRIV_PROTOCOLS", "Credentials", "V3Client", "V3Session"]

AUTH_PROTOCOLS: Final[dict[str, Any]] = {
    "md5": usmHMACMD5AuthProtocol,
    "sha": usmHMACSHAAuthProtocol,
    "sha224": usmHMAC128SHA224AuthProtocol,
    "sha256": usmHMAC192SHA256AuthProtocol,
    "sha384": usmHMAC256SHA384AuthProtocol,
    "sha512": usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: Final[dict[str, Any]] = {
    "des": usmDESPrivProtocol,
    "3des": usm3DESEDEPrivProtocol,
    "aes": usmAesCfb128Protocol,
    "aes128": usmAesCfb128Protocol,
    # aes192/aes256 extend the key as Cisco does (Reeder; net-snmp "AES-192-C"),
    # the "b" variants as draft-blumenthal (net-snmp "AES-192").
    "aes192": usmAesCfb192Protocol,
    "aes256": usmAesCfb256Protocol,
    "aes192b": usmAesBlumenthalCfb192Protocol,
    "aes256b": usmAesBlumenthalCfb256Protocol,
}

_REASONS: Final[tuple[tuple[type[errind.ErrorIndication], str], ...]] = (
    (errind.UnknownUserName, "unknown_user"),
    (errind.UnknownSecurityName, "unknown_user"),
    (errind.WrongDigest, "auth"),
    (errind.AuthenticationError, "auth"),
    (errind.AuthenticationFailure, "auth"),
    (errind.DecryptionError, "decrypt"),
    (errind.RequestTimedOut, "timeout"),
)

Credentials = tuple[str, str | None, str | None, str | None, str | None, str]
"""(user, auth protocol, auth key, priv protocol, priv key, context)."""

_DIAGNOSIS_SHARE: Final = 0.4
"""Share of a poll's time kept back to diagnose an unanswered authPriv request."""
_SYS_UPTIME: Final = oid_to_ber("1.3.6.1.2.1.1.3.0")


class V3Session:
    """Owns the prober's pysnmp engines and hands out per-poll clients.

    One ``SnmpEngine`` per distinct credential set (in practice one or a
    few): pysnmp's high-level API keys USM users by user name alone, so two
    key sets for the same name in one engine would replace each other while
    requests are in flight.
    """

    def __init__(self) -> None:
        self._engines: dict[Credentials, tuple[SnmpEngine, UsmUserData]] = {}

    def close(self) -> None:
        """Close pysnmp's transports (each engine's dispatcher owns its sockets)."""
        for engine, _user in self._engines.values():
            dispatcher = engine.transport_dispatcher
            if dispatcher is not None:
                dispatcher.close_dispatcher()
        self._engines.clear()

    def reset(self, credentials: Credentials) -> None:
        """Forget an engine's discovered peers (engine IDs, boots, time) by replacing it."""
        entry = self._engines.pop(credentials, None)
        if entry is not None and entry[0].transport_dispatcher is not None:
            entry[0].transport_dispatcher.close_dispatcher()

    def engine(self, credentials: Credentials) -> tuple[SnmpEngine, UsmUserData]:
        cached = self._engines.get(credentials)
        if cached is not None:
            return cached
        user, auth_proto, auth_key, priv_proto, priv_key, _context = credentials
        data = UsmUserData(
            user,
            authKey=auth_key,
            privKey=priv_key,
            authProtocol=AUTH_PROTOCOLS[auth_proto] if auth_proto else usmNoAuthProtocol,
            privProtocol=PRIV_PROTOCOLS[priv_proto] if priv_proto else usmNoPrivProtocol,
        )
        self._engines[credentials] = (SnmpEngine(), data)
        return self._engines[credentials]

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
        self._engine, self._user = session.engine(credentials)
        self._context = ContextData(contextName=credentials[5].encode())
        self._family = family
        self._addr = addr
        self._retries = retries
        self._try_timeout = try_timeout
        self._deadline = deadline
        self._answered = False
        self._transport: UdpTransportTarget | Udp6TransportTarget | None = None

    async def _target(self, per_try: float) -> UdpTransportTarget | Udp6TransportTarget:
        if self._transport is None:
            kind = Udp6TransportTarget if self._family == socket.AF_INET6 else UdpTransportTarget
            self._transport = await kind.create(
                (self._addr[0], self._addr[1]), timeout=per_try, retries=self._retries
            )
        return self._transport

    async def get(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._first_or_call(get_cmd, oids)

    async def next(self, oids: Sequence[bytes]) -> Reply | Failure:
        return await self._first_or_call(next_cmd, oids)

    async def bulk(self, oids: Sequence[bytes], max_repetitions: int) -> Reply | Failure:
        return await self._first_or_call(bulk_cmd, oids, 0, max_repetitions)

    async def _first_or_call(
        self, command: Any, oids: Sequence[bytes], *bulk: int
    ) -> Reply | Failure:
        private = self._credentials[3] is not None
        if self._answered or not private:
            return await self._call(command, oids, bulk, self._deadline)
        loop = asyncio.get_running_loop()
        reserve = (self._deadline - loop.time()) * _DIAGNOSIS_SHARE
        reply = await self._call(command, oids, bulk, self._deadline - reserve)
        if not (isinstance(reply, Failure) and reply.reason == "timeout"):
            return reply
        diagnosis = await self._diagnose(reply)
        if diagnosis.reason != "decrypt":
            return diagnosis
        # The agent is up and knows us. pysnmp does not recover by itself
        # when a device comes back with a new engine ID (a reboot without
        # persistent storage, a replaced unit): start this user's engine
        # afresh and try once more before blaming the priv key.
        self._session.reset(self._credentials)
        self._engine, self._user = self._session.engine(self._credentials)
        self._transport = None
        retried = await self._call(command, oids, bulk, self._deadline)
        return (
            diagnosis if isinstance(retried, Failure) and retried.reason == "timeout" else retried
        )

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
        if isinstance(answer, Failure) and answer.reason in ("timeout", "send_error"):
            return timed_out
        if isinstance(answer, Failure) and answer.reason in ("auth", "unknown_user"):
            return answer
        return Failure(
            "decrypt",
            f"no answer at authPriv, but the agent answers user {user!r} at authNoPriv: "
            "wrong priv_key or priv_protocol",
        )

    async def _call(
        self, command: Any, oids: Sequence[bytes], bulk: tuple[int, ...], deadline: float
    ) -> Reply | Failure:
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            return Failure("timeout", "no time left before the deadline")
        objects = [ObjectType(ObjectIdentity(ber_to_oid(oid))) for oid in oids]
        try:
            async with asyncio.timeout_at(deadline):
                target = await self._target(min(self._try_timeout, deadline - loop.time()))
                indication, status, index, varbinds = await command(
                    self._engine,
                    self._user,
                    target,
                    self._context,
                    *bulk,
                    *objects,
                    lookupMib=False,
                )
        except TimeoutError:
            return Failure("timeout", "no response before the deadline")
        except OSError as exc:
            return Failure("send_error", f"cannot send: {exc.strerror or exc}")
        except (StatusInformation, PySnmpError) as exc:
            # pysnmp raises some USM conditions instead of returning them.
            indication = exc["errorIndication"] if isinstance(exc, StatusInformation) else exc
            return Failure(_reason(indication), str(indication))
        if indication:
            return Failure(_reason(indication), str(indication))
        self._answered = True
        return Reply(int(status), int(index), [_varbind(vb) for vb in varbinds])


def _reason(indication: Any) -> str:
    for kind, reason in _REASONS:
        if isinstance(indication, kind):
            return reason
    return "security"


def _varbind(object_type: Any) -> VarBind:
    """A pysnmp ObjectType as the codec's ``(oid_bytes, tag, value)``."""
    name, value = object_type[0], object_type[1]
    oid = oid_to_ber(tuple(name))
    tag_object = value.tagSet[0]
    tag = tag_object.tagClass | tag_object.tagFormat | tag_object.tagId
    if tag in (0x05, 0x80, 0x81, 0x82):
        return oid, tag, None
    if tag in (0x04, 0x40, 0x44):
        return oid, tag, value.asOctets()
    if tag == 0x06:
        return oid, tag, tuple(value)
    return oid, tag, int(value)
