"""TCP probe: connect to ``address`` on ``tcp.port``, optionally TLS, send, expect.

``tcp = { port = 25, expect = "^220" }`` checks an SMTP banner;
``tcp = { port = 443, tls = true }`` checks a TLS service and exports the same
certificate series as ``http``; ``send``/``expect`` talk to a custom POS
gateway or any line protocol. The address is a host name or an IP literal
(``[::1]`` brackets allowed); if it is a URL, its host is used, so a target
whose address is ``https://portal.example.vn/`` can carry both ``http`` and
``tcp`` checks.

One run is one connection to the first address the name resolves to (names
are resolved on every run so DNS changes show). ``expect`` is a regular
expression searched in what the server sent so far (decoded as UTF-8), read
until it matches, the server closes, ``max_read_bytes`` arrive or the
deadline passes. Expected failures are results with a reason from
:data:`REASONS`, never exceptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator
from yarl import URL

from monitor.config_types import Pattern, Port, SourceAddress, host_problem
from monitor.contract import (
    MetricFamily,
    ProbeContext,
    ProbeEvent,
    ProbeKind,
    ProbeResult,
    ProbeTarget,
    Sample,
)
from monitor.regex import Regex
from probes.neterrors import LOCAL_RESOURCES, ProbeFailure, local_failure, os_failure, os_text
from probes.tls import (
    TLS_FAMILIES,
    TLS_VALUES,
    PeerCertificates,
    TlsCheckSettings,
    TlsContexts,
    expiry_event,
    fetch_certificates,
    peer_certificates,
    tls_error_text,
    tls_samples,
    tls_values,
    verify_failure,
)

__all__ = [
    "KIND",
    "REASONS",
    "Resolver",
    "TcpProber",
    "TcpSettings",
    "host_of",
    "system_resolver",
]

REASONS: Final = (
    "ok",
    "dns",
    "address_family",
    "timeout",
    "connect_refused",
    "connect_error",
    "tls_config",
    "tls_verify",
    "tls_expired",
    "tls_hostname",
    "tls_error",
    "disconnected",
    "expect_mismatch",
    LOCAL_RESOURCES,
)
"""Every reason a TCP result can carry (a bounded label set)."""

PHASE_METRIC: Final = "continuity_tcp_phase_duration_seconds"
_FAMILIES: Final = {"auto": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
_EXCERPT: Final = 80


class TcpSettings(TlsCheckSettings):
    """``tcp = { port = 25, tls = false, send = "EHLO monitor\\r\\n", expect = "^220" }``."""

    port: Port
    tls: bool = False
    send: str | None = None
    expect: Pattern | None = None
    max_read_bytes: Annotated[int, Field(ge=1, le=1 << 20)] = 4096
    family: Literal["auto", "ipv4", "ipv6"] = "auto"
    source_address: SourceAddress | None = None

    @model_validator(mode="after")
    def _tls_keys_need_tls(self) -> TcpSettings:
        for key in ("ca_file", "client_cert_file", "server_name"):
            if getattr(self, key) is not None and not self.tls:
                raise ValueError(f"{key} is set but tls is false (set tls = true)")
        return self


# --------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------


def host_of(address: str) -> str:
    """The host part of a target address: a name, an IP, ``[v6]`` or a URL."""
    if "://" in address:
        with contextlib.suppress(ValueError):
            host = URL(address).raw_host
            if host:
                return host
    if address.startswith("[") and address.endswith("]"):
        return address[1:-1]
    return address


SockAddr = tuple[Any, ...]
Resolver = Callable[[str, int, int], Awaitable[Sequence[tuple[int, SockAddr]]]]
"""Resolve ``(host, port, AF_UNSPEC|AF_INET|AF_INET6)`` to ``(family, sockaddr)`` pairs."""


async def system_resolver(host: str, port: int, family: int) -> list[tuple[int, SockAddr]]:
    """The default :data:`Resolver`: the system's ``getaddrinfo`` in an executor."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    return [(fam, sockaddr) for fam, _type, _proto, _canon, sockaddr in infos]


def _literal_family(host: str) -> int | None:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


# --------------------------------------------------------------------------
# The prober
# --------------------------------------------------------------------------


@dataclass
class _Run:
    """What one run measured so far (phases in order, certificates, bytes)."""

    begin: float
    stage: str = "resolving the host name"
    mark: float = 0.0  # end of the previous phase
    phases: dict[str, float] = field(default_factory=dict)
    certs: PeerCertificates | None = None
    received: bytes = b""
    ip: str = ""  # the address connected to, once resolved

    def lap(self, phase: str, now: float) -> None:
        self.phases[phase] = now - self.mark
        self.mark = now


class TcpProber:
    """The live ``tcp`` kind: ``async with TcpProber() as prober``.

    ``resolver`` looks names up (tests resolve without the system's DNS).
    Owns the SSL contexts (one per distinct TLS setting); connections are
    per run, as a TCP check is about opening one.
    """

    def __init__(self, *, resolver: Resolver = system_resolver) -> None:
        self._resolver = resolver
        self._contexts = TlsContexts()

    async def __aenter__(self) -> TcpProber:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def probe(
        self, target: ProbeTarget, settings: TcpSettings, *, deadline: float
    ) -> ProbeResult:
        """Connect once (then TLS, send, expect as configured); never raises for the network."""
        started = time.time()
        loop = asyncio.get_running_loop()
        now = loop.time()
        run = _Run(begin=now, mark=now)
        deadline = min(deadline, now + settings.timeout)
        host = host_of(target.address)
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._converse(host, settings, run)
                reason, message = "ok", _ok_text(host, settings, run)
            except TimeoutError:
                raise ProbeFailure("timeout", _timeout_text(deadline - run.begin, run)) from None
            except ssl.SSLCertVerificationError as exc:
                reason, message = verify_failure(exc)
                run.certs = await self._unverified(run.ip or host, host, settings, deadline)
                raise ProbeFailure(reason, f"{host}:{settings.port}: {message}") from None
            except (OSError, ssl.SSLError) as exc:
                raise _classify(exc, host, settings.port, run) from None
        except ProbeFailure as failure:
            reason, message = failure.reason, failure.message
        run.phases["total"] = loop.time() - run.begin
        return _result(settings, run, reason, message, started)

    async def _converse(self, host: str, settings: TcpSettings, run: _Run) -> None:
        """Resolve, connect, then the exchange; the connection never outlives the run."""
        loop = asyncio.get_running_loop()
        family, sockaddr = await self._address(host, settings)
        if family != socket.AF_UNSPEC:
            run.lap("dns", loop.time())
        run.ip = str(sockaddr[0])
        run.stage = f"connecting to {_show_addr(sockaddr)}"
        reader, writer = await asyncio.open_connection(
            sockaddr[0],
            settings.port,
            family=family,
            local_addr=(settings.source_address, 0) if settings.source_address else None,
        )
        run.lap("connect", loop.time())
        try:
            await self._exchange(reader, writer, host, settings, run)
        finally:
            writer.transport.abort()  # one run, one connection: no lingering close

    async def _exchange(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        host: str,
        settings: TcpSettings,
        run: _Run,
    ) -> None:
        """TLS, send and expect, as configured."""
        loop = asyncio.get_running_loop()
        if settings.tls:
            run.stage = "in the TLS handshake"
            await self._handshake(writer, host, settings)
            run.lap("tls", loop.time())
            run.certs = peer_certificates(writer.get_extra_info("ssl_object"))
        if settings.send is not None:
            run.stage = "sending"
            writer.write(settings.send.encode())
            await writer.drain()
        if settings.expect is not None:
            run.stage = f"waiting for a reply matching {settings.expect.pattern!r}"
            await _expect(reader, settings.expect, settings.max_read_bytes, run)
            run.lap("expect", loop.time())

    async def _address(self, host: str, settings: TcpSettings) -> tuple[int, SockAddr]:
        """The address to connect to; ``AF_UNSPEC`` family marks a literal (no DNS phase)."""
        wanted = _FAMILIES[settings.family]
        literal = _literal_family(host)
        if literal is not None:
            if wanted not in (socket.AF_UNSPEC, literal):
                raise ProbeFailure(
                    "address_family", f"{host} does not match tcp.family {settings.family}"
                )
            return socket.AF_UNSPEC, (host, settings.port)
        try:
            infos = await self._resolver(host, settings.port, wanted)
        except socket.gaierror as exc:
            raise ProbeFailure("dns", f"cannot resolve {host!r}: {exc.strerror or exc}") from None
        except (OSError, UnicodeError) as exc:
            local = local_failure(exc, f"cannot resolve {host!r}")
            raise local or ProbeFailure("dns", f"cannot resolve {host!r}: {exc}") from None
        usable = [(f, a) for f, a in infos if f in (socket.AF_INET, socket.AF_INET6)]
        if not usable:
            raise ProbeFailure("dns", f"{host!r} has no IPv4 or IPv6 address")
        return usable[0]

    async def _handshake(
        self, writer: asyncio.StreamWriter, host: str, settings: TcpSettings
    ) -> None:
        context = self._contexts.get(settings)
        if isinstance(context, str):
            raise ProbeFailure("tls_config", context)
        await writer.start_tls(context, server_hostname=settings.server_name or host)

    async def _unverified(
        self, ip: str, host: str, settings: TcpSettings, deadline: float
    ) -> PeerCertificates | None:
        return await fetch_certificates(
            self._contexts,
            ip,
            settings.port,
            settings.server_name or host,
            deadline=deadline,
            local_addr=(settings.source_address, 0) if settings.source_address else None,
        )


async def _expect(reader: asyncio.StreamReader, pattern: Regex, limit: int, run: _Run) -> None:
    """Read until ``pattern`` matches; ``ProbeFailure`` on close or ``limit`` bytes."""
    while len(run.received) < limit:
        chunk = await reader.read(limit - len(run.received))
        if not chunk:
            raise ProbeFailure(
                "expect_mismatch",
                f"the server closed the connection without a reply matching "
                f"{pattern.pattern!r} (got {_excerpt(run.received)})",
            )
        run.received += chunk
        if pattern.search(run.received.decode("utf-8", errors="replace")):
            return
    raise ProbeFailure(
        "expect_mismatch",
        f"no reply matching {pattern.pattern!r} in the first {limit} bytes "
        f"(got {_excerpt(run.received)})",
    )


def _excerpt(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


def _show_addr(sockaddr: SockAddr) -> str:
    host = sockaddr[0]
    return f"[{host}]" if ":" in host else host


def _ok_text(host: str, settings: TcpSettings, run: _Run) -> str:
    text = f"connected to {host}:{settings.port}"
    if run.certs is not None:
        text += f" ({run.certs.version})"
    if settings.expect is not None:
        text += f", reply matched {settings.expect.pattern!r}"
    return text


def _timeout_text(budget: float, run: _Run) -> str:
    text = f"no result within {round(budget, 3):g}s ({run.stage}"
    if run.received:
        text += f", got {_excerpt(run.received)}"
    return text + ")"


def _classify(exc: BaseException, host: str, port: int, run: _Run) -> ProbeFailure:
    """An OS or TLS error as a reason; where the run was tells connect from exchange."""
    where = f"{host}:{port}"
    if isinstance(exc, ssl.SSLError):
        return ProbeFailure(
            "tls_error", f"TLS handshake with {where} failed: {tls_error_text(exc)}"
        )
    if "connect" not in run.phases and isinstance(exc, OSError):
        return os_failure(exc, where)
    local = local_failure(exc, f"connection to {where} ({run.stage})")
    if local is not None:
        return local
    return ProbeFailure(
        "disconnected", f"connection to {where} failed ({run.stage}): {os_text(exc)}"
    )


def _result(
    settings: TcpSettings, run: _Run, reason: str, message: str, started: float
) -> ProbeResult:
    samples = [Sample(PHASE_METRIC, v, (("phase", p),)) for p, v in run.phases.items()]
    values = {f"phase_{p}_seconds": v for p, v in run.phases.items()}
    values["received_bytes"] = float(len(run.received))
    events: tuple[ProbeEvent, ...] = ()
    if run.certs is not None:
        samples.extend(tls_samples(run.certs))
        values.update(tls_values(run.certs, started))
        event = expiry_event(run.certs, started, settings.cert_min_days, "tcp")
        if event is not None:
            events = (event,)
            if reason == "ok":
                message += f"; warning: {event.message}"
    duration = run.phases["total"]
    return ProbeResult(
        reason == "ok", reason, message, started, duration, tuple(samples), values, events
    )


# --------------------------------------------------------------------------
# Registry entry
# --------------------------------------------------------------------------


def open_prober(context: ProbeContext) -> TcpProber:
    """The kind's factory: nothing from the config sections is needed."""
    return TcpProber()


VALUES: Final = (
    frozenset(f"phase_{p}_seconds" for p in ("dns", "connect", "tls", "expect", "total"))
    | {"received_bytes"}
    | TLS_VALUES
)

KIND = ProbeKind(
    name="tcp",
    values=VALUES,
    reasons=REASONS,
    settings=TcpSettings,
    open=open_prober,
    families=(
        MetricFamily(
            PHASE_METRIC,
            "gauge",
            "Duration of each phase of the last TCP run: dns, connect, tls, expect, total.",
        ),
        *TLS_FAMILIES,
    ),
    description="TCP connect with optional TLS, send and expect (banners, line protocols).",
    check_address=lambda address, settings: host_problem(host_of(address)),
)
