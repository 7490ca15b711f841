"""HTTP(S) probe: the ``http`` settings model, the prober and the registry entry.

The target's ``address`` is the URL (``https://tracking.example.vn/health``);
``http.url`` overrides it, which lets a target whose address is a host (say
one with ``checks = ["icmp", "http"]``) name the URL to fetch. A URL in
``http.url`` is checked when the config loads; one taken from the address is
checked on the first run and fails with reason ``invalid_url``.

One run is one request (plus the redirects it is told to follow), bounded by
the run's deadline from DNS to the last body byte, then the checks in order:
status, body size, body text (``body_contains``, ``body_regex``), JSON
conditions (``json_equals``, ``json_min``, ``json_max`` on dotted paths such
as ``data.queue_depth`` or ``items.0.state``). The first failing check names
the result's reason; :data:`REASONS` is the full, fixed set.

Shared resources live on :class:`HttpProber`: one ``aiohttp.ClientSession``
(no connection cap beyond the scheduler's concurrency limits, a 10 s DNS
cache, no cookies, no proxies from the environment), a second one only for
checks that ask for another address family or source address, and one SSL
context per distinct TLS setting. Connections are kept alive between runs
(``keepalive = false`` asks for a fresh connection, and so a fresh TLS
handshake, on every run).

Phases (``continuity_http_phase_duration_seconds{phase=...}``) come from
aiohttp's trace hooks plus a connection-level callback: ``dns`` (0 on a
cache hit or an IP literal), ``connect`` (TCP), ``tls`` (handshake),
``first_byte`` (connection ready to response headers: the server's time),
``total`` (start to last body byte). ``dns``/``connect``/``tls`` are 0 when a
kept-alive connection was reused and are summed over redirect hops. The peer
certificate is read at the handshake (the response may already have released
its connection) and remembered per ``host:port``, so reused connections
report the certificate they were opened with.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import functools
import json
import math
import re
import socket
import ssl
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Annotated, Any, Final, Literal, cast

import aiohttp
from aiohttp.abc import AbstractResolver
from aiohttp.client_proto import ResponseHandler
from pydantic import AfterValidator, Field, PlainValidator, model_validator
from yarl import URL

from monitor.config_types import SecretStr, SourceAddress, StrictModel
from monitor.contract import (
    MetricFamily,
    ProbeContext,
    ProbeEvent,
    ProbeKind,
    ProbeResult,
    ProbeTarget,
    Sample,
)
from monitor.redact import redact_url, redact_urls
from monitor.regex import Regex, compile_regex
from probes.neterrors import (
    LOCAL_RESOURCES,
    ProbeFailure,
    local_failure,
    os_failure,
    os_text,
)
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
    "BasicAuth",
    "HttpProber",
    "HttpSettings",
    "json_path_lookup",
    "parse_status_ranges",
    "parse_url",
]

VERSION: Final = "0.1.0"
USER_AGENT: Final = f"continuity-monitor/{VERSION}"

REASONS: Final = (
    "ok",
    "invalid_url",
    "tls_config",
    "dns",
    "timeout",
    "connect_refused",
    "connect_error",
    "tls_verify",
    "tls_expired",
    "tls_hostname",
    "tls_error",
    "disconnected",
    "protocol_error",
    "too_many_redirects",
    LOCAL_RESOURCES,
    "status",
    "body_too_large",
    "body_mismatch",
    "json_invalid",
    "json_mismatch",
)
"""Every reason an HTTP result can carry (a bounded label set)."""

STATUS_METRIC: Final = "continuity_http_status_code"
PHASE_METRIC: Final = "continuity_http_phase_duration_seconds"
LENGTH_METRIC: Final = "continuity_http_content_length_bytes"
REDIRECTS_METRIC: Final = "continuity_http_redirects"

PHASES: Final = ("dns", "connect", "tls", "first_byte", "total")
_PHASE_LABELS: Final = {p: (("phase", p),) for p in PHASES}
_PHASE_VALUES: Final = {p: f"phase_{p}_seconds" for p in PHASES}

METHODS = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_SCHEMES: Final = ("http", "https")
_FAMILIES: Final = {"auto": socket.AF_UNSPEC, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_URL_CACHE_LIMIT: Final = 65536
_CERT_CACHE_LIMIT: Final = 65536
_READ_CHUNK: Final = 256 * 1024
_EXCERPT: Final = 80


# --------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------


def parse_url(text: str) -> URL:
    """An absolute http(s) URL with a host; ``ValueError`` with the reason otherwise."""
    shown = redact_url(text)  # errors reach logs and the API: no password or token
    if "://" not in text:
        raise ValueError(
            f"{text!r} is not a URL; write it as 'https://host/path' "
            "(or set http.url when the address is a host)"
        )
    try:
        url = URL(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{shown!r} is not a valid URL: {exc}") from None
    if url.scheme not in _SCHEMES:
        raise ValueError(f"unsupported scheme {url.scheme!r} in {shown!r} (use http or https)")
    if not url.raw_host:
        raise ValueError(f"{shown!r} has no host")
    if url.explicit_port == 0:
        raise ValueError(f"{shown!r}: port must be between 1 and 65535, got 0")
    return url


def _url_setting(value: str) -> str:
    parse_url(value)
    return value


def _status_item(item: object) -> tuple[int, int]:
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and re.fullmatch(r"\s*[1-5]xx\s*", item):
        low = int(item.strip()[0]) * 100
        high = low + 99
    elif isinstance(item, str) and re.fullmatch(r"\s*\d{3}\s*-\s*\d{3}\s*", item):
        first, last = item.split("-")
        low, high = int(first), int(last)
    else:
        raise ValueError(
            f"expected a status code, a range such as '200-299' or a class such as '2xx', "
            f"got {item!r}"
        )
    if not (100 <= low <= 599 and 100 <= high <= 599):
        raise ValueError(f"status codes must be between 100 and 599, got {item!r}")
    if low > high:
        raise ValueError(f"range {item!r} is empty (the first code is above the last)")
    return (low, high)


def parse_status_ranges(value: object) -> tuple[tuple[int, int], ...]:
    """``200``, ``"2xx"``, ``"200-299"`` or a list of them as inclusive ranges."""
    items = value if isinstance(value, list | tuple) else [value]
    if not items:
        raise ValueError("must list at least one status code or range")
    return tuple(_status_item(item) for item in items)


def _strings(value: object, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected {what} or a list of them, got {value!r}")
    return tuple(items)


def _texts(value: object) -> tuple[str, ...]:
    texts = _strings(value, "a string")
    if any(not text for text in texts):
        raise ValueError("must not be empty")
    return texts


def compile_regexes(value: object) -> tuple[Regex, ...]:
    """Regular expressions compiled once, at config load, with RE2 (linear in the body)."""
    if isinstance(value, tuple) and all(isinstance(p, Regex) for p in value):
        return value
    compiled = []
    for pattern in _strings(value, "a regular expression"):
        compiled.append(compile_regex(pattern))
    return tuple(compiled)


Regexes = Annotated[tuple[Regex, ...], PlainValidator(compile_regexes)]
Texts = Annotated[tuple[str, ...], PlainValidator(_texts)]
StatusRanges = Annotated[tuple[tuple[int, int], ...], PlainValidator(parse_status_ranges)]


def split_json_path(path: str) -> tuple[str, ...]:
    """``"data.queue_depth"`` -> ``("data", "queue_depth")``; empty parts are errors."""
    parts = tuple(path.split("."))
    if any(not part for part in parts):
        raise ValueError(f"invalid JSON path {path!r} (write dotted keys such as 'data.status')")
    return parts


def _json_equals(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of dotted path = value, got {value!r}")
    for path, expected in value.items():
        split_json_path(path)
        if isinstance(expected, dict | list):
            raise ValueError(
                f"{path}: compare scalars only (string, number, true/false), got a "
                + ("table" if isinstance(expected, dict) else "list")
            )
        if isinstance(expected, float) and not math.isfinite(expected):
            raise ValueError(f"{path}: expected a finite number, got {expected}")
    return dict(value)


def _json_bounds(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of dotted path = number, got {value!r}")
    out: dict[str, float] = {}
    for path, bound in value.items():
        split_json_path(path)
        if isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ValueError(f"{path}: expected a number, got {bound!r}")
        out[path] = float(bound)
    return out


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of header = value, got {value!r}")
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"invalid header name {name!r}")
        if not isinstance(text, str):
            raise ValueError(f"header {name}: expected a string, got {text!r}")
        if "\r" in text or "\n" in text:
            raise ValueError(f"header {name}: line breaks are not allowed in a value")
    return dict(value)


class BasicAuth(StrictModel):
    """``basic_auth = { username = "noc", password = "env:PORTAL_PASS" }``."""

    username: str
    password: SecretStr


# ``json`` (the request body) shadows pydantic's deprecated ``BaseModel.json()``;
# the key is public interface, the old method is never used here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class HttpSettings(TlsCheckSettings):
        """``http = { expect_status = [200], json_equals = { "status" = "ok" } }``."""

        url: Annotated[str, AfterValidator(_url_setting)] | None = None
        method: METHODS = "GET"
        headers: Annotated[dict[str, str], PlainValidator(_headers)] = {}  # noqa: RUF012
        body: str | None = None
        json: Any = None
        expect_status: StatusRanges = ((200, 399),)
        body_contains: Texts = ()
        body_regex: Regexes = ()
        json_equals: Annotated[dict[str, Any], PlainValidator(_json_equals)] = {}  # noqa: RUF012
        json_min: Annotated[dict[str, float], PlainValidator(_json_bounds)] = {}  # noqa: RUF012
        json_max: Annotated[dict[str, float], PlainValidator(_json_bounds)] = {}  # noqa: RUF012
        follow_redirects: bool = True
        max_redirects: Annotated[int, Field(ge=1, le=30)] = 10
        max_body_bytes: Annotated[int, Field(ge=1, le=1 << 30)] = 1 << 20
        basic_auth: BasicAuth | None = None
        bearer_token: SecretStr | None = None
        keepalive: bool = True
        family: Literal["auto", "ipv4", "ipv6"] = "auto"
        source_address: SourceAddress | None = None

        @model_validator(mode="after")
        def _consistent(self) -> HttpSettings:
            if self.body is not None and self.json is not None:
                raise ValueError("set body or json, not both")
            if self.basic_auth is not None and self.bearer_token is not None:
                raise ValueError("set basic_auth or bearer_token, not both")
            has_authorization = any(h.lower() == "authorization" for h in self.headers)
            if has_authorization and (self.basic_auth or self.bearer_token):
                raise ValueError(
                    "an Authorization header and basic_auth/bearer_token cannot be combined"
                )
            if self.method == "HEAD" and (self.body_contains or self.body_regex or self.has_json):
                raise ValueError("HEAD responses have no body to check")
            return self

        @property
        def has_json(self) -> bool:
            """Whether any JSON condition is set."""
            return bool(self.json_equals or self.json_min or self.json_max)


# --------------------------------------------------------------------------
# Checks on a response (pure)
# --------------------------------------------------------------------------

_MISSING: Final = object()


def json_path_lookup(document: Any, path: tuple[str, ...]) -> Any:
    """The value at a dotted path (list items by index), or ``_MISSING``."""
    node = document
    for part in path:
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _same(actual: Any, expected: Any) -> bool:
    # JSON true must not equal 1 (Python's bool is an int); numbers compare by value.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return float(actual) == float(expected)
    return bool(type(actual) is type(expected) and actual == expected)


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def json_problem(settings: HttpSettings, document: Any) -> str | None:
    """The first JSON condition that fails, as a message; ``None`` if all hold."""
    for path, expected in settings.json_equals.items():
        actual = json_path_lookup(document, split_json_path(path))
        if actual is _MISSING:
            return f"JSON has no {path} (expected {_shown(expected)})"
        if not _same(actual, expected):
            return f"JSON {path} is {_shown(actual)}, expected {_shown(expected)}"
    for path, bound in settings.json_min.items():
        problem = _bound_problem(document, path, bound, upper=False)
        if problem is not None:
            return problem
    for path, bound in settings.json_max.items():
        problem = _bound_problem(document, path, bound, upper=True)
        if problem is not None:
            return problem
    return None


def _bound_problem(document: Any, path: str, bound: float, *, upper: bool) -> str | None:
    word = "at most" if upper else "at least"
    actual = json_path_lookup(document, split_json_path(path))
    if actual is _MISSING:
        return f"JSON has no {path} (expected a number {word} {bound:g})"
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return f"JSON {path} is {_shown(actual)}, expected a number {word} {bound:g}"
    if (actual > bound) if upper else (actual < bound):
        return f"JSON {path} is {actual:g}, expected {word} {bound:g}"
    return None


def status_ok(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    """Whether ``status`` falls in any of the inclusive ranges."""
    return any(low <= status <= high for low, high in ranges)


def _ranges_text(ranges: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= _EXCERPT else flat[:_EXCERPT] + "...")


def content_problem(settings: HttpSettings, text: str) -> tuple[str, str] | None:
    """(reason, message) of the first failing body or JSON check, ``None`` if all pass."""
    for needle in settings.body_contains:
        if needle not in text:
            return "body_mismatch", f"body does not contain {needle!r}: {_excerpt(text)}"
    for pattern in settings.body_regex:
        if not pattern.search(text):
            return "body_mismatch", f"body does not match {pattern.pattern!r}: {_excerpt(text)}"
    if settings.has_json:
        try:
            document = json.loads(text)
        except ValueError:
            return "json_invalid", f"body is not JSON: {_excerpt(text)}"
        except RecursionError:  # a hostile or broken body: [[[[... a million deep
            return "json_invalid", "body is JSON nested too deeply to check"
        problem = json_problem(settings, document)
        if problem is not None:
            return "json_mismatch", problem
    return None


# --------------------------------------------------------------------------
# Timing: trace hooks and the connection-level callback
# --------------------------------------------------------------------------


class _Timeline:
    """Phase timestamps of one run, fed by trace hooks and :class:`_Handler`."""

    __slots__ = (
        "begin",
        "connect",
        "create_started",
        "dns",
        "dns_ended",
        "dns_started",
        "ready",
        "reused",
        "stage",
        "tcp_done",
        "tls",
    )

    def __init__(self, begin: float) -> None:
        self.begin = begin
        self.dns = self.connect = self.tls = 0.0
        self.dns_started = self.dns_ended = self.create_started = self.tcp_done = 0.0
        self.ready = begin
        self.reused = False
        self.stage = "connecting"

    def tcp_connected(self, now: float) -> None:
        start = max(self.create_started, self.dns_ended)
        self.connect += max(0.0, now - start)
        self.tcp_done = now
        self.stage = "in the TLS handshake"

    def handshake_done(self, now: float) -> None:
        self.tls += max(0.0, now - self.tcp_done)


# The run a connection is being opened for. Set by the probe in its own task;
# the protocol factory runs synchronously in that task, so it sees the value.
_TIMELINE: contextvars.ContextVar[_Timeline | None] = contextvars.ContextVar(
    "continuity_http_timeline", default=None
)

CertCache = dict[tuple[str, int], PeerCertificates]


class _Handler(ResponseHandler):
    """aiohttp's protocol plus two timestamps and the peer certificate.

    aiohttp creates the protocol right after the TCP connect and calls
    ``connection_made`` after the TLS handshake, which gives the connect/tls
    split that trace hooks lack and the one moment the certificate can
    always be read.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, certs: CertCache) -> None:
        super().__init__(loop)
        self._clock = loop
        self._timeline = _TIMELINE.get()
        self._certs = certs
        if self._timeline is not None:
            self._timeline.tcp_connected(loop.time())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        timeline, self._timeline = self._timeline, None
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        if timeline is not None:
            timeline.handshake_done(self._clock.time())
        peer = transport.get_extra_info("peername")
        host = ssl_object.server_hostname
        try:
            certs = peer_certificates(ssl_object)
        except (ValueError, ssl.SSLError):
            certs = None
        if certs is not None and host and peer:
            if len(self._certs) >= _CERT_CACHE_LIMIT:
                self._certs.clear()
            self._certs[(host, peer[1])] = certs


def _timeline(ctx: SimpleNamespace) -> _Timeline | None:
    value = ctx.trace_request_ctx
    return value if isinstance(value, _Timeline) else None


async def _on_dns_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (t := _timeline(ctx)) is not None:
        t.dns_started = asyncio.get_running_loop().time()
        t.stage = "resolving the host name"


async def _on_dns_end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (t := _timeline(ctx)) is not None:
        t.dns_ended = asyncio.get_running_loop().time()
        t.dns += t.dns_ended - t.dns_started
        t.stage = "connecting"


async def _on_create_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (t := _timeline(ctx)) is not None:
        t.create_started = asyncio.get_running_loop().time()
        t.stage = "connecting"


async def _on_connection_ready(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (t := _timeline(ctx)) is not None:
        t.ready = asyncio.get_running_loop().time()
        t.stage = "waiting for the response headers"


async def _on_reuse(_s: object, ctx: SimpleNamespace, _p: object) -> None:
    if (t := _timeline(ctx)) is not None:
        t.reused = True
        t.ready = asyncio.get_running_loop().time()
        t.stage = "waiting for the response headers"


def trace_config() -> aiohttp.TraceConfig:
    """The hooks that feed :class:`_Timeline` (the request passes it as trace context)."""
    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(_on_dns_start)
    trace.on_dns_resolvehost_end.append(_on_dns_end)
    trace.on_connection_create_start.append(_on_create_start)
    trace.on_connection_create_end.append(_on_connection_ready)
    trace.on_connection_reuseconn.append(_on_reuse)
    return trace


# --------------------------------------------------------------------------
# The prober
# --------------------------------------------------------------------------


@dataclass(slots=True)
class _Response:
    """What a request brought back, before the checks."""

    status: int
    url: URL
    redirects: int
    length: int
    body: bytes | None  # None when it was larger than max_body_bytes
    charset: str | None
    first_byte: float


class HttpProber:
    """The live ``http`` kind: ``async with HttpProber() as prober``.

    ``resolver`` replaces aiohttp's (tests resolve names against a loopback
    DNS server); ``keepalive_timeout`` is how long an idle connection is
    kept for the next run.
    """

    def __init__(
        self, *, resolver: AbstractResolver | None = None, keepalive_timeout: float = 15.0
    ) -> None:
        self._resolver = resolver
        self._keepalive_timeout = keepalive_timeout
        self._sessions: dict[tuple[socket.AddressFamily, str | None], aiohttp.ClientSession] = {}
        self._contexts = TlsContexts()
        self._certs: CertCache = {}
        self._urls: dict[str, URL | str] = {}
        self._trace = trace_config()

    async def __aenter__(self) -> HttpProber:
        self._session(socket.AF_UNSPEC, None)  # the common one, created inside the running loop
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()

    def _session(self, family: socket.AddressFamily, source: str | None) -> aiohttp.ClientSession:
        key = (family, source)
        session = self._sessions.get(key)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=0,  # the scheduler's concurrency limits bound us, not aiohttp's 100
                use_dns_cache=True,
                ttl_dns_cache=10,
                family=family,
                local_addr=(source, 0) if source else None,
                resolver=self._resolver,
                keepalive_timeout=self._keepalive_timeout,
            )
            # The one seam for the TCP/TLS split and the certificate (see _Handler).
            cast(Any, connector)._factory = functools.partial(
                _Handler, loop=asyncio.get_running_loop(), certs=self._certs
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Every request runs under the run's own deadline (asyncio.timeout_at);
                # aiohttp's 300 s default must not stand in for it.
                timeout=aiohttp.ClientTimeout(total=None),
                trace_configs=[self._trace],
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                headers={"User-Agent": USER_AGENT},
            )
            self._sessions[key] = session
        return session

    def _url(self, settings: HttpSettings, address: str) -> URL | str:
        text = settings.url or address
        cached = self._urls.get(text)
        if cached is None:
            try:
                cached = parse_url(text)
            except ValueError as exc:
                cached = str(exc)
            if len(self._urls) >= _URL_CACHE_LIMIT:
                self._urls.clear()
            self._urls[text] = cached
        return cached

    async def probe(
        self, target: ProbeTarget, settings: HttpSettings, *, deadline: float
    ) -> ProbeResult:
        """Fetch the URL once and check the response; never raises for the network."""
        started = time.time()
        loop = asyncio.get_running_loop()
        begin = loop.time()
        deadline = min(deadline, begin + settings.timeout)
        timeline = _Timeline(begin)
        url = self._url(settings, target.address)
        response: _Response | None = None
        try:
            if isinstance(url, str):
                raise ProbeFailure("invalid_url", url)
            context = self._context(url, settings)
            response = await self._fetch(url, settings, context, timeline, deadline)
            reason, message = _verdict(settings, response)
        except ProbeFailure as failure:
            reason, message = failure.reason, failure.message
            if reason in ("tls_verify", "tls_expired", "tls_hostname") and failure.host:
                await self._remember_failed_certificate(failure, settings, deadline)
            elif _refused_after_handshake(reason, timeline, settings):
                message += (
                    " right after the TLS handshake (does the server require a client "
                    "certificate? see client_cert_file)"
                )
        duration = loop.time() - begin
        return self._result(
            settings,
            url=url,
            response=response,
            timeline=timeline,
            reason=reason,
            message=redact_urls(message),  # shown in the API, pages, logs and alerts
            started=started,
            duration=duration,
        )

    def _context(self, url: URL, settings: HttpSettings) -> ssl.SSLContext | None:
        # Plain http still gets a context if it may redirect to https.
        if url.scheme != "https" and not settings.follow_redirects:
            return None
        context = self._contexts.get(settings)
        if isinstance(context, str):
            raise ProbeFailure("tls_config", context)
        return context

    async def _fetch(
        self,
        url: URL,
        settings: HttpSettings,
        context: ssl.SSLContext | None,
        timeline: _Timeline,
        deadline: float,
    ) -> _Response:
        session = self._session(_FAMILIES[settings.family], settings.source_address)
        token = _TIMELINE.set(timeline)
        try:
            async with asyncio.timeout_at(deadline):
                return await self._exchange(session, url, settings, context, timeline)
        except TimeoutError:
            raise ProbeFailure(
                "timeout",
                f"no complete response within {_seconds(deadline - timeline.begin)} "
                f"({timeline.stage})",
            ) from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise _classify(exc) from None
        finally:
            _TIMELINE.reset(token)

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        settings: HttpSettings,
        context: ssl.SSLContext | None,
        timeline: _Timeline,
    ) -> _Response:
        async with session.request(
            settings.method,
            url,
            headers=_request_headers(settings),
            data=settings.body.encode() if settings.body is not None else None,
            json=settings.json,
            allow_redirects=settings.follow_redirects,
            max_redirects=settings.max_redirects,
            ssl=context if context is not None else True,
            server_hostname=settings.server_name,
            trace_request_ctx=timeline,
        ) as resp:
            first_byte = asyncio.get_running_loop().time() - timeline.ready
            timeline.stage = "reading the body"
            body, length = await _read_body(resp, settings.max_body_bytes)
            return _Response(
                status=resp.status,
                url=resp.url,
                redirects=len(resp.history),
                length=length,
                body=body,
                charset=resp.charset,
                first_byte=first_byte,
            )

    async def _remember_failed_certificate(
        self, failure: ProbeFailure, settings: HttpSettings, deadline: float
    ) -> None:
        """After a verification failure, read the certificate without verifying it."""
        name = settings.server_name or failure.host
        certs = await fetch_certificates(
            self._contexts,
            failure.host,
            failure.port,
            name,
            deadline=deadline,
            local_addr=(settings.source_address, 0) if settings.source_address else None,
        )
        if certs is not None:
            self._certs[(name, failure.port)] = certs

    def _result(
        self,
        settings: HttpSettings,
        *,
        url: URL | str,
        response: _Response | None,
        timeline: _Timeline,
        reason: str,
        message: str,
        started: float,
        duration: float,
    ) -> ProbeResult:
        samples, values = _figures(response, timeline, duration)
        events: tuple[ProbeEvent, ...] = ()
        final = response.url if response is not None else url
        if isinstance(final, URL) and final.scheme == "https":
            certs = self._certs.get((settings.server_name or _host(final), final.port or 443))
            if certs is not None:
                samples.extend(tls_samples(certs))
                values.update(tls_values(certs, started))
                event = expiry_event(certs, started, settings.cert_min_days, "http")
                if event is not None:
                    events = (event,)
                    if reason == "ok":
                        message += f"; warning: {event.message}"
        return ProbeResult(
            reason == "ok",
            reason,
            message,
            started,
            duration,
            tuple(samples),
            values,
            events,
        )


def _refused_after_handshake(reason: str, timeline: _Timeline, settings: HttpSettings) -> bool:
    # TLS 1.3 servers reject a missing client certificate after the client's
    # handshake is done: the request then meets a closed connection or an alert.
    return (
        reason in ("disconnected", "tls_error")
        and timeline.tls > 0
        and settings.client_cert_file is None
    )


def _seconds(value: float) -> str:
    return f"{round(value, 3):g}s"


def _host(url: URL) -> str:
    return (url.raw_host or "").rstrip(".")


def _request_headers(settings: HttpSettings) -> Mapping[str, str] | None:
    """The configured headers plus authorization and ``Connection: close`` when asked."""
    if settings.basic_auth is None and settings.bearer_token is None and settings.keepalive:
        return settings.headers or None  # the common case allocates nothing
    headers = dict(settings.headers)
    if settings.basic_auth is not None:
        auth = settings.basic_auth
        token = base64.b64encode(f"{auth.username}:{auth.password.reveal()}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif settings.bearer_token is not None:
        headers["Authorization"] = f"Bearer {settings.bearer_token.reveal()}"
    if not settings.keepalive:
        headers["Connection"] = "close"
    return headers


async def _read_body(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes | None, int]:
    """The body, or ``None`` past ``limit`` bytes (reading stops there); and its length."""
    declared = resp.content_length
    if declared is not None and declared > limit:
        resp.close()  # do not download what we will not look at
        return None, declared
    if declared is not None:
        body = await resp.read()
        return body, len(body)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.content.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks), size
        size += len(chunk)
        if size > limit:
            resp.close()
            return None, size
        chunks.append(chunk)


def _verdict(settings: HttpSettings, response: _Response) -> tuple[str, str]:
    """(reason, message) for a response that arrived."""
    where = f"{response.status} from {response.url}"
    if response.redirects:
        where += f" after {response.redirects} redirect{'s' if response.redirects > 1 else ''}"
    if not status_ok(response.status, settings.expect_status):
        return "status", f"{where}, expected {_ranges_text(settings.expect_status)}"
    if response.body is None:
        return (
            "body_too_large",
            f"{where}: body larger than max_body_bytes {settings.max_body_bytes} "
            f"({response.length} bytes read or announced)",
        )
    if settings.body_contains or settings.body_regex or settings.has_json:
        problem = content_problem(settings, _decode(response.body, response.charset))
        if problem is not None:
            return problem[0], f"{where}: {problem[1]}"
    return "ok", f"{where}, {response.length} bytes"


def _decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset in Content-Type
        return body.decode("utf-8", errors="replace")


def _figures(
    response: _Response | None, timeline: _Timeline, duration: float
) -> tuple[list[Sample], dict[str, float]]:
    phases = {"dns": timeline.dns, "connect": timeline.connect, "tls": timeline.tls}
    if response is not None:
        phases["first_byte"] = response.first_byte
    else:  # a failed run shows the phases it got through, not zeros for the rest
        phases = {p: v for p, v in phases.items() if v > 0}
    phases["total"] = duration
    samples = [Sample(PHASE_METRIC, v, _PHASE_LABELS[p]) for p, v in phases.items()]
    values = {_PHASE_VALUES[p]: v for p, v in phases.items()}
    values["connection_reused"] = 1.0 if timeline.reused else 0.0
    if response is not None:
        samples.append(Sample(STATUS_METRIC, float(response.status)))
        samples.append(Sample(LENGTH_METRIC, float(response.length)))
        samples.append(Sample(REDIRECTS_METRIC, float(response.redirects)))
        values["status_code"] = float(response.status)
        values["content_length_bytes"] = float(response.length)
        values["redirects"] = float(response.redirects)
    return samples, values


def _classify(exc: BaseException) -> ProbeFailure:
    """An aiohttp/OS exception as a reason and a message."""
    local = local_failure(exc, "cannot make the request")
    if local is not None:
        return local
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _connect_failure(exc)
    for types, reason, text in _EXCHANGE_FAILURES:
        if isinstance(exc, types):
            return ProbeFailure(reason, text(exc))
    return ProbeFailure("protocol_error", f"{type(exc).__name__}: {exc}")


def _connect_failure(exc: aiohttp.ClientConnectorError) -> ProbeFailure:
    """Failures before a request went out: DNS, TCP, TLS."""
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_error = exc.certificate_error
        if isinstance(cert_error, ssl.SSLCertVerificationError):
            reason, message = verify_failure(cert_error)
        else:
            reason, message = "tls_verify", f"certificate verify failed: {cert_error}"
        return ProbeFailure(reason, f"{where}: {message}", exc.host, exc.port or 0)
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        return ProbeFailure(
            "tls_error", f"TLS handshake with {where} failed: {tls_error_text(exc)}"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProbeFailure("dns", f"cannot resolve {exc.host!r}: {os_text(exc.os_error)}")
    return os_failure(exc.os_error, where)


def _redirects_text(exc: Any) -> str:
    return f"more than {len(exc.history)} redirects, the last from {exc.request_info.real_url}"


# Failures once connected, first match wins (subclasses before their bases).
_EXCHANGE_FAILURES: Final[tuple[tuple[Any, str, Callable[[Any], str]], ...]] = (
    (aiohttp.TooManyRedirects, "too_many_redirects", _redirects_text),
    (
        (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError),
        "invalid_url",
        lambda e: f"invalid URL: {e}",
    ),
    (
        (aiohttp.ServerDisconnectedError, ConnectionResetError),
        "disconnected",
        lambda e: "the server closed the connection without a complete response",
    ),
    (
        aiohttp.ClientOSError,
        "disconnected",
        lambda e: f"connection failed during the exchange: {os_text(e)}",
    ),
    (aiohttp.ClientPayloadError, "protocol_error", lambda e: f"malformed response body: {e}"),
    (aiohttp.ClientResponseError, "protocol_error", lambda e: f"malformed response: {e.message}"),
    (ssl.SSLError, "tls_error", lambda e: f"TLS error: {tls_error_text(e)}"),
    (OSError, "connect_error", os_text),
)


# --------------------------------------------------------------------------
# Registry entry
# --------------------------------------------------------------------------


def open_prober(context: ProbeContext) -> HttpProber:
    """The kind's factory: nothing from the config sections is needed."""
    return HttpProber()


def _address_problem(address: str, settings: HttpSettings) -> str | None:
    """The target's address is the URL unless ``url`` is set."""
    if settings.url is not None:
        return None
    try:
        parse_url(address)
    except ValueError as exc:
        return str(exc)
    return None


VALUES: Final = (
    frozenset(_PHASE_VALUES.values())
    | {"connection_reused", "status_code", "content_length_bytes", "redirects"}
    | TLS_VALUES
)

KIND = ProbeKind(
    name="http",
    values=VALUES,
    reasons=REASONS,
    settings=HttpSettings,
    open=open_prober,
    families=(
        MetricFamily(STATUS_METRIC, "gauge", "HTTP status code of the last response."),
        MetricFamily(
            PHASE_METRIC,
            "gauge",
            "Duration of each phase of the last HTTP run: dns, connect, tls, first_byte "
            "(connection ready to response headers), total.",
        ),
        MetricFamily(LENGTH_METRIC, "gauge", "Body bytes of the last HTTP response."),
        MetricFamily(REDIRECTS_METRIC, "gauge", "Redirects followed in the last HTTP run."),
        *TLS_FAMILIES,
    ),
    description="HTTP(S) requests with status, body, JSON and TLS certificate checks.",
    check_address=_address_problem,
)
