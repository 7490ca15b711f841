"""ProbeResult's generated constructor (monitor.fast_init) behaves as the dataclass's own did."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle

import pytest

from monitor.contract import ProbeEvent, ProbeResult, Sample


def test_the_constructor_takes_every_field_in_order_with_the_dataclass_defaults() -> None:
    parameters = list(inspect.signature(ProbeResult.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in dataclasses.fields(ProbeResult)]
    result = ProbeResult(True, "ok", "m", 1.0, 0.5)
    assert (result.samples, result.values, result.events, result.rtts) == ((), {}, (), ())
    assert result.values is not ProbeResult(True, "ok", "m", 1.0, 0.5).values  # not shared


def test_every_field_is_set_from_its_own_argument_positional_or_by_name() -> None:
    samples = (Sample("continuity_icmp_rtt_seconds", 0.001, (("stat", "avg"),)),)
    events = (ProbeEvent("DeviceRebooted", "up 3 s"),)
    given = (False, "loss", "1/3", 2.0, 0.25, samples, {"a": 1.0}, events, (0.001,))
    by_position = ProbeResult(*given)
    names = [f.name for f in dataclasses.fields(ProbeResult)]
    by_name = ProbeResult(
        ok=False,
        reason="loss",
        message="1/3",
        started=2.0,
        duration=0.25,
        samples=samples,
        values={"a": 1.0},
        events=events,
        rtts=(0.001,),
    )
    assert tuple(getattr(by_position, n) for n in names) == given
    assert by_name == by_position
    assert dataclasses.astuple(by_position)[:5] == given[:5]


def test_a_result_stays_frozen_comparable_copyable_and_picklable() -> None:
    result = ProbeResult(True, "ok", "m", 1.0, 0.5, values={"x": 2.0}, rtts=(0.1,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False  # type: ignore[misc]
    assert dataclasses.replace(result, ok=False).ok is False
    assert dataclasses.replace(result, ok=False).rtts == (0.1,)
    assert pickle.loads(pickle.dumps(result)) == result
    assert copy.deepcopy(result) == result
    assert result != ProbeResult(True, "ok", "m", 1.0, 0.5, values={"x": 3.0}, rtts=(0.1,))
