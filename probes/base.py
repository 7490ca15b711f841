"""The probe contract: settings models, results, samples and the kind registry entry.

A probe kind is one module in ``probes/`` that defines a settings model (a
subclass of :class:`CheckSettings`) and a prober: an async context manager,
created once per daemon, whose ``probe(target, settings, deadline=...)``
makes one attempt and returns a :class:`ProbeResult`. Shared resources (the
one ICMP socket, one HTTP session) live on the prober, never in module
globals, so several daemons or tests can run side by side.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    model_validator,
)

from probes.regex import Regex, compile_regex

# --------------------------------------------------------------------------
# Small value types shared by every settings model
# --------------------------------------------------------------------------

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: object) -> float:
    """Turn ``"30s"``, ``"5m"``, ``"1.5h"``, ``"250ms"`` into seconds.

    Plain numbers are rejected on purpose: ``interval = 30`` is ambiguous
    (seconds? minutes?) and operators should write the unit.
    """
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise ValueError(f"expected a duration such as '30s', '5m' or '250ms', got {value!r}")


def format_duration(seconds: float) -> str:
    """The inverse of :func:`parse_duration` for round trips and messages."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and math.isclose(seconds / size, round(seconds / size)):
            return f"{round(seconds / size)}{unit}"
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {format_duration(value)}")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
"""A positive duration written with a unit; stored as float seconds."""


def duration_at_most(high: float, why: str) -> Any:
    """A duration with an upper bound; the message says the bound and ``why``."""

    def check(value: float) -> float:
        if value > high:
            raise ValueError(
                f"must be at most {format_duration(high)}, got {format_duration(value)} ({why})"
            )
        return value

    return Annotated[
        float, BeforeValidator(parse_duration), AfterValidator(_positive), AfterValidator(check)
    ]


MAX_INTERVAL = 86400.0


def _at_most_a_day(value: float) -> float:
    if value > MAX_INTERVAL:
        raise ValueError(
            f"must be at most 1d, got {format_duration(value)} (a check that runs "
            "less than daily cannot notice an outage while it lasts)"
        )
    return value


Interval = Annotated[Duration, AfterValidator(_at_most_a_day)]
"""How often a check runs: a duration of at most a day."""


def int_range(low: int, high: int) -> Any:
    """An integer constrained to ``[low, high]`` with an operator-friendly message."""

    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return Annotated[int, AfterValidator(check)]


def float_range(low: float, high: float) -> Any:
    """A float constrained to ``[low, high]``."""

    def check(value: float) -> float:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {value:g}")
        return value

    return Annotated[float, AfterValidator(check)]


class Secret:
    """A secret config value: resolved at load, never printed.

    Written in config as ``env:NAME`` (an environment variable), ``file:/path``
    (the file's content, trailing newline stripped) or a literal string.
    ``str()``/``repr()`` give ``<secret>`` so it cannot leak through logs,
    error messages or ``check-config`` output by accident.
    """

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve_secret(value: object, environ: Mapping[str, str] | None = None) -> Secret:
    """Resolve an ``env:``/``file:``/literal reference into a :class:`Secret`."""
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected a string ('env:NAME', 'file:/path' or the value), got {value!r}"
        )
    if value.startswith("env:"):
        name = value[4:]
        env = os.environ if environ is None else environ
        if name not in env:
            raise ValueError(f"environment variable {name} is not set")
        return Secret(env[name], value)
    if value.startswith("file:"):
        path = value[5:]
        try:
            with open(path, encoding="utf-8") as fh:
                return Secret(fh.read().rstrip("\r\n"), value)
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
    return Secret(value)


SecretStr = Annotated[Secret, PlainValidator(resolve_secret)]
"""A config field holding a secret reference."""


class StrictModel(BaseModel):
    """Base of every config model: frozen, strict types, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CheckSettings(StrictModel):
    """Settings every check has; probe kinds subclass this with their own keys.

    The values here are the built-in defaults; ``[defaults]``, a template and
    the target override them in that order (see ``monitor.config``).
    """

    interval: Interval = 30.0
    timeout: Duration = 5.0
    fall: int_range(1, 100) = 3  # type: ignore[valid-type]
    rise: int_range(1, 100) = 2  # type: ignore[valid-type]
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


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value: a full metric name, its extra labels, the value."""

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


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The outcome of one attempt of one check.

    ``reason`` is a short machine-readable code (``ok``, ``timeout``,
    ``refused``, ``dns``, ...) from a fixed set per kind, so it can be a
    label without unbounded cardinality; ``message`` is for humans.
    ``started`` is wall-clock UNIX time, ``duration`` seconds.
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


@dataclass(frozen=True, slots=True)
class MetricFamily:
    """Declares a metric family a kind's samples belong to (for HELP/TYPE)."""

    name: str
    type: Literal["gauge", "counter", "info", "histogram"]
    help: str


class ProbeSetupError(Exception):
    """A prober cannot start (no permission, no such family): a message for the operator."""


class Prober(Protocol):
    """A live probe kind: owns shared sockets/sessions for the daemon's lifetime.

    ``deadline`` is in the event loop's clock (``loop.time()``). Opening the
    prober (its async context manager) raises :class:`ProbeSetupError` with an
    operator-facing message when the kind cannot work on this host at all.
    """

    async def probe(
        self, target: ProbeTarget, settings: Any, *, deadline: float
    ) -> ProbeResult: ...


@runtime_checkable
class StartableProber(Prober, Protocol):
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
        settings: Any,
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


ProberFactory = Callable[[ProbeContext], AbstractAsyncContextManager[Prober]]


@dataclass(frozen=True)
class ListenerKind:
    """A registry entry for something that receives rather than polls (traps).

    The daemon opens it (``open(context)``, an async context manager) while
    its config ``section`` is present; it reports through ``context.emit``.
    """

    name: str
    section: str
    model: type[BaseModel]
    open: Callable[[ProbeContext], AbstractAsyncContextManager[object]]
    families: tuple[MetricFamily, ...] = ()


SettingsCheck = Callable[[Any, Mapping[str, Any]], list[tuple[tuple[str | int, ...], str]]]


def _no_check(
    settings: Any, sections: Mapping[str, Any]
) -> list[tuple[tuple[str | int, ...], str]]:
    return []


def compile_pattern(value: object) -> Regex:
    """A regular expression compiled at config load (RE2: matched against remote data
    in linear time); a bad one is a config error there."""
    if isinstance(value, Regex):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a regular expression, got {value!r}")
    return compile_regex(value)


Pattern = Annotated[Regex, PlainValidator(compile_pattern)]
"""A config field holding a regular expression, compiled once."""


def source_address(value: str) -> str:
    """A local address to send from: an IP address of this host, normalised."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"expected an IP address of this host, got {value!r}") from None


SourceAddress = Annotated[str, AfterValidator(source_address)]


def _no_families(sections: Mapping[str, Any]) -> tuple[MetricFamily, ...]:
    return ()


def _any_address(address: str, settings: Any) -> str | None:
    return None


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def canonical_ipv4(text: str) -> bool:
    """Whether ``text`` is an IPv4 address in its canonical dotted-quad spelling.

    One C call (``inet_pton`` takes exactly four decimal octets without
    leading zeros, as :mod:`ipaddress` does): checking 50,000 inventory
    addresses with :mod:`ipaddress` alone took a sixth of the config load.
    """
    try:
        socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):  # ValueError: an embedded NUL
        return False
    return True


def host_problem(host: str) -> str | None:
    """Why ``host`` is neither an IP address nor a DNS name, or None if it is one."""
    if canonical_ipv4(host):
        return None
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
        return None
    except ValueError:
        pass
    name = candidate.rstrip(".")
    if not name or len(name) > 253 or not all(_HOST_LABEL.match(p) for p in name.split(".")):
        return f"expected an IP address or a host name, got {host!r}"
    return None


@dataclass(frozen=True)
class ProbeKind:
    """A registry entry: everything ``monitor/`` needs to know about a kind.

    ``sections`` are top-level config tables this kind owns (name -> model),
    validated by the config loader and handed to ``open`` in the
    :class:`ProbeContext`. ``check(settings, sections)`` validates a check's
    settings against those sections (say, that a named SNMP module exists) and
    returns ``(loc inside the check table, message)`` pairs.
    """

    name: str
    settings: type[CheckSettings]
    open: ProberFactory
    families: tuple[MetricFamily, ...] = ()
    description: str = ""
    sections: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    check: SettingsCheck = _no_check
    section_families: Callable[[Mapping[str, Any]], tuple[MetricFamily, ...]] = _no_families
    """Metric families that depend on the kind's sections (SNMP user modules)."""
    check_address: Callable[[str, Any], str | None] = _any_address
    """Why a target's ``address`` cannot work for this kind (a bad URL, not a host), or None."""
    values: frozenset[str] | None = None
    """Names of the values a result of this kind may carry (what ``[[alerts.rules]]
    metric = "KIND.NAME"`` can refer to); None when they depend on the config."""
