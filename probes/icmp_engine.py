"""The ICMP echo engine: one socket per address family, shared by every probe.

Why one socket: per-ping sockets (icmplib's model) make the kernel copy every
reply into every open raw socket, so with 200 pings in flight each echo costs
milliseconds of CPU. Here one socket per family carries all echoes; replies
are read by one reader callback that drains the socket and matches each one
to the waiting run through a dict keyed by (identifier, sequence), packed
into one int.

The per-echo path is kept cheap on purpose (the daemon must carry ten
thousand targets on one core): sends and deadlines are timers in
millisecond buckets behind a single ``loop.call_at`` timer
(:class:`probes.icmp_wakeups.TimerBuckets`: asyncio's own timer handles
cost a Python-level comparison per heap step); a run has no future: the
runs of :meth:`IcmpEngine.start` that settle during one wake-up (a drain of
the socket, a bucket of timers) are handed to their ``done`` callbacks by one
loop callback (:class:`probes.icmp_wakeups.Batch`); checksums are
precomputed per payload, and the reader matches an echo reply of ours
straight from its bytes (anything else goes through the pure functions of
:mod:`probes.icmp_packet`). During a burst of sends the engine also reads
replies in between, so the socket's receive queue cannot overflow while the
event loop is busy sending.

Modes: a raw socket (``SOCK_RAW``) when the process has CAP_NET_RAW, else a
datagram ping socket (``SOCK_DGRAM, IPPROTO_ICMP``) when the process's group
is inside ``net.ipv4.ping_group_range``; :class:`IcmpUnavailable` otherwise.

Timing: with ``kernel_timestamps`` (default) each read carries the kernel's
receive time (``SO_TIMESTAMPNS``), so a busy event loop that reads a reply
late does not inflate its RTT; the send time is taken just before
``sendto``. A monotonic clock is read alongside and guards against wall
clock steps.

Errors: ICMP errors quoting our echoes (destination unreachable, time
exceeded) settle that echo with a reason; they arrive as packets on raw
sockets and on the error queue (``IP_RECVERR``) of ping sockets. A refused
``sendto`` settles its echo too (``send_failure`` maps the errno), after
one immediate resend: on ping sockets an ICMP error also leaves a pending
socket error that the next ``sendto`` returns, whatever its destination.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final, Literal, NamedTuple

from monitor.contract import ProbeSetupError
from monitor.fast_init import fast_init
from probes import icmp_bpf
from probes import icmp_packet as pkt
from probes.icmp_wakeups import Batch, TimerBuckets, millisecond_of
from probes.neterrors import local_failure

log = logging.getLogger(__name__)

Mode = Literal["raw", "dgram"]
ModeChoice = Literal["auto", "raw", "dgram"]
SocketFactory = Callable[[int, int, int], socket.socket]
SockAddr = tuple[str, int] | tuple[str, int, int, int]

# Linux socket option numbers the socket module does not export.
SOL_RAW: Final = 255
ICMP_FILTER: Final = 1
ICMP6_FILTER: Final = 1
SO_TIMESTAMPNS: Final = 35
SO_RCVBUFFORCE: Final = 33
SO_SNDBUFFORCE: Final = 32
IP_RECVERR: Final = 11
IPV6_RECVERR: Final = 25

RECEIVE_BUFFER: Final = 4 << 20
"""Socket buffer size: a burst of replies from thousands of targets must fit."""
READ_SIZE: Final = 2048
ANCILLARY_SIZE: Final = 64
DRAIN_BUDGET: Final = 4096
"""Reads per readable callback, so a flood cannot starve the event loop."""
SEND_RETRIES: Final = 3
SEND_RETRY_DELAY: Final = 0.002
INLINE_DRAIN_EVERY: Final = 64
"""Sends between reads during a burst (keeps the receive queue short)."""

_TIMESPEC: Final = struct.Struct("=qq")
_TIMESPEC_LEN: Final = _TIMESPEC.size
_timespec: Final = _TIMESPEC.unpack_from
_SOL_SOCKET: Final = socket.SOL_SOCKET
_wall: Final = time.time  # module globals: one lookup less per echo than time.time
_monotonic: Final = time.monotonic
_INT: Final = struct.Struct("=i")
_SENT: Final = struct.Struct("=ddq")
"""One echo of a run as sent: its wall and monotonic send times, and its key (-1: not out)."""
_SENT_SIZE: Final = _SENT.size
_pack_sent: Final = _SENT.pack_into
_unpack_sent: Final = _SENT.unpack_from
_NOT_SENT: Final = _SENT.pack(0.0, 0.0, -1)
_ECHO_HEAD: Final = struct.Struct("!BBHI8s")
"""An echo's type, code, checksum, identifier and sequence (32 bits), and cookie."""
_ECHO_HEAD_LEN: Final = _ECHO_HEAD.size
_IPV4_PLAIN: Final = 0x45
"""An IPv4 header's first byte without options (version 4, 20 bytes)."""
_IPV4_HEADER_LEN: Final = 20
_Echo = tuple[bytes, int, Callable[[int, int, int, int, bytes], bytes]]
"""A payload, its checksum base and the packer of a whole echo request carrying it."""
_V4_PASS: Final = (pkt.ICMP_ECHO_REPLY, pkt.ICMP_DEST_UNREACH, pkt.ICMP_TIME_EXCEEDED)
_V6_PASS: Final = (pkt.ICMP6_ECHO_REPLY, pkt.ICMP6_DEST_UNREACH, pkt.ICMP6_TIME_EXCEEDED)
_RETRY_ERRNOS: Final = frozenset({errno.EAGAIN, errno.ENOBUFS})
_UNREACHABLE_ERRNOS: Final = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_NO_V6_ERRNOS: Final = frozenset({errno.ENETUNREACH, errno.EADDRNOTAVAIL})

UNAVAILABLE_HELP: Final = (
    "ICMP needs a raw socket or unprivileged ping sockets: run under the systemd unit "
    "(AmbientCapabilities=CAP_NET_RAW), or allow ping sockets with "
    '`sysctl -w net.ipv4.ping_group_range="0 2147483647"`, or give CAP_NET_RAW to the '
    "monitor's own venv interpreter only (never the system python3): "
    '`setcap cap_net_raw+ep "$(readlink -f .venv/bin/python)"` (README "ICMP without root")'
)


class EchoAnswer(NamedTuple):
    """Who answered one echo of a TTL-limited run, and how (path traces).

    ``kind`` is ``"reply"`` (the destination itself), ``"ttl_exceeded"`` (a
    router on the way, where the TTL ran out) or ``"unreachable"`` (a router
    that has no way on); ``responder`` is the address the answer came from.
    """

    kind: str
    responder: str
    rtt: float


class IcmpUnavailable(ProbeSetupError):
    """Neither a raw nor a datagram ICMP socket can be opened (message for the operator)."""


@fast_init
@dataclass(frozen=True, slots=True)
class PingOutcome:
    """What one run of echoes to one destination produced.

    ``rtts`` has one entry per attempted echo in sequence order, ``None``
    for an echo that got no reply; ``failures`` are (reason, message) pairs
    for echoes that failed outright (an ICMP error or a refused send).

    One is made per run: its constructor is :func:`monitor.fast_init.fast_init`'s.
    """

    destination: str
    rtts: tuple[float | None, ...]
    failures: tuple[tuple[str, str], ...]
    answers: tuple[EchoAnswer | None, ...] = ()
    """Per echo, who answered (only for runs with a ``ttl``, i.e. traces)."""

    @property
    def sent(self) -> int:
        """Echoes attempted (a refused send counts, as a lost echo)."""
        return len(self.rtts)

    @property
    def received(self) -> int:
        return sum(rtt is not None for rtt in self.rtts)


def icmp_filter_v4(passed: tuple[int, ...] = _V4_PASS) -> bytes:
    """The ``ICMP_FILTER`` value: a 32-bit mask whose set bits BLOCK a type."""
    mask = 0xFFFFFFFF
    for icmp_type in passed:
        mask &= ~(1 << icmp_type)
    return struct.pack("=I", mask)


def icmp_filter_v6(passed: tuple[int, ...] = _V6_PASS) -> bytes:
    """The ``ICMP6_FILTER`` value: 256 bits as 8 words; a set bit blocks a type."""
    words = [0xFFFFFFFF] * 8
    for icmp_type in passed:
        words[icmp_type >> 5] &= ~(1 << (icmp_type & 31))
    return struct.pack("=8I", *words)


def send_failure(exc: OSError, *, v6: bool) -> tuple[str, str]:
    """Map a refused ``sendto`` to a probe reason and message."""
    local = local_failure(exc, "send")
    if local is not None:
        return local.reason, local.message
    if v6 and exc.errno in _NO_V6_ERRNOS:
        return "address_family", f"no IPv6 route ({exc.strerror}); is IPv6 configured here?"
    if exc.errno in _UNREACHABLE_ERRNOS:
        return "unreachable", f"send: {exc.strerror}"
    return "send_error", f"send: {exc.strerror or exc}"


class _Channel:
    """One socket (one address family) and the echoes outstanding on it."""

    __slots__ = (
        "family",
        "ident_base",
        "ident_shift",
        "key_mask",
        "mode",
        "next_key",
        "parse",
        "pending",
        "sock",
        "unread",
        "v6",
    )

    def __init__(self, sock: socket.socket, mode: Mode, ident_base: int) -> None:
        self.sock = sock
        self.family = sock.family
        self.v6 = sock.family == socket.AF_INET6
        self.mode = mode
        # Raw sockets send any identifier, so the key space spans
        # (identifier, sequence); ping sockets have one kernel-chosen
        # identifier and only 16 bits of sequence.
        self.ident_base = ident_base
        # A key plus this, in 32 bits, is the identifier and sequence as sent
        # (identifier in the high half); a reply's pair minus it is the key.
        self.ident_shift = ident_base << 16
        self.key_mask = 0xFFFFFFFF if mode == "raw" else 0xFFFF
        self.next_key = 0
        self.pending: dict[int, tuple[_Run, int]] = {}
        self.unread = 0  # sends since the socket was last drained
        if self.v6:
            self.parse = pkt.parse_v6
        elif mode == "raw":
            self.parse = pkt.parse_v4_raw
        else:
            self.parse = pkt.parse_v4_dgram

    def allocate(self) -> int | None:
        """The next free key; never one still outstanding."""
        pending = self.pending
        for _ in range(min(len(pending) + 1, self.key_mask + 1)):
            key = self.next_key
            self.next_key = (key + 1) & self.key_mask
            if key not in pending:
                return key
        return None

    def ident_seq(self, key: int) -> tuple[int, int]:
        return ((key >> 16) + self.ident_base) & 0xFFFF, key & 0xFFFF


class _Run:
    """The state of one probe run: its echoes, their times, and whom to tell when it settles."""

    __slots__ = (
        "answers",
        "base",
        "build",
        "channel",
        "count",
        "deadline",
        "destination",
        "done",
        "failures",
        "interval",
        "keys",
        "next_index",
        "on_settled",
        "payload",
        "rtts",
        "sent",
        "settled",
        "sockaddr",
        "start",
        "ttl",
        "unresolved",
    )

    def __init__(  # noqa: PLR0917 - positional: one run per probe run, keywords cost
        self,
        channel: _Channel,
        sockaddr: SockAddr,
        echo: _Echo,
        count: int,
        interval: float,
        start: float,
        deadline: float,
        on_settled: Callable[[_Run], None],
        done: Callable[[PingOutcome], None] | None,
        ttl: int | None,
    ) -> None:
        self.channel = channel
        self.sockaddr = sockaddr
        self.destination = sockaddr[0]
        self.payload, self.base, self.build = echo
        self.count = count
        self.interval = interval
        self.start = start
        self.deadline = deadline
        # No future per run: a future, its done callback and the loop handle that
        # calls it cost as much as an echo. The engine is told once, and
        # ``settled`` is what its timers and the reader check.
        self.on_settled = on_settled
        self.done = done
        self.settled = False
        self.rtts: list[float | None] = [None] * count
        # The echoes' send times and keys in one bytearray (:data:`_SENT` per echo),
        # and a list made on the first failure only: a run in flight is walked by the
        # garbage collector's young collections and by the periodic pass, about 1 µs an
        # object, and a bytearray is not tracked (arrays are, on Python 3.11: this was
        # three of them). At 10,000 targets a run once held about 25 tracked objects.
        self.sent = bytearray(_NOT_SENT * count)
        self.failures: list[tuple[str, str]] | None = None
        self.next_index = 0
        self.unresolved = count
        # Traces only: the TTL of every echo and who answered each one.
        self.ttl = ttl
        self.answers: list[EchoAnswer | None] | None = None if ttl is None else [None] * count

    def resolve(self) -> None:
        """One echo is settled (answered, failed or never sent)."""
        self.unresolved -= 1
        if self.unresolved <= 0 and not self.settled:
            self.settled = True
            self.on_settled(self)

    def fail(self, reason: str, message: str) -> None:
        if self.failures is None:
            self.failures = []
        self.failures.append((reason, message))
        self.resolve()

    def expire(self) -> None:
        if not self.settled:
            self.settled = True
            self.on_settled(self)

    def outcome(self) -> PingOutcome:
        sent = self.next_index
        rtts = self.rtts
        return PingOutcome(
            self.destination,
            tuple(rtts) if sent == self.count else tuple(rtts[:sent]),
            tuple(self.failures) if self.failures else (),
            () if self.answers is None else tuple(self.answers[:sent]),
        )


class _Retry(NamedTuple):
    """An echo whose send is tried again (a full send buffer)."""

    run: _Run
    echo: int  # its index in the run
    attempt: int


class IcmpEngine:
    """Owns the ICMP sockets and runs echo trains over them.

    Use as ``async with IcmpEngine() as engine`` (or :meth:`open` /
    :meth:`close` from a running loop). ``mode`` forces ``"raw"`` or
    ``"dgram"``; ``socket_factory`` is the seam tests use to simulate a
    host without IPv6 or a failing ``sendto``.
    """

    def __init__(
        self,
        *,
        mode: ModeChoice = "auto",
        socket_factory: SocketFactory = socket.socket,
        kernel_timestamps: bool = True,
        receive_buffer: int = RECEIVE_BUFFER,
    ) -> None:
        self._mode_choice = mode
        self._socket_factory = socket_factory
        self._kernel_timestamps = kernel_timestamps
        self._receive_buffer = receive_buffer
        self._cookie = os.urandom(pkt.COOKIE_LEN)
        self._ident_base = int.from_bytes(os.urandom(2), "big")
        self._channels: dict[int, _Channel] = {}
        self._unavailable: dict[int, str] = {}
        self._payloads: dict[tuple[int, bool], _Echo] = {}
        self._runs: set[_Run] = set()
        self._settled: Batch[_Run] | None = None  # runs of start(), delivered per wake-up
        self._settle: Callable[[_Run], None] | None = None  # its add(), bound once
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: TimerBuckets | None = None
        self._mode: Mode | None = None
        # Bound once: ``self._send_next`` makes a new bound method at every use, one
        # more object per timer for the garbage collector to walk.
        self._send_next_bound = self._send_next

    # ---------------------------------------------------------------- opening

    @property
    def mode(self) -> Mode:
        """``"raw"`` or ``"dgram"``: which socket type the engine uses."""
        if self._mode is None:
            raise RuntimeError("the ICMP engine is not open")
        return self._mode

    @property
    def outstanding(self) -> int:
        """Echoes sent and neither answered nor expired yet: 0 whenever no run is
        in flight (:meth:`close` checks it; a leak would grow it for ever)."""
        return sum(len(channel.pending) for channel in self._channels.values())

    def unavailable(self, family: int) -> str | None:
        """Why ``family`` cannot be pinged (e.g. no IPv6 here), or ``None``."""
        if family in self._channels:
            return None
        return self._unavailable.get(family, "the ICMP engine is not open")

    async def __aenter__(self) -> IcmpEngine:
        self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        """Open one socket per family; IPv6 may fail, IPv4 or IPv6 must work."""
        self._loop = asyncio.get_running_loop()
        self._timers = TimerBuckets(self._loop)
        self._settled = Batch(self._loop.call_soon, self._deliver)
        self._settle = self._settled.add
        errors: dict[int, list[OSError]] = {}
        for family in (socket.AF_INET, socket.AF_INET6):
            channel = self._open_family(family, errors.setdefault(family, []))
            if channel is not None:
                self._channels[family] = channel
                self._loop.add_reader(channel.sock.fileno(), self._on_readable, channel)
        if not self._channels:
            raise IcmpUnavailable(_unavailable_message(errors))
        log.info("ICMP: using %s sockets", self.mode)
        for family, name in ((socket.AF_INET, "IPv4"), (socket.AF_INET6, "IPv6")):
            if family not in self._channels:
                reason = "; ".join(str(e) for e in errors[family]) or "no socket"
                self._unavailable[family] = f"{name} unavailable on this host ({reason})"
                log.warning("ICMP: %s", self._unavailable[family])

    def _open_family(self, family: int, errors: list[OSError]) -> _Channel | None:
        """Try the mode already chosen, else raw then datagram."""
        candidates: tuple[Mode, ...]
        if self._mode is not None:
            candidates = (self._mode,)
        elif self._mode_choice == "auto":
            candidates = ("raw", "dgram")
        else:
            candidates = (self._mode_choice,)
        for mode in candidates:
            try:
                channel = self._open_channel(family, mode)
            except OSError as exc:
                errors.append(exc)
                continue
            self._mode = mode
            return channel
        return None

    def _open_channel(self, family: int, mode: Mode) -> _Channel:
        v6 = family == socket.AF_INET6
        proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
        kind = socket.SOCK_RAW if mode == "raw" else socket.SOCK_DGRAM
        sock = self._socket_factory(family, kind, proto)
        try:
            ident = self._configure(sock, mode, v6=v6)
        except OSError:
            sock.close()
            raise
        return _Channel(sock, mode, ident)

    def _configure(self, sock: socket.socket, mode: Mode, *, v6: bool) -> int:
        """Set socket options; return the identifier base for this socket."""
        sock.setblocking(False)
        _set_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, self._receive_buffer)
        _set_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, self._receive_buffer)
        if self._kernel_timestamps:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if mode == "raw":
            # Without a filter a raw socket also reads every echo *request*
            # seen on loopback and all unrelated ICMP traffic.
            if v6:
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, icmp_filter_v6())
            else:
                sock.setsockopt(SOL_RAW, ICMP_FILTER, icmp_filter_v4())
            # ...and every other pinger's echo replies, which the kernel now drops.
            reply_type = pkt.ICMP6_ECHO_REPLY if v6 else pkt.ICMP_ECHO_REPLY
            icmp_bpf.attach(
                sock, icmp_bpf.cookie_program(self._cookie, ip_header=not v6, reply_type=reply_type)
            )
            return self._ident_base
        # Ping sockets report ICMP errors only through the error queue.
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            sock.bind(("::", 0))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.bind(("0.0.0.0", 0))  # noqa: S104 - the kernel picks our identifier
        ident: int = sock.getsockname()[1]
        return ident

    def close(self) -> None:
        """Finish runs in flight (with what they have) and close the sockets."""
        for run in list(self._runs):
            run.expire()
        if self.outstanding:
            log.warning("ICMP: %d echoes still tracked after every run ended", self.outstanding)
        if self._timers is not None:
            self._timers.close()
        for channel in self._channels.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(channel.sock.fileno())
            channel.sock.close()
        self._channels.clear()
        self._unavailable.clear()

    # ---------------------------------------------------------------- running

    async def ping(
        self,
        family: int,
        sockaddr: SockAddr,
        *,
        count: int,
        interval: float,
        payload_size: int,
        deadline: float,
        ttl: int | None = None,
    ) -> PingOutcome:
        """Send ``count`` echoes ``interval`` apart; wait for replies until ``deadline``.

        Returns early once every echo is settled. ``deadline`` is on the
        event loop's clock. Never raises for network conditions. With ``ttl``
        the echoes carry that TTL (hop limit) as ancillary data of their own
        send, so the shared socket's other echoes keep the default, and the
        outcome says who answered each echo (:attr:`PingOutcome.answers`):
        what a path trace is made of.
        """
        loop = self._loop
        if loop is None:
            raise RuntimeError("the ICMP engine is not open")
        future: asyncio.Future[None] = loop.create_future()
        run = self._begin(
            family,
            sockaddr,
            count,
            interval,
            payload_size,
            deadline,
            partial(_wake, future),
            None,
            ttl,
        )
        if run is None:
            return PingOutcome(sockaddr[0], (), ())  # no time left to send anything
        try:
            self._send_next(run)
            await future
        finally:
            self._finish(run)
        return run.outcome()

    def start(
        self,
        family: int,
        sockaddr: SockAddr,
        *,
        count: int,
        interval: float,
        payload_size: int,
        deadline: float,
        done: Callable[[PingOutcome], None],
    ) -> bool:
        """:meth:`ping` without a coroutine: ``done(outcome)`` is called when it settles.

        The scheduler's tick lane starts a tick's runs from one callback;
        a coroutine and a task per run cost as much as the echo itself.
        ``done`` runs from the loop (never inside this call): the runs that
        settle during one wake-up of the engine (a drain of the socket, a
        timer's sends, their deadlines) are delivered together by one loop
        callback, in the order they settled. False, and ``done`` is never
        called, when ``family`` cannot be pinged here (:meth:`unavailable`).
        """
        if family not in self._channels:
            return False
        settle = self._settle
        assert settle is not None  # open, as it has channels
        run = self._begin(
            family, sockaddr, count, interval, payload_size, deadline, settle, done, None
        )
        if run is None:
            loop = self._loop
            assert loop is not None
            loop.call_soon(done, PingOutcome(sockaddr[0], (), ()))
            return True
        # The lane starts a tick's runs a fraction of a millisecond after the
        # tick's time, which lies on a grid of whole milliseconds: counted from
        # the millisecond the run started in, its next echoes fall on later ticks
        # of that grid and go out in the same wake-up as the runs those ticks
        # start (counted from the exact start, they took a wake-up of their own,
        # a millisecond after each tick). The first gap is shorter by less than a
        # millisecond, the engine's timer resolution anyway.
        run.start = millisecond_of(run.start)
        self._send_next(run)
        return True

    def _deliver(self, run: _Run) -> None:
        """Hand a settled run of :meth:`start` to its ``done`` (from the batch's callback)."""
        self._finish(run)
        assert run.done is not None
        run.done(run.outcome())

    def _begin(  # noqa: PLR0917 - positional: called once per run
        self,
        family: int,
        sockaddr: SockAddr,
        count: int,
        interval: float,
        payload_size: int,
        deadline: float,
        on_settled: Callable[[_Run], None],
        done: Callable[[PingOutcome], None] | None,
        ttl: int | None,
    ) -> _Run | None:
        """A run registered with its deadline timer, or None when no time is left."""
        channel = self._channels.get(family)
        loop, timers = self._loop, self._timers
        if channel is None or loop is None or timers is None:
            raise RuntimeError(self.unavailable(family) or "the ICMP engine is not open")
        now = loop.time()
        if deadline <= now:
            return None
        echo = self._payloads.get((payload_size, channel.v6)) or self._payload(
            payload_size, channel.v6
        )
        run = _Run(channel, sockaddr, echo, count, interval, now, deadline, on_settled, done, ttl)
        self._runs.add(run)
        timers.at(deadline, _Run.expire, run)
        return run

    def _payload(self, size: int, v6: bool) -> _Echo:
        """The payload of ``size`` bytes, its checksum base and its echo packer (made once)."""
        cached = self._payloads.get((size, v6))
        if cached is None:
            payload = pkt.make_payload(self._cookie, size)
            # The header and the payload packed in one go: one bytes object per echo.
            build = struct.Struct(f"!BBHI{len(payload)}s").pack
            cached = (payload, pkt.checksum_base(payload, v6=v6), build)
            self._payloads[(size, v6)] = cached
        return cached

    def _finish(self, run: _Run) -> None:
        """Forget a run and the keys it still holds (its timers see it is done)."""
        self._runs.discard(run)
        # Every echo settled (the usual run) left no key behind: a key is filed
        # when its echo goes out and taken out when that echo is settled.
        if run.unresolved > 0:
            pending = run.channel.pending
            for _real, _mono, key in _SENT.iter_unpack(run.sent):
                if key < 0:
                    continue  # never went out
                entry = pending.get(key)
                # A key answered early may already belong to another run.
                if entry is not None and entry[0] is run:
                    del pending[key]
        run.settled = True  # a cancelled ping(): its timers see it is over

    def _send_next(self, run: _Run) -> None:
        """Send the run's next echo and schedule the one after it."""
        if run.settled:
            return
        index = run.next_index
        following = run.next_index = index + 1
        self._send_echo(run, index, 0)
        if following >= run.count:
            return
        when = run.start + following * run.interval
        timers = self._timers
        if when < run.deadline and timers is not None:
            timers.at(when, self._send_next_bound, run)
            return
        # The rest would go out after the deadline: they are not attempted.
        for _ in range(following, run.count):
            run.resolve()

    def _send_echo(self, run: _Run, index: int, attempt: int) -> None:
        channel = run.channel
        pending = channel.pending
        key = channel.next_key
        if key in pending:  # rare: the key space wrapped onto an echo still out
            found = channel.allocate()
            if found is None:
                run.fail("send_error", "too many ICMP echoes in flight")
                return
            key = found
        else:
            channel.next_key = (key + 1) & channel.key_mask
        # The identifier (high half) and the sequence, as sent.
        wire = (key + channel.ident_shift) & 0xFFFFFFFF
        if channel.v6:  # the kernel sums ICMPv6 (its pseudo-header included)
            packet = run.build(pkt.ICMP6_ECHO_REQUEST, 0, 0, wire, run.payload)
        else:
            # The RFC 1071 sum, folded: two folds bring any 32-bit sum to 16 bits.
            total = run.base + (wire >> 16) + (wire & 0xFFFF)
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            packet = run.build(pkt.ICMP_ECHO_REQUEST, 0, ~total & 0xFFFF, wire, run.payload)
        ttl = run.ttl
        real, mono = _wall(), _monotonic()
        try:
            if ttl is None:
                channel.sock.sendto(packet, run.sockaddr)
            else:
                channel.sock.sendmsg([packet], ttl_ancillary(ttl, v6=channel.v6), 0, run.sockaddr)
        except OSError as exc:
            ancillary = None if ttl is None else ttl_ancillary(ttl, v6=channel.v6)
            failure = _resend(channel.sock, packet, run.sockaddr, exc, ancillary)
            if failure is not None:
                self._send_failed(run, index, attempt, failure)
                return
        pending[key] = (run, index)
        _pack_sent(run.sent, index * _SENT_SIZE, real, mono, key)
        channel.unread += 1
        if channel.unread >= INLINE_DRAIN_EVERY:
            # A burst of sends: read what came back so far before going on.
            self._on_readable(channel)

    def _send_failed(self, run: _Run, index: int, attempt: int, exc: OSError) -> None:
        timers, loop = self._timers, self._loop
        if exc.errno in _RETRY_ERRNOS and attempt < SEND_RETRIES and timers and loop:
            # The send buffer is full for a moment (a burst): retry shortly.
            when = loop.time() + SEND_RETRY_DELAY
            timers.at(when, self._retry_echo, _Retry(run, index, attempt + 1))
            return
        run.fail(*send_failure(exc, v6=run.channel.v6))

    def _retry_echo(self, retry: _Retry) -> None:
        if not retry.run.settled:
            self._send_echo(*retry)

    # ---------------------------------------------------------------- reading

    def _on_readable(self, channel: _Channel) -> None:
        """Drain the socket: every queued reply is matched in one callback.

        An echo reply of ours (the common read, once per echo) is matched and
        settled right here, from one unpack of its header; anything else goes
        through the full parser and :meth:`_handle`.
        """
        channel.unread = 0
        recvmsg = channel.sock.recvmsg
        reply = self._reply
        cookie = self._cookie
        ident_shift = channel.ident_shift
        reply_type = pkt.ICMP6_ECHO_REPLY if channel.v6 else pkt.ICMP_ECHO_REPLY
        ip_header = channel.mode == "raw" and not channel.v6  # raw IPv4 reads start with it
        at = _IPV4_HEADER_LEN if ip_header else 0
        shortest = at + _ECHO_HEAD_LEN
        unpack = _ECHO_HEAD.unpack_from
        for _ in range(DRAIN_BUDGET):
            try:
                data, ancdata, _flags, addr = recvmsg(READ_SIZE, ANCILLARY_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                # A pending socket error raised by an ICMP error; the error
                # itself is read as a packet (raw) or from the error queue.
                continue
            if len(data) >= shortest and (
                not ip_header or (data[0] == _IPV4_PLAIN and data[9] == pkt.IPPROTO_ICMP)
            ):
                icmp_type, code, _sum, wire, mark = unpack(data, at)
                if icmp_type == reply_type and code == 0 and mark == cookie:
                    reply(channel, (wire - ident_shift) & 0xFFFFFFFF, addr[0], ancdata)
                    continue
            # An error, or an IPv4 header with options: the full parser.
            parsed = channel.parse(data, cookie)
            if parsed is not None:
                self._handle(channel, parsed, addr[0], ancdata, None)
        if channel.mode == "dgram":
            self._drain_error_queue(channel)

    def _drain_error_queue(self, channel: _Channel) -> None:
        level, kind = (
            (socket.IPPROTO_IPV6, IPV6_RECVERR) if channel.v6 else (socket.IPPROTO_IP, IP_RECVERR)
        )
        for _ in range(DRAIN_BUDGET):
            try:
                data, ancdata, _flags, addr = channel.sock.recvmsg(
                    READ_SIZE, 512, socket.MSG_ERRQUEUE
                )
            except OSError:
                break
            for cmsg_level, cmsg_type, cmsg_data in ancdata:
                if cmsg_level == level and cmsg_type == kind:
                    parsed = pkt.parse_error_queue(data, cmsg_data, self._cookie, v6=channel.v6)
                    if parsed is not None:
                        offender = pkt.error_offender(cmsg_data)
                        self._handle(channel, parsed, addr[0], [], offender)

    def _handle(
        self,
        channel: _Channel,
        parsed: pkt.Parsed,
        source: str,
        ancdata: list[tuple[int, int, bytes]],
        offender: str | None,
    ) -> None:
        """Settle the echo a reply or error answers, if a run waits for it."""
        key = (((parsed[0] - channel.ident_base) & 0xFFFF) << 16) | parsed[1]
        if type(parsed) is pkt.EchoReply:
            self._reply(channel, key, source, ancdata)
            return
        entry = channel.pending.get(key)
        if entry is None:
            return
        run, index = entry
        assert isinstance(parsed, pkt.EchoError)
        # An error names the destination of the quoted request; a router's
        # error about someone else's echo with the same key is not ours.
        if (parsed.destination or source).partition("%")[0] != run.destination.partition("%")[0]:
            return
        del channel.pending[key]
        what = pkt.describe_error(parsed.icmp_type, parsed.icmp_code, v6=channel.v6)
        # A raw read comes from the router that sent the error; an error-queue
        # read is addressed as the original echo, the router is the offender.
        sender = source if parsed.destination is not None else (offender or source)
        if run.answers is not None:
            run.answers[index] = EchoAnswer(parsed.reason, sender, _rtt(run, index, ancdata))
        run.fail(parsed.reason, f"{what} (from {sender})")

    def _reply(
        self, channel: _Channel, key: int, source: str, ancdata: list[tuple[int, int, bytes]]
    ) -> None:
        """Settle the echo an echo reply answers, if a run waits for it (from its destination)."""
        entry = channel.pending.get(key)
        if entry is None:
            return
        run, index = entry
        if source != run.destination:
            return
        del channel.pending[key]
        rtt = run.rtts[index] = _rtt(run, index, ancdata)
        if run.answers is not None:
            run.answers[index] = EchoAnswer("reply", source, rtt)
        run.resolve()


def _wake(future: asyncio.Future[None], _run: _Run) -> None:
    if not future.done():  # cancelled with its ping() task
        future.set_result(None)


def ttl_ancillary(ttl: int, *, v6: bool) -> list[tuple[int, int, bytes]]:
    """The control message that sets one send's TTL (IPv4) or hop limit (IPv6)."""
    value = _INT.pack(ttl)
    if v6:
        return [(socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, value)]
    return [(socket.IPPROTO_IP, socket.IP_TTL, value)]


def _resend(
    sock: socket.socket,
    packet: bytes,
    sockaddr: SockAddr,
    exc: OSError,
    ancillary: list[tuple[int, int, bytes]] | None = None,
) -> OSError | None:
    """Retry a refused send once, at once; the error that stands, or ``None`` if sent.

    An ICMP error about *another* echo leaves a pending error on a ping
    socket (``IP_RECVERR`` sets ``sk_err``) that the next ``sendto`` returns
    and clears, whatever its destination. A second try tells that stale
    error from one that belongs to this send (no route, firewall), which
    fails again.
    """
    if exc.errno in _RETRY_ERRNOS:
        return exc  # a full buffer: retried later, not at once
    try:
        if ancillary is None:
            sock.sendto(packet, sockaddr)
        else:
            sock.sendmsg([packet], ancillary, 0, sockaddr)
    except OSError as again:
        return again
    return None


def _rtt(run: _Run, index: int, ancdata: list[tuple[int, int, bytes]]) -> float:
    """Round-trip time of an echo, from the kernel receive time when there is one.

    The monotonic RTT bounds the kernel one: if the wall clock was stepped
    between send and receive, the kernel figure is wrong and dropped.
    """
    real, mono, _key = _unpack_sent(run.sent, index * _SENT_SIZE)
    elapsed: float = _monotonic() - mono
    for level, kind, data in ancdata:
        if kind == SO_TIMESTAMPNS and level == _SOL_SOCKET and len(data) >= _TIMESPEC_LEN:
            sec, nsec = _timespec(data)
            kernel: float = sec + nsec * 1e-9 - real
            if 0.0 <= kernel <= elapsed + 0.001:
                return kernel
    return elapsed


def _set_buffer(sock: socket.socket, force: int, plain: int, size: int) -> None:
    """Set a socket buffer, past net.core.*mem_max when privileged."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        try:
            sock.setsockopt(socket.SOL_SOCKET, plain, size)
        except OSError:
            log.debug("ICMP: could not set socket buffer %d to %d", plain, size)


def _unavailable_message(errors: dict[int, list[OSError]]) -> str:
    detail = "; ".join(str(e) for errs in errors.values() for e in errs)
    if all(
        isinstance(e, PermissionError) or e.errno in (errno.EPERM, errno.EACCES)
        for errs in errors.values()
        for e in errs
    ):
        return f"cannot open an ICMP socket ({detail}). {UNAVAILABLE_HELP}"
    return f"cannot open an ICMP socket: {detail}"
