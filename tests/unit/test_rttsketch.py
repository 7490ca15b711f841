"""The RTT sketch: slots, quantiles and merges against a brute-force reference."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine.rttsketch import (
    BASE,
    PER_OCTAVE,
    SLOTS,
    Summary,
    decode_slots,
    encode_slots,
    from_row,
    merged,
    slot,
    slot_bounds,
    to_row,
)

SLOT_RATIO = 2 ** (1 / PER_OCTAVE / 2) * (1 + 1e-9)
"""Worst error of a quantile: half a slot (the geometric middle is reported)."""


def nearest_rank(values: list[float], q: float) -> float:
    """The reference: the ceil(q*n)-th smallest value."""
    ordered = sorted(values)
    if q <= 0:
        return ordered[0]
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary_of(values: list[float]) -> Summary:
    s = Summary()
    for v in values:
        s.add(sent=1, lost=0, seconds=v)
    return s


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, 0),
        (BASE, 0),
        (BASE * 1.0001, 1),
        (BASE * 2, PER_OCTAVE + 1),
        (0.001, slot(0.001)),
        (1e9, SLOTS - 1),
    ],
)
def test_slot_table(seconds: float, expected: int) -> None:
    assert slot(seconds) == expected
    low, high = slot_bounds(expected)
    if 0 < expected < SLOTS - 1:
        assert low <= seconds < high or math.isclose(seconds, high)


@pytest.mark.parametrize(
    ("values", "q", "reference"),
    [
        ([0.010], 0.5, 0.010),
        ([0.010, 0.020], 0.5, 0.010),
        ([0.001, 0.002, 0.003, 0.004, 0.100], 0.5, 0.003),
        ([0.001, 0.002, 0.003, 0.004, 0.100], 0.9, 0.100),
        ([0.001, 0.002, 0.003, 0.004, 0.100], 0.1, 0.001),
        ([0.005] * 9 + [2.0], 0.9, 0.005),
        ([0.005] * 9 + [2.0], 1.0, 2.0),
        ([0.005] * 9 + [2.0], 0.0, 0.005),
    ],
)
def test_quantile_table(values: list[float], q: float, reference: float) -> None:
    assert nearest_rank(values, q) == reference
    got = summary_of(values).quantile(q)
    assert got is not None
    assert reference / SLOT_RATIO <= got <= reference * SLOT_RATIO


def test_quantiles_without_times_and_loss() -> None:
    s = Summary()
    s.add(sent=3, lost=3, seconds=None)
    s.add(sent=3, lost=1, seconds=0.004)
    assert (s.count, s.sent, s.lost) == (2, 6, 4)
    assert s.loss_ratio() == pytest.approx(4 / 6)
    assert s.quantile(0.5) == 0.004
    assert Summary().quantile(0.5) is None
    assert Summary().loss_ratio() is None


def test_merge_of_minutes_is_the_hour() -> None:
    """Sixty minutes merged equal the summary of every value of the hour."""
    minutes = [[0.001 * (1 + (m * 7 + i) % 13) for i in range(4)] for m in range(60)]
    hour = merged(summary_of(vs) for vs in minutes)
    every = summary_of([v for vs in minutes for v in vs])
    assert hour == every
    for q in (0.1, 0.5, 0.9):
        assert hour.quantile(q) == every.quantile(q)


def test_row_round_trip() -> None:
    s = summary_of([0.0012, 0.0031, 0.25, 7.5])
    s.add(sent=1, lost=1, seconds=None)
    back = from_row(to_row(s))
    assert back.slots == s.slots
    assert (back.count, back.sent, back.lost) == (5, 5, 1)
    assert back.low == pytest.approx(0.0012) and back.high == pytest.approx(7.5)


@pytest.mark.parametrize("data", [b"\x05", b"\x05\x80", bytes([SLOTS, 1])])
def test_decode_refuses_garbage(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_slots(data)


times = st.floats(min_value=2e-5, max_value=100.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(st.lists(times, min_size=0, max_size=30), min_size=1, max_size=12),
    q=st.sampled_from([0.1, 0.5, 0.9]),
)
def test_merge_matches_brute_force(parts: list[list[float]], q: float) -> None:
    """Merged quantiles equal those of all values at once, and stay within a slot of the truth."""
    whole = [v for part in parts for v in part]
    total = merged(summary_of(part) for part in parts)
    assert total == summary_of(whole)
    if not whole:
        assert total.quantile(q) is None
        return
    reference = nearest_rank(whole, q)
    got = total.quantile(q)
    assert got is not None
    assert reference / SLOT_RATIO <= got <= reference * SLOT_RATIO
    assert total.low == min(whole) and total.high == max(whole)


@settings(max_examples=200, deadline=None)
@given(counts=st.dictionaries(st.integers(0, SLOTS - 1), st.integers(1, 10**9), max_size=40))
def test_encoding_round_trip(counts: dict[int, int]) -> None:
    assert decode_slots(encode_slots(counts)) == counts


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=0.0, max_value=400.0),
            st.sampled_from([0.0, -0.0, -1.0, 1e-5, math.inf, math.nan, 1e-7]),
        ),
        max_size=8,
    ),
    st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=3),
)
def test_observe_all_is_observe_of_each_valid_time(times: list[float], before: list[float]) -> None:
    one, many = Summary(), Summary()
    for seconds in before:
        one.observe(seconds)
        many.observe(seconds)
    for seconds in times:
        if seconds >= 0 and math.isfinite(seconds):
            one.observe(seconds)
    many.observe_all(tuple(times))
    assert many == one
