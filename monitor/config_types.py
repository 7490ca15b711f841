"""Config value types every package's settings use: durations, bounded numbers,
secrets, patterns, addresses and the strict base model.

A base module: it imports nothing from the project but :mod:`monitor.regex`,
so probes, alerts and the daemon can all describe their config with it.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
from collections.abc import Mapping
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
)

from monitor.regex import Regex, compile_regex

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


def _non_negative(value: float) -> float:
    if value < 0:
        raise ValueError("must not be negative")
    return value


NonNegativeDuration = Annotated[
    float, BeforeValidator(parse_duration), AfterValidator(_non_negative)
]
"""A duration that may be ``"0s"`` (``group_wait``, ``page_wait``: no wait at all)."""


def duration_at_most(high: float, why: str) -> AfterValidator:
    """An upper bound for a :data:`Duration` (``Annotated[Duration, duration_at_most(...)]``);
    the message says the bound and ``why``."""

    def check(value: float) -> float:
        if value > high:
            raise ValueError(
                f"must be at most {format_duration(high)}, got {format_duration(value)} ({why})"
            )
        return value

    return AfterValidator(check)


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


Count = Annotated[int, Field(ge=1, le=100)]
"""A small count (fall, rise, pings per run)."""

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP or UDP port."""

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
"""A share, 0 to 1."""


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
