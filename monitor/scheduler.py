"""Running every (target, check) on its interval, spread out, on time, within limits.

One asyncio task per job. The first run of a job lands at a stable,
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
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from probes.base import CheckSettings, Prober, ProbeResult, ProbeTarget

log = logging.getLogger(__name__)

# A probe must honour its deadline; this extra time only catches bugs.
DEADLINE_GRACE = 1.0


class Clock(Protocol):
    """Time as the scheduler sees it; tests pass a fake one."""

    def now(self) -> float:
        """Monotonic seconds, the same clock as probe deadlines (the loop's)."""
        ...

    def wall(self) -> float:
        """UNIX time, for results."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return at ``when`` (monotonic) or soon after."""
        ...


class LoopClock:
    """The event loop's clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        delay = when - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(frozen=True, slots=True)
class Job:
    """One check of one target. Equal jobs keep running across a reload."""

    target: ProbeTarget
    kind: str
    settings: CheckSettings

    @property
    def key(self) -> tuple[str, str]:
        return (self.target.name, self.kind)


class SchedulerMetrics(Protocol):
    """What the scheduler reports; implemented by the exporter's self-metrics."""

    def observe_lag(self, kind: str, seconds: float) -> None: ...
    def count_skipped(self, kind: str, runs: int) -> None: ...
    def in_flight(self, kind: str, delta: int) -> None: ...


def first_run(key: tuple[str, str], interval: float, start: float) -> float:
    """A stable offset in ``[start, start + interval)`` derived from the job's key."""
    digest = hashlib.blake2b("\0".join(key).encode(), digest_size=8).digest()
    return start + int.from_bytes(digest, "big") / 2**64 * interval


def next_run(scheduled: float, interval: float, now: float) -> tuple[float, int]:
    """The next grid slot after ``scheduled`` and how many whole slots were missed.

    A slot that is late by less than one interval still runs (late, with lag
    recorded): skipping it would turn every small stall into a lost run.
    Slots overtaken entirely by ``now`` are skipped.
    """
    nxt = scheduled + interval
    missed = int((now - nxt) // interval) if now > nxt + interval else 0
    return nxt + missed * interval, missed


ResultCallback = Callable[[Job, ProbeResult], None]


class Scheduler:
    """Owns the job tasks; :meth:`sync` makes the running set match a job list."""

    def __init__(
        self,
        probers: Mapping[str, Prober],
        on_result: ResultCallback,
        metrics: SchedulerMetrics,
        *,
        clock: Clock | None = None,
        max_concurrency: int = 5000,
        kind_concurrency: Mapping[str, int] | None = None,
    ) -> None:
        self._probers = probers
        self._on_result = on_result
        self._metrics = metrics
        self._clock = clock or LoopClock()
        self._global = asyncio.Semaphore(max_concurrency)
        self._kind_limits = dict(kind_concurrency or {})
        self._per_kind: dict[str, asyncio.Semaphore] = {}
        self._tasks: dict[tuple[str, str], tuple[Job, asyncio.Task[None]]] = {}

    @property
    def jobs(self) -> list[Job]:
        return [job for job, _ in self._tasks.values()]

    def set_probers(self, probers: Mapping[str, Prober]) -> None:
        """Replace the prober map (a reload may bring a new kind)."""
        self._probers = probers

    def sync(self, jobs: Iterable[Job]) -> tuple[int, int, int]:
        """Start new jobs, stop removed ones, restart changed ones.

        Returns (started, stopped, kept) so a reload can log what it did.
        """
        wanted = {job.key: job for job in jobs}
        stopped = 0
        for key in list(self._tasks):
            job, task = self._tasks[key]
            if wanted.get(key) != job:
                task.cancel()
                del self._tasks[key]
                stopped += 1
        started = 0
        now = self._clock.now()
        for key, job in wanted.items():
            if key not in self._tasks:
                task = asyncio.create_task(self._loop(job, now), name=f"check:{key[0]}:{key[1]}")
                self._tasks[key] = (job, task)
                started += 1
        return started, stopped, len(wanted) - started

    async def stop(self) -> None:
        """Cancel every job and wait for them to finish."""
        tasks = [task for _, task in self._tasks.values()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _semaphore(self, kind: str) -> asyncio.Semaphore | None:
        limit = self._kind_limits.get(kind)
        if limit is None:
            return None
        if kind not in self._per_kind:
            self._per_kind[kind] = asyncio.Semaphore(limit)
        return self._per_kind[kind]

    async def _loop(self, job: Job, start: float) -> None:
        interval = job.settings.interval
        scheduled = first_run(job.key, interval, start)
        while True:
            await self._clock.sleep_until(scheduled)
            result = await self._run_limited(job, scheduled)
            self._deliver(job, result)
            scheduled, missed = next_run(scheduled, interval, self._clock.now())
            if missed:
                self._metrics.count_skipped(job.kind, missed)

    async def _run_limited(self, job: Job, scheduled: float) -> ProbeResult:
        kind_sem = self._semaphore(job.kind)
        async with self._global:
            if kind_sem is None:
                return await self._run(job, scheduled)
            async with kind_sem:
                return await self._run(job, scheduled)

    async def _run(self, job: Job, scheduled: float) -> ProbeResult:
        start = self._clock.now()
        self._metrics.observe_lag(job.kind, max(0.0, start - scheduled))
        self._metrics.in_flight(job.kind, 1)
        started_wall = self._clock.wall()
        deadline = start + job.settings.timeout
        try:
            async with asyncio.timeout(job.settings.timeout + DEADLINE_GRACE):
                return await self._probers[job.kind].probe(
                    job.target, job.settings, deadline=deadline
                )
        except TimeoutError:
            return _failure("deadline", "probe overran its deadline", started_wall, self._clock)
        except Exception as exc:  # a probe bug must not stop the job or the daemon
            log.exception("probe %s of %s raised", job.kind, job.target.name)
            return _failure("internal_error", f"probe raised {exc!r}", started_wall, self._clock)
        finally:
            self._metrics.in_flight(job.kind, -1)

    def _deliver(self, job: Job, result: ProbeResult) -> None:
        try:
            self._on_result(job, result)
        except Exception:  # keep probing even if a consumer has a bug
            log.exception("handling the result of %s %s failed", job.kind, job.target.name)


def _failure(reason: str, message: str, started: float, clock: Clock) -> ProbeResult:
    return ProbeResult(
        ok=False,
        reason=reason,
        message=message,
        started=started,
        duration=max(0.0, clock.wall() - started),
    )
