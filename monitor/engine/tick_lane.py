"""The scheduler's lane for light probes: every run due in a tick started from one callback.

A job of a kind whose prober can start a run without a coroutine
(:class:`monitor.contract.StartableProber[Any]`: ICMP) has no asyncio task. It is a
small slot filed under its next run time; one clock callback per distinct
time starts every run due then, parents first; each run's ``done`` callback
delivers the result and files the slot under its next run time. A task, its
coroutine frames and two wake-ups per run cost about as much CPU as the echo
itself and 1.8 KB per job; a slot is a tenth of that.

The rules are the task path's (:class:`monitor.engine.scheduler.Scheduler`): the
grid without drift, whole missed slots skipped and counted, lag from the
scheduled time, the global and per-kind limits (a run that cannot take a
slot at once, or whose prober declines to start it, runs through the task
path instead), early runs on :meth:`TickLane.trigger` never sooner than the
fast interval after the previous run, and a watchdog cut-off for a prober
that never calls back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import operator
from collections.abc import Awaitable, Callable, Container
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from monitor.contract import ProbeResult, StartableProber
from monitor.engine.jobs import Job, Limiter, SchedulerMetrics, first_run, next_run

log = logging.getLogger(__name__)


class LaneClock(Protocol):
    """The parts of the scheduler's clock the lane uses."""

    def now(self) -> float: ...

    def wall(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``when`` (monotonic), or soon after."""
        ...


@dataclass(slots=True, eq=False)
class _Slot:
    """One job of the lane: when it runs next, and its run in flight if any."""

    job: Job
    scheduled: float = math.inf
    previous: float | None = None  # when the last run was due
    woken: bool = False  # moved earlier by trigger() since its last run
    stopped: bool = False
    running: bool = False
    token: int = 0  # which run a done callback belongs to
    run_scheduled: float = 0.0
    run_wall: float = 0.0
    hard_deadline: float = math.inf
    kind_limit: Limiter | None = None


@dataclass(frozen=True, slots=True)
class LaneHooks:
    """What the lane needs from its scheduler (narrow, so it is tested on its own)."""

    startable: Callable[[str], StartableProber[Any] | None]
    global_limit: Limiter
    kind_limit: Callable[[str], Limiter | None]
    fast: Container[tuple[str, str]]
    fast_interval: Callable[[Job], float]
    deliver: Callable[[Job, ProbeResult], None]
    fallback: Callable[[Job, float], Awaitable[ProbeResult]]
    """Run one attempt through the task path (limits awaited, ``probe()``)."""
    failure: Callable[[str, str, float], ProbeResult]
    grace: float


class TickLane:
    """Slots of light jobs filed by run time; see the module docstring."""

    def __init__(
        self, clock: LaneClock, metrics: SchedulerMetrics, hooks: LaneHooks, tick: float
    ) -> None:
        self._clock = clock
        self._metrics = metrics
        self._hooks = hooks
        self._tick = tick
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._due: dict[float, list[_Slot]] = {}
        self._running: set[_Slot] = set()
        self._tasks: set[asyncio.Task[ProbeResult]] = set()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._slots

    def jobs(self) -> list[Job]:
        return [slot.job for slot in self._slots.values()]

    def add(self, job: Job, start: float) -> None:
        """Run ``job`` from now on, first at its stable offset after ``start``."""

        self.remove(job.key)
        slot = _Slot(job)
        self._slots[job.key] = slot
        self._place(slot, first_run(job.key, job.settings.interval, start, self._tick))

    def remove(self, key: tuple[str, str]) -> bool:
        """Stop a job; a run in flight finishes and its result is dropped."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return False
        slot.stopped = True
        return True

    def stop(self) -> list[asyncio.Task[ProbeResult]]:
        """Stop every job; returns the cancelled task-path runs for the caller to await."""
        for slot in self._slots.values():
            slot.stopped = True
        self._slots.clear()
        self._due.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    def trigger(self, key: tuple[str, str]) -> bool:
        """Run a waiting job now, or ``fast_interval`` after its previous run if later."""
        slot = self._slots.get(key)
        if slot is None or slot.running or slot.woken:
            return False
        slot.woken = True
        now = self._clock.now()
        soonest = (
            now if slot.previous is None else slot.previous + self._hooks.fast_interval(slot.job)
        )
        when = min(slot.scheduled, max(now, soonest))
        if when < slot.scheduled:
            self._place(slot, when)  # its entry at the later time is skipped as stale
        return True

    def overdue(self, now: float) -> None:
        """Cut off runs whose prober did not call back by deadline + grace (a bug)."""
        for slot in [s for s in self._running if s.hard_deadline < now]:
            self._end_run(slot)
            result = self._hooks.failure("deadline", "probe overran its deadline", slot.run_wall)
            self._after(slot, slot.run_scheduled, result)

    # -- running -------------------------------------------------------------

    def _place(self, slot: _Slot, when: float) -> None:
        slot.scheduled = when
        bucket = self._due.get(when)
        if bucket is None:
            bucket = self._due[when] = []
            self._clock.call_at(when, partial(self._fire, when))
        bucket.append(slot)

    def _fire(self, when: float) -> None:
        slots = self._due.pop(when, None)
        if not slots:
            return
        slots.sort(key=_depth)  # stable: parents first, then filing order (C-level key)
        for slot in slots:
            if slot.stopped or slot.running or slot.scheduled != when:
                continue  # removed, or moved to another time by trigger()
            slot.woken = False
            slot.previous = when
            try:
                self._start(slot, when)
            except Exception:  # one job's bug must not stop the tick's other runs
                log.exception("starting %s of %s failed", slot.job.kind, slot.job.target.name)

    def _start(self, slot: _Slot, scheduled: float) -> None:
        job, hooks = slot.job, self._hooks
        prober = hooks.startable(job.kind)
        kind_limit = hooks.kind_limit(job.kind)
        if prober is None or not hooks.global_limit.try_acquire():
            self._through_task(slot, scheduled)
            return
        if kind_limit is not None and not kind_limit.try_acquire():
            hooks.global_limit.release()
            self._through_task(slot, scheduled)
            return
        now = self._clock.now()
        slot.token += 1
        slot.running = True
        slot.run_scheduled = scheduled
        slot.run_wall = self._clock.wall()
        slot.kind_limit = kind_limit
        deadline = now + job.settings.timeout
        slot.hard_deadline = deadline + hooks.grace
        done = _RunDone(self, slot, slot.token)
        try:
            started = prober.start(job.target, job.settings, deadline=deadline, done=done)
        except Exception as exc:  # a probe bug must not stop the job or the daemon
            log.exception("probe %s of %s raised", job.kind, job.target.name)
            self._running.add(slot)
            self._metrics.in_flight(job.kind, 1)
            self._end_run(slot)
            self._after(
                slot,
                scheduled,
                hooks.failure("internal_error", f"probe raised {exc!r}", slot.run_wall),
            )
            return
        if not started:  # this run needs the coroutine (a name to look up)
            slot.running = False
            slot.token += 1
            if kind_limit is not None:
                kind_limit.release()
            hooks.global_limit.release()
            self._through_task(slot, scheduled)
            return
        self._metrics.observe_lag(job.kind, max(0.0, now - scheduled))
        self._metrics.in_flight(job.kind, 1)
        self._running.add(slot)

    def _done(self, slot: _Slot, token: int, result: ProbeResult) -> None:
        if token != slot.token or not slot.running:
            return  # cut off by the watchdog already
        self._end_run(slot)
        self._after(slot, slot.run_scheduled, result)

    def _end_run(self, slot: _Slot) -> None:
        """Release what a started run holds (its limits, its in-flight count); the slot
        stays ``running`` until :meth:`_after` files it again (a trigger meanwhile,
        from the result's own consumers, does not count, as on the task path)."""
        slot.token += 1
        self._running.discard(slot)
        if slot.kind_limit is not None:
            slot.kind_limit.release()
            slot.kind_limit = None
        self._hooks.global_limit.release()
        self._metrics.in_flight(slot.job.kind, -1)

    def _through_task(self, slot: _Slot, scheduled: float) -> None:
        """Run this attempt through the task path; the slot waits for its result."""
        slot.running = True
        slot.token += 1
        slot.run_wall = self._clock.wall()
        task = asyncio.ensure_future(self._hooks.fallback(slot.job, scheduled))
        self._tasks.add(task)
        task.add_done_callback(partial(self._task_done, slot, slot.token, scheduled))

    def _task_done(
        self, slot: _Slot, token: int, scheduled: float, task: asyncio.Task[ProbeResult]
    ) -> None:
        self._tasks.discard(task)
        if task.cancelled() or token != slot.token:
            return  # stopped (the lane's stop() cancels these tasks)
        slot.token += 1
        exc = task.exception()
        if exc is not None:  # the task path turns probe errors into results: a bug here
            log.error("a run of %s %s failed", slot.job.kind, slot.job.target.name, exc_info=exc)
            result = self._hooks.failure("internal_error", f"run failed: {exc!r}", slot.run_wall)
            self._after(slot, scheduled, result)
            return
        self._after(slot, scheduled, task.result())

    def _after(self, slot: _Slot, scheduled: float, result: ProbeResult) -> None:
        """Deliver a run's result and file the slot under its next run time."""

        if slot.stopped:
            slot.running = False
            return
        job = slot.job
        try:
            self._hooks.deliver(job, result)
        except Exception:  # keep probing even if a consumer has a bug
            log.exception("handling the result of %s %s failed", job.kind, job.target.name)
        slot.running = False
        if slot.stopped:  # the consumer's reaction removed it
            return
        fast = job.key in self._hooks.fast
        interval = self._hooks.fast_interval(job) if fast else job.settings.interval
        when, missed = next_run(scheduled, interval, self._clock.now())
        if self._tick > 0:  # stay exactly on the tick grid despite float sums
            when = round(when / self._tick) * self._tick
        if missed:
            self._metrics.count_skipped(job.kind, missed)
        self._place(slot, when)


class _RunDone:
    """A started run's ``done`` callback: :meth:`TickLane._done` for its slot and token.

    An object rather than a ``partial`` of a bound method (three objects the garbage
    collector tracked while the run was in flight).
    """

    __slots__ = ("lane", "slot", "token")

    def __init__(self, lane: TickLane, slot: _Slot, token: int) -> None:
        self.lane = lane
        self.slot = slot
        self.token = token

    def __call__(self, result: ProbeResult) -> None:
        self.lane._done(self.slot, self.token, result)


_depth: Callable[[_Slot], int] = operator.attrgetter("job.depth")
"""A slot's sort key in a tick: its target's depth (parents first)."""
