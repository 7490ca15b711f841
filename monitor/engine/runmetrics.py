"""Per-run scheduler figures kept in plain Python counters, exported by a collector.

Every check run updates these (lag, in-flight, outcome). prometheus-client's
metric objects take a lock and walk label dicts on every update, which at
thousands of runs a second was a tenth of the daemon's CPU; here an update is
a dict lookup and an addition, and the cost moves to the scrape, which reads
a few dozen numbers.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Histogram:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LAG_BUCKETS) + 1)  # last slot: above the largest bound
        self.total = 0.0


class RunMetrics(Collector):
    """Implements the scheduler's metrics protocol; register it in a registry."""

    def __init__(self) -> None:
        self._lag: dict[str, _Histogram] = {}
        self._skipped: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._runs: dict[tuple[str, str], int] = {}
        self._unmatched: dict[str, int] = {}

    def observe_lag(self, kind: str, seconds: float) -> None:
        hist = self._lag.get(kind)
        if hist is None:
            hist = self._lag[kind] = _Histogram()
            # Exported from 0, so that increase() sees the first skipped runs too.
            self._skipped.setdefault(kind, 0)
        hist.counts[bisect.bisect_left(LAG_BUCKETS, seconds)] += 1
        hist.total += seconds

    def count_skipped(self, kind: str, runs: int) -> None:
        self._skipped[kind] = self._skipped.get(kind, 0) + runs

    def in_flight(self, kind: str, delta: int) -> None:
        self._in_flight[kind] = self._in_flight.get(kind, 0) + delta

    def count_run(self, kind: str, ok: bool) -> None:
        key = (kind, "success" if ok else "failure")
        self._runs[key] = self._runs.get(key, 0) + 1

    def count_unmatched(self, listener: str) -> None:
        """An event a listener received from an address that is no configured target."""
        self._unmatched[listener] = self._unmatched.get(listener, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        lag = HistogramMetricFamily(
            "continuity_scheduler_lag_seconds",
            "How late check runs start compared with their schedule.",
            labels=["kind"],
        )
        for kind, hist in sorted(self._lag.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LAG_BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            lag.add_metric([kind], buckets, hist.total)
        yield lag
        skipped = CounterMetricFamily(
            "continuity_scheduler_skipped_runs",
            "Check runs skipped because the scheduler fell a whole interval behind.",
            labels=["kind"],
        )
        for kind, count in sorted(self._skipped.items()):
            skipped.add_metric([kind], count)
        yield skipped
        flight = GaugeMetricFamily(
            "continuity_probes_in_flight", "Check runs in progress.", labels=["kind"]
        )
        for kind, count in sorted(self._in_flight.items()):
            flight.add_metric([kind], count)
        yield flight
        runs = CounterMetricFamily(
            "continuity_check_runs", "Check runs completed, by outcome.", labels=["kind", "result"]
        )
        for (kind, outcome), count in sorted(self._runs.items()):
            runs.add_metric([kind, outcome], count)
        yield runs
        unmatched = CounterMetricFamily(
            "continuity_listener_unmatched_events",
            "Events (SNMP traps) from addresses that are no configured target.",
            labels=["listener"],
        )
        for listener, count in sorted(self._unmatched.items()):
            unmatched.add_metric([listener], count)
        yield unmatched


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
