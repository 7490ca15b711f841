"""From what happened to what is delivered: rules, then muting. No I/O.

:class:`AlertFlow` turns the pipeline's events (announced state events with
the suppression policy, device events, check values) into alerts with
:class:`alerts.rules.RuleBook` and holds muted ones back with
:class:`alerts.mute.Gate`, asking the policy why an alert is muted. What it
returns goes to delivery; :class:`monitor.alerting.Alerting` does that, and a
test harness can collect it instead.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace

from alerts.model import Alert, Site
from alerts.mute import Gate
from alerts.rules import RuleBook, TargetInfo
from monitor.contract import ProbeEvent, ProbeResult
from monitor.engine.config import Config, Target
from monitor.engine.policy import Policy
from monitor.engine.power import Estimate
from monitor.engine.state import Event, EventKind
from monitor.redact import redact_url

_NO_EVENTS: frozenset[str] = frozenset()
"""The event kinds of a result without events (nearly every one): made once."""

MuteReason = Callable[[Alert], str | None]
CONSEQUENCES_SHOWN = 5  # names in an alert's consequences line; the count says the rest
CONFIGURE_SLICE = 500
"""Targets described per loop turn when a reload changes many (50,000 took 0.2 s)."""


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


def interfaces_up(result: ProbeResult) -> dict[str, bool]:
    """Interface name -> oper up, from an SNMP poll's ``continuity_snmp_interface_up`` samples."""
    out: dict[str, bool] = {}
    for sample in result.samples:
        if sample.name == "continuity_snmp_interface_up":
            name = dict(sample.labels).get("interface")
            if name is not None:
                out[name] = sample.value >= 0.5
    return out


_METHOD_WORDS = {"device": "the device's runtime", "trend": "the discharge trend"}


def dark_notes(
    estimate: Estimate, now: float, timezone: str, behind: list[str]
) -> tuple[str, dict[str, str]]:
    """SiteGoingDark's description and annotations: the predicted clock time in the
    monitor's zone, minutes left, which estimate it is, and what goes dark with it.

    The time is named in whole seconds, the clock time made from that same second: at
    xx:27:59.6 the timestamp said :28:00 while the minute, truncated, said :27."""
    dark_at = round(estimate.dark_at)
    moment = datetime.datetime.fromtimestamp(dark_at, zoneinfo.ZoneInfo(timezone))
    minutes = max(0, round((dark_at - now) / 60))
    method = _METHOD_WORDS[estimate.method]
    description = f"battery runs out at about {moment:%H:%M %z} (in {minutes} min, by {method})"
    if behind:
        description += f"; {len(behind)} behind it go dark too: {consequences_names(behind)}"
    notes = {
        "predicted_dark": moment.strftime("%Y-%m-%d %H:%M %z"),
        "predicted_dark_timestamp": str(dark_at),
        "minutes_left": str(minutes),
        "method": estimate.method,
    }
    if behind:
        notes.update(affected=str(len(behind)), consequences=consequences_names(behind))
    return description, notes


class AlertFlow:
    """Rules and the gate for one daemon; every method returns the alerts to deliver."""

    def __init__(self, *, wall: Callable[[], float], mute: MuteReason) -> None:
        self.wall = wall
        self.mute = mute
        self.gate = Gate()
        self.rules = RuleBook(instance="continuity-monitor")
        self.targets: dict[str, TargetInfo] = {}
        self._url: str | None = None  # the external URL the target infos were made with
        self._recalled: set[str] = set()  # targets of restored alerts, until the first configure

    def configure(
        self,
        config: Config,
        changed: Iterable[Target] | None = None,
        removed: Iterable[str] | None = None,
    ) -> list[Alert]:
        """New rules and targets; resolves what targets that left had firing.

        ``changed`` (a reload's new and changed targets) limits the work to
        them: describing 50,000 targets again took 0.1 s of loop time; with
        ``removed`` too (the names the reload removed) no set of every name is
        built either (30 ms at 50,000).
        """
        out: list[Alert] = []
        for _ in self.configure_steps(config, out, changed, removed):
            pass
        return out

    def configure_steps(
        self,
        config: Config,
        out: list[Alert],
        changed: Iterable[Target] | None = None,
        removed: Iterable[str] | None = None,
    ) -> Iterator[None]:
        """:meth:`configure` in slices (the caller lets the loop run at each ``yield``);
        the alerts to deliver are appended to ``out``. The targets switch at the end."""
        self._reconfigure_rules(config)
        url = config.monitor.external_url
        new: dict[str, TargetInfo]
        describe: Iterable[Target]
        if changed is None or url != self._url:
            new, describe = {}, config.targets
        elif removed is not None:
            new, describe = dict(self.targets), changed
            for name in removed:
                new.pop(name, None)
        else:
            names = {t.name for t in config.targets}
            new = {name: info for name, info in self.targets.items() if name in names}
            describe = changed
        for index, target in enumerate(describe, start=1):
            new[target.name] = target_info(target, url)
            if not index % CONFIGURE_SLICE:
                yield
        self._url = url
        now = self.wall()
        left = (
            self.targets.keys() - new.keys()
            if removed is None
            else set(removed) & self.targets.keys()
        )
        # Restored alerts of targets the config no longer has resolve now.
        for gone in left | (self._recalled - new.keys()):
            out += self.offer(self.rules.forget_target(gone, now))
        self._recalled.clear()
        self.targets = new

    def _reconfigure_rules(self, config: Config) -> None:
        section = config.alerts
        self.rules.reconfigure(
            instance=config.monitor.instance,
            builtin=section.builtin,
            rules=tuple(section.rules),
            point_resolve_after=section.point_resolve_after,
            flapping_keep_for=section.flapping_keep_for,
        )

    def recalled_names(self, config: Config) -> frozenset[str]:
        """The alert names a start takes back from the outbox, under ``config``'s rules."""
        self._reconfigure_rules(config)
        return self.rules.recalled()

    def recall(self, alerts: list[Alert]) -> None:
        """At start, before any probe runs: the outbox's open device and threshold alerts.

        They went out before (the gate counts them passed on, so their resolves
        do); delivery re-submits them when it opens, under their old keys. Those
        of targets that left the config resolve at the first :meth:`configure`.
        """
        self.rules.restore(alerts)
        for alert in alerts:
            self.gate.notified.add(alert.fingerprint)
            self._recalled.add(alert.target)

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
                reason=event.reason,
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
        events = result.events
        kinds = frozenset(e.kind for e in events) if events else _NO_EVENTS
        now = self.wall()
        out = self.rules.check_result(info, kind, result.values, kinds, now)
        if self.rules.awaits_interfaces(target):  # only after a restart, until polled
            out += self.rules.interfaces_polled(target, interfaces_up(result), now)
        return self.offer(out)

    def going_dark(
        self,
        target: str,
        estimate: Estimate | None,
        *,
        lead: float,
        timezone: str,
        behind: Callable[[], list[str]],
    ) -> list[Alert]:
        """A UPS target's time-to-dark prediction now (None: on mains or unknown);
        ``behind`` names what goes dark with it (asked only when the alert fires)."""
        info = self.targets.get(target)
        if info is None:
            return []
        now = self.wall()
        if estimate is None:
            return self.offer(self.rules.going_dark(info, None, now, lead=lead))
        return self.offer(
            self.rules.going_dark(
                info,
                estimate.dark_at,
                now,
                lead=lead,
                notes=lambda: dark_notes(estimate, now, timezone, behind()),
            )
        )

    def restore(self, announced: Mapping[str, tuple[EventKind, float]]) -> list[Alert]:
        """After a start: the alerts of targets announced down before, with their start."""
        out: list[Alert] = []
        for name, (kind, at) in announced.items():
            info = self.targets.get(name)
            if info is not None:
                out += self.offer(self.rules.state_event(kind, info, at))
        return out

    def annotate(self, target: str, alertname: str, annotations: Mapping[str, str]) -> list[Alert]:
        """Add ``annotations`` to the target's firing ``alertname`` if it was not passed on yet.

        How the path diagnosis joins a TargetDown page held for it (the page
        waits at most ``[path_diagnosis] page_wait``); returns what may go now.
        An alert already passed on keeps what it said (the outbox has it).
        """
        for fp, alert in list(self.rules.active.items()):
            if alert.target != target or alert.name != alertname or fp in self.gate.notified:
                continue
            updated = replace(alert, annotations={**alert.annotations, **annotations})
            self.rules.active[fp] = updated
            if fp in self.gate.held:
                self.gate.held[fp] = updated
        return self.gate.release(self.wall(), self.mute)

    def tick(self) -> list[Alert]:
        """Point alerts that resolve now, and held alerts whose mute ended."""
        now = self.wall()
        return self.offer(self.rules.sweep(now)) + self.gate.release(now, self.mute)

    def offer(self, alerts: list[Alert]) -> list[Alert]:
        return self.gate.offer(alerts, self.wall(), self.mute) if alerts else []
