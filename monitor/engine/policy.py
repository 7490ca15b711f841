"""What a person hears, and why not: one pure policy over the dependency tree.

Every consumer that tells people about targets (alert delivery, MQTT state
topics, the status and target pages, the API, reports) asks this module the
same questions instead of deriving its own answer:

- **role**: is a failing target a *root cause* (it fails on its own) or a
  *consequence* (it sits behind a parent that is DOWN, UNREACHABLE or
  failing), and which root cause does it hang on;
- **consequences**: which targets are out because of a root cause;
- **mute**: why an alert about a target is held back now: maintenance (its
  own window or one on an ancestor: a window covers the whole subtree), the
  monitor's isolation, a re-check in progress, or, for alerts other than the
  target's own state alerts, that the target is a consequence or is itself
  failing (its DOWN page says it all; no separate "high loss" for a dead host).

Pure: it reads the states it is given and never changes them; no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from monitor.engine.state import Health, TargetState, Topology, World

STATE_ALERTS = frozenset({"TargetDown", "TargetUnreachable", "TargetFlapping"})
"""Alerts about a target's own state: the tree decides them in the state step."""
MONITOR_ALERTS = frozenset({"MonitorIsolated", "MonitorDegraded"})
"""Alerts about the monitor itself: never muted by isolation."""
_OUT = (Health.DOWN, Health.UNREACHABLE)


def subtree_owners(
    owners: Iterable[str], children: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """Each owner and every target below it, mapped to the owner that covers it.

    How a maintenance window on a router covers the sites behind it. An owner
    is its own owner; a target below several owners is claimed by the first
    listed (breadth first within each subtree).
    """
    owners = list(owners)
    covered = {owner: owner for owner in owners}
    for owner in owners:
        queue = list(children.get(owner, ()))
        while queue:
            child = queue.pop(0)
            if child in covered:
                continue
            covered[child] = owner
            queue.extend(children.get(child, ()))
    return covered


def ancestors(name: str, parents: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Every target ``name`` depends on, nearest first (breadth first, each once).

    The targets whose maintenance window covers ``name`` too (a window covers
    its subtree), so the target page lists "via" windows from this.
    """
    out: list[str] = []
    seen = {name}
    queue = list(parents.get(name, ()))
    while queue:
        parent = queue.pop(0)
        if parent in seen:
            continue
        seen.add(parent)
        out.append(parent)
        queue.extend(parents.get(parent, ()))
    return out


class Role(StrEnum):
    """A target's part in what is going on; values are API and page words."""

    OK = "ok"
    ROOT_CAUSE = "root_cause"
    CONSEQUENCE = "consequence"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything the policy says about one target now."""

    target: str
    health: Health
    role: Role
    root: str | None = None  # for a consequence: the root cause it hangs on
    muted: str | None = None  # why its alerts are held back, or None


@dataclass(frozen=True)
class Policy:
    """A read-only view over the pipeline's states, topology and maintenance.

    ``maintenance`` maps every target in maintenance to the target whose
    window covers it (itself for its own window, an ancestor otherwise).
    """

    states: Mapping[str, TargetState]
    topo: Topology
    world: World
    maintenance: Mapping[str, str] = field(default_factory=dict)

    # -- roles ------------------------------------------------------------------

    def verdict(self, name: str) -> Verdict:
        state = self.states[name]
        role, root = self.role(name)
        return Verdict(name, state.health, role, root, self.target_mute(name))

    def role(self, name: str) -> tuple[Role, str | None]:
        """(role, root cause) of a target."""
        state = self.states[name]
        root = self._failing_ancestor(name)
        if root is not None and (state.failing or state.health in _OUT or state.held):
            return Role.CONSEQUENCE, root
        if state.health in (Health.DOWN, Health.FLAPPING) or (
            state.health is Health.UNREACHABLE and root is None
        ):
            return Role.ROOT_CAUSE, None
        return Role.OK, None

    def _failing_ancestor(self, name: str) -> str | None:
        """The root cause behind ``name``: the first failing ancestor not itself behind one.

        Only when every parent is out (one working parent is redundancy, not a
        consequence). Iterative, so deep chains cost no recursion.
        """
        current, seen = name, {name}
        found: str | None = None
        while True:
            parents = self.topo.parents.get(current, ())
            if not parents or not all(self._out(p) for p in parents):
                return found
            nxt = parents[0]
            if nxt in seen:
                return found
            seen.add(nxt)
            found, current = nxt, nxt

    def _out(self, name: str) -> bool:
        state = self.states.get(name)
        return state is not None and (state.failing or state.health in _OUT)

    def consequences(self, name: str) -> list[str]:
        """Targets out because of ``name`` (breadth first, each once)."""
        out: list[str] = []
        for child in self._descendants(name):
            state = self.states.get(child)
            if state is None:
                continue
            if state.health is Health.UNREACHABLE or (
                state.failing and self._failing_ancestor(child) is not None
            ):
                out.append(child)
        return out

    def _descendants(self, name: str) -> Iterator[str]:
        queue, seen = list(self.topo.children.get(name, ())), {name}
        while queue:
            child = queue.pop(0)
            if child in seen:
                continue
            seen.add(child)
            yield child
            queue.extend(self.topo.children.get(child, ()))

    # -- muting -----------------------------------------------------------------

    def target_mute(self, name: str) -> str | None:
        """Why the target's own state alerts are held back now."""
        owner = self.maintenance.get(name)
        state = self.states.get(name)
        if owner is not None or (state is not None and state.maintenance):
            return "maintenance" if owner in (None, name) else f"maintenance via {owner}"
        if self.world.isolated:  # MonitorIsolated names the canaries; nothing else pages
            return "isolated"
        if state is not None and state.recheck:
            return "recheck"
        return None

    def alert_mute(self, alert_name: str, target: str) -> str | None:
        """Why an alert (by name, about ``target`` or the monitor) is held back now."""
        if not target:
            isolated = self.world.isolated and alert_name not in MONITOR_ALERTS
            return "isolated" if isolated else None
        if target not in self.states:
            return None
        reason = self.target_mute(target)
        if reason is not None:
            return reason
        if alert_name == "TargetFlapping":
            return self._flapping_behind(target)
        if alert_name in STATE_ALERTS:
            return None
        return self._folded(target)

    def _flapping_behind(self, target: str) -> str | None:
        """A target that flaps because a parent flaps or fails is not a problem of its own;
        one that no longer flaps (its alert only waits out ``flapping_keep_for``) is not
        worth a late page either."""
        if not self.states[target].flapping:
            return "no longer flapping"
        for parent in self.topo.parents.get(target, ()):
            state = self.states.get(parent)
            if state is not None and (state.flapping or self._out(parent)):
                return f"consequence of {parent}"
        return None

    def _folded(self, target: str) -> str | None:
        """Why another alert about a target is held: its state already tells the story."""
        root = self._failing_ancestor(target)
        if root is not None:
            return f"consequence of {root}"
        state = self.states[target]
        if state.held:
            return "held"
        if state.own is Health.DOWN or state.failing:
            return "folded into TargetDown"
        return None
