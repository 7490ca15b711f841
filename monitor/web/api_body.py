"""What the API accepts in a request body: the 400 it answers otherwise
(:class:`BadRequest`, naming the field), times in bodies, JSON nesting depth.

Below the web server and every module that parses a body (silences,
maintenance, acknowledgements), so none of them imports the server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from monitor.config_types import parse_duration
from monitor.web.api import parse_rfc3339

YEAR = 365.25 * 86400
MAX_BODY_TIME_SPAN = 10 * YEAR  # seconds after now that times in API bodies may lie
MAX_JSON_DEPTH = 32
_DURATION = re.compile(r"\d+(?:\.\d+)?(?:ms|s|m|h|d|w)")


class BadRequest(ValueError):
    """A request the API refuses: the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def body_time(body: Mapping[str, Any], field: str, now: float) -> float:
    """An optional time in a JSON body as UNIX seconds (``now`` when absent).

    Either RFC 3339 (``2026-12-01T02:00:00+07:00``) or a duration from now
    (``"2h"``, ``"90m"``, ``"1d"``). Either way it must lie between 1970 and
    :data:`MAX_BODY_TIME_SPAN` after now: a silence "until 9999" is a mistake
    or an attack, and such dates overflow when shown in a time zone east of
    UTC (as year 1 does west of it). Anything else is a 400 naming the field;
    whether a time must be in the future is the caller's check.
    """
    value = body.get(field)
    if value is None:
        return now
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequest(field, "expected an RFC 3339 time or a duration such as 2h")
    try:
        relative = _DURATION.fullmatch(value) is not None
        moment = now + parse_duration(value) if relative else parse_rfc3339(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadRequest(
            field,
            "expected an RFC 3339 time such as 2026-12-01T02:00:00+07:00 "
            f"or a duration from now such as 2h or 90m ({exc})",
        ) from None
    if moment < 0:
        raise BadRequest(field, "must be after 1970-01-01T00:00:00Z")
    if moment > now + MAX_BODY_TIME_SPAN:
        years = round(MAX_BODY_TIME_SPAN / YEAR)
        raise BadRequest(field, f"must be within {years} years from now")
    return moment


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest
