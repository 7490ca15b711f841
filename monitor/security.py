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
- With ``tls_cert_file``/``tls_key_file`` every endpoint is served over TLS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import bcrypt
from aiohttp import web
from pydantic import Field, field_validator, model_validator

from probes.base import SecretStr, StrictModel

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/-/healthy", "/-/ready"})
BASIC_AUTH_CACHE_SECONDS = 300.0
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


class AccessControl:
    """Decides each request; holds the settings of the current config."""

    def __init__(self, section: WebSection, clock: Callable[[], float] = time.monotonic) -> None:
        self.section = section
        self._clock = clock
        self._verified: dict[tuple[str, str], float] = {}  # (user, sha256 of password) -> until
        # Checked against when the user is unknown, so timing does not reveal which users exist.
        self._decoy = bcrypt.hashpw(b"decoy", bcrypt.gensalt(10))

    def update(self, section: WebSection) -> None:
        """A reload changed ``[web]``: forget remembered passwords."""
        self.section = section
        self._verified.clear()

    def refusal(self, request: web.Request) -> web.Response | None:
        """None if the request may proceed, else the response that refuses it."""
        if request.method in MUTATING:
            return self._bearer(request)
        if request.path in OPEN_PATHS or not self.section.basic_auth_users:
            return None
        if request.path == "/metrics" and not self.section.protect_metrics:
            return None
        return self._basic(request)

    def _bearer(self, request: web.Request) -> web.Response | None:
        token = self.section.api_token
        if token is None:
            return _json(
                403,
                "changes through the API are disabled: set [web] api_token "
                "(reload with SIGHUP meanwhile)",
            )
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            offered.strip().encode(), token.reveal().encode()
        ):
            return _json(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        return None

    def _basic(self, request: web.Request) -> web.Response | None:
        challenge = {"WWW-Authenticate": 'Basic realm="continuity-monitor"'}
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return _json(401, "authentication required", challenge)
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _json(401, "malformed basic credentials", challenge)
        if not self._check(user, password):
            return _json(401, "wrong user or password", challenge)
        return None

    def _check(self, user: str, password: str) -> bool:
        digest = hashlib.sha256(password.encode()).hexdigest()
        now = self._clock()
        if self._verified.get((user, digest), 0.0) > now:
            return True
        hashed = self.section.basic_auth_users.get(user)
        reference = hashed.encode() if hashed else self._decoy
        ok = bcrypt.checkpw(password.encode(), reference) and hashed is not None
        if ok:
            self._verified[(user, digest)] = now + BASIC_AUTH_CACHE_SECONDS
        return ok

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refused = self.refusal(request)
        if refused is not None:
            return refused
        return await handler(request)


def _json(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message}) + "\n",
        content_type="application/json",
        headers=headers,
    )
