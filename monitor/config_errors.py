"""Turning validation failures into operator-friendly messages with dotted key paths.

Every error the config loader reports is a :class:`ConfigIssue`: a dotted
path such as ``targets[2].icmp.count`` (prefixed with the file when it came
from an included file) and a message saying what was expected and what was
found. pydantic's own wording ("Input should be a valid integer") is
replaced by ours so the messages read the same for every key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """The configuration is invalid; carries every issue found, not just the first."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = tuple(dict.fromkeys(issues))  # drop repeats, keep order
        super().__init__("\n".join(str(i) for i in self.issues))


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


def describe(err: ErrorDetails) -> str:
    """One pydantic error as our message (without the path)."""
    kind = err["type"]
    shown = show(err.get("input"))
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


def issues_from_validation(
    exc: ValidationError, path_of: Any = None, base: str = ""
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
        out.append(ConfigIssue(path, describe(err)))
    return out
