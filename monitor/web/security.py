"""Who may use the daemon's HTTP endpoints: ``[web]`` settings and an aiohttp middleware.

The monitor on a NOC network is itself a target: nobody may reload it,
silence its alerts or open maintenance without a credential.

- Every **mutating** request (POST, PUT, PATCH, DELETE: reload, silences,
  maintenance, acknowledgements) needs ``Authorization: Bearer <api_token>``,
  whatever the bind address. Without ``[web] api_token`` those endpoints are
  refused (403) and reloads go through SIGHUP only.
- **Read** endpoints need HTTP basic auth when ``basic_auth_users`` is set
  (bcrypt hashes, as Prometheus exporters' web config has them); ``/metrics``
  too when ``protect_metrics = true``. ``/-/healthy`` and ``/-/ready`` stay
  open for load balancers and supervisors (they reveal nothing).
- Secrets are compared in constant time; a verified basic-auth password is
  remembered (as a SHA-256 digest) for a few minutes so that a scrape every
  15 s does not pay for a bcrypt check each time.
- Nothing a stranger sends runs on the event loop for long: bcrypt checks run
  in a small thread pool behind a bounded queue (:class:`PasswordChecker`;
  503 when full), a client (address) that failed too often within a minute
  gets 429 (:class:`FailureLimiter`), an unknown user costs a check against a
  decoy of the configured cost, and malformed, non-ASCII or over-long
  credentials are a plain 401.
- With ``tls_cert_file``/``tls_key_file`` every endpoint is served over TLS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import math
import os
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bcrypt
from aiohttp import web
from pydantic import Field, field_validator, model_validator

from monitor.config_types import SecretStr, StrictModel
from monitor.web.guard import WebStats

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
BASIC_AUTH_CACHE_SECONDS = 300.0
LOGIN_MAX_FAILURES = 10  # failed logins per client within the window before 429
LOGIN_FAILURE_WINDOW = 60.0  # seconds
PASSWORD_WORKERS = 2  # threads checking bcrypt hashes (the loop never does)
PASSWORD_QUEUE = 16  # checks waiting or running at most; more are refused (503)
BCRYPT_MAX_PASSWORD = 72  # bytes
MAX_USER = 256  # characters
_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebSection(StrictModel):
    """``[web]``: TLS and access control of the HTTP endpoints."""

    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    api_token: SecretStr | None = None
    protect_metrics: bool = False

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for user, hashed in value.items():
            if not _BCRYPT.match(hashed):
                raise ValueError(
                    f"user {user!r}: expected a bcrypt hash such as '$2b$10$...' "
                    "(make one with `htpasswd -nbB user password`)"
                )
        return value

    @field_validator("api_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.reveal()) < 16:
            raise ValueError("must be at least 16 characters long")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> WebSection:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("give both tls_cert_file and tls_key_file, or neither")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not Path(path).is_file():
                raise ValueError(f"cannot read {path}")
        return self


def tls_context(section: WebSection) -> ssl.SSLContext | None:
    """A server TLS context, or None when TLS is not configured."""
    if section.tls_cert_file is None or section.tls_key_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(section.tls_cert_file, section.tls_key_file)
    return context


class FailureLimiter:
    """Counts failed logins per client; too many in a window and the client waits.

    Only the failing client is held back (by its address): other clients'
    logins go on. Bounded: at most ``max_clients`` addresses are remembered
    (the oldest forgotten first), so a flood of source addresses costs memory
    in proportion to that cap only. Pure; time passed in.
    """

    def __init__(
        self,
        max_failures: int = LOGIN_MAX_FAILURES,
        window: float = LOGIN_FAILURE_WINDOW,
        max_clients: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, client: str, now: float) -> float:
        """Seconds the client must wait before trying again (0: may try now)."""
        times = self._failures.get(client)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return 0.0
        if len(times) < self.max_failures:
            return 0.0
        return times[0] + self.window - now

    def failed(self, client: str, now: float) -> None:
        times = self._failures.pop(client, None) or deque(maxlen=self.max_failures)
        times.append(now)
        self._failures[client] = times  # re-inserted: dict order is least recently failed first
        while len(self._failures) > self.max_clients:
            del self._failures[next(iter(self._failures))]


class PasswordChecker:
    """bcrypt off the event loop: a small thread pool behind a bounded queue.

    A bcrypt check costs 50-300 ms of CPU; on the loop, a few wrong passwords a
    second stalled every probe. Here the loop only waits (asynchronously) for a
    worker; when ``max_pending`` checks are already queued, the next is refused
    at once rather than queued without end.
    """

    def __init__(self, workers: int = PASSWORD_WORKERS, max_pending: int = PASSWORD_QUEUE) -> None:
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="bcrypt", initializer=_lowest_priority
        )
        self._slots = max_pending
        self._decoys: dict[bytes, bytes] = {}  # cost -> a hash of that cost, made once
        self._decoy_cost = b"10"

    @property
    def busy(self) -> bool:
        return self._slots <= 0

    async def check(self, password: bytes, hashed: bytes | None) -> bool:
        """Whether ``password`` matches ``hashed``; against a decoy of the same cost if None."""
        self._slots -= 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._verify, password, hashed)
        finally:
            self._slots += 1

    def decoy_cost(self, cost: bytes) -> None:
        """Remember the cost the decoy must have (that of the configured hashes)."""
        self._decoy_cost = cost
        if cost not in self._decoys:
            self._pool.submit(self._decoy, cost)  # made ahead, in a worker

    def _decoy(self, cost: bytes) -> bytes:
        decoy = self._decoys.get(cost)
        if decoy is None:
            decoy = self._decoys[cost] = bcrypt.hashpw(b"decoy", bcrypt.gensalt(int(cost)))
        return decoy

    def _verify(self, password: bytes, hashed: bytes | None) -> bool:
        if hashed is not None:
            return bcrypt.checkpw(password, hashed)
        # An unknown user costs exactly what a known one does, so timing does not
        # reveal which users exist: a decoy hash of the configured cost.
        bcrypt.checkpw(password, self._decoy(self._decoy_cost))
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lowest_priority() -> None:
    """A bcrypt worker yields the CPU to the event loop: on a small machine two busy
    workers starved the loop's thread (probes ran late) although the GIL was free."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: per thread


class AccessControl:
    """Decides each request; holds the settings of the current config."""

    def __init__(
        self,
        section: WebSection,
        clock: Callable[[], float] = time.monotonic,
        *,
        limiter: FailureLimiter | None = None,
        checker: PasswordChecker | None = None,
        stats: WebStats | None = None,
    ) -> None:
        self._clock = clock
        self._verified: dict[tuple[str, str], float] = {}  # (user, sha256 of password) -> until
        self.limiter = limiter or FailureLimiter()
        self.checker = checker or PasswordChecker()
        self.stats = stats or WebStats()
        self.update(section)

    def update(self, section: WebSection) -> None:
        """A reload changed ``[web]``: forget remembered passwords."""
        self.section = section
        self._verified.clear()
        costs = [h.split("$")[2] for h in section.basic_auth_users.values()]
        self.checker.decoy_cost(max(costs, default="10").encode())

    def close(self) -> None:
        self.checker.close()

    async def refusal(self, request: web.Request) -> web.Response | None:
        """None if the request may proceed, else the response that refuses it."""
        if request.method in MUTATING:
            return self._limited(request, self._bearer(request))
        if request.path in OPEN_PATHS or not self.section.basic_auth_users:
            return None
        if request.path == "/metrics" and not self.section.protect_metrics:
            return None
        client = request.remote or "unknown"
        wait = self.limiter.retry_after(client, self._clock())
        if wait > 0:
            self.stats.login("limited")
            return _too_many(wait)
        return self._limited(request, await self._basic(request))

    def _limited(self, request: web.Request, refused: web.Response | None) -> web.Response | None:
        """Count a failed login against its client; 429 once it has failed too often."""
        if refused is not None and refused.status == 503:
            self.stats.login("busy")
        if refused is None or refused.status != 401:
            return refused
        client, now = request.remote or "unknown", self._clock()
        wait = self.limiter.retry_after(client, now)
        if wait > 0:
            self.stats.login("limited")
            return _too_many(wait)
        self.stats.login("wrong")
        self.limiter.failed(client, now)
        return refused

    def _bearer(self, request: web.Request) -> web.Response | None:
        token = self.section.api_token
        if token is None:
            return _json(
                403,
                "changes through the API are disabled: set [web] api_token "
                "(reload with SIGHUP meanwhile)",
            )
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        offered = offered.strip()
        # Header values arrive as text; anything not ASCII cannot be the token
        # (and would not encode for the comparison).
        if (
            scheme.lower() != "bearer"
            or not offered.isascii()
            or not hmac.compare_digest(offered.encode(), token.reveal().encode())
        ):
            return _json(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        return None

    async def _basic(self, request: web.Request) -> web.Response | None:
        challenge = {"WWW-Authenticate": 'Basic realm="continuity-monitor"'}
        credentials = _basic_credentials(request.headers.get("Authorization", ""))
        if isinstance(credentials, str):
            return _json(401, credentials, challenge)
        user, password = credentials
        digest = hashlib.sha256(password).hexdigest()
        if self._verified.get((user, digest), 0.0) > self._clock():
            return None  # checked a moment ago: no bcrypt for every scrape
        if self.checker.busy:
            return _json(503, "too many logins being checked; try again", {"Retry-After": "1"})
        hashed = self.section.basic_auth_users.get(user)
        ok = await self.checker.check(password, hashed.encode() if hashed else None)
        if not ok or hashed is None:
            return _json(401, "wrong user or password", challenge)
        self._verified[(user, digest)] = self._clock() + BASIC_AUTH_CACHE_SECONDS
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = await self.refusal(request)
        if refused is not None:
            return refused
        return await handler(request)


def _basic_credentials(header: str) -> tuple[str, bytes] | str:
    """(user, password) from an ``Authorization: Basic`` value, or why it is refused.

    Whatever arrives (non-ASCII, bad base64, bad UTF-8, a password longer than
    bcrypt reads) is a refusal, never an exception.
    """
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return "authentication required"
    try:
        raw = base64.b64decode(encoded.strip().encode("ascii"), validate=True)
        user, _, password = raw.decode("utf-8").partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return "malformed basic credentials"
    secret = password.encode()
    if len(secret) > BCRYPT_MAX_PASSWORD or len(user) > MAX_USER:
        # bcrypt reads 72 bytes at most (newer versions refuse longer ones):
        # such a password matches no configured hash.
        return "wrong user or password"
    return user, secret


def _too_many(wait: float) -> web.Response:
    return _json(
        429,
        "too many failed logins from this address; try again later",
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}) + "\n",
        content_type="application/json",
        headers=headers,
    )
