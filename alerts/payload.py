"""The JSON documents channels send (webhook body, MQTT payload), version 1.

Schema of one alert (``alert_document``)::

    {"status": "firing" | "resolved", "alertname": str, "target": str,
     "severity": str, "fingerprint": str, "labels": {str: str},
     "annotations": {str: str}, "starts_at": RFC 3339, "ends_at": RFC 3339 | null,
     "site": {"address", "lat", "lon", "contact"} | null, "generator_url": str}

A notification (``notification_document``, the webhook body) wraps alerts::

    {"version": "1", "instance": str, "status": str, "reason": "new" | "repeat" |
     "escalation" | "fallback", "dedup_key": str, "group": {str: str},
     "title": str, "text": str, "alerts": [alert, ...]}

Receivers should dedup on ``dedup_key``: delivery is at least once. Fields may
be added within a version; none are removed or renamed without a new version.
"""

from __future__ import annotations

import datetime
from typing import Any

from alerts.model import Alert, Notification

VERSION = "1"


def rfc3339(when: float | None) -> str | None:
    """UNIX seconds as RFC 3339 UTC with milliseconds (what Alertmanager accepts)."""
    if when is None:
        return None
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_document(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status,
        "alertname": alert.name,
        "target": alert.target,
        "severity": alert.severity,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "starts_at": rfc3339(alert.starts_at),
        "ends_at": rfc3339(alert.ends_at),
        "site": alert.site.to_dict() if alert.site else None,
        "generator_url": alert.generator_url,
    }


def notification_document(
    notification: Notification, *, instance: str, title: str, text: str
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "instance": instance,
        "status": notification.status,
        "reason": notification.reason,
        "dedup_key": notification.key,
        "group": dict(notification.group),
        "title": title,
        "text": text,
        "alerts": [alert_document(a) for a in notification.alerts],
    }
