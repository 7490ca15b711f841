"""SNMP trap and inform receiver: the ``[traps]`` listener.

One UDP socket (``[traps] listen``, 0.0.0.0:162 by default) receives v1 and
v2c traps, v2c informs, and v3 traps and informs. Each notification that
means something for continuity becomes the same :class:`~monitor.contract.ProbeEvent`
polling produces (``InterfaceDown``/``InterfaceUp``, ``DeviceRebooted``,
``OnBattery``/``BatteryLow``/``PowerRestored``) and is handed to
``context.emit(agent_address, event)`` at once, so a link-down is known
before the next poll; the daemon maps the agent address to its targets.

Two paths share the socket:

* v1/v2c go through the sans-IO codec (:mod:`probes.snmp_codec`,
  :mod:`probes.snmp_trap_codec`): a few microseconds per trap. A v2c inform
  is acknowledged with a Response built by the codec.
* v3 goes through pysnmp's USM and notification receiver (keys, HMAC,
  AES/DES, engine-ID discovery and time windows for informs), fed with our
  datagrams and answering through our socket. pysnmp is imported, in a
  thread, only when ``users`` are configured. Our cleartext look at the v3
  header first rejects unknown users and engine IDs without pysnmp's cost.

v3 keys are localised to the authoritative engine: for an inform that is
ours (``engine_id``, by default derived from the monitor's instance name so
it survives restarts); for a trap it is the sender's, so each user lists the
``engine_ids`` of the devices that send it v3 traps (as net-snmp's
``createUser -e``).

Every datagram is counted once by result (:data:`RESULTS`) in plain dicts and
reported by :class:`TrapCounters` as samples of
``continuity_snmp_traps_total{result=...}`` (the daemon's exporter renders
them), with the datagrams the kernel dropped because the socket's buffer was
full
(``continuity_snmp_traps_dropped_kernel_total``, from ``SO_RXQ_OVFL``, which
is why the socket is read with ``recvmsg`` rather than through asyncio's
datagram transport). Rejected datagrams are logged at most ``log_rate``
times a minute.

A flood cannot starve the event loop or the honest senders. The work per
datagram is bounded and never awaits, and at most a few dozen datagrams are
read per loop turn. The cheap checks come first: the source address
(``sources``), then the community (v1/v2c) or the v3 user and engine ID in
the cleartext header, so junk and strangers never spend a budget. Then each
source has its own budget (``max_per_source_per_second``) before the shared
one (``max_per_second``), so one flooding device cannot crowd out the
others. v3 messages that pass the header check cost pysnmp 0.4 ms (a bad
HMAC) to 0.8 ms (a good trap) each, twenty to forty times a v2c trap
(measured, bench/README.md), so they have their own, smaller budgets
(``max_v3_per_second``, default :data:`V3_BUDGET`, at most a sixth of a
core; ``max_v3_per_source_per_second``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import ipaddress
import logging
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, IPvAnyNetwork, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.config_types import SecretStr, StrictModel
from monitor.contract import ListenerKind, MetricFamily, ProbeContext, ProbeEvent, Sample
from probes.snmp_codec import (
    INFORM,
    TRAP_V2,
    VERSION_1,
    VERSION_2C,
    SnmpCodecError,
    VarBind,
    decode_message,
    oid_to_ber,
)
from probes.snmp_credentials import Problems, UserName, UsmUser
from probes.snmp_trap_codec import (
    VERSION_3,
    Notification,
    classify,
    decode_v3_header,
    inform_response,
    notification_from_varbinds,
    notification_of,
    peek_version,
)

__all__ = [
    "LISTENER",
    "RESULTS",
    "TrapCounters",
    "TrapListener",
    "TrapUser",
    "TrapsSection",
    "default_engine_id",
    "open_listener",
]

log = logging.getLogger(__name__)

RESULTS: Final = (
    "accepted",
    "bad_source",
    "informational",
    "bad_community",
    "unknown_user",
    "unknown_engine_id",
    "auth_failure",
    "decrypt_error",
    "not_in_time_window",
    "discovery",
    "unsupported_pdu",
    "malformed",
    "rate_limited",
)
"""Every result a received datagram is counted under (a bounded label set).

``accepted``: became an event. ``bad_source``: from an address outside
``[traps] sources``. ``informational``: a valid notification that
changes nothing (authenticationFailure, a UPS test, an unknown enterprise
trap, a repeated upsTrapOnBattery). ``discovery``: the first, empty step of
a v3 inform (engine-ID discovery), answered with a Report.
"""

RECEIVE_BUFFER: Final = 4 * 1024 * 1024
"""Socket receive buffer asked for, so a burst of traps (a site losing power)
waits in the kernel instead of being dropped."""
_SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)
_ON_BATTERY_HOLD: Final = 300.0
"""upsTrapOnBattery repeats every minute while on battery (RFC 1628): repeats
within this many seconds of the previous one from the agent are informational."""
_MAX_REMEMBERED_AGENTS: Final = 10_000
_MAX_SOURCES: Final = 10_000
"""Source addresses whose budgets and verdicts are remembered (least recent forgotten)."""
V3_BUDGET: Final = 200
"""Default v3 messages per second. Measured (``bench.traps_flood``): a bad HMAC costs
pysnmp 0.4 ms, a good v3 trap 0.8 ms, so 200/s is at most a sixth of a core."""
SO_RXQ_OVFL: Final = getattr(socket, "SO_RXQ_OVFL", 40)
"""Linux: each received datagram carries the socket's count of datagrams dropped so far."""
_READ_BATCH: Final = 32
"""Datagrams read per readiness callback before the loop runs other work."""
_MAX_DATAGRAM: Final = 65535
_CLOSE_TIMEOUT: Final = 2.0

# ==========================================================================
# Settings
# ==========================================================================


def split_listen(value: str) -> tuple[str, int]:
    """``"0.0.0.0:162"`` / ``"[::]:162"`` -> (IP literal, port). Raises ValueError."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not host:
        raise ValueError(f"expected HOST:PORT such as '0.0.0.0:162', got {value!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"write IPv6 addresses in brackets, e.g. '[::]:162', got {value!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"the host must be an IP address such as 0.0.0.0 or [::], got {host!r}"
        ) from None
    return host, port


def _listen(value: str) -> str:
    split_listen(value)
    return value


def _engine_id(value: str) -> str:
    text = value[2:] if value[:2].lower() == "0x" else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if not 5 <= len(raw) <= 32:
        raise ValueError(
            "expected an SNMP engine ID of 5 to 32 octets in hex such as "
            f"'0x80001f8880c71100000a1b2c3d', got {value!r}"
        )
    return raw.hex()


ListenAddress = Annotated[str, AfterValidator(_listen)]
EngineId = Annotated[str, AfterValidator(_engine_id)]
"""An engine ID in hex (``0x`` optional), stored as lowercase hex without ``0x``."""


def _raise_at(title: str, problems: Problems) -> None:
    """Report cross-field problems at the keys to edit, not at the enclosing table."""
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError("value_error", "{error}", {"error": message}),
                    loc=loc,
                    input=None,
                )
                for loc, message in problems
            ],
        )


class TrapUser(UsmUser):
    """A v3 user whose traps and informs are accepted (authNoPriv or authPriv only)."""

    user: UserName
    engine_ids: list[EngineId] = Field(default_factory=list)
    """Engine IDs of the devices sending this user *traps* (informs use ours)."""

    @model_validator(mode="after")
    def _security_level(self) -> TrapUser:
        unauthenticated = "required: unauthenticated (noAuthNoPriv) v3 traps are not accepted"
        _raise_at("TrapUser", self.usm_problems(unauthenticated=unauthenticated))
        return self


class TrapsSection(StrictModel):
    """The top-level ``[traps]`` table; its presence turns the receiver on."""

    listen: ListenAddress = "0.0.0.0:162"
    communities: list[SecretStr] = Field(default_factory=list)
    """v1/v2c communities accepted; others are counted as ``bad_community``."""
    users: list[TrapUser] = Field(default_factory=list)
    engine_id: EngineId | None = None
    """Our engine ID (informs are localised to it); default: from monitor.instance."""
    sources: list[IPvAnyNetwork] = Field(default_factory=list)
    """Networks traps are accepted from (e.g. ``10.0.0.0/8``); empty: any address."""
    max_per_second: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    """v1/v2c notifications with a good community handled per second, all sources
    together (bursts of as many); the rest is dropped (``rate_limited``)."""
    max_per_source_per_second: Annotated[int, Field(ge=1, le=1_000_000)] = 500
    """The same, per source address: one flooding device cannot use the whole budget."""
    max_v3_per_second: Annotated[int, Field(ge=1, le=100_000)] = V3_BUDGET
    """v3 messages of a known user and engine handed to pysnmp per second, all
    sources together. Each costs 0.4 ms (bad HMAC) to 0.8 ms (a good trap) of
    CPU (bench/README.md), so the default keeps a flood under a sixth of a core."""
    max_v3_per_source_per_second: Annotated[int, Field(ge=1, le=100_000)] = 50
    """The same, per source address."""
    log_rate: Annotated[int, Field(ge=0, le=10_000)] = 10
    """Log lines per minute about rejected datagrams (the counters count all)."""

    @model_validator(mode="after")
    def _accepts_something(self) -> TrapsSection:
        problems: Problems = []
        if not self.communities and not self.users:
            problems.append(
                (("communities",), "list at least one community or v3 user: nothing is accepted")
            )
        seen: set[str] = set()
        for index, user in enumerate(self.users):
            if user.user in seen:
                problems.append((("users", index, "user"), f"user {user.user!r} is listed twice"))
            seen.add(user.user)
        _raise_at("TrapsSection", problems)
        return self


def default_engine_id(instance: str) -> bytes:
    """A stable engine ID for informs: pysnmp's enterprise (20408), format 5, 12 octets.

    Derived from the instance name so a restart keeps it (senders cache it)
    and two instances differ.
    """
    digest = hashlib.sha256(f"continuity-monitor traps {instance}".encode()).digest()
    return b"\x80\x00\x4f\xb8\x05" + digest[:12]


# ==========================================================================
# Counting and limiting
# ==========================================================================


TRAPS_TOTAL: Final = "continuity_snmp_traps_total"
KERNEL_DROPPED_TOTAL: Final = "continuity_snmp_traps_dropped_kernel_total"
FAMILIES: Final = (
    MetricFamily(
        TRAPS_TOTAL,
        "counter",
        "SNMP traps and informs received, by result "
        "(accepted ones became events; the rest were ignored).",
    ),
    MetricFamily(
        KERNEL_DROPPED_TOTAL,
        "counter",
        "Datagrams to the trap port the kernel dropped, its receive buffer full "
        "(the monitor did not read fast enough).",
    ),
)


class TrapCounters:
    """Datagram counts by result, as samples of :data:`FAMILIES`."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
        self.kernel_dropped = 0
        """Datagrams the kernel dropped because the socket's buffer was full."""

    def count(self, result: str) -> None:
        self.counts[result] += 1

    def kernel_drops(self, total: int) -> None:
        """The socket's own count so far (``SO_RXQ_OVFL``); it only grows."""
        self.kernel_dropped = max(self.kernel_dropped, total)

    def samples(self) -> tuple[Sample, ...]:
        by_result = (
            Sample(TRAPS_TOTAL, count, (("result", result),))
            for result, count in self.counts.items()
        )
        return (*by_result, Sample(KERNEL_DROPPED_TOTAL, self.kernel_dropped))


class SourceBudgets:
    """A :class:`TokenBucket` per source address, so one sender cannot use all the budget.

    The least recently seen sources beyond ``limit`` are forgotten (a
    spoofed flood from many addresses is bounded by the global budget).
    """

    def __init__(self, rate: float, clock: Callable[[], float], limit: int = _MAX_SOURCES) -> None:
        self._rate = rate
        self._clock = clock
        self._limit = limit
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, source: str) -> bool:
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self._rate, self._clock)
            if len(self._buckets) > self._limit:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(source)
        return bucket.take()


class SourceFilter:
    """Whether a source address is in ``[traps] sources`` (any, when the list is empty)."""

    def __init__(self, networks: Sequence[Any], limit: int = _MAX_SOURCES) -> None:
        self._networks = tuple(networks)
        self._limit = limit
        self._verdicts: dict[str, bool] = {}

    def allows(self, source: str) -> bool:
        if not self._networks:
            return True
        verdict = self._verdicts.get(source)
        if verdict is None:
            verdict = self._check(source)
            if len(self._verdicts) >= self._limit:
                self._verdicts.clear()  # a spoofed sweep: start over rather than grow
            self._verdicts[source] = verdict
        return verdict

    def _check(self, source: str) -> bool:
        try:
            ip = ipaddress.ip_address(source.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self._networks)


class TokenBucket:
    """At most ``rate`` takes per second, in bursts of up to ``rate``."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self._rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._rate, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class LogLimiter:
    """Up to ``per_minute`` lines a minute; says how many were held back."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._limit = per_minute
        self._clock = clock
        self._window = clock()
        self._used = 0
        self._held = 0

    def allow(self) -> bool:
        now = self._clock()
        if now - self._window >= 60.0:
            if self._held:
                log.warning(
                    "%d more rejected SNMP datagrams were not logged in the last minute",
                    self._held,
                )
            self._window, self._used, self._held = now, 0, 0
        if self._used < self._limit:
            self._used += 1
            return True
        self._held += 1
        return False


# ==========================================================================
# v3: pysnmp's USM and notification receiver on our socket
# ==========================================================================


@dataclass
class _Outcome:
    """What pysnmp made of one datagram (set by its callbacks while it runs)."""

    result: str | None = None
    varbinds: list[VarBind] | None = None
    inform: bool = False


_USM_FAILURES: Final = (  # pysnmp.proto.errind class names -> our results
    ("UnknownEngineID", "discovery"),
    ("NotInTimeWindow", "not_in_time_window"),
    ("UnknownSecurityName", "unknown_user"),
    ("UnknownUserName", "unknown_user"),
    ("WrongDigest", "auth_failure"),
    ("AuthenticationFailure", "auth_failure"),
    ("AuthenticationError", "auth_failure"),
    ("UnsupportedSecurityLevel", "auth_failure"),
    ("DecryptionError", "decrypt_error"),
)


class _UsmReceiver:
    """One pysnmp ``SnmpEngine`` with our users, fed datagram by datagram.

    Built in a worker thread (importing pysnmp and localising keys take
    about a second), then attached to the loop and our transport: pysnmp's
    Reports and inform Responses leave through our socket.
    """

    def __init__(self, users: Sequence[TrapUser], engine_id: bytes) -> None:
        self._m = {
            name: importlib.import_module(f"pysnmp.{name}")
            for name in (
                "entity.engine",
                "entity.config",
                "entity.rfc3413.ntfrcv",
                "carrier.asyncio.dgram.udp",
                "carrier.asyncio.dgram.udp6",
                "carrier.asyncio.dispatch",
                "proto.api.v2c",
                "proto.errind",
            )
        }
        errind = self._m["proto.errind"]
        self._failures = tuple((getattr(errind, name), result) for name, result in _USM_FAILURES)
        self._protocols = importlib.import_module("probes.snmp_pysnmp_usm")
        self.engine: Any = self._m["entity.engine"].SnmpEngine()
        self._set_engine_id(engine_id)
        for user in users:
            self._add_user(user)
        self._m["entity.rfc3413.ntfrcv"].NotificationReceiver(self.engine, self._notification)
        self.engine.observer.register_observer(
            self._failure, "rfc3412.prepareDataElements:sm-failure"
        )
        self.engine.observer.register_observer(self._request, "rfc3412.receiveMessage:request")
        self._outcome = _Outcome()
        self._adapter: Any = None
        self._address_type: Any = None

    def _set_engine_id(self, engine_id: bytes) -> None:
        # Not SnmpEngine(snmpEngineID=...): that also keeps a boots counter in
        # a predictable /tmp directory, which a root daemon should not write.
        builder = self.engine.get_mib_builder()
        (symbol,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
        symbol.syntax = symbol.syntax.clone(engine_id)
        self.engine.snmpEngineID = symbol.syntax

    def _add_user(self, user: TrapUser) -> None:
        config = self._m["entity.config"]
        auth = self._protocols.AUTH_PROTOCOLS[user.auth_protocol]
        priv = (
            self._protocols.PRIV_PROTOCOLS[user.priv_protocol]
            if user.priv_protocol
            else config.USM_PRIV_NONE
        )
        # Hash each pass phrase once (a megabyte of hashing, RFC 3414 A.2) and
        # let pysnmp only localise the master keys to each engine ID.
        auth_key = user.auth_key.reveal().encode() if user.auth_key is not None else b""
        priv_key = user.priv_key.reveal().encode() if user.priv_key is not None else b""
        auth_master = config.AUTH_SERVICES[auth].hash_passphrase(auth_key)
        priv_master = config.PRIV_SERVICES[priv].hash_passphrase(auth, priv_key)
        octets = self._m["proto.api.v2c"].OctetString
        # Once for our engine (informs), once per sender engine (traps).
        for engine in (None, *(octets(bytes.fromhex(e)) for e in user.engine_ids)):
            config.add_v3_user(
                self.engine,
                user.user,
                auth,
                auth_master,
                priv,
                priv_master,
                securityEngineId=engine,
                authKeyType=config.USM_KEY_TYPE_MASTER,
                privKeyType=config.USM_KEY_TYPE_MASTER,
            )

    def attach(self, transport: _Socket, family: int) -> None:
        """Give pysnmp a dispatcher on this loop and a carrier that is our socket."""
        loop = asyncio.get_running_loop()
        carrier = self._m[
            "carrier.asyncio.dgram.udp6"
            if family == socket.AF_INET6
            else "carrier.asyncio.dgram.udp"
        ]
        dispatcher = self._m["carrier.asyncio.dispatch"].AsyncioDispatcher(loop=loop)
        self.engine.register_transport_dispatcher(dispatcher)
        adapter = (
            carrier.Udp6AsyncioTransport(loop=loop)
            if family == socket.AF_INET6
            else carrier.UdpAsyncioTransport(loop=loop)
        )
        adapter.transport = transport  # sends go out through our socket
        self._m["entity.config"].add_transport(self.engine, carrier.DOMAIN_NAME, adapter)
        self._adapter = adapter
        self._address_type = adapter.ADDRESS_TYPE

    def close(self) -> None:
        dispatcher = self.engine.transport_dispatcher
        if self._adapter is not None:
            self._adapter.transport = None  # the socket is ours to close, not pysnmp's
        if dispatcher is not None:
            dispatcher.close_dispatcher()

    def feed(self, data: bytes, address: Any) -> _Outcome:
        """Run one datagram through pysnmp, synchronously; its callbacks fill the outcome."""
        self._outcome = outcome = _Outcome()
        # The dispatcher's receive callback: parse, USM, then our callbacks.
        self._adapter._callback_function(self._adapter, self._address_type(address), data)
        return outcome

    # -- pysnmp callbacks (called inside feed) -------------------------------

    def _request(self, _engine: Any, _point: str, variables: Any, _ctx: Any) -> None:
        pdu = variables.get("pdu")
        inform = self._m["proto.api.v2c"].InformRequestPDU.tagSet
        self._outcome.inform = pdu is not None and pdu.tagSet == inform

    def _failure(self, _engine: Any, _point: str, variables: Any, _ctx: Any) -> None:
        status = variables.get("statusInformation") or {}
        indication = status.get("errorIndication")
        self._outcome.result = next(
            (result for kind, result in self._failures if isinstance(indication, kind)),
            "malformed",
        )

    def _notification(
        self,
        _engine: Any,
        _ref: Any,
        _context_engine: Any,
        _context: Any,
        varbinds: Any,
        _cb_ctx: Any,
    ) -> None:
        self._outcome.result = "accepted"
        self._outcome.varbinds = [_varbind(name, value) for name, value in varbinds]


def _varbind(name: Any, value: Any) -> VarBind:
    """A pysnmp (name, value) as the codec's ``(oid_bytes, tag, value)``."""
    oid = oid_to_ber(tuple(name))
    tag_object = value.tagSet[0]
    tag = tag_object.tagClass | tag_object.tagFormat | tag_object.tagId
    if tag in (0x05, 0x80, 0x81, 0x82):
        return oid, tag, None
    if tag in (0x04, 0x40, 0x44):
        return oid, tag, bytes(value.asOctets())
    if tag == 0x06:
        return oid, tag, tuple(value)
    return oid, tag, int(value)


# ==========================================================================
# The listener
# ==========================================================================

SockAddr = tuple[Any, ...]
Emit = Callable[[str, ProbeEvent], None]


class _Socket:
    """The trap socket on the event loop, read with ``recvmsg`` to see the kernel's drops.

    asyncio's datagram transport does not pass ancillary data, and the count
    of datagrams the kernel dropped (``SO_RXQ_OVFL``) comes only that way.
    Up to :data:`_READ_BATCH` datagrams are read per readiness callback, each
    handled at once (the work never awaits). ``sendto`` (inform responses,
    pysnmp's Reports) never blocks: a reply the socket cannot take is dropped,
    the sender retries.
    """

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes, SockAddr], object],
        on_drops: Callable[[int], None],
    ) -> None:
        self._sock = sock
        self._on_datagram = on_datagram
        self._on_drops = on_drops
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ancillary = socket.CMSG_SPACE(4)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._loop = None
        self._sock.close()

    def sendto(self, data: bytes, address: SockAddr) -> None:
        try:
            self._sock.sendto(data, address)
        except OSError as exc:
            log.debug("traps socket: cannot answer %s: %s", address, exc)

    def _readable(self) -> None:
        for _ in range(_READ_BATCH):
            try:
                data, ancillary, _flags, address = self._sock.recvmsg(
                    _MAX_DATAGRAM, self._ancillary
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors for Reports/Responses to a sender that went away.
                log.debug("traps socket: %s", exc)
                return
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(payload) >= 4:
                    self._on_drops(struct.unpack("=I", payload[:4])[0])
            self._on_datagram(data, address)


class TrapListener:
    """The receiver: ``async with TrapListener(section, emit) as listener: ...``.

    ``handle(data, address)`` is the whole per-datagram path (the socket
    calls it; tests and benchmarks may too) and returns the result counted.
    ``counters`` holds the counts (:meth:`samples` reports them); ``address``
    is the bound (host, port).
    """

    def __init__(
        self,
        section: TrapsSection,
        emit: Emit,
        *,
        instance: str = "continuity-monitor",
        clock: Callable[[], float] = time.monotonic,
        counters: TrapCounters | None = None,
    ) -> None:
        self.section = section
        self._emit = emit
        self._clock = clock
        self.counters = counters if counters is not None else TrapCounters()
        self._sources = SourceFilter(section.sources)
        self._bucket = TokenBucket(section.max_per_second, clock)
        self._per_source = SourceBudgets(section.max_per_source_per_second, clock)
        self._v3_bucket = TokenBucket(section.max_v3_per_second, clock)
        self._v3_per_source = SourceBudgets(section.max_v3_per_source_per_second, clock)
        self._log_limit = LogLimiter(section.log_rate, clock)
        self._communities = frozenset(c.reveal().encode() for c in section.communities)
        self.engine_id = (
            bytes.fromhex(section.engine_id) if section.engine_id else default_engine_id(instance)
        )
        self._users = {
            u.user.encode(): frozenset(bytes.fromhex(e) for e in u.engine_ids)
            for u in section.users
        }
        self._on_battery: OrderedDict[str, float] = OrderedDict()
        self._socket: _Socket | None = None
        self._usm: _UsmReceiver | None = None
        self.address: tuple[str, int] = split_listen(section.listen)

    def samples(self) -> tuple[Sample, ...]:
        """The counters, in :data:`FAMILIES` (the :class:`Listener` protocol)."""
        return self.counters.samples()

    # -- lifecycle ----------------------------------------------------------

    async def __aenter__(self) -> TrapListener:
        host, port = split_listen(self.section.listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = self._bind(family, host, port)
        try:
            if self.section.users:
                loop = asyncio.get_running_loop()
                self._usm = await loop.run_in_executor(
                    None, _UsmReceiver, self.section.users, self.engine_id
                )
            self._socket = _Socket(sock, self.handle, self.counters.kernel_drops)
            if self._usm is not None:
                self._usm.attach(self._socket, family)
            self._socket.start()
        except BaseException:
            await self.__aexit__(None, None, None)
            sock.close()
            raise
        self.address = sock.getsockname()[:2]
        log.info("receiving SNMP traps on %s", self.section.listen)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closed at once (no transport closing on a later loop turn), so a
        # reload can bind the same port right after this returns.
        if self._usm is not None:
            self._usm.close()
            self._usm = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _bind(self, family: int, host: str, port: int) -> socket.socket:
        """The socket, bound; a failure is an OSError whose text names the key."""
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            _grow_receive_buffer(sock)
            with contextlib.suppress(OSError):  # not Linux: the drops stay uncounted
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            hint = (
                " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                if exc.errno in (1, 13) and port < 1024
                else ""
            )
            raise OSError(
                exc.errno, f"traps.listen {self.section.listen}: {reason}{hint}"
            ) from None
        return sock

    # -- the per-datagram path -----------------------------------------------

    def handle(self, data: bytes, address: SockAddr) -> str:
        """Count, check, decode, answer (informs), classify and emit one datagram.

        The cheap checks come first (source, then community or v3 user and
        engine ID), so junk and strangers never spend the budgets; then the
        sender's own budget and the shared one.
        """
        source = _source_ip(address)
        if not self._sources.allows(source):
            return self._reject("bad_source", address=address, why="not in traps.sources")
        version = peek_version(data)
        if version in (VERSION_1, VERSION_2C):
            return self._community(data, address, source)
        if version == VERSION_3:
            return self._usm_message(data, address, source)
        return self._reject("malformed", address=address, why="not an SNMP message")

    def _community(self, data: bytes, address: SockAddr, source: str) -> str:
        try:
            message = decode_message(data)
            if message.community not in self._communities:
                return self._reject("bad_community", address=address, why="unknown community")
            if not self._per_source.take(source):
                return self._reject(
                    "rate_limited", address=address, why="above traps.max_per_source_per_second"
                )
            if not self._bucket.take():
                return self._reject(
                    "rate_limited", address=address, why="above traps.max_per_second"
                )
            notification = notification_of(message)
        except SnmpCodecError as exc:
            return self._reject("malformed", address=address, why=str(exc))
        if notification is None:
            return self._reject("unsupported_pdu", address=address, why="not a trap or inform")
        if notification.is_inform:
            self._acknowledge(message.community, notification.request_id, message.varbinds, address)
        return self._deliver(notification, address)

    def _acknowledge(
        self, community: bytes, request_id: int, varbinds: Sequence[VarBind], address: SockAddr
    ) -> None:
        try:
            response = inform_response(community, request_id, varbinds)
        except SnmpCodecError as exc:  # a value we decode but cannot re-encode
            self._log(address, f"cannot acknowledge inform: {exc}")
            return
        if self._socket is not None:
            self._socket.sendto(response, address)

    def _usm_message(self, data: bytes, address: SockAddr, source: str) -> str:
        try:
            header = decode_v3_header(data)
        except SnmpCodecError as exc:
            return self._reject("malformed", address=address, why=f"v3: {exc}")
        refused = self._header_refusal(header.user, header.engine_id)
        if refused is not None:
            return self._reject(*refused, address=address)
        if not self._v3_per_source.take(source):
            why = "above traps.max_v3_per_source_per_second"
            return self._reject("rate_limited", address=address, why=why)
        if not self._v3_bucket.take():
            return self._reject(
                "rate_limited", address=address, why="above traps.max_v3_per_second"
            )
        return self._through_pysnmp(data, address)

    def _header_refusal(self, user: bytes, engine_id: bytes) -> tuple[str, str] | None:
        """(result, why) when the cleartext header alone rules the message out."""
        # An empty user or engine ID is the discovery step of an inform.
        if user:
            engines = self._users.get(user)
            if engines is None:
                return "unknown_user", f"v3 user {_show(user)}"
            if engine_id and engine_id != self.engine_id and engine_id not in engines:
                return (
                    "unknown_engine_id",
                    f"engine ID {engine_id.hex()} is not in the engine_ids of v3 user "
                    f"{_show(user)}",
                )
        if self._usm is None:
            return "unknown_user", "no v3 users are configured"
        return None

    def _through_pysnmp(self, data: bytes, address: SockAddr) -> str:
        assert self._usm is not None
        try:
            outcome = self._usm.feed(data, address)
        except Exception as exc:  # hostile input must not take the receiver down
            return self._reject(
                "malformed", address=address, why=f"v3: {type(exc).__name__}: {exc}"
            )
        if outcome.result == "discovery":
            self.counters.count("discovery")
            return "discovery"
        if outcome.result != "accepted" or outcome.varbinds is None:
            return self._reject(
                outcome.result or "malformed", address=address, why="v3 message refused"
            )
        try:
            notification = notification_from_varbinds(
                VERSION_3, INFORM if outcome.inform else TRAP_V2, outcome.varbinds
            )
        except SnmpCodecError as exc:
            return self._reject("malformed", address=address, why=f"v3: {exc}")
        return self._deliver(notification, address)

    def _deliver(self, notification: Notification, address: SockAddr) -> str:
        agent = notification.agent_address or _source_ip(address)
        event = classify(notification)
        if event is not None and event.kind in ("OnBattery", "PowerRestored"):
            event = self._power_change(agent, event)
        if event is None:
            self.counters.count("informational")
            log.debug("informational trap %s from %s", _oid_text(notification.trap_oid), agent)
            return "informational"
        self.counters.count("accepted")
        self._emit(agent, event)
        return "accepted"

    def _power_change(self, agent: str, event: ProbeEvent) -> ProbeEvent | None:
        """upsTrapOnBattery repeats each minute while on battery: report it once."""
        now = self._clock()
        if event.kind == "PowerRestored":
            self._on_battery.pop(agent, None)
            return event
        last = self._on_battery.pop(agent, None)
        self._on_battery[agent] = now
        while len(self._on_battery) > _MAX_REMEMBERED_AGENTS:
            self._on_battery.popitem(last=False)
        if last is not None and now - last < _ON_BATTERY_HOLD:
            return None
        return event

    def _reject(self, result: str, why: str, *, address: SockAddr) -> str:
        self.counters.count(result)
        self._log(address, f"{result}: {why}")
        return result

    def _log(self, address: SockAddr, text: str) -> None:
        if self._log_limit.allow():
            log.warning("SNMP datagram from %s ignored: %s", _source_ip(address), text)


def _grow_receive_buffer(sock: socket.socket) -> None:
    # SO_RCVBUFFORCE passes rmem_max as root; otherwise take what is allowed.
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, RECEIVE_BUFFER)
            return
        except OSError:
            continue


def _source_ip(address: SockAddr) -> str:
    """The sender's IP as text; an IPv4-mapped IPv6 address as plain IPv4."""
    host = str(address[0])
    if host.startswith("::ffff:"):
        try:
            mapped = ipaddress.IPv6Address(host).ipv4_mapped
        except ValueError:
            return host
        return str(mapped) if mapped is not None else host
    return host


def _show(user: bytes) -> str:
    return repr(user.decode("utf-8", "replace"))


def _oid_text(oid: tuple[int, ...]) -> str:
    return ".".join(str(arc) for arc in oid)


# ==========================================================================
# Registry entry
# ==========================================================================


def open_listener(context: ProbeContext) -> TrapListener:
    """The listener's factory: the ``[traps]`` section, the daemon's emit and instance."""
    section = context.sections["traps"]
    assert isinstance(section, TrapsSection)
    return TrapListener(section, context.emit, instance=context.instance)


LISTENER: Final = ListenerKind(
    name="traps", section="traps", model=TrapsSection, open=open_listener, families=FAMILIES
)
