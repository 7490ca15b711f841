"""HTTP endpoints served from the daemon's own event loop (aiohttp).

``/metrics`` joins pre-rendered bytes (see ``monitor.exporter``), so a scrape
of ten thousand targets costs milliseconds of loop time. ``/-/healthy`` says
the process is alive, ``/-/ready`` that it has a config and is probing,
``POST /-/reload`` re-reads the config (400 with every error if invalid, the
running config stays).
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Backend(Protocol):
    """What the web layer needs from the daemon."""

    @property
    def ready(self) -> bool: ...

    def metrics(self) -> bytes: ...

    async def reload(self) -> tuple[bool, str]: ...


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

    app = web.Application(client_max_size=64 * 1024)
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
