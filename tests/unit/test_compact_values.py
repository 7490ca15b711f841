"""CompactValues: a state's kept values read as the dict they were made from."""

from __future__ import annotations

import math
import sys

import pytest

from monitor.contract import ProbeResult, Sample
from monitor.engine.compact_values import CompactValues
from monitor.engine.state import kept_result

ECHO = {
    "packet_loss_ratio": 1 / 3,
    "packets_sent": 3.0,
    "packets_received": 2.0,
    "rtt_min_seconds": 0.000123456789,
    "rtt_avg_seconds": 1e-300,
    "rtt_max_seconds": math.inf,
    "jitter_seconds": -0.0,
}


@pytest.mark.parametrize(
    "values", [ECHO, {"x": 1.5}, {"nan": math.nan}, {"a": 1.0, "b": 2.0}], ids=repr
)
def test_reads_back_exactly_as_a_mapping(values: dict[str, float]) -> None:
    compact = CompactValues.of(values)
    assert list(compact) == list(values) and len(compact) == len(values)
    for key, value in values.items():
        assert key in compact
        got = compact[key]
        assert got == value or (math.isnan(got) and math.isnan(value))
        assert math.copysign(1, got) == math.copysign(1, value)
    assert "missing" not in compact and compact.get("missing") is None
    with pytest.raises(KeyError):
        compact["missing"]
    if not any(isinstance(v, float) and math.isnan(v) for v in values.values()):
        assert compact == values and values == compact and dict(compact) == values
        assert compact != {**values, "other": 0.0}


def test_names_are_taken_over_from_the_previous_values_when_the_same() -> None:
    first = CompactValues.of(ECHO)
    second = CompactValues.of(dict(ECHO), first)
    assert second._names is first._names
    other = CompactValues.of({"packet_loss_ratio": 1.0}, first)
    assert other._names is not first._names and dict(other) == {"packet_loss_ratio": 1.0}


def test_smaller_than_the_dict_and_its_floats() -> None:
    values = {k: v + 0.5 for k, v in ECHO.items() if math.isfinite(v)}
    compact = CompactValues.of(values, CompactValues.of(values))
    as_dict = sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values.values())
    # the names tuple is shared with the check's previous values
    assert sys.getsizeof(compact) + sys.getsizeof(compact._numbers) < as_dict / 2


def test_kept_result_compacts_values_and_keeps_the_rest() -> None:
    result = ProbeResult(
        True,
        "ok",
        "3/3 replies",
        10.0,
        0.5,
        samples=(Sample("continuity_icmp_packet_loss_ratio", 0.0),),
        values=dict(ECHO),
        rtts=(0.001,),
    )
    kept = kept_result(result)
    again = kept_result(result, kept)
    assert isinstance(kept.values, CompactValues) and kept.values == ECHO
    assert again.values._names is kept.values._names  # type: ignore[attr-defined]
    assert (kept.ok, kept.reason, kept.message, kept.started, kept.duration) == (
        True,
        "ok",
        "3/3 replies",
        10.0,
        0.5,
    )
    assert kept.samples == () and kept.rtts == () and kept == again
    plain = ProbeResult(False, "timeout", "", 1.0, 2.0, values={"x": 1.0})
    assert kept_result(plain) is plain  # nothing to drop: not copied


@pytest.mark.parametrize("n", [0, 1, 16, 17, 40])
def test_any_number_of_values(n: int) -> None:
    values = {f"v{i}": i * 0.5 for i in range(n)}
    assert CompactValues.of(values) == values
