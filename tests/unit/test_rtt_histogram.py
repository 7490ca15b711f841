"""``continuity_probe_rtt_seconds``: cumulative buckets, parsed back by prometheus-client."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.engine.config import DEFAULT_RTT_BUCKETS
from monitor.engine.exporter import Deferred, SeriesStore, format_value, resolve
from monitor.engine.rtt_histogram import NAME, PIECE_CHECKS, RttHistogram, line_writer


def parsed(store: SeriesStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(store.render().decode()):
        assert family.type == "histogram"
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0.0005], {"0.001": 1, "0.01": 1, "+Inf": 1}),
        ([0.001], {"0.001": 1, "0.01": 1, "+Inf": 1}),  # le: a bound counts itself
        ([0.002, 0.02, 20.0], {"0.001": 0, "0.01": 1, "+Inf": 3}),
        ([None, -1.0, 0.005], {"0.001": 0, "0.01": 1, "+Inf": 1}),  # no time: not counted
    ],
)
def test_cumulative_buckets(times: list[float | None], expected: dict[str, int]) -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.001, 0.01])
    for t in times:
        histogram.observe('bts "1"', "icmp", t)
    samples = parsed(store)
    labels = (("check", "icmp"), ("target", 'bts "1"'))
    for le, count in expected.items():
        assert samples[(f"{NAME}_bucket", (*labels[:1], ("le", le), *labels[1:]))] == count
    assert samples[(f"{NAME}_count", labels)] == expected["+Inf"]
    assert samples[(f"{NAME}_sum", labels)] == pytest.approx(
        sum(t for t in times if t is not None and t >= 0)
    )


def test_no_bounds_exports_nothing_and_removal_drops_the_series() -> None:
    store = SeriesStore([])
    RttHistogram(store, []).observe("a", "icmp", 0.1)
    assert store.render() == b""
    histogram = RttHistogram(store, [0.1])
    histogram.observe("a", "icmp", 0.05)
    assert store.render() != b"" and len(histogram) == 1
    histogram.forget("a")
    assert store.render() == b"" and len(histogram) == 0


def test_no_text_is_kept_and_a_scrape_renders_the_counts_of_its_snapshot() -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.001, 0.01])
    for _ in range(3):
        histogram.observe("a", "icmp", 0.002)
    histogram.observe("b", "icmp", 0.02)
    assert len(store) == 0  # counted, never kept as text
    parts = store.parts()  # the scrape's snapshot, taken on the loop ...
    (deferred,) = [p for p in parts if isinstance(p, Deferred)]
    assert deferred.series == 2 * (2 + 1 + 2)  # two checks: 2 bounds + Inf, _sum, _count
    histogram.observe("a", "icmp", 0.0005)  # ... a result arrives before it is joined ...
    labels = (("check", "icmp"), ("target", "a"))
    then = {}
    for family in text_string_to_metric_families(b"".join(resolve(parts)).decode()):
        then = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    assert then[(f"{NAME}_count", labels)] == 3  # ... and is not in it
    samples = parsed(store)  # the next scrape has it
    assert samples[(f"{NAME}_count", labels)] == 4
    assert samples[(f"{NAME}_bucket", (labels[0], ("le", "0.001"), labels[1]))] == 1
    assert samples[(f"{NAME}_sum", labels)] == pytest.approx(0.0065)


def test_a_freed_slot_reused_by_another_check_carries_only_the_new_labels() -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.1])
    histogram.observe("a", "icmp", 0.05)
    histogram.observe("b", "icmp", 0.05)
    histogram.forget("a")
    histogram.observe("c", "tcp", 0.5)  # takes a's slot
    counts = {key[1]: v for key, v in parsed(store).items() if key[0] == f"{NAME}_count"}
    assert counts == {
        (("check", "icmp"), ("target", "b")): 1,
        (("check", "tcp"), ("target", "c")): 1,
    }
    buckets = {key[1]: v for key, v in parsed(store).items() if key[0] == f"{NAME}_bucket"}
    assert buckets[(("check", "tcp"), ("le", "0.1"), ("target", "c"))] == 0  # a's count is gone


def test_a_check_taken_off_its_target_drops_its_series_and_counts() -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.1])
    for target in ("a", "b"):
        for check in ("icmp", "tcp"):
            histogram.observe(target, check, 0.05)
    store.render()
    histogram.observe("a", "tcp", 0.05)  # pending when the reload comes
    histogram.keep("a", ["icmp"])
    assert {key[1:] for key in parsed(store) if key[0] == f"{NAME}_count"} == {
        ((("check", "icmp"), ("target", "a")),),
        ((("check", "icmp"), ("target", "b")),),
        ((("check", "tcp"), ("target", "b")),),
    }
    assert len(histogram) == 3
    histogram.observe("a", "tcp", 0.5)  # the check comes back: counted from zero
    labels = (("check", "tcp"), ("target", "a"))
    assert parsed(store)[(f"{NAME}_count", labels)] == 1


def test_a_removed_target_is_not_rendered_back() -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.1])
    histogram.observe("a", "icmp", 0.05)
    store.render()
    histogram.observe("a", "icmp", 0.05)
    store.remove_target("a")  # the exporter drops the target first ...
    histogram.forget("a")  # ... then the history forgets it
    assert store.render() == b""


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.001])
def test_times_that_are_not_finite_and_positive_are_not_counted(value: float) -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.1])
    histogram.observe("a", "icmp", value)
    assert store.render() == b"" and len(histogram) == 0


@pytest.mark.parametrize("bounds", [[0.001], [1e-05, 0.5, 2.0, 1e300], list(DEFAULT_RTT_BUCKETS)])
def test_the_compiled_line_writer_writes_what_the_text_format_says(bounds: list[float]) -> None:
    """Labels and counts are arguments of the compiled function, never its source:
    braces, quotes and backslashes in them come out as they went in."""
    write = line_writer(bounds)
    labels = 'target="a{b}\\\\c\\"d\'e",check="icmp"'
    counts = list(range(3, 3 + len(bounds) + 1))
    les = [format_value(b) for b in bounds] + ["+Inf"]
    expected = "".join(
        f'{NAME}_bucket{{{labels},le="{le}"}} {c}\n' for le, c in zip(les, counts, strict=True)
    )
    expected += f"{NAME}_sum{{{labels}}} 0.25\n{NAME}_count{{{labels}}} {counts[-1]}\n"
    assert write(labels, *counts, "0.25") == expected


def test_a_snapshot_renders_in_pieces_that_join_to_its_render() -> None:
    store = SeriesStore([])
    histogram = RttHistogram(store, [0.1])
    for i in range(PIECE_CHECKS * 2 + 5):
        histogram.observe(f"t{i}", "icmp", 0.05)
    histogram.forget("t3")  # a free slot inside the first piece
    deferred = histogram.snapshot()
    assert deferred is not None and deferred.pieces is not None
    pieces = list(deferred.pieces())
    assert len(pieces) == 3
    assert b"".join(pieces) == deferred.render()
    assert deferred.render().count(b"_count{") == PIECE_CHECKS * 2 + 4
