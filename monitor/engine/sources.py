"""Reading config text: the main TOML file, included TOML files and CSV inventories.

This module only turns files into plain dicts and remembers where each target
came from (file, table index or CSV line), so that the validation step in
``monitor.engine.config`` can name the exact place of every error. No validation of
values happens here beyond what is needed to read the files.
"""

from __future__ import annotations

import csv
import glob
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.config_errors import ConfigIssue, join_path
from monitor.engine.config_locator import unclosed_array_line
from monitor.engine.pacing import PAUSE_EVERY

_CSV_LIST_SPLIT = re.compile(r"[;\s]+")
_CSV_LOCATION_KEYS = {"address", "lat", "lon", "contact"}
_CSV_PLAIN_KEYS = {"name", "address", "template", "checks", "parents"}
_INCLUDED_TOML_KEYS = {"targets", "templates"}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a target was written, for error paths and duplicate reports."""

    prefix: str  # "" for the main file, "targets.d/a.toml: " or "inventory/x.csv:12: "
    base: str  # "targets[3]" for TOML tables, "" for a CSV row

    def path(self, loc: tuple[int | str, ...] = ()) -> str:
        """The printable dotted path of ``loc`` inside this target."""
        inner = join_path(self.base, loc)
        if not self.prefix:
            return inner
        return f"{self.prefix}{inner}" if inner else self.prefix.removesuffix(": ")

    def where(self) -> str:
        """A short human description: ``targets[3]`` or ``inventory/x.csv:12``."""
        return self.path()


@dataclass(slots=True)
class RawConfig:
    """The main document plus everything its includes contributed."""

    document: dict[str, Any]
    directory: Path
    targets: list[tuple[dict[str, Any], Origin]] = field(default_factory=list)
    templates: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    issues: list[ConfigIssue] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    """Source text of each TOML file by its prefix in paths ("" for the main file),
    for error positions (see ``monitor.engine.config_locator``)."""


class SourceError(Exception):
    """The main file cannot be read or parsed at all."""


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Parse a TOML file (and return its text); syntax errors carry the file and line."""
    try:
        text = path.read_bytes().decode("utf-8")
        return tomllib.loads(text), text
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SourceError(_syntax_error(path, text, str(exc))) from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not valid UTF-8 ({exc.reason})") from None


_AT = re.compile(r"^(?P<what>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")


def _syntax_error(path: Path, text: str, message: str) -> str:
    """``config.toml:12: TOML syntax error: ...``; an unclosed array at the line it opened."""
    opened = unclosed_array_line(text)
    if opened is not None and ("Unclosed array" in message or "end of document" in message):
        return f"{path}:{opened}: TOML syntax error: this array is not closed (missing ']')"
    found = _AT.match(message)
    if found:
        what, line, column = found.group("what", "line", "column")
        return f"{path}:{line}: TOML syntax error: {what} (column {column})"
    return f"{path}: TOML syntax error: {message}"


def _no_pause() -> None:
    pass


def read_config(path: Path, pause: Callable[[], None] = _no_pause) -> RawConfig:
    """Read the main file and resolve ``include``; collects include problems as issues.

    ``pause`` is called between slices of a long read (see ``monitor.engine.pacing``).
    """
    document, text = read_toml(path)
    raw = RawConfig(document=document, directory=path.parent, texts={"": text})
    for index, table in enumerate(_as_list(document.get("targets", []))):
        raw.targets.append((table, Origin("", f"targets[{index}]")))
    for name, table in _as_dict(document.get("templates", {})).items():
        raw.templates[name] = (table, f"templates.{name}")
    includes = document.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raw.issues.append(ConfigIssue("include", "expected a list of file patterns"))
        return raw
    for pattern_index, pattern in enumerate(includes):
        for file in _expand(raw, pattern, pattern_index):
            _read_included(raw, file, pause)
    return raw


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _expand(raw: RawConfig, pattern: str, index: int) -> list[Path]:
    """Glob a pattern relative to the config's directory; a plain missing file is an error."""
    full = pattern if Path(pattern).is_absolute() else str(raw.directory / pattern)
    matches = sorted(Path(p) for p in glob.glob(full))
    if not matches and not glob.has_magic(pattern):
        raw.issues.append(ConfigIssue(f"include[{index}]", f"file not found: {pattern}"))
    bad = [m for m in matches if m.suffix not in (".toml", ".csv")]
    for m in bad:
        raw.issues.append(
            ConfigIssue(f"include[{index}]", f"{_display(raw, m)}: only .toml and .csv files")
        )
    return [m for m in matches if m not in bad]


def _display(raw: RawConfig, path: Path) -> str:
    """A path as the operator wrote it: relative to the config's directory when inside it."""
    try:
        return str(path.relative_to(raw.directory))
    except ValueError:
        return str(path)


def _read_included(raw: RawConfig, path: Path, pause: Callable[[], None]) -> None:
    shown = _display(raw, path)
    if path.suffix == ".csv":
        _read_csv(raw, path, shown, pause)
        return
    try:
        document, raw.texts[shown] = read_toml(path)
    except SourceError as exc:
        raw.issues.append(ConfigIssue("", str(exc).replace(str(path), shown, 1)))
        return
    for key in document:
        if key not in _INCLUDED_TOML_KEYS:
            raw.issues.append(
                ConfigIssue(
                    f"{shown}: {key}",
                    "only [[targets]] and [templates.NAME] may appear in an included file",
                )
            )
    for index, table in enumerate(_as_list(document.get("targets", []))):
        raw.targets.append((table, Origin(f"{shown}: ", f"targets[{index}]")))
    for name, table in _as_dict(document.get("templates", {})).items():
        where = f"{shown}: templates.{name}"
        if name in raw.templates:
            raw.issues.append(
                ConfigIssue(where, f"template defined twice (also at {raw.templates[name][1]})")
            )
            continue
        raw.templates[name] = (table, where)


def _read_csv(raw: RawConfig, path: Path, shown: str, pause: Callable[[], None]) -> None:
    """Read an inventory: one target a row, header names the columns."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            # A loop rather than list(): list() reads every row in one C call
            # that holds the GIL throughout (0.35 s for 50,000 rows), and a
            # reload reads the inventory in a thread beside the event loop.
            rows: list[list[str]] = []
            for row in csv.reader(fh):
                rows.append(row)
                if not len(rows) % PAUSE_EVERY:
                    pause()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raw.issues.append(ConfigIssue(shown, f"cannot read CSV inventory: {exc}"))
        return
    if not rows:
        return
    header = [h.strip() for h in rows[0]]
    problems = _check_csv_header(header)
    if problems:
        raw.issues.extend(ConfigIssue(f"{shown}:1", p) for p in problems)
        return
    # One str object per distinct label name and value of the file: every row's
    # cells are new strings, and 50,000 copies of "site" and "P12" were about
    # 100 bytes a target (the dict lives only while the file is read).
    shared: dict[str, str] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        if not line_no % PAUSE_EVERY:
            pause()
        if not any(cell.strip() for cell in row):
            continue  # blank lines are allowed in spreadsheets exports
        origin = Origin(f"{shown}:{line_no}: ", "")
        if len(row) > len(header):
            raw.issues.append(
                ConfigIssue(origin.path(), f"{len(row)} cells but the header has {len(header)}")
            )
            continue
        table, cell_issues = _csv_row(header, row, origin, shared)
        raw.issues.extend(cell_issues)
        raw.targets.append((table, origin))


def _check_csv_header(header: list[str]) -> list[str]:
    problems = [f"missing column {c!r}" for c in ("name", "address") if c not in header]
    for column in header:
        family, _, key = column.partition(".")
        known = (
            column in _CSV_PLAIN_KEYS
            or (family == "label" and key)
            or (family == "location" and key in _CSV_LOCATION_KEYS)
        )
        if not known:
            problems.append(
                f"unknown column {column!r} (expected name, address, template, checks, "
                "parents, label.NAME or location.address/lat/lon/contact)"
            )
    if len(set(header)) != len(header):
        problems.append("a column appears twice")
    return problems


def _csv_row(
    header: list[str], row: list[str], origin: Origin, shared: dict[str, str] | None = None
) -> tuple[dict[str, Any], list[ConfigIssue]]:
    """Map one CSV row to the same dict shape a ``[[targets]]`` table has
    (label names and values taken from ``shared`` when an equal one is there)."""
    if shared is None:
        shared = {}
    table: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    for column, cell in zip(header, row, strict=False):
        value = cell.strip()
        if not value:
            continue
        family, _, key = column.partition(".")
        if family == "label":
            key = shared.setdefault(key, key)
            table.setdefault("labels", {})[key] = shared.setdefault(value, value)
        elif family == "location":
            if key in ("lat", "lon"):
                try:
                    table.setdefault("location", {})[key] = float(value)
                except ValueError:
                    issues.append(
                        ConfigIssue(
                            origin.path(("location", key)), f"expected a number, got {value!r}"
                        )
                    )
            else:
                table.setdefault("location", {})[key] = value
        elif column in ("checks", "parents"):
            table[column] = [v for v in _CSV_LIST_SPLIT.split(value) if v]
        else:
            table[column] = value
    return table, issues
