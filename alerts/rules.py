"""Alert rules: which alerts fire and resolve, from state events, device events and values.

Pure logic with time passed in; the daemon feeds it and hands what it returns
to :class:`alerts.delivery.Delivery`. Three sources:

- **Announced state events** of the continuity model, as *episodes*: an
  alert fires when its condition is announced and stays firing, whatever the
  target's state does inside the episode, until the condition is really
  gone. ``TargetDown`` fires on ``target_down`` and resolves only on
  ``target_up``: DOWN -> UNREACHABLE -> DOWN, DOWN -> FLAPPING and maintenance
  are the same outage. ``TargetUnreachable`` (off by default) and
  ``TargetFlapping`` fire only when no ``TargetDown`` episode is open;
  ``TargetUnreachable`` resolves on ``target_up`` or when a DOWN page replaces
  it; ``TargetFlapping`` resolves ``flapping_keep_for`` after the target
  stopped flapping, and flapping again (or a DOWN, which pages on its own)
  inside that time continues the same episode.
  ``MonitorIsolated``, ``MonitorDegraded`` and the SLO burn alerts follow
  their events. A new episode of the same alert never reuses an old one's
  identity (its ``starts_at``, and so its dedup key, is later than the last
  episode's end).
- **Device events** from probes and traps: ``InterfaceDown`` (resolved by
  ``InterfaceUp``), ``OnBattery`` and ``BatteryLow`` (resolved by
  ``PowerRestored``, as is ``SiteGoingDark``), ``DeviceRebooted`` (a point event, resolved after
  ``point_resolve_after``) and ``CertificateExpiring`` (a condition reported
  on every run while it holds; resolved by a run of that check without it).
- **Time to dark** (:meth:`RuleBook.going_dark`): ``SiteGoingDark`` fires a lead
  time before a UPS on battery is predicted to run out and resolves when mains
  is back or the prediction moved beyond the lead time (by a margin).
- **Threshold rules** (``[[alerts.rules]]``) on a check's named values, with
  ``for`` (how long it must hold) and ``keep_for`` (how long it keeps firing
  after it stops holding, against flapping thresholds).

After a restart, state alerts come back from the persisted target states and
the others (device, time to dark, threshold) from the outbox
(:meth:`RuleBook.restore`): same identity and start, so no second page, and
they resolve when their condition is found gone.

Every alert carries ``alertname``, ``target``, ``severity``, ``monitor`` (the
instance), the target's own labels, and ``check``/``interface``/``slo`` where
they identify it; its identity is that label set. Muting is decided by
:mod:`alerts.mute`; a resolve is always passed on for an alert whose firing
was passed on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import Field, field_validator, model_validator

from alerts.model import Alert, Site
from monitor.config_types import Duration, StrictModel

Severity = Literal["critical", "warning", "info"]

BUILTIN_DEFAULTS: dict[str, tuple[bool, Severity]] = {
    "TargetDown": (True, "critical"),
    "TargetUnreachable": (False, "info"),
    "TargetFlapping": (True, "warning"),
    "DeviceRebooted": (True, "warning"),
    "InterfaceDown": (True, "warning"),
    "OnBattery": (True, "warning"),
    "BatteryLow": (True, "critical"),
    "CertificateExpiring": (True, "warning"),
    "SLOBurnFast": (True, "critical"),
    "SLOBurnSlow": (True, "warning"),
    "MonitorIsolated": (True, "critical"),
    "MonitorDegraded": (True, "critical"),
    "SiteGoingDark": (True, "critical"),
}

_STATE_ALERTS = {
    "target_down": "TargetDown",
    "target_unreachable": "TargetUnreachable",
    "target_flapping": "TargetFlapping",
}
# Which open state alerts an announcement ends (the episode's condition is gone
# or a DOWN page replaces it); an announcement not listed ends none.
_ENDS = {
    "target_up": frozenset({"TargetDown", "TargetUnreachable", "TargetFlapping"}),
    "target_down": frozenset({"TargetUnreachable"}),
    "target_flapping": frozenset({"TargetUnreachable"}),
}
_MONITOR_TOGGLES = {
    "monitor_isolated": ("MonitorIsolated", True),
    "monitor_isolation_ended": ("MonitorIsolated", False),
    "monitor_degraded": ("MonitorDegraded", True),
    "monitor_degraded_ended": ("MonitorDegraded", False),
}
_POINT_EVENTS = {"DeviceRebooted"}
_LEVEL_EVENTS = {"CertificateExpiring"}
_RESOLVED_BY = {
    "InterfaceUp": ("InterfaceDown",),
    "PowerRestored": ("OnBattery", "BatteryLow", "SiteGoingDark"),
}
RECALLED = frozenset(
    {
        "DeviceRebooted",
        "InterfaceDown",
        "OnBattery",
        "BatteryLow",
        "CertificateExpiring",
        "SiteGoingDark",
    }
)
"""Built-in alerts with no persisted state behind them: after a restart they come back
from the outbox (:mod:`alerts.reopen`), as do threshold rules' alerts."""
_POWER_VALUE = "ups_on_battery"
"""The ``ups`` module's value that says whether a UPS is on battery (1) or mains (0)."""
GOING_DARK_MARGIN = 0.1
"""SiteGoingDark resolves once the prediction is this share beyond the lead time again,
so an estimate that jitters around the lead time does not fire and resolve in turn."""
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "above": operator.gt,
    "below": operator.lt,
}


class BuiltinSetting(StrictModel):
    """``[alerts.builtin.NAME]``: switch a built-in alert on or off, or change its severity."""

    enabled: bool = True
    severity: Severity | None = None


def _template_env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class ThresholdRule(StrictModel):
    """One ``[[alerts.rules]]`` table."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    match: dict[str, str] = Field(default_factory=dict)
    metric: str
    above: float | None = None
    below: float | None = None
    for_: Duration | None = Field(None, alias="for")
    keep_for: Duration | None = None
    severity: Severity = "warning"
    summary: str = "{{ name }} on {{ target }}: {{ metric }} is {{ value }}"
    runbook: str = ""

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        kind, _, name = value.partition(".")
        if not kind or not name:
            raise ValueError(
                f"expected CHECK.VALUE such as 'icmp.packet_loss_ratio', got {value!r}"
            )
        return value

    @field_validator("summary", "runbook")
    @classmethod
    def _template(cls, value: str) -> str:
        try:
            render(
                value,
                {
                    "name": "Sample",
                    "target": "t",
                    "metric": "icmp.x",
                    "value": 1.0,
                    "threshold": 0.5,
                    "labels": {},
                },
            )
        except TemplateError as exc:
            raise ValueError(f"template does not render: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        return self

    @property
    def check(self) -> str:
        return self.metric.partition(".")[0]

    @property
    def value_name(self) -> str:
        return self.metric.partition(".")[2]

    def holds(self, value: float) -> bool:
        if self.above is not None:
            return _OPERATORS["above"](value, self.above)
        assert self.below is not None
        return _OPERATORS["below"](value, self.below)


def render(template: str, variables: Mapping[str, object]) -> str:
    """A summary/runbook template in Jinja2's immutable sandbox (no ``eval`` of config)."""
    return _template_env().from_string(template).render(**variables)


@dataclass(frozen=True)
class TargetInfo:
    """What a rule needs to know about a target to label an alert."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    site: Site | None = None
    address: str = ""
    url: str = ""  # the target's page, for people and ``generator_url``


@dataclass
class _Pending:
    since: float
    value: float


class RuleBook:
    """Active alerts and threshold bookkeeping; feed it events and results."""

    def __init__(
        self,
        *,
        instance: str,
        builtin: Mapping[str, BuiltinSetting] | None = None,
        rules: tuple[ThresholdRule, ...] = (),
        point_resolve_after: float = 900.0,
        flapping_keep_for: float = 300.0,
    ) -> None:
        self.instance = instance
        self.builtin = dict(builtin or {})
        self.rules = rules
        self.point_resolve_after = point_resolve_after
        self.flapping_keep_for = flapping_keep_for
        self.active: dict[str, Alert] = {}  # fingerprint -> firing alert
        self._points: dict[str, float] = {}  # fingerprint -> resolve at
        self._pending: dict[tuple[str, str], _Pending] = {}  # (rule, target) -> holding since
        self._clearing: dict[tuple[str, str], float] = {}  # (rule, target) -> stopped holding at
        self._levels: set[tuple[str, str]] = set()  # (target, check) with a level alert firing
        self._ended: dict[str, float] = {}  # fingerprint -> when its last episode ended
        self._calming: dict[str, tuple[float, float]] = {}  # flapping fp -> (left at, due)
        self._dark: dict[str, str] = {}  # target -> fingerprint of its last SiteGoingDark
        # After a restart, until the first poll: targets with power alerts restored,
        # restored SiteGoingDark with no prediction within the lead yet, and restored
        # InterfaceDown (target -> interfaces).
        self._unconfirmed: set[str] = set()
        self._recalled_dark: set[str] = set()
        self._recalled_ifs: dict[str, set[str]] = {}

    def reconfigure(
        self,
        *,
        instance: str,
        builtin: Mapping[str, BuiltinSetting],
        rules: tuple[ThresholdRule, ...],
        point_resolve_after: float,
        flapping_keep_for: float = 300.0,
    ) -> None:
        """A reload: new settings, same active alerts and timers (a reload is no recovery)."""
        self.instance = instance
        self.builtin = dict(builtin)
        self.rules = rules
        self.point_resolve_after = point_resolve_after
        self.flapping_keep_for = flapping_keep_for
        names = {rule.name for rule in rules}
        for key in [k for k in self._pending if k[0] not in names]:
            del self._pending[key]  # a rule that is gone holds nothing back any more

    # -- what each alert looks like --------------------------------------------

    def enabled(self, name: str) -> Severity | None:
        """The severity of a built-in alert, or None when it is switched off."""
        on, severity = BUILTIN_DEFAULTS[name]
        setting = self.builtin.get(name)
        if setting is not None:
            on, severity = setting.enabled, setting.severity or severity
        return severity if on else None

    def _alert(
        self,
        name: str,
        severity: str,
        target: TargetInfo | None,
        at: float,
        *,
        extra: Mapping[str, str] | None = None,
        summary: str = "",
        description: str = "",
        runbook: str = "",
        consequences: Mapping[str, str] | None = None,
    ) -> Alert:
        labels = {**(target.labels if target else {}), **(extra or {})}
        labels.update(alertname=name, severity=severity, monitor=self.instance)
        if target is not None:
            labels["target"] = target.name
        annotations = {
            k: v
            for k, v in (
                ("summary", summary),
                ("description", description),
                ("runbook_url", runbook),
                ("address", target.address if target else ""),
                *(consequences or {}).items(),
            )
            if v
        }
        return Alert(
            labels=labels,
            starts_at=at,
            annotations=annotations,
            site=target.site if target else None,
            generator_url=target.url if target else "",
        )

    def _fire(self, alert: Alert) -> list[Alert]:
        fp = alert.fingerprint
        if fp in self.active:
            return []  # already firing: one alert per real problem
        ended = self._ended.get(fp)
        if ended is not None and alert.starts_at <= ended:
            # A new episode: never the identity (and dedup key) of the one that ended.
            alert = replace(alert, starts_at=ended + 0.001)
        self.active[fp] = alert
        if alert.name in _LEVEL_EVENTS:
            self._levels.add((alert.target, alert.labels.get("check", "")))
        return [alert]

    def _resolve(self, match: Callable[[Alert], bool], at: float) -> list[Alert]:
        out = []
        for fp, alert in list(self.active.items()):
            if match(alert):
                del self.active[fp]
                self._points.pop(fp, None)
                self._calming.pop(fp, None)
                if alert.name == "SiteGoingDark":
                    self._recalled_dark.discard(alert.target)
                end = max(at, alert.starts_at)
                self._ended[fp] = end
                out.append(alert.resolved(end))
        return out

    def firing(self, name: str, target: str) -> bool:
        """Whether an episode of alert ``name`` is open for ``target``."""
        return any(a.name == name and a.target == target for a in self.active.values())

    # -- inputs ----------------------------------------------------------------

    def state_event(
        self,
        kind: str,
        target: TargetInfo | None,
        at: float,
        *,
        message: str = "",
        cause: str = "",
        consequences: str = "",
        affected: int = 0,
        reason: str = "",
    ) -> list[Alert]:
        """An announced transition of the continuity model (or a monitor/SLO event).

        ``consequences`` names the first targets out behind a DOWN root cause and
        ``affected`` counts them all; both go into the page's annotations, with the
        codes ``reason`` (of the check result) and ``cause`` that texts put in words.
        """
        if kind.startswith("target_") and target is not None:
            description = f"{message} ({cause})" if cause else message
            extra = {"consequences": consequences, "affected": str(affected)} if affected else {}
            extra |= {"reason": reason, "cause": cause}
            return self._target_transition(kind, target, at, description, extra)
        if kind in _MONITOR_TOGGLES:
            name, on = _MONITOR_TOGGLES[kind]
            return self._toggle(name, on, target=None, at=at, extra={}, message=message)
        if kind.startswith("slo_burn_"):
            speed = "Fast" if "_fast" in kind else "Slow"
            slo = {"slo": cause.removeprefix("slo:")}
            on = not kind.endswith("_ended")
            return self._toggle(
                f"SLOBurn{speed}", on, target=None, at=at, extra=slo, message=message
            )
        return []

    def _target_transition(
        self,
        kind: str,
        target: TargetInfo,
        at: float,
        description: str,
        consequences: Mapping[str, str],
    ) -> list[Alert]:
        ends = _ENDS.get(kind, frozenset())
        if kind == "target_up":
            ends = ends - {"TargetFlapping"}
            self._calm_down(target.name, at)
        elif kind != "target_down":  # a DOWN inside a flapping episode leaves it open
            self._calming = {
                fp: v for fp, v in self._calming.items() if self.active[fp].target != target.name
            }
        out = self._resolve(lambda a: a.target == target.name and a.name in ends, at)
        name = _STATE_ALERTS.get(kind)
        if name is None or (name != "TargetDown" and self.firing("TargetDown", target.name)):
            return out  # inside an open DOWN episode: nothing new to say
        severity = self.enabled(name)
        if severity:
            out += self._fire(
                self._alert(
                    name,
                    severity,
                    target,
                    at,
                    summary=f"{target.name}: {kind.removeprefix('target_')}",
                    description=description,
                    consequences=consequences,
                )
            )
        return out

    def _calm_down(self, target: str, at: float) -> None:
        """The target stopped flapping: its alert resolves after ``flapping_keep_for``
        unless it flaps again meanwhile (the same episode, no second page)."""
        for fp, alert in self.active.items():
            if alert.target == target and alert.name == "TargetFlapping":
                self._calming.setdefault(fp, (at, at + self.flapping_keep_for))

    def _toggle(
        self,
        name: str,
        on: bool,
        *,
        target: TargetInfo | None,
        at: float,
        extra: Mapping[str, str],
        message: str,
    ) -> list[Alert]:
        if not on:
            return self._resolve(
                lambda a: a.name == name and all(a.labels.get(k) == v for k, v in extra.items()), at
            )
        severity = self.enabled(name)
        if severity is None:
            return []
        return self._fire(
            self._alert(
                name, severity, target, at, extra=extra, summary=message, description=message
            )
        )

    def device_event(
        self, kind: str, target: TargetInfo, at: float, labels: Mapping[str, str], message: str
    ) -> list[Alert]:
        """An event a probe or a trap reported for a target."""
        if kind in _RESOLVED_BY:
            names = _RESOLVED_BY[kind]
            return self._resolve(
                lambda a: (
                    a.target == target.name
                    and a.name in names
                    and all(a.labels.get(k) == v for k, v in labels.items() if k == "interface")
                ),
                at,
            )
        if kind not in BUILTIN_DEFAULTS:
            return []
        severity = self.enabled(kind)
        if severity is None:
            return []
        alert = self._alert(
            kind,
            severity,
            target,
            at,
            extra=dict(labels),
            summary=f"{target.name}: {kind}",
            description=message,
        )
        fired = self._fire(alert)
        if fired and kind in _POINT_EVENTS:
            self._points[alert.fingerprint] = at + self.point_resolve_after
        return fired

    def going_dark(
        self,
        target: TargetInfo,
        dark_at: float | None,
        at: float,
        *,
        lead: float,
        notes: Callable[[], tuple[str, Mapping[str, str]]] | None = None,
    ) -> list[Alert]:
        """A UPS target's prediction (None: on mains, or nothing predicted) at ``at``.

        Fires when the predicted dark is at most ``lead`` seconds away (or past);
        resolves when there is no prediction any more or it lies more than
        ``lead`` plus :data:`GOING_DARK_MARGIN` of it ahead. ``notes`` gives the
        description and annotations, asked for only when the alert fires.
        """
        # Asked every second for every UPS on battery: a dict probe, not a scan of the
        # active alerts (thousands in a storm).
        fingerprint = self._dark.get(target.name)
        if fingerprint is not None and fingerprint in self.active:
            if target.name in self._recalled_dark:
                # Restored after a restart: the trend starts afresh, so a first prediction
                # beyond the lead (or none yet) is no news; mains still resolves it.
                if dark_at is not None and dark_at - at <= lead:
                    self._recalled_dark.discard(target.name)
                return []
            if dark_at is None or dark_at - at > lead * (1.0 + GOING_DARK_MARGIN):
                return self._resolve(
                    lambda a: a.name == "SiteGoingDark" and a.target == target.name, at
                )
            return []
        if dark_at is None or dark_at - at > lead:
            return []
        severity = self.enabled("SiteGoingDark")
        if severity is None:
            return []
        description, annotations = notes() if notes is not None else ("", {})
        fired = self._fire(
            self._alert(
                "SiteGoingDark",
                severity,
                target,
                at,
                summary=description or f"{target.name}: SiteGoingDark",
                description=description,
                consequences=annotations,
            )
        )
        for alert in fired:
            self._dark[target.name] = alert.fingerprint
        return fired

    def check_result(
        self,
        target: TargetInfo,
        check: str,
        values: Mapping[str, float],
        event_kinds: frozenset[str],
        at: float,
    ) -> list[Alert]:
        """A run's values (threshold rules) and its level events (certificate expiry)."""
        out: list[Alert] = []
        if target.name in self._unconfirmed and _POWER_VALUE in values:
            out += self._power_polled(target.name, values[_POWER_VALUE] >= 0.5, at)
        # The set difference only for a check with a level alert (rarely): not per result.
        gone = _LEVEL_EVENTS - event_kinds if (target.name, check) in self._levels else None
        if gone:
            self._levels.discard((target.name, check))

            def ended(alert: Alert) -> bool:
                return (
                    alert.target == target.name
                    and alert.name in gone
                    and alert.labels.get("check") == check
                )

            out += self._resolve(ended, at)
        for rule in self.rules:
            if rule.check == check and _selects(rule.match, target):
                value = values.get(rule.value_name)
                if value is not None:
                    out += self._threshold(rule, target, value, at)
        return out

    def _power_polled(self, target: str, on_battery: bool, at: float) -> list[Alert]:
        """The first UPS poll after a restart: mains resolves the restored power alerts
        (as the ``PowerRestored`` the probe cannot know to send would have); battery keeps
        them (the probe's ``OnBattery`` then finds them firing: no second page)."""
        self._unconfirmed.discard(target)
        if on_battery:
            return []
        names = _RESOLVED_BY["PowerRestored"]
        return self._resolve(lambda a: a.target == target and a.name in names, at)

    def _threshold(
        self, rule: ThresholdRule, target: TargetInfo, value: float, at: float
    ) -> list[Alert]:
        key = (rule.name, target.name)
        if rule.holds(value):
            self._clearing.pop(key, None)
            pending = self._pending.setdefault(key, _Pending(at, value))
            pending.value = value
            if at - pending.since >= (rule.for_ or 0.0):
                variables = {
                    "name": rule.name,
                    "target": target.name,
                    "metric": rule.metric,
                    "value": value,
                    "threshold": rule.above if rule.above is not None else rule.below,
                    "labels": dict(target.labels),
                }
                return self._fire(
                    self._alert(
                        rule.name,
                        rule.severity,
                        target,
                        pending.since,
                        extra={"check": rule.check},
                        summary=render(rule.summary, variables),
                        runbook=render(rule.runbook, variables),
                    )
                )
            return []
        self._pending.pop(key, None)
        stopped = self._clearing.setdefault(key, at)
        if at - stopped >= (rule.keep_for or 0.0):
            self._clearing.pop(key, None)
            return self._resolve(lambda a: a.name == rule.name and a.target == target.name, at)
        return []

    def sweep(self, now: float) -> list[Alert]:
        """Time-driven resolves: point events whose time is up."""
        due = [fp for fp, until in self._points.items() if until <= now]
        out = self._resolve(lambda a: a.fingerprint in due, now) if due else []
        for fp, (left, until) in list(self._calming.items()):
            if until <= now:
                out += self._resolve(_fingerprint_is(fp), left)
        return out

    def forget_target(self, name: str, at: float) -> list[Alert]:
        """A target left the config: resolve what it had firing."""
        for key in [k for k in self._pending if k[1] == name]:
            del self._pending[key]
        self._dark.pop(name, None)
        self._unconfirmed.discard(name)
        self._recalled_ifs.pop(name, None)
        return self._resolve(lambda a: a.target == name, at)

    def recalled(self) -> frozenset[str]:
        """Names of the alerts a restart takes back from the outbox (see :data:`RECALLED`)."""
        return RECALLED | {rule.name for rule in self.rules}

    def restore(self, alerts: list[Alert]) -> None:
        """After a restart: alerts the outbox knows to be firing are active again.

        Each resumes its lifecycle: a point event resolves ``point_resolve_after``
        after its start, a level event by the next run of its check without it,
        SiteGoingDark by mains, or by the prediction once one is within the lead time
        again (the trend starts afresh: a first estimate is no news). The probes' memory
        of a UPS starts afresh, so no ``PowerRestored`` follows a mains that came back
        during the restart: the target's first UPS poll decides instead
        (:meth:`check_result`); so does the first poll of an interface
        (:meth:`interfaces_polled`).
        """
        for alert in alerts:
            if alert.ends_at is not None:
                continue
            fp = alert.fingerprint
            self.active[fp] = replace(alert)
            if alert.name == "SiteGoingDark":
                self._dark[alert.target] = fp
                self._recalled_dark.add(alert.target)
            if alert.name in _POINT_EVENTS:
                self._points[fp] = alert.starts_at + self.point_resolve_after
            if alert.name in _LEVEL_EVENTS:
                self._levels.add((alert.target, alert.labels.get("check", "")))
            if alert.name in _RESOLVED_BY["PowerRestored"]:
                self._unconfirmed.add(alert.target)
            if alert.name == "InterfaceDown" and "interface" in alert.labels:
                self._recalled_ifs.setdefault(alert.target, set()).add(alert.labels["interface"])

    def awaits_interfaces(self, target: str) -> bool:
        """Whether restored InterfaceDown alerts of ``target`` wait for their interface's poll."""
        return target in self._recalled_ifs

    def interfaces_polled(self, target: str, up: Mapping[str, bool], at: float) -> list[Alert]:
        """A poll's interface states (name -> oper up) after a restart: the interface poll
        reports changes only, so one found up resolves its restored InterfaceDown (the
        ``InterfaceUp`` nobody saw), one found down keeps it."""
        waiting = self._recalled_ifs.get(target)
        if waiting is None:
            return []
        seen = waiting & up.keys()
        waiting -= seen
        if not waiting:
            del self._recalled_ifs[target]
        back = {name for name in seen if up[name]}
        if not back:
            return []
        return self._resolve(
            lambda a: (
                a.target == target
                and a.name == "InterfaceDown"
                and a.labels.get("interface") in back
            ),
            at,
        )


def _fingerprint_is(fp: str) -> Callable[[Alert], bool]:
    return lambda alert: alert.fingerprint == fp


def _selects(match: Mapping[str, str], target: TargetInfo) -> bool:
    return all(
        target.labels.get(k) == v or (k == "target" and target.name == v) for k, v in match.items()
    )
