"""Regular expressions from configs and API bodies, run by a linear-time engine (RE2).

Python's ``re`` backtracks: a pattern such as ``(.|.|.|.)*X`` takes time
exponential in the text, and one such silence matcher held the event loop
(and SIGTERM) for good. RE2 (Google's engine, as Alertmanager and Prometheus
use through Go) matches in time linear in the text and refuses, at compile
time, what it cannot do in linear time (back-references, look-around), so a
bad pattern is an error where it is written (config load, a 400 from the
API), never a hang later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import re2

MAX_PATTERN = 4096  # characters: more is not a label matcher but an attack


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print each refused pattern to stderr
    options.max_mem = 8 << 20  # bytes for the compiled program: bounds compile time
    return options


@dataclass(frozen=True, slots=True)
class Regex:
    """A compiled pattern; equal to another with the same source (config comparison)."""

    pattern: str
    _compiled: Any = field(compare=False, repr=False)

    def search(self, text: str) -> bool:
        """The pattern occurs somewhere in ``text``."""
        return self._compiled.search(text) is not None

    def fullmatch(self, text: str) -> bool:
        """The pattern matches the whole of ``text`` (Alertmanager's anchored matchers)."""
        return self._compiled.fullmatch(text) is not None


def compile_regex(pattern: str) -> Regex:
    """Compile with RE2; ValueError saying what is wrong (``re``-only syntax included)."""
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"regular expression longer than {MAX_PATTERN} characters")
    try:
        compiled = re2.compile(pattern, _options())
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        # RE2 syntax: that of Python's re without back-references and look-around.
        raise ValueError(f"not a valid regular expression {pattern!r} (RE2): {detail}") from None
    except (TypeError, UnicodeError) as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return Regex(pattern, compiled)
