"""Maintenance windows through the API: parsing requests and showing windows as JSON.

A request makes a one-off window: ``{"targets": [...]}`` or ``{"match": {...}}``,
``"end"`` (required, in the future), ``"start"`` (default now) - each RFC 3339
or a duration from now such as ``"2h"``, within ten years of now -,
``"comment"`` and ``"created_by"``. Every refusal names the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from monitor.engine.maintenance import MaintenanceWindow
from monitor.web.api import rfc3339
from monitor.web.api_body import BadRequest, body_time

_FIELDS = {"targets", "match", "start", "end", "comment", "created_by"}


def parse_window(
    body: Any, now: float, known: set[str]
) -> tuple[MaintenanceWindow, dict[str, Any]]:
    """Validate a request body; returns the window and its metadata."""
    if not isinstance(body, dict):
        raise BadRequest("body", "expected a JSON object")
    for key in body:
        if key not in _FIELDS:
            raise BadRequest(str(key), "unknown field")
    start = body_time(body, "start", now)
    if "end" not in body:
        raise BadRequest("end", "required (an RFC 3339 time or a duration such as 2h)")
    end = body_time(body, "end", now)
    if end <= now:
        raise BadRequest("end", "must be in the future")
    if end <= start:
        raise BadRequest("end", "must be after start")
    targets = body.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise BadRequest("targets", "expected a list of target names")
    unknown = [t for t in targets if t not in known]
    if unknown:
        raise BadRequest("targets", f"unknown target(s): {', '.join(unknown)}")
    created_by = body.get("created_by", "")
    if not isinstance(created_by, str):
        raise BadRequest("created_by", "expected a string")
    try:
        window = MaintenanceWindow.model_validate(
            {
                "targets": targets,
                "match": body.get("match", {}),
                "start": datetime.fromtimestamp(start, UTC),
                "end": datetime.fromtimestamp(end, UTC),
                "comment": body.get("comment", ""),
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(field, str(first["msg"]).removeprefix("Value error, ")) from None
    return window, {"created_by": created_by, "created": now}


def window_view(
    window_id: str, source: str, window: MaintenanceWindow, is_active: bool, meta: Mapping[str, Any]
) -> dict[str, Any]:
    """One window as the API shows it."""
    return {
        "id": window_id,
        "source": source,
        "active": is_active,
        "targets": list(window.targets),
        "match": dict(window.match),
        "start": rfc3339(window.start.timestamp()) if window.start else None,
        "end": rfc3339(window.end.timestamp()) if window.end else None,
        "schedule": window.schedule.model_dump() if window.schedule else None,
        "timezone": window.timezone,
        "comment": window.comment,
        "created_by": meta.get("created_by"),
        "created": rfc3339(meta["created"]) if "created" in meta else None,
    }
