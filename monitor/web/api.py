"""JSON views of the daemon's state for ``/api/v1``: pure functions over states and config.

Times are RFC 3339 in UTC; every JSON document goes through ``json.dumps``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.engine.config import Config, Target
from monitor.engine.policy import Policy, Role
from monitor.engine.state import Health, TargetState, World
from monitor.redact import redact_url


def rfc3339(timestamp: float | None) -> str | None:
    """UNIX seconds as ``2026-11-28T21:30:00.123Z`` (None stays None)."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> float:
    """The inverse, accepting any offset (``Z`` or ``+07:00``); raises ValueError."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset (add Z or +07:00)")
    return moment.timestamp()


def api_state(state: TargetState, world: World) -> str:
    """The state shown by the API: ``isolated`` for targets muted by isolation."""
    if world.isolated and state.health is Health.UNKNOWN and state.own is Health.DOWN:
        return "isolated"
    return state.health.value


def target_view(target: Target, policy: Policy) -> dict[str, Any]:
    """One target as ``GET /api/v1/targets/{name}`` returns it.

    ``role`` (ok, root_cause, consequence), ``root_cause`` (for a consequence)
    and ``muted`` (why its alerts are held back) come from the suppression
    policy, as everywhere else; ``consequences`` lists what is out because of it.
    """
    state = policy.states[target.name]
    verdict = policy.verdict(target.name)
    return {
        "name": target.name,
        "address": redact_url(target.address),
        "state": api_state(state, policy.world),
        "since": rfc3339(state.since),
        "announced": state.announced.value,
        "flapping": state.flapping,
        "maintenance": state.maintenance,
        "maintenance_via": policy.maintenance.get(target.name),
        "role": verdict.role.value,
        "root_cause": verdict.root,
        "muted": verdict.muted,
        "consequences": policy.consequences(target.name) if verdict.role is Role.ROOT_CAUSE else [],
        "outage": None
        if state.outage_cause is None
        else {"start": rfc3339(state.outage_start), "cause": state.outage_cause},
        "checks": [_check_view(kind, state) for kind in (c.kind for c in target.checks)],
        "parents": list(target.parents),
        "children": list(policy.topo.children.get(target.name, ())),
        "labels": dict(target.labels),
        "location": target.location.model_dump(exclude_none=True) if target.location else None,
    }


def _check_view(kind: str, state: TargetState) -> dict[str, Any]:
    check = state.checks.get(kind)
    last = check.last if check is not None else None
    return {
        "check": kind,
        "state": check.hard.value if check is not None else Health.UNKNOWN.value,
        "since": rfc3339(check.since) if check is not None else None,
        "last": None
        if last is None
        else {
            "ok": last.ok,
            "reason": last.reason,
            "message": last.message,
            "at": rfc3339(last.started),
            "duration_seconds": round(last.duration, 6),
            "values": dict(last.values),
        },
    }


def targets_view(config: Config, policy: Policy) -> dict[str, Any]:
    """``GET /api/v1/targets``."""
    return {
        "isolated": policy.world.isolated,
        "targets": [target_view(t, policy) for t in config.targets if t.name in policy.states],
    }
