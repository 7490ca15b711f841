"""Scheduler with a fake clock: spreading, no drift, skipping after a stall, limits, reload.

Most rules run twice: with a prober run as one task per job, and with one the
tick lane starts (``prober_type``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from monitor.contract import CheckSettings, ProbeResult, ProbeTarget
from monitor.engine.jobs import Job, Limiter, first_run, next_run
from monitor.engine.scheduler import Scheduler
from tests.fakes import FakeClock, ScriptedProber, StartableScriptedProber, settle


class Recorder:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.skipped = 0
        self.flight = 0
        self.max_flight = 0

    def observe_lag(self, kind: str, seconds: float) -> None:
        self.lags.append(seconds)

    def count_skipped(self, kind: str, runs: int) -> None:
        self.skipped += runs

    def in_flight(self, kind: str, delta: int) -> None:
        self.flight += delta
        self.max_flight = max(self.max_flight, self.flight)


def job(name: str, interval: float = 10.0, timeout: float = 5.0, kind: str = "fake") -> Job:
    return Job(
        ProbeTarget(name, "127.0.0.1"),
        kind,
        CheckSettings(interval=f"{interval}s", timeout=f"{timeout}s"),
    )  # type: ignore[arg-type]


@pytest.fixture(params=["task", "lane"])
def prober_type(request: pytest.FixtureRequest) -> type[ScriptedProber]:
    """Every rule holds on both paths: a task per job, and the tick lane of a prober
    that can start runs without a coroutine (ICMP)."""
    return ScriptedProber if request.param == "task" else StartableScriptedProber


def make(
    clock: FakeClock, prober: Any, **kw: Any
) -> tuple[Scheduler, list[tuple[Job, ProbeResult]], Recorder]:
    results: list[tuple[Job, ProbeResult]] = []
    rec = Recorder()
    kw.setdefault("tick", 0.0)
    sched = Scheduler({"fake": prober}, lambda j, r: results.append((j, r)), rec, clock=clock, **kw)
    return sched, results, rec


@pytest.mark.parametrize(
    ("scheduled", "now", "expected"),
    [
        (100.0, 101.0, (110.0, 0)),  # on time
        (100.0, 110.0, (110.0, 0)),  # finished exactly at the next slot
        (100.0, 115.0, (110.0, 0)),  # late by half an interval: runs late, not skipped
        (100.0, 120.0, (110.0, 0)),  # exactly one interval late: still runs
        (100.0, 125.0, (120.0, 1)),  # a whole slot overtaken: skipped
        (100.0, 135.0, (130.0, 2)),
        (100.0, 1100.5, (1100.0, 99)),
    ],
)
def test_next_run_table(scheduled: float, now: float, expected: tuple[float, int]) -> None:
    assert next_run(scheduled, 10.0, now) == expected


def test_first_runs_spread_evenly_and_stably() -> None:
    offsets = [first_run((f"t{i}", "icmp"), 10.0, 0.0) for i in range(10_000)]
    assert all(0.0 <= o < 10.0 for o in offsets)
    buckets = Counter(int(o) for o in offsets)
    assert sorted(buckets) == list(range(10))
    assert all(900 <= n <= 1100 for n in buckets.values()), buckets
    assert offsets == [first_run((f"t{i}", "icmp"), 10.0, 0.0) for i in range(10_000)]


async def test_runs_follow_the_grid_without_drift(prober_type: type[ScriptedProber]) -> None:
    clock = FakeClock()

    def slow(call: dict[str, Any]) -> None:
        clock.t += 3.0  # each run takes 3 s of (fake) time

    prober = prober_type(clock, slow)
    sched, results, rec = make(clock, prober)
    sched.sync([job("a")])
    await clock.advance(60)
    starts = [c["at"] for c in prober.calls]
    first = first_run(("a", "fake"), 10.0, 1000.0)
    assert starts == pytest.approx([first + 10 * i for i in range(len(starts))])
    assert len(starts) >= 5 and len(results) == len(starts)
    assert max(rec.lags) == pytest.approx(0.0)
    await sched.stop()


async def test_stall_skips_whole_slots_and_counts_them(prober_type: type[ScriptedProber]) -> None:
    clock = FakeClock()

    def stall_once(call: dict[str, Any]) -> None:
        if len(prober.calls) == 1:
            clock.t += 35.0  # the loop was stuck for 35 s

    prober = prober_type(clock, stall_once)
    sched, _, rec = make(clock, prober)
    sched.sync([job("a")])
    await clock.advance(70)
    first = first_run(("a", "fake"), 10.0, 1000.0)
    starts = [c["at"] for c in prober.calls]
    # slots first+10 and first+20 are skipped; first+30 runs 5 s late; then on time again
    assert starts[:3] == pytest.approx([first, first + 35.0, first + 40.0])
    assert rec.skipped == 2
    assert rec.lags[1] == pytest.approx(5.0)
    await sched.stop()


async def test_deadline_is_start_plus_timeout(prober_type: type[ScriptedProber]) -> None:
    clock = FakeClock()
    prober = prober_type(clock)
    sched, _, _ = make(clock, prober)
    sched.sync([job("a", interval=10, timeout=4)])
    await clock.advance(10)
    call = prober.calls[0]
    assert call["deadline"] == pytest.approx(call["at"] + 4)
    await sched.stop()


async def test_kind_concurrency_limit_holds(prober_type: type[ScriptedProber]) -> None:
    clock = FakeClock()
    gate = asyncio.Event()

    async def block(call: dict[str, Any]) -> None:
        await gate.wait()

    prober = prober_type(clock, block)
    sched, results, rec = make(clock, prober, kind_concurrency={"fake": 2})
    sched.sync([job(f"t{i}", interval=100, timeout=100) for i in range(6)])
    await clock.advance(100)
    assert rec.max_flight == 2 and len(prober.calls) == 2
    gate.set()
    await settle()
    assert len(results) == 6 and rec.max_flight == 2
    await sched.stop()


async def test_a_raising_probe_becomes_a_failed_result_and_the_job_goes_on(
    prober_type: type[ScriptedProber],
) -> None:
    clock = FakeClock()

    def boom(call: dict[str, Any]) -> None:
        raise RuntimeError("bug in probe")

    sched, results, _ = make(clock, prober_type(clock, boom))
    sched.sync([job("a")])
    await clock.advance(30)
    assert len(results) == 3
    assert {r.reason for _, r in results} == {"internal_error"}
    assert "bug in probe" in results[0][1].message
    await sched.stop()


def check_tasks() -> dict[str, asyncio.Task[object]]:
    """The scheduler's running check loops, by task name (``check:<target>:<kind>``)."""
    return {
        t.get_name(): t
        for t in asyncio.all_tasks()
        if t.get_name().startswith("check:") and not t.done()
    }


async def test_sync_keeps_unchanged_restarts_changed_stops_removed() -> None:
    clock = FakeClock()
    sched, _, _ = make(clock, ScriptedProber(clock))
    assert sched.sync([job("a"), job("b"), job("c")]) == (3, 0, 0)
    await settle()
    tasks = check_tasks()
    assert sched.sync([job("a"), job("b", interval=20), job("d")]) == (2, 2, 1)
    await settle()
    assert check_tasks()["check:a:fake"] is tasks["check:a:fake"]  # kept running as it was
    assert tasks["check:b:fake"].cancelled() and tasks["check:c:fake"].cancelled()
    assert set(check_tasks()) == {"check:a:fake", "check:b:fake", "check:d:fake"}
    assert {j.target.name for j in sched.jobs} == {"a", "b", "d"}
    await sched.stop()
    assert sched.jobs == []


async def test_a_hanging_probe_is_cut_off_after_its_deadline_plus_grace(
    prober_type: type[ScriptedProber],
) -> None:
    clock = FakeClock()

    async def hang(call: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    prober = prober_type(clock, hang)
    sched, results, rec = make(clock, prober)
    sched.sync([job("a", interval=10, timeout=2)])
    while not prober.calls:  # the first run starts somewhere in [1000, 1010) and hangs
        await clock.advance(0.5)
    await clock.advance(2.5)
    assert results == [] and rec.flight == 1
    await clock.advance(2)  # the watchdog cuts it at deadline + grace (start + 3 s), within 1 s
    assert [r.reason for _, r in results][:1] == ["deadline"]
    assert 3 <= results[0][1].duration <= 4
    await sched.stop()


async def test_limiter_hands_slots_over_in_order_and_survives_cancellation() -> None:
    limiter = Limiter(1)
    assert limiter.try_acquire() and not limiter.try_acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await limiter.acquire()
        order.append(name)

    a = asyncio.create_task(take("a"))
    b = asyncio.create_task(take("b"))
    c = asyncio.create_task(take("c"))
    await settle()
    b.cancel()
    await settle()
    limiter.release()
    await settle()
    limiter.release()
    await settle()
    assert order == ["a", "c"] and b.cancelled() and a.done() and c.done()
    limiter.release()
    assert limiter.try_acquire()


def test_ticks_align_run_times() -> None:
    for i in range(100):
        when = first_run((f"t{i}", "icmp"), 10.0, 1234.567, tick=0.05)
        assert 1234.567 <= when < 1244.617
        assert abs(when / 0.05 - round(when / 0.05)) < 1e-6


async def test_a_failing_check_runs_at_its_down_interval_until_it_recovers(
    prober_type: type[ScriptedProber],
) -> None:
    clock = FakeClock()
    prober = prober_type(clock)
    sched, _, _ = make(clock, prober)
    sched.sync([job("a", interval=30, timeout=5)])
    sched.set_fast(("a", "fake"), True)  # as the daemon does when a result fails
    while not prober.calls:
        await clock.advance(1)
    await clock.advance(21)
    starts = [c["at"] for c in prober.calls]
    assert starts[1] - starts[0] == pytest.approx(10)  # interval / 3
    assert starts[2] - starts[1] == pytest.approx(10)
    sched.set_fast(("a", "fake"), False)
    await clock.advance(40)
    starts = [c["at"] for c in prober.calls]
    assert starts[-1] - starts[-2] == pytest.approx(30)
    await sched.stop()


async def test_trigger_runs_a_target_now_and_keeps_its_grid(
    prober_type: type[ScriptedProber],
) -> None:
    clock = FakeClock()
    prober = prober_type(clock)
    sched, _, _ = make(clock, prober)
    sched.sync([job("a", interval=60, timeout=5), job("b", interval=60, timeout=5)])
    await clock.advance(61)
    before = len(prober.calls)
    assert sched.trigger("a") == 1
    await settle()
    assert len(prober.calls) == before + 1 and prober.calls[-1]["target"] == "a"
    assert prober.calls[-1]["at"] == clock.now()
    assert sched.trigger("nope") == 0
    await sched.stop()


async def test_parents_are_polled_before_children_due_at_the_same_time(
    prober_type: type[ScriptedProber],
) -> None:
    clock = FakeClock()
    prober = prober_type(clock)
    sched, _, _ = make(clock, prober, tick=10.0)  # a coarse tick puts every first run together
    sched.sync(
        [
            Job(
                ProbeTarget(n, "127.0.0.1"),
                "fake",
                CheckSettings(interval="10s", timeout="5s"),
                depth,
            )
            for n, depth in (("site-1", 1), ("edge", 2), ("core", 0), ("site-2", 1))
        ]
    )
    await clock.advance(20)
    first_round = [c["target"] for c in prober.calls[:4]]
    assert first_round == ["core", "site-1", "site-2", "edge"]
    await sched.stop()
