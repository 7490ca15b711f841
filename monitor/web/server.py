"""HTTP endpoints served from the daemon's own event loop (aiohttp).

``/metrics`` joins pre-rendered bytes (see ``monitor.engine.exporter``), so a scrape
of ten thousand targets costs milliseconds of loop time. ``/-/healthy`` says
the process is alive, ``/-/ready`` that it has a config and is probing,
``POST /-/reload`` re-reads the config (400 with every error if invalid, the
running config stays).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from isal import isal_zlib

from monitor.engine.exporter import Part, resolve, weight
from monitor.web import metrics_body
from monitor.web.api_body import MAX_JSON_DEPTH, BadRequest, json_depth
from monitor.web.backend import Backend
from monitor.web.guard import IDLE_TIMEOUT, MAX_CONNECTIONS, AcceptErrors, GuardedSite
from monitor.web.history_view import DEFAULT_RANGE, RANGES
from monitor.web.metrics_body import LoopShare
from monitor.web.security import AccessControl
from monitor.web.status_page import add_status_routes

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


GZIP_LEVEL = 1
"""Fast over small: ISA-L's level 1 (of 0-3) already shrinks the repetitive text about
fifteenfold."""
GZIP_MIN_BYTES = 4096


THREAD_PARTS = 5000
"""Responses of more parts (a deferred part counting its series) than this have their
deferred parts rendered on the loop in slices, and are compressed in a thread as they
are rendered, or written to the client a batch at a time (``monitor.web.metrics_body``);
smaller ones are assembled at once on the loop."""


def assemble(parts: list[Part], compress: bool) -> tuple[bytes, bool]:
    """Render the deferred parts and join the exposition, gzipped if asked and worth
    it; says whether the body is gzipped."""
    return join(resolve(parts), compress)


def join(texts: list[bytes], compress: bool) -> tuple[bytes, bool]:
    """The body, gzipped if asked and worth it (the join and the compression release
    the GIL when large)."""
    body = b"".join(texts)
    if compress and len(body) >= GZIP_MIN_BYTES:
        return gzip_bytes(body), True
    return body, False


def gzip_bytes(body: bytes) -> bytes:
    """A gzip member of ``body`` (ISA-L releases the GIL, so this runs well in a thread)."""
    compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 16 + isal_zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (``gzip;q=0`` refuses it)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            q = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return False
    return False


def json_response(document: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(document, ensure_ascii=False) + "\n",
        status=status,
        content_type="application/json",
    )


def bad_request(exc: BadRequest) -> web.Response:
    return json_response({"error": exc.message, "field": exc.field}, status=400)


class _Handlers:
    """One method per endpoint; each turns the backend's answer into a response."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        share = LoopShare()
        share.begin()
        response = await self._metrics(request, share)
        # reported by the next scrape (this one's text already holds the gauges)
        self.backend.self_metrics.metrics_loop_time(share.total, share.longest)
        return response

    async def _metrics(self, request: web.Request, share: LoopShare) -> web.StreamResponse:
        parts = self.backend.metrics()
        headers = {"Content-Type": METRICS_CONTENT_TYPE, "Vary": "Accept-Encoding"}
        compress = accepts_gzip(request.headers.get("Accept-Encoding", ""))
        # len() first: weight() walks every part, a million of them at 50,000 targets
        if len(parts) <= THREAD_PARTS and weight(parts) <= THREAD_PARTS:
            body, gzipped = assemble(parts, compress)
            share.end()
        elif compress:  # as Prometheus asks: never the whole plain text at once
            # Tens of megabytes at 50,000 targets: the deferred parts rendered on the
            # loop in slices; the compression (which releases the GIL) in a thread.
            await share.rest()  # the snapshot is a slice of its own
            body, gzipped = await metrics_body.gzipped(parts, share, GZIP_LEVEL), True
            share.end()
        else:  # written to the client as it is rendered: never the whole text either
            await share.rest()
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            await metrics_body.streamed(parts, share, response.write)
            share.end()
            await response.write_eof()
            return response
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def healthy(self, _: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def ready(self, _: web.Request) -> web.Response:
        if self.backend.ready:
            return web.Response(text="Ready\n")
        return web.Response(status=503, text="Not ready\n")

    async def reload(self, _: web.Request) -> web.Response:
        ok, message = await self.backend.reload()
        if ok:
            return json_response({"status": "reloaded", "message": message})
        error = "invalid configuration, the running one is kept"
        return json_response({"error": error, "issues": message.splitlines()}, status=400)

    async def post_only(self, _: web.Request) -> web.Response:
        response = json_response({"error": "use POST"}, status=405)
        response.headers["Allow"] = "POST"
        return response

    async def targets(self, _: web.Request) -> web.Response:
        return json_response(self.backend.api_targets())

    async def target(self, request: web.Request) -> web.Response:
        found = self.backend.api_target(request.match_info["name"])
        if found is None:
            return json_response({"error": "no such target"}, status=404)
        return json_response(found)

    async def history(self, request: web.Request) -> web.Response:
        """``GET /api/v1/targets/{name}/history?range=3h`` (3h, 30h, 10d or 360d)."""
        range_name = request.query.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            return bad_request(
                BadRequest("range", f"expected one of {', '.join(RANGES)}, got {range_name!r}")
            )
        found = await self.backend.api_history(request.match_info["name"], range_name)
        if found is None:
            return json_response({"error": "no such target"}, status=404)
        return json_response(found)

    async def outages(self, request: web.Request) -> web.Response:
        try:
            return json_response(await self.backend.api_outages(request.query))
        except BadRequest as exc:
            return bad_request(exc)

    async def maintenance(self, _: web.Request) -> web.Response:
        return json_response(self.backend.api_maintenance())

    async def add_maintenance(self, request: web.Request) -> web.Response:
        return await _create(request, self.backend.api_add_maintenance)

    async def remove_maintenance(self, request: web.Request) -> web.Response:
        return _deleted(
            self.backend.api_remove_maintenance(request.match_info["id"]),
            "no such maintenance window made through the API",
        )

    async def alerts(self, _: web.Request) -> web.Response:
        return json_response(self.backend.api_alerts())

    async def ack(self, request: web.Request) -> web.Response:
        fingerprint = request.match_info["fingerprint"]
        # Who asked (the delivery log line says what it did): acknowledgements silence pages.
        log.info(
            "acknowledgement of %s requested through the API from %s (bearer token)",
            fingerprint,
            request.remote,
        )
        if self.backend.api_ack(fingerprint):
            return json_response({"acknowledged": fingerprint})
        return json_response({"error": "no such firing alert"}, status=404)

    async def silences(self, _: web.Request) -> web.Response:
        return json_response(self.backend.api_silences())

    async def add_silence(self, request: web.Request) -> web.Response:
        return await _create(request, self.backend.api_add_silence)

    async def remove_silence(self, request: web.Request) -> web.Response:
        return _deleted(
            self.backend.api_remove_silence(request.match_info["id"]), "no such silence"
        )


async def _create(request: web.Request, create: Any) -> web.Response:
    """A POST that makes something from a JSON body: 201, or 400 naming the field."""
    try:
        # The parser recurses: a very deep body ends in RecursionError, caught here.
        body = json.loads(await request.text())
    except (ValueError, RecursionError):
        return bad_request(BadRequest("body", "expected a JSON object"))
    if json_depth(body) > MAX_JSON_DEPTH:
        return bad_request(BadRequest("body", f"nested deeper than {MAX_JSON_DEPTH} levels"))
    try:
        return json_response(create(body), status=201)
    except BadRequest as exc:
        return bad_request(exc)


def _deleted(found: bool, missing: str) -> web.Response:
    return web.Response(status=204) if found else json_response({"error": missing}, status=404)


def make_app(backend: Backend, access: AccessControl | None = None) -> web.Application:
    """The aiohttp application; separate from the server so tests can mount it."""
    h = _Handlers(backend)
    middlewares = [access.middleware] if access is not None else []
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app.router.add_get("/metrics", h.metrics)
    app.router.add_get("/-/healthy", h.healthy)
    app.router.add_get("/-/ready", h.ready)
    app.router.add_post("/-/reload", h.reload)
    app.router.add_get("/-/reload", h.post_only)
    app.router.add_get("/api/v1/targets", h.targets)
    app.router.add_get("/api/v1/targets/{name}", h.target)
    app.router.add_get("/api/v1/targets/{name}/history", h.history)
    app.router.add_get("/api/v1/outages", h.outages)
    app.router.add_get("/api/v1/maintenance", h.maintenance)
    app.router.add_post("/api/v1/maintenance", h.add_maintenance)
    app.router.add_delete("/api/v1/maintenance/{id}", h.remove_maintenance)
    app.router.add_get("/api/v1/alerts", h.alerts)
    app.router.add_post("/api/v1/alerts/{fingerprint}/ack", h.ack)
    app.router.add_get("/api/v1/silences", h.silences)
    app.router.add_post("/api/v1/silences", h.add_silence)
    app.router.add_delete("/api/v1/silences/{id}", h.remove_silence)
    add_status_routes(app, backend)
    return app


class WebServer:
    """Runs :func:`make_app` on one address; started and stopped by the daemon."""

    def __init__(
        self,
        backend: Backend,
        access: AccessControl,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._access = access
        self._max_connections = max_connections
        self._clock = clock
        self.stats = access.stats
        backend.self_metrics.registry.register(self.stats)
        # keepalive_timeout also bounds a connection that has not sent (all of) a request.
        self._runner = web.AppRunner(
            make_app(backend, access),
            access_log=None,
            handle_signals=False,
            keepalive_timeout=idle_timeout,
        )
        self._accept_errors: AcceptErrors | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> None:
        await self._runner.setup()
        site = GuardedSite(
            self._runner,
            host or None,
            port,
            stats=self.stats,
            max_connections=self._max_connections,
            ssl_context=tls,
        )
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise
        self._accept_errors = AcceptErrors(self.stats, asyncio.get_running_loop(), self._clock)
        self._accept_errors.install()

    async def stop(self) -> None:
        if self._accept_errors is not None:
            self._accept_errors.remove()
        await self._runner.cleanup()
        self._access.close()
