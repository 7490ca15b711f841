"""Where each key of a TOML file is written: dotted paths to line numbers.

``tomllib`` returns plain dicts without positions. This module reads the same
text once more, after ``tomllib`` accepted it, and records the line of every
table header, key, inline-table key and array element, so that a config
error can say ``config.toml:72``. It understands exactly the syntax TOML has
(quoted and dotted keys, inline tables, multi-line arrays and strings,
arrays of tables) but checks nothing: values are skipped, not parsed.

It also finds where an unclosed array was opened, which the parser reports
only where it noticed (the next key, or "end of document").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import PurePath

from monitor.config_errors import ConfigIssue, join_path

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = frozenset(",]}\n#")
_HEADER_LINE = re.compile(r"^\[\[?\s*[A-Za-z_][A-Za-z0-9_.-]*\s*\]\]?\s*(#.*)?$")
_KEY_LINE = re.compile(r"^[A-Za-z0-9_.\"' -]+=")


class Locator:
    """Lines of one TOML text: ``line_of(("targets", 3, "icmp", "count"))``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: dict[KeyPath, int] = {}
        self._i = 0
        self._line = 1
        self._arrays: dict[KeyPath, int] = {}  # array-of-tables path -> number of tables so far
        self._scan()

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its longest prefix that is written down."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    # -- scanning ----------------------------------------------------------------

    def _peek(self, offset: int = 0) -> str:
        index = self._i + offset
        return self.text[index] if index < len(self.text) else ""

    def _advance(self, count: int = 1) -> None:
        for _ in range(count):
            if self._peek() == "\n":
                self._line += 1
            self._i += 1

    def _skip_blank(self, newlines: bool) -> None:
        """Spaces, tabs, comments (and newlines when ``newlines``)."""
        while self._i < len(self.text):
            char = self._peek()
            if char in " \t\r" or (newlines and char == "\n"):
                self._advance()
            elif char == "#":
                while self._i < len(self.text) and self._peek() != "\n":
                    self._advance()
            else:
                return

    def _scan(self) -> None:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self._i >= len(self.text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._key_value(table)

    def _header(self) -> KeyPath:
        line = self._line
        double = self._peek(1) == "["
        self._advance(2 if double else 1)
        keys = self._key()
        self._advance(2 if double else 1)
        resolved: list[str | int] = []
        for position, key in enumerate(keys):
            resolved.append(key)
            last = position == len(keys) - 1
            count = self._arrays.get(tuple(resolved))
            if double and last:
                self._arrays[tuple(resolved)] = (count or 0) + 1
                resolved.append(count or 0)
            elif count is not None:
                resolved.append(count - 1)
        path = tuple(resolved)
        self.lines.setdefault(path, line)
        return path

    def _key(self) -> list[str]:
        """A possibly dotted, possibly quoted key; stops before ``=`` or ``]``."""
        keys = []
        while True:
            self._skip_blank(newlines=False)
            keys.append(self._simple_key())
            self._skip_blank(newlines=False)
            if self._peek() != ".":
                return keys
            self._advance()

    def _simple_key(self) -> str:
        char = self._peek()
        if char in "\"'":
            start = self._i
            self._string()
            raw = self.text[start + 1 : self._i - 1]
            return raw if char == "'" else raw.encode().decode("unicode_escape", "replace")
        match = _BARE.match(self.text, self._i)
        end = match.end() if match else self._i + 1
        key = self.text[self._i : end]
        self._advance(end - self._i)
        return key

    def _key_value(self, table: KeyPath) -> None:
        line = self._line
        path = table + tuple(self._key())
        self.lines.setdefault(path, line)
        self._skip_blank(newlines=False)
        self._advance()  # "="
        self._skip_blank(newlines=False)
        self._value(path)

    def _value(self, path: KeyPath) -> None:
        char = self._peek()
        if char in "\"'":
            self._string()
        elif char == "[":
            self._array(path)
        elif char == "{":
            self._inline_table(path)
        else:
            while self._i < len(self.text) and self._peek() not in _SCALAR_END:
                self._advance()

    def _string(self) -> None:
        quote = self._peek()
        if self.text.startswith(quote * 3, self._i):
            self._advance(3)
            while self._i < len(self.text) and not self.text.startswith(quote * 3, self._i):
                self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
            self._advance(3)
            while self._peek() == quote:  # up to two quotes may end the content
                self._advance()
            return
        self._advance()
        while self._i < len(self.text) and self._peek() != quote:
            self._advance(2 if quote == '"' and self._peek() == "\\" else 1)
        self._advance()

    def _array(self, path: KeyPath) -> None:
        self._advance()
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._peek() in ("]", ""):
                self._advance()
                return
            self.lines.setdefault((*path, index), self._line)
            self._value((*path, index))
            index += 1
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self._advance()

    def _inline_table(self, path: KeyPath) -> None:
        self._advance()
        while True:
            self._skip_blank(newlines=False)
            if self._peek() in ("}", ""):
                self._advance()
                return
            line = self._line
            inner = (*path, *self._key())
            self.lines.setdefault(inner, line)
            self._skip_blank(newlines=False)
            self._advance()  # "="
            self._skip_blank(newlines=False)
            self._value(inner)
            self._skip_blank(newlines=False)
            if self._peek() == ",":
                self._advance()


def unclosed_array_line(text: str) -> int | None:
    """The line where an array opened that a key, a header or the end interrupted."""
    opened: list[int] = []
    line = 1
    for raw in text.splitlines():
        quote = ""  # single-line strings end with their line
        stripped = raw.strip()
        if opened and (_HEADER_LINE.match(stripped) or _KEY_LINE.match(stripped)):
            return opened[0]
        index = 0
        while index < len(raw):
            char = raw[index]
            if quote:
                if char == "\\" and quote == '"':
                    index += 1
                elif char == quote:
                    quote = ""
            elif char in "\"'":
                quote = char
            elif char == "#":
                break
            elif char == "[" and (opened or "=" in raw[:index]):
                opened.append(line)
            elif char == "]" and opened:
                opened.pop()
            index += 1
        line += 1
    return opened[0] if opened else None


# -- putting positions on issues ----------------------------------------------------

_FILE_PREFIX = re.compile(r"^(?P<file>[^:\s][^:]*\.(?:toml|csv))(?::(?P<line>\d+))?(?::\s*|$)")
_PART = re.compile(
    r'\.?(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[A-Za-z0-9_-]+)|\[(?P<index>\d+)\])'
)


def split_path(path: str) -> tuple[str, int | None, KeyPath] | None:
    """``"targets.d/a.toml: targets[2].icmp"`` -> ``("targets.d/a.toml", None, (...))``;
    ``""`` is the main file. None when the path is not one the loader writes."""
    file, line = "", None
    prefix = _FILE_PREFIX.match(path)
    if prefix:
        file = prefix.group("file")
        line = int(prefix.group("line")) if prefix.group("line") else None
        path = path[prefix.end() :]
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        match = _PART.match(path, position)
        if match is None or match.end() == position:
            return None
        if match.group("index") is not None:
            parts.append(int(match.group("index")))
        else:
            parts.append(match.group("quoted") or match.group("bare"))
        position = match.end()
    return file, line, tuple(parts)


def locate(
    issues: Iterable[ConfigIssue],
    texts: Mapping[str, str],
    target_names: Mapping[str, str],
    main: PurePath,
) -> list[ConfigIssue]:
    """Each issue with its file, line, target name and key inside the target.

    ``texts``: TOML source by file prefix (``""`` for the main file);
    ``target_names``: target name by the path of its table (``targets[3]``,
    ``targets.d/a.toml: targets[0]``, ``inventory/x.csv:12: ``).
    """
    locators: dict[str, Locator] = {}
    out = []
    for issue in issues:
        split = split_path(issue.path)
        if split is None or (issue.file is not None):
            out.append(issue)
            continue
        file, line, parts = split
        if line is None and file in texts:
            if file not in locators:
                locators[file] = Locator(texts[file])
            line = locators[file].line_of(parts)
        if line is None:
            out.append(issue)
            continue
        shown = str(main) if not file else str(main.parent / file)
        target, key = None, join_path("", parts)
        if file.endswith(".csv"):
            target = target_names.get(f"{file}:{line}: ")
        elif len(parts) >= 2 and parts[0] == "targets" and isinstance(parts[1], int):
            target = target_names.get(f"{file + ': ' if file else ''}targets[{parts[1]}]")
            if target is not None:
                key = join_path("", parts[2:])
        out.append(replace(issue, file=shown, line=line, target=target, key=key))
    return out
