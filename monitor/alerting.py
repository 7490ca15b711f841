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
follow when they recover. Device, time-to-dark and threshold alerts have no
persisted state: :meth:`Alerting.recall` takes those the outbox shows still
firing back before the first probe runs (:mod:`alerts.reopen`), with the same
effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from alerts.config import alerts_language
from alerts.delivery import Delivery
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, TargetStatus
from alerts.mute import Gate, Matcher, Silence
from alerts.reopen import open_alerts
from alerts.rules import RuleBook
from monitor.alert_flow import AlertFlow
from monitor.contract import ProbeEvent, ProbeResult
from monitor.engine.config import Config, Target
from monitor.engine.policy import Policy
from monitor.engine.power import Estimate
from monitor.engine.state import Event, EventKind, Health, TargetState
from monitor.history.store import Store
from monitor.web.api import parse_rfc3339, rfc3339
from monitor.web.api_body import BadRequest, body_time

log = logging.getLogger(__name__)

ANNOUNCED_ALERTS = (Health.DOWN, Health.UNREACHABLE, Health.FLAPPING)


class Alerting:
    """Rules, muting and delivery for one daemon (the pipeline's alert sink)."""

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
        self.flow = AlertFlow(wall=wall, mute=mute_context)
        self.delivery: Delivery | None = None
        self._delivery_stack = contextlib.AsyncExitStack()
        self._delivery_config: tuple[Any, ...] | None = None
        # Resolves made before delivery first opens (a restored alert whose target
        # left the config, a UPS found on mains by the first poll): sent when it opens.
        self._early: list[Alert] | None = []

    @property
    def gate(self) -> Gate:
        return self.flow.gate

    @property
    def rules(self) -> RuleBook:
        return self.flow.rules

    # -- lifecycle -----------------------------------------------------------

    async def apply(
        self,
        config: Config,
        changed: Iterable[Target] | None = None,
        removed: Iterable[str] | None = None,
    ) -> None:
        """Adopt a (new) config: targets, rules, and delivery if channels or routes changed.

        ``changed`` and ``removed``: the targets new or changed since the running
        config and the names it removed, when known (a reload's diff).
        """
        if removed is None:
            gone = self.flow.targets.keys() - {t.name for t in config.targets}
        else:
            gone = set(removed) & self.flow.targets.keys()
        out: list[Alert] = []
        for _ in self.flow.configure_steps(config, out, changed, removed):
            await asyncio.sleep(0)  # describing 50,000 changed targets: slices
        self._send(out)
        if self.delivery is not None:
            for name in gone:
                self.delivery.forget_state(name)
        monitor = config.monitor
        wanted = (
            dict(config.channels),
            config.alerts,
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
        early, self._early = self._early or [], None
        for alert in firing + early:
            self.delivery.submit(alert)

    async def close(self) -> None:
        await self._delivery_stack.aclose()
        self.delivery = None

    async def recall(self, config: Config) -> None:
        """At start, before the first probe: device and threshold alerts still firing
        in the outbox are active again (their state is nowhere else)."""
        names = self.flow.recalled_names(config)
        alerts = await asyncio.to_thread(open_alerts, self.database, names)
        if alerts:
            log.info("%d device or threshold alert(s) still firing before the restart", len(alerts))
        self.flow.recall(alerts)

    async def restore(self, states: Mapping[str, TargetState]) -> None:
        """After a start: silences from the store, and alerts of targets announced down."""
        for row in await self.store.silences():
            try:
                self.gate.silences[row.id] = silence_from_json(row.id, row.definition)
            except (ValueError, KeyError, TypeError) as exc:
                # E.g. a regex stored before they were compiled with RE2: skipped,
                # never matched with a backtracking engine (that hung start-up).
                log.warning("ignoring stored silence %s: %s", row.id, exc)
        announced = {
            name: (
                EventKind.announcing(state.announced),
                state.announced_since if state.announced_since is not None else self.wall(),
            )
            for name, state in states.items()
            if state.announced in ANNOUNCED_ALERTS
        }
        self._send(self.flow.restore(announced))

    # -- inputs (the pipeline's AlertSink) -------------------------------------

    def state_event(self, event: Event, policy: Policy) -> None:
        self._send(self.flow.state_event(event, policy))

    def device_event(self, target: str, event: ProbeEvent) -> None:
        self._send(self.flow.device_event(target, event))

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None:
        self._send(self.flow.check_result(target, kind, result))

    def going_dark(
        self,
        target: str,
        estimate: Estimate | None,
        *,
        lead: float,
        timezone: str,
        behind: Callable[[], list[str]],
    ) -> None:
        """A UPS target's time-to-dark prediction (SiteGoingDark)."""
        self._send(
            self.flow.going_dark(target, estimate, lead=lead, timezone=timezone, behind=behind)
        )

    def annotate(self, target: str, alertname: str, annotations: Mapping[str, str]) -> None:
        """Annotations that arrive after the alert (the path diagnosis): see AlertFlow."""
        self._send(self.flow.annotate(target, alertname, annotations))

    def state_changed(self, state: TargetState, policy: Policy) -> None:
        """Retained per-target state topics (MQTT) follow every change, with the policy's word."""
        info = self.flow.targets.get(state.name)
        if self.delivery is None or info is None:
            return
        last = next(
            (c.last for c in state.checks.values() if c.last is not None and not c.last.ok), None
        )
        verdict = policy.verdict(state.name)
        self.delivery.publish_state(
            TargetStatus(
                target=state.name,
                state=state.health.value,
                since=state.since,
                reason=last.reason if last else "",
                message=last.message if last else "",
                labels=info.labels,
                site=info.site,
                role=verdict.role.value,
                root_cause=verdict.root,
                muted=verdict.muted,
            )
        )

    def tick(self) -> None:
        """Time-driven work: point alerts that resolve, mutes that end, silences that expire."""
        for gone in self.gate.expire(self.wall()):
            self.store.remove_silence(gone)
        self._send(self.flow.tick())

    def _send(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.info("alert %s %s %s", alert.status, alert.name, alert.target or "")
            if self.delivery is not None:
                self.delivery.submit(alert)
            elif self._early is not None and alert.ends_at is not None:
                self._early.append(alert)  # a firing one is re-submitted from the rules

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
                    "muted": self.gate.muted(alert, now, self.flow.mute),
                    "notified": alert.fingerprint in self.gate.notified,
                }
                for alert in self.rules.active.values()
            ]
        }

    def acknowledge(self, fingerprint: str) -> bool:
        return self.delivery is not None and self.delivery.acknowledge(fingerprint)

    def silences_view(self) -> dict[str, Any]:
        return {"silences": [silence_view(s) for s in self.gate.silences.values()]}

    def add_silence(self, body: Any) -> dict[str, Any]:
        silence = parse_silence(body, self.wall(), uuid.uuid4().hex[:12])
        for index, matcher in enumerate(silence.matchers):
            # A silence for a target that does not exist mutes nothing: a typo, refused.
            unknown = matcher.value not in self.flow.targets
            if matcher.name == "target" and not matcher.regex and unknown:
                raise BadRequest(f"matchers[{index}].value", f"unknown target {matcher.value!r}")
        self.gate.silences[silence.id] = silence
        self.store.add_silence(silence.id, json.dumps(silence_view(silence)))
        return silence_view(silence)

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


def silence_view(silence: Silence) -> dict[str, Any]:
    """A silence as the API shows it and the store keeps it (:func:`silence_from_json` reads it)."""
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


def silence_from_json(silence_id: str, text: str) -> Silence:
    """A stored :func:`silence_view` back as a :class:`Silence`."""
    data = json.loads(text)
    return Silence(
        silence_id,
        tuple(Matcher(m["name"], m["value"], bool(m.get("isRegex"))) for m in data["matchers"]),
        parse_rfc3339(data["starts_at"]),
        parse_rfc3339(data["ends_at"]),
        data.get("created_by", ""),
        data.get("comment", ""),
    )
