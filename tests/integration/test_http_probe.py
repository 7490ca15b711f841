"""The http probe against real loopback servers (aiohttp, raw asyncio, TLS).

Every server listens on 127.0.0.1 on a port it chose; certificates are made
here with ``cryptography`` (valid, expired, expiring in 3 days, wrong name,
self-signed, an intermediate that expires before its leaf). Host names are
resolved by :class:`~tests.integration.test_dns_probe.LoopbackDns` through
the prober's resolver seam, never by the system's resolver.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.contract import ProbeResult, ProbeTarget
from probes import KINDS
from probes.http import KIND, REASONS, HttpProber, HttpSettings
from tests.integration.test_dns_probe import LoopbackAiohttpResolver, LoopbackDns

DAY = datetime.timedelta(days=1)
FIVE_MIB = 5 * 1024 * 1024

# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def not_after(self) -> float:
        return self.cert.not_valid_after_utc.timestamp()


def make_cert(
    common_name: str,
    *,
    issuer: Issued | None = None,
    names: Sequence[str] = (),
    ips: Sequence[str] = (),
    days: tuple[float, float] = (-1, 365),
    ca: bool = False,
) -> Issued:
    """A certificate valid from now+days[0] to now+days[1]; self-signed without issuer."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + days[0] * DAY)
        .not_valid_after(now + days[1] * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def pem(*certs: Issued) -> bytes:
    return b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(issued: Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class Pki:
    """A root CA and helpers to write certificates and server contexts under tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.root = make_cert("Test Root CA", ca=True, days=(-1, 3650))
        self.ca_file = self.write("ca.pem", pem(self.root))

    def write(self, name: str, data: bytes) -> str:
        path = self.dir / name
        path.write_bytes(data)
        return str(path)

    def leaf(self, days: tuple[float, float] = (-1, 365), **kw: Any) -> Issued:
        kw.setdefault("ips", ["127.0.0.1"])
        return make_cert("127.0.0.1", issuer=kw.pop("issuer", self.root), days=days, **kw)

    def server_context(self, leaf: Issued, *chain: Issued) -> ssl.SSLContext:
        name = f"srv-{leaf.cert.serial_number}"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(
            self.write(f"{name}.pem", pem(leaf, *chain)),
            self.write(f"{name}.key", key_pem(leaf)),
        )
        return context


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


async def json_ok(request: web.Request) -> web.Response:
    return web.json_response(
        {"status": "ok", "up": True, "data": {"queue_depth": 3}, "items": [{"id": 7}]}
    )


async def error(request: web.Request) -> web.Response:
    return web.Response(status=500, text="upstream failed")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(3)  # cancelled when the client gives up (handler_cancellation)
    return web.Response(text="late")


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * FIVE_MIB)


async def big_chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(80):  # 5 MiB in 64 KiB chunks, unless the client stops first
        await response.write(b"y" * 65536)
    return response


async def loop_redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/json")


async def html(request: web.Request) -> web.Response:
    page = "<!doctype html><html><body><h1>Đăng nhập</h1><form>login</form></body></html>"
    return web.Response(text=page, content_type="text/html")


async def deep(request: web.Request) -> web.Response:
    return web.Response(text="[" * 200_000 + "]" * 200_000, content_type="application/json")


async def echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "authorization": request.headers.get("Authorization"),
            "x_site": request.headers.get("X-Site"),
            "content_type": request.headers.get("Content-Type"),
            "body": (await request.read()).decode(),
        }
    )


def app() -> web.Application:
    application = web.Application()
    for path, handler in {
        "/json": json_ok,
        "/error": error,
        "/slow": slow,
        "/big": big,
        "/big-chunked": big_chunked,
        "/loop": loop_redirect,
        "/redirect": redirect,
        "/html": html,
        "/deep": deep,
    }.items():
        application.router.add_get(path, handler)
    application.router.add_route("*", "/echo", echo)
    return application


class Servers:
    """One aiohttp app on plain HTTP, plus TLS sites on demand, all on 127.0.0.1."""

    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def tls(self, context: ssl.SSLContext) -> int:
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        return self.runner.addresses[-1][1]


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    runner = web.AppRunner(app(), handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Servers(runner, runner.addresses[0][1])
    finally:
        await runner.cleanup()


@pytest.fixture
async def prober() -> AsyncIterator[HttpProber]:
    async with HttpProber() as http_prober:
        yield http_prober


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[RawHandler], Awaitable[int]]]:
    """Start asyncio servers with a given handler; returns their port."""
    started: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: RawHandler) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        started.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in started:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]  # bound, not listening: connections are refused


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


async def fetch(prober: HttpProber, url: str, **values: Any) -> ProbeResult:
    values.setdefault("timeout", "2s")
    settings = HttpSettings.model_validate(values)
    deadline = asyncio.get_running_loop().time() + settings.timeout
    return await prober.probe(ProbeTarget("portal", url), settings, deadline=deadline)


def samples(result: ProbeResult) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, s.labels): s.value for s in result.samples}


def sample(result: ProbeResult, name: str, *labels: tuple[str, str]) -> float:
    return samples(result)[(name, tuple(labels))]


def declared(result: ProbeResult) -> None:
    names = {f.name for f in KIND.families}
    assert {s.name for s in result.samples} <= names
    assert result.reason in REASONS


# --------------------------------------------------------------------------
# Plain HTTP outcomes
# --------------------------------------------------------------------------


async def test_json_health_ok(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(
        prober,
        servers.url("/json"),
        expect_status=[200],
        json_equals={"status": "ok", "up": True, "items.0.id": 7},
        json_max={"data.queue_depth": 500},
        json_min={"data.queue_depth": 0},
    )
    assert result.ok, result.message
    assert result.reason == "ok"
    declared(result)
    assert sample(result, "continuity_http_status_code") == 200
    assert (
        sample(result, "continuity_http_content_length_bytes")
        == result.values["content_length_bytes"]
        > 0
    )
    for phase in ("dns", "connect", "tls", "first_byte", "total"):
        value = sample(result, "continuity_http_phase_duration_seconds", ("phase", phase))
        assert 0 <= value < 2
        assert result.values[f"phase_{phase}_seconds"] == value
    assert result.values["phase_connect_seconds"] > 0
    assert result.values["phase_tls_seconds"] == 0
    assert result.values["status_code"] == 200
    assert result.events == ()


FAILURES = [
    # (id, path, settings, reason, text in the message)
    ("status-500", "/error", {}, "status", "500 from http://127.0.0.1:"),
    (
        "status-list",
        "/json",
        {"expect_status": [204, "300-399"]},
        "status",
        "expected 204, 300-399",
    ),
    ("slow", "/slow", {"timeout": "300ms"}, "timeout", "waiting for the response headers"),
    ("big", "/big", {}, "body_too_large", "larger than max_body_bytes 1048576"),
    ("big-chunked", "/big-chunked", {}, "body_too_large", "1048577 bytes read"),
    ("redirect-loop", "/loop", {}, "too_many_redirects", "more than 10 redirects"),
    ("redirect-loop-3", "/loop", {"max_redirects": 3}, "too_many_redirects", "more than 3"),
    (
        "html-not-json",
        "/html",
        {"json_equals": {"status": "ok"}},
        "json_invalid",
        "body is not JSON: '<!doctype html>",
    ),
    (
        "json-equals",
        "/json",
        {"json_equals": {"status": "degraded"}},
        "json_mismatch",
        'JSON status is "ok", expected "degraded"',
    ),
    (
        "json-bool-is-not-1",
        "/json",
        {"json_equals": {"up": 1}},
        "json_mismatch",
        "JSON up is true, expected 1",
    ),
    (
        "json-missing",
        "/json",
        {"json_equals": {"data.missing": 0}},
        "json_mismatch",
        "JSON has no data.missing",
    ),
    (
        "json-max",
        "/json",
        {"json_max": {"data.queue_depth": 2}},
        "json_mismatch",
        "JSON data.queue_depth is 3, expected at most 2",
    ),
    (
        "json-min-not-number",
        "/json",
        {"json_min": {"status": 1}},
        "json_mismatch",
        'JSON status is "ok", expected a number at least 1',
    ),
    (
        "json-nested-too-deep",
        "/deep",
        {"json_equals": {"status": "ok"}},
        "json_invalid",
        "nested too deeply",
    ),
    ("body-contains", "/html", {"body_contains": "tracking"}, "body_mismatch", "does not contain"),
    ("body-regex", "/json", {"body_regex": r"queue_depth.: [1-9]\d{3}"}, "body_mismatch", "match"),
    (
        "redirect-not-followed",
        "/redirect",
        {"follow_redirects": False, "expect_status": "2xx"},
        "status",
        "302",
    ),
]


@pytest.mark.parametrize(
    ("path", "values", "reason", "text"),
    [f[1:] for f in FAILURES],
    ids=[f[0] for f in FAILURES],
)
async def test_failures_carry_their_reason(
    prober: HttpProber,
    servers: Servers,
    path: str,
    values: dict[str, Any],
    reason: str,
    text: str,
) -> None:
    result = await fetch(prober, servers.url(path), **values)
    assert not result.ok
    assert result.reason == reason, result.message
    assert text in result.message
    declared(result)
    assert result.duration < 2.5


async def test_body_checks_pass(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(
        prober,
        servers.url("/html"),
        body_contains=["Đăng nhập", "<form>"],
        body_regex=r"<h1>.+</h1>",
    )
    assert result.ok, result.message


async def test_large_body_within_a_raised_limit(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/big"), max_body_bytes=FIVE_MIB)
    assert result.ok, result.message
    assert result.values["content_length_bytes"] == FIVE_MIB


async def test_redirect_followed(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/redirect"), json_equals={"status": "ok"})
    assert result.ok, result.message
    assert result.values["redirects"] == 1
    assert sample(result, "continuity_http_redirects") == 1


async def test_redirect_not_followed_is_a_3xx(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/redirect"), follow_redirects=False)
    assert result.ok, result.message
    assert result.values["status_code"] == 302


async def test_expected_error_status(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/error"), expect_status="5xx")
    assert result.ok, result.message


async def test_connection_refused(prober: HttpProber, closed_port: int) -> None:
    result = await fetch(prober, f"http://127.0.0.1:{closed_port}/")
    assert result.reason == "connect_refused", result.message
    assert f"127.0.0.1:{closed_port}" in result.message
    declared(result)


async def test_server_that_accepts_and_never_answers(
    prober: HttpProber, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)

    port = await raw_server(silent)
    result = await fetch(prober, f"http://127.0.0.1:{port}/", timeout="300ms")
    assert result.reason == "timeout", result.message
    assert "no complete response within 0.3s (waiting for the response headers)" in result.message
    assert 0.25 < result.duration < 1.0


async def test_server_that_hangs_up(
    prober: HttpProber, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")

    port = await raw_server(hang_up)
    result = await fetch(prober, f"http://127.0.0.1:{port}/")
    assert result.reason == "disconnected", result.message


async def test_server_that_is_not_http(
    prober: HttpProber, raw_server: Callable[[RawHandler], Awaitable[int]]
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    port = await raw_server(garbage)
    result = await fetch(prober, f"http://127.0.0.1:{port}/")
    assert result.reason == "protocol_error", result.message


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("tracking.example.vn/health", "is not a URL"),
        ("ftp://127.0.0.1/file", "unsupported scheme 'ftp'"),
        ("http:///nohost", "has no host"),
        ("http://127.0.0.1:99999/", "Port out of range 0-65535"),
        ("http://127.0.0.1:0/", "port must be between 1 and 65535, got 0"),
    ],
)
async def test_invalid_url_in_the_address(prober: HttpProber, address: str, text: str) -> None:
    result = await fetch(prober, address)
    assert result.reason == "invalid_url"
    assert text in result.message


async def test_url_setting_overrides_a_host_address(prober: HttpProber, servers: Servers) -> None:
    settings = HttpSettings(url=servers.url("/json"), timeout="2s")
    deadline = asyncio.get_running_loop().time() + 2
    result = await prober.probe(ProbeTarget("router", "127.0.0.1"), settings, deadline=deadline)
    assert result.ok, result.message


async def test_host_name_that_does_not_resolve(servers: Servers) -> None:
    async with (
        LoopbackDns() as dns_server,
        HttpProber(resolver=LoopbackAiohttpResolver(dns_server)) as prober,
    ):
        result = await fetch(prober, f"http://nx.test:{servers.port}/json")
        assert result.reason == "dns", result.message
        assert "cannot resolve 'nx.test'" in result.message
        good = await fetch(prober, f"http://svc.test:{servers.port}/json")
        assert good.ok, good.message
        assert good.values["phase_dns_seconds"] > 0


async def test_request_settings_reach_the_server(prober: HttpProber, servers: Servers) -> None:
    basic = await fetch(
        prober,
        servers.url("/echo"),
        method="POST",
        json={"parcel": "EB123456789VN"},
        headers={"X-Site": "QNG"},
        basic_auth={"username": "noc", "password": "s3cret"},
        json_equals={
            "method": "POST",
            "authorization": "Basic bm9jOnMzY3JldA==",
            "x_site": "QNG",
            "content_type": "application/json",
            "body": '{"parcel": "EB123456789VN"}',
        },
    )
    assert basic.ok, basic.message
    bearer = await fetch(
        prober,
        servers.url("/echo"),
        method="PUT",
        body="hello",
        bearer_token="tok",
        json_equals={"method": "PUT", "authorization": "Bearer tok", "body": "hello"},
    )
    assert bearer.ok, bearer.message
    head = await fetch(prober, servers.url("/json"), method="HEAD")
    assert head.ok, head.message


async def test_keepalive_reuses_the_connection(prober: HttpProber, servers: Servers) -> None:
    first = await fetch(prober, servers.url("/json"))
    second = await fetch(prober, servers.url("/json"))
    assert first.values["connection_reused"] == 0
    assert second.values["connection_reused"] == 1
    assert second.values["phase_connect_seconds"] == 0
    fresh = [await fetch(prober, servers.url("/json"), keepalive=False) for _ in range(2)]
    assert fresh[1].values["connection_reused"] == 0
    assert fresh[1].values["phase_connect_seconds"] > 0


def has_ipv6_loopback() -> bool:
    try:
        lines = Path("/proc/net/if_inet6").read_text().splitlines()
    except OSError:
        return False
    return any(line.startswith("0" * 31 + "1") for line in lines)


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 (::1) on this host")
async def test_ipv6_url(prober: HttpProber, pki: Pki) -> None:
    runner = web.AppRunner(app(), shutdown_timeout=1.0)
    await runner.setup()
    context = pki.server_context(pki.leaf(ips=["::1"]))
    await web.TCPSite(runner, "::1", 0).start()
    await web.TCPSite(runner, "::1", 0, ssl_context=context).start()
    try:
        plain, tls = (addr[1] for addr in runner.addresses)
        result = await fetch(prober, f"http://[::1]:{plain}/json", family="ipv6")
        assert result.ok, result.message
        secure = await fetch(prober, f"https://[::1]:{tls}/json", ca_file=pki.ca_file)
        assert secure.ok, secure.message
        assert secure.values["cert_days_left"] > 364
    finally:
        await runner.cleanup()


async def test_source_address_and_family(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/json"), source_address="127.0.0.1", family="ipv4")
    assert result.ok, result.message


# --------------------------------------------------------------------------
# TLS
# --------------------------------------------------------------------------


async def test_valid_certificate(prober: HttpProber, servers: Servers, pki: Pki) -> None:
    leaf = pki.leaf()
    port = await servers.tls(pki.server_context(leaf))
    url = f"https://127.0.0.1:{port}/json"
    result = await fetch(prober, url, ca_file=pki.ca_file)
    assert result.ok, result.message
    declared(result)
    assert sample(result, "continuity_tls_certificate_expiry_timestamp_seconds") == leaf.not_after
    assert sample(result, "continuity_tls_chain_earliest_expiry_timestamp_seconds") == (
        leaf.not_after
    )
    assert sample(result, "continuity_tls_version_info", ("tls_version", "TLSv1.3")) == 1
    assert result.values["phase_tls_seconds"] > 0
    assert 364 < result.values["cert_days_left"] < 366
    assert result.events == ()
    # A kept-alive connection still reports the certificate it was opened with.
    again = await fetch(prober, url, ca_file=pki.ca_file)
    assert again.values["connection_reused"] == 1
    assert again.values["cert_expiry_timestamp_seconds"] == leaf.not_after


async def test_expired_certificate(prober: HttpProber, servers: Servers, pki: Pki) -> None:
    leaf = pki.leaf(days=(-30, -2))
    port = await servers.tls(pki.server_context(leaf))
    result = await fetch(prober, f"https://127.0.0.1:{port}/json", ca_file=pki.ca_file)
    assert result.reason == "tls_expired", result.message
    assert "certificate has expired" in result.message
    # Read again without verification, so the expiry still shows.
    assert sample(result, "continuity_tls_certificate_expiry_timestamp_seconds") == leaf.not_after
    assert result.values["cert_days_left"] < -1.9
    [event] = result.events
    assert event.kind == "CertificateExpiring"
    assert event.labels == (("check", "http"),)


async def test_certificate_expiring_in_3_days(
    prober: HttpProber, servers: Servers, pki: Pki
) -> None:
    leaf = pki.leaf(days=(-30, 3))
    port = await servers.tls(pki.server_context(leaf))
    url = f"https://127.0.0.1:{port}/json"
    result = await fetch(prober, url, ca_file=pki.ca_file)
    assert result.ok, result.message  # a warning, not a failure
    assert result.reason == "ok"
    [event] = result.events
    assert event.kind == "CertificateExpiring"
    assert event.labels == (("check", "http"),)
    assert 2.9 < event.values["days_left"] <= 3.0
    assert "warning: certificate CN=127.0.0.1 expires" in result.message
    # On every run where it holds (the alerting layer dedups).
    again = await fetch(prober, url, ca_file=pki.ca_file)
    assert [e.kind for e in again.events] == ["CertificateExpiring"]
    quiet = await fetch(prober, url, ca_file=pki.ca_file, cert_min_days=2)
    assert quiet.events == ()


async def test_wrong_hostname(prober: HttpProber, servers: Servers, pki: Pki) -> None:
    leaf = pki.leaf(ips=[], names=["tracking.example.vn"])
    port = await servers.tls(pki.server_context(leaf))
    result = await fetch(prober, f"https://127.0.0.1:{port}/json", ca_file=pki.ca_file)
    assert result.reason == "tls_hostname", result.message
    assert "IP address mismatch" in result.message
    # server_name makes the name checked (and sent as SNI) the certificate's.
    named = await fetch(
        prober,
        f"https://127.0.0.1:{port}/json",
        ca_file=pki.ca_file,
        server_name="tracking.example.vn",
    )
    assert named.ok, named.message


async def test_self_signed(prober: HttpProber, servers: Servers, pki: Pki) -> None:
    own = make_cert("127.0.0.1", ips=["127.0.0.1"], ca=True)
    port = await servers.tls(pki.server_context(own))
    url = f"https://127.0.0.1:{port}/json"
    untrusted = await fetch(prober, url)
    assert untrusted.reason == "tls_verify", untrusted.message
    assert "self-signed certificate" in untrusted.message
    trusted = await fetch(prober, url, ca_file=pki.write("own.pem", pem(own)))
    assert trusted.ok, trusted.message
    unverified = await fetch(prober, url, verify_tls=False)
    assert unverified.ok, unverified.message
    assert unverified.values["cert_expiry_timestamp_seconds"] == own.not_after


async def test_intermediate_expiring_before_the_leaf(
    prober: HttpProber, servers: Servers, pki: Pki
) -> None:
    intermediate = make_cert("Test Issuing CA", issuer=pki.root, ca=True, days=(-1, 5))
    leaf = pki.leaf(issuer=intermediate, days=(-1, 60))
    port = await servers.tls(pki.server_context(leaf, intermediate))
    result = await fetch(prober, f"https://127.0.0.1:{port}/json", ca_file=pki.ca_file)
    assert result.ok, result.message
    assert sample(result, "continuity_tls_certificate_expiry_timestamp_seconds") == leaf.not_after
    assert (
        sample(result, "continuity_tls_chain_earliest_expiry_timestamp_seconds")
        == intermediate.not_after
    )
    [event] = result.events
    assert 4.9 < event.values["days_left"] <= 5.0
    assert "chain certificate CN=Test Issuing CA expires" in event.message


async def test_client_certificate(prober: HttpProber, servers: Servers, pki: Pki) -> None:
    context = pki.server_context(pki.leaf())
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki.ca_file)
    port = await servers.tls(context)
    client = make_cert("continuity-monitor", issuer=pki.root)
    url = f"https://127.0.0.1:{port}/json"
    with_cert = await fetch(
        prober,
        url,
        ca_file=pki.ca_file,
        client_cert_file=pki.write("client.pem", pem(client)),
        client_key_file=pki.write("client.key", key_pem(client)),
    )
    assert with_cert.ok, with_cert.message
    without = await fetch(prober, url, ca_file=pki.ca_file)
    # TLS 1.3 finishes the client's handshake before the server checks the
    # certificate; its refusal arrives as an alert while the request is sent.
    assert without.reason in ("tls_error", "disconnected"), without.message
    assert "does the server require a client certificate?" in without.message
    assert not without.ok


async def test_https_redirect_to_http_and_back(prober: HttpProber, servers: Servers) -> None:
    result = await fetch(prober, servers.url("/redirect"), json_equals={"status": "ok"})
    assert result.ok
    assert "continuity_tls_certificate_expiry_timestamp_seconds" not in {
        s.name for s in result.samples
    }


def test_registered() -> None:
    assert KINDS["http"] is KIND
    assert json.dumps(sorted(f.name for f in KIND.families))
