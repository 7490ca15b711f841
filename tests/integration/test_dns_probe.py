"""The dns probe against a real DNS server on a loopback port.

:class:`LoopbackDns` is a small authoritative server for the ``test.`` zone
built on dnspython (UDP and TCP on the same port, 127.0.0.1 only): names that
answer, NXDOMAIN for unknown names, SERVFAIL and silence on purpose, a TXT
set too big for UDP (so the probe must fall back to TCP). The http and tcp
tests and the e2e test use it too, to resolve names without the system's
resolver (which would send queries off this machine).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.contract import ProbeResult, ProbeTarget
from probes import KINDS
from probes.dns import KIND, REASONS, DnsProber, DnsSettings, parse_server

ZONE: dict[tuple[str, str], list[str]] = {
    ("ok.test.", "A"): ["127.0.0.1", "127.0.0.2"],
    ("ok.test.", "AAAA"): ["::1"],
    ("svc.test.", "A"): ["127.0.0.1"],
    ("alias.test.", "CNAME"): ["ok.test."],
    ("mail.test.", "MX"): ["10 mx.ok.test."],
    ("txt.test.", "TXT"): ['"v=spf1 -all"'],
    ("test.", "SOA"): ["ns.test. hostmaster.test. 2024010101 3600 600 86400 60"],
    ("test.", "NS"): ["ns.test."],
    ("_sip._udp.test.", "SRV"): ["10 60 5060 sip.test."],
    (dns.reversename.from_address("127.0.0.1").to_text(), "PTR"): ["localhost."],
    # 40 x ~40 bytes: far over the 512 bytes of a plain UDP answer.
    ("big.test.", "TXT"): [f'"record number {i:02d} of a large set of text"' for i in range(40)],
}
SERVFAIL = frozenset({"fail.test."})
SILENT = frozenset({"silent.test."})


@dataclass
class LoopbackDns:
    """An authoritative server for ``test.`` on 127.0.0.1: ``async with LoopbackDns() as s``."""

    zone: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=lambda: ZONE)
    port: int = 0
    queries: int = 0
    _udp: Any = None
    _tcp: asyncio.Server | None = None

    async def __aenter__(self) -> LoopbackDns:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the TCP side needs the UDP side's port; rarely taken
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpSide(self), local_addr=("127.0.0.1", 0)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", port)
            except OSError:
                transport.close()
                continue
            self._udp, self.port = transport, port
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    async def __aexit__(self, *exc_info: object) -> None:
        self._udp.close()
        assert self._tcp is not None
        self._tcp.close()
        await self._tcp.wait_closed()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def answer(self, wire: bytes, *, over_tcp: bool) -> bytes | None:
        """The reply to one query, or ``None`` to stay silent."""
        self.queries += 1
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text()
        if name in SILENT:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        known = {n for n, _ in self.zone}
        if name in SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            rtype = dns.rdatatype.to_text(question.rdtype)
            records = self.zone.get((name, rtype), [])
            if records:
                response.answer.append(
                    dns.rrset.from_text_list(name, 60, dns.rdataclass.IN, rtype, list(records))
                )
        try:
            return response.to_wire(max_size=65535 if over_tcp else 512)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = self.answer(await reader.readexactly(size), over_tcp=True)
                if reply is None:
                    continue
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpSide(asyncio.DatagramProtocol):
    def __init__(self, server: LoopbackDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data, over_tcp=False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def resolve_a(server: LoopbackDns, host: str, timeout: float = 2.0) -> list[str]:
    """A records of ``host`` from the loopback server; ``OSError`` like getaddrinfo's."""
    query = dns.message.make_query(host if host.endswith(".") else host + ".", "A")
    response = await dns.asyncquery.udp(query, "127.0.0.1", port=server.port, timeout=timeout)
    addresses = [r.to_text() for rrset in response.answer for r in rrset]
    if response.rcode() != dns.rcode.NOERROR or not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return addresses


class LoopbackAiohttpResolver(AbstractResolver):
    """aiohttp's resolver seam pointed at :class:`LoopbackDns` (IPv4 only)."""

    def __init__(self, server: LoopbackDns) -> None:
        self.server = server

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for ip in await resolve_a(self.server, host)
        ]

    async def close(self) -> None:
        return None


def loopback_resolver(server: LoopbackDns) -> Any:
    """A :data:`probes.tcp.Resolver` asking :class:`LoopbackDns`."""

    async def resolve(host: str, port: int, family: int) -> list[tuple[int, tuple[Any, ...]]]:
        return [(socket.AF_INET, (ip, port)) for ip in await resolve_a(server, host)]

    return resolve


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[LoopbackDns]:
    async with LoopbackDns() as dns_server:
        yield dns_server


@pytest.fixture
async def prober(server: LoopbackDns) -> AsyncIterator[DnsProber]:
    async with DnsProber(
        resolver=loopback_resolver(server), system_nameservers=["127.0.0.1"]
    ) as dns_prober:
        yield dns_prober


def settings(dns_server: LoopbackDns, /, **values: Any) -> DnsSettings:
    values.setdefault("server", dns_server.address)
    values.setdefault("timeout", "1s")
    return DnsSettings.model_validate(values)


async def ask(
    prober: DnsProber, dns_settings: DnsSettings, address: str = "127.0.0.1"
) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + dns_settings.timeout
    return await prober.probe(ProbeTarget("dns-target", address), dns_settings, deadline=deadline)


def sample(result: ProbeResult, name: str) -> float:
    return next(s.value for s in result.samples if s.name == name)


ANSWERS = [
    # (id, name, type, expected answers in order)
    ("a", "ok.test", "A", ["127.0.0.1", "127.0.0.2"]),
    ("aaaa", "ok.test", "AAAA", ["::1"]),
    ("cname", "alias.test", "CNAME", ["ok.test."]),
    ("mx", "mail.test", "MX", ["10 mx.ok.test."]),
    ("txt", "txt.test", "TXT", ['"v=spf1 -all"']),
    ("soa", "test", "SOA", ["ns.test. hostmaster.test. 2024010101 3600 600 86400 60"]),
    ("ns", "test", "NS", ["ns.test."]),
    ("srv", "_sip._udp.test", "SRV", ["10 60 5060 sip.test."]),
    ("ptr-by-ip", "127.0.0.1", "PTR", ["localhost."]),
]


@pytest.mark.parametrize(
    ("name", "rtype", "expected"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
async def test_record_types_answer(
    prober: DnsProber, server: LoopbackDns, name: str, rtype: str, expected: list[str]
) -> None:
    result = await ask(prober, settings(server, name=name, type=rtype))
    assert result.ok, result.message
    assert result.reason == "ok"
    for record in expected:
        assert record in result.message
    assert result.values["answers"] == len(expected)
    assert result.values["rcode"] == 0
    assert sample(result, "continuity_dns_answer_records") == len(expected)
    assert sample(result, "continuity_dns_response_rcode") == 0
    assert 0 < sample(result, "continuity_dns_lookup_duration_seconds") < 1


FAILURES = [
    # (id, settings, reason, text in the message)
    ("nxdomain", {"name": "nx.test"}, "rcode", "NXDOMAIN"),
    ("servfail", {"name": "fail.test"}, "rcode", "SERVFAIL"),
    ("no-answer-at-all", {"name": "silent.test", "timeout": "300ms"}, "timeout", "no answer"),
    ("nodata", {"name": "ok.test", "type": "MX"}, "too_few_answers", "0 MX record(s)"),
    ("min-answers", {"name": "ok.test", "min_answers": 3}, "too_few_answers", "at least 3"),
    (
        "regex",
        {"name": "ok.test", "expect_answer_regex": r"^10\."},
        "answer_mismatch",
        "no record matches '^10\\\\.'",
    ),
    (
        "wrong-rcode-expected",
        {"name": "ok.test", "expect_rcode": "NXDOMAIN"},
        "rcode",
        "expected NXDOMAIN",
    ),
]


@pytest.mark.parametrize(
    ("values", "reason", "text"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES]
)
async def test_failures_carry_their_reason(
    prober: DnsProber, server: LoopbackDns, values: dict[str, Any], reason: str, text: str
) -> None:
    result = await ask(prober, settings(server, **values))
    assert not result.ok
    assert result.reason == reason, result.message
    assert result.reason in REASONS
    assert text in result.message


async def test_expected_nxdomain_is_ok(prober: DnsProber, server: LoopbackDns) -> None:
    result = await ask(prober, settings(server, name="nx.test", expect_rcode=["NXDOMAIN"]))
    assert result.ok, result.message
    assert result.values["rcode"] == 3
    assert result.values["answers"] == 0


async def test_regex_matches_one_of_the_answers(prober: DnsProber, server: LoopbackDns) -> None:
    result = await ask(prober, settings(server, name="ok.test", expect_answer_regex=r"\.2$"))
    assert result.ok, result.message


async def test_truncated_udp_answer_falls_back_to_tcp(
    prober: DnsProber, server: LoopbackDns
) -> None:
    result = await ask(prober, settings(server, name="big.test", type="TXT", min_answers=40))
    assert result.ok, result.message
    assert result.values["tcp_fallback"] == 1
    assert result.values["answers"] == 40
    assert "answered over TCP" in result.message


async def test_tcp_transport(prober: DnsProber, server: LoopbackDns) -> None:
    result = await ask(prober, settings(server, name="ok.test", transport="tcp"))
    assert result.ok, result.message
    assert result.values["tcp_fallback"] == 1


async def test_target_address_is_the_server_by_default(
    prober: DnsProber, server: LoopbackDns
) -> None:
    plain = DnsSettings(name="ok.test", timeout="1s")
    result = await ask(prober, plain, address=server.address)
    assert result.ok, result.message
    on_port = DnsSettings(name="ok.test", port=server.port, timeout="1s")
    result = await ask(prober, on_port, address="127.0.0.1")
    assert result.ok, result.message


async def test_system_resolver_is_the_first_nameserver(
    prober: DnsProber, server: LoopbackDns
) -> None:
    system = DnsSettings(name="ok.test", server="system", port=server.port, timeout="1s")
    result = await ask(prober, system, address="somewhere-else")
    assert result.ok, result.message
    async with DnsProber(system_nameservers=[]) as empty:
        result = await ask(empty, system)
    assert result.reason == "server_address"
    assert "no nameserver" in result.message


async def test_server_name_that_does_not_resolve(prober: DnsProber, server: LoopbackDns) -> None:
    result = await ask(prober, settings(server, name="ok.test", server=f"nx.test:{server.port}"))
    assert result.reason == "server_address"
    assert "cannot resolve server 'nx.test'" in result.message


async def test_server_name_that_resolves(prober: DnsProber, server: LoopbackDns) -> None:
    result = await ask(prober, settings(server, name="ok.test", server=f"svc.test:{server.port}"))
    assert result.ok, result.message


async def test_closed_port(prober: DnsProber) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dns_settings = DnsSettings(name="ok.test", server=f"127.0.0.1:{port}", timeout="300ms")
    result = await ask(prober, dns_settings)
    # Linux answers a closed UDP port with ICMP port unreachable; an unconnected
    # socket may not see it, and then the query just times out.
    assert result.reason in ("connect_refused", "timeout"), result.message


async def test_target_address_that_is_not_a_server(prober: DnsProber) -> None:
    result = await ask(prober, DnsSettings(name="ok.test"), address="[::1")
    assert result.reason == "server_address"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.80.0.53", ("10.80.0.53", None)),
        ("10.80.0.53:5353", ("10.80.0.53", 5353)),
        ("::1", ("::1", None)),
        ("[::1]", ("::1", None)),
        ("[::1]:5353", ("::1", 5353)),
        ("ns1.example.vn", ("ns1.example.vn", None)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_server(text) == expected


def test_registered() -> None:
    assert KINDS["dns"] is KIND
    assert {f.name for f in KIND.families} == {
        "continuity_dns_lookup_duration_seconds",
        "continuity_dns_answer_records",
        "continuity_dns_response_rcode",
    }
