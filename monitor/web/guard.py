"""The HTTP server's own defences: timeouts, a connection cap, accept errors held back.

Before: idle connections that never sent a byte were kept forever; when the
process ran out of descriptors, probes failed with "Too many open files"
(false outages) and asyncio logged "socket.accept() out of system resource"
hundreds of thousands of times (it retries each pending connection, up to the
backlog, every second, logging each with a traceback).

- **Timeouts**: aiohttp's keep-alive timer also runs from the moment a
  connection is accepted, and is not reset by bytes of an unfinished request:
  with :data:`IDLE_TIMEOUT` a connection that sends nothing, or sends its
  headers a byte at a time, is closed after that long.
- **Connection cap**: past :data:`MAX_CONNECTIONS` open connections a new one
  is closed at once (counted), so descriptors stay for the probes.
- **Accept errors** (EMFILE, ENFILE, ENOBUFS, ENOMEM) are counted and logged
  at most once a minute, without traceback; asyncio itself backs off.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

IDLE_TIMEOUT = 15.0  # seconds a connection may wait for (or dawdle over) a request
MAX_CONNECTIONS = 512  # open HTTP connections at most; more are closed at once
ACCEPT_LOG_PERIOD = 60.0  # seconds between log lines about accept errors
_ACCEPT_FAILED = "socket.accept() out of system resource"


class WebStats(Collector):
    """Counters of the web layer's refusals, exported with the daemon's own metrics."""

    def __init__(self) -> None:
        self.accept_errors = 0
        self.capped = 0
        self.logins: dict[str, int] = {}  # outcome -> count
        self.open_connections: Callable[[], int] = lambda: 0

    def login(self, outcome: str) -> None:
        self.logins[outcome] = self.logins.get(outcome, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "continuity_web_accept_errors",
            "Connections the web server could not accept (out of descriptors or memory).",
            value=self.accept_errors,
        )
        yield CounterMetricFamily(
            "continuity_web_connections_refused",
            "Connections closed at once because the web server had its maximum open.",
            value=self.capped,
        )
        yield GaugeMetricFamily(
            "continuity_web_connections", "Open HTTP connections.", value=self.open_connections()
        )
        failed = CounterMetricFamily(
            "continuity_web_login_failures",
            "Refused credentials, by outcome (wrong, limited: 429, busy: 503).",
            labels=["outcome"],
        )
        for outcome, count in sorted(self.logins.items()):
            failed.add_metric([outcome], count)
        yield failed


class _Refuse(asyncio.Protocol):
    """What a connection past the cap gets: closed as soon as it is accepted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.Transport):
            transport.abort()  # a reset: the descriptor is free at once
        else:
            transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections are capped (see the module docstring)."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str | None,
        port: int,
        *,
        stats: WebStats,
        max_connections: int = MAX_CONNECTIONS,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host = host
        self._port = port
        self._stats = stats
        self._max = max_connections

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host or '*'}:{self._port}"

    async def start(self) -> None:
        await super().start()  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        self._stats.open_connections = lambda: len(server.connections)
        loop = asyncio.get_running_loop()
        pending = 0  # made here, not yet registered by aiohttp (that happens a step later)

        def registered() -> None:
            nonlocal pending
            pending -= 1

        def factory() -> asyncio.BaseProtocol:
            nonlocal pending
            if len(server.connections) + pending >= self._max:
                self._stats.capped += 1
                return _Refuse()
            pending += 1
            loop.call_soon(registered)  # runs just before the handler's connection_made
            return server()

        self._server = await loop.create_server(
            factory, self._host, self._port, ssl=self._ssl_context, reuse_address=True
        )


class AcceptErrors:
    """A loop exception handler: accept failures counted and logged once a minute."""

    def __init__(
        self, stats: WebStats, loop: asyncio.AbstractEventLoop, clock: Callable[[], float]
    ) -> None:
        self._stats = stats
        self._loop = loop
        self._clock = clock
        self._previous = loop.get_exception_handler()
        self._logged_at: float | None = None
        self._since_logged = 0

    def install(self) -> None:
        self._loop.set_exception_handler(self)

    def remove(self) -> None:
        self._loop.set_exception_handler(self._previous)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != _ACCEPT_FAILED:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self._stats.accept_errors += 1
        self._since_logged += 1
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= ACCEPT_LOG_PERIOD:
            exc = context.get("exception")
            log.error(
                "cannot accept HTTP connections (%d times since the last report): %s; "
                "is the descriptor limit (LimitNOFILE) too low?",
                self._since_logged,
                getattr(exc, "strerror", None) or exc,
            )
            self._logged_at = now
            self._since_logged = 0
