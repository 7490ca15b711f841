"""DNS probe: one query of ``name``/``type`` to one server, with dnspython's asyncio API.

Which server is asked (``dns.server``):

* not set: the target's own ``address`` is the DNS server, so a target with
  ``checks = ["icmp", "dns"]`` pings its resolver and queries it too
  (``address = "10.0.0.53"``, ``"[2001:db8::53]"``, ``"10.0.0.53:5353"`` or a
  host name, resolved by the system on every run);
* ``server = "10.0.0.53"`` (or ``"[::1]:5353"``, or a host name): that server,
  whatever the target's address is;
* ``server = "system"``: the first ``nameserver`` of ``/etc/resolv.conf``, as the
  system resolver would ask first (read once when the prober opens).

One run sends one query over UDP, retried over TCP only when the answer
comes back truncated (the protocol's own rule, not a hidden retry); with
``transport = "tcp"`` it goes over TCP directly. The response must carry a
rcode in ``expect_rcode`` (default NOERROR), at least ``min_answers``
records of the queried type (default 1 when only NOERROR is expected, else
0) and, with ``expect_answer_regex``, at least one such record whose text
(``127.0.0.1``, ``10 mail.example.vn.``) matches. A ``PTR`` query may name an
IP address; it is turned into its reverse name. Expected failures are
results with a reason from :data:`REASONS`, never exceptions.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename
from pydantic import AfterValidator, Field, PlainValidator, model_validator

from monitor.config_types import Pattern, Port, SourceAddress, host_problem
from monitor.contract import (
    CheckSettings,
    MetricFamily,
    ProbeContext,
    ProbeKind,
    ProbeResult,
    ProbeTarget,
    Sample,
)
from probes.neterrors import LOCAL_RESOURCES, ProbeFailure, local_failure, os_text
from probes.tcp import Resolver, host_of, system_resolver

__all__ = [
    "KIND",
    "REASONS",
    "DnsProber",
    "DnsSettings",
    "parse_server",
    "query_name",
]

REASONS: Final = (
    "ok",
    "server_address",
    "timeout",
    "connect_refused",
    "network_error",
    "protocol_error",
    "rcode",
    "too_few_answers",
    "answer_mismatch",
    LOCAL_RESOURCES,
)
"""Every reason a DNS result can carry (a bounded label set)."""

DURATION_METRIC: Final = "continuity_dns_lookup_duration_seconds"
ANSWERS_METRIC: Final = "continuity_dns_answer_records"
RCODE_METRIC: Final = "continuity_dns_response_rcode"

TYPES = Literal["A", "AAAA", "CNAME", "MX", "TXT", "SOA", "NS", "SRV", "PTR"]
_RCODES: Final = tuple(r.name for r in dns.rcode.Rcode)
_SYSTEM: Final = "system"
_EXCERPT_ANSWERS: Final = 5


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def parse_server(text: str) -> tuple[str, int | None]:
    """``"10.0.0.53"``, ``"10.0.0.53:5353"``, ``"[::1]:5353"``, ``"::1"``, ``"ns1.vn"``
    -> (host, port or None). ``ValueError`` when it is none of those."""
    text = text.strip()
    host, port = text, None
    if text.startswith("["):
        inside, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"expected '[IPv6]' or '[IPv6]:port', got {text!r}")
        host = inside
        port = _port(rest[1:], text) if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text, text)
    if not host or any(c.isspace() or c in "/[]" for c in host):
        raise ValueError(f"expected an IP address or host name of a DNS server, got {text!r}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"invalid IPv6 address {host!r}") from None
    return host, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"port must be between 1 and 65535 in {whole!r}")
    return int(text)


def _server(value: str) -> str:
    if value != _SYSTEM:
        parse_server(value)
    return value


def _name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    try:
        dns.name.from_text(value)
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise ValueError(f"not a valid DNS name {value!r}: {exc}") from None
    return value


def _rcodes(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not items or not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected an rcode such as 'NOERROR' or a list of them, got {value!r}")
    out = []
    for item in items:
        code = str(item).strip().upper()
        if code not in _RCODES:
            raise ValueError(
                f"unknown rcode {item!r} (use NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)"
            )
        out.append(code)
    return tuple(out)


class DnsSettings(CheckSettings):
    """``dns = { name = "tracking.example.vn", type = "A", expect_answer_regex = "^203\\." }``."""

    name: Annotated[str, AfterValidator(_name)]
    type: TYPES = "A"
    server: Annotated[str, AfterValidator(_server)] | None = None
    port: Port = 53
    transport: Literal["udp", "tcp"] = "udp"
    expect_rcode: Annotated[tuple[str, ...], PlainValidator(_rcodes)] = ("NOERROR",)
    expect_answer_regex: Pattern | None = None
    min_answers: Annotated[int, Field(ge=0, le=1000)] | None = None
    recursion_desired: bool = True
    source_address: SourceAddress | None = None

    @model_validator(mode="after")
    def _ptr_name(self) -> DnsSettings:
        query_name(self.name, self.type)  # an IP given for a non-PTR type is still a name
        return self

    @property
    def wanted_answers(self) -> int:
        """``min_answers``, or its default: 1 when only NOERROR is expected, else 0."""
        if self.min_answers is not None:
            return int(self.min_answers)
        return 1 if self.expect_rcode == ("NOERROR",) else 0


def query_name(name: str, rdtype: str) -> dns.name.Name:
    """The name to ask: a PTR query for an IP address asks its reverse name."""
    if rdtype == "PTR":
        try:
            return dns.reversename.from_address(name)
        except (ValueError, dns.exception.SyntaxError):
            pass
    return dns.name.from_text(name)


# --------------------------------------------------------------------------
# The prober
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Answer:
    rcode: int
    records: tuple[str, ...]
    used_tcp: bool


class DnsProber:
    """The live ``dns`` kind: ``async with DnsProber() as prober``.

    ``resolver`` resolves server host names (tests avoid the system's DNS);
    ``system_nameservers`` replaces ``/etc/resolv.conf`` for ``server = "system"``.
    """

    def __init__(
        self,
        *,
        resolver: Resolver = system_resolver,
        system_nameservers: Sequence[str] | None = None,
    ) -> None:
        self._resolver = resolver
        self._system = list(system_nameservers) if system_nameservers is not None else None
        self._names: dict[tuple[str, str], dns.name.Name] = {}

    async def __aenter__(self) -> DnsProber:
        if self._system is None:
            self._system = _resolv_conf_nameservers()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def probe(
        self, target: ProbeTarget, settings: DnsSettings, *, deadline: float
    ) -> ProbeResult:
        """Ask once and check the answer; never raises for the network."""
        started = time.time()
        loop = asyncio.get_running_loop()
        begin = loop.time()
        deadline = min(deadline, begin + settings.timeout)
        qname = self._qname(settings)
        server = "?"
        answer: _Answer | None = None
        try:
            host, port = await self._server(target, settings, deadline)
            server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            asked = loop.time()
            answer = await _ask(qname, settings, host, port, deadline)
            lookup = loop.time() - asked
            reason, message = _verdict(settings, answer, qname, server)
        except ProbeFailure as failure:
            reason, message = failure.reason, f"{failure.message} ({qname} {settings.type})"
            lookup = loop.time() - begin
        return _result(
            answer,
            reason=reason,
            message=message,
            started=started,
            duration=loop.time() - begin,
            lookup=lookup,
        )

    def _qname(self, settings: DnsSettings) -> dns.name.Name:
        key = (settings.name, settings.type)
        qname = self._names.get(key)
        if qname is None:
            if len(self._names) >= 65536:
                self._names.clear()
            qname = self._names[key] = query_name(*key)
        return qname

    async def _server(
        self, target: ProbeTarget, settings: DnsSettings, deadline: float
    ) -> tuple[str, int]:
        """The server's IP and port for this run."""
        if settings.server == _SYSTEM:
            if not self._system:
                raise ProbeFailure("server_address", "no nameserver in /etc/resolv.conf")
            return self._system[0], settings.port
        text = settings.server or host_of(target.address)
        try:
            host, port = parse_server(text)
        except ValueError as exc:
            raise ProbeFailure("server_address", str(exc)) from None
        port = port or settings.port
        if _is_ip(host):
            return host, port
        return await self._lookup(host, port, deadline), port

    async def _lookup(self, host: str, port: int, deadline: float) -> str:
        try:
            async with asyncio.timeout_at(deadline):
                infos = await self._resolver(host, port, socket.AF_UNSPEC)
        except TimeoutError:
            raise ProbeFailure("timeout", f"resolving the server name {host!r} timed out") from None
        except (OSError, UnicodeError) as exc:
            doing = f"cannot resolve server {host!r}"
            local = local_failure(exc, doing)
            raise local or ProbeFailure("server_address", f"{doing}: {os_text(exc)}") from None
        for family, sockaddr in infos:
            if family in (socket.AF_INET, socket.AF_INET6):
                return str(sockaddr[0])
        raise ProbeFailure("server_address", f"server {host!r} has no IPv4 or IPv6 address")


def _resolv_conf_nameservers() -> list[str]:
    try:
        return [str(ns) for ns in dns.resolver.Resolver(configure=True).nameservers]
    except (dns.exception.DNSException, OSError):
        return []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


async def _ask(
    qname: dns.name.Name, settings: DnsSettings, host: str, port: int, deadline: float
) -> _Answer:
    """One query; UDP with TCP fallback on truncation, or TCP."""
    rdtype = dns.rdatatype.from_text(settings.type)
    flags = dns.flags.RD if settings.recursion_desired else 0
    query = dns.message.make_query(qname, rdtype, flags=flags)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout_at(deadline):
            remaining = max(0.001, deadline - loop.time())
            if settings.transport == "tcp":
                response = await dns.asyncquery.tcp(
                    query, host, timeout=remaining, port=port, source=settings.source_address
                )
                used_tcp = True
            else:
                response, used_tcp = await dns.asyncquery.udp_with_fallback(
                    query, host, timeout=remaining, port=port, source=settings.source_address
                )
    except (TimeoutError, dns.exception.Timeout):
        budget = round(deadline - started, 3)
        raise ProbeFailure("timeout", f"no answer from {host} within {budget:g}s") from None
    except ConnectionRefusedError:
        raise ProbeFailure("connect_refused", f"{host}:{port} refused the query") from None
    except OSError as exc:
        local = local_failure(exc, f"cannot ask {host}")
        failure = local or ProbeFailure("network_error", f"cannot ask {host}: {os_text(exc)}")
        raise failure from None
    except dns.exception.DNSException as exc:
        raise ProbeFailure("protocol_error", f"bad response from {host}: {exc}") from None
    records = tuple(
        rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset
    )
    return _Answer(response.rcode(), records, bool(used_tcp))


def _verdict(
    settings: DnsSettings, answer: _Answer, qname: dns.name.Name, server: str
) -> tuple[str, str]:
    rcode = dns.rcode.to_text(dns.rcode.Rcode.make(answer.rcode))
    shown = ", ".join(answer.records[:_EXCERPT_ANSWERS]) or "no records"
    if len(answer.records) > _EXCERPT_ANSWERS:
        shown += ", ..."
    what = f"{rcode} from {server} for {qname} {settings.type}"
    if answer.used_tcp and settings.transport == "udp":
        what += " (truncated over UDP, answered over TCP)"
    if rcode not in settings.expect_rcode:
        return "rcode", f"{what}, expected {' or '.join(settings.expect_rcode)}"
    if len(answer.records) < settings.wanted_answers:
        return (
            "too_few_answers",
            f"{what}: {len(answer.records)} {settings.type} record(s), "
            f"expected at least {settings.wanted_answers}",
        )
    pattern = settings.expect_answer_regex
    if pattern is not None and not any(pattern.search(r) for r in answer.records):
        return "answer_mismatch", f"{what}: no record matches {pattern.pattern!r} ({shown})"
    return "ok", f"{what}: {shown}"


def _result(
    answer: _Answer | None,
    *,
    reason: str,
    message: str,
    started: float,
    duration: float,
    lookup: float,
) -> ProbeResult:
    samples = [Sample(DURATION_METRIC, lookup)]
    values: dict[str, float] = {"lookup_seconds": lookup}
    if answer is not None:
        samples.append(Sample(ANSWERS_METRIC, float(len(answer.records))))
        samples.append(Sample(RCODE_METRIC, float(answer.rcode)))
        values["answers"] = float(len(answer.records))
        values["rcode"] = float(answer.rcode)
        values["tcp_fallback"] = 1.0 if answer.used_tcp else 0.0
    return ProbeResult(reason == "ok", reason, message, started, duration, tuple(samples), values)


# --------------------------------------------------------------------------
# Registry entry
# --------------------------------------------------------------------------


def open_prober(context: ProbeContext) -> DnsProber:
    """The kind's factory: nothing from the config sections is needed."""
    return DnsProber()


def _address_problem(address: str, settings: DnsSettings) -> str | None:
    """The target's address is the server to ask unless ``server`` is set."""
    if settings.server is not None:
        return None
    try:
        host, _ = parse_server(address)
    except ValueError as exc:
        return str(exc)
    return host_problem(host)


VALUES: Final = frozenset({"lookup_seconds", "answers", "rcode", "tcp_fallback"})

KIND = ProbeKind(
    name="dns",
    values=VALUES,
    reasons=REASONS,
    settings=DnsSettings,
    open=open_prober,
    families=(
        MetricFamily(DURATION_METRIC, "gauge", "Time the last DNS query took to be answered."),
        MetricFamily(
            ANSWERS_METRIC, "gauge", "Records of the queried type in the last DNS answer."
        ),
        MetricFamily(
            RCODE_METRIC,
            "gauge",
            "Response code of the last DNS answer (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).",
        ),
    ),
    description="DNS queries (A, AAAA, CNAME, MX, TXT, SOA, NS, SRV, PTR) with rcode and "
    "answer checks, UDP with TCP fallback.",
    check_address=_address_problem,
)
