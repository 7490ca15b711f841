"""A cheaper ``__init__`` for frozen slots dataclasses, generated from their fields.

A frozen dataclass's own ``__init__`` sets every field with
``object.__setattr__(self, name, value)``: a global lookup, an attribute
lookup and a generic attribute write per field (2.1 µs for the state step's
twenty-field ``TargetState``, made once per result). :func:`fast_init`
replaces it, after ``@dataclass`` has built the class, with one generated
from the same fields (same parameters, order, defaults, ``default_factory``
and keyword-only fields) that writes the fields as plain slot stores.

How, and why it stays honest: for the few statements of the constructor the
new object is made an instance of a *building* twin, a plain class with the
same ``__slots__`` (so the same memory layout; CPython allows ``__class__``
assignment between such classes) and no ``__setattr__`` of its own, so
``self.name = value`` is the interpreter's specialised slot store; then it is
given its own class back. Nothing sees it between the two: the object is
new, no other reference to it exists yet, and the constructor calls nothing
but the fields' factories, which run before the swap (only
``gc.get_objects()`` from another thread could list it, as the twin, at
that moment). After ``__init__`` the instance is exactly what the dataclass's
constructor made: assignment raises ``FrozenInstanceError``, equality,
hashing, ``repr``, ``replace``, ``fields``, copying and pickling are the
dataclass's own (this only replaces ``__init__``). The decorator checks,
when the class is made, that the generated signature is the dataclass's
(``str(inspect.signature(...))``, annotations and defaults included) and
that the swap is allowed, and refuses what it does not cover
(``__post_init__``, ``InitVar``, base classes) with a ``TypeError``.

Figures (``python -m bench.constructors``, ns per call, this / the dataclass's
/ calling each slot descriptor's ``__set__``, ``ProbeResult``'s written-out
constructor until issue 14's session 8): ``TargetState`` (20 fields) 520 /
1,900-2,100 / 970-1,030; ``ProbeResult`` (9) 370-400 / 950-990 / 500-530;
``CheckState`` (6) 340 / 650 / 375. The two ``__class__`` assignments cost
about 0.25 µs together, so the swap pays from about six fields.

An instance of a subclass (one that is not a dataclass itself: a dataclass
subclass has its own ``__init__``) is built by the dataclass's constructor,
after the defaults are filled in the same way.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from typing import Any, Final, TypeVar

T = TypeVar("T")

_PREFIX: Final = "_fast_init_"
"""Of the generated function's own names, so that none is a field's."""

_SET_CLASS: Final[Callable[[object, type], None]] = object.__dict__["__class__"].__set__
"""``obj.__class__ = cls`` without the lookup of ``object.__setattr__`` and the name."""


class _Factory:
    """The default shown for a field with a ``default_factory`` (as the dataclass shows it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY: Final = _Factory()


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen slots dataclass ``cls`` a generated constructor (see the module).

    Put it above ``@dataclass(frozen=True, slots=True)``: the type checker still
    reads the dataclass's constructor, which this one matches parameter for
    parameter (checked here).
    """
    _check_class(cls)
    building = type(
        f"{cls.__name__}Building",
        (),
        {"__slots__": cls.__dict__["__slots__"], "__module__": cls.__module__},
    )
    _check_swap(cls, building)
    plain = cls.__init__
    init = _generate(cls, building, plain)
    if str(inspect.signature(init)) != str(inspect.signature(plain)):
        raise TypeError(
            f"fast_init: {cls.__qualname__}'s generated constructor "
            f"{inspect.signature(init)} is not the dataclass's {inspect.signature(plain)}"
        )
    type.__setattr__(cls, "__init__", init)
    return cls


def _check_class(cls: type) -> None:
    """Refuse what the generated constructor does not cover, before anything is made."""
    params = getattr(cls, "__dataclass_params__", None)
    problem = None
    if params is None or not params.frozen or not params.init:
        problem = "is not a frozen dataclass with a constructor"
    elif "__slots__" not in cls.__dict__:
        problem = "has no slots (use @dataclass(slots=True))"
    elif cls.__bases__ != (object,):
        problem = "has base classes"
    elif hasattr(cls, "__post_init__"):
        problem = "has __post_init__"
    elif any(f.name.startswith(_PREFIX) or f.name == "self" for f in fields(cls)):
        problem = f"has a field named self or starting with {_PREFIX}"
    if problem is not None:
        raise TypeError(f"fast_init: {cls.__qualname__} {problem}")


def _check_swap(cls: type, building: type) -> None:
    """The interpreter allows the ``__class__`` swap between ``cls`` and its twin."""
    blank: object = object.__new__(cls)
    try:
        _SET_CLASS(blank, building)
        _SET_CLASS(blank, cls)
    except TypeError as error:
        raise TypeError(f"fast_init: {cls.__qualname__}: {error}") from None


def _generate(cls: type, building: type, plain: Callable[..., None]) -> Callable[..., None]:
    """Write and compile the constructor of ``cls`` from its fields."""
    env: dict[str, Any] = {
        "__builtins__": builtins,
        f"{_PREFIX}cls": cls,
        f"{_PREFIX}building": building,
        f"{_PREFIX}set_class": _SET_CLASS,
        f"{_PREFIX}plain": plain,
        f"{_PREFIX}FACTORY": _FACTORY,
    }
    positional: list[str] = []
    keyword: list[str] = []
    fill: list[str] = []  # factories run before the swap: nothing sees the twin
    stores: list[str] = []
    for entry in fields(cls):
        value = _field_value(entry, env, fill)
        if entry.init:
            param = entry.name + _default_text(entry, env)
            (keyword if entry.kw_only else positional).append(param)
        if value is not None:
            stores.append(f"self.{entry.name} = {value}")
    params = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    given = [e.name for e in fields(cls) if e.init and not e.kw_only]
    given += [f"{e.name}={e.name}" for e in fields(cls) if e.init and e.kw_only]
    lines = [
        f"def __init__({params}):",
        *(f"    {line}" for line in fill),
        f"    if type(self) is not {_PREFIX}cls:",
        f"        return {_PREFIX}plain({', '.join(['self', *given])})",
        f"    {_PREFIX}set_class(self, {_PREFIX}building)",
        *(f"    {line}" for line in stores),
        f"    {_PREFIX}set_class(self, {_PREFIX}cls)",
    ]
    exec(compile("\n".join(lines), f"<fast_init {cls.__qualname__}>", "exec"), env)  # noqa: S102
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = dict(plain.__annotations__)
    init.__doc__ = f"Make a {cls.__name__} (generated by monitor.fast_init from its fields)."
    return init


def _default_text(entry: Field[Any], env: dict[str, Any]) -> str:
    """``=default`` for a parameter, or nothing for a required one."""
    if entry.default is not MISSING:
        env[f"{_PREFIX}default_{entry.name}"] = entry.default
        return f"={_PREFIX}default_{entry.name}"
    if entry.default_factory is not MISSING:
        return f"={_PREFIX}FACTORY"
    return ""


def _field_value(entry: Field[Any], env: dict[str, Any], fill: list[str]) -> str | None:
    """The expression a field is set from, or None when the constructor leaves it unset
    (an ``init=False`` field without a default, as the dataclass leaves it)."""
    name = entry.name
    if entry.default_factory is not MISSING:
        env[f"{_PREFIX}factory_{name}"] = entry.default_factory
        if not entry.init:
            fill.append(f"{_PREFIX}made_{name} = {_PREFIX}factory_{name}()")
            return f"{_PREFIX}made_{name}"
        fill.append(f"if {name} is {_PREFIX}FACTORY:")
        fill.append(f"    {name} = {_PREFIX}factory_{name}()")
        return name
    if entry.init:
        return name
    if entry.default is not MISSING:
        env[f"{_PREFIX}default_{name}"] = entry.default
        return f"{_PREFIX}default_{name}"
    return None
