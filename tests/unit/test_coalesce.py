"""Coalesced: requests during a run merge into one more run; results reach every caller."""

from __future__ import annotations

import asyncio

import pytest

from monitor.engine.coalesce import Coalesced


async def test_requests_during_a_run_merge_into_one_more() -> None:
    gate = asyncio.Event()
    started: list[int] = []

    async def job() -> int:
        started.append(len(started) + 1)
        await gate.wait()
        gate.clear()
        return len(started)

    runs = Coalesced(job)
    first = asyncio.ensure_future(runs())
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(runs()) for _ in range(5)]
    await asyncio.sleep(0)
    assert started == [1]
    gate.set()
    assert await first == 1
    await asyncio.sleep(0)
    assert started == [1, 2]
    gate.set()
    assert await asyncio.gather(*later) == [2] * 5
    assert runs.runs == 2
    # Idle again: the next request starts a run of its own.
    gate.set()
    assert await runs() == 3


async def test_a_failing_run_reaches_its_callers_and_the_next_still_runs() -> None:
    calls = 0

    async def job() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        if calls == 1:
            raise ValueError("boom")
        return "ok"

    runs = Coalesced(job)
    first = asyncio.ensure_future(runs())
    await asyncio.sleep(0)
    second = asyncio.ensure_future(runs())
    with pytest.raises(ValueError, match="boom"):
        await first
    assert await second == "ok"


async def test_a_caller_giving_up_does_not_cancel_the_run() -> None:
    done = asyncio.Event()

    async def job() -> None:
        await asyncio.sleep(0.01)
        done.set()

    runs = Coalesced(job)
    caller = asyncio.ensure_future(runs())
    await asyncio.sleep(0)
    caller.cancel()
    await asyncio.wait_for(done.wait(), 2)
