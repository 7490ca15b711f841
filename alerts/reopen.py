"""After a restart: the alerts the outbox shows still firing (their firing went out, no resolve).

Target states (DOWN, UNREACHABLE, FLAPPING) are persisted with the history
and their alerts come back from there. Device alerts (``OnBattery``,
``SiteGoingDark``, ...) and threshold alerts have no such state: the probes'
memory of the device starts afresh. The outbox is their record: every
notification that went out (or was to go out) is in it with its alerts, for
``[alerts] retention``. An episode (an alert's identity and start) is open
when a stored notification carries it firing and none carries it resolved.

Read once at start, before the first probe runs, on a worker thread (the
file may hold a week of notifications): :func:`open_alerts` is blocking.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Collection
from pathlib import Path

from alerts.model import Alert, Notification
from alerts.outbox import bodies_containing

log = logging.getLogger(__name__)


def open_alerts(path: Path, names: Collection[str]) -> list[Alert]:
    """The open episodes of alerts named in ``names`` with a target, one per identity.

    A missing outbox is a first start (nothing open). One that cannot be read
    is logged and treated as empty: the daemon starts anyway, as it does when
    the outbox is damaged (see :mod:`alerts.outbox`).
    """
    if not names or not path.exists():
        return []
    try:
        # ``instr`` on the quoted name leaves most of an alert storm's rows (state
        # alerts) unparsed; every candidate is still parsed and checked
        bodies = bodies_containing(path, [f'"{name}"' for name in names])
    except sqlite3.Error as exc:
        # The outbox store opens the same file next and says, once, that delivery
        # is unavailable and why; a second warning here would only repeat it.
        log.debug("cannot read the outbox %s for alerts still firing: %s", path, exc)
        return []
    return open_episodes(bodies, names)


def open_episodes(bodies: list[str], names: Collection[str]) -> list[Alert]:
    """From notification bodies in stored order: the episodes seen firing and never resolved.

    The latest firing of an open episode is kept (a repeat carries the same
    alert); of two open episodes of one identity (should not happen: a new
    episode follows a resolve), the later start.
    """
    firing: dict[tuple[str, float], Alert] = {}
    closed: set[tuple[str, float]] = set()
    for body in bodies:
        try:
            notification = Notification.from_json(body)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("skipping an unreadable outbox row: %s", exc)
            continue
        for alert in notification.alerts:
            if alert.name not in names or not alert.target:
                continue
            episode = (alert.fingerprint, alert.starts_at)
            if alert.ends_at is not None:
                closed.add(episode)
            else:
                firing[episode] = alert
    latest: dict[str, Alert] = {}
    for (fp, starts_at), alert in firing.items():
        if (fp, starts_at) in closed:
            continue
        known = latest.get(fp)
        if known is None or known.starts_at < starts_at:
            latest[fp] = alert
    return list(latest.values())
