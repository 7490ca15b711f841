"""Loading and validating ``config.toml`` into a frozen :class:`Config`.

The shape (README.md, "Configuration"): ``[monitor]``, ``[defaults]``,
``[templates.NAME]``, ``[[targets]]`` and ``include``. Settings of a check are layered, later wins:

    built-in defaults < [defaults] < [defaults.KIND] < template < template.KIND
                      < target < target.KIND

The layers are merged as written (raw TOML values) and validated once by the
probe kind's settings model, so cross-field rules see the final values; each
merged key remembers which layer it came from, so an error names the place
the operator has to edit (``templates.bts.icmp.count`` or
``targets[2].icmp.count``). Every error is collected; none stops the others
from being found.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, ValidationError, create_model, model_validator

import probes
from alerts.channels.base import ChannelSettings
from alerts.config import AlertsSection, validate_alerting
from monitor.config_errors import (
    ConfigError,
    ConfigIssue,
    issues_from_validation,
    join_path,
    suggestion,
)
from monitor.config_types import (
    Count,
    Duration,
    Ratio,
    StrictModel,
    canonical_ipv4,
    duration_at_most,
)
from monitor.contract import CheckSettings, ListenerKind, ProbeKind
from monitor.engine.config_locator import locate
from monitor.engine.config_memo import MemoRound, Surroundings, TargetMemo, table_key
from monitor.engine.maintenance import MaintenanceWindow
from monitor.engine.pacing import PAUSE_EVERY
from monitor.engine.paths import PathDiagnosisSection
from monitor.engine.shard_spec import parse_shard
from monitor.engine.slo import SloConfig
from monitor.engine.sources import Origin, RawConfig, SourceError, read_config
from monitor.web.security import WebSection

__all__ = [
    "Check",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ConfigSchema",
    "Location",
    "MonitorSection",
    "Target",
    "load_config",
    "split_host_port",
]

COMMON_KEYS = tuple(CheckSettings.model_fields)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the daemon sets itself on some series; a target label of the same
# name would produce duplicate label names, which Prometheus rejects.
RESERVED_LABELS = frozenset(
    {
        "target",
        "check",
        "state",
        "stat",
        "interface",
        "alias",
        "window",
        "reason",
        "phase",
        "channel",
        "instance",
        "job",
        "le",
        "quantile",
        "severity",
        "alertname",
        "monitor",
        # labels of the probes' own series
        "line",
        "cpu",
        "storage",
        "sensor",
        "status",
        "sys_name",
        "sys_descr",
        "sys_object_id",
        "tls_version",
        "slo",
        "method",  # continuity_ups_predicted_dark_timestamp_seconds
    }
)


def split_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9925"`` / ``"[::1]:9925"`` / ``":9925"`` -> (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"expected HOST:PORT such as '127.0.0.1:9925', got {value!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # raises ValueError with a clear text
    elif ":" in host:
        raise ValueError(f"write IPv6 addresses in brackets, e.g. '[::1]:9925', got {value!r}")
    return host, port


_NUMERIC_HOST = re.compile(r"[0-9.]+")


def numeric_host_problem(address: str) -> str | None:
    """``127.0.2.400`` or ``10.66.3.12.5`` is a typo, not a host name: refuse it at load
    rather than look it up in DNS on every run (no top-level domain is all digits)."""
    host = urlsplit(address).hostname if "://" in address else address
    if host is None or not host[:1].isdigit() or canonical_ipv4(host):
        return None
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return f"{host!r} is not a valid IPv4 address"
    return None


def _listen(value: str) -> str:
    split_host_port(value)
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'Asia/Ho_Chi_Minh')"
        ) from None
    return value


def _shard(value: str) -> str:
    parse_shard(value)  # raises ValueError with the reason
    return value


_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def _target_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > 200:
        raise ValueError(f"must be at most 200 characters long, got {len(value)}")
    if _CONTROL_CHARACTER.search(value):  # one C call (a generator per name was slower)
        raise ValueError(f"must not contain control characters, got {value!r}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmpty = Annotated[str, AfterValidator(_non_empty)]
TargetName = Annotated[str, AfterValidator(_target_name)]


class Location(StrictModel):
    """Where a site is and whom to call: goes into alerts and the status page."""

    address: str | None = None
    lat: Annotated[float, Field(ge=-90.0, le=90.0)] | None = None
    lon: Annotated[float, Field(ge=-180.0, le=180.0)] | None = None
    contact: str | None = None


class MonitorSection(StrictModel):
    """``[monitor]``: the daemon itself."""

    instance: NonEmpty = "continuity-monitor"
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:9925"
    state_dir: NonEmpty = "var/lib/continuity"
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    language: Literal["en", "vi"] = "en"
    canaries: list[str] = Field(default_factory=list)
    count_maintenance: bool = False
    slo_interval: Annotated[
        Duration, duration_at_most(3600.0, "budgets and burn rates would be stale")
    ] = 30.0
    retention: Annotated[
        Duration,
        duration_at_most(
            10 * 365 * 86400.0, "the history is read for reports; ten years is plenty"
        ),
    ] = 400 * 86400.0
    isolation_ratio: Ratio = 0.5
    isolation_min_targets: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    isolation_min_failing: Annotated[int, Field(ge=1, le=1_000_000)] = 5
    """The ratio rule needs at least this many root causes failing at once."""
    isolation_require_ratio: bool = False
    """With canaries: isolated only if every canary fails *and* the ratio rule holds."""
    external_url: str = ""
    """Where people reach this daemon's pages (links in alerts, ``generator_url``)."""
    flap_high: Ratio = 0.30
    flap_low: Ratio = 0.20
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 5000
    kind_concurrency: dict[str, Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=dict
    )
    shard: Annotated[str, AfterValidator(_shard)] | None = None
    """``"i/n"``: monitor only shard i of n of the targets (monitor.shard)."""


DEFAULT_RTT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class HistorySection(StrictModel):
    """``[history]``: the measurement history (``monitor.engine.measurements``); read at start."""

    fine_bucket: Annotated[
        Duration, duration_at_most(3600.0, "finer buckets than an hour are the point")
    ] = 60.0
    fine_retention: Annotated[
        Duration, duration_at_most(366 * 86400.0, "use coarse buckets for longer")
    ] = 14 * 86400.0
    coarse_bucket: Annotated[
        Duration, duration_at_most(86400.0, "a day is the coarsest graph step")
    ] = 3600.0
    coarse_retention: Annotated[
        Duration, duration_at_most(10 * 365 * 86400.0, "ten years is plenty")
    ] = 400 * 86400.0
    rtt_buckets: list[float] = Field(default_factory=lambda: list(DEFAULT_RTT_BUCKETS))
    """Upper bounds (seconds) of ``continuity_probe_rtt_seconds``; empty: not exported."""

    @model_validator(mode="after")
    def _whole_buckets(self) -> HistorySection:
        fine, coarse = self.fine_bucket, self.coarse_bucket
        if fine < 10 or fine != int(fine):
            raise ValueError("fine_bucket must be a whole number of seconds, at least 10s")
        if coarse != int(coarse) or int(coarse) % int(fine):
            raise ValueError("coarse_bucket must be a whole multiple of fine_bucket")
        if 86400 % int(coarse) and int(coarse) % 86400:
            raise ValueError("coarse_bucket must divide a day")
        if sorted(set(self.rtt_buckets)) != self.rtt_buckets or any(
            b <= 0 for b in self.rtt_buckets
        ):
            raise ValueError("rtt_buckets must be increasing positive numbers of seconds")
        if len(self.rtt_buckets) > 30:
            raise ValueError("rtt_buckets: at most 30 bounds (each is a series per check)")
        return self


PublicField = Literal["state", "since", "availability", "reason"]


def _public_fields() -> list[PublicField]:
    return ["state", "since", "availability"]


class PublicSection(StrictModel):
    """``[public]``: an optional public page on its own listener (``monitor.web.public_page``)."""

    listen: Annotated[str, AfterValidator(_listen)]
    match: dict[str, str] = Field(default_factory=dict)
    """Labels a target must all have (``target`` matches the name); empty: every target."""
    fields: list[PublicField] = Field(default_factory=_public_fields)
    title: str | None = None
    refresh: Duration = 30.0


@dataclass(frozen=True, slots=True)
class Check:
    """One check of a target: its kind and fully merged, validated settings."""

    kind: str
    settings: CheckSettings


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved target, ready to schedule. Equality drives reload diffs."""

    name: str
    address: str
    checks: tuple[Check, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    parents: tuple[str, ...] = ()
    location: Location | None = None
    template: str | None = None

    def check(self, kind: str) -> Check | None:
        """The check of that kind, if the target has one."""
        return next((c for c in self.checks if c.kind == kind), None)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. Immutable; runtime state lives elsewhere."""

    monitor: MonitorSection
    targets: tuple[Target, ...]
    path: Path | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)
    """Top-level tables owned by probe kinds (``snmp_modules``, ``traps``), validated."""
    maintenance: tuple[MaintenanceWindow, ...] = ()
    slos: tuple[SloConfig, ...] = ()
    channels: Mapping[str, ChannelSettings] = field(default_factory=dict)
    alerts: AlertsSection = field(default_factory=AlertsSection)
    web: WebSection = field(default_factory=WebSection)
    public: PublicSection | None = None
    path_diagnosis: PathDiagnosisSection = field(default_factory=PathDiagnosisSection)
    history: HistorySection = field(default_factory=HistorySection)

    @property
    def state_dir(self) -> Path:
        """``monitor.state_dir``, relative paths taken from the config file's folder."""
        path = Path(self.monitor.state_dir)
        if path.is_absolute() or self.path is None:
            return path
        return self.path.parent / path

    def target(self, name: str) -> Target | None:
        """Look a target up by name."""
        return next((t for t in self.targets if t.name == name), None)


# --------------------------------------------------------------------------
# Models of what operators write (built from the probe registry)
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Models:
    defaults: type[StrictModel]
    template: type[StrictModel]
    target: type[StrictModel]
    document: type[StrictModel]


def _build_models(
    kinds: Mapping[str, ProbeKind[Any]], listeners: Mapping[str, ListenerKind]
) -> _Models:
    """Raw models: shape and types of each table, per-kind tables kept as dicts.

    Per-kind tables are validated later, after layering, by the kind's own
    settings model.
    """
    per_kind: dict[str, Any] = {k: (dict[str, Any] | None, None) for k in kinds}
    common: dict[str, Any] = {
        "interval": (Duration | None, None),
        "timeout": (Duration | None, None),
        "fall": (Count | None, None),
        "rise": (Count | None, None),
        "critical": (bool | None, None),
        "down_interval": (Duration | None, None),
    }
    shared: dict[str, Any] = {
        "checks": (list[str] | None, None),
        "labels": (dict[str, str] | None, None),
        "parents": (list[str] | None, None),
        "location": (Location | None, None),
    }
    defaults = create_model(
        "Defaults",
        __base__=StrictModel,
        **common,
        **per_kind,
        checks=(list[str] | None, None),
    )
    template = create_model("Template", __base__=StrictModel, **common, **shared, **per_kind)
    target = create_model(
        "TargetTable",
        __base__=StrictModel,
        name=(TargetName, ...),
        address=(NonEmpty, ...),
        template=(str | None, None),
        **common,
        **shared,
        **per_kind,
    )
    sections: dict[str, Any] = {
        name: (model | None, None)
        for kind in kinds.values()
        for name, model in kind.sections.items()
    }
    sections.update({lk.section: (lk.model | None, None) for lk in listeners.values()})
    document = create_model(
        "Document",
        __base__=StrictModel,
        include=(list[str], []),
        monitor=(MonitorSection, MonitorSection()),
        defaults=(dict[str, Any], {}),
        templates=(dict[str, dict[str, Any]], {}),
        targets=(list[dict[str, Any]], []),
        maintenance=(list[MaintenanceWindow], []),
        slo=(list[SloConfig], []),
        web=(WebSection, WebSection()),
        public=(PublicSection | None, None),
        path_diagnosis=(PathDiagnosisSection, PathDiagnosisSection()),
        history=(HistorySection, HistorySection()),
        channels=(dict[str, Any], {}),
        alerts=(dict[str, Any], {}),
        **sections,
    )
    return _Models(defaults, template, target, document)


class ConfigSchema:
    """The models of what operators write for one set of probe kinds and listeners.

    Built once by whoever loads configs repeatedly (the daemon) and passed to
    :func:`load_config`: every build makes four model classes, and classes
    sit in reference cycles, so building them at each reload left ~700
    objects that only a full garbage collection frees (the daemon freezes the
    heap after a reload; RSS grew by hundreds of kB a reload).
    """

    def __init__(
        self,
        kinds: Mapping[str, ProbeKind[Any]] | None = None,
        listeners: Mapping[str, ListenerKind] | None = None,
    ) -> None:
        self.kinds = kinds if kinds is not None else probes.KINDS
        self.listeners = listeners if listeners is not None else probes.LISTENERS
        self.models = _build_models(self.kinds, self.listeners)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


def load_config(
    path: str | Path,
    kinds: Mapping[str, ProbeKind[Any]] | None = None,
    listeners: Mapping[str, ListenerKind] | None = None,
    *,
    schema: ConfigSchema | None = None,
    memo: TargetMemo[Target] | None = None,
    pause: Callable[[], None] | None = None,
) -> Config:
    """Read, validate and resolve a config file. Raises :class:`ConfigError`.

    ``schema`` (instead of ``kinds`` and ``listeners``): the models, built once
    by a caller that loads again and again. ``memo``: the targets of the
    previous successful load with this schema; targets whose inputs did not
    change are taken from there instead of validated again, and on success
    the memo keeps this load's targets (on failure it is left as it was).
    ``pause``: called between slices of the work, when a thread loads beside an
    event loop (``monitor.engine.pacing``).
    """
    if schema is None:
        schema = ConfigSchema(kinds, listeners)
    elif kinds is not None or listeners is not None:
        raise TypeError("pass either a schema or kinds and listeners, not both")
    path = Path(path)
    try:
        raw = read_config(path) if pause is None else read_config(path, pause)
    except SourceError as exc:
        raise ConfigError([ConfigIssue("", str(exc))]) from None
    memo_round = memo.start() if memo is not None else None
    config = _Resolver(raw, schema, path, memo_round, pause).resolve()
    if memo is not None and memo_round is not None:
        memo.adopt(memo_round)
    return config


@dataclass(slots=True)
class _Layer:
    """One table that contributes settings, and where it lives (``base`` and ``loc``).

    The dotted path is joined only when a message needs it: six layers per
    check of 50,000 targets made joining them eagerly a tenth of a load.
    """

    values: Mapping[str, Any]
    base: str | Origin
    loc: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        if isinstance(self.base, Origin):
            return self.base.path(self.loc)
        return join_path(self.base, self.loc)


class _Resolver:
    """Turns a :class:`RawConfig` into a :class:`Config`, collecting every issue."""

    def __init__(
        self,
        raw: RawConfig,
        schema: ConfigSchema,
        path: Path,
        memo: MemoRound[Target] | None,
        pause: Callable[[], None] | None,
    ) -> None:
        self.raw = raw
        self.pause = pause
        self.kinds = schema.kinds
        self.listeners = schema.listeners
        self.path = path
        self.models = schema.models
        self.memo = memo
        self.issues: list[ConfigIssue] = list(raw.issues)
        self.sections: dict[str, Any] = {}
        # Every name written, also of targets with errors: a reference to one of them
        # is not an "unknown target" (that would be a follow-on error).
        self.declared: set[str] = set()
        for index, (table, _) in enumerate(raw.targets):
            self._pause_at(index)
            if isinstance(table, dict) and isinstance(table.get("name"), str):
                self.declared.add(table["name"])
        # Validated check settings by (kind, merged values as written): thousands of
        # inventory rows share a few templates, so each distinct settings object is
        # validated once and shared (it is frozen), which also saves memory.
        self._settings_seen: dict[tuple[str, str], CheckSettings] = {}

    def resolve(self) -> Config:
        document = self._validate(self.models.document, self.raw.document, "")
        monitor = document.monitor if document is not None else MonitorSection()
        owned = [n for kind in self.kinds.values() for n in kind.sections]
        owned += [lk.section for lk in self.listeners.values()]
        self.sections = {
            name: getattr(document, name, None) if document is not None else None for name in owned
        }
        defaults = self._validate(
            self.models.defaults, self.raw.document.get("defaults", {}), "defaults"
        )
        if defaults is not None:
            self._check_kind_tables(defaults, "defaults")
            self._check_kind_names(defaults, "defaults")
        templates = self._templates()
        surroundings = Surroundings(
            self.raw.document.get("defaults", {}),
            {name: table for name, (table, _) in self.raw.templates.items()},
            {name: self.raw.document.get(name) for name in owned},
            self.kinds,
        )
        targets = []
        for index, (table, origin) in enumerate(self.raw.targets):
            self._pause_at(index)
            target = self._remembered(table, origin, defaults, templates, surroundings)
            if target is not None:
                targets.append((target, origin))
        self._cross_check(targets, monitor)
        self._check_concurrency_kinds(monitor)
        if self.issues:
            raise ConfigError(self._located())
        maintenance = tuple(document.maintenance) if document is not None else ()
        self._check_maintenance(maintenance, {t.name for t, _ in targets})
        slos = tuple(document.slo) if document is not None else ()
        self._check_slos(slos, {t.name for t, _ in targets})
        channels, alerts, alert_issues = validate_alerting(
            self.raw.document.get("channels", {}), self.raw.document.get("alerts", {})
        )
        self.issues.extend(alert_issues)
        if alerts is not None:
            self._check_rule_metrics(alerts, [t for t, _ in targets])
        if self.issues:
            raise ConfigError(self._located())
        return Config(
            monitor=monitor,
            targets=tuple(t for t, _ in targets),
            path=self.path,
            sections=self.sections,
            maintenance=maintenance,
            slos=slos,
            channels=channels,
            alerts=alerts or AlertsSection(),
            web=document.web if document is not None else WebSection(),
            public=document.public if document is not None else None,
            path_diagnosis=(
                document.path_diagnosis if document is not None else PathDiagnosisSection()
            ),
            history=document.history if document is not None else HistorySection(),
        )

    # -- helpers -----------------------------------------------------------

    def _pause_at(self, index: int) -> None:
        """Every ``PAUSE_EVERY`` items of a long loop: let the event loop run if it waits."""
        if self.pause is not None and not index % PAUSE_EVERY:
            self.pause()

    def _located(self) -> list[ConfigIssue]:
        """The issues with file, line and target name (only computed on failure)."""
        names = {
            origin.prefix + origin.base: table["name"]
            for table, origin in self.raw.targets
            if isinstance(table, dict) and isinstance(table.get("name"), str)
        }
        return locate(self.issues, self.raw.texts, names, self.path)

    def _validate(
        self, model: type[StrictModel], data: Any, base: str, origin: Origin | None = None
    ) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            path_of = origin.path if origin is not None else None
            self.issues.extend(issues_from_validation(exc, path_of, base, model))
            return None

    def _templates(self) -> dict[str, tuple[Any, dict[str, Any], str]]:
        out: dict[str, tuple[Any, dict[str, Any], str]] = {}
        for name, (table, where) in self.raw.templates.items():
            model = self._validate(self.models.template, table, where)
            if model is not None:
                self._check_kind_tables(model, where)
                self._check_kind_names(model, where)
                self._check_labels(model.labels, where)
                out[name] = (model, table, where)
        return out

    def _check_kind_tables(self, model: Any, where: str) -> None:
        """Unknown keys in a template's or defaults' per-kind table, reported there."""
        for kind, spec in self.kinds.items():
            table = getattr(model, kind, None)
            for key in table or {}:
                if key not in spec.settings.model_fields:
                    hint = suggestion(key, spec.settings.model_fields)
                    self.issues.append(
                        ConfigIssue(join_path(where, (kind, key)), "unknown key" + hint)
                    )

    def _check_kind_names(self, model: Any, where: str) -> None:
        for index, kind in enumerate(model.checks or []):
            if kind not in self.kinds:
                known = ", ".join(sorted(self.kinds))
                self.issues.append(
                    ConfigIssue(
                        join_path(where, ("checks", index)),
                        f"unknown check kind {kind!r} (available: {known})"
                        + suggestion(kind, self.kinds),
                    )
                )

    def _check_labels(self, labels: Mapping[str, str] | None, where: str) -> None:
        for name in labels or {}:
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                self.issues.append(
                    ConfigIssue(
                        join_path(where, ("labels", name)),
                        "label names must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
                    )
                )
            elif name in RESERVED_LABELS:
                self.issues.append(
                    ConfigIssue(
                        join_path(where, ("labels", name)),
                        f"{name!r} is set by the monitor itself; choose another label name",
                    )
                )

    def _remembered(
        self,
        table: Any,
        origin: Origin,
        defaults: Any,
        templates: dict[str, tuple[Any, dict[str, Any], str]],
        surroundings: Surroundings,
    ) -> Target | None:
        """The target of ``table``: the previous load's if built from the same inputs."""
        if self.memo is None or not isinstance(table, dict):
            return self._target(table, origin, defaults, templates)
        where, key = surroundings.of(table), table_key(table)
        if where is None or key is None:  # reads a file at load: validated every time
            self.memo.validated += 1
            return self._target(table, origin, defaults, templates)
        found = self.memo.find(where, key)
        if found is not None:
            return found
        issues = len(self.issues)
        target = self._target(table, origin, defaults, templates)
        if target is not None and len(self.issues) == issues:
            self.memo.file(where, key, target)
        return target

    def _target(
        self,
        table: Any,
        origin: Origin,
        defaults: Any,
        templates: dict[str, tuple[Any, dict[str, Any], str]],
    ) -> Target | None:
        model, table = self._validate_target(table, origin)
        if model is None:
            return None
        template_entry = self._template_of(model, origin, templates)
        if model.template is not None and template_entry is None:
            return None
        where = origin.path()
        self._check_kind_names(model, where)
        self._check_labels(model.labels, where)
        problem = numeric_host_problem(model.address)
        if problem is not None:
            self.issues.append(ConfigIssue(origin.path(("address",)), problem))
            return None
        template_model = template_entry[0] if template_entry else None
        kinds = self._check_kinds(model, origin, template_model, defaults)
        if kinds is None:
            return None
        raw_defaults = self.raw.document.get("defaults", {}) if defaults is not None else {}
        raw_template, template_where = (
            (template_entry[1], template_entry[2]) if template_entry else ({}, "")
        )
        checks = []
        for kind in kinds:
            layers = [
                _Layer(_common_raw(raw_defaults), "defaults"),
                _Layer(raw_defaults.get(kind) or {}, "defaults", (kind,)),
                _Layer(_common_raw(raw_template), template_where),
                _Layer(raw_template.get(kind) or {}, template_where, (kind,)),
                _Layer(_common_raw(table), origin),
                _Layer(table.get(kind) or {}, origin, (kind,)),
            ]
            check = self._check(kind, layers, origin, model.address)
            if check is not None:
                checks.append(check)
        if len(checks) != len(kinds):
            return None  # every failing check was reported; none of them stops the others
        return Target(
            name=model.name,
            address=model.address,
            checks=tuple(checks),
            labels={**(getattr(template_model, "labels", None) or {}), **(model.labels or {})},
            parents=tuple(_first(model.parents, getattr(template_model, "parents", None), [])),
            location=_merge_location(getattr(template_model, "location", None), model.location),
            template=model.template,
        )

    def _validate_target(self, table: Any, origin: Origin) -> tuple[Any, Any]:
        """Validate a target table; on errors, report them and go on without the bad keys,
        so that problems deeper in the same target (its check settings) are found too."""
        try:
            return self.models.target.model_validate(table), table
        except ValidationError as exc:
            self.issues.extend(issues_from_validation(exc, origin.path, model=self.models.target))
            bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
        if not isinstance(table, dict) or not bad:
            return None, table
        rest = {k: v for k, v in table.items() if k not in bad}
        try:
            return self.models.target.model_validate(rest), rest
        except ValidationError:
            return None, table

    def _template_of(
        self, model: Any, origin: Origin, templates: dict[str, tuple[Any, dict[str, Any], str]]
    ) -> tuple[Any, dict[str, Any], str] | None:
        if model.template is None:
            return None
        entry = templates.get(model.template)
        if entry is None and model.template not in self.raw.templates:
            # (a template that exists but is invalid was reported at its own path)
            known = ", ".join(sorted(self.raw.templates)) or "none defined"
            self.issues.append(
                ConfigIssue(
                    origin.path(("template",)),
                    f"unknown template {model.template!r} (known: {known})"
                    + suggestion(model.template, self.raw.templates),
                )
            )
        return entry

    def _check_kinds(
        self, model: Any, origin: Origin, template_model: Any, defaults: Any
    ) -> list[str] | None:
        """The target's check kinds: its own list, else its template's, else [defaults]'."""
        kinds: list[str] | None = _first(
            model.checks,
            getattr(template_model, "checks", None),
            getattr(defaults, "checks", None)
            if defaults is not None
            else self._raw_default_checks(),
            None,
        )
        if kinds is None:
            self.issues.append(
                ConfigIssue(
                    origin.path(("checks",)),
                    "no checks: set checks here, in the target's template or in [defaults]",
                )
            )
            return None
        if len(set(kinds)) != len(kinds):
            self.issues.append(
                ConfigIssue(origin.path(("checks",)), "a check kind is listed twice")
            )
            return None
        for kind in self.kinds:
            if getattr(model, kind) is not None and kind not in kinds:
                self.issues.append(
                    ConfigIssue(
                        origin.path((kind,)),
                        f"settings for a check that is not in checks (add {kind!r} to checks)",
                    )
                )
        if any(kind not in self.kinds for kind in kinds):
            return None  # already reported with its index
        return kinds

    def _raw_default_checks(self) -> list[str] | None:
        """``[defaults] checks`` as written, when [defaults] had errors elsewhere."""
        raw = self.raw.document.get("defaults")
        checks = raw.get("checks") if isinstance(raw, dict) else None
        ok = isinstance(checks, list) and all(isinstance(c, str) for c in checks)
        return checks if ok else None

    def _check(self, kind: str, layers: list[_Layer], origin: Origin, address: str) -> Check | None:
        settings = self._check_settings(kind, layers, _Layer({}, origin, (kind,)))
        if settings is None:
            return None
        problem = self.kinds[kind].check_address(address, settings)
        if problem is not None:
            self.issues.append(
                ConfigIssue(origin.path(("address",)), f"{problem} (for the {kind} check)")
            )
            return None
        problems = self.kinds[kind].check(settings, self.sections)
        for loc, message in problems:
            self.issues.append(ConfigIssue(origin.path((kind, *loc)), message))
        return None if problems else Check(kind, settings)

    def _check_settings(
        self, kind: str, layers: list[_Layer], check: _Layer
    ) -> CheckSettings | None:
        """Merge the layers as written and validate once, mapping errors to their layer.

        ``check`` is where the check's own table is (paths of keys set nowhere).
        """
        merged: dict[str, Any] = {}
        came_from: dict[str, _Layer] = {}  # key -> the layer that set it last
        # A rule across keys (timeout <= interval) is reported at the most specific layer
        # that set any of them: once at [defaults] if only [defaults] did, not per target.
        deepest = check
        for layer in layers:
            for key, value in layer.values.items():
                merged[key] = value
                came_from[key] = layer
                deepest = layer
        seen_key = (kind, repr(merged))
        seen = self._settings_seen.get(seen_key)
        if seen is not None:
            return seen
        model = self.kinds[kind].settings
        try:
            settings: CheckSettings = model.model_validate(merged)
            self._settings_seen[seen_key] = settings
            return settings
        except ValidationError as exc:

            def path_of(loc: tuple[int | str, ...]) -> str:
                if loc and isinstance(loc[0], str) and loc[0] in came_from:
                    return join_path(came_from[loc[0]].path, loc)
                return join_path(deepest.path if not loc else check.path, loc)

            self.issues.extend(issues_from_validation(exc, path_of, model=model))
            return None

    def _cross_check(self, targets: list[tuple[Target, Origin]], monitor: MonitorSection) -> None:
        seen: dict[str, Origin] = {}
        for index, (target, origin) in enumerate(targets):
            self._pause_at(index)
            if target.name in seen:
                self.issues.append(
                    ConfigIssue(
                        origin.path(("name",)),
                        f"duplicate target name {target.name!r} "
                        f"(also at {seen[target.name].where()})",
                    )
                )
            else:
                seen[target.name] = origin
        names = {t.name: t for t, _ in targets}
        for number, (target, origin) in enumerate(targets):
            self._pause_at(number)
            for index, parent in enumerate(target.parents):
                if parent not in names and parent not in self.declared:
                    self.issues.append(
                        ConfigIssue(
                            origin.path(("parents", index)),
                            f"unknown target {parent!r}" + suggestion(parent, self.declared),
                        )
                    )
                elif parent == target.name:
                    self.issues.append(
                        ConfigIssue(
                            origin.path(("parents", index)), "a target cannot be its own parent"
                        )
                    )
        for cycle in _cycles({n: t.parents for n, t in names.items()}, self._pause_at):
            self.issues.append(
                ConfigIssue(
                    seen[cycle[0]].path(("parents",)),
                    "dependency cycle: " + " -> ".join([*cycle, cycle[0]]),
                )
            )
        for index, canary in enumerate(monitor.canaries):
            if canary not in self.declared:
                self.issues.append(
                    ConfigIssue(
                        f"monitor.canaries[{index}]",
                        f"unknown target {canary!r}" + suggestion(canary, self.declared),
                    )
                )

    def _check_maintenance(self, windows: tuple[MaintenanceWindow, ...], names: set[str]) -> None:
        for index, window in enumerate(windows):
            for t_index, name in enumerate(window.targets):
                if name not in names:
                    self.issues.append(
                        ConfigIssue(
                            f"maintenance[{index}].targets[{t_index}]", f"unknown target {name!r}"
                        )
                    )

    def _check_slos(self, slos: tuple[SloConfig, ...], names: set[str]) -> None:
        seen: dict[str, int] = {}
        for index, slo in enumerate(slos):
            if slo.name in seen:
                self.issues.append(
                    ConfigIssue(
                        f"slo[{index}].name",
                        f"duplicate SLO name {slo.name!r} (also at slo[{seen[slo.name]}])",
                    )
                )
            seen.setdefault(slo.name, index)
            for t_index, name in enumerate(slo.targets):
                if name not in names:
                    path = f"slo[{index}].targets[{t_index}]"
                    self.issues.append(ConfigIssue(path, f"unknown target {name!r}"))

    def _check_rule_metrics(self, alerts: AlertsSection, targets: list[Target]) -> None:
        """A rule's metric must be a value the matched targets' checks produce."""
        for index, rule in enumerate(alerts.rules):
            path = f"alerts.rules[{index}].metric"
            matched, kinds = _kinds_matched(rule.match, rule.check, targets)
            if not matched:
                continue  # a rule for targets still to come (an empty inventory) is fine
            if rule.check not in kinds:
                self.issues.append(
                    ConfigIssue(
                        path,
                        f"rule {rule.name}: no target it matches has a {rule.check} check "
                        f"(the {matched} it matches have: {', '.join(sorted(kinds))})",
                    )
                )
                continue
            known = self.kinds[rule.check].values
            if known is None or rule.value_name in known:
                continue
            names = [f"{rule.check}.{v}" for v in sorted(known)]
            self.issues.append(
                ConfigIssue(
                    path,
                    f"rule {rule.name}: {rule.check} checks have no value {rule.value_name!r}; "
                    f"they have {', '.join(names)}" + suggestion(rule.metric, names),
                )
            )

    def _check_concurrency_kinds(self, monitor: MonitorSection) -> None:
        for kind in monitor.kind_concurrency:
            if kind not in self.kinds:
                self.issues.append(
                    ConfigIssue(f"monitor.kind_concurrency.{kind}", f"unknown check kind {kind!r}")
                )


def _kinds_matched(
    match: Mapping[str, str], wanted: str, targets: list[Target]
) -> tuple[int, set[str]]:
    """How many targets ``match`` selects and their check kinds; stops at the first
    selected target that has a ``wanted`` check (the usual, valid case)."""
    count, kinds = 0, set()
    for target in targets:
        if _selects(match, target):
            count += 1
            own = {c.kind for c in target.checks}
            kinds |= own
            if wanted in own:
                break
    return count, kinds


def _selects(match: Mapping[str, str], target: Target) -> bool:
    """A rule's ``match`` on labels (and ``target`` on the name), as the rules apply it."""
    return all(
        target.labels.get(k) == v or (k == "target" and target.name == v) for k, v in match.items()
    )


def _first(*options: Any) -> Any:
    """The first option that is not None (the last one is the fallback)."""
    return next((o for o in options if o is not None), options[-1])


def _common_raw(table: Mapping[str, Any]) -> dict[str, Any]:
    return {k: table[k] for k in COMMON_KEYS if k in table}


def _merge_location(base: Location | None, over: Location | None) -> Location | None:
    if base is None or over is None:
        return over or base
    return base.model_copy(update=over.model_dump(exclude_none=True))


def _cycles(
    parents: Mapping[str, tuple[str, ...]], pause_at: Callable[[int], None] = lambda index: None
) -> list[list[str]]:
    """Cycles in the parents graph, each reported once (iterative: inventories are deep)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    found: list[list[str]] = []
    for index, root in enumerate(parents):
        pause_at(index)
        if root in state:
            continue
        path: list[str] = [root]
        iters = [iter(parents[root])]
        state[root] = 1
        while iters:
            parent = next(iters[-1], None)
            if parent is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if parent not in parents or parent == path[-1]:
                continue  # unknown or self-parent: reported elsewhere
            if state.get(parent) == 1:
                found.append(path[path.index(parent) :])
            elif parent not in state:
                state[parent] = 1
                path.append(parent)
                iters.append(iter(parents[parent]))
    return found
