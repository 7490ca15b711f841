"""``continuity_probe_rtt_seconds``: cumulative buckets, parsed back by prometheus-client."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.engine.exporter import SeriesStore
from monitor.engine.rtt_histogram import NAME, RttHistogram


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
    assert len(store) == 1
    store.remove_target("a")
    histogram.forget("a")
    assert store.render() == b""
