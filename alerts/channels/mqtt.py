"""MQTT channel (aiomqtt 2.x): alerts, retained target states and the monitor's status.

One long-lived connection per channel, kept by an explicit reconnect loop
with backoff. On it:

* each alert of a notification is published as JSON (:mod:`alerts.payload`
  plus ``version``, ``instance``, ``reason``, ``dedup_key``, ``title``,
  ``text``) to ``topic`` (default ``continuity/alerts/{severity}/{target}``)
  with QoS 1 by default, and ``send`` returns once the broker acknowledged;
* each target's current state is kept retained on ``state_topic`` (default
  ``continuity/state/{target}``) so a dashboard or site gateway that
  subscribes late sees it; the latest state wins and all are re-published
  after a reconnect (the broker may have restarted without persistence);
* ``status_topic`` (default ``continuity/monitor/{instance}``) holds a
  retained ``online`` while connected and ``offline`` as the last will, so
  subscribers learn when the monitor itself is gone;
* ``command_topic`` (off unless set, e.g. ``continuity/commands/{instance}/ack``)
  takes acknowledgements, which stop an alert's repeats and escalation. Each
  must be signed with the channel's ``command_secret`` (see :mod:`alerts.ack`):
  the broker's ACL alone let any client that can publish (a site gateway)
  silence a page. Refused ones are counted and logged (at most once a minute).

Topic placeholders are checked at load; values are made safe for one topic
level (``/``, ``+`` and ``#`` become ``_``). aiomqtt warns when more than
``pending_calls_threshold`` publishes are in flight; state bursts legitimately
have up to :data:`STATE_WINDOW` in flight, so the threshold is raised above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import string
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

import aiomqtt
from pydantic import AfterValidator, model_validator

from alerts.ack import AckVerifier
from alerts.channels.base import (
    ChannelContext,
    ChannelKind,
    ChannelSettings,
    PermanentError,
    TransientError,
    checked_url,
    readable_file,
)
from alerts.model import Alert, Notification, TargetStatus
from alerts.payload import VERSION, alert_document
from alerts.templates import Renderer, RenderError
from monitor.config_types import Duration, SecretStr

log = logging.getLogger(__name__)

STATE_WINDOW = 100  # retained state publishes in flight at once after a reconnect
PENDING_CALLS_THRESHOLD = STATE_WINDOW + 50

ALERT_FIELDS = ("severity", "target", "alertname", "status", "instance", "fingerprint")
STATE_FIELDS = ("target", "instance")
STATUS_FIELDS = ("instance",)
_UNSAFE = str.maketrans({"/": "_", "+": "_", "#": "_", "\0": "_"})


def _mqtt_url(value: str) -> str:
    return checked_url(value, ("mqtt", "mqtts"))


def _topic_checker(allowed: tuple[str, ...]) -> Callable[[str | None], str | None]:
    """A validator: the topic template uses only ``allowed`` placeholders, no wildcards."""

    def check(value: str | None) -> str | None:
        if value is None:
            return None
        if not value:
            raise ValueError("must not be empty (leave the key out to use the default)")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"bad topic template: {exc}") from None
        for name in fields:
            if name not in allowed:
                known = ", ".join("{" + a + "}" for a in allowed)
                raise ValueError(f"unknown placeholder {{{name}}} (available: {known})")
        if "+" in value or "#" in value:
            raise ValueError("a topic to publish to cannot contain the wildcards + or #")
        return value

    return check


class MqttSettings(ChannelSettings):
    """``[channels.NAME]`` with ``type = "mqtt"``."""

    type: Literal["mqtt"]
    url: Annotated[str, AfterValidator(_mqtt_url)]
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    qos: Literal[0, 1, 2] = 1
    topic: Annotated[str, AfterValidator(_topic_checker(ALERT_FIELDS))] = (
        "continuity/alerts/{severity}/{target}"
    )
    state_topic: Annotated[str | None, AfterValidator(_topic_checker(STATE_FIELDS))] = (
        "continuity/state/{target}"
    )
    status_topic: Annotated[str | None, AfterValidator(_topic_checker(STATUS_FIELDS))] = (
        "continuity/monitor/{instance}"
    )
    command_topic: Annotated[str | None, AfterValidator(_topic_checker(STATUS_FIELDS))] = None
    command_secret: SecretStr | None = None
    publish_states: bool = True
    ca_file: Annotated[str | None, AfterValidator(readable_file)] = None
    cert_file: Annotated[str | None, AfterValidator(readable_file)] = None
    key_file: Annotated[str | None, AfterValidator(readable_file)] = None
    keepalive: Duration = 60.0
    reconnect_initial: Duration = 1.0
    reconnect_max: Duration = 60.0

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        tls = urllib.parse.urlsplit(self.url).scheme == "mqtts"
        if not tls and any((self.ca_file, self.cert_file, self.key_file)):
            raise ValueError("ca_file, cert_file and key_file need an mqtts:// URL")
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        if self.command_topic is not None and self.command_secret is None:
            raise ValueError(
                "command_topic needs command_secret (acknowledgements must be signed; "
                "use 'env:NAME' or 'file:/path')"
            )
        if self.command_secret is not None and len(self.command_secret.reveal()) < 16:
            raise ValueError("command_secret must be at least 16 characters long")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urllib.parse.urlsplit(self.url)
        default = 8883 if parts.scheme == "mqtts" else 1883
        return parts.hostname or "", parts.port or default

    @property
    def tls(self) -> bool:
        return urllib.parse.urlsplit(self.url).scheme == "mqtts"


def topic_for(template: str, values: Mapping[str, str]) -> str:
    """Fill a checked topic template; each value is made safe for one topic level."""
    return template.format_map({k: str(v).translate(_UNSAFE) for k, v in values.items()})


ClientFactory = Callable[..., aiomqtt.Client]


class MqttChannel:
    """A broker connection that publishes alerts, target states and its own status."""

    def __init__(
        self,
        settings: MqttSettings,
        context: ChannelContext,
        connect: ClientFactory = aiomqtt.Client,
        rng: random.Random | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.context = context
        secret = settings.command_secret
        self._acks = AckVerifier(secret.reveal(), wall) if secret is not None else None
        self._refused_acks = 0  # since the last log line about them
        self._refused_logged_at: float | None = None
        self._wall = wall
        self.renderer = Renderer(context.language, context.timezone, context.instance)
        self._connect = connect
        self._rng = rng or random.Random()
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._states: dict[str, str] = {}
        self._dirty: dict[str, None] = {}  # ordered set of targets whose state is unpublished
        self._dirty_event = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        host, port = settings.host_port
        self.where = f"{'mqtts' if settings.tls else 'mqtt'}://{host}:{port}"

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> MqttChannel:
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-{self.context.name}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        client = self._client
        status = self._status_topic()
        if client is not None and status is not None:
            # A clean exit sends no last will: say it ourselves.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.publish(status, b"offline", qos=1, retain=True, timeout=2.0)
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._runner

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def _status_topic(self) -> str | None:
        template = self.settings.status_topic
        if template is None:
            return None
        return topic_for(template, {"instance": self.context.instance})

    def _command_topic(self) -> str | None:
        template = self.settings.command_topic
        if template is None or self.context.acknowledge is None:
            return None
        return topic_for(template, {"instance": self.context.instance})

    def _command(self, message: aiomqtt.Message) -> None:
        """A signed acknowledgement from the command topic; anything else is refused."""
        acknowledge = self.context.acknowledge
        if acknowledge is None or self._acks is None or str(message.topic) != self._command_topic():
            return
        raw = (
            message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
        )
        verdict = self._acks.verify(raw[:4096])
        if isinstance(verdict, str):
            self._refuse(verdict)
            return
        acknowledge(verdict.fingerprint, "mqtt", f"{verdict.by!r} (unauthenticated claim)")

    def _refuse(self, why: str) -> None:
        """Count a refused acknowledgement; log at most one line a minute about them."""
        self._refused_acks += 1
        if self.context.refused_ack is not None:
            self.context.refused_ack("mqtt")
        now = self._wall()
        if self._refused_logged_at is None or now - self._refused_logged_at >= 60.0:
            log.warning(
                "channel %s: refused %d acknowledgement(s) over MQTT, the last: %s",
                self.context.name,
                self._refused_acks,
                why,
            )
            self._refused_logged_at = now
            self._refused_acks = 0

    def _client_kwargs(self) -> dict[str, Any]:
        s = self.settings
        host, port = s.host_port
        status = self._status_topic()
        kwargs: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "username": s.username,
            "password": s.password.reveal() if s.password is not None else None,
            "identifier": s.client_id or f"continuity-monitor-{self.context.instance}",
            "keepalive": max(1, round(s.keepalive)),
            "timeout": s.timeout,
            "will": aiomqtt.Will(status, b"offline", qos=1, retain=True) if status else None,
        }
        if s.tls:
            context = ssl.create_default_context(cafile=s.ca_file)
            if s.cert_file is not None:
                context.load_cert_chain(s.cert_file, s.key_file)
            kwargs["tls_context"] = context
        return kwargs

    async def _run(self) -> None:
        """The reconnect loop: connect, announce, hold until lost, back off, again."""
        delay = self.settings.reconnect_initial
        while True:
            try:
                await self._session()
                delay = self.settings.reconnect_initial
            except aiomqtt.MqttError as exc:
                log.warning("channel %s: MQTT %s: %s", self.context.name, self.where, exc)
            except TimeoutError:
                log.warning("channel %s: MQTT %s: connect timed out", self.context.name, self.where)
            # Jitter keeps a fleet of monitors from reconnecting in lockstep.
            await asyncio.sleep(delay * self._rng.uniform(0.5, 1.0))
            delay = min(self.settings.reconnect_max, delay * 2)

    async def _session(self) -> None:
        client = self._connect(**self._client_kwargs())
        client.pending_calls_threshold = PENDING_CALLS_THRESHOLD
        paho = getattr(client, "_client", None)
        if paho is not None:  # paho's TCP connect (in a thread) must not outlast our timeout
            paho.connect_timeout = self.settings.timeout
        try:
            async with asyncio.timeout(self.settings.timeout):
                await client.__aenter__()
        except BaseException:
            _drop_socket(client)
            raise
        try:
            status = self._status_topic()
            if status is not None:
                await client.publish(status, b"online", qos=1, retain=True)
            log.info("channel %s: connected to MQTT %s", self.context.name, self.where)
            self._dirty.update(dict.fromkeys(self._states))  # the broker may have lost them
            self._dirty_event.set()
            self._client = client
            self._connected.set()
            commands = self._command_topic()
            if commands is not None:
                await client.subscribe(commands, qos=1)
            states = asyncio.create_task(self._publish_states(client))
            try:
                async for message in client.messages:  # ends with MqttError when the link drops
                    self._command(message)
            finally:
                states.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await states
        finally:
            self._connected.clear()
            self._client = None
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await client.__aexit__(None, None, None)

    # -- alerts ----------------------------------------------------------------

    def message(self, notification: Notification, alert: Alert) -> tuple[str, bytes]:
        """Topic and JSON payload for one alert of a notification."""
        key = notification.key
        if len(notification.alerts) > 1:
            key = f"{key}#{alert.fingerprint}"
        single = Notification(
            key, notification.channel, (alert,), notification.reason, notification.created_at
        )
        document = {
            "version": VERSION,
            "instance": self.context.instance,
            "reason": notification.reason,
            "dedup_key": key,
            "title": self.renderer.title(single),
            "text": self.renderer.text(single),
            **alert_document(alert),
        }
        values = {
            "severity": alert.severity,
            "target": alert.target or "-",
            "alertname": alert.name,
            "status": alert.status,
            "instance": self.context.instance,
            "fingerprint": alert.fingerprint,
        }
        topic = topic_for(self.settings.topic, values)
        return topic, json.dumps(document, ensure_ascii=False).encode()

    async def _wait_connected(self, deadline: float) -> aiomqtt.Client:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                await self._connected.wait()
        except TimeoutError:
            pass
        client = self._client
        if client is None or loop.time() >= deadline:
            raise TransientError(f"not connected to MQTT broker {self.where}")
        return client

    async def send(self, notification: Notification) -> None:
        deadline = asyncio.get_running_loop().time() + self.settings.timeout
        client = await self._wait_connected(deadline)
        for alert in notification.alerts:
            try:
                topic, payload = self.message(notification, alert)
            except RenderError as exc:
                raise PermanentError(str(exc)) from None
            remaining = max(0.001, deadline - asyncio.get_running_loop().time())
            try:
                await client.publish(topic, payload, qos=self.settings.qos, timeout=remaining)
            except aiomqtt.MqttError as exc:
                raise TransientError(f"publish to MQTT {self.where} failed: {exc}") from None
            except ValueError as exc:  # paho: bad topic or payload too large
                raise PermanentError(f"MQTT {self.where} cannot take it: {exc}") from None

    # -- target states ---------------------------------------------------------

    def publish_state(self, status: TargetStatus) -> None:
        """Record a target's state; the connection publishes it retained (latest wins)."""
        if not self.settings.publish_states or self.settings.state_topic is None:
            return
        document = status.to_dict(self.context.instance)
        self._states[status.target] = json.dumps(document, ensure_ascii=False)
        self._dirty[status.target] = None
        self._dirty_event.set()

    def forget_state(self, target: str) -> None:
        """A target left the config: clear its retained topic (an empty retained message)."""
        if self._states.pop(target, None) is not None:
            self._states[target] = ""
            self._dirty[target] = None
            self._dirty_event.set()

    async def _publish_states(self, client: aiomqtt.Client) -> None:
        template = self.settings.state_topic
        if template is None:
            return
        window = asyncio.Semaphore(STATE_WINDOW)
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            batch = list(self._dirty)
            self._dirty.clear()
            await asyncio.gather(*(self._publish_state(client, template, t, window) for t in batch))

    async def _publish_state(
        self, client: aiomqtt.Client, template: str, target: str, window: asyncio.Semaphore
    ) -> None:
        payload = self._states.get(target)
        if payload is None:
            return
        topic = topic_for(template, {"target": target, "instance": self.context.instance})
        async with window:
            try:
                await client.publish(topic, payload.encode(), qos=1, retain=True)
            except aiomqtt.MqttError:
                self._dirty[target] = None  # again after the reconnect
                return
        if payload == "":
            self._states.pop(target, None)


def _drop_socket(client: aiomqtt.Client) -> None:
    """Close the socket of a connection attempt that failed or timed out.

    aiomqtt 2.x leaves a connection that never got its CONNACK open, with its
    reader on the event loop: against a broker that accepts TCP and then says
    nothing, every reconnect would leak a socket. paho's own reset closes it
    and tells aiomqtt to drop the reader. (Private API, pinned by aiomqtt<3.)
    """
    paho = getattr(client, "_client", None)
    reset = getattr(paho, "_reset_sockets", None)
    if reset is not None:
        with contextlib.suppress(Exception):
            reset()


def open_mqtt(settings: MqttSettings, context: ChannelContext) -> MqttChannel:
    return MqttChannel(settings, context)


KIND = ChannelKind("mqtt", MqttSettings, open_mqtt, "MQTT broker (aiomqtt)")
