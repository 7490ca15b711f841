"""The channel contract: settings, the two errors, the live channel and its registry entry.

A channel kind is one module in ``alerts/channels/`` defining a settings
model (a :class:`ChannelSettings` with ``type: Literal["<kind>"]``) and an
opener: an async context manager, created once per configured channel, whose
``send(notification)`` makes one attempt and either returns (delivered) or
raises :class:`TransientError` (try again later) or :class:`PermanentError`
(retrying cannot help). Retry, backoff, TTL, persistence, grouping and dedup
live once in ``alerts/`` (outbox, route), never in a channel.

Error messages are shown to operators and logged: they never contain a
secret (password, token, HMAC key) nor a URL's path or query, which often
carries a token; :func:`where` gives the safe part of a URL.
"""

from __future__ import annotations

import builtins
import os
import urllib.parse
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, runtime_checkable

from pydantic import PlainValidator

from alerts.model import Notification, TargetStatus
from monitor.config_types import Duration, Secret, StrictModel, resolve_secret


class ChannelError(Exception):
    """A failed delivery attempt; the message is safe to log."""


class TransientError(ChannelError):
    """The peer is down, slow, overloaded or refused for now: retry with backoff."""


class PermanentError(ChannelError):
    """The peer rejected the notification for good (4xx, 5xx SMTP reply): do not retry."""


class ChannelSettings(StrictModel):
    """Settings every channel has; kinds subclass this with ``type`` and their own keys."""

    timeout: Duration = 10.0
    """Per attempt; the outbox also enforces it around ``send``."""
    ttl: Duration = 3600.0
    """How long the outbox keeps retrying before the route's fallback gets it."""
    backoff_initial: Duration = 1.0
    backoff_max: Duration = 300.0


class Channel(Protocol):
    """A live channel: only sends."""

    async def send(self, notification: Notification) -> None: ...


@runtime_checkable
class StateSink(Protocol):
    """A channel that also publishes targets' current state (MQTT retained topics).

    ``publish_state`` must not block or fail: it records the latest state and
    the channel publishes it when it can (latest wins).
    """

    def publish_state(self, status: TargetStatus) -> None: ...

    def forget_state(self, target: str) -> None: ...


@runtime_checkable
class Observer(Protocol):
    """A channel that wants to see every notification routed to it, including
    ones the outbox already holds (a re-submission after a restart): the
    Alertmanager channel keeps re-sending firing alerts from this."""

    def observe(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class ChannelContext:
    """What a channel is opened with besides its settings."""

    name: str
    instance: str = "continuity-monitor"
    language: str = "en"
    timezone: str = "UTC"
    acknowledge: Callable[[str, str, str], bool] | None = None
    """Acknowledge a firing alert: (fingerprint, via, who) -> whether it was firing."""
    refused_ack: Callable[[str], None] | None = None
    """Count an acknowledgement refused (bad signature, replay) arriving via a channel."""


ChannelOpener = Callable[[Any, ChannelContext], AbstractAsyncContextManager[Channel]]


@dataclass(frozen=True)
class ChannelKind:
    """A registry entry: the kind's ``type`` name, settings model and opener."""

    type: str
    settings: builtins.type[ChannelSettings]
    open: ChannelOpener
    description: str = ""


def where(url: str) -> str:
    """``scheme://host:port`` of a URL: safe to log (no credentials, path or query)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class UrlSecret(Secret):
    """A URL that may carry a token in its path or query (Slack-style webhooks):
    resolved like any secret (``env:``, ``file:`` or literal) and printed as its
    safe part only, ``https://hooks.example:443/<secret>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        safe = where(self.reveal())
        parts = urllib.parse.urlsplit(self.reveal())
        return f"{safe}/<secret>" if parts.path.strip("/") or parts.query else safe

    __str__ = __repr__


def http_url_secret(value: object) -> UrlSecret:
    """Validator of :data:`HttpUrlSecret`: resolve the reference, then check the URL."""
    secret = resolve_secret(value)
    url = http_url(secret.reveal())
    return UrlSecret(url, "url")


HttpUrlSecret = Annotated[UrlSecret, PlainValidator(http_url_secret)]
"""An http(s) URL config value that never prints its path or query."""


def readable_file(value: str | None) -> str | None:
    """A validator for certificate/key paths: the file must exist and be readable."""
    if value is not None and not os.access(value, os.R_OK):
        raise ValueError(f"cannot read file {value}")
    return value


def http_url(value: str) -> str:
    """A validator for http(s) URLs with a host. Messages never echo the URL: its
    path or query may hold a token."""
    return checked_url(value, ("http", "https"))


def checked_url(value: str, schemes: tuple[str, ...]) -> str:
    """``value`` if it is a URL with one of ``schemes``, a host and a valid port."""
    expected = " or ".join(f"{s}://" for s in schemes)
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ValueError(f"expected an {expected} URL with a valid port") from None
    if parts.scheme not in schemes:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ValueError(f"expected an {expected} URL, got {got}")
    if not parts.hostname:
        raise ValueError(f"expected an {expected} URL with a host")
    return value
