"""The running daemon: wires config, probers, scheduler, state, exporter and web.

It owns everything that lives for the process's lifetime and everything that
changes on reload. Runtime state (target states, open probers, the scheduler's
tasks) lives here, never on the frozen config objects, so a reload swaps the
config and keeps the state of targets that did not change.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import probes
from monitor.config import Config, ConfigError, Target, load_config, split_host_port
from monitor.exporter import Exporter, SelfMetrics
from monitor.maintenance import active, windows_by_target
from monitor.scheduler import Job, Scheduler
from monitor.state import (
    Changes,
    CheckPolicy,
    Event,
    Health,
    TargetState,
    Topology,
    World,
    prune,
    set_maintenance,
    step,
)
from monitor.web import WebServer
from probes.base import ProbeContext, ProbeKind, Prober, ProbeResult, ProbeSetupError, ProbeTarget

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 4.0
MAINTENANCE_PERIOD = 5.0  # seconds between checks of maintenance windows
GC_THRESHOLD_GEN0 = 10_000
GC_FULL_PERIOD = 1800.0  # seconds; SIGTERM must finish well within 5 s


@dataclass(frozen=True)
class Overrides:
    """Command-line settings that win over the config file."""

    listen: str | None = None
    state_dir: str | None = None


class StartupError(Exception):
    """The daemon cannot start; the message is for the operator (no traceback)."""


def settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector from pausing the loop for a tenth of a second.

    With ten thousand targets the daemon holds millions of long-lived objects
    (config models, job tasks, rendered series); a full collection walks all
    of them and was measured pausing the loop for 100-300 ms, which shows up
    as scheduler lag. Freezing what exists after a (re)load moves it out of
    the collector's view, and a larger first-generation threshold makes
    collections of the short-lived per-run objects rarer.
    """
    gc.collect()
    gc.freeze()
    # Automatic full collections are left to :func:`collect_garbage_periodically`.
    gc.set_threshold(GC_THRESHOLD_GEN0, 10, 1_000_000)


async def collect_garbage_periodically(period: float = GC_FULL_PERIOD) -> None:
    """A full collection every ``period`` seconds, on our schedule rather than the
    collector's, then freeze the survivors again (they are long-lived)."""
    while True:
        await asyncio.sleep(period)
        gc.unfreeze()
        settle_garbage_collector()


def jobs_for(config: Config) -> list[Job]:
    """Every (target, check) pair of a config as scheduler jobs."""
    return [
        Job(ProbeTarget(t.name, t.address), check.kind, check.settings)
        for t in config.targets
        for check in t.checks
    ]


def policies_for(target: Target) -> dict[str, CheckPolicy]:
    return {
        c.kind: CheckPolicy(
            fall=c.settings.fall, rise=c.settings.rise, critical=c.settings.critical
        )
        for c in target.checks
    }


class Daemon:
    """One monitoring process. ``await Daemon(...).run()`` until SIGTERM."""

    def __init__(
        self,
        config_path: Path,
        overrides: Overrides | None = None,
        *,
        kinds: Mapping[str, ProbeKind] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config_path = config_path
        self.overrides = overrides or Overrides()
        self.kinds = kinds if kinds is not None else probes.KINDS
        self.wall = wall
        self.self_metrics = SelfMetrics()
        self.exporter = Exporter(
            (f for k in self.kinds.values() for f in k.families), self.self_metrics
        )
        self.config: Config | None = None
        self.states: dict[str, TargetState] = {}
        self.world = World()
        self.topology = Topology()
        self._maintenance_index: dict[str, tuple[int, ...]] = {}
        self.policies: dict[str, dict[str, CheckPolicy]] = {}
        self.probers: dict[str, Prober] = {}
        self._prober_stacks: dict[str, tuple[contextlib.AsyncExitStack, dict[str, Any]]] = {}
        self._exit = contextlib.AsyncExitStack()
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self.scheduler: Scheduler | None = None
        self.ready = False

    # -- configuration -----------------------------------------------------

    def _load(self) -> Config:
        config = load_config(self.config_path, self.kinds)
        monitor = config.monitor
        if self.overrides.listen:
            monitor = monitor.model_copy(update={"listen": self.overrides.listen})
        if self.overrides.state_dir:
            monitor = monitor.model_copy(update={"state_dir": self.overrides.state_dir})
        return replace(config, monitor=monitor)

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

    async def _close_probers(self) -> None:
        for stack, _ in self._prober_stacks.values():
            await stack.aclose()
        self._prober_stacks.clear()
        self.probers.clear()

    def _apply(self, config: Config) -> tuple[int, int, int]:
        """Make the running daemon match ``config``; keeps unchanged targets' state."""
        old = {t.name: t for t in self.config.targets} if self.config else {}
        new = {t.name: t for t in config.targets}
        for name in old.keys() - new.keys():
            self.states.pop(name, None)
            self.policies.pop(name, None)
            self.exporter.remove_target(name)
        for name, target in new.items():
            policies = policies_for(target)
            self.policies[name] = policies
            if old.get(name) != target:
                self.exporter.set_target(name, target.labels)
            state = self.states.get(name) or TargetState(name)
            state = prune(state, {c.kind for c in target.checks}, policies)
            self.states[name] = state
            if old.get(name) != target:
                self.exporter.target_state(state)
        self.config = config
        monitor = config.monitor
        self.topology = Topology.build(
            {t.name: t.parents for t in config.targets},
            canaries=monitor.canaries,
            isolation_ratio=monitor.isolation_ratio,
            isolation_min_targets=monitor.isolation_min_targets,
            flap_high=monitor.flap_high,
            flap_low=monitor.flap_low,
        )
        self._maintenance_index = windows_by_target(
            config.maintenance, ((t.name, t.labels) for t in config.targets)
        )
        failing = sum(1 for s in self.states.values() if s.failing)
        self.world = World(self.world.isolated, self.world.isolated_since, failing, len(new))
        self.self_metrics.targets.set(len(config.targets))
        assert self.scheduler is not None
        return self.scheduler.sync(jobs_for(config))

    async def reload(self) -> tuple[bool, str]:
        """Validate and apply the config file again; keep the old one on failure."""
        async with self._reload_lock:
            try:
                config = self._load()
                await self._open_probers(config)
            except (ConfigError, ProbeSetupError) as exc:
                self.self_metrics.reload_ok.set(0)
                log.error("reload rejected, keeping the running config:\n%s", exc)
                return False, str(exc)
            assert self.config is not None
            if config.monitor.listen != self.config.monitor.listen:
                log.warning("monitor.listen changed; it takes effect at the next restart")
            started, stopped, kept = self._apply(config)
            settle_garbage_collector()
            self.self_metrics.reload_ok.set(1)
            self.self_metrics.reload_time.set(self.wall())
            message = (
                f"reloaded: {len(config.targets)} targets; "
                f"checks started {started}, stopped {stopped}, kept {kept}"
            )
            log.info("%s", message)
            return True, message

    # -- results -----------------------------------------------------------

    def on_result(self, job: Job, result: ProbeResult) -> None:
        """The one path every result takes: state, then series, then events."""
        name = job.target.name
        if name not in self.states:  # target removed by a reload while its run was in flight
            return
        changes = step(
            self.states,
            self.world,
            self.topology,
            name,
            check=job.kind,
            result=result,
            now=self.wall(),
            policies=self.policies[name],
            maintenance=self.states[name].maintenance,
        )
        self.exporter.check_result(name, job.kind, result)
        self._apply_changes(changes)
        if self.scheduler is not None:
            self.scheduler.set_fast(job.key, not result.ok)
        for probe_event in result.events:
            log.info("%s %s: %s", name, probe_event.kind, probe_event.message)

    def check_maintenance(self) -> None:
        """Open and close maintenance windows whose time has come (time-driven)."""
        if self.config is None:
            return
        now, windows, zone = self.wall(), self.config.maintenance, self.config.monitor.timezone
        for name, state in list(self.states.items()):
            indexes = self._maintenance_index.get(name, ())
            on = any(active(windows[i], now, zone) for i in indexes)
            if on != state.maintenance:
                self._apply_changes(
                    set_maintenance(self.states, self.world, self.topology, name, on=on, now=now)
                )

    async def _maintenance_loop(self) -> None:
        while True:
            self.check_maintenance()
            await asyncio.sleep(MAINTENANCE_PERIOD)

    def _apply_changes(self, changes: Changes) -> None:
        for name, state in changes.states.items():
            old = self.states.get(name)
            self.states[name] = state
            if old is None or old.health is not state.health or old.since != state.since:
                self.exporter.target_state(state)
        if changes.world is not None:
            self.world = changes.world
        for event in changes.events:
            self._log_event(event)
        if self.scheduler is not None:
            for name in changes.recheck:
                self.scheduler.trigger(name)

    @staticmethod
    def _log_event(event: Event) -> None:
        if event.kind.startswith("check_"):
            level = logging.DEBUG  # the target's announcement says it for operators
        elif event.kind in ("target_down", "monitor_isolated") or (
            event.kind == "target_unreachable"
        ):
            level = logging.WARNING
        else:
            level = logging.INFO
        detail = f" cause={event.cause}" if event.cause else ""
        previous = f" (was {event.previous.value})" if event.previous is not Health.UNKNOWN else ""
        log.log(
            level,
            "%s %s%s%s%s: %s",
            event.target or "monitor",
            event.kind,
            f" [{event.check}]" if event.check else "",
            previous,
            detail,
            event.message or event.reason,
        )

    # -- lifecycle -----------------------------------------------------------

    async def run(self) -> None:
        """Start everything, serve until SIGTERM/SIGINT, shut down cleanly."""
        try:
            config = self._load()
        except ConfigError as exc:
            raise StartupError(f"invalid configuration {self.config_path}:\n{exc}") from None
        try:
            async with self._exit:
                await self._start(config)
                await self._stop.wait()
                log.info("shutting down")
                await self._shutdown()
        finally:
            self.ready = False

    async def _start(self, config: Config) -> None:
        self._exit.push_async_callback(self._close_probers)
        try:
            await self._open_probers(config)
        except ProbeSetupError as exc:
            raise StartupError(str(exc)) from None
        self.scheduler = Scheduler(
            self.probers,
            self.on_result,
            self.self_metrics,
            max_concurrency=config.monitor.max_concurrency,
            kind_concurrency=config.monitor.kind_concurrency,
        )
        host, port = split_host_port(config.monitor.listen)
        self.web = WebServer(self)
        try:
            await self.web.start(host, port)
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {config.monitor.listen}: {exc.strerror or exc}"
            ) from None
        self._exit.push_async_callback(self.web.stop)
        self._install_signals()
        gc_task = asyncio.create_task(collect_garbage_periodically(), name="gc")
        self._exit.callback(gc_task.cancel)
        started, _, _ = self._apply(config)
        maintenance_task = asyncio.create_task(self._maintenance_loop(), name="maintenance")
        self._exit.callback(maintenance_task.cancel)
        settle_garbage_collector()
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

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop)
        loop.add_signal_handler(signal.SIGINT, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)
        self._exit.callback(loop.remove_signal_handler, signal.SIGTERM)
        self._exit.callback(loop.remove_signal_handler, signal.SIGINT)
        self._exit.callback(loop.remove_signal_handler, signal.SIGHUP)

    def _reload_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload(), name="reload")
        self._background = task  # keep a reference until it finishes

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

    def metrics(self) -> bytes:
        return self.exporter.render()
