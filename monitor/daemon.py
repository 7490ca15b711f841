"""The running daemon: wires config, probers, scheduler, state, exporter and web.

It owns everything that lives for the process's lifetime and everything that
changes on reload. Runtime state (target states, open probers, the scheduler's
tasks) lives here, never on the frozen config objects, so a reload swaps the
config and keeps the state of targets that did not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import probes
from alerts.delivery import DeliverySetupError
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert
from alerts.mute import silences_for
from monitor.alerting import Alerting
from monitor.config_types import canonical_ipv4
from monitor.contract import (
    ListenerKind,
    ProbeContext,
    ProbeEvent,
    ProbeKind,
    Prober,
    ProbeResult,
    ProbeSetupError,
    ProbeTarget,
)
from monitor.dbfile import WriteMetrics
from monitor.dbfile import describe as describe_file_error
from monitor.engine.availability import Figures
from monitor.engine.coalesce import Coalesced
from monitor.engine.config import (
    Config,
    ConfigError,
    ConfigSchema,
    Target,
    load_config,
    split_host_port,
)
from monitor.engine.config_memo import TargetMemo
from monitor.engine.exporter import Exporter, Part, SelfMetrics
from monitor.engine.gcpolicy import GcPauses, GcPolicy
from monitor.engine.jobs import Job
from monitor.engine.pacing import PAUSE_EVERY, LoopPacer, loop_first
from monitor.engine.paths import Diagnosis
from monitor.engine.pipeline import ConfigDiff, Pipeline, diff_config
from monitor.engine.policy import Policy, ancestors
from monitor.engine.power import Estimate, PowerWatch, goes_dark_with
from monitor.engine.scheduler import JobPlan, Scheduler
from monitor.engine.shard import select
from monitor.engine.shard_spec import Shard, parse_shard
from monitor.engine.slo import pool, status
from monitor.engine.state import Event, EventKind, Health, TargetState
from monitor.engine.uptime import Buckets
from monitor.history.maintenance_book import MaintenanceBook
from monitor.history.store import FAMILIES as STORE_FAMILIES
from monitor.history.store import Store, StoreError, database_path
from monitor.history_service import MeasurementHistory
from monitor.path_watch import PathMetrics, PathWatch
from monitor.web.api import parse_rfc3339, rfc3339, target_view, targets_view
from monitor.web.api_body import BadRequest
from monitor.web.backend import ReloadFailure
from monitor.web.public_page import PublicServer
from monitor.web.security import AccessControl, tls_context
from monitor.web.server import WebServer
from probes.trace import PathTracer

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 4.0
MAINTENANCE_PERIOD = 5.0  # seconds between checks of maintenance windows
FIGURES_PERIOD = 15.0  # seconds to refresh every target's availability figures
FIGURES_SLICE = 250  # targets refreshed per loop turn at most
SLO_PERIOD = 30.0  # seconds between SLO evaluations
ALERTS_PERIOD = 1.0  # seconds between alert timers (point alerts, ended mutes)
FORGET_SLICE = 250
"""Removed targets the measurement history forgets per loop turn (each hands its open
buckets to the writer and drops its histogram slot, by key: tens of µs a target)."""


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that win over the config file."""

    listen: str | None = None
    state_dir: str | None = None
    shard: Shard | None = None


TargetJobs = Mapping[str, tuple[Job, ...]]
"""Scheduler jobs by target name (one per check of the target)."""


@dataclass(frozen=True)
class _Plan:
    """What applying a config changes, worked out from immutable configs (off the loop)."""

    config: Config
    pipeline: ConfigDiff
    jobs: JobPlan
    by_address: dict[str, list[str]]  # normalised address -> target names (traps)
    wanted: TargetJobs  # every job of ``config`` (the next reload's running jobs)


def _no_pause() -> None:
    pass


def plan_config(
    running: Config | None,
    config: Config,
    running_jobs: TargetJobs | None = None,
    pause: Callable[[], None] = _no_pause,
) -> _Plan:
    """Compare the running config with a new one: targets and jobs to adopt, stop, start.

    ``running_jobs`` are ``target_jobs(running)`` as the previous plan made them
    (computed again when not given: a second of CPU at 50,000 targets). A
    target that is the very object the running config holds (the loader's
    memo hands unchanged targets over) keeps its jobs and costs no comparison.
    ``pause`` is called between slices of the work (``monitor.engine.pacing``).
    """
    if running_jobs is None:
        running_jobs = target_jobs(running) if running is not None else {}
    by_address: dict[str, list[str]] = {}
    for index, target in enumerate(config.targets):
        if not index % PAUSE_EVERY:
            pause()
        by_address.setdefault(_normal_address(target.address), []).append(target.name)
    wanted = target_jobs(config, running, running_jobs, pause)
    diff = diff_config(running.targets if running is not None else (), config, pause)
    jobs = plan_target_jobs(running_jobs, wanted, pause)
    return _Plan(config, diff, jobs, by_address, wanted)


def plan_target_jobs(
    current: TargetJobs, wanted: TargetJobs, pause: Callable[[], None] = _no_pause
) -> JobPlan:
    """:func:`~monitor.engine.scheduler.plan_jobs` by target: a target whose jobs are
    the same tuple keeps them without comparing; the others' jobs are compared."""
    stop: list[tuple[str, str]] = []
    for index, (name, had) in enumerate(current.items()):
        if not index % PAUSE_EVERY:
            pause()
        wants = wanted.get(name)
        if wants is None:
            stop.extend(job.key for job in had)
        elif wants is not had:
            by_key = {job.key: job for job in wants}
            stop.extend(job.key for job in had if by_key.get(job.key) != job)
    start: list[Job] = []
    for index, (name, new) in enumerate(wanted.items()):
        if not index % PAUSE_EVERY:
            pause()
        old = current.get(name)
        if old is None:
            start.extend(new)
        elif new is not old:
            by_key = {job.key: job for job in old}
            start.extend(job for job in new if by_key.get(job.key) != job)
    return JobPlan(tuple(stop), tuple(start), sum(map(len, wanted.values())) - len(start))


class _Stopping(Exception):
    """Raised by the stop waiter to end the task group of periodic loops."""


class StartupError(Exception):
    """The daemon cannot start; the message is for the operator (no traceback)."""


async def collect_garbage_periodically(policy: GcPolicy, busy: Callable[[], bool]) -> None:
    """The collector's full collections on our schedule (:meth:`GcPolicy.periodic`),
    none while ``busy()``: a reload's new objects are frozen once it is adopted, and a
    pass meanwhile would walk them all (up to 0.1 s at 50,000 targets)."""
    while True:
        await asyncio.sleep(policy.period)
        if busy():
            continue
        if policy.periodic():
            log.info("garbage collection: the daily walk of every object (frozen cycles)")


def jobs_for(config: Config) -> list[Job]:
    """Every (target, check) pair of a config as scheduler jobs."""
    return [job for jobs in target_jobs(config).values() for job in jobs]


def target_jobs(
    config: Config,
    running: Config | None = None,
    running_jobs: TargetJobs | None = None,
    pause: Callable[[], None] = _no_pause,
) -> dict[str, tuple[Job, ...]]:
    """The jobs of every target of ``config``, by target name.

    A target that is the very object ``running`` holds, at the same depth,
    keeps its ``running_jobs`` (the same objects), so an unchanged target
    costs a lookup rather than new jobs to compare.
    """
    depths = dependency_depths({t.name: t.parents for t in config.targets}, pause)
    before = {t.name: t for t in running.targets} if running and running_jobs else {}
    old_jobs = running_jobs or {}
    out: dict[str, tuple[Job, ...]] = {}
    for index, target in enumerate(config.targets):
        if not index % PAUSE_EVERY:
            pause()
        depth = depths.get(target.name, 0)
        old = old_jobs.get(target.name) if before.get(target.name) is target else None
        if old is not None and all(job.depth == depth for job in old):
            out[target.name] = old
            continue
        probe_target = ProbeTarget(target.name, target.address)
        # A list, not a generator per target (a third of a start-up plan at 50,000).
        out[target.name] = tuple(
            [Job(probe_target, check.kind, check.settings, depth) for check in target.checks]
        )
    return out


def _shard_selection(config: Config, shard: Shard) -> Config:
    """This shard's part of ``config``, saying what the split cut."""
    selection = select(config, shard)
    log.info(
        "shard %s: %d of %d targets (canaries included)",
        shard,
        len(selection.config.targets),
        selection.total,
    )
    if selection.cut_links:
        child, parent = selection.cut_links[0]
        log.warning(
            "shard %s: %d parent links lead to other shards (e.g. %s -> %s); those children "
            "go DOWN rather than UNREACHABLE when that parent fails (give them one shard_key)",
            shard,
            len(selection.cut_links),
            child,
            parent,
        )
    return selection.config


def _normal_address(address: str) -> str:
    """An IP address in its canonical spelling (so ``::1`` matches ``0:0::1``); names as given."""
    if canonical_ipv4(address):
        return address  # the usual case, without building an ipaddress object
    try:
        return str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        return address.lower()


def dependency_depths(
    parents: Mapping[str, tuple[str, ...]], pause: Callable[[], None] = _no_pause
) -> dict[str, int]:
    """0 for targets without parents, else one more than their deepest parent.

    The config refuses cycles, so this terminates; iterative for deep chains.
    """
    depths: dict[str, int] = {}
    for index, root in enumerate(parents):
        if not index % PAUSE_EVERY:
            pause()
        stack = [root]
        while stack:
            name = stack[-1]
            pending = [p for p in parents.get(name, ()) if p not in depths and p in parents]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            depths[name] = 1 + max(
                (depths[p] for p in parents.get(name, ()) if p in depths), default=-1
            )
    return depths


class Daemon:
    """One monitoring process. ``await Daemon(...).run()`` until SIGTERM."""

    def __init__(
        self,
        config_path: Path,
        overrides: Overrides | None = None,
        *,
        kinds: Mapping[str, ProbeKind[Any]] | None = None,
        listeners: Mapping[str, ListenerKind] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.overrides = overrides or Overrides()
        self.kinds = kinds if kinds is not None else probes.KINDS
        self.listeners = listeners if listeners is not None else probes.LISTENERS
        self.schema = ConfigSchema(self.kinds, self.listeners)  # model classes built once
        # The running config's targets by their inputs: a reload validates only what changed.
        self._memo: TargetMemo[Target] = TargetMemo()
        self.wall = wall
        self.self_metrics = SelfMetrics()
        self.gc = GcPolicy()
        self.gc_pauses = GcPauses()
        self.self_metrics.registry.register(self.gc_pauses)
        self.exporter = Exporter(
            [
                *STORE_FAMILIES,
                *(f for k in self.kinds.values() for f in k.families),
                *(f for spec in self.listeners.values() for f in spec.families),
            ],
            self.self_metrics,
        )
        self.config: Config | None = None
        self.pipeline = Pipeline(wall=wall, exporter=self.exporter, figures=self._refresh_figures)
        self._by_address: dict[str, list[str]] = {}
        self.paths = PathWatch(
            wall=wall,
            names=self._target_names,
            states=self.pipeline.states,
            on_diagnosis=self._path_diagnosed,
        )
        self.pipeline.paths = self.paths
        self.self_metrics.registry.register(PathMetrics(self.paths))
        self.probers: dict[str, Prober[Any]] = {}
        self._prober_stacks: dict[str, tuple[contextlib.AsyncExitStack, dict[str, Any]]] = {}
        self._listener_stacks: dict[str, tuple[contextlib.AsyncExitStack, Any]] = {}
        self._exit = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reloads = Coalesced(self._reload_now)  # SIGHUP storms: one more, not six
        self.scheduler: Scheduler | None = None
        self._jobs: TargetJobs = {}  # of the running config, as its plan made them
        self.store: Store | None = None
        self.history: MeasurementHistory | None = None
        self.alerting: Alerting | None = None
        self.access: AccessControl | None = None
        self.write_metrics = WriteMetrics()
        self.self_metrics.registry.register(self.write_metrics)
        self.delivery_metrics = DeliveryMetrics(wall, writes=self.write_metrics)
        self.self_metrics.registry.register(self.delivery_metrics)
        self.maintenance: MaintenanceBook | None = None
        self.power = PowerWatch()  # UPS discharge trends: runtime state, kept across reloads
        self._slo_alerts: dict[str, tuple[bool, bool]] = {}
        self.ready = False
        self._reload_failure: ReloadFailure | None = None

    # -- configuration -----------------------------------------------------

    def load(self, pause: Callable[[], None] | None = None) -> Config:
        """The config file as this daemon runs it, at start and at every reload: the
        command-line overrides applied and only this shard's targets kept."""
        config = load_config(self.config_path, schema=self.schema, memo=self._memo, pause=pause)
        monitor = config.monitor
        if self.overrides.listen:
            monitor = monitor.model_copy(update={"listen": self.overrides.listen})
        if self.overrides.state_dir:
            monitor = monitor.model_copy(update={"state_dir": self.overrides.state_dir})
        config = replace(config, monitor=monitor)
        # Here rather than at start, so that every reload keeps only this shard's targets.
        shard = self.overrides.shard or (parse_shard(monitor.shard) if monitor.shard else None)
        return config if shard is None else _shard_selection(config, shard)

    def _load_plan(self, pause: Callable[[], None]) -> _Plan:
        """Load the config file and compare it with the running one (in a thread)."""
        return plan_config(self.config, self.load(pause), self._jobs, pause)

    async def _load_plan_beside_loop(self) -> _Plan:
        """:meth:`_load_plan` in a thread that steps back whenever the loop is busy."""
        pacer = LoopPacer()
        beating = asyncio.create_task(pacer.heartbeat())
        try:
            with loop_first():
                plan = await asyncio.to_thread(self._load_plan, pacer.pause)
        finally:
            beating.cancel()
        log.info(
            "config read: %d targets, %d validated, %d as in the last load; "
            "the loader gave the loop %.2f s",
            len(plan.config.targets),
            self._memo.validated,
            self._memo.reused,
            pacer.paused,
        )
        return plan

    async def _open_probers(self, config: Config) -> None:
        """Open the prober of every kind the config uses.

        A kind whose config sections changed is reopened; the new prober is
        opened before the old one is closed, so a failure keeps the old one.
        """
        for kind in sorted({c.kind for t in config.targets for c in t.checks}):
            spec = self.kinds[kind]
            sections = {name: config.sections.get(name) for name in spec.sections}
            current = self._prober_stacks.get(kind)
            if current is not None and current[1] == sections:
                continue
            stack = contextlib.AsyncExitStack()
            context = ProbeContext(sections=sections, instance=config.monitor.instance)
            try:
                prober = await stack.enter_async_context(spec.open(context))
            except BaseException:
                await stack.aclose()
                raise
            if current is not None:
                await current[0].aclose()
            self._prober_stacks[kind] = (stack, sections)
            self.probers[kind] = prober
        if self.scheduler is not None:
            self.scheduler.set_probers(self.probers)

    async def _open_listeners(self, config: Config) -> None:
        """Open listeners (traps) whose section is configured; reopen on change, close if gone."""
        for name, spec in self.listeners.items():
            section = config.sections.get(spec.section)
            current = self._listener_stacks.get(name)
            if current is not None and current[1] == section:
                continue
            if current is not None:
                await current[0].aclose()
                del self._listener_stacks[name]
            if section is None:
                continue
            stack = contextlib.AsyncExitStack()
            context = ProbeContext(
                sections={spec.section: section},
                instance=config.monitor.instance,
                emit=functools.partial(self._emitted_by, name),
            )
            try:
                listener = await stack.enter_async_context(spec.open(context))
            except BaseException:
                await stack.aclose()
                raise
            # Its own counters (traps by result), in the families its kind declares.
            self.exporter.add_listener(name, listener)
            stack.callback(self.exporter.remove_listener, name)
            self._listener_stacks[name] = (stack, section)

    async def _close_listeners(self) -> None:
        for stack, _ in self._listener_stacks.values():
            await stack.aclose()
        self._listener_stacks.clear()

    def _emitted_by(self, listener: str, agent: str, event: ProbeEvent) -> None:
        if not self._by_address.get(_normal_address(agent)):
            self.self_metrics.runs.count_unmatched(listener)
        self.emitted(agent, event)

    def emitted(self, agent: str, event: ProbeEvent) -> None:
        """An event that arrived between runs (a trap): its target learns of it now."""
        targets = self._by_address.get(_normal_address(agent), ())
        if not targets:
            log.debug("event %s from %s matches no target", event.kind, agent)
            return
        for name in targets:
            self.pipeline.probe_event(name, event)
            if self.scheduler is not None:
                self.scheduler.trigger(name)  # confirm by polling now, not at the next interval

    async def _close_probers(self) -> None:
        for stack, _ in self._prober_stacks.values():
            await stack.aclose()
        self._prober_stacks.clear()
        self.probers.clear()

    async def _apply(self, plan: _Plan) -> tuple[int, int, int]:
        """Make the running daemon match ``plan.config``; keeps unchanged targets' state.

        Only what changed is touched, in slices with a loop turn between them,
        so that adopting fifty thousand targets never stalls probing.
        """
        config = plan.config
        for slo in self.config.slos if self.config else ():
            if slo.name not in {s.name for s in config.slos}:
                self.exporter.remove_slo(slo.name)
                self._slo_alerts.pop(slo.name, None)
        for _ in self.pipeline.configure_steps(config, plan.pipeline, self._seed):
            await asyncio.sleep(0)
        if self.history is not None:
            removed = plan.pipeline.removed
            for start in range(0, len(removed), FORGET_SLICE):
                # Forgetting hands open minute buckets to the writer: a few
                # targets per loop turn, so 1,000 removed never hold the loop.
                self.history.forget(removed[start : start + FORGET_SLICE])
                await asyncio.sleep(0)
            self.history.keep((t.name, (c.kind for c in t.checks)) for t in plan.pipeline.changed)
        self.config = config
        await asyncio.sleep(0)
        if self.maintenance is not None:
            self.maintenance.configure(config)
        for spec in self.kinds.values():
            self.exporter.declare(spec.section_families(config.sections))
        self._by_address = plan.by_address
        self.power.keep(t.name for t in config.targets)
        tracers = {k: p for k, p in self.probers.items() if isinstance(p, PathTracer)}
        diff = plan.pipeline
        for _ in self.paths.configure_steps(config, tracers, diff.changed, diff.removed):
            await asyncio.sleep(0)
        self.self_metrics.targets.set(len(config.targets))
        assert self.scheduler is not None
        for _ in self.scheduler.sync_steps(plan.jobs):
            await asyncio.sleep(0)
        self._jobs = plan.wanted
        return len(plan.jobs.start), len(plan.jobs.stop), plan.jobs.kept

    async def _apply_alerting(
        self,
        config: Config,
        changed: Iterable[Target] | None = None,
        removed: Iterable[str] | None = None,
    ) -> None:
        if self.alerting is None:
            return
        try:
            await self.alerting.apply(config, changed, removed)
        except DeliverySetupError as exc:
            raise StartupError(f"cannot start alert delivery: {exc}") from None

    def _mute_reason(self, alert: Alert) -> str | None:
        """Why an alert is held back now: the suppression policy over the tree, or
        (for at most ``[path_diagnosis] page_wait``) the trace its page waits for."""
        return self.pipeline.policy().alert_mute(alert.name, alert.target) or self.paths.holding(
            alert
        )

    def _target_names(self, address: str) -> list[str]:
        """The configured targets at an address (how a trace's hops are named)."""
        return self._by_address.get(_normal_address(address), [])

    def _path_diagnosed(self, name: str, diagnosis: Diagnosis) -> None:
        """A root cause's outage trace ended: the outage row, the page and the log say it."""
        log.warning("%s: %s", name, diagnosis.text)
        if self.store is not None:
            self.store.outage_path(name, diagnosis.text)
        if self.alerting is not None:
            self.alerting.annotate(name, "TargetDown", {"path": diagnosis.text})

    async def _alerts_loop(self) -> None:
        while True:
            await asyncio.sleep(ALERTS_PERIOD)
            self.pipeline.tick()
            if self.alerting is not None:
                self.alerting.tick()
            for name, estimate in self.power.on_battery().items():
                self._going_dark(name, estimate)  # time moves the prediction closer

    def _seed(self, name: str) -> TargetState:
        """A target's state at start: what the previous run announced, and its open outage."""
        if self.store is None:
            return TargetState(name)
        persisted = self.store.snapshot.target_states.get(name)
        outage = self.store.snapshot.open_outages.get(name)
        announced = Health.UNKNOWN
        if persisted is not None and persisted.health in Health.__members__.values():
            announced = Health(persisted.health)
        return TargetState(
            name,
            announced=announced,
            announced_since=persisted.since if persisted else None,
            outage_start=outage.start if outage else None,
            outage_cause=outage.cause if outage else None,
        )

    async def reload(self) -> tuple[bool, str]:
        """Validate and apply the config file again; keep the old one on failure.

        A reload requested while one runs is merged with any others into one
        more run; every caller gets the result of the run covering its request.
        """
        return await self._reloads()

    async def _reload_now(self) -> tuple[bool, str]:
        async with self._reload_lock:  # runs are already one at a time; kept for direct calls
            try:
                # Reading and validating thousands of targets takes most of a second:
                # in a thread, the loop keeps probing meanwhile (it gets the GIL back
                # every few milliseconds instead of waiting for the whole load).
                plan = await self._load_plan_beside_loop()
                config = plan.config
                await self._open_probers(config)
                await self._open_listeners(config)
            except (ConfigError, ProbeSetupError, OSError) as exc:
                self.self_metrics.reload_ok.set(0)
                self._reload_failure = ReloadFailure(self.wall(), tuple(str(exc).splitlines()))
                log.error("reload rejected, keeping the running config:\n%s", exc)
                return False, str(exc)
            assert self.config is not None
            if config.monitor.listen != self.config.monitor.listen:
                log.warning("monitor.listen changed; it takes effect at the next restart")
            tls = (config.web.tls_cert_file, config.web.tls_key_file)
            if tls != (self.config.web.tls_cert_file, self.config.web.tls_key_file):
                log.warning("[web] TLS files changed; they take effect at the next restart")
            if self.access is not None:
                self.access.update(config.web)
            started, stopped, kept = await self._apply(plan)
            await asyncio.sleep(0)  # each step of a large reload in its own loop turn
            await self._apply_alerting(config, plan.pipeline.changed, plan.pipeline.removed)
            # No collection here (it would stall the loop for a long moment at ten
            # thousand targets): the replaced config is freed by reference counting
            # (nothing a load makes may sit in a reference cycle: the config's model
            # classes are built once, in self.schema); the new objects are only moved
            # out of the collector's way.
            self.gc.adopted()
            self.self_metrics.reload_ok.set(1)
            self.self_metrics.reload_time.set(self.wall())
            self._reload_failure = None
            message = (
                f"reloaded: {len(config.targets)} targets; "
                f"checks started {started}, stopped {stopped}, kept {kept}"
            )
            log.info("%s", message)
            return True, message

    # -- results -----------------------------------------------------------

    def on_result(self, job: Job, result: ProbeResult) -> None:
        """The scheduler's callback: every result goes through the pipeline."""
        name, kind = job.target.name, job.kind
        pipeline = self.pipeline
        pipeline.on_result(name, kind, result)
        if name not in pipeline.states:
            return  # removed by a reload while its run was in flight
        if self.history is not None:
            self.history.record(name, kind, result)
        if result.values and self.power.observe(name, result.started, result.values):
            self._power_changed(name)

    def _power_changed(self, name: str) -> None:
        """A UPS poll moved the target's time-to-dark: its series and SiteGoingDark follow."""
        estimate = self.power.estimate(name)
        if estimate is None:
            self.exporter.predicted_dark(name, None)
        else:
            self.exporter.predicted_dark(name, estimate.dark_at, estimate.method)
        self._going_dark(name, estimate)

    def _going_dark(self, name: str, estimate: Estimate | None) -> None:
        if self.alerting is None or self.config is None:
            return
        topology = self.pipeline.topology
        self.alerting.going_dark(
            name,
            estimate,
            lead=self.config.alerts.going_dark_lead,
            timezone=self.config.monitor.timezone,
            behind=lambda: goes_dark_with(name, topology.parents, topology.children),
        )

    def power_board(self) -> dict[str, Estimate | None]:
        """Every UPS target on battery with its prediction (the status page's power board)."""
        return self.power.on_battery()

    def check_maintenance(self) -> None:
        """Open and close maintenance windows whose time has come (time-driven)."""
        if self.maintenance is None:
            return
        covering = self.maintenance.covering(self.pipeline.topology)
        current = self.pipeline.maintenance
        flips = [
            (name, True, owner) for name, owner in covering.items() if current.get(name) != owner
        ]
        flips += [(name, False, name) for name in current if name not in covering]
        for name, on in self.pipeline.set_maintenance(flips):
            self.maintenance.record(name, on, self.wall())

    async def _maintenance_loop(self) -> None:
        while True:
            self.check_maintenance()
            await asyncio.sleep(MAINTENANCE_PERIOD)

    def _refresh_figures(self, name: str) -> None:
        if self.store is not None:
            self.exporter.figures(name, self.store.figures(name, self.wall()))

    def evaluate_slos(self) -> None:
        """Budgets and burn rates of every SLO; burn alerts as events on each change."""
        if self.config is None or self.store is None:
            return
        now = self.wall()
        for slo in self.config.slos:
            members = [t.name for t in self.config.targets if slo.selects(t.name, t.labels)]
            windows = slo.windows()
            pooled = pool(self.store.window_sums(name, now, windows) for name in members)
            current = status(slo, pooled)
            self.exporter.slo(slo.name, slo.objective, current)
            before = self._slo_alerts.get(slo.name, (False, False))
            for speed, was, now_on in (
                ("fast", before[0], current.fast),
                ("slow", before[1], current.slow),
            ):
                if was != now_on:
                    kind = f"slo_burn_{speed}" + ("" if now_on else "_ended")
                    rate = current.burn.get("1h" if speed == "fast" else "6h")
                    event = Event(
                        EventKind(kind),
                        "",
                        now,
                        cause=f"slo:{slo.name}",
                        message=f"SLO {slo.name}: burn rate {rate or 0:.1f}",
                    )
                    self.pipeline.monitor_event(event)
            self._slo_alerts[slo.name] = (current.fast, current.slow)

    async def _slo_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.monitor.slo_interval if self.config else SLO_PERIOD)
            self.evaluate_slos()

    async def _figures_loop(self) -> None:
        """Refresh every target's figures once per period, a slice at a time.

        Availability moves with time even when nothing happens; slices of at
        most :data:`FIGURES_SLICE` targets keep each loop turn short (a slice
        per second was 3,000 targets and a third of a second at 50,000).
        """
        while True:
            names = list(self.pipeline.states)
            slices = max(int(FIGURES_PERIOD), -(-len(names) // FIGURES_SLICE))
            size = max(1, -(-len(names) // slices))
            for start in range(0, max(len(names), 1), size):
                store, now = self.store, self.wall()
                for name in names[start : start + size]:
                    if store is not None and name in self.pipeline.states:
                        self.exporter.figures(name, store.figures(name, now))
                await asyncio.sleep(FIGURES_PERIOD / slices)

    # -- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Start everything, serve until SIGTERM/SIGINT, shut down cleanly."""
        try:
            config = self.load()
        except ConfigError as exc:
            raise StartupError(f"invalid configuration {self.config_path}:\n{exc}") from None
        try:
            async with self._exit:
                await self._start(config)
                try:
                    async with asyncio.TaskGroup() as loops:
                        for name, loop in self._loops():
                            loops.create_task(loop, name=name)
                        loops.create_task(self._until_stopped(), name="stop")
                except* _Stopping:
                    pass
                except* Exception as failed:
                    # A periodic loop that raises is a bug: stop the daemon loudly (the
                    # service manager restarts it) rather than limp on without it.
                    for error in failed.exceptions:
                        log.critical("a periodic task failed; stopping", exc_info=error)
                    await self._shutdown()
                    raise
                log.info("shutting down")
                await self._shutdown()
        finally:
            self.ready = False

    def _loops(self) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """The daemon's periodic work, run together in one task group."""
        return [
            ("maintenance", self._maintenance_loop()),
            ("figures", self._figures_loop()),
            ("slo", self._slo_loop()),
            ("alerts", self._alerts_loop()),
            ("paths", self.paths.run()),
            ("gc", collect_garbage_periodically(self.gc, self._reload_lock.locked)),
            *([("history", self.history.sweep_loop())] if self.history is not None else []),
        ]

    async def _until_stopped(self) -> None:
        await self._stop.wait()
        raise _Stopping

    async def _open_store(self, config: Config) -> Store:
        state_dir = config.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            store = Store(
                database_path(state_dir),
                clock=self.wall,
                retention_days=max(1, round(config.monitor.retention / 86400)),
                count_maintenance=config.monitor.count_maintenance,
                metrics=self.write_metrics,
                buckets=(int(config.history.fine_bucket), int(config.history.coarse_bucket)),
                bucket_retention=(config.history.fine_retention, config.history.coarse_retention),
            )
            return await self._exit.enter_async_context(store)
        except OSError as exc:
            raise StartupError(describe_file_error(state_dir, exc)) from None
        except StoreError as exc:  # one line naming the file, what is wrong, what to do
            raise StartupError(str(exc)) from None

    async def _start(self, config: Config) -> None:
        self.store = await self._open_store(config)
        self.history = MeasurementHistory(
            self.store, config.history, self.exporter.store, self.wall
        )
        self._exit.callback(self.history.close)  # before the store closes (LIFO)
        self.maintenance = MaintenanceBook(self.store, self.wall)
        await self.maintenance.load()
        self.alerting = Alerting(
            store=self.store,
            database=config.state_dir / "outbox.sqlite3",
            wall=self.wall,
            metrics=self.delivery_metrics,
            mute_context=self._mute_reason,
        )
        self._exit.push_async_callback(self.alerting.close)
        await self.alerting.recall(config)  # before any probe: their events find them firing
        self.pipeline.history = self.store
        self.pipeline.alerts = self.alerting
        self.pipeline.unreconciled = set(self.store.snapshot.open_outages)
        self._exit.push_async_callback(self._close_probers)
        self._exit.push_async_callback(self._close_listeners)
        self._exit.push_async_callback(self.paths.close)  # before the probers close
        try:
            await self._open_probers(config)
            await self._open_listeners(config)
        except ProbeSetupError as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            raise StartupError(f"cannot start a listener: {exc.strerror or exc}") from None
        self.scheduler = Scheduler(
            self.probers,
            self.on_result,
            self.self_metrics,
            max_concurrency=config.monitor.max_concurrency,
            kind_concurrency=config.monitor.kind_concurrency,
        )
        self.pipeline.scheduler = self.scheduler
        host, port = split_host_port(config.monitor.listen)
        self.access = AccessControl(config.web)
        self.web = WebServer(self, self.access)
        try:
            await self.web.start(host, port, tls_context(config.web))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {config.monitor.listen}: {exc.strerror or exc}"
            ) from None
        self._exit.push_async_callback(self.web.stop)
        await self._start_public(config)
        self._install_signals()
        started, _, _ = await self._apply(plan_config(None, config))
        await self._apply_alerting(config)
        await self.alerting.restore(self.pipeline.states)
        self._exit.callback(self.gc_pauses.install())
        self.gc.settle()
        self.self_metrics.reload_ok.set(1)
        self.self_metrics.reload_time.set(self.wall())
        self.ready = True
        log.info(
            "continuity-monitor %s: %d targets, %d checks, listening on %s",
            config.monitor.instance,
            len(config.targets),
            started,
            config.monitor.listen,
        )

    async def _start_public(self, config: Config) -> None:
        """The optional public page on its own listener (``[public]``; a restart moves it)."""
        if config.public is None:
            return
        host, port = split_host_port(config.public.listen)
        public = PublicServer(self)
        try:
            await public.start(host, port)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {config.public.listen} ([public]): {exc.strerror or exc}"
            ) from None
        self._exit.push_async_callback(public.stop)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        self._exit.callback(loop.remove_signal_handler, signal.SIGTERM)
        self._exit.callback(loop.remove_signal_handler, signal.SIGINT)
        self._exit.callback(loop.remove_signal_handler, signal.SIGHUP)

    def _reload_soon(self) -> None:
        self._background = self._reloads.request()  # keep a reference until it finishes

    def stop(self) -> None:
        """Ask the daemon to shut down (signal handlers, tests)."""
        self._stop.set()

    async def _shutdown(self) -> None:
        self.ready = False
        if self.scheduler is not None:
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await self.scheduler.stop()
            except TimeoutError:
                log.warning("some checks did not stop within %.0f s", SHUTDOWN_TIMEOUT)

    # -- what the web layer asks -------------------------------------------

    def metrics(self) -> list[Part]:
        return self.exporter.render_parts()

    def api_targets(self) -> dict[str, Any]:
        assert self.config is not None
        return targets_view(self.config, self.pipeline.policy())

    def api_target(self, name: str) -> dict[str, Any] | None:
        target = self.config.target(name) if self.config is not None else None
        if target is None or name not in self.pipeline.states:
            return None
        return {**target_view(target, self.pipeline.policy()), "path": self.paths.view(name)}

    def api_figures(self, name: str) -> Figures | None:
        """A target's continuity figures now (the status page's availability, MTTR, MTBF)."""
        if self.store is None or name not in self.pipeline.states:
            return None
        return self.store.figures(name, self.wall())

    def api_uptime(self, names: Iterable[str], edges: Sequence[float]) -> Buckets | None:
        """Downtime and observed time per bucket of targets (the status page's uptime bars)."""
        if self.store is None:
            return None
        states = self.pipeline.states
        return self.store.uptime((name for name in names if name in states), edges)

    def reload_failure(self) -> ReloadFailure | None:
        """The last reload's refusal, until a reload succeeds (the status page's banner)."""
        return self._reload_failure

    def page_state(self) -> tuple[Config, Policy]:
        """The config and the policy over the live states, read (never changed) by the page."""
        assert self.config is not None
        return self.config, self.pipeline.policy()

    def target_mutes(self, name: str) -> dict[str, Any]:
        """The silences and maintenance windows that apply to a target (the target page's).

        Matched where the alerting side matches: silences by
        :meth:`alerts.mute.Silence.may_cover`, windows on the target or any
        ancestor (a window covers its subtree) by the maintenance book.
        """
        target = self.config.target(name) if self.config is not None else None
        if target is None or self.alerting is None or self.maintenance is None:
            return {"silences": [], "windows": []}
        gate = self.alerting.gate
        ids = {s.id for s in silences_for(gate.silences.values(), name, target.labels)}
        silences = [s for s in self.alerting.silences_view()["silences"] if s["id"] in ids]
        owners = [name, *ancestors(name, self.pipeline.topology.parents)]
        windows = [
            {**view, "via": None if owner == name else owner}
            for owner, view in self.maintenance.windows_for(owners)
        ]
        return {"silences": silences, "windows": windows}

    def api_alerts(self) -> dict[str, Any]:
        assert self.alerting is not None
        return self.alerting.alerts_view()

    def api_ack(self, fingerprint: str) -> bool:
        return self.alerting is not None and self.alerting.acknowledge(fingerprint)

    def api_silences(self) -> dict[str, Any]:
        assert self.alerting is not None
        return self.alerting.silences_view()

    def api_add_silence(self, body: Any) -> dict[str, Any]:
        assert self.alerting is not None
        return self.alerting.add_silence(body)

    def api_remove_silence(self, silence_id: str) -> bool:
        return self.alerting is not None and self.alerting.remove_silence(silence_id)

    def api_maintenance(self) -> dict[str, Any]:
        assert self.maintenance is not None
        return self.maintenance.view()

    def api_add_maintenance(self, body: Any) -> dict[str, Any]:
        assert self.maintenance is not None
        created = self.maintenance.add(body)
        self.check_maintenance()  # it applies at once
        return created

    def api_remove_maintenance(self, window_id: str) -> bool:
        if self.maintenance is None or not self.maintenance.remove(window_id):
            return False
        self.check_maintenance()
        return True

    async def api_history(self, name: str, range_name: str) -> dict[str, Any] | None:
        """``GET /api/v1/targets/{name}/history?range=``: buckets per check and outages."""
        if self.history is None or self.store is None or name not in self.pipeline.states:
            return None
        outages = await self.store.outages(target=name, wait=False)
        return await self.history.view(name, range_name, [(o.start, o.end) for o in outages])

    async def api_outages(self, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET /api/v1/outages?target=&since=&until=&open=``."""
        since = _time_param(query, "since")
        until = _time_param(query, "until")
        open_only: bool | None = None
        if "open" in query:
            if query["open"] not in ("true", "false"):
                raise BadRequest("open", f"expected true or false, got {query['open']!r}")
            open_only = query["open"] == "true"
        assert self.store is not None
        outages = await self.store.outages(
            target=query.get("target") or None, since=since, until=until, open=open_only
        )
        return {
            "outages": [
                {
                    "target": o.target,
                    "check": o.check,
                    "start": rfc3339(o.start),
                    "end": rfc3339(o.end),
                    "cause": o.cause,
                    "reason": o.reason,
                    "message": o.message,
                    "path": o.path,
                }
                for o in outages
            ]
        }


def _time_param(query: Mapping[str, str], name: str) -> float | None:
    if not query.get(name):
        return None
    try:
        return parse_rfc3339(query[name])
    except ValueError as exc:
        raise BadRequest(
            name, f"expected an RFC 3339 time such as 2026-11-01T00:00:00Z ({exc})"
        ) from None
