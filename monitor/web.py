"""HTTP endpoints served from the daemon's own event loop (aiohttp).

``/metrics`` joins pre-rendered bytes (see ``monitor.exporter``), so a scrape
of ten thousand targets costs milliseconds of loop time. ``/-/healthy`` says
the process is alive, ``/-/ready`` that it has a config and is probing,
``POST /-/reload`` re-reads the config (400 with every error if invalid, the
running config stays).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Backend(Protocol):
    """What the web layer needs from the daemon."""

    @property
    def ready(self) -> bool: ...

    def metrics(self) -> bytes: ...

    async def reload(self) -> tuple[bool, str]: ...

    def api_targets(self) -> dict[str, Any]: ...

    def api_target(self, name: str) -> dict[str, Any] | None: ...

    async def api_outages(self, query: Mapping[str, str]) -> dict[str, Any]: ...

    def api_maintenance(self) -> dict[str, Any]: ...

    def api_add_maintenance(self, body: Any) -> dict[str, Any]: ...

    def api_remove_maintenance(self, window_id: str) -> bool: ...


class BadRequest(ValueError):
    """A request the API refuses: the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def json_response(document: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(document, ensure_ascii=False) + "\n",
        status=status,
        content_type="application/json",
    )


def bad_request(exc: BadRequest) -> web.Response:
    return json_response({"error": exc.message, "field": exc.field}, status=400)


def make_app(backend: Backend) -> web.Application:
    """The aiohttp application; separate from the server so tests can mount it."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=backend.metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def ready(_: web.Request) -> web.Response:
        if backend.ready:
            return web.Response(text="Ready\n")
        return web.Response(status=503, text="Not ready\n")

    async def reload(_: web.Request) -> web.Response:
        ok, message = await backend.reload()
        return web.Response(status=200 if ok else 400, text=message + "\n")

    async def method_not_allowed(_: web.Request) -> web.Response:
        return web.Response(status=405, text="use POST\n", headers={"Allow": "POST"})

    async def api_targets(_: web.Request) -> web.Response:
        return json_response(backend.api_targets())

    async def api_target(request: web.Request) -> web.Response:
        found = backend.api_target(request.match_info["name"])
        if found is None:
            return json_response({"error": "no such target"}, status=404)
        return json_response(found)

    async def api_outages(request: web.Request) -> web.Response:
        try:
            return json_response(await backend.api_outages(request.query))
        except BadRequest as exc:
            return bad_request(exc)

    async def list_maintenance(_: web.Request) -> web.Response:
        return json_response(backend.api_maintenance())

    async def add_maintenance(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return bad_request(BadRequest("body", "expected a JSON object"))
        try:
            return json_response(backend.api_add_maintenance(body), status=201)
        except BadRequest as exc:
            return bad_request(exc)

    async def remove_maintenance(request: web.Request) -> web.Response:
        if backend.api_remove_maintenance(request.match_info["id"]):
            return web.Response(status=204)
        return json_response({"error": "no such maintenance window made through the API"}, 404)

    app = web.Application(client_max_size=64 * 1024)
    app.router.add_get("/api/v1/maintenance", list_maintenance)
    app.router.add_post("/api/v1/maintenance", add_maintenance)
    app.router.add_delete("/api/v1/maintenance/{id}", remove_maintenance)
    app.router.add_get("/api/v1/targets", api_targets)
    app.router.add_get("/api/v1/targets/{name}", api_target)
    app.router.add_get("/api/v1/outages", api_outages)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    app.router.add_get("/-/reload", method_not_allowed)
    return app


class WebServer:
    """Runs :func:`make_app` on one address; started and stopped by the daemon."""

    def __init__(self, backend: Backend) -> None:
        self._runner = web.AppRunner(make_app(backend), access_log=None, handle_signals=False)

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host or None, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            raise

    async def stop(self) -> None:
        await self._runner.cleanup()
