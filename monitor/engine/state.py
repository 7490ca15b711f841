"""The continuity state machine: pure functions from (states, result, now) to changes.

No I/O and no clock reads happen here, so every transition is tested as a
table with an injected time. Three layers:

1. **Checks** move between soft and hard states the Nagios/Icinga way:
   ``fall`` failures in a row make a check hard DOWN (dated from the first
   failed run of the streak), ``rise`` successes bring it UP again.
2. **A target's own health** comes from its critical checks; its flapping is
   judged from the weighted share of changes over its last 20 results.
3. **The world** decides what a target's health *means*: a target whose
   every parent is down is UNREACHABLE rather than DOWN; a target in a
   maintenance window is MAINTENANCE; when the monitor itself is cut off
   (every canary down, or most targets failing at once) targets whose own
   checks fail are UNKNOWN and no outages are opened.

Operators are told about *announced* states only. An announcement waits
("held") while the cause of a failure is not settled: while a parent or a
canary is failing but not yet hard DOWN, and while a child re-checks after
its parent recovered. So a cut uplink gives one DOWN for the router and
UNREACHABLE for the sites behind it, never a storm of site DOWNs; and the
sites come back with the router after one re-check, without DOWN alerts.

Outages follow the facts rather than announcements: an outage is open while
a target's own checks are hard DOWN or it is UNREACHABLE (cause
``parent:<name>``), except that none is opened while the monitor is isolated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, NamedTuple

from monitor.contract import ProbeResult
from monitor.engine.compact_values import CompactValues
from monitor.fast_init import fast_init


class Health(StrEnum):
    """The states a check or target can be in; values are metric label values."""

    UP = "up"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    FLAPPING = "flapping"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


class EventKind(StrEnum):
    """What an :class:`Event` says; values are what logs, history and alerts use."""

    CHECK_UP = "check_up"
    CHECK_DOWN = "check_down"
    TARGET_UP = "target_up"
    TARGET_DOWN = "target_down"
    TARGET_UNREACHABLE = "target_unreachable"
    TARGET_FLAPPING = "target_flapping"
    TARGET_MAINTENANCE = "target_maintenance"
    OUTAGE_STARTED = "outage_started"
    OUTAGE_ENDED = "outage_ended"
    MONITOR_ISOLATED = "monitor_isolated"
    MONITOR_ISOLATION_ENDED = "monitor_isolation_ended"
    MONITOR_DEGRADED = "monitor_degraded"
    MONITOR_DEGRADED_ENDED = "monitor_degraded_ended"
    SLO_BURN_FAST = "slo_burn_fast"
    SLO_BURN_FAST_ENDED = "slo_burn_fast_ended"
    SLO_BURN_SLOW = "slo_burn_slow"
    SLO_BURN_SLOW_ENDED = "slo_burn_slow_ended"

    @property
    def family(self) -> str:
        """``check``, ``target``, ``outage``, ``monitor`` or ``slo``: who consumes it."""
        return self.value.partition("_")[0]

    @classmethod
    def announcing(cls, health: Health) -> EventKind:
        """The announcement of a target's new state."""
        return cls("target_" + health.value)


# States that are announced to people (alerts); UNKNOWN never is.
ANNOUNCED = frozenset(
    {Health.UP, Health.DOWN, Health.UNREACHABLE, Health.FLAPPING, Health.MAINTENANCE}
)

# Health's members as plain names for the per-result paths (step_check, _quiet_step):
# on Python 3.11 ``Health.UP`` is an attribute lookup through EnumType's Python-level
# ``__getattr__`` hook (74 against 7 ns for a module name), ten of them a quiet step.
_UP: Final = Health.UP
_DOWN: Final = Health.DOWN
_UNKNOWN: Final = Health.UNKNOWN

FLAP_WINDOW = 21  # results, i.e. 20 transitions
FLAP_MIN_RESULTS = FLAP_WINDOW  # judge flapping only on a full window
_FLAP_MASK = (1 << FLAP_WINDOW) - 1


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """The parts of a check's settings that steer transitions."""

    fall: int = 3
    rise: int = 2
    critical: bool = True


@fast_init
@dataclass(frozen=True, slots=True)
class CheckState:
    """One check's position in the soft/hard machine (made once per result: its
    constructor is :func:`monitor.fast_init.fast_init`'s)."""

    hard: Health = Health.UNKNOWN
    since: float | None = None  # when the hard state began (backdated for DOWN)
    last_ok: bool | None = None
    streak: int = 0  # results in a row equal to last_ok
    streak_start: float | None = None  # when the current streak's first run started
    last: ProbeResult | None = None  # without samples and events (see kept_result)


# Defaults for lookups, made once: ``get(k, CheckPolicy())`` built one per call,
# several per result (they are frozen, so sharing them is safe).
_DEFAULT_POLICY: Final = CheckPolicy()
_NEW_CHECK: Final = CheckState()


@fast_init
@dataclass(frozen=True, slots=True)
class TargetState:
    """A target's states. ``health`` is what it is now; ``announced`` what people were told.

    Made once per result, twenty fields: its constructor is
    :func:`monitor.fast_init.fast_init`'s (0.5 µs; the dataclass's own took 2.1).
    """

    name: str
    health: Health = Health.UNKNOWN
    since: float | None = None
    checks: Mapping[str, CheckState] = field(default_factory=dict)
    own: Health = Health.UNKNOWN  # from its checks alone
    announced: Health = Health.UNKNOWN
    announced_since: float | None = None
    held: bool = False  # an announcement waits for a parent, a canary or a re-check
    recheck: bool = False  # waiting for the first result after its parent recovered
    flapping: bool = False
    flap_bits: int = 0  # own outcomes, newest in bit 0 (1 = failed; see ``step``)
    flap_count: int = 0
    maintenance: bool = False
    outage_start: float | None = None
    outage_cause: str | None = None
    flap_calm: int = 0  # results in a row below the low flapping threshold, while flapping
    failing: bool = False  # whether its latest result (any critical check) failed
    failed_at: float | None = None  # when its latest failed run started
    ok_at: float | None = None  # when its latest successful run started
    confirmed_at: float | None = None  # when a re-check last confirmed its failure


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed, for logs, history and alerting.

    Kinds: ``check_down``/``check_up``; ``target_down``, ``target_up``,
    ``target_unreachable``, ``target_flapping``, ``target_maintenance``
    (announced transitions, with ``previous``); ``outage_started`` and
    ``outage_ended`` (with ``cause``); ``monitor_isolated`` and
    ``monitor_isolation_ended`` (``target`` is empty).
    """

    kind: EventKind
    target: str
    at: float
    check: str | None = None
    previous: Health = Health.UNKNOWN
    reason: str = ""
    message: str = ""
    cause: str = ""


@dataclass(frozen=True, slots=True)
class Topology:
    """The static relations between targets, from the config."""

    parents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    children: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    canaries: tuple[str, ...] = ()
    isolation_ratio: float = 0.5
    isolation_min_targets: int = 10
    flap_high: float = 0.30
    flap_low: float = 0.20
    isolation_min_failing: int = 5
    isolation_require_ratio: bool = False

    @classmethod
    def build(
        cls,
        parents: Mapping[str, Iterable[str]],
        *,
        canaries: Iterable[str] = (),
        isolation_ratio: float = 0.5,
        isolation_min_targets: int = 10,
        flap_high: float = 0.30,
        flap_low: float = 0.20,
        isolation_min_failing: int = 5,
        isolation_require_ratio: bool = False,
    ) -> Topology:
        children: dict[str, list[str]] = {}
        for child, ps in parents.items():
            for parent in ps:
                children.setdefault(parent, []).append(child)
        return cls(
            parents={k: tuple(v) for k, v in parents.items() if v},
            children={k: tuple(v) for k, v in children.items()},
            canaries=tuple(canaries),
            isolation_ratio=isolation_ratio,
            isolation_min_targets=isolation_min_targets,
            flap_high=flap_high,
            flap_low=flap_low,
            isolation_min_failing=isolation_min_failing,
            isolation_require_ratio=isolation_require_ratio,
        )


@dataclass(frozen=True, slots=True)
class World:
    """Monitor-wide state: isolation, and how many targets are failing right now."""

    isolated: bool = False
    isolated_since: float | None = None
    failing: int = 0
    total: int = 0
    roots: int = 0  # failing targets that are not behind a failing parent (root causes)
    roots_at: float = float("-inf")  # when ``roots`` was last counted (at most once a second)


@dataclass(slots=True)
class Changes:
    """What one step changed; the caller applies it to its own maps."""

    states: dict[str, TargetState] = field(default_factory=dict)
    world: World | None = None
    events: list[Event] = field(default_factory=list)
    recheck: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------
# Layer 1 and 2: checks and a target's own health
# --------------------------------------------------------------------------


def step_check(
    state: CheckState,
    result: ProbeResult,
    now: float,
    policy: CheckPolicy,
    *,
    force_up: bool = False,
) -> CheckState:
    """Advance one check by one result. ``force_up`` settles a success at once
    (the re-check after a parent recovered: the failures were the parent's)."""
    if result.ok == state.last_ok:
        streak, streak_start = state.streak + 1, state.streak_start
    else:
        streak, streak_start = 1, result.started
    hard, since = state.hard, state.since
    settle_up = hard is _UNKNOWN or force_up or streak >= policy.rise
    if result.ok and hard is not _UP and settle_up:
        # A first success settles an unknown check at once; a DOWN one needs `rise`.
        hard, since = _UP, now
    elif not result.ok and hard is not _DOWN and streak >= policy.fall:
        # The outage began with the first failed run of the streak, not now.
        hard, since = _DOWN, streak_start
    return CheckState(hard, since, result.ok, streak, streak_start, kept_result(result, state.last))


def kept_result(result: ProbeResult, previous: ProbeResult | None = None) -> ProbeResult:
    """The part of a result a check's state keeps: outcome, reason, message, times, values.

    Samples are rendered into series as the result arrives and events are
    dispatched then; keeping them in every target's state cost about half a
    kilobyte per target (a fifth of the memory of 50,000 ICMP targets). The
    values are kept as :class:`CompactValues` (names shared with ``previous``,
    the check's last kept result): a dict of an echo train's seven values was
    another 440 bytes a target.
    """
    if not result.samples and not result.events and not result.rtts:
        return result
    values = result.values
    # type(), not isinstance(): a dict's isinstance of a Mapping subclass goes through the ABC
    if values and type(values) is not CompactValues:
        values = CompactValues.of(values, previous.values if previous is not None else None)
    return ProbeResult(
        result.ok, result.reason, result.message, result.started, result.duration, (), values
    )


def target_health(checks: Mapping[str, CheckState], policies: Mapping[str, CheckPolicy]) -> Health:
    """DOWN if a critical check is DOWN; UP if one is UP and none DOWN; else UNKNOWN.

    A target with no critical checks takes its health from all of them.
    """
    counted = [s for k, s in checks.items() if policies.get(k, _DEFAULT_POLICY).critical]
    if not counted:
        counted = list(checks.values())
    states = {s.hard for s in counted}
    if Health.DOWN in states:
        return Health.DOWN
    if Health.UP in states:
        return Health.UP
    return Health.UNKNOWN


def raw_failing(checks: Mapping[str, CheckState], policies: Mapping[str, CheckPolicy]) -> bool:
    """Whether the latest result of any counted check failed (soft or hard)."""
    counted = [s for k, s in checks.items() if policies.get(k, _DEFAULT_POLICY).critical] or list(
        checks.values()
    )
    return any(s.last_ok is False for s in counted)


def flap_ratio(bits: int, count: int) -> float:
    """Weighted share of changes between consecutive outcomes, newest weighing most.

    Weights run linearly from 0.8 (oldest transition) to 1.2 (newest), as in
    Nagios, over the last ``FLAP_WINDOW`` outcomes.
    """
    n = min(count, FLAP_WINDOW) - 1
    if n < 1:
        return 0.0
    weighted = total = 0.0
    for i in range(n):  # i = 0 is the newest transition
        weight = 1.2 - 0.4 * i / max(n - 1, 1)
        total += weight
        if ((bits >> i) ^ (bits >> (i + 1))) & 1:
            weighted += weight
    return weighted / total


# --------------------------------------------------------------------------
# Layer 3: what a target's state means, given parents, canaries, maintenance
# --------------------------------------------------------------------------


def out_for_children(state: TargetState) -> bool:
    """Whether a target is out as its children see it: DOWN, UNREACHABLE, or flapping
    while its own checks have reached their fall (a flapping router that is down
    now is as down for the sites behind it as a steady one)."""
    health = state.health
    return (
        health is Health.DOWN
        or health is Health.UNREACHABLE
        or (health is Health.FLAPPING and state.own is Health.DOWN)
    )


def _parents_down(name: str, states: Mapping[str, TargetState], topo: Topology) -> str | None:
    """The first parent if every parent is out (:func:`out_for_children`; any one up
    suffices)."""
    parents = topo.parents.get(name, ())
    if not parents:
        return None
    for parent in parents:
        state = states.get(parent)
        if state is None or not out_for_children(state):
            return None
    return parents[0]


def _cause_unsettled(
    state: TargetState, states: Mapping[str, TargetState], topo: Topology
) -> tuple[bool, list[str]]:
    """(held, stale suspects): a parent or a canary is failing without being hard DOWN
    yet (or re-checking), or its word on the target's failure is out of date
    (:func:`stale_suspects`, computed once here: a held target's step re-checks them)."""
    stale = stale_suspects(state, states, topo)
    if stale:
        return True, stale
    for other in _suspects(state.name, topo):
        suspect = states.get(other)
        if suspect is not None and (
            suspect.recheck or (suspect.failing and suspect.own is not Health.DOWN)
        ):
            return True, stale
    return False, stale


def _suspects(name: str, topo: Topology) -> tuple[str, ...]:
    return (*topo.parents.get(name, ()), *(c for c in topo.canaries if c != name))


def stale_suspects(
    state: TargetState, states: Mapping[str, TargetState], topo: Topology
) -> list[str]:
    """Parents or canaries that failed while the target's failure is in question and
    have not answered since its latest failure: their last success may predate a
    new cut.

    A site whose router was cut, answered once, and was cut again between two of
    the router's runs fails ``fall`` times in a row while the router's latest
    run looks fine. The site's DOWN waits until these have answered again, and
    is then re-checked once more; that re-check's failure is final.
    """
    if not state.failing or state.failed_at is None:
        return []
    # Since when the failure is in question: the target's last success, or the
    # re-check that confirmed it after its parents answered.
    began = max(state.ok_at or float("-inf"), state.confirmed_at or float("-inf"))
    out = []
    for other in _suspects(state.name, topo):
        suspect = states.get(other)
        if suspect is None or suspect.failed_at is None or suspect.failed_at < began:
            continue
        latest = max(suspect.failed_at, suspect.ok_at or suspect.failed_at)
        if latest < state.failed_at:  # nothing heard from it since the target's failure
            out.append(other)
    return out


def effective(
    state: TargetState, states: Mapping[str, TargetState], topo: Topology, world: World
) -> tuple[Health, bool, str | None]:
    """(health, held, first down parent) of a target given everything around it."""
    health, held, parent, _ = _verdict(state, states, topo, world)
    return health, held, parent


def _verdict(
    state: TargetState, states: Mapping[str, TargetState], topo: Topology, world: World
) -> tuple[Health, bool, str | None, list[str]]:
    """:func:`effective` and, when held, the suspects to re-check (:func:`stale_suspects`)."""
    if state.maintenance:
        return Health.MAINTENANCE, False, None, []
    if state.own is Health.DOWN or state.recheck:
        return _meaning_of_down(state, states, topo, world)
    return (Health.FLAPPING if state.flapping else state.own), False, None, []


def _meaning_of_down(
    state: TargetState, states: Mapping[str, TargetState], topo: Topology, world: World
) -> tuple[Health, bool, str | None, list[str]]:
    """A target whose own checks fail (or that re-checks): whose fault is it?"""
    parent = _parents_down(state.name, states, topo)
    if parent is not None:
        return Health.UNREACHABLE, False, parent, []
    if state.recheck:
        return Health.UNREACHABLE, True, None, stale_suspects(state, states, topo)
    if world.isolated and state.name not in topo.canaries:
        return Health.UNKNOWN, False, None, []
    if state.flapping:
        return Health.FLAPPING, False, None, []
    held, stale = _cause_unsettled(state, states, topo)
    return Health.DOWN, held, None, stale


@dataclass(slots=True)
class _Step:
    """What the settling functions share during one step."""

    states: Mapping[str, TargetState]
    topo: Topology
    world: World
    now: float
    changes: Changes


def _settle(ctx: _Step, state: TargetState, trigger: ProbeResult | None = None) -> TargetState:
    """Recompute health, announcement and outage of one target; record events."""
    now, changes, world = ctx.now, ctx.changes, ctx.world
    health, held, parent, stale = _verdict(state, ctx.states, ctx.topo, world)
    if state.held and not held and health is Health.DOWN and (trigger is None or trigger.ok):
        # What held the announcement (a failing parent or canary) has settled in
        # the target's favour: its failures may have been the parent's blip. It is
        # probed again and announced only if it still fails (a failure that is
        # itself the fresh run after the parents answered is announced at once).
        state = replace(state, recheck=True)
        changes.recheck.add(state.name)
        health, held, parent, stale = _verdict(state, ctx.states, ctx.topo, world)
    since = state.since
    if health is not state.health:
        since = now
        if health in (Health.DOWN, Health.UNREACHABLE, Health.FLAPPING):
            since = _down_since(state.checks, now)
    if held:
        changes.recheck.update(stale)
    flap_bits = state.flap_bits
    if parent is not None and flap_bits & 1 and not state.flapping:
        # Behind a parent that is out, the failures that led here were the parent's:
        # the latest ones can predate its first failed run (cut between its run and
        # the target's). They leave the flapping window (its trailing failures are
        # cleared), or a router going up and down makes each site behind it "flap".
        flap_bits &= flap_bits + 1
    announced, announced_since = state.announced, state.announced_since
    reason = trigger.reason if trigger else ""
    message = trigger.message if trigger else ""
    if not held and health in ANNOUNCED and health is not announced:
        changes.events.append(
            Event(
                EventKind.announcing(health),
                state.name,
                since if since is not None else now,
                previous=announced,
                reason=reason,
                message=message,
                cause=f"parent:{parent}" if parent else "",
            )
        )
        announced, announced_since = health, since
    outage_start, outage_cause = state.outage_start, state.outage_cause
    wanted = _outage_cause(state, health, held, parent, world)
    if wanted is not None and outage_cause is None:
        outage_start = _down_since(state.checks, now)
        outage_cause = wanted
        changes.events.append(
            Event(
                EventKind.OUTAGE_STARTED,
                state.name,
                outage_start,
                cause=wanted,
                reason=reason,
                message=message,
            )
        )
    elif wanted is None and outage_cause is not None and not held:
        changes.events.append(Event(EventKind.OUTAGE_ENDED, state.name, now, cause=outage_cause))
        outage_start, outage_cause = None, None
    if (
        health is state.health
        and since == state.since
        and announced is state.announced
        and announced_since == state.announced_since
        and held == state.held
        and outage_start == state.outage_start
        and outage_cause == state.outage_cause
        and flap_bits == state.flap_bits
    ):
        return state  # the usual result: nothing to settle (one 20-field copy less)
    return TargetState(
        state.name,
        health,
        since,
        state.checks,
        state.own,
        announced,
        announced_since,
        held,
        state.recheck,
        state.flapping,
        flap_bits,
        state.flap_count,
        state.maintenance,
        outage_start,
        outage_cause,
        state.flap_calm,
        state.failing,
        state.failed_at,
        state.ok_at,
        state.confirmed_at,
    )


def _outage_cause(
    state: TargetState, health: Health, held: bool, parent: str | None, world: World
) -> str | None:
    """Why the target is out (its open outage's cause), or None when it is not."""
    if state.own is Health.UNKNOWN and state.outage_cause is not None and not state.recheck:
        return state.outage_cause  # restarted with an open outage: wait for a hard state
    if health is Health.UNREACHABLE and parent is not None:
        return state.outage_cause or f"parent:{parent}"
    if state.own is Health.DOWN or (state.recheck and state.outage_cause):
        if held and state.outage_cause is None:
            return None  # wait until we know whose fault it is
        if world.isolated and state.outage_cause is None and health is Health.UNKNOWN:
            return None  # the monitor is cut off: no per-target outages
        down = sorted(k for k, c in state.checks.items() if c.hard is Health.DOWN)
        return state.outage_cause or ("check:" + ",".join(down) if down else "check")
    return None


def _down_since(checks: Mapping[str, CheckState], now: float) -> float:
    return min(
        (c.since for c in checks.values() if c.hard is Health.DOWN and c.since is not None),
        default=now,
    )


# --------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------


class StepInput(NamedTuple):
    """One result to step and the world it lands in: what both paths of :func:`step`
    read (a tuple, built once a result: the hot path's few hundred nanoseconds)."""

    states: Mapping[str, TargetState]
    world: World
    topo: Topology
    name: str
    check: str
    result: ProbeResult
    now: float
    policies: Mapping[str, CheckPolicy]
    maintenance: bool


_new_tuple: Final = tuple.__new__


def step(
    states: Mapping[str, TargetState],
    world: World,
    topo: Topology,
    name: str,
    *,
    check: str,
    result: ProbeResult,
    now: float,
    policies: Mapping[str, CheckPolicy],
    maintenance: bool = False,
) -> Changes:
    """Advance the world by one check result of target ``name``.

    ``states`` is read, never written; the returned :class:`Changes` holds the
    new states of every target that changed (the target itself, children
    whose parents changed, everyone when isolation begins or ends), the new
    world, the events, and the targets to re-check at once.
    """
    # tuple.__new__: the named tuple's own __new__ is a Python frame (0.3 against 0.2 µs)
    given = _new_tuple(
        StepInput, (states, world, topo, name, check, result, now, policies, maintenance)
    )
    quiet = _quiet_step(given)
    return quiet if quiet is not None else _general_step(given)


def _general_step(given: StepInput) -> Changes:
    """:func:`step` for any result (see :func:`_quiet_step` for the usual one)."""
    states, world, topo, name, check, result, now, policies, maintenance = given
    changes = Changes()
    state = states[name]
    recheck = state.recheck
    before = state.checks.get(check, _NEW_CHECK)
    after = step_check(before, result, now, policies.get(check, _DEFAULT_POLICY), force_up=recheck)
    if after.hard is not before.hard and after.hard in (Health.UP, Health.DOWN):
        changes.events.append(
            Event(
                EventKind.CHECK_UP if after.hard is Health.UP else EventKind.CHECK_DOWN,
                name,
                after.since if after.since is not None else now,
                check,
                before.hard,
                result.reason,
                result.message,
            )
        )
    checks = {**state.checks, check: after}
    if recheck and result.ok:
        # The re-check passed: the other checks' failures were the parent's (or the
        # monitor's) too. They start afresh; their own next runs (triggered with
        # this one) decide, needing a full ``fall`` to go DOWN again.
        checks = {
            k: (CheckState(last=c.last) if k != check and c.hard is Health.DOWN else c)
            for k, c in checks.items()
        }
    elif recheck and not result.ok:
        # The re-check failed: its own checks are down in their own right.
        checks = {
            k: (
                CheckState(
                    Health.DOWN,
                    c.since or result.started,
                    False,
                    max(c.streak, 1),
                    c.streak_start,
                    c.last,
                )
                if c.last_ok is False
                else c
            )
            for k, c in checks.items()
        }
    own = target_health(checks, policies)
    failing = raw_failing(checks, policies)
    bits, count, flapping, calm = _flap(state, failing, states, topo)
    new = TargetState(
        name,
        state.health,
        state.since,
        checks,
        own,
        state.announced,
        state.announced_since,
        state.held,
        False,
        flapping,
        bits,
        count,
        maintenance,
        state.outage_start,
        state.outage_cause,
        calm,
        failing,
        result.started if not result.ok else state.failed_at,
        result.started if result.ok else state.ok_at,
        result.started if recheck and not result.ok else state.confirmed_at,
    )
    view = _Overlay(states, changes.states)
    changes.states[name] = new
    new_world = _isolation(
        _count_failing(world, state.failing, new.failing), view, topo, now, changes
    )
    changes.world = new_world
    ctx = _Step(view, topo, new_world, now, changes)
    if new_world.isolated is not world.isolated:
        leaving = not new_world.isolated
        for other in states:
            if other != name:
                peer = states[other]
                if leaving and (peer.own is Health.DOWN or peer.failing):
                    # What failed while the monitor was cut off is probed again
                    # before anyone hears of it: it may have recovered meanwhile.
                    peer = replace(peer, recheck=True)
                changes.states[other] = _settle(ctx, peer)
        if leaving:  # leaving isolation re-checks everything
            changes.recheck.update(t for t in states if t != name)
    settled = _settle(ctx, new, result)
    changes.states[name] = settled
    _cascade(ctx, settled, state)
    return changes


def _quiet_step(given: StepInput) -> Changes | None:
    """The usual result, one that moves nothing, stepped without the general path.

    A success of a check that is hard UP and succeeded last time, on a target
    that is UP, announced UP, steady (no failure in its flapping window), not
    held, re-checking, in maintenance or out: only the check's streak and
    latest result, the target's ``ok_at`` and its flapping count move. The
    general path builds the same state with about three times the work
    (check and target health recomputed, the flapping window weighed, the
    target settled). None when any condition fails, or when this step would
    begin or end the monitor's isolation: the caller takes the general path.
    """
    states, world, topo, name, check, result, now, policies, maintenance = given
    state = states[name]
    before = state.checks.get(check)
    if (
        before is None
        or not result.ok
        or before.last_ok is not True
        or before.hard is not _UP
        or state.health is not _UP
        or state.announced is not _UP
        or state.own is not _UP
        or state.failing
        or state.flap_bits
        or state.flapping
        or state.held
        or state.recheck
        or state.maintenance
        or maintenance
        or state.outage_cause is not None
    ):
        return None
    after = CheckState(
        _UP,
        before.since,
        True,
        before.streak + 1,
        before.streak_start,
        kept_result(result, before.last),
    )
    if len(state.checks) == 1:
        checks: Mapping[str, CheckState] = {check: after}
    else:
        # Another check may hold the target's health (a policy a reload changed):
        # recomputed as the general path does, and left to it when anything moves.
        checks = {**state.checks, check: after}
        if target_health(checks, policies) is not _UP or raw_failing(checks, policies):
            return None
    changes = Changes()
    new_world = _isolation(world, states, topo, now, changes)
    if new_world.isolated is not world.isolated:
        return None  # the general path settles everyone (its own _isolation says the same)
    new = TargetState(
        state.name,
        _UP,
        state.since,
        checks,
        _UP,
        _UP,
        state.announced_since,
        False,
        False,
        False,
        0,
        min(state.flap_count + 1, FLAP_WINDOW),
        False,
        state.outage_start,
        None,
        0,
        False,
        state.failed_at,
        result.started,
        state.confirmed_at,
    )
    changes.states[state.name] = new
    changes.world = new_world
    if new.ok_at != state.ok_at and (state.name in topo.children or state.name in topo.canaries):
        # Held children (or, for a canary, held targets) waited for this word.
        view = _Overlay(states, changes.states)
        _answered(_Step(view, topo, new_world, now, changes), state.name)
    return changes


def _flap(
    state: TargetState, failing: bool, states: Mapping[str, TargetState], topo: Topology
) -> tuple[int, int, bool, int]:
    """The flapping window after one more outcome: (bits, count, flapping, calm)."""
    # A result taken while every parent is failing or down says nothing about the
    # target's own stability: it repeats the last own outcome in the flapping window,
    # so a router going up and down does not make each site behind it "flap" too.
    own_bit = failing
    if failing != bool(state.flap_bits & 1) and behind_failure(state.name, states, topo):
        own_bit = bool(state.flap_bits & 1)
    bits = ((state.flap_bits << 1) | int(own_bit)) & _FLAP_MASK
    count = min(state.flap_count + 1, FLAP_WINDOW)
    calm = 0
    if count < FLAP_MIN_RESULTS or (bits in (0, _FLAP_MASK) and not state.flapping):
        flapping = False  # steady (the usual case): no need to weigh the changes
    elif state.flapping:
        # Leaving needs the low threshold held for a whole window, so that steady
        # loss hovering around the thresholds keeps one flapping episode open
        # instead of entering and leaving it (and paging) every few runs.
        calm = state.flap_calm + 1 if flap_ratio(bits, count) < topo.flap_low else 0
        flapping = calm < FLAP_WINDOW
        if not flapping:
            calm = 0
    else:
        flapping = flap_ratio(bits, count) > topo.flap_high
    return bits, count, flapping, calm


def _count_failing(world: World, was: bool, now_failing: bool) -> World:
    if was == now_failing:
        return world
    return replace(world, failing=world.failing + (1 if now_failing else -1))


def _isolation(
    world: World, states: Mapping[str, TargetState], topo: Topology, now: float, changes: Changes
) -> World:
    """Enter or leave isolation; exactly one event each way.

    With canaries configured, the monitor is cut off only when every canary is
    DOWN: healthy canaries veto the ratio rule (a regional outage is not the
    monitor's own fault). The ratio rule decides when no canaries are
    configured, or as an extra condition with ``isolation_require_ratio``; it
    counts root causes (failing targets not behind a failing parent), never
    their consequences, and needs at least ``isolation_min_failing`` of them.
    """
    down_canaries = _down_canaries(states, topo) if topo.canaries else []
    world = _count_roots(world, states, topo, now)
    if topo.canaries:
        cut_off = len(down_canaries) == len(topo.canaries)
        if cut_off and topo.isolation_require_ratio:
            cut_off = _ratio_rule(world, topo)
    else:
        cut_off = _ratio_rule(world, topo)
    if cut_off and not world.isolated:
        changes.events.append(
            Event(
                EventKind.MONITOR_ISOLATED,
                "",
                now,
                message=_isolation_message(world, states, topo, down_canaries),
            )
        )
        return replace(world, isolated=True, isolated_since=now)
    if world.isolated and not cut_off:
        changes.events.append(Event(EventKind.MONITOR_ISOLATION_ENDED, "", now))
        return replace(world, isolated=False, isolated_since=None)
    return world


def _down_canaries(states: Mapping[str, TargetState], topo: Topology) -> list[str]:
    out = []
    for name in topo.canaries:
        state = states.get(name)
        if state is not None and state.own is Health.DOWN:
            out.append(name)
    return out


def _ratio_rule(world: World, topo: Topology) -> bool:
    if world.total < topo.isolation_min_targets or world.roots < topo.isolation_min_failing:
        return False
    return world.roots / world.total > topo.isolation_ratio


def _count_roots(
    world: World, states: Mapping[str, TargetState], topo: Topology, now: float
) -> World:
    """Recount root causes when the cheap bound says the ratio rule might hold.

    Root causes are at most the failing targets, so while few targets fail
    (the usual case) nothing is walked. Otherwise the count is refreshed at
    most once a second: a walk over every target per result would cost
    quadratic time in a mass outage, exactly when the loop is busiest.
    """
    possible = (
        world.total >= topo.isolation_min_targets
        and world.failing >= topo.isolation_min_failing
        and world.failing / max(world.total, 1) > topo.isolation_ratio
    )
    if not possible and not world.isolated:
        return world if world.roots == 0 else replace(world, roots=0, roots_at=now)
    if now - world.roots_at < 1.0:
        # Between counts, root causes can only have become fewer than the failing.
        return world if world.roots <= world.failing else replace(world, roots=world.failing)
    return replace(world, roots=len(root_causes(states, topo)), roots_at=now)


def root_causes(states: Mapping[str, TargetState], topo: Topology) -> list[str]:
    """Failing targets none of whose parents is failing or down: the real problems."""
    out = []
    for name in states:
        state = states[name]
        if (state.failing or state.own is Health.DOWN) and not behind_failure(name, states, topo):
            out.append(name)
    return out


def behind_failure(name: str, states: Mapping[str, TargetState], topo: Topology) -> bool:
    """Whether every parent of ``name`` is failing, DOWN or UNREACHABLE (a consequence)."""
    parents = topo.parents.get(name, ())
    if not parents:
        return False
    for parent in parents:
        state = states.get(parent)
        if state is None or not (state.failing or out_for_children(state)):
            return False
    return True


def _isolation_message(
    world: World, states: Mapping[str, TargetState], topo: Topology, down_canaries: list[str]
) -> str:
    """Names what failed: the canaries, the counts, the first failing root causes."""
    parts = []
    if down_canaries:
        parts.append(f"canaries down: {', '.join(down_canaries)}")
    roots = [r for r in root_causes(states, topo) if r not in topo.canaries]
    shown = ", ".join(roots[:5]) + (", ..." if len(roots) > 5 else "")
    parts.append(
        f"{world.failing}/{world.total} targets failing, {len(roots)} on their own"
        + (f": {shown}" if roots else "")
    )
    return "; ".join(parts)


def _cascade(ctx: _Step, new: TargetState, old: TargetState) -> None:
    """Re-settle the targets that depend on one whose health or suspicion changed."""
    if new.health is old.health and new.failing == old.failing and new.own is old.own:
        if new.ok_at != old.ok_at:
            _answered(ctx, new.name)
        return
    recovered = out_for_children(old) and not out_for_children(new)
    states, changes = ctx.states, ctx.changes
    queue = list(ctx.topo.children.get(new.name, ()))
    if new.name in ctx.topo.canaries:
        queue += [t for t in states if t != new.name]
    seen: set[str] = set()
    while queue:
        child = queue.pop(0)
        if child in seen or child not in states:
            continue
        seen.add(child)
        state = states[child]
        if recovered and state.health is Health.UNREACHABLE:
            state = _with_recheck(state)
            changes.recheck.add(child)
        settled = _settle(ctx, state)
        if settled != states[child]:
            changes.states[child] = settled
            queue.extend(ctx.topo.children.get(child, ()))


def _answered(ctx: _Step, name: str) -> None:
    """``name`` answered again: the held targets that waited for that word are settled.

    Only held ones are looked at (a router's routine success costs nothing for
    its hundreds of sites that are fine).
    """
    others = ctx.topo.children.get(name, ())
    if name in ctx.topo.canaries:
        others = tuple(t for t in ctx.states if t != name)
    for other in others:
        state = ctx.states.get(other)
        if state is not None and state.held:
            settled = _settle(ctx, state)
            if settled != state:
                ctx.changes.states[other] = settled


def _with_recheck(state: TargetState) -> TargetState:
    return replace(state, recheck=True)


def set_maintenance(
    states: Mapping[str, TargetState],
    world: World,
    topo: Topology,
    name: str,
    *,
    on: bool,
    now: float,
) -> Changes:
    """A maintenance window opened or closed for a target (time-driven, not result-driven)."""
    changes = Changes(world=world)
    state = states[name]
    if state.maintenance == on:
        return changes
    flipped = replace(state, maintenance=on)
    if not on:
        # Judged afresh after planned work: what failed during the window must
        # fail a full ``fall`` again before anyone is paged, and a target that
        # is recovering comes back with its first success (no fire-then-resolve).
        checks = {k: CheckState(last=c.last) for k, c in state.checks.items()}
        flipped = replace(flipped, checks=checks, own=Health.UNKNOWN, held=False, recheck=False)
    ctx = _Step(_Overlay(states, changes.states), topo, world, now, changes)
    settled = _settle(ctx, flipped)
    changes.states[name] = settled
    _cascade(ctx, settled, state)
    return changes


class _Overlay(Mapping[str, TargetState]):
    """The old states with this step's changes laid over them (no copying)."""

    __slots__ = ("_base", "_top")

    def __init__(self, base: Mapping[str, TargetState], top: Mapping[str, TargetState]) -> None:
        self._base, self._top = base, top

    def __getitem__(self, key: str) -> TargetState:
        found = self._top.get(key)
        return found if found is not None else self._base[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)


def prune(state: TargetState, checks: set[str], policies: Mapping[str, CheckPolicy]) -> TargetState:
    """Drop states of checks a reload removed, and re-derive the target's own health."""
    kept = {k: v for k, v in state.checks.items() if k in checks}
    if kept.keys() == state.checks.keys():
        return state
    own = target_health(kept, policies)
    return replace(state, checks=kept, own=own)
