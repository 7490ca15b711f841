"""Config models for delivery: ``[channels.NAME]``, ``[alerts]`` and ``[[alerts.routes]]``.

Channels are a discriminated union on ``type`` built from the channel
registry, so adding a kind adds its settings here without touching this
module. pydantic puts the union's tag in error locations
(``noc-mqtt -> mqtt -> url``); :func:`validate_alerting` validates the raw
tables and reports operator paths (``channels.noc-mqtt.url``), then
:func:`check_alerts` checks cross-references (routes naming channels).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from alerts.channels import KINDS
from alerts.channels.base import ChannelSettings
from alerts.rules import BUILTIN_DEFAULTS, BuiltinSetting, ThresholdRule
from monitor.config_errors import ConfigIssue, describe, join_path
from monitor.config_types import Duration, NonNegativeDuration, StrictModel
from monitor.regex import compile_regex

__all__ = [
    "AlertsSection",
    "ChannelConfig",
    "ChannelsSection",
    "RouteConfig",
    "alerts_language",
    "check_alerts",
    "validate_alerting",
]

_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_UNKNOWN_TAG = "?"


def _regex(value: str) -> str:
    compile_regex(value)  # RE2, as routes match with it; ValueError says what is wrong
    return value


def _unknown_type(value: object) -> object:
    known = ", ".join(sorted(KINDS))
    raise ValueError(f"unknown channel type {value!r} (available: {known})")


class _UnknownChannel(StrictModel):
    """Takes every table whose ``type`` is missing or unknown, to report it at ``.type``
    (and only there: its other keys cannot be judged without a type)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    type: Annotated[Any, AfterValidator(_unknown_type)]


def _channel_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) and kind in KINDS else _UNKNOWN_TAG


def _channel_union() -> Any:
    members = [Annotated[kind.settings, Tag(name)] for name, kind in KINDS.items()]
    members.append(Annotated[_UnknownChannel, Tag(_UNKNOWN_TAG)])
    return Annotated[Union[tuple(members)], Discriminator(_channel_tag)]  # noqa: UP007


ChannelConfig = _channel_union()
"""One ``[channels.NAME]`` table: the settings model of its ``type``."""

ChannelsSection = dict[str, ChannelConfig]  # type: ignore[valid-type]
"""``[channels]``: channel name -> settings."""


class RouteConfig(StrictModel):
    """One ``[[alerts.routes]]`` entry. Routes are tried in order; the first match
    wins unless it says ``continue = true``."""

    match: dict[str, str] = Field(default_factory=dict)
    """Label equality matchers (``severity`` is a label)."""
    match_re: dict[str, Annotated[str, AfterValidator(_regex)]] = Field(default_factory=dict)
    """Label regular-expression matchers (the whole value must match)."""
    channels: Annotated[list[str], Field(min_length=1)]
    continue_: bool = Field(False, alias="continue")
    group_by: list[str] | None = None
    """Labels whose values group alerts into one notification; unset: one per alert."""
    group_wait: NonNegativeDuration = 0.0
    repeat_interval: Duration = 4 * 3600.0
    send_resolved: bool = True
    escalate_after: Duration | None = None
    escalate_to: list[str] = Field(default_factory=list)
    fallback: str | None = None

    @model_validator(mode="after")
    def _escalation_pair(self) -> RouteConfig:
        if (self.escalate_after is None) != (not self.escalate_to):
            raise ValueError("escalate_after and escalate_to go together")
        return self


class AlertsSection(StrictModel):
    """``[alerts]``: delivery settings shared by every route."""

    language: Literal["en", "vi"] | None = None
    """Language of alert texts; unset: ``[monitor] language``."""
    routes: list[RouteConfig] = Field(default_factory=list)
    retention: Duration = 7 * 86400.0
    """How long delivered and dead notifications stay in the outbox (dedup memory)."""
    builtin: dict[str, BuiltinSetting] = Field(default_factory=dict)
    """Switch built-in alerts on or off, or change their severity (``[alerts.builtin.NAME]``)."""
    rules: list[ThresholdRule] = Field(default_factory=list)
    """Threshold rules on check values (``[[alerts.rules]]``)."""
    point_resolve_after: Duration = 900.0
    """When a point event's alert (DeviceRebooted) resolves by itself."""
    flapping_keep_for: Duration = 300.0
    """How long TargetFlapping keeps firing after the target stopped flapping: flapping
    again within it continues the same episode (no second page)."""
    going_dark_lead: Duration = 1800.0
    """How long before a UPS on battery is predicted to run out SiteGoingDark fires."""

    @field_validator("builtin")
    @classmethod
    def _known_builtins(cls, value: dict[str, BuiltinSetting]) -> dict[str, BuiltinSetting]:
        unknown = sorted(set(value) - set(BUILTIN_DEFAULTS))
        if unknown:
            known = ", ".join(BUILTIN_DEFAULTS)
            raise ValueError(f"unknown built-in alert {unknown[0]!r} (known: {known})")
        return value

    @field_validator("rules")
    @classmethod
    def _rule_names(cls, value: list[ThresholdRule]) -> list[ThresholdRule]:
        seen: set[str] = set()
        for rule in value:
            if rule.name in BUILTIN_DEFAULTS:
                raise ValueError(f"rule name {rule.name!r} is a built-in alert; choose another")
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return value


def alerts_language(alerts: AlertsSection, monitor_language: str) -> str:
    return alerts.language or monitor_language


def _operator_path(base: str, loc: tuple[int | str, ...]) -> str:
    """Drop the union tag pydantic puts after the channel name."""
    if base == "channels" and len(loc) >= 2 and (loc[1] in KINDS or loc[1] == _UNKNOWN_TAG):
        loc = (loc[0], *loc[2:])
    return join_path(base, loc)


def _issues(exc: ValidationError, base: str) -> list[ConfigIssue]:
    return [
        ConfigIssue(_operator_path(base, tuple(err["loc"])), describe(err))
        for err in exc.errors(include_url=False)
    ]


_CHANNELS = TypeAdapter(ChannelsSection)


def validate_alerting(
    channels: Any, alerts: Any
) -> tuple[dict[str, ChannelSettings], AlertsSection | None, list[ConfigIssue]]:
    """Validate raw ``[channels]`` and ``[alerts]`` tables (as parsed from TOML).

    Returns the valid channels (an invalid one is left out, and reported),
    the alerts section (None if invalid) and every issue, cross-references
    included.
    """
    issues: list[ConfigIssue] = []
    valid: dict[str, ChannelSettings] = {}
    if not isinstance(channels, dict):
        issues.append(ConfigIssue("channels", "expected a table of channels"))
        channels = {}
    for name, table in channels.items():
        try:
            valid[name] = _CHANNELS.validate_python({name: table})[name]
        except ValidationError as exc:
            issues.extend(_issues(exc, "channels"))
    section: AlertsSection | None = None
    try:
        section = AlertsSection.model_validate(alerts if alerts is not None else {})
    except ValidationError as exc:
        issues.extend(_issues(exc, "alerts"))
    if section is not None:
        issues.extend(check_alerts(valid, section, declared=set(channels)))
    issues.extend(_check_names(channels))
    return valid, section, issues


def _check_names(channels: Mapping[str, Any]) -> list[ConfigIssue]:
    return [
        ConfigIssue(
            join_path("channels", (name,)),
            "channel names must start with a letter or digit and hold only letters, digits, "
            "'-', '_' and '.' (at most 63)",
        )
        for name in channels
        if not _CHANNEL_NAME.match(name)
    ]


def check_alerts(
    channels: Mapping[str, ChannelSettings],
    alerts: AlertsSection,
    declared: set[str] | None = None,
) -> list[ConfigIssue]:
    """Cross-references: every channel a route names exists.

    ``declared`` are all names written under ``[channels]``, valid or not; a
    route naming an invalid channel is not reported again (its own errors are).
    """
    names = declared if declared is not None else set(channels)
    known = ", ".join(sorted(names)) or "none defined"
    issues: list[ConfigIssue] = []

    def check(name: str, path: str) -> None:
        if name not in names:
            issues.append(ConfigIssue(path, f"unknown channel {name!r} (known: {known})"))

    for index, route in enumerate(alerts.routes):
        base = f"alerts.routes[{index}]"
        for position, name in enumerate(route.channels):
            check(name, f"{base}.channels[{position}]")
        for position, name in enumerate(route.escalate_to):
            check(name, f"{base}.escalate_to[{position}]")
        if route.fallback is not None:
            check(route.fallback, f"{base}.fallback")
    return issues
