"""Alertmanager channel: the API v2 ``POST /api/v2/alerts``, as Prometheus sends it.

Each notification is posted to every configured Alertmanager (an HA cluster
dedups by labels); it is delivered when at least one accepts it. Firing
alerts carry ``endsAt`` a few resend intervals ahead, and are re-sent every
``resend_interval`` while active, as Prometheus does, so Alertmanager keeps
them open while the monitor lives and lets them expire if it dies. A
resolved alert is sent with its real ``endsAt`` and, again as Prometheus
does, re-sent with the active ones for ``resolved_resend_for`` (15 min): a
cluster member that missed the resolve (restarting, or a POST that failed
while another member accepted) would otherwise keep the alert firing until
its ``endsAt`` and could notify a stale "firing" after the group resolved.

Posts are serialised: a re-send round that read an alert as firing must
reach Alertmanager before the resolve that follows it, or Alertmanager would
re-open the alert (a firing update with a later ``endsAt`` wins its merge).

The set of active alerts comes from every notification routed here
(:meth:`AlertmanagerChannel.observe`), including ones the outbox already
held, so it is rebuilt when the rule side re-submits after a restart.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import Annotated, Any, Literal, Self

import aiohttp
from pydantic import AfterValidator, Field, model_validator

from alerts.channels.base import (
    ChannelContext,
    ChannelError,
    ChannelKind,
    ChannelSettings,
    HttpUrlSecret,
    PermanentError,
    TransientError,
    readable_file,
)
from alerts.channels.webhook import classify_status, tls_context, transport_error
from alerts.model import Alert, Notification
from alerts.payload import rfc3339
from monitor.clock import Clock, LoopClock
from monitor.config_types import Duration, SecretStr

log = logging.getLogger(__name__)

VALIDITY_FACTOR = 4  # firing alerts stay valid this many resend intervals (Prometheus: 4)


class AlertmanagerSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "alertmanager"``."""

    type: Literal["alertmanager"]
    urls: Annotated[list[HttpUrlSecret], Field(min_length=1)]
    resend_interval: Duration = 60.0
    resolved_resend_for: Duration = 900.0
    bearer_token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Annotated[str | None, AfterValidator(readable_file)] = None

    @model_validator(mode="after")
    def _one_auth(self) -> AlertmanagerSettings:
        if self.bearer_token is not None and self.username is not None:
            raise ValueError("set either bearer_token or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


def am_alert(alert: Alert, *, now: float, valid_for: float) -> dict[str, Any]:
    """One alert in the API v2 shape (``postableAlert``)."""
    annotations = dict(alert.annotations)
    site = alert.site
    if site is not None:
        for key, value in (("site_address", site.address), ("site_contact", site.contact)):
            if value:
                annotations.setdefault(key, value)
        if site.lat is not None and site.lon is not None:
            annotations.setdefault("site_coordinates", f"{site.lat:.5f},{site.lon:.5f}")
    ends_at = alert.ends_at if alert.ends_at is not None else now + valid_for
    document: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": annotations,
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    if alert.generator_url:
        document["generatorURL"] = alert.generator_url
    return document


class AlertmanagerChannel:
    """Posts to every configured Alertmanager and keeps firing alerts fresh there."""

    def __init__(
        self, settings: AlertmanagerSettings, context: ChannelContext, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.context = context
        self.clock = clock or LoopClock()
        self._session: aiohttp.ClientSession | None = None
        self._active: dict[str, Alert] = {}
        self._resolved: dict[str, Alert] = {}  # re-sent until ends_at + resolved_resend_for
        self._posting = asyncio.Lock()
        self._resender: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=tls_context(self.settings.ca_file)),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
        )
        self._resender = asyncio.create_task(self._resend_loop(), name=f"am-{self.context.name}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def active(self) -> tuple[Alert, ...]:
        """Firing alerts being kept fresh in Alertmanager."""
        return tuple(self._active.values())

    def observe(self, notification: Notification) -> None:
        """Track firing/resolved alerts routed here (no I/O)."""
        for alert in notification.alerts:
            current = self._active.get(alert.fingerprint)
            if alert.ends_at is None:
                self._active[alert.fingerprint] = alert
                self._resolved.pop(alert.fingerprint, None)
            elif current is None or current.starts_at <= alert.starts_at:
                self._active.pop(alert.fingerprint, None)
                self._resolved[alert.fingerprint] = alert

    def due_for_resend(self, now: float) -> list[Alert]:
        """Active alerts, and resolved ones still inside ``resolved_resend_for``."""
        keep = self.settings.resolved_resend_for
        for fingerprint, alert in list(self._resolved.items()):
            if alert.ends_at is not None and alert.ends_at + keep < now:
                del self._resolved[fingerprint]
        return [*self._active.values(), *self._resolved.values()]

    async def send(self, notification: Notification) -> None:
        async with self._posting:
            self.observe(notification)
            await self._post(list(notification.alerts))

    async def _post(self, alerts: list[Alert]) -> None:
        """POST to every Alertmanager; delivered if one accepted."""
        valid_for = VALIDITY_FACTOR * self.settings.resend_interval
        now = self.clock.wall()
        body = json.dumps([am_alert(a, now=now, valid_for=valid_for) for a in alerts]).encode()
        outcomes = await asyncio.gather(
            *(self._post_one(url.reveal(), body) for url in self.settings.urls),
            return_exceptions=True,
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if len(errors) < len(outcomes):
            return
        for error in errors:
            if not isinstance(error, ChannelError):
                raise error
        message = "; ".join(str(e) for e in errors)
        if any(isinstance(e, PermanentError) for e in errors):
            raise PermanentError(message)
        raise TransientError(message)

    async def _post_one(self, base: str, body: bytes) -> None:
        assert self._session is not None, "open the channel with 'async with' first"
        url = base.rstrip("/") + "/api/v2/alerts"
        headers = {"Content-Type": "application/json"}
        if self.settings.bearer_token is not None:
            headers["Authorization"] = f"Bearer {self.settings.bearer_token.reveal()}"
        elif self.settings.username is not None and self.settings.password is not None:
            pair = f"{self.settings.username}:{self.settings.password.reveal()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(url, exc) from None
        classify_status(status, url)

    async def _resend_loop(self) -> None:
        """Re-post active alerts every resend_interval; failures wait for the next round."""
        interval = self.settings.resend_interval
        while True:
            await self.clock.sleep_until(self.clock.now() + interval)
            try:
                async with self._posting:
                    alerts = self.due_for_resend(self.clock.wall())
                    if alerts:
                        await self._post(alerts)
            except ChannelError as exc:
                log.warning("channel %s: re-sending active alerts: %s", self.context.name, exc)


def open_alertmanager(
    settings: AlertmanagerSettings, context: ChannelContext
) -> AlertmanagerChannel:
    return AlertmanagerChannel(settings, context)


KIND = ChannelKind("alertmanager", AlertmanagerSettings, open_alertmanager, "Alertmanager API v2")
