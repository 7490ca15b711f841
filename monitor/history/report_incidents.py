"""Incidents of a report: a period's outages grouped by root cause.

One router cut is one incident, however many targets went out behind it:
the router's outage is the *root cause*; the outages of the targets behind
it, recorded with the cause ``parent:NAME``, are its *consequences*. A
consequence is tied to the outage of the parent it names that overlaps it
(the nearest in start when several do), and then, through that parent's own
cause, up to the outage that has a cause of its own, so a site behind a
district router behind a core router hangs on the core router. A
consequence whose parent's outage is not in the history (the parent was not
monitored then) stands as an incident of its own.

An incident is dated from its root cause's start: its consequences are
listed under it from that moment, whatever the moment their own outage rows
were opened (a site behind a router is found unreachable a check or two
after the router fails). The targets' own figures are not changed by this:
each target's availability still counts its unreachable time as downtime,
from its own outage rows, exactly as before.

*Counted* incidents are those whose root cause started in the period and
that have downtime in it (in the report's maintenance mode) on some target,
like counted outages; one carried over from before the period is listed,
not counted. *Affected targets*: the distinct targets of the counted
incidents (the root causes and their consequences).

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.history.report_model import Incident, OutageLine

PARENT = "parent:"


def parent_of(line: OutageLine) -> str | None:
    """The parent a consequence names in its cause, or None for a root cause."""
    return line.cause.removeprefix(PARENT) if line.cause.startswith(PARENT) else None


def group_incidents(lines: Iterable[OutageLine]) -> list[Incident]:
    """The outages as incidents, the oldest first (ties by root cause name)."""
    ordered = sorted(lines, key=lambda line: (line.start, line.target))
    by_target: dict[str, list[OutageLine]] = {}
    for line in ordered:
        by_target.setdefault(line.target, []).append(line)
    members: dict[int, list[tuple[int, OutageLine]]] = {}  # id(root line) -> (depth, line)
    roots: dict[int, OutageLine] = {}
    for line in ordered:
        root, depth = _root_of(line, by_target)
        roots.setdefault(id(root), root)
        if root is not line:
            members.setdefault(id(root), []).append((depth, line))
    incidents = []
    for key, root in roots.items():
        found = sorted(members.get(key, ()), key=lambda item: (item[0], item[1].target))
        incidents.append(Incident(root, tuple(line for _, line in found)))
    incidents.sort(key=lambda incident: (incident.start, incident.root.target))
    return incidents


def _root_of(line: OutageLine, by_target: dict[str, list[OutageLine]]) -> tuple[OutageLine, int]:
    """The root cause's outage of a line and how many parents up it is (0: itself)."""
    path, seen = [line], {id(line)}
    while True:
        current = path[-1]
        parent = parent_of(current)
        found = _overlapping(current, by_target.get(parent, ())) if parent else None
        if found is None:
            return current, len(path) - 1
        if id(found) in seen:  # causes in a circle (a reload moved parents): the earliest leads
            root = min(path, key=lambda item: (item.start, item.target))
            return root, len(path) - 1
        seen.add(id(found))
        path.append(found)


def _overlapping(line: OutageLine, candidates: Sequence[OutageLine]) -> OutageLine | None:
    """The candidate outage overlapping ``line``, the nearest in start."""
    end = _end(line)
    overlapping = [c for c in candidates if c.start <= end and line.start <= _end(c)]
    return min(overlapping, key=lambda c: abs(c.start - line.start), default=None)


def _end(line: OutageLine) -> float:
    return float("inf") if line.end is None else line.end
