"""The scheduler's tick lane (light probes started from one callback per tick).

The rules it shares with the task path run in ``test_scheduler`` for both
paths; these are the lane's own cases: no task per job, a run the prober
declines, results of removed jobs, and re-checks asked for by a result's
own consumers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from monitor.contract import CheckSettings, ProbeResult, ProbeTarget
from monitor.engine.jobs import Job, first_run
from monitor.engine.scheduler import Scheduler
from tests.fakes import FakeClock, StartableScriptedProber, settle
from tests.unit.test_scheduler import Recorder


def job(name: str, interval: float = 10.0, timeout: float = 5.0) -> Job:
    return Job(
        ProbeTarget(name, "127.0.0.1"),
        "fake",
        CheckSettings(interval=f"{interval}s", timeout=f"{timeout}s"),  # type: ignore[arg-type]
    )


def make(
    clock: FakeClock, prober: StartableScriptedProber, on_result: Any = None
) -> tuple[Scheduler, list[tuple[Job, ProbeResult]], Recorder]:
    results: list[tuple[Job, ProbeResult]] = []

    def deliver(j: Job, r: ProbeResult) -> None:
        results.append((j, r))
        if on_result is not None:
            on_result(j, r)

    rec = Recorder()
    return Scheduler({"fake": prober}, deliver, rec, clock=clock, tick=0.0), results, rec


async def test_light_jobs_run_without_a_task_each() -> None:
    clock = FakeClock()
    prober = StartableScriptedProber(clock)
    sched, results, rec = make(clock, prober)
    tasks_before = len(asyncio.all_tasks())
    sched.sync([job(f"t{i}") for i in range(200)])
    await clock.advance(25)
    assert len(asyncio.all_tasks()) - tasks_before <= 1  # the watchdog only
    assert prober.started == len(results) >= 400
    assert {j.target.name for j, _ in results} == {f"t{i}" for i in range(200)}
    assert rec.flight == 0 and max(rec.lags) == 0.0
    await sched.stop()


async def test_a_declined_run_goes_through_probe_and_the_job_stays_on_its_grid() -> None:
    clock = FakeClock()
    prober = StartableScriptedProber(clock, decline=lambda name: name == "named")
    sched, results, _ = make(clock, prober)
    sched.sync([job("named"), job("literal")])
    await clock.advance(35)
    named = [c["at"] for c in prober.calls if c["target"] == "named"]
    first = first_run(("named", "fake"), 10.0, 1000.0)
    assert named == [first, first + 10, first + 20, first + 30][: len(named)] and len(named) >= 3
    assert prober.started == len([c for c in prober.calls if c["target"] == "literal"])
    assert len(results) == len(prober.calls)
    await sched.stop()


async def test_the_result_of_a_removed_job_in_flight_is_dropped() -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def wait(call: dict[str, Any]) -> None:
        await gate.wait()

    prober = StartableScriptedProber(clock, wait)
    sched, results, rec = make(clock, prober)
    sched.sync([job("a", timeout=9), job("b", timeout=9)])
    await clock.advance(10)  # both started, neither near its deadline
    assert len(prober.calls) == 2 and rec.flight == 2
    assert sched.sync([job("b", timeout=9)]) == (0, 1, 1)
    gate.set()
    await settle()
    assert [j.target.name for j, _ in results] == ["b"]
    assert rec.flight == 0
    assert [j.target.name for j in sched.jobs] == ["b"]
    await sched.stop()


async def test_a_trigger_from_the_results_own_consumer_does_not_run_it_again_at_once() -> None:
    clock = FakeClock()
    prober = StartableScriptedProber(clock)
    sched: Scheduler | None = None

    def recheck(j: Job, r: ProbeResult) -> None:
        assert sched is not None
        assert sched.trigger(j.target.name) == 0  # it is this very run's result

    sched, results, _ = make(clock, prober, on_result=recheck)
    sched.sync([job("a")])
    await clock.advance(25)
    starts = [c["at"] for c in prober.calls]
    assert (
        len(results) == len(starts) == 3
        and starts[1] - starts[0] == 10.0
        and starts[2] - starts[1] == 10.0
    )
    await sched.stop()


async def test_trigger_moves_a_waiting_run_no_sooner_than_the_fast_interval() -> None:
    clock = FakeClock()
    prober = StartableScriptedProber(clock)
    sched, _, _ = make(clock, prober)
    sched.sync([job("a", interval=60)])
    while not prober.calls:
        await clock.advance(1)
    first = prober.calls[0]["at"]
    assert sched.trigger("a") == 1  # soonest: 20 s (interval / 3) after the previous run
    assert sched.trigger("a") == 0  # already moved
    await clock.advance(first + 25 - clock.now())
    starts = [c["at"] for c in prober.calls]
    assert starts == [first, first + 20]
    await clock.advance(60)
    assert [c["at"] for c in prober.calls][2] == first + 80  # the grid goes on from there
    await sched.stop()
