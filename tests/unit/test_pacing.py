"""The loader thread's pause (``monitor.engine.pacing``): a fake clock, no real sleeps."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import pytest

from monitor.engine.pacing import SWITCH_INTERVAL, LoopPacer, loop_first


class FakeTime:
    """A clock that a sleep moves on; ``on_sleep`` plays the loop (it may beat)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] = lambda: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


def pacer(fake: FakeTime) -> LoopPacer:
    return LoopPacer(
        clock=fake.clock, sleep=fake.sleep, beat=0.002, patience=0.006, nap=0.001, longest=0.05
    )


@pytest.mark.parametrize(
    ("since_beat", "loop_beats_after", "naps"),
    [
        (0.0, None, 0),  # the loop just ran: go on at once
        (0.005, None, 0),  # within the patience: not stale yet
        (0.010, 3, 3),  # busy: sleep until the loop beats again
        (0.010, None, 50),  # busy all along: at most `longest`, then go on anyway
    ],
    ids=["fresh", "within patience", "busy then free", "busy throughout"],
)
def test_the_thread_sleeps_while_the_beat_is_stale(
    since_beat: float, loop_beats_after: int | None, naps: int
) -> None:
    fake = FakeTime()
    watch = pacer(fake)
    fake.now += since_beat

    def loop_turn() -> None:
        if loop_beats_after is not None and len(fake.sleeps) == loop_beats_after:
            watch.beat()

    fake.on_sleep = loop_turn
    watch.pause()
    assert len(fake.sleeps) == naps
    assert watch.paused == pytest.approx(naps * 0.001)


def test_the_heartbeat_keeps_the_beat_fresh_while_it_runs() -> None:
    fake = FakeTime()
    watch = pacer(fake)

    async def scenario() -> None:
        fake.now += 1.0  # the loop was busy for a second before the task started
        task = asyncio.create_task(watch.heartbeat())
        await asyncio.sleep(0)  # its first beat
        watch.pause()
        assert fake.sleeps == []
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fake.now += 1.0
        watch.pause()  # no more beats: stale
        assert len(fake.sleeps) == 50

    asyncio.run(scenario())


def test_loop_first_shortens_the_switch_interval_and_overlaps_never_leave_it_short() -> None:
    short = pytest.approx(SWITCH_INTERVAL, rel=0.01)
    default = sys.getswitchinterval()
    assert default > SWITCH_INTERVAL
    try:
        with loop_first():
            assert sys.getswitchinterval() == short
        assert sys.getswitchinterval() == default
        # A reload and a scrape overlapping, the first one out first ...
        a, b = loop_first(), loop_first()
        a.__enter__()
        b.__enter__()
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)
        assert sys.getswitchinterval() == default  # ... not left short for good
        # ... or the last one in out first: still short while the other runs.
        a, b = loop_first(), loop_first()
        a.__enter__()
        b.__enter__()
        b.__exit__(None, None, None)
        assert sys.getswitchinterval() == short
        a.__exit__(None, None, None)
        assert sys.getswitchinterval() == default
    finally:
        sys.setswitchinterval(default)
