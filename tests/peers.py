"""Real protocol peers for the delivery tests, started on free loopback ports.

* :class:`Mosquitto`: the Debian ``mosquitto`` broker with its own config,
  password file and no persistence; ``stop()``/``start()`` keep the port.
* :class:`Alertmanager`: ``prometheus-alertmanager`` with its own config and
  storage dir, clustering disabled.
* :class:`SmtpServer`: an ``aiosmtpd`` server in its own thread, recording
  messages; recipients steer the reply (``later@`` 451, ``reject@`` 550).
* :class:`HttpReceiver`: an aiohttp server in the test's loop that records
  requests and answers by script (fail the first N with 503, or by path).
* :class:`WebhookReceiver`: the webhook receiver of tests that run the daemon
  as a process: an aiohttp server in its own thread on a loopback port it
  chooses, recording every request with its arrival time, and every alert of
  every body as a :class:`Delivery`.
* :class:`BlackHole`: accepts TCP connections and never says a word.

Everything binds to 127.0.0.1 and every wait is bounded. The fixtures that
start them for one test are in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.helpers import PEERS, free_port, wait_until

MOSQUITTO = PEERS["mosquitto"][0]
MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
ALERTMANAGER = PEERS["alertmanager"][0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


# -- mosquitto ---------------------------------------------------------------------


class Mosquitto:
    """A private mosquitto on a loopback port; anonymous unless ``users`` are given.
    ``stop()`` then ``start()`` brings it back on the same port."""

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        *,
        persistent: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
        require_certificate: bool = False,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.users = users or {}
        self.persistent = persistent  # sessions and queued messages survive a stop/start
        self.tls = tls  # (CA, server certificate, server key) PEM files: an mqtts listener
        self.require_certificate = require_certificate
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"persistence {'true' if self.persistent else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if self.tls is not None:
            ca, cert, key = self.tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
            lines.append(f"require_certificate {'true' if self.require_certificate else 'false'}")
        if os.geteuid() == 0:
            lines.append("user root")  # files here are private to us; do not drop to 'mosquitto'
        if self.users:
            passwd = self.workdir / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(passwd), user, password],
                    check=True,
                    capture_output=True,
                    timeout=10,
                )
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        config = self.workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self) -> None:
        config = self._write_config()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until(lambda: port_open(self.port), 10, "mosquitto")
        except AssertionError:
            _stop(self.proc)
            raise RuntimeError(
                f"mosquitto did not start:\n{self.log.read_text()[-2000:]}"
            ) from None

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- alertmanager ------------------------------------------------------------------

_AM_CONFIG = """\
route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
"""


class Alertmanager:
    """A private Alertmanager (no cluster) on a loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "alertmanager.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.workdir / "alertmanager.yml"
        config.write_text(_AM_CONFIG)
        storage = self.workdir / "data"
        storage.mkdir(exist_ok=True)
        command = [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(self._ready, 15, "alertmanager")
        except AssertionError:
            _stop(self.proc)
            raise RuntimeError(
                f"alertmanager did not start:\n{self.log.read_text()[-2000:]}"
            ) from None

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=0.5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alerts(self) -> list[dict[str, Any]]:
        """What ``GET /api/v2/alerts`` shows (active alerts)."""
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=2) as response:
            data: list[dict[str, Any]] = json.loads(response.read())
            return data

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def __enter__(self) -> Alertmanager:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- SMTP ----------------------------------------------------------------------------


@dataclass
class SmtpServer:
    """aiosmtpd in a thread. Recipients steer replies: ``later@...`` gets 451 (try
    again), ``reject@...`` 550 (no such user); everything else is accepted.
    With ``users``, AUTH is required; with ``tls``, STARTTLS is required; with
    ``implicit_tls``, the connection is TLS from the start (port 465 style)."""

    users: dict[str, str] = field(default_factory=dict)
    tls: ssl.SSLContext | None = None
    implicit_tls: ssl.SSLContext | None = None
    port: int = field(default_factory=free_port)
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    auth_attempts: list[str] = field(default_factory=list)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.users:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=bool(self.tls),
            )
        if self.tls is not None:
            kwargs.update(tls_context=self.tls, require_starttls=True)
        if self.implicit_tls is not None:
            kwargs.update(ssl_context=self.implicit_tls)
        self.controller = Controller(
            _SmtpHandler(self), hostname="127.0.0.1", port=self.port, ready_timeout=5, **kwargs
        )
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        login = data.login.decode() if isinstance(data.login, bytes) else data.login
        password = data.password.decode() if isinstance(data.password, bytes) else data.password
        self.auth_attempts.append(login)
        # handled=False: aiosmtpd sends the 235/535 reply itself
        return AuthResult(success=self.users.get(login) == password, handled=False)

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _SmtpHandler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("later@"):
            return "451 4.3.0 try again later"
        if address.startswith("reject@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.server.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


# -- HTTP receivers and black holes ----------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records POSTs. Status: ``fail_first`` requests get 503, then 200; a path's
    last segment ``status-NNN`` forces that status (``/status-400/...``)."""

    port: int = field(default_factory=free_port)
    fail_first: int = 0
    requests: list[Request] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Request(request.path, dict(request.headers), body))
        self.arrived.set()
        for part in request.path.split("/"):
            if part.startswith("status-"):
                return web.Response(status=int(part[7:]))
        if len(self.requests) <= self.fail_first:
            return web.Response(status=503, text="busy")
        return web.Response(status=200, text="ok")

    async def wait(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Wait until ``count`` requests arrived (bounded)."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.requests


@contextlib.asynccontextmanager
async def http_receiver(**kwargs: Any) -> AsyncIterator[HttpReceiver]:
    receiver = HttpReceiver(**kwargs)
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


class BlackHole:
    """Accepts TCP connections and never answers (for timeouts)."""

    def __init__(self) -> None:
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.accepted = 0
        self.closed_by_peer = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.accepted += 1
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the client gives up
            self.closed_by_peer += 1

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# -- the webhook receiver of tests that run the daemon as a process -------------------


@dataclass(frozen=True)
class Posted:
    """One request as it arrived."""

    at: float  # time.monotonic() on arrival (the clock tests cut and wait on)
    wall: float  # time.time() on arrival (to compare with times in bodies)
    path: str
    raw: bytes
    body: Any  # the JSON document, or None when the body was not JSON


@dataclass(frozen=True)
class Delivery:
    """One alert of one webhook body (the daemon's default payload), as it arrived."""

    at: float  # time.monotonic() when the body arrived
    status: str  # "firing" | "resolved"
    alertname: str
    target: str
    fingerprint: str
    starts_at: str | None
    ends_at: str | None
    alert: dict[str, Any]  # the alert document as sent
    body: dict[str, Any]  # the whole notification

    @property
    def key(self) -> tuple[str, str]:
        return self.alertname, self.target

    def __str__(self) -> str:
        return f"{self.status} {self.alertname} {self.target or '-'} at {self.at:.2f}"


def _deliveries(posted: Posted) -> list[Delivery]:
    body = posted.body
    if not isinstance(body, dict):
        return []
    out = []
    for alert in body.get("alerts", []):
        if not isinstance(alert, dict):
            continue
        labels = alert.get("labels", {})
        out.append(
            Delivery(
                at=posted.at,
                status=str(alert.get("status", body.get("status", ""))),
                alertname=str(labels.get("alertname", alert.get("alertname", ""))),
                target=str(labels.get("target", alert.get("target", "")) or ""),
                fingerprint=str(alert.get("fingerprint", "")),
                starts_at=alert.get("starts_at"),
                ends_at=alert.get("ends_at"),
                alert=alert,
                body=body,
            )
        )
    return out


class WebhookReceiver:
    """``with WebhookReceiver() as hook:`` then ``hook.url``; POSTs to any path answer 200.

    An aiohttp server with its own event loop in a thread, so a test that drives
    the daemon synchronously reads it at any time: :meth:`posts` (every request),
    :meth:`bodies` (their JSON), :meth:`deliveries` (every alert of them) and the
    bounded waits. The port is the system's choice unless ``port`` is given (a test
    that points the daemon at it before it listens).
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._lock = threading.Lock()
        self._posts: list[Posted] = []
        self._deliveries: list[Delivery] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        assert self.port, "the port is known once the receiver is entered (with ...)"
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        arrived, wall = time.monotonic(), time.time()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        posted = Posted(arrived, wall, request.path, raw, body)
        with self._lock:
            self._posts.append(posted)
            self._deliveries.extend(_deliveries(posted))
        return web.json_response({})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = int(self._runner.addresses[0][1])

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def posts(self, since: float = 0.0) -> list[Posted]:
        """Every request received at or after ``since`` (monotonic), in arrival order."""
        with self._lock:
            return [p for p in self._posts if p.at >= since]

    def bodies(self, since: float = 0.0) -> list[Any]:
        """The JSON documents of :meth:`posts`."""
        return [p.body for p in self.posts(since)]

    def deliveries(self, since: float = 0.0) -> list[Delivery]:
        """Every alert received at or after ``since`` (monotonic), in arrival order."""
        with self._lock:
            return [d for d in self._deliveries if d.at >= since]

    def wait(
        self, predicate: Callable[[Delivery], bool], timeout: float, since: float = 0.0
    ) -> Delivery | None:
        """The first delivery since ``since`` matching ``predicate``, or None after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            for delivery in self.deliveries(since):
                if predicate(delivery):
                    return delivery
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)

    def wait_body(self, predicate: Callable[[Any], bool], timeout: float) -> Any:
        """The first JSON body matching ``predicate``; AssertionError after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            for body in self.bodies():
                if predicate(body):
                    return body
            if time.monotonic() >= end:
                raise AssertionError(f"no matching webhook body in {timeout} s: {self.bodies()}")
            time.sleep(0.02)


def alertnames(body: Any, status: str) -> set[str]:
    """The names of the alerts with that status in a webhook body (the default payload)."""
    if not isinstance(body, dict):
        return set()
    return {
        str(a.get("alertname"))
        for a in body.get("alerts", [])
        if isinstance(a, dict) and a.get("status") == status
    }
