"""GcPolicy and GcPauses against the interpreter's own collector (restored after each test)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from monitor.engine import gcpolicy
from monitor.engine.gcpolicy import GcPauses, GcPolicy


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def pair() -> Node:
    """A two-object reference cycle."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


def cycle() -> weakref.ref[Node]:
    """A reference cycle nothing else holds; the weak reference tells if it went."""
    return weakref.ref(pair())


@pytest.fixture(autouse=True)
def collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.parametrize(
    ("start", "took", "period"),
    [
        (4.0, 0.2, 2.0),  # too long: halve
        (1.0, 0.2, gcpolicy.PERIOD_MIN),  # never under the minimum
        (4.0, 0.02, 4.0),  # between a third of the target and the target: keep
        (4.0, 0.001, 8.0),  # short: double
        (gcpolicy.PERIOD_MAX, 0.001, gcpolicy.PERIOD_MAX),  # never over the maximum
    ],
)
def test_next_period(start: float, took: float, period: float) -> None:
    policy = GcPolicy()
    policy.period = start
    assert policy.next_period(took) == period


def test_settle_collects_everything_freezes_and_stops_automatic_full_collections() -> None:
    gone = cycle()
    kept = Node()
    GcPolicy().settle()
    assert gone() is None
    assert gc.get_threshold() == (gcpolicy.THRESHOLD_GEN0, 10, 1_000_000)
    assert all(o is not kept for o in gc.get_objects())  # the young generation is empty...
    gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())  # ...because it was frozen


def test_periodic_collects_what_is_not_frozen_and_freezes_the_survivors() -> None:
    policy = GcPolicy(clock=iter([0.0, 0.0, 1.0, 1.001]).__next__)
    policy.settle()
    gone = cycle()
    kept = Node()
    assert policy.periodic() is False
    assert gone() is None
    assert all(o is not kept for o in gc.get_objects())  # frozen
    assert policy.period == 8.0  # a short pass doubled it


def test_frozen_cycles_wait_for_the_daily_walk_of_everything() -> None:
    ticks = iter([0.0, 0.0, 10.0, 10.001, 86_400.0, 86_400.5, 86_401.0, 86_401.001])
    policy = GcPolicy(clock=ticks.__next__)
    policy.settle()
    alive = pair()
    leaked = weakref.ref(alive)
    policy.adopted()  # frozen while alive...
    del alive  # ...and now only the cycle holds it
    assert leaked() is not None
    assert policy.periodic() is False  # a pass walks only what is not frozen
    assert leaked() is not None
    assert policy.periodic() is True  # a day after the last walk of everything
    assert leaked() is None
    assert policy.periodic() is False  # and the next day starts from there


def test_pauses_are_timed_by_generation_and_exported() -> None:
    ticks = iter([10.0, 10.2, 20.0, 20.003])
    pauses = GcPauses(clock=ticks.__next__)
    pauses.callback("start", {"generation": 2})
    pauses.callback("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
    pauses.callback("start", {"generation": 0})
    pauses.callback("stop", {"generation": 0, "collected": 5, "uncollectable": 0})
    (family,) = pauses.collect()
    assert family.name == "continuity_gc_pause_seconds"
    values = {
        (s.name, s.labels.get("generation"), s.labels.get("le")): s.value for s in family.samples
    }
    assert values[("continuity_gc_pause_seconds_bucket", "2", "0.1")] == 0
    assert values[("continuity_gc_pause_seconds_bucket", "2", "0.25")] == 1
    assert values[("continuity_gc_pause_seconds_count", "2", None)] == 1
    assert values[("continuity_gc_pause_seconds_sum", "2", None)] == pytest.approx(0.2)
    assert values[("continuity_gc_pause_seconds_bucket", "0", "0.001")] == 0
    assert values[("continuity_gc_pause_seconds_bucket", "0", "0.005")] == 1
    assert values[("continuity_gc_pause_seconds_count", "1", None)] == 0
    assert pauses.worst == pytest.approx(0.2)


def test_install_times_the_interpreters_collections_until_removed() -> None:
    pauses = GcPauses()
    remove = pauses.install()
    try:
        gc.collect()
    finally:
        remove()
    gc.collect()
    remove()  # twice is harmless
    (family,) = pauses.collect()
    counts = {
        s.labels["generation"]: s.value
        for s in family.samples
        if s.name == "continuity_gc_pause_seconds_count"
    }
    assert counts["2"] == 1
