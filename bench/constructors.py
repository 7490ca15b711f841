"""What the hot frozen dataclasses' constructors cost, three ways, in process.

    python -m bench.constructors [--number 100000] [--repeat 7]

For ``TargetState`` (20 fields), ``CheckState`` (6) and ``ProbeResult`` (9),
each called positionally with every field as the state step and the probes
call them:

- ``fast_init``: the class as it is (``monitor.fast_init``'s constructor);
- ``dataclass``: the same fields made into a plain frozen slots dataclass by
  ``dataclasses.make_dataclass`` (the constructor the class has without
  ``fast_init``: ``object.__setattr__`` per field);
- ``slot setters``: a constructor calling each slot descriptor's ``__set__``
  (the way ``ProbeResult``'s written-out constructor worked until issue 14's
  session 8), generated here from the fields.

Prints ns per construction, the best of ``--repeat`` timings of ``--number``
calls each (the least disturbed by the other work on the machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import timeit
from collections.abc import Callable
from typing import Any

from monitor.contract import ProbeResult, Sample
from monitor.engine.compact_values import CompactValues
from monitor.engine.state import CheckState, Health, TargetState


def dataclass_twin(cls: type) -> type:
    """``cls``'s fields as a plain frozen slots dataclass (its dataclass constructor)."""
    spec = []
    for entry in dataclasses.fields(cls):
        options: dict[str, Any] = {}
        if entry.default is not dataclasses.MISSING:
            options["default"] = entry.default
        if entry.default_factory is not dataclasses.MISSING:
            options["default_factory"] = entry.default_factory
        spec.append((entry.name, entry.type, dataclasses.field(**options)))
    made: type = dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True)
    return made


def setters_twin(cls: type) -> type:
    """The same, with a constructor that calls each slot's ``__set__`` (all fields given)."""
    twin = dataclass_twin(cls)
    names = [entry.name for entry in dataclasses.fields(twin)]
    env = {f"set_{name}": getattr(twin, name).__set__ for name in names}
    body = "".join(f"    set_{name}(self, {name})\n" for name in names)
    exec(f"def __init__(self, {', '.join(names)}):\n{body}", env)
    twin.__init__ = env["__init__"]  # type: ignore[misc]
    return twin


def arguments() -> dict[type, tuple[Any, ...]]:
    """Every field, positionally, with the values of a quiet step."""
    values = CompactValues.of({"rtt_avg_seconds": 4e-05, "loss_ratio": 0.0})
    samples = (Sample("continuity_icmp_rtt_seconds", 4e-05, (("stat", "avg"),)),)
    result = (True, "ok", "3/3 replies", 1e9, 0.002, samples, values, (), (4e-05, 4.1e-05))
    check = (Health.UP, 1e9, True, 12, 1e9, ProbeResult(*result))
    checks = {"icmp": CheckState(*check)}
    target = ("site-00001", Health.UP, 1e9, checks, Health.UP, Health.UP, 1e9, False, False)
    target += (False, 0, 21, False, None, None, 0, False, None, 1e9, None)
    return {ProbeResult: result, CheckState: check, TargetState: target}


def best_ns(make: Callable[..., object], args: tuple[Any, ...], number: int, repeat: int) -> float:
    timings = timeit.repeat(lambda: make(*args), number=number, repeat=repeat)
    return min(timings) / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    print(f"{'class':12s} {'fields':>6s} {'fast_init':>10s} {'dataclass':>10s} {'setters':>10s}")
    for cls, args in arguments().items():
        ways = (cls, dataclass_twin(cls), setters_twin(cls))
        for way in ways:  # all three build the same thing
            assert dataclasses.astuple(way(*args)) == dataclasses.astuple(cls(*args))
        ns = [best_ns(way, args, options.number, options.repeat) for way in ways]
        print(f"{cls.__name__:12s} {len(args):6d} {ns[0]:8.0f}ns {ns[1]:8.0f}ns {ns[2]:8.0f}ns")


if __name__ == "__main__":
    main()
