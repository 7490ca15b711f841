"""From what happened to what is delivered: rules, then muting. No I/O.

:class:`AlertFlow` turns the pipeline's events (announced state events with
the suppression policy, device events, check values) into alerts with
:class:`alerts.rules.RuleBook` and holds muted ones back with
:class:`alerts.mute.Gate`, asking the policy why an alert is muted. What it
returns goes to delivery; :class:`monitor.alerting.Alerting` does that, and a
test harness can collect it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from alerts.model import Alert, Site
from alerts.mute import Gate
from alerts.rules import RuleBook, TargetInfo
from monitor.config import Config, Target
from monitor.contract import ProbeEvent, ProbeResult
from monitor.policy import Policy
from monitor.redact import redact_url
from monitor.state import Event, EventKind

MuteReason = Callable[[Alert], str | None]
CONSEQUENCES_SHOWN = 5  # names in an alert's consequences line; the count says the rest


def target_info(target: Target, external_url: str = "") -> TargetInfo:
    location = target.location
    site = None
    if location is not None:
        site = Site(location.address, location.lat, location.lon, location.contact)
    url = f"{external_url.rstrip('/')}/targets/{target.name}" if external_url else ""
    # The address goes into alert texts: passwords and query tokens never do.
    return TargetInfo(target.name, dict(target.labels), site, redact_url(target.address), url)


def consequences_names(names: list[str]) -> str:
    """The first names of what is out behind a root cause (``a, b, c, ...``)."""
    more = ", ..." if len(names) > CONSEQUENCES_SHOWN else ""
    return ", ".join(names[:CONSEQUENCES_SHOWN]) + more


class AlertFlow:
    """Rules and the gate for one daemon; every method returns the alerts to deliver."""

    def __init__(self, *, wall: Callable[[], float], mute: MuteReason) -> None:
        self.wall = wall
        self.mute = mute
        self.gate = Gate()
        self.rules = RuleBook(instance="continuity-monitor")
        self.targets: dict[str, TargetInfo] = {}

    def configure(self, config: Config) -> list[Alert]:
        """New rules and targets; resolves what targets that left had firing."""
        section = config.alerts
        self.rules.reconfigure(
            instance=config.monitor.instance,
            builtin=section.builtin,
            rules=tuple(section.rules),
            point_resolve_after=section.point_resolve_after,
            flapping_keep_for=section.flapping_keep_for,
        )
        url = config.monitor.external_url
        new = {t.name: target_info(t, url) for t in config.targets}
        now, out = self.wall(), []
        for gone in self.targets.keys() - new.keys():
            out += self.offer(self.rules.forget_target(gone, now))
        self.targets = new
        return out

    def state_event(self, event: Event, policy: Policy) -> list[Alert]:
        """An announced transition (with the tree around it) or a monitor/SLO event."""
        info = self.targets.get(event.target) if event.target else None
        if event.target and info is None:
            return []
        consequences: list[str] = []
        if event.kind is EventKind.TARGET_DOWN:
            consequences = policy.consequences(event.target)
        return self.offer(
            self.rules.state_event(
                event.kind,
                info,
                event.at,
                message=event.message,
                cause=event.cause,
                consequences=consequences_names(consequences),
                affected=len(consequences),
            )
        )

    def device_event(self, target: str, event: ProbeEvent) -> list[Alert]:
        info = self.targets.get(target)
        if info is None:
            return []
        labels = dict(event.labels)
        return self.offer(
            self.rules.device_event(event.kind, info, self.wall(), labels, event.message)
        )

    def check_result(self, target: str, kind: str, result: ProbeResult) -> list[Alert]:
        info = self.targets.get(target)
        if info is None:
            return []
        kinds = frozenset(e.kind for e in result.events)
        return self.offer(self.rules.check_result(info, kind, result.values, kinds, self.wall()))

    def restore(self, announced: Mapping[str, tuple[EventKind, float]]) -> list[Alert]:
        """After a start: the alerts of targets announced down before, with their start."""
        out: list[Alert] = []
        for name, (kind, at) in announced.items():
            info = self.targets.get(name)
            if info is not None:
                out += self.offer(self.rules.state_event(kind, info, at))
        return out

    def tick(self) -> list[Alert]:
        """Point alerts that resolve now, and held alerts whose mute ended."""
        now = self.wall()
        return self.offer(self.rules.sweep(now)) + self.gate.release(now, self.mute)

    def offer(self, alerts: list[Alert]) -> list[Alert]:
        return self.gate.offer(alerts, self.wall(), self.mute) if alerts else []
