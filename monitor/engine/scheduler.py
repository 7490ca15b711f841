"""Running every (target, check) on its interval, spread out, on time, within limits.

One asyncio task per job, except for light probes: a kind whose prober can
start a run without a coroutine (ICMP) runs in the tick lane
(:mod:`monitor.engine.tick_lane`), every run due in a tick started from one
callback, with the same rules. The first run of a job lands at a stable,
hash-derived offset inside its interval, so ten thousand targets never fire
together and a restart keeps the same spread. Later runs are scheduled on a
fixed grid: the previous *scheduled* time plus the interval, so execution
time never accumulates into drift. When the loop stalls past whole grid
slots, those runs are skipped and counted instead of replayed in a burst.

Each run acquires a global and a per-kind semaphore, gets a deadline
(start + timeout), and is cut off shortly after it should anyway. Results go
to one callback; the scheduler knows nothing about state or metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.clock import Clock, LoopClock
from monitor.contract import Prober, ProbeResult, StartableProber
from monitor.engine.jobs import Job, Limiter, SchedulerMetrics, first_run, next_run
from monitor.engine.tick_lane import LaneHooks, TickLane

log = logging.getLogger(__name__)

# A probe must honour its deadline; this extra time only catches bugs.
DEADLINE_GRACE = 1.0

# Run times are multiples of this (in loop time). Jobs whose slots share a
# tick start in the same event-loop iteration, so their packets go out and
# their replies come back in batches: one wake-up of the process serves many
# targets. A wake-up is the dominant cost of a light probe (tens of µs on a
# busy or virtualised host, against ~10 µs of work per echo), so batching
# matters more than sub-tick spreading. Lag is measured from the tick.
DEFAULT_TICK = 0.05

WATCHDOG_PERIOD = 1.0


ResultCallback = Callable[[Job, ProbeResult], None]

SYNC_SLICE = 500
"""Jobs started or stopped per slice of a sync: each new job's first step runs in
the loop turn after its slice, so a slice must stay a few milliseconds long."""


@dataclass(frozen=True, slots=True)
class JobPlan:
    """Which jobs a sync stops and starts; pure, so a reload computes it off the loop."""

    stop: tuple[tuple[str, str], ...]
    start: tuple[Job, ...]
    kept: int


def plan_jobs(current: Iterable[Job], wanted: Iterable[Job]) -> JobPlan:
    """Stop jobs that are gone or changed, start new or changed ones, keep equal ones."""
    now = {job.key: job for job in current}
    want = {job.key: job for job in wanted}
    stop = tuple(key for key, job in now.items() if want.get(key) != job)
    start = tuple(job for key, job in want.items() if now.get(key) != job)
    return JobPlan(stop, start, len(want) - len(start))


class Scheduler:
    """Owns the job tasks; :meth:`sync` makes the running set match a job list."""

    def __init__(
        self,
        probers: Mapping[str, Prober[Any]],
        on_result: ResultCallback,
        metrics: SchedulerMetrics,
        *,
        clock: Clock | None = None,
        max_concurrency: int = 5000,
        kind_concurrency: Mapping[str, int] | None = None,
        tick: float = DEFAULT_TICK,
    ) -> None:
        self._tick = tick
        self._probers = probers
        self._on_result = on_result
        self._metrics = metrics
        self._clock = clock or LoopClock()
        self._global = Limiter(max_concurrency)
        self._kind_limits = {k: Limiter(n) for k, n in (kind_concurrency or {}).items()}
        self._tasks: dict[tuple[str, str], tuple[Job, asyncio.Task[None]]] = {}
        self._running: dict[asyncio.Task[Any], float] = {}  # run task -> hard deadline
        self._overran: set[asyncio.Task[Any]] = set()
        self._watchdog_task: asyncio.Task[None] | None = None
        self._wakers: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._by_target: dict[str, list[tuple[str, str]]] = {}
        self._fast: set[tuple[str, str]] = set()
        self._startable: dict[str, StartableProber[Any]] = _startable(probers)
        self._lane = TickLane(
            self._clock,
            metrics,
            LaneHooks(
                startable=self._startable.get,
                global_limit=self._global,
                kind_limit=self._kind_limits.get,
                fast=self._fast,
                fast_interval=self._fast_interval,
                deliver=on_result,
                fallback=self._run_limited,
                failure=lambda reason, message, started: _failure(
                    reason, message, started, self._clock
                ),
                grace=DEADLINE_GRACE,
            ),
            tick,
        )

    @property
    def jobs(self) -> list[Job]:
        return [job for job, _ in self._tasks.values()] + self._lane.jobs()

    def set_probers(self, probers: Mapping[str, Prober[Any]]) -> None:
        """Replace the prober map (a reload may bring a new kind)."""
        self._probers = probers
        self._startable.clear()  # in place: the lane holds its lookup
        self._startable.update(_startable(probers))

    def sync(self, jobs: Iterable[Job]) -> tuple[int, int, int]:
        """Start new jobs, stop removed ones, restart changed ones.

        Returns (started, stopped, kept) so a reload can log what it did.
        """
        plan = plan_jobs(self.jobs, jobs)
        for _ in self.sync_steps(plan):
            pass
        return len(plan.start), len(plan.stop), plan.kept

    def sync_steps(self, plan: JobPlan) -> Iterator[None]:
        """Carry out ``plan`` in slices of :data:`SYNC_SLICE`; the caller lets the
        loop run at each ``yield`` (a job changed by a reload is briefly absent)."""
        if self._watchdog_task is None:
            self._watchdog_task = asyncio.create_task(self._watchdog(), name="scheduler-watchdog")
        for done, key in enumerate(plan.stop, 1):
            entry = self._tasks.pop(key, None)
            if entry is not None:
                entry[1].cancel()
            if entry is not None or self._lane.remove(key):
                self._unindex(key)
            if done % SYNC_SLICE == 0:
                yield
        for done, job in enumerate(plan.start, 1):
            key = job.key
            previous = self._tasks.pop(key, None)
            if previous is not None:  # not in the plan's view of the jobs (a bug): replace it
                previous[1].cancel()
            if previous is not None or self._lane.remove(key):
                self._unindex(key)
            if job.kind in self._startable:
                self._lane.add(job, self._clock.now())
            else:
                task = asyncio.create_task(
                    self._loop(job, self._clock.now()), name=f"check:{key[0]}:{key[1]}"
                )
                self._tasks[key] = (job, task)
            self._by_target.setdefault(key[0], []).append(key)
            if done % SYNC_SLICE == 0:
                yield

    def _unindex(self, key: tuple[str, str]) -> None:
        """Forget a stopped job's trigger entry, waker and fast-polling mark."""
        keys = self._by_target.get(key[0])
        if keys is not None and key in keys:
            keys.remove(key)
            if not keys:
                del self._by_target[key[0]]
        self._wakers.pop(key, None)
        self._fast.discard(key)

    async def stop(self) -> None:
        """Cancel every job and wait for them to finish."""
        tasks: list[asyncio.Task[Any]] = [task for _, task in self._tasks.values()]
        tasks += self._lane.stop()
        if self._watchdog_task is not None:
            tasks.append(self._watchdog_task)
            self._watchdog_task = None
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, job: Job, start: float) -> None:
        scheduled = first_run(job.key, job.settings.interval, start, self._tick)
        previous: float | None = None  # when the last run was due
        loop = asyncio.get_running_loop()
        while True:
            waker: asyncio.Future[None] = loop.create_future()
            self._wakers[job.key] = waker
            await self._clock.sleep_until(scheduled, waker, job.depth)
            if waker.done():  # woken early by trigger(): run soon, keep the grid
                # Never sooner than down_interval after the previous run: a re-check
                # must not squeeze failed runs closer together than the debounce
                # (fall - 1) x down_interval that the README promises.
                now = self._clock.now()
                soonest = now if previous is None else previous + self._fast_interval(job)
                scheduled = min(scheduled, max(now, soonest))
                if scheduled > now:
                    await self._clock.sleep_until(scheduled, None, job.depth)
            previous = scheduled
            result = await self._run_limited(job, scheduled)
            self._deliver(job, result)
            interval = self._fast_interval(job) if job.key in self._fast else job.settings.interval
            scheduled, missed = next_run(scheduled, interval, self._clock.now())
            if self._tick > 0:  # stay exactly on the tick grid despite float sums
                scheduled = round(scheduled / self._tick) * self._tick
            if missed:
                self._metrics.count_skipped(job.kind, missed)

    @staticmethod
    def _fast_interval(job: Job) -> float:
        """The interval while a check is failing, so that recovery is seen sooner."""
        settings = job.settings
        if settings.down_interval is not None:
            return settings.down_interval
        return max(settings.interval / 3, settings.timeout)

    def set_fast(self, key: tuple[str, str], fast: bool) -> None:
        """Poll a job at its down interval (``fast``) or its normal one."""
        if fast:
            self._fast.add(key)
        else:
            self._fast.discard(key)

    def trigger(self, target: str) -> int:
        """Run every check of ``target`` now, or ``down_interval`` after its previous run
        if that is later (a parent recovered, a re-check); returns how many."""
        woken = 0
        for key in self._by_target.get(target, ()):
            if key in self._lane:
                woken += self._lane.trigger(key)
                continue
            waker = self._wakers.get(key)
            if waker is not None and not waker.done():
                waker.set_result(None)
                woken += 1
        return woken

    async def _run_limited(self, job: Job, scheduled: float) -> ProbeResult:
        kind_limit = self._kind_limits.get(job.kind)
        if not self._global.try_acquire():
            await self._global.acquire()
        try:
            if kind_limit is not None and not kind_limit.try_acquire():
                await kind_limit.acquire()
            try:
                return await self._run(job, scheduled)
            finally:
                if kind_limit is not None:
                    kind_limit.release()
        finally:
            self._global.release()

    async def _run(self, job: Job, scheduled: float) -> ProbeResult:
        start = self._clock.now()
        self._metrics.observe_lag(job.kind, max(0.0, start - scheduled))
        self._metrics.in_flight(job.kind, 1)
        started_wall = self._clock.wall()
        deadline = start + job.settings.timeout
        task = asyncio.current_task()
        assert task is not None
        self._running[task] = deadline + DEADLINE_GRACE
        try:
            return await self._probers[job.kind].probe(job.target, job.settings, deadline=deadline)
        except asyncio.CancelledError:
            if task not in self._overran:
                raise  # a real cancellation: reload or shutdown
            self._overran.discard(task)
            task.uncancel()
            return _failure("deadline", "probe overran its deadline", started_wall, self._clock)
        except Exception as exc:  # a probe bug must not stop the job or the daemon
            log.exception("probe %s of %s raised", job.kind, job.target.name)
            return _failure("internal_error", f"probe raised {exc!r}", started_wall, self._clock)
        finally:
            self._running.pop(task, None)
            self._metrics.in_flight(job.kind, -1)

    async def _watchdog(self) -> None:
        """Cut off runs that overran their deadline by more than the grace time.

        Probes honour their deadlines themselves; this only catches bugs. One
        task checking once a second is much cheaper than a timeout context
        (a timer in the loop's heap) around each of thousands of runs.
        """
        while True:
            await self._clock.sleep_until(self._clock.now() + WATCHDOG_PERIOD)
            now = self._clock.now()
            for task, hard_deadline in list(self._running.items()):
                if hard_deadline < now and task not in self._overran:
                    self._overran.add(task)
                    task.cancel()
            self._lane.overdue(now)

    def _deliver(self, job: Job, result: ProbeResult) -> None:
        try:
            self._on_result(job, result)
        except Exception:  # keep probing even if a consumer has a bug
            log.exception("handling the result of %s %s failed", job.kind, job.target.name)


def _startable(probers: Mapping[str, Prober[Any]]) -> dict[str, StartableProber[Any]]:
    """The kinds whose prober can start a run without a coroutine (the tick lane)."""
    return {kind: p for kind, p in probers.items() if isinstance(p, StartableProber)}


def _failure(reason: str, message: str, started: float, clock: Clock) -> ProbeResult:
    return ProbeResult(
        ok=False,
        reason=reason,
        message=message,
        started=started,
        duration=max(0.0, clock.wall() - started),
    )
