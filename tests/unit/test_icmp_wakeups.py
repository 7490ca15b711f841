"""The ICMP engine's wake-up bookkeeping: timers in millisecond buckets, results in batches.

Pure logic on a fake loop (a clock the test moves and the timer it arms),
table-driven: which timers fire at which time, in which order, and what one
delivery of a batch hands on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from probes.icmp_wakeups import Batch, TimerBuckets, millisecond_of


class FakeHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeLoop:
    """``time()`` and ``call_at()`` of an event loop; :meth:`run_until` fires what is due."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[tuple[float, Callable[[], None], FakeHandle]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> FakeHandle:
        handle = FakeHandle()
        self.armed.append((when, callback, handle))
        return handle

    def live(self) -> list[float]:
        """When the timers not cancelled are armed for."""
        return sorted(when for when, _, handle in self.armed if not handle.cancelled)

    def run_until(self, until: float) -> None:
        """Move the clock to each armed time up to ``until`` and call what is armed there."""
        while True:
            due = [a for a in self.armed if not a[2].cancelled and a[0] <= until]
            if not due:
                break
            first = min(due, key=lambda a: a[0])
            self.armed.remove(first)
            self.now = max(self.now, first[0])
            first[1]()
        self.now = until


def make() -> tuple[FakeLoop, TimerBuckets, list[str]]:
    loop = FakeLoop()
    timers = TimerBuckets(loop)  # type: ignore[arg-type]
    return loop, timers, []


# (timers set as (when, name), the time the loop runs to, names fired in order, timers left)
CASES = [
    # Timers of one millisecond share a bucket: one armed loop timer, insertion order.
    ([(1.0101, "a"), (1.0109, "b"), (1.0102, "c")], 1.011, ["a", "b", "c"], 0),
    # Different buckets fire in time order whatever the order they were set in.
    ([(3.0, "late"), (1.0, "early"), (2.0, "middle")], 5.0, ["early", "middle", "late"], 0),
    # Only what is due: the later bucket stays set.
    ([(1.0, "now"), (2.0, "later")], 1.5, ["now"], 1),
    # A timer is never fired before its bucket ends minus the slack (2 ms).
    ([(1.0, "due"), (1.0015, "in slack"), (1.0040, "not yet")], 1.0, ["due", "in slack"], 1),
]


@pytest.mark.parametrize(("set_at", "until", "fired", "left"), CASES)
def test_timers_fire_by_bucket_in_order(
    set_at: list[tuple[float, str]], until: float, fired: list[str], left: int
) -> None:
    loop, timers, out = make()
    for when, name in set_at:
        timers.at(when, out.append, name)
    loop.run_until(until)
    assert out == fired
    assert len(timers) == left


def test_one_loop_timer_per_bucket_and_never_late_by_more_than_a_millisecond() -> None:
    loop, timers, out = make()
    for i in range(50):
        timers.at(1.0001 + i * 0.00001, out.append, i)  # 50 timers within half a millisecond
    assert loop.live() == [pytest.approx(1.001)]  # armed once, at the bucket's end
    timers.at(0.5, out.append, "sooner")  # an earlier bucket re-arms the loop timer
    assert loop.live() == [pytest.approx(0.5)]
    loop.run_until(2.0)
    assert out == ["sooner", *range(50)]


def test_a_timer_set_while_firing_in_the_same_bucket_fires_in_that_wake_up() -> None:
    loop, timers, out = make()

    def first(name: str) -> None:
        out.append(name)
        timers.at(loop.time(), out.append, "set by first")

    timers.at(1.0, first, "first")
    loop.run_until(1.0)
    assert out == ["first", "set by first"]
    assert len(timers) == 0


def test_a_failing_timer_does_not_lose_the_rest_of_its_bucket() -> None:
    loop, timers, out = make()

    def broken(_: object) -> None:
        raise RuntimeError("a bug")

    timers.at(1.0, out.append, "before")
    timers.at(1.0, broken, None)
    timers.at(1.0, out.append, "after")
    timers.at(2.0, out.append, "next bucket")
    with pytest.raises(RuntimeError):
        loop.run_until(1.0)  # the loop would report it
    assert out == ["before"]
    loop.run_until(3.0)
    assert out == ["before", "after", "next bucket"]


def test_close_drops_every_timer() -> None:
    loop, timers, out = make()
    timers.at(1.0, out.append, "x")
    timers.close()
    loop.run_until(5.0)
    assert out == []
    assert len(timers) == 0


class FakeSoon:
    """``call_soon`` that keeps the callbacks for the test to run."""

    def __init__(self) -> None:
        self.queued: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.queued.append(callback)

    def run(self) -> None:
        queued, self.queued = self.queued, []
        for callback in queued:
            callback()


# (items added in one wake-up, then in the next) -> loop callbacks asked for per wake-up
BATCH_CASES = [
    ([1], [], [1, 0]),
    ([1, 2, 3, 4, 5], [], [1, 0]),
    ([1, 2], [3], [1, 1]),
    ([], [7, 8, 9], [0, 1]),
]


@pytest.mark.parametrize(("first", "second", "callbacks"), BATCH_CASES)
def test_batch_delivers_the_items_of_a_wake_up_from_one_callback_in_order(
    first: list[int], second: list[int], callbacks: list[int]
) -> None:
    soon = FakeSoon()
    delivered: list[int] = []
    batch: Batch[int] = Batch(soon, delivered.append)
    asked = []
    for items in (first, second):
        for item in items:
            batch.add(item)
        assert delivered == [i for i in first if items is second], "never inside add()"
        asked.append(len(soon.queued))
        soon.run()
    assert asked == callbacks
    assert delivered == first + second
    assert len(batch) == 0


def test_a_failing_delivery_is_logged_and_the_rest_of_the_batch_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    soon = FakeSoon()
    delivered: list[int] = []

    def deliver(item: int) -> None:
        if item == 2:
            raise ValueError("a consumer's bug")
        delivered.append(item)

    batch: Batch[int] = Batch(soon, deliver)
    for item in (1, 2, 3):
        batch.add(item)
    with caplog.at_level(logging.ERROR):
        soon.run()
    assert delivered == [1, 3]
    assert "delivering a settled run failed" in caplog.text


def test_an_item_added_during_a_delivery_goes_to_the_next_batch() -> None:
    soon = FakeSoon()
    delivered: list[int] = []

    def deliver(item: int) -> None:
        delivered.append(item)
        if item < 2:
            batch.add(9)

    batch: Batch[int] = Batch(soon, deliver)
    batch.add(1)
    soon.run()
    assert delivered == [1]
    assert len(soon.queued) == 1  # a new delivery was asked for
    soon.run()
    assert delivered == [1, 9]


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (26000.05, 26000.05),  # a tick's time: its own millisecond
        (26000.05 + 0.0004, 26000.05),  # the tick's callback, a moment later
        (26000.05 - 1e-10, 26000.05),  # asyncio runs a callback up to its resolution early
        (26000.0519, 26000.051),
        (0.0, 0.0),
    ],
)
def test_millisecond_of(when: float, expected: float) -> None:
    assert millisecond_of(when) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("tick", [26000.05, 1234.35, 987654.95])
def test_an_echo_whole_seconds_after_a_tick_fires_with_that_later_tick(tick: float) -> None:
    """A run started in a tick's callback sends its next echoes whole intervals after
    the tick's millisecond: they are armed for the later tick's own time, so the
    loop serves them in the same wake-up as that tick (not a millisecond after)."""
    loop, timers, out = make()
    loop.now = tick + 0.0004
    start = millisecond_of(loop.now)
    for k in (1, 2):
        timers.at(start + k * 1.0, out.append, f"echo {k}")
    later = [tick + 1.0, tick + 2.0]
    assert loop.live() == [pytest.approx(later[0], abs=1e-9)]
    loop.run_until(later[0] + 1e-9)
    assert out == ["echo 1"]
    assert loop.live() == [pytest.approx(later[1], abs=1e-9)]
