"""The contract between the daemon and its probes and listeners: check
settings, targets, results, samples, events, metric families, the prober and
listener protocols and the registry entries.

A base module every package may import (see ARCHITECTURE.md): it imports only
:mod:`monitor.config_types` and :mod:`monitor.fast_init`. A probe kind is one
module in ``probes/`` that defines a settings model (a subclass of
:class:`CheckSettings`) and a prober: an async context manager, created once
per daemon, whose
``probe(target, settings, deadline=...)`` makes one attempt and returns a
:class:`ProbeResult`. Shared resources (the one ICMP socket, one HTTP session)
live on the prober, never in module globals, so several daemons or tests can
run side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, model_validator

from monitor.config_types import Count, Duration, Interval, StrictModel, format_duration
from monitor.fast_init import fast_init


class CheckSettings(StrictModel):
    """Settings every check has; probe kinds subclass this with their own keys.

    The values here are the built-in defaults; ``[defaults]``, a template and
    the target override them in that order (see ``monitor.engine.config``).
    """

    interval: Interval = 30.0
    timeout: Duration = 5.0
    fall: Count = 3
    rise: Count = 2
    critical: bool = True
    down_interval: Interval | None = None
    """How often the check runs while failing (default: a third of interval,
    at least timeout), so a recovery is seen sooner."""

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> CheckSettings:
        # A run that may outlast its interval would overlap the next one.
        if self.timeout > self.interval:
            raise ValueError(
                f"timeout {format_duration(self.timeout)} must not be longer than "
                f"interval {format_duration(self.interval)}"
            )
        if self.down_interval is not None and self.down_interval > self.interval:
            raise ValueError(
                f"down_interval {format_duration(self.down_interval)} must not be longer than "
                f"interval {format_duration(self.interval)}"
            )
        return self


# --------------------------------------------------------------------------
# What a probe sees and returns
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """The part of a configured target a probe needs: its name and address."""

    name: str
    address: str


class Sample(NamedTuple):
    """One measured value: a full metric name, its extra labels, the value.

    A named tuple: probes make several per result (five per ICMP run), and a
    frozen dataclass's constructor costs one ``object.__setattr__`` a field.
    """

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeEvent:
    """Something a probe saw happen, beyond ok/failed: a reboot, an interface or
    power change. ``kind`` is CamelCase like alert names (``DeviceRebooted``,
    ``InterfaceDown``, ``OnBattery``); ``labels`` identify the part concerned
    (``(("interface", "Gi0/1"),)``); ``values`` carry figures such as the
    previous uptime."""

    kind: str
    message: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)


@fast_init
@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one attempt of one check.

    ``reason`` is a short machine-readable code (``ok``, ``timeout``,
    ``refused``, ``dns``, ...) from a fixed set per kind, so it can be a
    label without unbounded cardinality; ``message`` is for humans.
    ``started`` is wall-clock UNIX time, ``duration`` seconds.

    Two are made per run (the probe's, and the part the check's state keeps),
    thousands a second: its constructor is :func:`monitor.fast_init.fast_init`'s
    (0.4 against the frozen dataclass's 1.0 µs).
    """

    ok: bool
    reason: str
    message: str
    started: float
    duration: float
    samples: tuple[Sample, ...] = ()
    values: Mapping[str, float] = field(default_factory=dict)
    """Named measurements for rules and the CLI, e.g. ``{"rtt_avg_seconds": 0.001}``."""
    events: tuple[ProbeEvent, ...] = ()
    rtts: tuple[float, ...] = ()
    """The round trip of each answered echo of an echo train (ICMP), for the
    measurement history's latency distribution (the smoke graph's bands)."""


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """Declares a metric family a kind's samples belong to (for HELP/TYPE)."""

    name: str
    type: Literal["gauge", "counter", "info", "histogram"]
    help: str


class ProbeSetupError(Exception):
    """A prober cannot start (no permission, no such family): a message for the operator."""


SettingsT = TypeVar("SettingsT", bound=CheckSettings)
SettingsT_contra = TypeVar("SettingsT_contra", bound=CheckSettings, contravariant=True)


class Prober(Protocol[SettingsT_contra]):
    """A live probe kind: owns shared sockets/sessions for the daemon's lifetime.

    ``deadline`` is in the event loop's clock (``loop.time()``). Opening the
    prober (its async context manager) raises :class:`ProbeSetupError` with an
    operator-facing message when the kind cannot work on this host at all.
    """

    async def probe(
        self, target: ProbeTarget, settings: SettingsT_contra, *, deadline: float
    ) -> ProbeResult: ...


@runtime_checkable
class StartableProber(Prober[SettingsT_contra], Protocol[SettingsT_contra]):
    """A prober that can also start a run without a coroutine (light probes: ICMP).

    ``start`` begins one attempt and returns True; ``done(result)`` is called
    later from the event loop, exactly once, by the deadline. It returns
    False (and never calls ``done``) when this run needs :meth:`probe`
    instead (a name to look up, say). The scheduler starts every run due in
    one tick from one callback this way, instead of one task per run.
    """

    def start(
        self,
        target: ProbeTarget,
        settings: SettingsT_contra,
        *,
        deadline: float,
        done: Callable[[ProbeResult], None],
    ) -> bool: ...


def _drop_event(agent: str, event: ProbeEvent) -> None:
    """The default sink: nothing listens."""


@dataclass(frozen=True)
class ProbeContext:
    """What a prober or listener is opened with: the validated top-level config
    sections its kind owns (e.g. ``snmp_modules``), keyed by section name, the
    monitor's instance name, and ``emit(agent_address, event)`` for events
    that arrive between runs (SNMP traps); the daemon maps the agent address
    to its target."""

    sections: Mapping[str, Any] = field(default_factory=dict)
    instance: str = "continuity-monitor"
    emit: Callable[[str, ProbeEvent], None] = _drop_event


ProberFactory = Callable[[ProbeContext], AbstractAsyncContextManager[Prober[SettingsT]]]


class Listener(Protocol):
    """A live listener (what ``ListenerKind.open`` yields): its own counters as
    samples, in the families its kind declares; the exporter renders them at
    each scrape."""

    def samples(self) -> Iterable[Sample]: ...


@dataclass(frozen=True)
class ListenerKind:
    """A registry entry for something that receives rather than polls (traps).

    The daemon opens it (``open(context)``, an async context manager) while
    its config ``section`` is present; it reports through ``context.emit``.
    """

    name: str
    section: str
    model: type[BaseModel]
    open: Callable[[ProbeContext], AbstractAsyncContextManager[Listener]]
    families: tuple[MetricFamily, ...] = ()
    """The families of the listener's :meth:`Listener.samples`."""


Problems = list[tuple[tuple[str | int, ...], str]]
"""``(loc inside the check table, message)`` pairs."""

SettingsCheck = Callable[[SettingsT, Mapping[str, Any]], Problems]


def _no_check(
    settings: Any, sections: Mapping[str, Any]
) -> list[tuple[tuple[str | int, ...], str]]:
    return []


def _no_families(sections: Mapping[str, Any]) -> tuple[MetricFamily, ...]:
    return ()


def _any_address(address: str, settings: Any) -> str | None:
    return None


@dataclass(frozen=True)
class ProbeKind(Generic[SettingsT]):
    """A registry entry: everything ``monitor/`` needs to know about a kind.

    ``sections`` are top-level config tables this kind owns (name -> model),
    validated by the config loader and handed to ``open`` in the
    :class:`ProbeContext`. ``check(settings, sections)`` validates a check's
    settings against those sections (say, that a named SNMP module exists) and
    returns ``(loc inside the check table, message)`` pairs.
    """

    name: str
    settings: type[SettingsT]
    open: ProberFactory[SettingsT]
    families: tuple[MetricFamily, ...] = ()
    description: str = ""
    sections: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    check: SettingsCheck[SettingsT] = _no_check
    section_families: Callable[[Mapping[str, Any]], tuple[MetricFamily, ...]] = _no_families
    """Metric families that depend on the kind's sections (SNMP user modules)."""
    check_address: Callable[[str, SettingsT], str | None] = _any_address
    """Why a target's ``address`` cannot work for this kind (a bad URL, not a host), or None."""
    reasons: tuple[str, ...] = ("ok",)
    """Every reason a result of this kind can carry (a bounded label set; the
    probe conformance test holds each kind to it)."""
    values: frozenset[str] | None = None
    """Names of the values a result of this kind may carry (what ``[[alerts.rules]]
    metric = "KIND.NAME"`` can refer to); None when they depend on the config."""
