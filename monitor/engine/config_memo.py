"""The targets of the last load, kept by what they were built from, for the next load.

A reload of 50,000 targets in which one inventory row changed used to
validate every row again (pydantic, about 20 µs a row, a second of CPU beside
the event loop). A target is a pure function of its inputs: its own table as
written (a ``[[targets]]`` table or a CSV row), the ``[defaults]`` that apply
to its checks, its template's table and the sections the check kinds look at
(``snmp_modules``, ``traps``). So a load files every target it built under
those inputs as text, and the next load takes a target whose inputs are the
same text from there instead of validating it again: the very same object,
which also makes the reload's diff and job plan cheap (an ``is`` instead of
comparing settings).

A target whose validation reads a file (a ``file:`` secret, a TLS bundle)
is never filed: the file may change while the config does not. Only targets
built without any issue are filed, and a memo takes a load's
targets only when the whole load succeeded, so a bad reload changes nothing
here either. A key is ``repr`` of the raw values: equal text means equal
values of the same types (``1``, ``1.0``, ``true`` and ``"1"`` differ); a
table written in another key order is only a miss. The memo is owned by
whoever loads the same file again and again (the daemon), never a module
global.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["MemoRound", "Surroundings", "TargetMemo", "reads_files", "table_key"]

T = TypeVar("T")

Group = dict[str, T]
"""Targets by their own table's text, all under one text of their surroundings."""


def table_key(table: Any) -> str | None:
    """A target table (or CSV row) as text, the part of its key that is its own;
    None when validating it may read a file (see :func:`reads_files`)."""
    text = repr(table)
    return None if reads_files(text) else text


def reads_files(text: str) -> bool:
    """Whether validating inputs written as ``text`` may read a file: a ``file:``
    secret, or a ``*_file`` key (TLS bundles and client certificates are read at
    load). Such a target is validated at every load, since the file may change
    (a rotated password, a renewed certificate) while the config does not. Plain
    text search: a label that merely contains ``file:`` costs a validation, no more.
    """
    return "file:" in text or "_file'" in text


def _names(value: Any) -> tuple[str, ...] | None:
    """A ``checks`` list as written, if it is a list of names."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


class Surroundings:
    """What a load takes from outside a target table, as text, per template and checks.

    ``defaults``, ``templates`` and ``sections`` are the raw tables of this
    load; ``kinds`` the names of the check kinds (a ``[defaults.KIND]`` table
    applies only to targets with that check). Made once per load; the texts
    are computed once per distinct (template, checks) pair.
    """

    def __init__(
        self,
        defaults: Any,
        templates: Mapping[str, Any],
        sections: Mapping[str, Any],
        kinds: Collection[str],
    ) -> None:
        self._defaults = defaults
        self._templates = templates
        self._sections = repr(sorted(sections.items()))
        self._kinds = kinds
        self._texts: dict[tuple[str | None, tuple[str, ...] | None], str | None] = {}

    def of(self, table: Mapping[str, Any]) -> str | None:
        """The text of everything outside ``table`` that its target is built from;
        None when validating with it may read a file (see :func:`reads_files`)."""
        template = table.get("template")
        name = template if isinstance(template, str) else None
        own = _names(table.get("checks"))
        key = (name, own)
        if key not in self._texts:
            text = self._text(name, own)
            self._texts[key] = None if reads_files(text) else text
        return self._texts[key]

    def _text(self, name: str | None, own: tuple[str, ...] | None) -> str:
        template = self._templates.get(name) if name is not None else None
        defaults = self._defaults
        kinds = own
        if kinds is None and isinstance(template, dict):
            kinds = _names(template.get("checks"))
        if kinds is None and isinstance(defaults, dict):
            kinds = _names(defaults.get("checks"))
        if kinds is not None and isinstance(defaults, dict):
            # [defaults.KIND] of a kind the target does not check does not apply to it.
            defaults = {k: v for k, v in defaults.items() if k not in self._kinds or k in kinds}
        return repr((defaults, name, template, self._sections))


class MemoRound(Generic[T]):
    """One load's use of a :class:`TargetMemo`: what it found there and what it filed."""

    def __init__(self, previous: Mapping[str, Group[T]]) -> None:
        self._previous = previous
        self._found: dict[str, Group[T]] = {}  # by this load's text objects (an identity hit)
        self.groups: dict[str, Group[T]] = {}
        self.reused = 0
        self.validated = 0

    def find(self, surroundings: str, key: str) -> T | None:
        """The target the last load built from these inputs, filed again for the next."""
        group = self._found.get(surroundings)
        if group is None:
            group = self._found[surroundings] = self._previous.get(surroundings, {})
        found = group.get(key)
        if found is None:
            self.validated += 1
            return None
        self.reused += 1
        self.groups.setdefault(surroundings, {})[key] = found
        return found

    def file(self, surroundings: str, key: str, target: T) -> None:
        """A target this load built without any issue."""
        self.groups.setdefault(surroundings, {})[key] = target


class TargetMemo(Generic[T]):
    """The targets of the last successful load, by the text of their inputs."""

    def __init__(self) -> None:
        self._groups: dict[str, Group[T]] = {}
        self.reused = 0
        self.validated = 0

    def start(self) -> MemoRound[T]:
        """A round for a new load; nothing changes here until :meth:`adopt`."""
        return MemoRound(self._groups)

    def adopt(self, memo_round: MemoRound[T]) -> None:
        """The load of ``memo_round`` succeeded: keep its targets (and only them)."""
        self._groups = memo_round.groups
        self.reused = memo_round.reused
        self.validated = memo_round.validated

    def __len__(self) -> int:
        return sum(len(group) for group in self._groups.values())
