"""monitor.fast_init's generated constructor behaves as the frozen dataclass's own.

Every class is compared with a *reference*: the same fields made into a plain
frozen slots dataclass by ``dataclasses.make_dataclass`` (the constructor the
class would have without ``fast_init``), same name, so that even the error
messages can be compared.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, InitVar, dataclass, field, fields, make_dataclass
from typing import Any

import pytest

from monitor.contract import ProbeEvent, ProbeResult, Sample
from monitor.engine.compact_values import CompactValues
from monitor.engine.state import CheckState, Health, TargetState
from monitor.fast_init import fast_init


def reference(cls: type) -> type:
    """``cls``'s fields as a plain frozen slots dataclass (the dataclass's constructor)."""
    spec = []
    for entry in fields(cls):
        options: dict[str, Any] = {"init": entry.init, "kw_only": entry.kw_only}
        if entry.default is not dataclasses.MISSING:
            options["default"] = entry.default
        if entry.default_factory is not dataclasses.MISSING:
            options["default_factory"] = entry.default_factory
        spec.append((entry.name, entry.type, field(**options)))
    made: type = make_dataclass(cls.__name__, spec, frozen=True, slots=True)
    return made


def outcome(make: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Every field of what ``make`` built (and its type's name), or the error it raised."""
    try:
        built = make(*args, **kwargs)
    except TypeError as error:
        return ("TypeError", str(error))
    return (
        type(built).__name__,
        {f.name: getattr(built, f.name, "<unset>") for f in fields(built)},
    )


@fast_init
@dataclass(frozen=True, slots=True)
class Mixed:
    """Every kind of field fast_init covers."""

    a: int
    b: str = "b"
    c: Mapping[str, int] = field(default_factory=dict)
    d: list[int] = field(default_factory=list, init=False)
    e: int = field(default=5, init=False)
    f: int = field(default=7, kw_only=True)
    g: tuple[int, ...] = field(default=(), kw_only=True)
    h: int = field(kw_only=True, default=0)
    i: object = field(init=False, default=None)


SAMPLES = (Sample("continuity_icmp_rtt_seconds", 0.001, (("stat", "avg"),)),)
EVENTS = (ProbeEvent("DeviceRebooted", "up 3 s"),)
RESULT = ProbeResult(True, "ok", "3/3", 1.0, 0.5)
CHECK = CheckState(Health.UP, 1.0, True, 3, 0.5, RESULT)

CALLS: list[tuple[type, tuple[Any, ...], dict[str, Any]]] = [
    # ProbeResult: positional as the probes call it, by name, defaults, wrong calls
    (ProbeResult, (True, "ok", "m", 1.0, 0.5), {}),
    (ProbeResult, (False, "loss", "1/3", 2.0, 0.25, SAMPLES, {"a": 1.0}, EVENTS, (0.001,)), {}),
    (ProbeResult, (), {"ok": True, "reason": "ok", "message": "", "started": 1, "duration": 0}),
    (ProbeResult, (True, "ok", "m", 1.0, 0.5), {"rtts": (0.1,), "values": CompactValues.of({})}),
    (ProbeResult, (True, "ok", "m", 1.0), {}),
    (ProbeResult, (True, "ok", "m", 1.0, 0.5, (), {}, (), (), "extra"), {}),
    (ProbeResult, (True, "ok", "m", 1.0, 0.5), {"ok": False}),
    (ProbeResult, (True, "ok", "m", 1.0, 0.5), {"sample": ()}),
    # CheckState: all defaults, positional as the step makes it, by name
    (CheckState, (), {}),
    (CheckState, (Health.UP, 1.0, True, 4, 0.5, RESULT), {}),
    (CheckState, (), {"last": RESULT, "streak": 2}),
    (CheckState, (Health.DOWN,), {"hard": Health.UP}),
    # TargetState: the name only, all twenty positional, some by name, wrong calls
    (TargetState, ("site",), {}),
    (
        TargetState,
        ("site", Health.UP, 1.0, {"icmp": CHECK}, Health.UP, Health.UP, 1.0, False, True),
        {"flapping": False, "flap_bits": 0, "flap_count": 21, "ok_at": 9.0},
    ),
    (TargetState, tuple(range(20)), {}),
    (TargetState, (), {"name": "x", "checks": {"a": CHECK}, "outage_cause": "check:a"}),
    (TargetState, (), {}),
    (TargetState, tuple(range(21)), {}),
    (TargetState, ("x",), {"nme": "y"}),
    # every kind of field
    (Mixed, (1,), {}),
    (Mixed, (1, "x", {"k": 1}), {"f": 2, "g": (3,), "h": 4}),
    (Mixed, (), {"a": 1, "h": 9}),
    (Mixed, (1, "x", {}, 4), {}),
    (Mixed, (1,), {"e": 3}),
    (Mixed, (1,), {"d": [1]}),
]


@pytest.mark.parametrize(("cls", "args", "kwargs"), CALLS)
def test_the_constructor_builds_what_the_dataclass_one_builds(
    cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    made = outcome(cls, args, kwargs)
    assert made == outcome(reference(cls), args, kwargs)
    if made[0] != "TypeError":
        built, plain = cls(*args, **kwargs), reference(cls)(*args, **kwargs)
        assert type(built) is cls
        assert repr(built) == repr(plain)


@pytest.mark.parametrize("cls", [ProbeResult, CheckState, TargetState, Mixed])
def test_the_signature_is_the_dataclass_one(cls: type) -> None:
    own = inspect.signature(cls.__init__)  # type: ignore[misc]
    assert str(own) == str(inspect.signature(reference(cls).__init__))  # type: ignore[misc]
    assert cls.__init__.__qualname__ == f"{cls.__name__}.__init__"  # type: ignore[misc]


def test_factories_make_a_fresh_object_each_time_and_only_when_not_given() -> None:
    first, second = Mixed(1), Mixed(2)
    assert first.c == {} and first.c is not second.c
    assert first.d == [] and first.d is not second.d
    given: dict[str, int] = {}
    assert Mixed(1, "x", given).c is given
    assert TargetState("a").checks is not TargetState("b").checks
    assert ProbeResult(True, "ok", "", 0, 0).values is not ProbeResult(True, "ok", "", 0, 0).values


@pytest.mark.parametrize(
    "built",
    [
        ProbeResult(True, "ok", "m", 1.0, 0.5, values={"x": 2.0}, rtts=(0.1,)),
        CHECK,
        TargetState("site", Health.UP, checks={"icmp": CHECK}, ok_at=3.0),
        Mixed(1, f=2),
    ],
    ids=["ProbeResult", "CheckState", "TargetState", "Mixed"],
)
def test_what_it_builds_stays_frozen_and_a_dataclass_of_its_own_type(built: Any) -> None:
    cls = type(built)
    for entry in fields(built):
        with pytest.raises(FrozenInstanceError):
            setattr(built, entry.name, None)
        with pytest.raises(FrozenInstanceError):
            delattr(built, entry.name)
    with pytest.raises((FrozenInstanceError, AttributeError, TypeError)):
        built.not_a_field = 1
    assert type(built) is cls and not hasattr(built, "__dict__")
    first = fields(built)[0].name
    changed = dataclasses.replace(built, **{first: getattr(built, first)})
    assert changed == built and changed is not built and type(changed) is cls
    assert pickle.loads(pickle.dumps(built)) == built
    assert copy.deepcopy(built) == built and copy.copy(built) == built
    assert dataclasses.astuple(built) == dataclasses.astuple(copy.deepcopy(built))
    assert repr(built).startswith(f"{cls.__name__}(")


def test_equality_and_hashing_are_the_dataclass_ones() -> None:
    assert CheckState(Health.UP, 1.0, True, 3, 0.5, RESULT) == CHECK
    bare = CheckState(Health.UP, 1.0, True, 3, 0.5)  # a result's values dict is unhashable
    assert hash(bare) == hash(CheckState(Health.UP, 1.0, True, 3, 0.5))
    assert hash(bare) == hash(reference(CheckState)(Health.UP, 1.0, True, 3, 0.5))
    assert CheckState(Health.UP, 1.0, True, 4, 0.5, RESULT) != CHECK
    assert reference(CheckState)(Health.UP, 1.0, True, 3, 0.5, RESULT) != CHECK  # another class
    with pytest.raises(TypeError):  # a dict field: unhashable, as the dataclass's is
        hash(TargetState("site"))


def test_a_field_added_without_updating_anything_is_constructed() -> None:
    # TargetState grown by two fields, made the way the class itself is: nothing lists them.
    spec: list[Any] = [(f.name, f.type, f) for f in fields(reference(TargetState))]
    spec += [
        ("added", "int", field(default=7)),
        ("added_list", "list[int]", field(default_factory=list)),
    ]
    grown: type = fast_init(make_dataclass("TargetState", spec, frozen=True, slots=True))
    for args, kwargs in [(("x",), {}), (("x",), {"added": 1, "added_list": [2]}), ((), {})]:
        assert outcome(grown, args, kwargs) == outcome(reference(grown), args, kwargs)
    assert grown("x").added == 7 and grown("x", added=8).added == 8
    with pytest.raises(FrozenInstanceError):
        grown("x").added = 9


def test_subclasses_are_built_as_before() -> None:
    class Loose(Mixed):  # a __dict__: not the twin's layout, built by the dataclass's own
        pass

    class Tight(Mixed):
        __slots__ = ()

    for sub in (Loose, Tight):
        built = sub(1, f=3)
        assert type(built) is sub and (built.a, built.c, built.e, built.f) == (1, {}, 5, 3)
        with pytest.raises(FrozenInstanceError):
            built.a = 2


class WithPostInit:
    def __post_init__(self) -> None:
        pass


REFUSED: list[tuple[Callable[[], type], str]] = [
    (lambda: dataclass(slots=True)(type("Loose", (), {"__annotations__": {"a": int}})), "frozen"),
    (lambda: dataclass(frozen=True)(type("Dicted", (), {"__annotations__": {"a": int}})), "slots"),
    (
        lambda: dataclass(frozen=True, slots=True, init=False)(
            type("NoInit", (), {"__annotations__": {"a": int}})
        ),
        "constructor",
    ),
    (
        lambda: dataclass(frozen=True, slots=True)(
            type("Post", (WithPostInit,), {"__annotations__": {"a": int}})
        ),
        "base classes",
    ),
    (
        lambda: dataclass(frozen=True, slots=True)(
            type("Post", (), {"__annotations__": {"a": int}, "__post_init__": lambda self: None})
        ),
        "__post_init__",
    ),
    (
        lambda: dataclass(frozen=True, slots=True)(
            type(
                "Var",
                (),
                {"__annotations__": {"a": int, "b": InitVar[int]}, "__post_init__": print},
            )
        ),
        "__post_init__",
    ),
    (
        lambda: dataclass(frozen=True, slots=True)(
            type("Var", (), {"__annotations__": {"a": int, "b": InitVar[int]}})
        ),
        "not the dataclass's",
    ),
    (
        lambda: dataclass(frozen=True, slots=True)(
            type("Clash", (), {"__annotations__": {"_fast_init_cls": int}})
        ),
        "field named",
    ),
]


@pytest.mark.parametrize(("make", "why"), REFUSED)
def test_what_it_does_not_cover_is_refused_when_the_class_is_made(
    make: Callable[[], type], why: str
) -> None:
    with pytest.raises(TypeError, match=why):
        fast_init(make())
