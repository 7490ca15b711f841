"""The daemon's alerting: rules -> muting -> durable delivery, owned in one place.

The daemon hands this component what happened (announced state events,
device events, check values); it turns them into alerts with
:class:`alerts.rules.RuleBook`, holds muted ones back with
:class:`alerts.mute.Gate` (silences, maintenance, isolation), and submits the
rest to :class:`alerts.delivery.Delivery`, which writes them to the outbox
before any send. Nothing here sends; nothing here runs inside a probe.

Silences are persisted in the history database and restored at start. After
a restart the alerts of targets that were announced DOWN (or unreachable,
flapping) before are re-submitted with their original start: their dedup keys
are already in the outbox, so nobody is paged twice, and their resolve will
follow when they recover.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alerts.config import alerts_language
from alerts.delivery import Delivery
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, Site, TargetStatus
from alerts.mute import Gate, Matcher, Silence
from alerts.rules import RuleBook, TargetInfo
from monitor.api import parse_rfc3339, rfc3339
from monitor.config import Config, Target
from monitor.state import Health, TargetState
from monitor.store import Store
from monitor.web import BadRequest, body_time
from probes.base import ProbeEvent, ProbeResult

log = logging.getLogger(__name__)

ANNOUNCED_ALERTS = (Health.DOWN, Health.UNREACHABLE, Health.FLAPPING)


def target_info(target: Target) -> TargetInfo:
    location = target.location
    site = None
    if location is not None:
        site = Site(location.address, location.lat, location.lon, location.contact)
    return TargetInfo(target.name, dict(target.labels), site)


class Alerting:
    """Rules, muting and delivery for one daemon."""

    def __init__(
        self,
        *,
        store: Store,
        database: Path,
        wall: Callable[[], float],
        metrics: DeliveryMetrics,
        mute_context: Callable[[Alert], str | None],
    ) -> None:
        self.store = store
        self.database = database
        self.wall = wall
        self.metrics = metrics
        self.mute_context = mute_context
        self.gate = Gate()
        self.rules = RuleBook(instance="continuity-monitor")
        self.delivery: Delivery | None = None
        self._delivery_stack = contextlib.AsyncExitStack()
        self._delivery_config: tuple[Any, ...] | None = None
        self._targets: dict[str, TargetInfo] = {}

    # -- lifecycle -----------------------------------------------------------

    async def apply(self, config: Config) -> None:
        """Adopt a (new) config: targets, rules, and delivery if channels or routes changed."""
        monitor, section = config.monitor, config.alerts
        self.rules.reconfigure(
            instance=monitor.instance,
            builtin=section.builtin,
            rules=tuple(section.rules),
            point_resolve_after=section.point_resolve_after,
        )
        new_targets = {t.name: target_info(t) for t in config.targets}
        now = self.wall()
        for gone in self._targets.keys() - new_targets.keys():
            self._submit(self.rules.forget_target(gone, now))
            if self.delivery is not None:
                self.delivery.forget_state(gone)
        self._targets = new_targets
        wanted = (
            dict(config.channels),
            section,
            monitor.instance,
            monitor.language,
            monitor.timezone,
        )
        if wanted != self._delivery_config:
            await self._open_delivery(config)
            self._delivery_config = wanted

    async def _open_delivery(self, config: Config) -> None:
        """(Re)open delivery; a reload keeps what was firing (the outbox dedups)."""
        firing = [a for a in self.rules.active.values() if a.fingerprint in self.gate.notified]
        await self._delivery_stack.aclose()
        self._delivery_stack = contextlib.AsyncExitStack()
        monitor = config.monitor
        delivery = Delivery(
            channels=config.channels,
            alerts=config.alerts,
            database=self.database,
            instance=monitor.instance,
            language=alerts_language(config.alerts, monitor.language),
            timezone=monitor.timezone,
            metrics=self.metrics,
        )
        self.delivery = await self._delivery_stack.enter_async_context(delivery)
        for alert in firing:
            self.delivery.submit(alert)

    async def close(self) -> None:
        await self._delivery_stack.aclose()
        self.delivery = None

    async def restore(self, states: Mapping[str, TargetState]) -> None:
        """After a start: silences from the store, and alerts of targets announced down."""
        for row in await self.store.silences():
            try:
                self.gate.silences[row.id] = _silence_from_json(row.id, row.definition)
            except (ValueError, KeyError, TypeError) as exc:
                # E.g. a regex stored before they were compiled with RE2: skipped,
                # never matched with a backtracking engine (that hung start-up).
                log.warning("ignoring stored silence %s: %s", row.id, exc)
        for name, state in states.items():
            if state.announced in ANNOUNCED_ALERTS and name in self._targets:
                at = state.announced_since if state.announced_since is not None else self.wall()
                kind = f"target_{state.announced.value}"
                self._submit(self.rules.state_event(kind, self._targets[name], at))

    # -- inputs --------------------------------------------------------------

    def state_event(self, kind: str, target: str, at: float, message: str, cause: str) -> None:
        info = self._targets.get(target) if target else None
        if target and info is None:
            return
        self._submit(self.rules.state_event(kind, info, at, message=message, cause=cause))

    def device_event(self, target: str, event: ProbeEvent) -> None:
        info = self._targets.get(target)
        if info is not None:
            labels = dict(event.labels)
            self._submit(
                self.rules.device_event(event.kind, info, self.wall(), labels, event.message)
            )

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None:
        info = self._targets.get(target)
        if info is not None:
            kinds = frozenset(e.kind for e in result.events)
            self._submit(self.rules.check_result(info, kind, result.values, kinds, self.wall()))

    def state_changed(self, state: TargetState) -> None:
        """Retained per-target state topics (MQTT) follow every change."""
        info = self._targets.get(state.name)
        if self.delivery is None or info is None:
            return
        last = next(
            (c.last for c in state.checks.values() if c.last is not None and not c.last.ok), None
        )
        self.delivery.publish_state(
            TargetStatus(
                target=state.name,
                state=state.health.value,
                since=state.since,
                reason=last.reason if last else "",
                message=last.message if last else "",
                labels=info.labels,
                site=info.site,
            )
        )

    def tick(self) -> None:
        """Time-driven work: point alerts that resolve, mutes that end, silences that expire."""
        now = self.wall()
        self._submit(self.rules.sweep(now))
        for gone in self.gate.expire(now):
            self.store.remove_silence(gone)
        self._send(self.gate.release(now, self.mute_context))

    def _submit(self, alerts: list[Alert]) -> None:
        if alerts:
            self._send(self.gate.offer(alerts, self.wall(), self.mute_context))

    def _send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.info("alert %s %s %s", alert.status, alert.name, alert.target or "")
            if self.delivery is not None:
                self.delivery.submit(alert)

    # -- API -----------------------------------------------------------------

    def alerts_view(self) -> dict[str, Any]:
        now = self.wall()
        return {
            "alerts": [
                {
                    "fingerprint": alert.fingerprint,
                    "labels": dict(alert.labels),
                    "annotations": dict(alert.annotations),
                    "starts_at": rfc3339(alert.starts_at),
                    "muted": self.gate.muted(alert, now, self.mute_context),
                    "notified": alert.fingerprint in self.gate.notified,
                }
                for alert in self.rules.active.values()
            ]
        }

    def acknowledge(self, fingerprint: str) -> bool:
        return self.delivery is not None and self.delivery.acknowledge(fingerprint)

    def silences_view(self) -> dict[str, Any]:
        return {"silences": [_silence_view(s) for s in self.gate.silences.values()]}

    def add_silence(self, body: Any) -> dict[str, Any]:
        silence = parse_silence(body, self.wall(), uuid.uuid4().hex[:12])
        self.gate.silences[silence.id] = silence
        self.store.add_silence(silence.id, json.dumps(_silence_view(silence)))
        return _silence_view(silence)

    def remove_silence(self, silence_id: str) -> bool:
        if self.gate.silences.pop(silence_id, None) is None:
            return False
        self.store.remove_silence(silence_id)
        self.tick()  # what it held back goes out now
        return True


MAX_MATCHER_TEXT = 1024  # characters of a matcher's name or value
_SILENCE_FIELDS = {"matchers", "starts_at", "ends_at", "created_by", "comment"}


def parse_silence(body: Any, now: float, silence_id: str) -> Silence:
    """Validate ``POST /api/v1/silences``; every refusal names its field."""
    if not isinstance(body, dict):
        raise BadRequest("body", "expected a JSON object")
    for key in body:
        if key not in _SILENCE_FIELDS:
            raise BadRequest(str(key), "unknown field")
    matchers = _matchers(body.get("matchers"))
    starts = body_time(body, "starts_at", now)
    if "ends_at" not in body:
        raise BadRequest("ends_at", "required (an RFC 3339 time or a duration such as 2h)")
    ends = body_time(body, "ends_at", now)
    if ends <= now:
        raise BadRequest("ends_at", "must be in the future")
    if ends <= starts:
        raise BadRequest("ends_at", "must be after starts_at")
    created_by, comment = body.get("created_by", ""), body.get("comment", "")
    if not isinstance(created_by, str) or not created_by.strip():
        raise BadRequest("created_by", "required: who makes the silence")
    if not isinstance(comment, str):
        raise BadRequest("comment", "expected a string")
    return Silence(silence_id, matchers, starts, ends, created_by, comment)


def _matchers(raw: Any) -> tuple[Matcher, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("matchers", "at least one matcher is required")
    out = []
    for index, item in enumerate(raw):
        field = f"matchers[{index}]"
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("value"), str)
        ):
            raise BadRequest(field, 'expected {"name": ..., "value": ..., "isRegex": false}')
        regex = item.get("isRegex", False)
        if not isinstance(regex, bool):
            raise BadRequest(f"{field}.isRegex", "expected true or false")
        for key in ("name", "value"):
            if len(item[key]) > MAX_MATCHER_TEXT:
                raise BadRequest(f"{field}.{key}", f"longer than {MAX_MATCHER_TEXT} characters")
        try:
            out.append(Matcher(item["name"], item["value"], regex))  # compiles with RE2
        except ValueError as exc:
            raise BadRequest(f"{field}.value", str(exc)) from None
    return tuple(out)


def _silence_view(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.regex} for m in silence.matchers
        ],
        "starts_at": rfc3339(silence.starts_at),
        "ends_at": rfc3339(silence.ends_at),
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


def _silence_from_json(silence_id: str, text: str) -> Silence:
    data = json.loads(text)
    return Silence(
        silence_id,
        tuple(Matcher(m["name"], m["value"], bool(m.get("isRegex"))) for m in data["matchers"]),
        parse_rfc3339(data["starts_at"]),
        parse_rfc3339(data["ends_at"]),
        data.get("created_by", ""),
        data.get("comment", ""),
    )
