"""Routing: which channels hear about an alert, when, how often, and who next.

Pure: no I/O and no clock reads. Time is passed in (UNIX seconds), and the
result of every call is the list of notifications to enqueue, so the whole
behaviour (matching, grouping, group_wait, repeat, resolved, escalation and
acknowledgement) is tested as tables with a fake clock.

* Routes are tried in order; the first that matches wins, unless it has
  ``continue = true``, then later ones are tried too.
* Within a route, alerts sharing the values of ``group_by`` form a group
  (without ``group_by`` each alert is its own group). A group's first
  notification waits ``group_wait`` to collect its alerts; later changes in
  an already notified group go out at once.
* A notification carries the alerts that changed (new firing, resolved): each
  alert's firing and resolved news are sent once, with dedup keys made of
  identity + start time + status.
* Firing alerts of a group are repeated every ``repeat_interval``, except those
  acknowledged (someone is on it).
* A firing alert not acknowledged within ``escalate_after`` of its first
  notification is also sent to ``escalate_to``; they hear its resolution too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from alerts.config import RouteConfig
from alerts.model import Alert, Notification, Reason, notification_key
from monitor.regex import Regex, compile_regex


@dataclass(frozen=True)
class Route:
    """A compiled ``[[alerts.routes]]`` entry."""

    index: int
    channels: tuple[str, ...]
    match: Mapping[str, str] = field(default_factory=dict)
    match_re: Mapping[str, Regex] = field(default_factory=dict)  # RE2: linear time
    continue_: bool = False
    group_by: tuple[str, ...] | None = None
    group_wait: float = 0.0
    repeat_interval: float = 4 * 3600.0
    send_resolved: bool = True
    escalate_after: float | None = None
    escalate_to: tuple[str, ...] = ()
    fallback: str | None = None

    @classmethod
    def from_config(cls, index: int, config: RouteConfig) -> Route:
        return cls(
            index=index,
            channels=tuple(config.channels),
            match=dict(config.match),
            match_re={k: compile_regex(v) for k, v in config.match_re.items()},
            continue_=config.continue_,
            group_by=tuple(config.group_by) if config.group_by is not None else None,
            group_wait=config.group_wait,
            repeat_interval=config.repeat_interval,
            send_resolved=config.send_resolved,
            escalate_after=config.escalate_after,
            escalate_to=tuple(config.escalate_to),
            fallback=config.fallback,
        )

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.match.items()):
            return False
        return all(p.fullmatch(labels.get(k, "")) for k, p in self.match_re.items())


def compile_routes(configs: Sequence[RouteConfig]) -> tuple[Route, ...]:
    return tuple(Route.from_config(i, c) for i, c in enumerate(configs))


def select_routes(routes: Sequence[Route], labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert takes: first match, and more while ``continue`` says so."""
    chosen: list[Route] = []
    for route in routes:
        if route.matches(labels):
            chosen.append(route)
            if not route.continue_:
                break
    return chosen


@dataclass
class _Group:
    key: tuple[object, ...]
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)  # fingerprint -> latest
    pending: dict[str, None] = field(default_factory=dict)  # news not yet notified, in order
    notified: set[str] = field(default_factory=set)  # firing news already sent
    flush_at: float | None = None
    last_sent: float | None = None

    def firing_notified(self) -> list[Alert]:
        return [
            a
            for fp, a in self.alerts.items()
            if a.ends_at is None and fp in self.notified and fp not in self.pending
        ]


@dataclass
class _Escalation:
    route: Route
    due: float
    fired: bool = False


class Router:
    """Routing state for the alerts currently known; every method takes ``now``."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        self._groups: dict[tuple[object, ...], _Group] = {}
        self._escalations: dict[tuple[int, str], _Escalation] = {}
        self._acked: set[str] = set()

    # -- input -----------------------------------------------------------------

    def routes_for(self, alert: Alert) -> list[Route]:
        return select_routes(self.routes, alert.labels)

    def receive(self, alert: Alert, now: float) -> list[Notification]:
        """A firing or resolved alert; returns what is due at once."""
        out: list[Notification] = []
        for route in self.routes_for(alert):
            group = self._group(route, alert)
            news = self._update(group, alert, now)
            if news and group.flush_at is not None and group.flush_at <= now:
                out.extend(self._flush(group, now))
        return out

    def acknowledge(self, fingerprint: str) -> bool:
        """Someone is on it: no escalation for this alert (until it fires anew)."""
        firing = any(
            fingerprint in g.alerts and g.alerts[fingerprint].ends_at is None
            for g in self._groups.values()
        )
        if firing:
            self._acked.add(fingerprint)
        return firing

    def tick(self, now: float) -> list[Notification]:
        """Everything due by ``now``: delayed group flushes, repeats, escalations."""
        out: list[Notification] = []
        for group in list(self._groups.values()):
            if group.flush_at is not None and group.flush_at <= now:
                out.extend(self._flush(group, now))
            out.extend(self._repeat(group, now))
        out.extend(self._escalate(now))
        return out

    def flush_pending(self, now: float) -> list[Notification]:
        """Everything still waiting in group_wait, at once (before a shutdown or
        reload, so that nothing waits only in memory)."""
        out: list[Notification] = []
        for group in list(self._groups.values()):
            if group.flush_at is not None:
                out.extend(self._flush(group, now))
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has something to do, or None."""
        times: list[float] = []
        for group in self._groups.values():
            if group.flush_at is not None:
                times.append(group.flush_at)
            if group.last_sent is not None and self._repeatable(group):
                times.append(group.last_sent + group.route.repeat_interval)
        times.extend(
            e.due
            for (_, fp), e in self._escalations.items()
            if not e.fired and fp not in self._acked
        )
        return min(times, default=None)

    def active(self) -> list[Alert]:
        """Firing alerts currently known (each once)."""
        seen: dict[str, Alert] = {}
        for group in self._groups.values():
            for fp, alert in group.alerts.items():
                if alert.ends_at is None:
                    seen.setdefault(fp, alert)
        return list(seen.values())

    # -- internals ---------------------------------------------------------------

    def _group(self, route: Route, alert: Alert) -> _Group:
        if route.group_by is None:
            key: tuple[object, ...] = (route.index, "alert", alert.fingerprint)
            labels: dict[str, str] = {}
        else:
            labels = {name: alert.labels.get(name, "") for name in route.group_by}
            key = (route.index, "group", *labels.values())
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key, route, labels)
        return group

    def _update(self, group: _Group, alert: Alert, now: float) -> bool:
        """Record the alert in its group; True if it is news to notify."""
        fp = alert.fingerprint
        current = group.alerts.get(fp)
        if alert.ends_at is None:
            same = current is not None and current.ends_at is None
            if same and current is not None and current.starts_at == alert.starts_at:
                group.alerts[fp] = alert  # fresher annotations, same alert: no news
                return False
            self._acked.discard(fp)
        elif not group.route.send_resolved:
            self._drop(group, fp)
            return False
        group.alerts[fp] = alert
        group.pending[fp] = None
        if group.flush_at is None:
            # The first notification of a group waits to collect its alerts;
            # news in a group already notified goes out at once.
            group.flush_at = now + group.route.group_wait if group.last_sent is None else now
        return True

    def _drop(self, group: _Group, fp: str) -> None:
        """Forget a resolved alert without notifying (send_resolved = false)."""
        group.alerts.pop(fp, None)
        group.pending.pop(fp, None)
        group.notified.discard(fp)
        self._escalations.pop((group.route.index, fp), None)
        self._acked.discard(fp)
        if not group.alerts:
            self._remove(group)

    def _remove(self, group: _Group) -> None:
        self._groups.pop(group.key, None)

    def _notify(
        self,
        channels: Sequence[str],
        alerts: tuple[Alert, ...],
        reason: Reason,
        now: float,
        *,
        group: _Group,
        suffix: str = "",
    ) -> list[Notification]:
        key = notification_key(alerts, suffix)
        return [
            Notification(key, c, alerts, reason, now, group.route.fallback, dict(group.labels))
            for c in channels
        ]

    def _flush(self, group: _Group, now: float) -> list[Notification]:
        news = tuple(group.alerts[fp] for fp in group.pending)
        group.pending.clear()
        group.flush_at = None
        if not news:
            return []
        route = group.route
        out = self._notify(route.channels, news, "new", now, group=group)
        for alert in news:
            fp = alert.fingerprint
            if alert.ends_at is None:
                group.notified.add(fp)
                if route.escalate_after is not None:
                    self._escalations[(route.index, fp)] = _Escalation(
                        route, now + route.escalate_after
                    )
                continue
            escalation = self._escalations.pop((route.index, fp), None)
            if escalation is not None and escalation.fired:
                out.extend(
                    self._notify(
                        route.escalate_to, (alert,), "escalation", now, group=group, suffix=":esc"
                    )
                )
            group.alerts.pop(fp, None)
            group.notified.discard(fp)
            self._acked.discard(fp)
        if any(a.ends_at is None for a in group.alerts.values()):
            group.last_sent = now
        if not group.alerts:
            self._remove(group)
        return out

    def _repeat(self, group: _Group, now: float) -> list[Notification]:
        if group.last_sent is None:
            return []
        due = group.last_sent + group.route.repeat_interval
        firing = self._repeatable(group)
        if due > now or not firing:
            return []
        group.last_sent = now
        return self._notify(
            group.route.channels,
            tuple(firing),
            "repeat",
            now,
            group=group,
            suffix=f":repeat@{due:.0f}",
        )

    def _repeatable(self, group: _Group) -> list[Alert]:
        """The group's firing alerts to repeat: an acknowledged one is not (someone is on it)."""
        return [a for a in group.firing_notified() if a.fingerprint not in self._acked]

    def _escalate(self, now: float) -> list[Notification]:
        out: list[Notification] = []
        for (index, fp), escalation in self._escalations.items():
            if escalation.fired or escalation.due > now or fp in self._acked:
                continue
            group = self._find(index, fp)
            alert = group.alerts.get(fp) if group is not None else None
            if group is None or alert is None or alert.ends_at is not None:
                continue
            escalation.fired = True
            route = escalation.route
            out.extend(
                self._notify(
                    route.escalate_to, (alert,), "escalation", now, group=group, suffix=":esc"
                )
            )
        return out

    def _find(self, route_index: int, fp: str) -> _Group | None:
        return next(
            (g for g in self._groups.values() if g.route.index == route_index and fp in g.alerts),
            None,
        )
