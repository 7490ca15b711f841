"""ICMP echo probe: the ``icmp`` settings model, the prober and the registry entry.

:class:`IcmpProber` turns a target into an address (literal IPs parsed once
and cached, names resolved on every run so DNS changes are followed), runs a
train of echoes through the shared :class:`~probes.icmp_engine.IcmpEngine`,
and turns what came back into a :class:`~monitor.contract.ProbeResult` with RTT,
jitter and loss samples. Expected failures (no reply, ICMP errors, DNS,
missing IPv6) are results with a reason from :data:`REASONS`, never
exceptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal, NamedTuple, cast

from pydantic import Field, model_validator

from monitor.config_types import Count, Duration, Ratio, format_duration, host_problem
from monitor.contract import (
    CheckSettings,
    MetricFamily,
    ProbeContext,
    ProbeKind,
    ProbeResult,
    ProbeTarget,
    Sample,
)
from probes.icmp_engine import (
    IcmpEngine,
    IcmpUnavailable,
    Mode,
    ModeChoice,
    PingOutcome,
    SockAddr,
    SocketFactory,
)
from probes.neterrors import LOCAL_RESOURCES, local_failure
from probes.trace import PathTrace, trace_path

__all__ = [
    "KIND",
    "REASONS",
    "EchoStats",
    "IcmpProber",
    "IcmpSettings",
    "IcmpUnavailable",
    "Resolver",
    "echo_stats",
    "open_prober",
    "summarize",
    "system_resolver",
]

REASONS: Final = (
    "ok",
    "timeout",
    "loss",
    "unreachable",
    "ttl_exceeded",
    "dns",
    "address_family",
    "send_error",
    LOCAL_RESOURCES,
)
"""Every reason an ICMP result can carry (a bounded label set)."""

RTT_METRIC: Final = "continuity_icmp_rtt_seconds"
JITTER_METRIC: Final = "continuity_icmp_jitter_seconds"
LOSS_METRIC: Final = "continuity_icmp_packet_loss_ratio"

# When nothing came back, the most telling failure names the result.
# local_resources first: the echoes never left, whatever else was seen says nothing.
_FAILURE_PRIORITY: Final = (
    LOCAL_RESOURCES,
    "unreachable",
    "ttl_exceeded",
    "address_family",
    "send_error",
)
_LITERAL_CACHE_LIMIT: Final = 65536
_GAI_FAMILY: Final = {"auto": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


class IcmpSettings(CheckSettings):
    """``icmp = { count = 5, packet_interval = "1s" }`` on a target or template."""

    count: Count = 3
    packet_interval: Duration = 1.0
    payload_size: Annotated[int, Field(ge=0, le=1400)] = 56
    family: Literal["auto", "ipv4", "ipv6"] = "auto"
    max_loss_ratio: Ratio = 1.0

    @model_validator(mode="after")
    def _echoes_fit_in_timeout(self) -> IcmpSettings:
        spread = (self.count - 1) * self.packet_interval
        if spread >= self.timeout:
            raise ValueError(
                f"count x packet_interval must leave time for the last reply: "
                f"{self.count - 1} x {format_duration(self.packet_interval)} = "
                f"{format_duration(spread)} is not shorter than timeout "
                f"{format_duration(self.timeout)}"
            )
        return self


# --------------------------------------------------------------------------
# Statistics and results (pure)
# --------------------------------------------------------------------------


class EchoStats(NamedTuple):
    """Figures of one echo train; RTT fields are ``None`` without replies.

    A named tuple: one is made per result, and a frozen dataclass's
    constructor costs a microsecond more (one ``object.__setattr__`` a field).
    """

    sent: int
    received: int
    loss_ratio: float
    rtt_min: float | None
    rtt_avg: float | None
    rtt_max: float | None
    jitter: float | None


_make_tuple = tuple.__new__
"""Makes a named tuple from a tuple of its fields without the Python-level ``__new__``."""


def echo_stats(rtts: Sequence[float | None]) -> EchoStats:
    """Min/avg/max RTT, jitter and loss of echoes listed in sequence order.

    Jitter is the mean absolute difference of consecutive RTTs among the
    replies received (RFC 3550's idea without its smoothing), so it needs
    two replies. With nothing sent the loss ratio is 1: nothing got through.
    """
    return _stats([rtt for rtt in rtts if rtt is not None], len(rtts))


def _stats(got: Sequence[float], sent: int) -> EchoStats:
    """:func:`echo_stats` of the replies ``got`` out of ``sent`` echoes."""
    received = len(got)
    loss = 1.0 - received / sent if sent else 1.0
    if not received:
        return EchoStats(sent, 0, loss, None, None, None, None)
    jitter = None
    if received >= 2:
        # A list, not a generator: for the usual three replies it is half the work.
        jitter = sum([abs(b - a) for a, b in itertools.pairwise(got)]) / (received - 1)
    figures = (sent, received, loss, min(got), sum(got) / received, max(got), jitter)
    return _make_tuple(EchoStats, figures)  # without the Python-level __new__


# The label tuples and value names of the RTT samples, made once: a result is kept
# per target (its state's last result), and 50,000 copies of the same small
# tuples and strings were a tenth of a kilobyte per target.
_RTT_STATS: Final = tuple(
    ((("stat", stat),), f"rtt_{stat}_seconds") for stat in ("min", "avg", "max")
)
(_MIN_LABELS, _), (_AVG_LABELS, _), (_MAX_LABELS, _) = _RTT_STATS
_sample = _make_tuple
"""Makes a :class:`Sample` without its Python-level ``__new__`` (five per result)."""


def stats_samples(stats: EchoStats) -> tuple[tuple[Sample, ...], dict[str, float]]:
    """The exported samples and the ``values`` mapping of a result."""
    sent, received, loss, low, avg, high, jitter = stats
    values = {
        "packet_loss_ratio": loss,
        "packets_sent": float(sent),
        "packets_received": float(received),
    }
    loss_sample = _sample(Sample, (LOSS_METRIC, loss, ()))
    if low is None or avg is None or high is None:
        return (loss_sample,), values
    values["rtt_min_seconds"] = low
    values["rtt_avg_seconds"] = avg
    values["rtt_max_seconds"] = high
    low_sample = _sample(Sample, (RTT_METRIC, low, _MIN_LABELS))
    avg_sample = _sample(Sample, (RTT_METRIC, avg, _AVG_LABELS))
    high_sample = _sample(Sample, (RTT_METRIC, high, _MAX_LABELS))
    if jitter is None:
        return (loss_sample, low_sample, avg_sample, high_sample), values
    values["jitter_seconds"] = jitter
    jitter_sample = _sample(Sample, (JITTER_METRIC, jitter, ()))
    return (loss_sample, low_sample, avg_sample, high_sample, jitter_sample), values


def summarize(
    outcome: PingOutcome, max_loss_ratio: float, *, name: str, started: float, duration: float
) -> ProbeResult:
    """Turn an echo train into a result: ok iff a reply came and loss is within bounds."""
    echoes = outcome.rtts
    sent = len(echoes)
    if sent >= 2 and None not in echoes and max_loss_ratio >= 0.0:
        return _answered(cast("tuple[float, ...]", echoes), name, started, duration)
    # Every echo answered is the usual run: its tuple is the replies' as it is.
    rtts = (
        cast("tuple[float, ...]", echoes)
        if None not in echoes
        else tuple(rtt for rtt in echoes if rtt is not None)
    )
    stats = _stats(rtts, len(echoes))
    samples, values = stats_samples(stats)
    received, loss = stats.received, stats.loss_ratio
    replies = f"{received}/{stats.sent} replies from {name}"
    if received and loss <= max_loss_ratio:
        message = f"{replies}, {_rtt_text(stats)}"
        return ProbeResult(True, "ok", message, started, duration, samples, values, (), rtts)
    if received:
        reason = "loss"
        message = (
            f"{replies}: loss {loss:.0%} above max_loss_ratio "
            f"{max_loss_ratio:.0%}, {_rtt_text(stats)}"
        )
    else:
        reason, cause = _no_reply_cause(outcome.failures)
        message = f"{replies}" + (f": {cause}" if cause else " within the deadline")
    return ProbeResult(False, reason, message, started, duration, samples, values, (), rtts)


def _answered(rtts: tuple[float, ...], name: str, started: float, duration: float) -> ProbeResult:
    """:func:`summarize` of the usual run, every echo (two or more) answered.

    The same result as the general path, made without its intermediate
    :class:`EchoStats`, its helpers' calls and its partial message strings.
    """
    sent = len(rtts)
    low, avg, high = min(rtts), sum(rtts) / sent, max(rtts)
    if sent == 3:  # the default count: the general path's sum of two, written out
        first, second, third = rtts
        jitter = (abs(second - first) + abs(third - second)) / 2
    else:
        jitter = sum([abs(b - a) for a, b in itertools.pairwise(rtts)]) / (sent - 1)
    values = {
        "packet_loss_ratio": 0.0,
        "packets_sent": float(sent),
        "packets_received": float(sent),
        "rtt_min_seconds": low,
        "rtt_avg_seconds": avg,
        "rtt_max_seconds": high,
        "jitter_seconds": jitter,
    }
    samples = (
        _NO_LOSS,
        _sample(Sample, (RTT_METRIC, low, _MIN_LABELS)),
        _sample(Sample, (RTT_METRIC, avg, _AVG_LABELS)),
        _sample(Sample, (RTT_METRIC, high, _MAX_LABELS)),
        _sample(Sample, (JITTER_METRIC, jitter, ())),
    )
    # %-formatting writes floats as format() does, a fifth faster than the f-string.
    message = _ANSWERED_TEXT % (
        sent,
        sent,
        name,
        low * 1000,
        avg * 1000,
        high * 1000,
        jitter * 1000,
    )
    return ProbeResult(True, "ok", message, started, duration, samples, values, (), rtts)


_NO_LOSS: Final = Sample(LOSS_METRIC, 0.0, ())
"""The loss sample of a run without loss (immutable, so shared)."""
_ANSWERED_TEXT: Final = "%d/%d replies from %s, rtt min/avg/max %.3f/%.3f/%.3f ms, jitter %.3f ms"


def failed(reason: str, message: str, *, started: float, duration: float) -> ProbeResult:
    """A result for a run that sent nothing (DNS, address family)."""
    samples, values = stats_samples(echo_stats(()))
    return ProbeResult(False, reason, message, started, duration, samples, values)


def _no_reply_cause(failures: Sequence[tuple[str, str]]) -> tuple[str, str]:
    for wanted in _FAILURE_PRIORITY:
        for reason, message in failures:
            if reason == wanted:
                return reason, message
    return "timeout", ""


def _rtt_text(stats: EchoStats) -> str:
    # One f-string: this runs for every result.
    text = (
        f"rtt min/avg/max {(stats.rtt_min or 0.0) * 1000:.3f}/"
        f"{(stats.rtt_avg or 0.0) * 1000:.3f}/{(stats.rtt_max or 0.0) * 1000:.3f} ms"
    )
    if stats.jitter is None:
        return text
    return f"{text}, jitter {stats.jitter * 1000:.3f} ms"


# --------------------------------------------------------------------------
# The prober
# --------------------------------------------------------------------------


Resolver = Callable[[str, int], Awaitable[Sequence[tuple[int, SockAddr]]]]
"""Resolve ``(host, AF_UNSPEC|AF_INET|AF_INET6)`` to ``(family, sockaddr)`` pairs."""


async def system_resolver(host: str, family: int) -> list[tuple[int, SockAddr]]:
    """The default :data:`Resolver`: the system's ``getaddrinfo`` in an executor."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_DGRAM)
    return [(fam, sockaddr) for fam, _type, _proto, _canon, sockaddr in infos]  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class _Address:
    """A target address ready for ``sendto``."""

    family: int
    sockaddr: SockAddr


class IcmpProber:
    """The live ``icmp`` kind: ``async with IcmpProber() as prober``.

    One prober owns one :class:`IcmpEngine` (one socket per address family)
    for every target. ``mode``, ``socket_factory`` and ``kernel_timestamps``
    are passed to the engine (tests force a mode or simulate a host without
    IPv6), or ``engine`` is that engine, built by the caller (who can then
    watch :attr:`IcmpEngine.outstanding`); ``resolver`` looks names up (tests
    resolve without DNS). Opening
    raises :class:`IcmpUnavailable` when no ICMP socket can be had, with a
    message telling the operator how to allow one.
    """

    def __init__(
        self,
        *,
        mode: ModeChoice = "auto",
        socket_factory: SocketFactory = socket.socket,
        kernel_timestamps: bool = True,
        resolver: Resolver = system_resolver,
        engine: IcmpEngine | None = None,
    ) -> None:
        self._resolver = resolver
        self._engine = engine or IcmpEngine(
            mode=mode, socket_factory=socket_factory, kernel_timestamps=kernel_timestamps
        )
        self._literals: dict[tuple[str, str], _Address | tuple[str, str]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def mode(self) -> Mode:
        """``"raw"`` or ``"dgram"``, once open."""
        return self._engine.mode

    async def __aenter__(self) -> IcmpProber:
        self._engine.open()
        # asyncio.get_running_loop() costs a getpid() system call on Python 3.11.
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._engine.close()

    async def probe(
        self, target: ProbeTarget, settings: IcmpSettings, *, deadline: float
    ) -> ProbeResult:
        """Ping ``target`` ``settings.count`` times; one attempt, never raises for the network."""
        started = time.time()
        loop = self._loop or asyncio.get_running_loop()
        begin = loop.time()
        deadline = min(deadline, begin + settings.timeout)
        # A literal seen before needs no coroutine (the common case, every run).
        address = self._literals.get((target.address, settings.family))
        if address is None:
            address = await self._resolve(target.address, settings.family, deadline)
        if isinstance(address, tuple):
            return failed(*address, started=started, duration=loop.time() - begin)
        unavailable = self._engine.unavailable(address.family)
        if unavailable is not None:
            return failed(
                "address_family",
                f"cannot ping {address.sockaddr[0]}: {unavailable}",
                started=started,
                duration=loop.time() - begin,
            )
        outcome = await self._engine.ping(
            address.family,
            address.sockaddr,
            count=settings.count,
            interval=settings.packet_interval,
            payload_size=settings.payload_size,
            deadline=deadline,
        )
        name = _display_name(target.address, outcome.destination)
        return summarize(
            outcome,
            settings.max_loss_ratio,
            name=name,
            started=started,
            duration=loop.time() - begin,
        )

    async def trace(
        self,
        target: ProbeTarget,
        settings: IcmpSettings,
        *,
        max_hops: int,
        probes_per_hop: int,
        deadline: float,
    ) -> PathTrace:
        """Trace the path to ``target`` with TTL-limited echoes (:mod:`probes.trace`).

        The address is resolved as for a ping (``settings.family``); one that
        cannot be had, or a family this host cannot ping, is a trace with
        ``error`` and no hops.
        """
        loop = self._loop or asyncio.get_running_loop()
        address = await self._resolve(target.address, settings.family, deadline)
        if isinstance(address, tuple):
            return PathTrace(target.address, (), False, 0, 0.0, address[1])
        unavailable = self._engine.unavailable(address.family)
        if unavailable is not None:
            return PathTrace(address.sockaddr[0], (), False, 0, 0.0, unavailable)
        if deadline <= loop.time():
            return PathTrace(address.sockaddr[0], (), False, 0, 0.0, "no time left")
        return await trace_path(
            self._engine,
            address.family,
            address.sockaddr,
            max_hops=max_hops,
            probes_per_hop=probes_per_hop,
            deadline=deadline,
        )

    def start(
        self,
        target: ProbeTarget,
        settings: IcmpSettings,
        *,
        deadline: float,
        done: Callable[[ProbeResult], None],
    ) -> bool:
        """:meth:`probe` without a coroutine, for an address already known (see
        :class:`monitor.contract.StartableProber`); False when the run needs
        :meth:`probe` (a name to look up, a family this host lacks)."""
        # A literal seen before (every run but a target's first) is one lookup.
        address = self._literals.get((target.address, settings.family)) or self._literal(
            target.address, settings.family
        )
        if not isinstance(address, _Address):
            return False
        started = time.time()
        loop = self._loop or asyncio.get_running_loop()
        begin = loop.time()
        finished = _Finished(done, target.address, settings.max_loss_ratio, started, begin, loop)
        # False for a family this host cannot ping: probe() reports it.
        return self._engine.start(
            address.family,
            address.sockaddr,
            count=settings.count,
            interval=settings.packet_interval,
            payload_size=settings.payload_size,
            deadline=min(deadline, begin + settings.timeout),
            done=finished,
        )

    async def _resolve(
        self, address: str, family: str, deadline: float
    ) -> _Address | tuple[str, str]:
        """An address to ping, or a (reason, message) failure."""
        literal = self._literal(address, family)
        if literal is None:
            return await self._lookup(address, family, deadline)
        return literal

    def _literal(self, address: str, family: str) -> _Address | tuple[str, str] | None:
        """An IP literal's address or failure (kept), or None for a name to look up."""
        key = (address, family)
        cached = self._literals.get(key)
        if cached is not None:
            return cached
        literal = _literal(address, family)
        if literal is None:
            return None
        if len(self._literals) >= _LITERAL_CACHE_LIMIT:
            self._literals.clear()
        self._literals[key] = literal
        return literal

    async def _lookup(self, host: str, family: str, deadline: float) -> _Address | tuple[str, str]:
        """Resolve a name now (names are not cached: DNS changes must show)."""
        try:
            async with asyncio.timeout_at(deadline):
                infos = await self._resolver(host, _GAI_FAMILY[family])
        except TimeoutError:
            return "dns", f"resolving {host!r} did not finish before the deadline"
        except socket.gaierror as exc:
            return "dns", f"cannot resolve {host!r}: {exc.strerror or exc}"
        except (OSError, UnicodeError) as exc:
            local = local_failure(exc, f"cannot resolve {host!r}")
            return (
                (local.reason, local.message)
                if local
                else ("dns", f"cannot resolve {host!r}: {exc}")
            )
        usable = [
            _Address(fam, sockaddr)
            for fam, sockaddr in infos
            if fam in (socket.AF_INET, socket.AF_INET6)
        ]
        if not usable:
            return "dns", f"{host!r} has no IPv4 or IPv6 address"
        # Prefer the resolver's order among families this host can ping.
        for candidate in usable:
            if self._engine.unavailable(candidate.family) is None:
                return candidate
        return usable[0]


def _literal(address: str, family: str) -> _Address | tuple[str, str] | None:
    """An IP literal as an address (or a family mismatch); ``None`` for a name."""
    ip = _parse_ip(address)
    if ip is None:
        return None
    if family not in ("auto", f"ipv{ip.version}"):
        return (
            "address_family",
            f"{address} is an IPv{ip.version} address but icmp.family is {family}",
        )
    if ip.version == 4:
        return _Address(socket.AF_INET, (str(ip), 0))
    return _Address(socket.AF_INET6, (str(ip), 0, 0, 0))


def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of a literal (IPv4-mapped IPv6 as IPv4); ``None`` for a name.

    A scoped IPv6 literal (``fe80::1%eth0``) is left to getaddrinfo, which
    knows the interface index the socket address needs.
    """
    try:
        # The fast path for the common dotted quad, and strict ("10.1" is not
        # an address here, as it would be for inet_aton).
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, address))
    except OSError:
        pass
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id is not None:
            return None
    return ip


class _Finished:
    """What :meth:`IcmpProber.start` hands the engine as ``done``: summarizes the outcome.

    An object rather than a closure: a closure over six names was eight objects the
    garbage collector tracked for as long as the run was in flight.
    """

    __slots__ = ("address", "begin", "done", "loop", "max_loss", "started")

    def __init__(  # noqa: PLR0917 - positional: one per run
        self,
        done: Callable[[ProbeResult], None],
        address: str,
        max_loss: float,
        started: float,
        begin: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.done = done
        self.address = address
        self.max_loss = max_loss
        self.started = started
        self.begin = begin
        self.loop = loop

    def __call__(self, outcome: PingOutcome) -> None:
        name = _display_name(self.address, outcome.destination)
        duration = self.loop.time() - self.begin
        self.done(
            summarize(outcome, self.max_loss, name=name, started=self.started, duration=duration)
        )


def _display_name(address: str, destination: str) -> str:
    return destination if address == destination else f"{address} ({destination})"


# --------------------------------------------------------------------------
# Registry entry
# --------------------------------------------------------------------------


def open_prober(context: ProbeContext) -> IcmpProber:
    """The kind's factory: the ICMP prober needs nothing from the config sections."""
    return IcmpProber()


VALUES: Final = frozenset(
    {"packet_loss_ratio", "packets_sent", "packets_received", "jitter_seconds"}
    | {f"rtt_{stat}_seconds" for stat in ("min", "avg", "max")}
)

KIND = ProbeKind(
    name="icmp",
    values=VALUES,
    reasons=REASONS,
    settings=IcmpSettings,
    open=open_prober,
    families=(
        MetricFamily(RTT_METRIC, "gauge", "ICMP echo round-trip time of the last run, by stat."),
        MetricFamily(
            JITTER_METRIC,
            "gauge",
            "Mean absolute difference of consecutive ICMP echo RTTs in the last run.",
        ),
        MetricFamily(LOSS_METRIC, "gauge", "Share of ICMP echoes of the last run left unanswered."),
    ),
    description="ICMP echo (ping) over IPv4 and IPv6: RTT min/avg/max, jitter and packet loss.",
    check_address=lambda address, settings: host_problem(address),
)
