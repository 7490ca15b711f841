"""Log lines that a device or a stranger cannot forge or hide things in.

Log arguments often carry what arrived from outside: a trap's varbind, a
device's interface name, a probe's error text. Written raw, a value such as
``"eth9\\n2026-12-01 ... CRITICAL ... target_down"`` forges a whole log line
and ANSI escapes rewrite the operator's terminal. :class:`SafeFormatter`
escapes control characters in every rendered argument (``\\n`` becomes the
two characters ``\\n``, ESC ``\\x1b``) and redacts URLs in them
(:func:`monitor.redact.redact_urls`: no target password or token in logs).
The message templates themselves are ours and left alone; so are arguments
that are exceptions, except that only their line breaks survive (multi-line
configuration errors stay readable).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from monitor.redact import redact_urls

# C0 and C1 controls, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str, keep_newlines: bool = False) -> str:
    """Control characters as visible escapes."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text)


def _safe(arg: Any) -> Any:
    if isinstance(arg, bool | int | float) or arg is None:
        return arg  # keeps %d and %.1f working
    if isinstance(arg, BaseException):
        return escape_control(redact_urls(str(arg)), keep_newlines=True)
    return escape_control(redact_urls(arg if isinstance(arg, str) else str(arg)))


class SafeFormatter(logging.Formatter):
    """A :class:`logging.Formatter` whose records' arguments are escaped and redacted."""

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if args:
            safe: Any = (
                {k: _safe(v) for k, v in args.items()}
                if isinstance(args, dict)
                else tuple(_safe(a) for a in args)
            )
            record = logging.makeLogRecord({**record.__dict__, "args": safe, "message": None})
        return super().format(record)


def install(level: str, stream: Any) -> None:
    """The daemon's and the CLI's logging: one handler with :class:`SafeFormatter`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
