"""The tcp probe against ``asyncio.start_server`` on loopback ports (plain and TLS).

Servers greet with a banner or stay silent, echo, or hang up; TLS servers
use certificates made by the http tests' helpers. Names resolve through
:class:`~tests.integration.test_dns_probe.LoopbackDns`, never the system.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.contract import ProbeResult, ProbeTarget
from probes import KINDS
from probes.tcp import KIND, REASONS, TcpProber, TcpSettings, host_of
from tests.integration.test_dns_probe import LoopbackDns, loopback_resolver
from tests.integration.test_http_probe import Pki

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Start = Callable[..., Awaitable[int]]


async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.test ESMTP ready\r\n")
    await writer.drain()
    await reader.read(100)


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3)


async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"554 no service here\r\n")
    await writer.drain()


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    line = await reader.readline()
    writer.write(b"POS-GW " + line.replace(b"PING", b"PONG"))
    await writer.drain()
    await reader.read(100)


async def chatter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(10):
        writer.write(b"x" * 1000)
        await writer.drain()
    await asyncio.sleep(3)


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a server with a handler (and an optional TLS context); returns its port."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def begin(handler: Handler, context: ssl.SSLContext | None = None) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0, ssl=context)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield begin
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def prober() -> AsyncIterator[TcpProber]:
    async with TcpProber() as tcp_prober:
        yield tcp_prober


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def connect(
    prober: TcpProber, port: int, address: str = "127.0.0.1", **values: Any
) -> ProbeResult:
    values.setdefault("timeout", "2s")
    settings = TcpSettings.model_validate({"port": port, **values})
    deadline = asyncio.get_running_loop().time() + settings.timeout
    result = await prober.probe(ProbeTarget("gw", address), settings, deadline=deadline)
    assert {s.name for s in result.samples} <= {f.name for f in KIND.families}
    assert result.reason in REASONS
    return result


def phase(result: ProbeResult, name: str) -> float:
    return next(
        s.value
        for s in result.samples
        if s.name == "continuity_tcp_phase_duration_seconds" and s.labels == (("phase", name),)
    )


async def test_smtp_banner(prober: TcpProber, start: Start) -> None:
    port = await start(banner)
    result = await connect(prober, port, expect="^220 ")
    assert result.ok, result.message
    assert result.message == f"connected to 127.0.0.1:{port}, reply matched '^220 '"
    assert 0 < phase(result, "connect") < 1
    assert 0 < phase(result, "expect") < 1
    assert phase(result, "total") >= phase(result, "connect")
    assert result.values["received_bytes"] == len(b"220 mail.test ESMTP ready\r\n")


async def test_connect_only(prober: TcpProber, start: Start) -> None:
    port = await start(silent)
    result = await connect(prober, port)
    assert result.ok, result.message
    assert {s.labels for s in result.samples} == {(("phase", "connect"),), (("phase", "total"),)}


async def test_send_and_expect(prober: TcpProber, start: Start) -> None:
    port = await start(echo)
    result = await connect(prober, port, send="PING 42\r\n", expect=r"PONG 42\r\n")
    assert result.ok, result.message


FAILURES = [
    # (id, handler, settings, reason, text in the message)
    (
        "no-banner",
        silent,
        {"expect": "^220", "timeout": "300ms"},
        "timeout",
        "waiting for a reply matching '^220'",
    ),
    (
        "wrong-banner",
        refuse,
        {"expect": "^220"},
        "expect_mismatch",
        "closed the connection without a reply matching '^220' (got '554 no service here\\r\\n')",
    ),
    (
        "read-limit",
        chatter,
        {"expect": "^220", "max_read_bytes": 2048},
        "expect_mismatch",
        "in the first 2048 bytes",
    ),
]


@pytest.mark.parametrize(
    ("handler", "values", "reason", "text"),
    [f[1:] for f in FAILURES],
    ids=[f[0] for f in FAILURES],
)
async def test_failures_carry_their_reason(
    prober: TcpProber,
    start: Start,
    handler: Handler,
    values: dict[str, Any],
    reason: str,
    text: str,
) -> None:
    port = await start(handler)
    result = await connect(prober, port, **values)
    assert not result.ok
    assert result.reason == reason, result.message
    assert text in result.message
    assert result.duration < 1.5


async def test_connection_refused(prober: TcpProber, closed_port: int) -> None:
    result = await connect(prober, closed_port)
    assert result.reason == "connect_refused"
    assert result.message == f"connection to 127.0.0.1:{closed_port} refused"


async def test_address_family_mismatch(prober: TcpProber, closed_port: int) -> None:
    result = await connect(prober, closed_port, family="ipv6")
    assert result.reason == "address_family"


async def test_names_resolve_on_each_run(start: Start) -> None:
    port = await start(banner)
    async with (
        LoopbackDns() as dns_server,
        TcpProber(resolver=loopback_resolver(dns_server)) as prober,
    ):
        good = await connect(prober, port, address="svc.test", expect="^220")
        assert good.ok, good.message
        assert 0 < phase(good, "dns") < 1
        bad = await connect(prober, port, address="nx.test")
        assert bad.reason == "dns"
        assert "cannot resolve 'nx.test'" in bad.message


async def test_tls_service(prober: TcpProber, start: Start, pki: Pki) -> None:
    leaf = pki.leaf(days=(-10, 3))
    port = await start(banner, pki.server_context(leaf))
    result = await connect(prober, port, tls=True, ca_file=pki.ca_file, expect="^220")
    assert result.ok, result.message
    assert "(TLSv1.3)" in result.message
    assert 0 < phase(result, "tls") < 1
    assert result.values["cert_expiry_timestamp_seconds"] == leaf.not_after
    [event] = result.events
    assert event.kind == "CertificateExpiring"
    assert event.labels == (("check", "tcp"),)


async def test_tls_expired(prober: TcpProber, start: Start, pki: Pki) -> None:
    leaf = pki.leaf(days=(-10, -1))
    port = await start(banner, pki.server_context(leaf))
    result = await connect(prober, port, tls=True, ca_file=pki.ca_file)
    assert result.reason == "tls_expired", result.message
    assert result.values["cert_expiry_timestamp_seconds"] == leaf.not_after


async def test_tls_untrusted_and_wrong_name(prober: TcpProber, start: Start, pki: Pki) -> None:
    leaf = pki.leaf(ips=[], names=["gw.example.vn"])
    port = await start(banner, pki.server_context(leaf))
    untrusted = await connect(prober, port, tls=True)
    assert untrusted.reason == "tls_verify", untrusted.message
    wrong = await connect(prober, port, tls=True, ca_file=pki.ca_file)
    assert wrong.reason == "tls_hostname", wrong.message
    named = await connect(prober, port, tls=True, ca_file=pki.ca_file, server_name="gw.example.vn")
    assert named.ok, named.message


async def test_tls_to_a_plain_server(prober: TcpProber, start: Start) -> None:
    port = await start(banner)
    result = await connect(prober, port, tls=True, verify_tls=False)
    assert result.reason == "tls_error", result.message


@pytest.mark.parametrize(
    ("address", "host"),
    [
        ("10.80.0.1", "10.80.0.1"),
        ("[::1]", "::1"),
        ("gw.example.vn", "gw.example.vn"),
        ("https://portal.example.vn:8443/x", "portal.example.vn"),
    ],
)
def test_host_of(address: str, host: str) -> None:
    assert host_of(address) == host


def test_registered() -> None:
    assert KINDS["tcp"] is KIND
