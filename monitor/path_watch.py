"""Path diagnosis at an outage: baseline traces while up, a trace when a root cause goes DOWN.

The daemon owns one :class:`PathWatch`. It knows which targets can be traced
(those with a check whose prober offers :class:`probes.trace.PathTracer`: the
ICMP prober), keeps a **baseline** path per target recorded while the target
is UP (refreshed every ``baseline_interval``, oldest first, as the budget
allows), and when the pipeline announces a target DOWN that the policy calls
a **root cause** (not a consequence behind a failing parent), traces the path
at once and compares it with the baseline (:func:`monitor.engine.paths.diagnose`).

Bounds: every trace is at most ``max_hops x probes_per_hop`` echoes and
``timeout`` seconds (once a baseline knows the path: two hops past the
target, and a wait of four times the slowest baseline hop's round trip, at
least 0.5 s); at most ``max_traces_per_minute`` start in any minute, of which
baselines use at most half (outage traces always find the rest); at most
``max_concurrent`` run at once (baselines never queue; outage traces wait for
a slot). The work on the event loop per trace is a few dozen packets.

The TargetDown page of a traced target that has a baseline is held for at
most ``page_wait`` (:meth:`holding`, asked by the daemon's mute context) so
it can carry the diagnosis (the trace then waits only a few times the
baseline's round trips, at least 0.5 s); without a baseline the page goes
at once; when the trace ends, ``on_diagnosis`` gets it (the daemon writes
it to the outage row, the alert's ``path`` annotation and the API).
Baselines live in memory: after a restart they are traced again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.model import Alert
from monitor.contract import ProbeTarget
from monitor.engine.config import Config, Target
from monitor.engine.paths import (
    Diagnosis,
    Names,
    PathDiagnosisSection,
    TraceBudget,
    diagnose,
    trace_view,
)
from monitor.engine.policy import Policy, Role
from monitor.engine.state import Event, EventKind, Health, TargetState
from monitor.web.api import rfc3339
from probes.trace import PathTrace, PathTracer

log = logging.getLogger(__name__)

TICK = 1.0
"""Seconds between looks for baselines that are due."""
NOT_UP_RETRY = 10.0
"""A baseline due while its target is not UP is looked at again this much later."""
UNREACHED_RETRY = 300.0
"""A baseline trace that did not reach its (UP) target is tried again this much later."""
HOPS_PAST_BASELINE = 2
"""Hops traced past where the baseline met the target (a path may grow a little)."""
HOLD_REASON = "path_trace"
REFUSAL_LOG_EVERY = 60.0
"""Seconds between log lines about refused outage traces."""
LOOKS_PER_TICK = 1000
"""Due entries looked at per tick at most (ten thousand targets due at start: ten ticks)."""
CONFIGURE_SLICE = 500
"""Targets adopted per loop turn when a (re)load changes many."""
WAIT_FLOOR = 0.5
"""Least wait of a trace when a baseline knows the hops' round trips (seconds)."""
WAIT_RTT_FACTOR = 4.0
"""With a baseline, a trace waits this many times the slowest baseline hop's round trip."""

_Traceable = tuple[PathTracer, ProbeTarget, Any]


class PathWatch:
    """Baselines, outage traces and their diagnoses for one daemon."""

    def __init__(
        self,
        *,
        wall: Callable[[], float],
        names: Names,
        states: Mapping[str, TargetState],
        on_diagnosis: Callable[[str, Diagnosis], None],
    ) -> None:
        self.wall = wall
        self.names = names
        self.states = states
        self.on_diagnosis = on_diagnosis
        self.settings = PathDiagnosisSection()
        self.budget = TraceBudget(self.settings.max_traces_per_minute)
        self.baselines: dict[str, tuple[float, PathTrace]] = {}
        self.diagnoses: dict[str, Diagnosis] = {}
        self.refused = 0  # outage traces the budget refused
        self._refusal_logged = -REFUSAL_LOG_EVERY
        self.traced = {"baseline": 0, "outage": 0}  # traces started, by purpose
        self._traceable: dict[str, _Traceable] = {}
        self._tracers: dict[str, PathTracer] = {}  # of the last configure
        self._holding: dict[str, float] = {}  # target -> hold its page until (wall time)
        self._due: list[tuple[float, str]] = []
        self._next_due: dict[str, float] = {}
        self._running: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(self.settings.max_concurrent)
        self._in_flight = 0

    # -- configuration -----------------------------------------------------------

    def configure(self, config: Config, tracers: Mapping[str, PathTracer]) -> None:
        """Adopt a config: which targets can be traced, and the limits."""
        for _ in self.configure_steps(config, tracers):
            pass

    def configure_steps(
        self,
        config: Config,
        tracers: Mapping[str, PathTracer],
        changed: Iterable[Target] | None = None,
        removed: Iterable[str] = (),
    ) -> Iterator[None]:
        """:meth:`configure` in slices: the caller lets the loop run at each ``yield``.

        ``changed`` and ``removed`` (a reload's new or changed targets and the
        names it removed) limit the work to them; without them, or when the
        tracers changed, every target is looked at (0.15-0.5 s for 50,000 in one
        loop turn, before it was sliced and limited to what changed).
        """
        settings = config.path_diagnosis
        if settings != self.settings:
            self.settings = settings
            self.budget.per_minute = settings.max_traces_per_minute
            self._slots = asyncio.Semaphore(settings.max_concurrent)
        everything = changed is None or dict(tracers) != self._tracers
        self._tracers = dict(tracers)
        now = self.wall()
        if everything:
            gone = set(self._traceable)
            gone.difference_update(t.name for t in config.targets)
            look_at: Iterable[Target] = config.targets
        else:
            gone = set(removed)
            look_at = changed or ()
        for index, target in enumerate(look_at, start=1):
            self._adopt(target, now)
            if not index % CONFIGURE_SLICE:
                yield
        for name in gone:
            self._forget(name)

    def _adopt(self, target: Target, now: float) -> None:
        """A target of the new config: traceable or not, and traced again if it moved."""
        name = target.name
        entry = self._entry(target)
        before = self._traceable.get(name)
        if entry is None:
            if before is not None:
                self._forget(name)
            return
        self._traceable[name] = entry
        if before is not None and before[1] != entry[1]:
            self.baselines.pop(name, None)  # another address: another path
            self._schedule(name, now)
        elif before is None and name not in self._next_due:
            self._schedule(name, now)

    def _entry(self, target: Target) -> _Traceable | None:
        """How to trace the target: its first check whose kind has a tracer."""
        for check in target.checks:
            tracer = self._tracers.get(check.kind)
            if tracer is not None:
                return (tracer, ProbeTarget(target.name, target.address), check.settings)
        return None

    def _forget(self, name: str) -> None:
        """A target no longer traceable (removed, or without a traceable check)."""
        self._traceable.pop(name, None)
        self.baselines.pop(name, None)
        self.diagnoses.pop(name, None)
        self._holding.pop(name, None)
        self._next_due.pop(name, None)

    def _schedule(self, name: str, when: float) -> None:
        self._next_due[name] = when
        heapq.heappush(self._due, (when, name))

    # -- outages (the pipeline's path sink) --------------------------------------

    def state_event(self, event: Event, policy: Policy) -> None:
        """A root cause announced DOWN is traced now (within the budget)."""
        if event.kind is not EventKind.TARGET_DOWN or not self.settings.enabled:
            return
        name = event.target
        if name not in self._traceable or name not in policy.states:
            return
        if policy.role(name)[0] is not Role.ROOT_CAUSE:
            return  # a consequence: its root cause's trace says where the path breaks
        now = self.wall()
        if not self.budget.take(now):
            self.refused += 1
            if now - self._refusal_logged >= REFUSAL_LOG_EVERY:  # a storm: one line a minute
                self._refusal_logged = now
                log.warning(
                    "%s: path not traced (max_traces_per_minute reached; "
                    "continuity_path_traces_refused_total counts them)",
                    name,
                )
            return
        if name in self.baselines and self.settings.page_wait > 0:
            # The page waits for the trace (bounded by page_wait) only when a baseline
            # says how long the hops take: then the wait is short (see _wait). A target's
            # first outage before its baseline pages at once; its diagnosis follows on
            # the outage row, the target page and the API; so does page_wait = 0.
            self._holding[name] = now + self.settings.page_wait
        self.traced["outage"] += 1
        self._start(self._outage_trace(name), name)

    def holding(self, alert: Alert) -> str | None:
        """Why a TargetDown page waits: its path is being traced (at most ``page_wait``)."""
        if alert.name != "TargetDown":
            return None
        until = self._holding.get(alert.target)
        if until is None:
            return None
        if self.wall() >= until:
            del self._holding[alert.target]
            return None
        return HOLD_REASON

    async def _outage_trace(self, name: str) -> None:
        try:
            async with self._slots:
                trace = await self._trace(name)
            if trace is None:
                return
            baseline = self.baselines.get(name)
            diagnosis = diagnose(trace, baseline[1] if baseline else None, self.names, self.wall())
            self.diagnoses[name] = diagnosis
            self._holding.pop(name, None)  # before telling: the page may go now
            self.on_diagnosis(name, diagnosis)
        finally:
            self._holding.pop(name, None)

    # -- baselines -----------------------------------------------------------------

    async def run(self) -> None:
        """Refresh baselines as they fall due, for as long as the daemon runs."""
        while True:
            await asyncio.sleep(TICK)
            self.refresh_baselines()

    def refresh_baselines(self) -> int:
        """Start the baseline traces that are due and allowed now; returns how many."""
        if not self.settings.enabled:
            return 0
        now, started, looks = self.wall(), 0, 0
        due = self._due
        while due and due[0][0] <= now and self._in_flight < self.settings.max_concurrent:
            looks += 1
            if looks > LOOKS_PER_TICK:
                break  # the rest at the next tick: a loop turn stays short
            when, name = due[0]
            if self._next_due.get(name) != when or name not in self._traceable:
                heapq.heappop(due)  # superseded or gone
                continue
            state = self.states.get(name)
            if name in self._running or state is None or state.health is not Health.UP:
                heapq.heappop(due)
                self._schedule(name, now + NOT_UP_RETRY)
                continue
            if not self.budget.take(now, baseline=True):
                break
            heapq.heappop(due)
            self._schedule(name, now + self.settings.baseline_interval)
            self.traced["baseline"] += 1
            self._start(self._baseline_trace(name), name)
            started += 1
        return started

    async def _baseline_trace(self, name: str) -> None:
        trace = await self._trace(name)
        if trace is None:
            return
        state = self.states.get(name)
        if trace.reached and state is not None and state.health is Health.UP:
            self.baselines[name] = (self.wall(), trace)
        elif name not in self.baselines and name in self._traceable:
            self._schedule(name, self.wall() + UNREACHED_RETRY)

    # -- tracing -------------------------------------------------------------------

    def _hops(self, name: str) -> int:
        baseline = self.baselines.get(name)
        end = baseline[1].destination_hop if baseline is not None else None
        most: int = self.settings.max_hops
        return most if end is None else min(most, end + HOPS_PAST_BASELINE)

    def _wait(self, name: str) -> float:
        """How long a trace waits for answers: ``timeout``, or less once a baseline knows
        how long the hops take to answer (hops beyond a break never answer, so an
        outage trace lasts its whole wait, and a TargetDown page waits for it)."""
        timeout: float = self.settings.timeout
        baseline = self.baselines.get(name)
        rtts = [h.rtt for h in baseline[1].hops if h.rtt is not None] if baseline else []
        if not rtts:
            return timeout
        return min(timeout, max(WAIT_FLOOR, WAIT_RTT_FACTOR * max(rtts)))

    async def _trace(self, name: str) -> PathTrace | None:
        entry = self._traceable.get(name)
        if entry is None:
            return None
        tracer, target, check_settings = entry
        settings = self.settings
        deadline = asyncio.get_running_loop().time() + self._wait(name)
        self._in_flight += 1
        self._running.add(name)
        try:
            return await tracer.trace(
                target,
                check_settings,
                max_hops=self._hops(name),
                probes_per_hop=settings.probes_per_hop,
                deadline=deadline,
            )
        finally:
            self._in_flight -= 1
            self._running.discard(name)

    def _start(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=f"path-trace {name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("path trace failed: %s", task.get_name(), exc_info=task.exception())

    async def close(self) -> None:
        """Cancel the traces in flight (shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- what the API and the pages show -------------------------------------------

    def view(self, name: str) -> dict[str, Any] | None:
        """``path`` of ``GET /api/v1/targets/{name}``: baseline and last diagnosis."""
        if name not in self._traceable:
            return None
        baseline = self.baselines.get(name)
        diagnosis = self.diagnoses.get(name)
        return {
            "enabled": self.settings.enabled,
            "tracing": name in self._running,
            "baseline": None
            if baseline is None
            else trace_view(baseline[1], self.names, rfc3339(baseline[0])),
            "diagnosis": None
            if diagnosis is None
            else {
                **diagnosis.to_dict(),
                "at": rfc3339(diagnosis.at),
                "trace": trace_view(diagnosis.trace, self.names),
            },
        }


class PathMetrics(Collector):
    """The path diagnosis's own series, read from a :class:`PathWatch` at scrape time."""

    def __init__(self, watch: PathWatch) -> None:
        self.watch = watch

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        traces = CounterMetricFamily(
            "continuity_path_traces",
            "Path traces started, by purpose: baseline (while up) or outage (a root cause DOWN).",
            labels=["purpose"],
        )
        for purpose, count in sorted(self.watch.traced.items()):
            traces.add_metric([purpose], count)
        yield traces
        yield CounterMetricFamily(
            "continuity_path_traces_refused",
            "Outage traces not started because max_traces_per_minute was reached.",
            value=self.watch.refused,
        )
        yield GaugeMetricFamily(
            "continuity_path_baselines",
            "Targets with a baseline path recorded.",
            value=len(self.watch.baselines),
        )
