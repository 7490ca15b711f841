"""One result's way through the daemon: state step, series, history, alerts.

The scheduler hands every probe result to :meth:`Pipeline.on_result`; traps
and other listeners hand their events to :meth:`Pipeline.probe_event`;
maintenance windows that open or close arrive through
:meth:`Pipeline.set_maintenance`. The pipeline owns the live target states
(never the config objects), runs the pure state step, and fans what changed
out to its consumers, each behind a narrow interface so that a harness can
drive the same code with a fake clock and fake probes:

- the exporter (series of the result and of changed states),
- the history (:class:`HistorySink`: outages, state changes, events),
- the alerts (:class:`AlertSink`: announced events, device events, values),
- the scheduler (:class:`SchedulerHooks`: re-check now, poll fast or not).

Events are dispatched by their typed :class:`~monitor.engine.state.EventKind`,
never by string prefixes. What people are told is decided by
:class:`monitor.engine.policy.Policy`, which every consumer reads.

Polling rule (the documented debounce): a check whose latest run failed, or
that is not hard UP yet, runs every ``down_interval`` until it is settled UP
again (``rise`` successes), so both a DOWN and a recovery are confirmed at the
fast interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Protocol

from monitor.contract import ProbeEvent, ProbeResult
from monitor.engine.config import Config, Target
from monitor.engine.exporter import Exporter
from monitor.engine.policy import Policy
from monitor.engine.state import (
    Changes,
    CheckPolicy,
    Event,
    EventKind,
    Health,
    TargetState,
    Topology,
    World,
    prune,
    set_maintenance,
    step,
)
from probes.neterrors import LOCAL_RESOURCES

log = logging.getLogger(__name__)
_UP: Final = Health.UP  # a module name: ``Health.UP`` is 10 times dearer on 3.11 (state.py)

DEGRADED_CLEAR_AFTER = 60.0
"""Seconds without a ``local_resources`` result before MonitorDegraded resolves."""


class SchedulerHooks(Protocol):
    """What the pipeline asks of the scheduler."""

    def trigger(self, target: str) -> int: ...

    def set_fast(self, key: tuple[str, str], fast: bool) -> None: ...


class AlertSink(Protocol):
    """What the pipeline tells the alerting side."""

    def state_event(self, event: Event, policy: Policy) -> None: ...

    def device_event(self, target: str, event: ProbeEvent) -> None: ...

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None: ...

    def state_changed(self, state: TargetState, policy: Policy) -> None: ...


class PathSink(Protocol):
    """What the pipeline tells the path diagnosis (``monitor.path_watch``)."""

    def state_event(self, event: Event, policy: Policy) -> None: ...


class HistorySink(Protocol):
    """The parts of :class:`monitor.history.store.Store` the pipeline writes to."""

    def first_observed(self, target: str, at: float) -> None: ...

    def outage_started(
        self,
        target: str,
        check: str | None,
        start: float,
        *,
        cause: str,
        reason: str,
        message: str,
    ) -> bool: ...

    def outage_ended(self, target: str, end: float) -> bool: ...

    def state_changed(self, target: str, health: str, since: float | None) -> None: ...

    def record_event(
        self, kind: str, target: str, at: float, check: str | None, detail: str
    ) -> None: ...

    def isolation(self, start: float, end: float | None) -> None: ...

    def reconcile(self, target: str, health: str) -> object | None: ...


def policies_for(
    target: Target,
    shared: dict[tuple[tuple[str, int, int, bool], ...], Mapping[str, CheckPolicy]] | None = None,
) -> Mapping[str, CheckPolicy]:
    """A target's check policies by kind; with ``shared``, one read-only mapping per
    distinct set (thousands of targets share a few: 240 bytes each otherwise)."""
    key = tuple(
        (c.kind, c.settings.fall, c.settings.rise, c.settings.critical) for c in target.checks
    )
    if shared is not None and key in shared:
        return shared[key]
    policies = MappingProxyType(
        {kind: CheckPolicy(fall=fall, rise=rise, critical=crit) for kind, fall, rise, crit in key}
    )
    if shared is not None:
        shared[key] = policies
    return policies


def topology_for(config: Config) -> Topology:
    monitor = config.monitor
    return Topology.build(
        {t.name: t.parents for t in config.targets},
        canaries=monitor.canaries,
        isolation_ratio=monitor.isolation_ratio,
        isolation_min_targets=monitor.isolation_min_targets,
        isolation_min_failing=monitor.isolation_min_failing,
        isolation_require_ratio=monitor.isolation_require_ratio,
        flap_high=monitor.flap_high,
        flap_low=monitor.flap_low,
    )


CONFIGURE_SLICE = 500
"""Targets adopted per slice of a (re)configuration: a few ms of loop time each."""
DIFF_SLICE = 128
"""Targets compared between two pauses of a diff made in a thread."""


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """What a new config changes for the pipeline.

    Pure and computed from immutable configs, so a reload builds it off the
    event loop; the loop then adopts only what changed.
    """

    removed: tuple[str, ...]
    changed: tuple[Target, ...]  # new targets and targets whose definition changed
    policies: dict[str, Mapping[str, CheckPolicy]]  # of the changed targets
    topology: Topology


def diff_config(
    old: Iterable[Target], config: Config, pause: Callable[[], None] | None = None
) -> ConfigDiff:
    """Compare the running targets with ``config``'s (unchanged targets cost one ``==``,
    or an ``is`` when the loader's memo handed the same object over). ``pause`` is
    called between slices when a thread computes this beside the event loop."""
    before = {t.name: t for t in old}
    names = {t.name for t in config.targets}
    changed_list: list[Target] = []
    for index, target in enumerate(config.targets):
        if pause is not None and not index % DIFF_SLICE:
            pause()
        was = before.get(target.name)
        if was is not target and was != target:
            changed_list.append(target)
    changed = tuple(changed_list)
    shared: dict[tuple[tuple[str, int, int, bool], ...], Mapping[str, CheckPolicy]] = {}
    return ConfigDiff(
        removed=tuple(name for name in before if name not in names),
        changed=changed,
        policies={t.name: policies_for(t, shared) for t in changed},
        topology=topology_for(config),
    )


class Pipeline:
    """Live target states and the fan-out of every change."""

    def __init__(
        self,
        *,
        wall: Callable[[], float],
        exporter: Exporter | None = None,
        history: HistorySink | None = None,
        alerts: AlertSink | None = None,
        scheduler: SchedulerHooks | None = None,
        figures: Callable[[str], None] | None = None,
        paths: PathSink | None = None,
    ) -> None:
        self.wall = wall
        self.paths = paths  # told of announced events before the alerts (a page may wait)
        self.exporter = exporter
        self.history = history
        self.alerts = alerts
        self.scheduler = scheduler
        self.figures = figures  # refresh a target's availability after its outage moved
        self.states: dict[str, TargetState] = {}
        self.world = World()
        self.topology = Topology()
        self.policies: dict[str, Mapping[str, CheckPolicy]] = {}
        self.maintenance: dict[str, str] = {}  # target -> whose window covers it
        self.unreconciled: set[str] = set()  # open outages of a previous run, undecided
        self._observed: set[str] = set()
        self._isolated_at: float | None = None
        self._degraded_seen: float | None = None
        self._targets: tuple[Target, ...] = ()

    # -- configuration -----------------------------------------------------------

    def configure(self, config: Config, seed: Callable[[str], TargetState]) -> None:
        """Adopt a (new) config: keep unchanged targets' states, seed new ones."""
        for _ in self.configure_steps(config, diff_config(self._targets, config), seed):
            pass

    def configure_steps(
        self, config: Config, diff: ConfigDiff, seed: Callable[[str], TargetState]
    ) -> Iterator[None]:
        """:meth:`configure` in slices: the caller lets the loop run at each ``yield``.

        Between slices some changed targets have their new definition and some
        their old one (a result for a target not adopted yet is dropped, as
        for a target a reload removes); the topology and world switch at the end.
        """
        for name in diff.removed:
            self.states.pop(name, None)
            self.policies.pop(name, None)
            self.maintenance.pop(name, None)
            if self.exporter is not None:
                self.exporter.remove_target(name)
        for done, target in enumerate(diff.changed, 1):
            name = target.name
            policies = diff.policies[name]
            self.policies[name] = policies
            if self.exporter is not None:
                self.exporter.set_target(name, target.labels)
            state = prune(
                self.states.get(name) or seed(name), {c.kind for c in target.checks}, policies
            )
            self.states[name] = state
            if self.exporter is not None:
                self.exporter.target_state(state)
            if done % CONFIGURE_SLICE == 0:
                yield
        self._targets = config.targets
        self.topology = diff.topology
        failing = sum(1 for s in self.states.values() if s.failing)
        self.world = World(
            self.world.isolated, self.world.isolated_since, failing, len(config.targets)
        )

    def policy(self) -> Policy:
        """The suppression policy over the states as they are now."""
        return Policy(self.states, self.topology, self.world, self.maintenance)

    # -- inputs ----------------------------------------------------------------

    def on_result(self, name: str, kind: str, result: ProbeResult) -> None:
        """The one path every result takes: state, then series, then events."""
        state = self.states.get(name)
        if state is None:  # target removed by a reload while its run was in flight
            return
        if result.reason == LOCAL_RESOURCES:
            self._degraded(name, kind, result)
            return
        if name not in self._observed and self.history is not None:
            self._observed.add(name)
            self.history.first_observed(name, result.started)
        changes = step(
            self.states,
            self.world,
            self.topology,
            name,
            check=kind,
            result=result,
            now=self.wall(),
            policies=self.policies[name],
            maintenance=state.maintenance,
        )
        if self.exporter is not None:
            self.exporter.check_result(name, kind, result)
        self.apply(changes)
        if self.alerts is not None:
            self.alerts.check_result(name, kind, result)
        if self.scheduler is not None:
            check = self.states[name].checks.get(kind)
            settled_up = check is not None and check.hard is _UP
            self.scheduler.set_fast((name, kind), not result.ok or not settled_up)
        for probe_event in result.events:
            self.probe_event(name, probe_event)

    def probe_event(self, name: str, event: ProbeEvent) -> None:
        """A device-level event (reboot, interface, power, certificate) of a target."""
        labels = ",".join(f"{k}={v}" for k, v in event.labels)
        log.info("%s %s%s: %s", name, event.kind, f" [{labels}]" if labels else "", event.message)
        if self.history is not None:
            self.history.record_event(event.kind, name, self.wall(), None, event.message or labels)
        if self.alerts is not None:
            self.alerts.device_event(name, event)

    def set_maintenance(self, flips: Iterable[tuple[str, bool, str]]) -> list[tuple[str, bool]]:
        """Open or close maintenance: (name, on, whose window) each; returns the flips done."""
        done = []
        for name, on, owner in flips:
            if name not in self.states:
                continue
            flipped = self.states[name].maintenance != on
            if on:
                self.maintenance[name] = owner
            else:
                self.maintenance.pop(name, None)
            if not flipped:
                continue  # only whose window covers it changed
            now = self.wall()
            self.apply(
                set_maintenance(self.states, self.world, self.topology, name, on=on, now=now)
            )
            done.append((name, on))
        return done

    def monitor_event(self, event: Event) -> None:
        """An event about the monitor or an SLO (no target state involved)."""
        log_event(event)
        self._record(event)
        if self.alerts is not None:
            self.alerts.state_event(event, self.policy())

    def tick(self) -> None:
        """Time-driven work: MonitorDegraded resolves after a quiet minute."""
        seen = self._degraded_seen
        if seen is not None and self.wall() - seen >= DEGRADED_CLEAR_AFTER:
            self._degraded_seen = None
            self.monitor_event(Event(EventKind.MONITOR_DEGRADED_ENDED, "", self.wall()))

    # -- fan-out -------------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        """Store a step's new states, then tell every consumer what changed."""
        changed = []
        for name, state in changes.states.items():
            old = self.states.get(name)
            self.states[name] = state
            if old is None or old.health is not state.health or old.since != state.since:
                changed.append(state)
            if name in self.unreconciled and state.own is Health.DOWN and self.history:
                self.unreconciled.discard(name)
                self.history.reconcile(name, Health.DOWN)  # the same outage row continues
        if changes.world is not None:
            self.world = changes.world
        if not changed and not changes.events and not changes.recheck:
            return  # the usual result: nothing moved
        policy = self.policy()
        for state in changed:
            if self.exporter is not None:
                self.exporter.target_state(state)
            if self.alerts is not None:
                self.alerts.state_changed(state, policy)
        for event in changes.events:
            log_event(event)
            self._record(event)
            self._announce(event, policy)
        if self.scheduler is not None:
            for name in changes.recheck:
                self.scheduler.trigger(name)

    def _announce(self, event: Event, policy: Policy) -> None:
        """Tell the path diagnosis, then the alerts (whose page may wait for the trace)."""
        family = event.kind.family
        if self.paths is not None and family == "target":
            self.paths.state_event(event, policy)
        if self.alerts is not None and family in ("target", "monitor"):
            self.alerts.state_event(event, policy)

    def _record(self, event: Event) -> None:
        """Write an event's consequences to the history and refresh the figures it moves."""
        history = self.history
        if history is None or event.kind.family == "check":
            return
        name, kind = event.target, event.kind
        if kind is EventKind.OUTAGE_STARTED:
            history.outage_started(
                name, None, event.at, cause=event.cause, reason=event.reason, message=event.message
            )
        elif kind is EventKind.OUTAGE_ENDED:
            closed = None
            if name in self.unreconciled:
                self.unreconciled.discard(name)
                closed = history.reconcile(name, Health.UP)  # closed at the last observed time
            if closed is None:
                history.outage_ended(name, event.at)
        elif kind is EventKind.MONITOR_ISOLATED:
            self._isolated_at = event.at
            history.isolation(event.at, None)
        elif kind is EventKind.MONITOR_ISOLATION_ENDED and self._isolated_at is not None:
            history.isolation(self._isolated_at, event.at)
            self._isolated_at = None
        elif kind.family == "target":
            history.state_changed(name, kind.removeprefix("target_"), event.at)
        if kind.family in ("target", "monitor", "slo"):
            history.record_event(kind, name, event.at, event.check, event.message or event.cause)
        if name in self.states and kind.family == "outage" and self.figures is not None:
            self.figures(name)

    def _degraded(self, name: str, kind: str, result: ProbeResult) -> None:
        """The monitor could not run a check (no sockets, no memory): not the target's fault.

        The target's state does not move (no outage, no page); the monitor
        raises MonitorDegraded once and resolves it after a quiet minute.
        """
        now = self.wall()
        first = self._degraded_seen is None
        self._degraded_seen = now
        if first:
            self.monitor_event(
                Event(
                    EventKind.MONITOR_DEGRADED,
                    "",
                    now,
                    check=kind,
                    reason=result.reason,
                    message=f"cannot run checks ({name} {kind}): {result.message}",
                )
            )


def log_event(event: Event) -> None:
    """One log line per event, at a level that says how much it matters."""
    kind = event.kind
    if kind.family == "check":
        level = logging.DEBUG  # the target's announcement says it for operators
    elif kind in _WARNINGS:
        level = logging.WARNING
    else:
        level = logging.INFO
    detail = f" cause={event.cause}" if event.cause else ""
    previous = f" (was {event.previous.value})" if event.previous is not Health.UNKNOWN else ""
    log.log(
        level,
        "%s %s%s%s%s: %s",
        event.target or "monitor",
        kind.value,
        f" [{event.check}]" if event.check else "",
        previous,
        detail,
        event.message or event.reason,
    )


_WARNINGS = frozenset(
    {
        EventKind.TARGET_DOWN,
        EventKind.TARGET_UNREACHABLE,
        EventKind.MONITOR_ISOLATED,
        EventKind.MONITOR_DEGRADED,
    }
)
