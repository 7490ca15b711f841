"""Turning validation failures into operator-friendly messages with dotted key paths.

Every error the config loader reports is a :class:`ConfigIssue`: a dotted
path such as ``targets[2].icmp.count`` (prefixed with the file when it came
from an included file) and a message saying what was expected and what was
found. pydantic's own wording ("Input should be a valid integer") is
replaced by ours so the messages read the same for every key.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration.

    ``path`` is the dotted path (``targets[6].tempalte``); once the loader has
    located it, ``file``/``line`` say where it is written, ``target`` names the
    target it belongs to and ``key`` is the path inside that target.
    """

    path: str
    message: str
    file: str | None = None
    line: int | None = None
    target: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def located(self) -> str:
        """``config.toml:72 (bts-binh-son-01): tempalte: unknown key; did you mean template?``"""
        if self.file is None or self.line is None:
            return str(self)
        where = f"{self.file}:{self.line}" + (f" ({self.target})" if self.target else "")
        key = self.key if self.key is not None else self.path
        return f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; carries every issue found, not just the first."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(dict.fromkeys(issues))  # drop repeats, keep order
        super().__init__("\n".join(i.located() for i in self.issues))


def suggestion(word: str, known: Iterable[str]) -> str:
    """``"; did you mean template?"`` when a known word is close, else ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def show(value: object) -> str:
    """Render a config value the way it looks in TOML-ish text, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return str(value)


def join_path(base: str, loc: Iterable[int | str]) -> str:
    """``join_path("targets[2]", ("icmp", "count"))`` -> ``targets[2].icmp.count``."""
    path = base
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _BARE_KEY.fullmatch(part):
            path += f".{part}" if path else part
        else:
            path += f'."{part}"' if path else f'"{part}"'
    return path


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")  # TOML bare keys need no quotes

_SIMPLE = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "string_too_short": "must not be empty",
}

_EXPECTED = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "dataclass_type": "a table",
}


_WITH_CONTEXT = {
    "value_error": "{error}",
    "assertion_error": "{error}",
    "literal_error": "must be one of {expected}, got {shown}",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "string_too_long": "must be at most {max_length} characters long",
    "string_pattern_mismatch": "must match {pattern}, got {shown}",
}


_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "less_than_equal": ("le", "at most"),
    "greater_than": ("gt", "greater than"),
    "less_than": ("lt", "less than"),
}


def _bound(err: ErrorDetails) -> str | None:
    """``must be at least 1, got 0`` for a ``Field(ge=..., le=...)`` bound."""
    key, words = _BOUNDS[err["type"]]
    limit = (err.get("ctx") or {}).get(key)
    value = err.get("input")
    if not isinstance(limit, int | float) or not isinstance(value, int | float):
        return None
    return f"must be {words} {_number(limit)}, got {_number(value)}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def describe(err: ErrorDetails, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as our message (without the path)."""
    kind = err["type"]
    shown = show(err.get("input"))
    if kind in _BOUNDS:
        return _bound(err) or err["msg"]
    if kind == "extra_forbidden" and model is not None and err["loc"]:
        known = known_keys(model, err["loc"][:-1])
        return _SIMPLE[kind] + suggestion(str(err["loc"][-1]), known)
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {shown}"
    if kind in _WITH_CONTEXT:
        ctx: dict[str, Any] = {"shown": shown, **(err.get("ctx") or {})}
        return _WITH_CONTEXT[kind].format(**ctx)
    return err["msg"]


_UNION_TAGS = frozenset(
    {"str", "int", "float", "bool", "none", "dict", "list", "tuple", "datetime"}
)


def _is_union_tag(part: int | str) -> bool:
    """pydantic puts the branch of a union into the loc (``list[str]``, ``literal[...]``)."""
    return isinstance(part, str) and ("[" in part or part in _UNION_TAGS)


def known_keys(model: type[BaseModel], loc: Iterable[int | str]) -> list[str]:
    """The keys the table at ``loc`` inside ``model`` may have (for suggestions)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or _is_union_tag(part):
            continue
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model_in(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    if _is_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type | types.GenericAlias | types.UnionType) or typing.get_args(arg):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def issues_from_validation(
    exc: ValidationError,
    path_of: Any = None,
    base: str = "",
    model: type[BaseModel] | None = None,
) -> list[ConfigIssue]:
    """Convert a ValidationError; ``path_of(loc)`` may remap a loc to a path.

    A value that fits no branch of a union gets one message (the first
    branch's), not one per branch.
    """
    out: list[ConfigIssue] = []
    seen: set[str] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _is_union_tag(p))
        path = path_of(loc) if path_of is not None else join_path(base, loc)
        if path in seen and len(loc) != len(err["loc"]):
            continue
        seen.add(path)
        out.append(ConfigIssue(path, describe(err, model)))
    return out
