"""Delivery: the one entry point from alert rules to channels.

``async with Delivery(...) as delivery:`` opens every configured channel
(each an async context manager with its own connection), the outbox with
one worker per channel, and a timer for routing's delayed work (group_wait,
repeats, escalations). The rule side then calls :meth:`Delivery.submit` with
each firing or resolved :class:`~alerts.model.Alert`: routing runs, and the
resulting notifications are handed to the outbox, whose writer thread
stores them; the workers send only what is stored. Nothing is sent or
written on the caller's path.

Target states for MQTT retained topics go through :meth:`publish_state`;
acknowledgements (which stop escalation) through :meth:`acknowledge`.

Restarts and reloads: routing state (groups, repeat and escalation timers)
lives in memory; the outbox is durable and remembers every dedup key for
``[alerts] retention``. Closing a Delivery stores what still waits in
group_wait. After a restart, or when a reload replaces the Delivery, submit
the alerts still firing again (with their original ``starts_at``, e.g. from
``old.active()`` or the outage history): routing rebuilds its state, and the
outbox drops the notifications it already holds, so nobody is paged twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from functools import partial
from pathlib import Path

from alerts.channels import KINDS
from alerts.channels.base import (
    Channel,
    ChannelContext,
    ChannelKind,
    ChannelSettings,
    Observer,
    StateSink,
)
from alerts.config import AlertsSection
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, Notification, TargetStatus
from alerts.outbox import DeliveryPolicy, Outbox
from alerts.route import Router, compile_routes
from monitor.clock import Clock, LoopClock, sleep_wall

log = logging.getLogger(__name__)


CLOSED_EPISODES_KEPT = 100_000
"""Resolved episodes remembered to refuse a late firing of one (oldest forgotten first)."""


class DeliverySetupError(Exception):
    """A channel cannot be opened at all (say, an unreadable CA file); for the operator."""


class Delivery:
    """Routing, the durable outbox and the live channels, owned together."""

    def __init__(
        self,
        *,
        channels: Mapping[str, ChannelSettings],
        alerts: AlertsSection,
        database: str | Path,
        instance: str = "continuity-monitor",
        language: str = "en",
        timezone: str = "UTC",
        clock: Clock | None = None,
        metrics: DeliveryMetrics | None = None,
        kinds: Mapping[str, ChannelKind] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = dict(channels)
        self.alerts = alerts
        self.database = Path(database)
        self.instance = instance
        self.language = language
        self.timezone = timezone
        self.clock = clock or LoopClock()
        self.metrics = metrics or DeliveryMetrics(self.clock.wall)
        self.kinds = kinds if kinds is not None else KINDS
        self.rng = rng or random.Random()
        self.router = Router(compile_routes(alerts.routes))
        self.channels: dict[str, Channel] = {}
        self._stack = contextlib.AsyncExitStack()
        self._outbox: Outbox | None = None
        self._timer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed: dict[str, None] = {}  # resolved episodes, oldest first

    # -- lifecycle -------------------------------------------------------------

    async def __aenter__(self) -> Delivery:
        try:
            for name, settings in self.settings.items():
                self.channels[name] = await self._open_channel(name, settings)
            policies = {n: DeliveryPolicy.of(s) for n, s in self.settings.items()}
            self._outbox = await self._stack.enter_async_context(
                Outbox(
                    self.database,
                    self.channels,
                    policies,
                    clock=self.clock,
                    metrics=self.metrics,
                    rng=self.rng,
                    retention=self.alerts.retention,
                )
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self._timer = asyncio.create_task(self._run_timer(), name="alerts-timer")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if self._outbox is not None:
            # Alerts still in group_wait exist only in memory: store them now,
            # the next start (or the new Delivery after a reload) sends them.
            self._store(self.router.flush_pending(self.clock.wall()))
        await self._stack.aclose()

    async def _open_channel(self, name: str, settings: ChannelSettings) -> Channel:
        kind = self.kinds[str(getattr(settings, "type", ""))]
        context = ChannelContext(
            name,
            self.instance,
            self.language,
            self.timezone,
            acknowledge=self.acknowledge,
            refused_ack=self.metrics.count_refused_ack,
        )
        try:
            channel = await self._stack.enter_async_context(kind.open(settings, context))
        except (OSError, ValueError) as exc:
            raise DeliverySetupError(f"channel {name}: cannot open: {exc}") from None
        return channel

    @property
    def outbox(self) -> Outbox:
        assert self._outbox is not None, "open Delivery with 'async with' first"
        return self._outbox

    # -- what the rule side calls ----------------------------------------------

    def submit(self, alert: Alert) -> list[Notification]:
        """Route a firing or resolved alert and store what is due; never sends.

        Returns the notifications produced now (more may follow from the
        timer: group_wait, repeats, escalation).
        """
        if self._closed_episode(alert):
            return []
        if not self.router.routes_for(alert):
            log.warning(
                "alert %s %s matches no route in [[alerts.routes]]; nobody is told",
                alert.name,
                dict(alert.labels),
            )
            return []
        notifications = self.router.receive(alert, self.clock.wall())
        self._store(notifications)
        self._wake.set()  # the routing deadline may have moved
        return notifications

    def _closed_episode(self, alert: Alert) -> bool:
        """Refuse, loudly, a firing alert for an episode whose resolve was already sent.

        Its notifications would carry the dedup keys of that episode, which the
        outbox drops without a word: the page would be lost. The rule side gives
        every new episode a new identity, so this only catches a bug, and says so.
        """
        episode = alert.key.rpartition(":")[0]
        if alert.ends_at is not None:
            self._closed[episode] = None
            while len(self._closed) > CLOSED_EPISODES_KEPT:
                del self._closed[next(iter(self._closed))]
            return False
        if episode not in self._closed:
            return False
        self.metrics.count_refused("closed_episode")
        log.error(
            "refusing alert %s %s: its episode (%s) was already resolved; a new episode "
            "needs a new start time, or this page would be dropped as a duplicate",
            alert.name,
            dict(alert.labels),
            episode,
        )
        return True

    def acknowledge(self, fingerprint: str, via: str = "api", who: str = "bearer token") -> bool:
        """Stop escalation of a firing alert; False if no such alert is firing.

        Every acknowledgement is logged and counted with how it came and who
        sent it: it silences a page, so the audit trail matters.
        """
        found = self.router.acknowledge(fingerprint)
        self._wake.set()
        self.metrics.count_ack(via, "acknowledged" if found else "not_firing")
        log.info(
            "acknowledgement of %s via %s by %s: %s",
            fingerprint,
            via,
            who,
            "repeats and escalation stopped" if found else "no such firing alert",
        )
        return found

    def publish_state(self, status: TargetStatus) -> None:
        """A target's current state, for channels that publish it (MQTT retained)."""
        for channel in self.channels.values():
            if isinstance(channel, StateSink):
                channel.publish_state(status)

    def forget_state(self, target: str) -> None:
        """A target left the config: clear its published state."""
        for channel in self.channels.values():
            if isinstance(channel, StateSink):
                channel.forget_state(target)

    def active(self) -> list[Alert]:
        """Firing alerts known to routing."""
        return self.router.active()

    # -- internals ---------------------------------------------------------------

    def _store(self, notifications: list[Notification]) -> None:
        if not notifications:
            return
        for n in notifications:
            channel = self.channels.get(n.channel)
            if isinstance(channel, Observer):
                channel.observe(n)
        stored = self.outbox.enqueue(notifications)
        stored.add_done_callback(partial(self._stored, len(notifications)))

    def _stored(self, count: int, future: asyncio.Future[list[Notification]]) -> None:
        """A batch left the outbox's writer: stored, or refused for a reason retrying cannot fix.

        A disk that is full or read-only does not end up here: the outbox keeps
        the batch in memory and retries until it is written.
        """
        if future.cancelled():
            self.metrics.count_store_error(count)  # still queued at shutdown (logged there)
            return
        exc = future.exception()
        if exc is not None:
            self.metrics.count_store_error(count)
            log.error(
                "could not store %d notification(s) in the outbox %s: %s",
                count,
                self.database,
                exc,
            )

    async def _run_timer(self) -> None:
        """Run routing's delayed work when it falls due."""
        while True:
            self._wake.clear()
            deadline = self.router.next_deadline()
            if deadline is None:
                await self._wake.wait()
                continue
            if deadline > self.clock.wall():
                await self._sleep_or_wake(deadline)
                continue
            self._store(self.router.tick(self.clock.wall()))

    async def _sleep_or_wake(self, deadline: float) -> None:
        sleeper = asyncio.ensure_future(sleep_wall(self.clock, deadline))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(sleeper, waker, return_exceptions=True)
