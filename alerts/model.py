"""What flows through delivery: alerts, notifications and target status.

An :class:`Alert` has the Alertmanager shape: its identity is its label set
(``alertname``, ``target``, and ``check`` or ``interface`` where relevant,
plus ``severity``), it has ``starts_at`` and, once over, ``ends_at``, and
annotations for people (``summary``, ``description``, ``runbook_url``). It
also carries the target's :class:`Site` (address, coordinates, contact) so a
message can say where to send someone.

A :class:`Notification` is one unit of delivery to one channel: the alerts
that changed in a group, why it is sent (new, repeat, escalation, fallback)
and a stable dedup key. It round-trips through JSON for the outbox.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Status = Literal["firing", "resolved"]
Reason = Literal["new", "repeat", "escalation", "fallback"]


@dataclass(frozen=True, slots=True)
class Site:
    """Where a target is and whom to call (from the target's ``location``)."""

    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    contact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "lat": self.lat, "lon": self.lon, "contact": self.contact}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Site | None:
        if data is None:
            return None
        return cls(data.get("address"), data.get("lat"), data.get("lon"), data.get("contact"))


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, firing (``ends_at`` is None) or resolved.

    Times are UNIX seconds. ``labels`` must hold ``alertname``; the rule side
    adds ``target``, ``severity`` and ``check``/``interface`` as relevant.
    """

    labels: Mapping[str, str]
    starts_at: float
    ends_at: float | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    site: Site | None = None
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def target(self) -> str:
        return self.labels.get("target", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "warning")

    @property
    def status(self) -> Status:
        return "firing" if self.ends_at is None else "resolved"

    @property
    def fingerprint(self) -> str:
        """A short stable hash of the label set: the alert's identity."""
        return fingerprint(self.labels)

    def resolved(self, at: float) -> Alert:
        """The same alert, over at ``at``."""
        return replace(self, ends_at=at)

    @property
    def key(self) -> str:
        """Identity + start time + firing/resolved: one notification per key."""
        return f"{self.name}/{self.fingerprint}@{self.starts_at:.3f}:{self.status}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "annotations": dict(self.annotations),
            "site": self.site.to_dict() if self.site else None,
            "generator_url": self.generator_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            labels=dict(data["labels"]),
            starts_at=float(data["starts_at"]),
            ends_at=None if data.get("ends_at") is None else float(data["ends_at"]),
            annotations=dict(data.get("annotations") or {}),
            site=Site.from_dict(data.get("site")),
            generator_url=data.get("generator_url") or "",
        )


def fingerprint(labels: Mapping[str, str]) -> str:
    """16 hex digits of SHA-256 over the sorted label pairs (order-independent)."""
    text = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Notification:
    """One delivery to one channel, as stored in the outbox.

    ``key`` is unique per channel: enqueuing the same key twice is a no-op,
    which is what makes a re-submission after a restart harmless.
    ``fallback`` names the channel that receives it if delivery finally fails.
    """

    key: str
    channel: str
    alerts: tuple[Alert, ...]
    reason: Reason = "new"
    created_at: float = 0.0
    fallback: str | None = None
    group: Mapping[str, str] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """Firing if any alert in it is firing."""
        return "firing" if any(a.ends_at is None for a in self.alerts) else "resolved"

    def to_json(self) -> str:
        return json.dumps(
            {
                "key": self.key,
                "channel": self.channel,
                "alerts": [a.to_dict() for a in self.alerts],
                "reason": self.reason,
                "created_at": self.created_at,
                "fallback": self.fallback,
                "group": dict(self.group),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Notification:
        data = json.loads(text)
        return cls(
            key=data["key"],
            channel=data["channel"],
            alerts=tuple(Alert.from_dict(a) for a in data["alerts"]),
            reason=data.get("reason", "new"),
            created_at=float(data.get("created_at", 0.0)),
            fallback=data.get("fallback"),
            group=dict(data.get("group") or {}),
        )


def notification_key(alerts: tuple[Alert, ...], suffix: str = "") -> str:
    """The dedup key of a notification carrying ``alerts``.

    A single alert's key is readable (``TargetDown/3f2a...@1700000000.000:firing``);
    a group's is a hash of its members' keys, so the same group content gives
    the same key whatever the order.
    """
    if len(alerts) == 1:
        base = alerts[0].key
    else:
        joined = "\n".join(sorted(a.key for a in alerts))
        base = "group/" + hashlib.sha256(joined.encode()).hexdigest()[:16]
    return base + suffix


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """A target's current state, for retained state topics (MQTT)."""

    target: str
    state: str
    since: float | None = None
    reason: str = ""
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    site: Site | None = None
    role: str = "ok"  # ok, root_cause or consequence (monitor.policy)
    root_cause: str | None = None
    muted: str | None = None

    def to_dict(self, instance: str) -> dict[str, Any]:
        return {
            "version": 1,
            "instance": instance,
            "target": self.target,
            "state": self.state,
            "since": self.since,
            "reason": self.reason,
            "message": self.message,
            "labels": dict(self.labels),
            "site": self.site.to_dict() if self.site else None,
            "role": self.role,
            "root_cause": self.root_cause,
            "muted": self.muted,
        }
