"""Delivery figures kept in plain counters and exported by a collector.

Like ``monitor.engine.runmetrics``: updates are dict operations (no prometheus-client
locks on the delivery path) and the cost moves to the scrape. Register a
:class:`DeliveryMetrics` in the daemon's private registry.

Per channel: ``continuity_notifications_pending``,
``continuity_notification_oldest_pending_age_seconds``,
``continuity_notifications_sent_total``, ``continuity_notifications_failed_total``
(failed attempts, by ``kind``: transient or permanent), and
``continuity_notifications_dead_total`` (given up: TTL or permanent error;
handed to the route's fallback channel if it has one), and
``continuity_notifications_store_errors_total`` (could not be written to the
outbox at all), and ``continuity_notifications_refused_total{reason}`` (alerts
refused before routing, e.g. a firing for an episode already resolved).

The outbox's writes not yet durable and failed write attempts are in
:class:`monitor.dbfile.WriteMetrics` (``writes``), shared with the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.dbfile import WriteMetrics


class DeliveryMetrics(Collector):
    """Counters the outbox updates; ``wall`` gives the time for the age gauge."""

    def __init__(self, wall: Callable[[], float], writes: WriteMetrics | None = None) -> None:
        self._wall = wall
        self.writes = writes if writes is not None else WriteMetrics()
        """The outbox's pending writes and write failures (a collector of its own)."""
        self.pending: dict[str, int] = {}
        self.oldest: dict[str, float | None] = {}
        self.sent: dict[str, int] = {}
        self.failed: dict[tuple[str, str], int] = {}
        self.dead: dict[str, int] = {}
        self.store_errors = 0
        self.refused: dict[str, int] = {"closed_episode": 0}
        self.acks: dict[tuple[str, str], int] = {}  # (via, result) -> count

    def declare(self, channel: str) -> None:
        """Make a channel's series exist (at 0) before anything happens on it."""
        self.pending.setdefault(channel, 0)
        self.oldest.setdefault(channel, None)
        self.sent.setdefault(channel, 0)
        self.dead.setdefault(channel, 0)
        for kind in ("transient", "permanent"):
            self.failed.setdefault((channel, kind), 0)

    def set_pending(self, channel: str, count: int, oldest: float | None) -> None:
        self.pending[channel] = count
        self.oldest[channel] = oldest

    def count_sent(self, channel: str) -> None:
        self.sent[channel] = self.sent.get(channel, 0) + 1

    def count_ack(self, via: str, result: str) -> None:
        """An acknowledgement by ``via`` (api, mqtt): acknowledged, not_firing or refused."""
        self.acks[(via, result)] = self.acks.get((via, result), 0) + 1

    def count_refused_ack(self, via: str) -> None:
        self.count_ack(via, "refused")

    def count_failed(self, channel: str, kind: str) -> None:
        key = (channel, kind)
        self.failed[key] = self.failed.get(key, 0) + 1

    def count_dead(self, channel: str) -> None:
        self.dead[channel] = self.dead.get(channel, 0) + 1

    def count_refused(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1

    def count_store_error(self, notifications: int) -> None:
        self.store_errors += notifications

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "continuity_notifications_pending",
            "Notifications in the outbox not yet delivered.",
            labels=["channel"],
        )
        for channel, count in sorted(self.pending.items()):
            pending.add_metric([channel], count)
        yield pending
        age = GaugeMetricFamily(
            "continuity_notification_oldest_pending_age_seconds",
            "Age of the oldest undelivered notification (0 when none is pending).",
            labels=["channel"],
        )
        now = self._wall()
        for channel, oldest in sorted(self.oldest.items()):
            age.add_metric([channel], 0.0 if oldest is None else max(0.0, now - oldest))
        yield age
        sent = CounterMetricFamily(
            "continuity_notifications_sent", "Notifications delivered.", labels=["channel"]
        )
        for channel, count in sorted(self.sent.items()):
            sent.add_metric([channel], count)
        yield sent
        failed = CounterMetricFamily(
            "continuity_notifications_failed",
            "Failed delivery attempts, by kind of failure.",
            labels=["channel", "kind"],
        )
        for (channel, kind), count in sorted(self.failed.items()):
            failed.add_metric([channel, kind], count)
        yield failed
        dead = CounterMetricFamily(
            "continuity_notifications_dead",
            "Notifications given up on (TTL passed or permanent error).",
            labels=["channel"],
        )
        for channel, count in sorted(self.dead.items()):
            dead.add_metric([channel], count)
        yield dead
        lost = CounterMetricFamily(
            "continuity_notifications_store_errors",
            "Notifications that could not be written to the outbox (disk full, broken database).",
        )
        lost.add_metric([], self.store_errors)
        yield lost
        refused = CounterMetricFamily(
            "continuity_notifications_refused",
            "Alerts refused before routing (closed_episode: a firing for an episode "
            "already resolved, which the outbox would have dropped as a duplicate).",
            labels=["reason"],
        )
        for reason, count in sorted(self.refused.items()):
            refused.add_metric([reason], count)
        yield refused
        acks = CounterMetricFamily(
            "continuity_alert_acknowledgements",
            "Acknowledgements received, by path (api, mqtt) and result "
            "(acknowledged, not_firing, refused: bad signature, stale or replayed).",
            labels=["via", "result"],
        )
        for (via, result), count in sorted(self.acks.items()):
            acks.add_metric([via, result], count)
        yield acks
