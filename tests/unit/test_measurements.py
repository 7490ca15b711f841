"""The bucket recorder: results into fine buckets, fine into coarse, against a brute-force rollup."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.contract import ProbeResult
from monitor.engine.measurements import COARSE, FINE, Recorder, measure
from monitor.engine.rttsketch import Summary, merged
from monitor.web.history_view import plan, steps

Rows = list[tuple[str, str, int, Summary]]


class Sink:
    def __init__(self) -> None:
        self.rows: dict[str, Rows] = {FINE: [], COARSE: []}

    def write_buckets(self, level: str, rows: Rows) -> None:
        self.rows[level].extend(rows)


def ok(started: float, seconds: float) -> ProbeResult:
    return ProbeResult(True, "ok", "", started, seconds)


def echo(started: float, sent: int, received: int, avg: float | None) -> ProbeResult:
    values = {"packets_sent": float(sent), "packets_received": float(received)}
    if avg is not None:
        values["rtt_avg_seconds"] = avg
    return ProbeResult(received > 0, "ok" if received else "timeout", "", started, 1.0, (), values)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (ok(0, 0.25), (1, 0, 0.25)),
        (ProbeResult(False, "timeout", "", 0, 5.0), (1, 1, None)),
        (echo(0, 5, 3, 0.012), (5, 2, 0.012)),
        (echo(0, 3, 0, None), (3, 3, None)),
    ],
)
def test_measure_table(result: ProbeResult, expected: tuple[int, int, float | None]) -> None:
    assert measure(result) == expected


def test_fine_bucket_closes_on_the_next_minute_and_rolls_into_the_hour() -> None:
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    rec.record("a", "icmp", echo(3600 * 10 + 5, 3, 3, 0.010))
    rec.record("a", "icmp", echo(3600 * 10 + 35, 3, 2, 0.020))
    assert sink.rows[FINE] == []
    rec.record("a", "icmp", echo(3600 * 10 + 65, 3, 3, 0.030))
    ((target, check, start, minute),) = sink.rows[FINE]
    assert (target, check, start) == ("a", "icmp", 36000)
    assert (minute.count, minute.sent, minute.lost) == (2, 6, 1)
    # The next hour's first minute closes the hour.
    rec.record("a", "icmp", echo(3600 * 11 + 1, 3, 3, 0.040))
    rec.record("a", "icmp", echo(3600 * 11 + 61, 3, 3, 0.040))
    ((_, _, hour_start, hour),) = sink.rows[COARSE]
    assert hour_start == 36000
    assert hour == merged(s for _, _, t, s in sink.rows[FINE] if t < 39600)


def test_sweep_closes_quiet_checks_and_late_results_go_forward() -> None:
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    rec.record("a", "http", ok(120, 0.1))
    rec.sweep(now=179)  # the minute ended, but not a grace period ago
    assert sink.rows[FINE] == []
    rec.sweep(now=240)
    assert [r[2] for r in sink.rows[FINE]] == [120]
    # A result that started in the closed minute goes to the next one: no row is replaced.
    rec.record("a", "http", ok(170, 0.2))
    rec.sweep(now=400)
    assert [r[2] for r in sink.rows[FINE]] == [120, 180]
    rec.sweep(now=3600 + 61)
    assert [r[2] for r in sink.rows[COARSE]] == [0]
    assert sink.rows[COARSE][0][3].count == 2


def test_seeded_hour_continues_after_a_restart() -> None:
    sink = Sink()
    before = Summary()
    before.add(sent=1, lost=0, seconds=0.5)
    rec = Recorder(sink, fine=60, coarse=3600)
    rec.seed({("a", "http"): (3600, before, 3600 + 600)})
    rec.record("a", "http", ok(3600 + 590, 0.1))  # before the last stored minute's end
    rec.sweep(now=3600 * 2 + 120)
    assert [r[2] for r in sink.rows[FINE]] == [3600 + 600]
    ((_, _, start, hour),) = sink.rows[COARSE]
    assert start == 3600 and hour.count == 2


def test_close_hands_over_the_minute_in_progress() -> None:
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    rec.record("a", "http", ok(30, 0.1))
    rec.close()
    assert [r[2] for r in sink.rows[FINE]] == [0]
    assert len(rec) == 0


def test_forget_hands_over_what_a_removed_target_had_open() -> None:
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    rec.record("gone", "http", ok(30, 0.1))
    rec.record("kept", "http", ok(30, 0.1))
    rec.record("gone", "icmp", ok(40, 0.1))
    rec.forget(["gone", "never-seen"])
    assert sorted((r[0], r[1], r[2]) for r in sink.rows[FINE]) == [
        ("gone", "http", 0),
        ("gone", "icmp", 0),
    ]
    assert sorted((r[0], r[1]) for r in sink.rows[COARSE]) == [("gone", "http"), ("gone", "icmp")]
    assert rec.checks("gone") == [] and rec.checks("kept") == ["http"]


def test_keep_hands_over_and_drops_a_check_taken_off_its_target() -> None:
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    for target in ("a", "b"):
        rec.record(target, "icmp", ok(30, 0.1))
        rec.record(target, "http", ok(30, 0.1))
    rec.keep("a", {"icmp"})
    assert [(r[0], r[1]) for r in sink.rows[FINE]] == [("a", "http")]
    assert rec.checks("a") == ["icmp"] and rec.checks("b") == ["http", "icmp"]
    rec.keep("b", {"http", "icmp"})  # nothing taken off: nothing handed over
    assert len(sink.rows[FINE]) == 1 and len(rec) == 3


def test_coarse_must_be_a_multiple_of_fine() -> None:
    with pytest.raises(ValueError, match="multiple"):
        Recorder(Sink(), fine=60, coarse=90)


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]),
            st.floats(0, 3 * 3600 - 1),
            st.one_of(st.none(), st.floats(1e-4, 2.0)),
        ),
        max_size=80,
    )
)
def test_rollups_match_brute_force(events: list[tuple[str, float, float | None]]) -> None:
    """Every result lands once; coarse rows equal the merge of their fine rows and of the raw results."""
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    raw: dict[tuple[str, int], list[float | None]] = defaultdict(list)
    for target, started, seconds in sorted(events, key=lambda e: e[1]):
        result = (
            ok(started, seconds) if seconds is not None else ProbeResult(False, "x", "", started, 1)
        )
        rec.record(target, "c", result)
        raw[(target, int(started // 3600) * 3600)].append(seconds)
    rec.sweep(now=10 * 3600)
    fine_by_hour: dict[tuple[str, int], list[Summary]] = defaultdict(list)
    for target, _, t, s in sink.rows[FINE]:
        fine_by_hour[(target, t // 3600 * 3600)].append(s)
    coarse = {(target, t): s for target, _, t, s in sink.rows[COARSE]}
    assert sum(s.count for s in coarse.values()) == len(events)
    for key, summary in coarse.items():
        assert summary == merged(fine_by_hour[key])
        reference = Summary()
        for seconds in raw[key]:
            reference.add(sent=1, lost=0 if seconds is not None else 1, seconds=seconds)
        assert summary == reference


def test_plan_and_steps_merge_minutes_into_ten_minute_points() -> None:
    p = plan("30h", 100_000.0, fine=60, coarse=3600, fine_retention=14 * 86400)
    assert (p.level, p.step) == ("fine", 600)
    assert p.until - p.since == 30 * 3600 and p.until > 100_000
    minutes = []
    for i in range(20):
        s = Summary()
        s.add(sent=1, lost=0, seconds=0.001 * (i + 1))
        minutes.append((p.until - 1200 + 60 * i, s))
    points = steps(minutes, p)
    assert [t for t, _ in points] == [p.until - 1200, p.until - 600]
    assert points[0][1] == merged(s for _, s in minutes[:10])
    assert plan("360d", 1e9, fine=60, coarse=3600, fine_retention=14 * 86400).level == "coarse"
    assert plan("10d", 1e9, fine=60, coarse=3600, fine_retention=14 * 86400).step == 3600


def test_an_echo_train_adds_every_echo_to_the_distribution() -> None:
    """One run a minute still draws a band: the spread between its echoes."""
    sink = Sink()
    rec = Recorder(sink, fine=60, coarse=3600)
    train = dataclasses.replace(echo(120, 5, 4, 0.0125), rtts=(0.010, 0.011, 0.013, 0.016))
    rec.record("a", "icmp", train)
    rec.close()
    ((_, _, _, minute),) = sink.rows[FINE]
    assert (minute.count, minute.sent, minute.lost) == (1, 5, 1)
    assert (minute.low, minute.high) == (0.010, 0.016)
    assert sum(minute.slots.values()) == 4
