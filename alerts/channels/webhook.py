"""Webhook channel: POST a JSON notification to a URL.

The body is the documented version-1 schema (:mod:`alerts.payload`) or the
output of the channel's Jinja2 ``template`` (checked at load to render valid
JSON). With a ``secret``, the body is signed: ``X-Continuity-Signature:
sha256=<hex HMAC-SHA256 of the body>``. 2xx is delivered; 408, 429 and 5xx
are retried; any other status is permanent. Header values are secrets (they
usually carry tokens) and never appear in messages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
from types import TracebackType
from typing import Annotated, Literal, Self

import aiohttp
from pydantic import AfterValidator, Field

from alerts.channels.base import (
    ChannelContext,
    ChannelKind,
    ChannelSettings,
    HttpUrlSecret,
    PermanentError,
    TransientError,
    readable_file,
    where,
)
from alerts.model import Notification
from alerts.payload import notification_document
from alerts.templates import Renderer, RenderError, check_template
from monitor.config_types import SecretStr

RETRY_STATUSES = frozenset({408, 425, 429})


def _json_template(value: str | None) -> str | None:
    return None if value is None else check_template(value, "json")


class WebhookSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "webhook"``."""

    type: Literal["webhook"]
    url: HttpUrlSecret
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    secret: SecretStr | None = None
    signature_header: str = "X-Continuity-Signature"
    template: Annotated[str | None, AfterValidator(_json_template)] = None
    ca_file: Annotated[str | None, AfterValidator(readable_file)] = None


def classify_status(status: int, url: str) -> None:
    """Raise for a non-2xx HTTP status: transient (retry) or permanent."""
    if 200 <= status < 300:
        return
    message = f"POST {where(url)} answered HTTP {status}"
    if status >= 500 or status in RETRY_STATUSES:
        raise TransientError(message)
    raise PermanentError(message)


def transport_error(url: str, exc: BaseException) -> TransientError:
    """A connection-level failure as a safe transient error (no URL path, no headers)."""
    if isinstance(exc, TimeoutError):
        return TransientError(f"POST {where(url)} timed out")
    return TransientError(f"POST {where(url)} failed: {os_reason(exc)}")


def os_reason(exc: BaseException) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed (...)``."""
    cause = getattr(exc, "os_error", exc)
    errno = getattr(cause, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return type(exc).__name__


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


class WebhookChannel:
    """One webhook endpoint with one HTTP session (keep-alive) for its lifetime."""

    def __init__(self, settings: WebhookSettings, context: ChannelContext) -> None:
        self.settings = settings
        self.context = context
        self.renderer = Renderer(context.language, context.timezone, context.instance)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(ssl=tls_context(self.settings.ca_file))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def body(self, notification: Notification) -> bytes:
        """The request body: the template's output or the version-1 document."""
        if self.settings.template is not None:
            return self.renderer.render(self.settings.template, notification).encode()
        document = notification_document(
            notification,
            instance=self.context.instance,
            title=self.renderer.title(notification),
            text=self.renderer.text(notification),
        )
        return json.dumps(document, ensure_ascii=False).encode()

    def headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8"}
        headers.update({k: v.reveal() for k, v in self.settings.headers.items()})
        if self.settings.secret is not None:
            key = self.settings.secret.reveal().encode()
            digest = hmac.new(key, body, hashlib.sha256).hexdigest()
            headers[self.settings.signature_header] = f"sha256={digest}"
        return headers

    async def send(self, notification: Notification) -> None:
        assert self._session is not None, "open the channel with 'async with' first"
        try:
            body = self.body(notification)
        except RenderError as exc:
            raise PermanentError(str(exc)) from None
        url = self.settings.url.reveal()
        try:
            async with self._session.post(url, data=body, headers=self.headers(body)) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(url, exc) from None
        classify_status(status, url)


def open_webhook(settings: WebhookSettings, context: ChannelContext) -> WebhookChannel:
    return WebhookChannel(settings, context)


KIND = ChannelKind("webhook", WebhookSettings, open_webhook, "POST JSON to a URL")
