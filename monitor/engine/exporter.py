"""Prometheus exposition from pre-rendered bytes.

A scrape must never stall the event loop. Rendering 120,000 labelled series
with prometheus-client on each scrape costs over a second of CPU, so each
target's lines are rendered when its result arrives and kept per metric
family; ``/metrics`` only joins bytes (family by family, so the text format
stays valid: one HELP/TYPE header, then every series of that family).

The daemon's own metrics (build info, reload status, scheduler lag, process
figures) are few and use prometheus-client in a private registry.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.process_collector import ProcessCollector

from monitor.contract import Listener, MetricFamily, ProbeResult
from monitor.engine.availability import Figures
from monitor.engine.runmetrics import RunMetrics
from monitor.engine.slo import SloStatus
from monitor.engine.state import Health, TargetState

VERSION = "0.1.0"

CORE_FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily(
        "continuity_target_up",
        "gauge",
        "1 while the target is in hard UP state, 0 while DOWN (absent while unknown).",
    ),
    MetricFamily(
        "continuity_target_state",
        "gauge",
        "1 for the target's current state (label state: up, down, unreachable, flapping, "
        "maintenance or unknown); only the current state's series is exported.",
    ),
    MetricFamily(
        "continuity_target_state_since_timestamp_seconds",
        "gauge",
        "UNIX time the target entered its current state.",
    ),
    MetricFamily("continuity_check_success", "gauge", "1 if the last run of the check succeeded."),
    MetricFamily(
        "continuity_check_duration_seconds", "gauge", "Duration of the last run of the check."
    ),
    MetricFamily(
        "continuity_check_failure_info",
        "gauge",
        "1 with the reason code of the check's last failure; absent while it succeeds.",
    ),
    MetricFamily(
        "continuity_slo_error_budget_remaining_ratio",
        "gauge",
        "Share of the SLO's error budget left over its window (negative when overspent).",
    ),
    MetricFamily(
        "continuity_slo_burn_rate",
        "gauge",
        "Error ratio over the window divided by the error budget (1 spends it exactly).",
    ),
    MetricFamily("continuity_slo_objective_ratio", "gauge", "The SLO's objective."),
    MetricFamily(
        "continuity_check_last_run_timestamp_seconds",
        "gauge",
        "UNIX time the last run of the check started.",
    ),
    MetricFamily(
        "continuity_ups_predicted_dark_timestamp_seconds",
        "gauge",
        "UNIX time a UPS on battery is predicted to run out: the earlier of the device's "
        "runtime and the discharge trend (label method: device or trend); absent on mains.",
    ),
)


BARE_FAMILIES: frozenset[str] = frozenset(
    {
        "continuity_target_up",
        "continuity_target_state",
        "continuity_target_state_since_timestamp_seconds",
        "continuity_check_success",
        "continuity_check_duration_seconds",
        "continuity_check_failure_info",
        "continuity_check_last_run_timestamp_seconds",
        "continuity_slo_error_budget_remaining_ratio",
        "continuity_slo_objective_ratio",
        "continuity_ups_predicted_dark_timestamp_seconds",
        "continuity_outages_total",
        "continuity_downtime_seconds_total",
        "continuity_mttr_seconds",
        "continuity_mtbf_seconds",
    }
)
"""Families the :class:`Exporter` renders as exactly one line per key, stored without
the family's name (see :class:`SeriesStore`): the names were a tenth of the text."""


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def format_value(value: float) -> str:
    """A sample value in the text format (Go's spelling of the special values).

    One ``repr`` and one dict probe: this runs for every sample of every result.
    """
    text = repr(float(value))
    return _SPECIAL.get(text, text)


def format_seconds(value: float) -> str:
    """A time in seconds at nanosecond resolution, in the shortest form that reads back.

    No clock or kernel timestamp the probes read is finer than a nanosecond;
    the 17 significant digits of a float difference (``0.000310642000840744``)
    were binary noise costing about ten bytes a series. Ratios keep
    :func:`format_value`'s full precision.
    """
    text = repr(round(float(value), 9))
    return _SPECIAL.get(text, text)


def escape_label_value(value: str) -> str:
    """The text format's escaping: backslash, double quote and newline."""
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def label_text(pairs: Iterable[tuple[str, str]]) -> str:
    """``a="x",b="y"`` for label pairs (names are validated at config load)."""
    return ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)


@dataclass(frozen=True, slots=True)
class Deferred:
    """A family's text made from a snapshot taken at the scrape, rendered where the parts
    are joined.

    For series kept as numbers (the RTT histogram): their text, kept per check between
    scrapes, was a kilobyte a target at 50,000 targets. The snapshot is a copy taken on
    the loop, so that later results do not change what ``render`` writes.

    Two forms. ``render`` alone: a large scrape renders it in a thread, which holds the
    GIL for all of it (the loop then waits for the GIL after each of its system calls).
    With ``pieces`` too (:meth:`sliced`): the same text in pieces of well under a
    millisecond of work each, which a large scrape renders on the loop between its
    other work (see ``monitor.web.metrics_body``).
    """

    render: Callable[[], bytes]
    series: int
    """How many series it writes (it weighs as that many parts: see the web server)."""
    pieces: Callable[[], Iterator[bytes]] | None = None
    """The text of ``render``, piece by piece (each a bounded amount of work)."""

    @classmethod
    def sliced(cls, pieces: Callable[[], Iterator[bytes]], series: int) -> Deferred:
        """A part rendered piece by piece (``render`` joins every piece)."""
        return cls(partial(_join_pieces, pieces), series, pieces)


def _join_pieces(pieces: Callable[[], Iterator[bytes]]) -> bytes:
    return b"".join(pieces())


Part = bytes | Deferred
"""One piece of the exposition: text, or text to render from a snapshot."""


def resolve(parts: Iterable[Part]) -> list[bytes]:
    """The parts as text (renders the deferred ones: call it where the join runs)."""
    return [p if isinstance(p, bytes) else p.render() for p in parts]


def weight(parts: Sequence[Part]) -> int:
    """Parts plus the series the deferred ones will write: how heavy the assembly is."""
    return len(parts) + sum(p.series for p in parts if isinstance(p, Deferred))


FAMILY_SETS_LIMIT = 4096
"""Distinct family sets shared between keys (a few per probe kind and outcome)."""


@dataclass(slots=True)
class _Family:
    header: bytes
    bare: bytes | None
    """The family's name when its lines are stored without it (one line per key)."""
    # by _series_key: a dict of str keys and bytes values holds nothing the cyclic
    # collector must walk, so the collector untracks it and it stays untracked
    series: dict[str, bytes] = field(default_factory=dict)


def _series_key(key: tuple[str, str]) -> str:
    """(target, part) as one str, unambiguous whatever the names hold.

    Not the tuple itself: inserting a new tuple into a family's dict (50,000 entries
    at 50,000 targets) made the collector track the dict again, and each young
    collection then walked it: 50-180 ms pauses every few seconds at that scale.
    A target's own part (``""``) is keyed by the target's name itself (the same
    object the config holds: no string of its own) unless the name starts with a
    digit; every other key is the target's length, a colon, the target and the
    part, so it starts with a digit and meets no name.
    """
    target, part = key
    if not part and not target[:1].isdigit():
        return target
    return f"{len(target)}:{target}{part}"


def _interleave(name: bytes, lines: Collection[bytes]) -> list[bytes]:
    """``[name, line, name, line, ...]`` by list operations that run in C
    (a chain of zipped pairs made a tuple per line: three times the scrape's loop time)."""
    out = [name] * (2 * len(lines))
    out[1::2] = lines
    return out


class SeriesStore:
    """Pre-rendered series grouped by family, keyed by (target, part).

    ``part`` is the check kind for a check's series, ``""`` for a target's.
    Replacing a key's lines is a dict assignment; a scrape is a join.

    A family named in ``bare`` has exactly one line per key and its text is
    given and kept without the family's name (``{target="a"} 1\n``): the scrape
    puts the name back as a part of its own before each line (one shared bytes
    object, no copy). Those names were 250 bytes a target at 50,000 targets;
    the scrape's list of parts is longer by one entry per such line.
    """

    def __init__(self, families: Iterable[MetricFamily], bare: Iterable[str] = ()) -> None:
        self._bare = frozenset(bare)
        self._families: dict[str, _Family] = {}
        # target -> part -> the families its series are in (by target, so that
        # removing one target does not scan every key)
        self._owned: dict[str, dict[str, frozenset[str]]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # see _family_set
        # family -> snapshot of its series kept as numbers (see add_source)
        self._sources: dict[str, Callable[[], Deferred | None]] = {}
        for family in families:
            self.declare(family)

    def declare(self, family: MetricFamily) -> None:
        if family.name in self._families:
            return
        kind = "gauge" if family.type == "info" else family.type
        header = f"# HELP {family.name} {family.help}\n# TYPE {family.name} {kind}\n"
        bare = family.name.encode() if family.name in self._bare else None
        self._families[family.name] = _Family(header.encode(), bare)

    def replace(self, key: tuple[str, str], lines: Mapping[str, list[str]]) -> None:
        """Set the key's series to ``lines`` (family -> text lines, without the family's
        name for a bare family); drop families it left."""
        self.replace_text(key, {name: "".join(text) for name, text in lines.items()})

    def replace_text(self, key: tuple[str, str], texts: Mapping[str, str]) -> None:
        """:meth:`replace` with each family's lines already joined (the per-result path)."""
        owned = self._owned.get(key[0])
        if owned is None:
            owned = self._owned[key[0]] = {}
        series_key = _series_key(key)
        previous = owned.get(key[1])
        if previous is None or previous != texts.keys():
            for name in (previous or frozenset()) - texts.keys():
                self._families[name].series.pop(series_key, None)
            owned[key[1]] = self._family_set(texts)
        families = self._families
        for name, text in texts.items():
            family = families.get(name)
            if family is None:  # a probe reported a family nobody declared: still valid text
                family = self._undeclared(name)
            family.series[series_key] = text.encode()

    def _family_set(self, texts: Mapping[str, str]) -> frozenset[str]:
        """The set of ``texts``' families, one shared object per distinct set.

        Thousands of targets have the same few sets; a frozenset of five names
        is 700 bytes, which was a tenth of the memory per target at 50,000.
        """
        names = frozenset(texts)
        shared = self._sets.get(names)
        if shared is None:
            if len(self._sets) >= FAMILY_SETS_LIMIT:
                self._sets.clear()
            shared = self._sets[names] = names
        return shared

    def _undeclared(self, name: str) -> _Family:
        self.declare(
            MetricFamily(
                name,
                "counter" if name.endswith("_total") else "gauge",
                "Reported by a probe (undeclared family).",
            )
        )
        return self._families[name]

    def remove_target(self, target: str) -> None:
        for part, names in self._owned.pop(target, {}).items():
            series_key = _series_key((target, part))
            for name in names:
                self._families[name].series.pop(series_key, None)

    def remove(self, key: tuple[str, str]) -> None:
        """Drop one key's series (a check a reload took off its target)."""
        owned = self._owned.get(key[0])
        if owned is None:
            return
        series_key = _series_key(key)
        for name in owned.pop(key[1], ()):
            self._families[name].series.pop(series_key, None)
        if not owned:
            del self._owned[key[0]]

    def add_source(self, name: str, snapshot: Callable[[], Deferred | None]) -> None:
        """Series of the declared family ``name`` kept as numbers elsewhere: every
        scrape calls ``snapshot()`` (on the loop) and writes what it returns after the
        family's stored lines; ``None`` when it has none."""
        self._sources[name] = snapshot

    def render(self) -> bytes:
        return b"".join(resolve(self.parts()))

    def parts(self) -> list[Part]:
        """The exposition as a list of parts to join (a snapshot: later results do not
        change it), so that the join, and the rendering of deferred parts, can run off
        the loop (:func:`resolve`)."""
        sources = self._sources
        parts: list[Part] = []
        for name, family in self._families.items():
            source = sources.get(name)
            deferred = source() if source is not None else None
            if not family.series and deferred is None:
                continue
            parts.append(family.header)
            if family.bare is None:
                parts.extend(family.series.values())
            else:
                parts += _interleave(family.bare, family.series.values())
            if deferred is not None:
                parts.append(deferred)
        return parts

    def __len__(self) -> int:
        return sum(len(f.series) for f in self._families.values())


class SelfMetrics:
    """The daemon's own figures, in a private registry (never the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)
        Gauge(
            "continuity_build_info",
            "Build information; always 1.",
            ["version", "python"],
            registry=r,
        ).labels(VERSION, platform.python_version()).set(1)
        self.reload_ok = Gauge(
            "continuity_config_last_reload_successful",
            "1 if the last config (re)load succeeded, 0 after a rejected reload.",
            registry=r,
        )
        self.reload_time = Gauge(
            "continuity_config_last_reload_success_timestamp_seconds",
            "UNIX time of the last successful config load.",
            registry=r,
        )
        self.targets = Gauge("continuity_targets", "Targets configured.", registry=r)
        self.render_seconds = Gauge(
            "continuity_metrics_render_seconds",
            "Event-loop time the previous /metrics response took to assemble: its "
            "snapshot and the slices of rendering between the loop's other work.",
            registry=r,
        )
        self.render_slice_seconds = Gauge(
            "continuity_metrics_render_slice_seconds",
            "Longest the event loop went without a break for the previous /metrics response.",
            registry=r,
        )
        self.runs = RunMetrics()
        r.register(self.runs)

    # SchedulerMetrics protocol, forwarded to the lock-free counters
    def observe_lag(self, kind: str, seconds: float) -> None:
        self.runs.observe_lag(kind, seconds)

    def count_skipped(self, kind: str, runs: int) -> None:
        self.runs.count_skipped(kind, runs)

    def in_flight(self, kind: str, delta: int) -> None:
        self.runs.in_flight(kind, delta)

    def metrics_loop_time(self, total: float, longest: float) -> None:
        """A ``/metrics`` response took ``total`` seconds of loop time, at most ``longest``
        of them in one go."""
        self.render_seconds.set(total)
        self.render_slice_seconds.set(longest)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Exporter:
    """Turns results and states into series and serves the joined text."""

    def __init__(self, families: Iterable[MetricFamily], self_metrics: SelfMetrics) -> None:
        self.store = SeriesStore([*CORE_FAMILIES, *families], BARE_FAMILIES)
        self.self_metrics = self_metrics
        self._prefix: dict[str, str] = {}
        # kind -> ',check="kind"': shared by every target (a dict of label texts per
        # target was 190 bytes a target, for a join that costs 0.1 µs a result)
        self._kind_labels: dict[str, str] = {}
        self._extra_labels: dict[tuple[tuple[str, str], ...], str] = {}
        self._listeners: dict[str, Listener] = {}

    def declare(self, families: Iterable[MetricFamily]) -> None:
        for family in families:
            self.store.declare(family)

    def set_target(self, name: str, labels: Mapping[str, str]) -> None:
        """(Re)define a target's identifying labels: ``target`` first, then its own, sorted."""
        self._prefix[name] = label_text([("target", name), *sorted(labels.items())])

    def remove_target(self, name: str) -> None:
        self._prefix.pop(name, None)
        self.store.remove_target(name)

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None:
        """Render a check's series from its latest result.

        This runs for every result: the check label's text is kept per kind
        and a sample's extra labels once per distinct label set (shared by
        every target), so a result costs a few string joins.
        """
        kind_label = self._kind_labels.get(kind)
        if kind_label is None:
            kind_label = self._kind_labels[kind] = f',check="{escape_label_value(kind)}"'
        check = self._prefix[target] + kind_label
        ok = result.ok
        # the first four families are bare (BARE_FAMILIES): no name in the text
        texts = {
            "continuity_check_success": f"{{{check}}} {'1' if ok else '0'}\n",
            "continuity_check_duration_seconds": (
                f"{{{check}}} {format_seconds(result.duration)}\n"
            ),
            "continuity_check_last_run_timestamp_seconds": (
                f"{{{check}}} {format_value(round(result.started, 3))}\n"
            ),
        }
        if not ok:
            texts["continuity_check_failure_info"] = (
                f'{{{check},reason="{escape_label_value(result.reason)}"}} 1\n'
            )
        if result.samples:
            prefix = self._prefix[target]
            extras = self._extra_labels
            for sample in result.samples:
                extra = extras.get(sample.labels)
                if extra is None:
                    extra = _extra_label_text(extras, sample.labels)
                name = sample.name
                value = (format_seconds if name.endswith("_seconds") else format_value)(
                    sample.value
                )
                line = f"{name}{{{prefix}{extra}}} {value}\n"
                previous = texts.get(sample.name)
                texts[sample.name] = line if previous is None else previous + line
        self.store.replace_text((target, kind), texts)
        self.self_metrics.runs.count_run(kind, ok)

    def target_state(self, state: TargetState) -> None:
        """Render a target's state series."""
        prefix = self._prefix[state.name]
        # Only the current state: five all-zero series per target carried no
        # information and were five sixths of this family at 50,000 targets.
        # Rules and panels select ``state="..."} == 1``, which reads the same.
        # all three families are bare (BARE_FAMILIES): no name in the text
        lines: dict[str, list[str]] = {
            "continuity_target_state": [f'{{{prefix},state="{state.health.value}"}} 1\n'],
        }
        if state.health in (Health.UP, Health.DOWN):
            lines["continuity_target_up"] = [f"{{{prefix}}} {int(state.health is Health.UP)}\n"]
        if state.since is not None:
            lines["continuity_target_state_since_timestamp_seconds"] = [
                f"{{{prefix}}} {format_value(round(state.since, 3))}\n"
            ]
        self.store.replace((state.name, ""), lines)

    def figures(self, name: str, figures: Figures) -> None:
        """Render a target's continuity figures (outages, downtime, availability, MTTR/MTBF)."""
        prefix = self._prefix[name]
        # bare families (BARE_FAMILIES) but the availability ratios (one line a window)
        lines: dict[str, list[str]] = {
            "continuity_outages_total": [f"{{{prefix}}} {figures.outages_total}\n"],
            "continuity_downtime_seconds_total": [
                f"{{{prefix}}} {format_value(round(figures.downtime_seconds_total, 3))}\n"
            ],
        }
        ratios = [
            f'continuity_availability_ratio{{{prefix},window="{window}"}} {format_value(value)}\n'
            for window, value in figures.availability.items()
            if value is not None
        ]
        if ratios:
            lines["continuity_availability_ratio"] = ratios
        for family, value in (
            ("continuity_mttr_seconds", figures.mttr_seconds),
            ("continuity_mtbf_seconds", figures.mtbf_seconds),
        ):
            if value is not None:
                lines[family] = [f'{{{prefix},window="30d"}} {format_seconds(value)}\n']
        self.store.replace((name, "#figures"), lines)

    def predicted_dark(self, name: str, dark_at: float | None, method: str = "") -> None:
        """A UPS target's time-to-dark prediction; ``None`` removes the series (on mains)."""
        prefix = self._prefix.get(name)
        if prefix is None:
            return
        lines: dict[str, list[str]] = {}
        if dark_at is not None:
            family = "continuity_ups_predicted_dark_timestamp_seconds"
            lines[family] = [  # bare (BARE_FAMILIES)
                f'{{{prefix},method="{escape_label_value(method)}"}} '
                f"{format_value(round(dark_at, 3))}\n"
            ]
        self.store.replace((name, "#power"), lines)

    def slo(self, name: str, objective: float, status: SloStatus) -> None:
        """Render one SLO's budget and burn rates (series labelled ``slo``, no target)."""
        label = f'slo="{escape_label_value(name)}"'
        # objective and budget are bare (BARE_FAMILIES); one burn rate line a window
        lines: dict[str, list[str]] = {
            "continuity_slo_objective_ratio": [f"{{{label}}} {format_value(objective)}\n"],
            "continuity_slo_burn_rate": [
                f'continuity_slo_burn_rate{{{label},window="{w}"}} {format_value(v)}\n'
                for w, v in status.burn.items()
                if v is not None
            ],
        }
        if status.budget_remaining is not None:
            lines["continuity_slo_error_budget_remaining_ratio"] = [
                f"{{{label}}} {format_value(status.budget_remaining)}\n"
            ]
        self.store.replace(("", f"slo:{name}"), {k: v for k, v in lines.items() if v})

    def remove_slo(self, name: str) -> None:
        self.store.replace(("", f"slo:{name}"), {})

    def add_listener(self, name: str, listener: Listener) -> None:
        """Render ``listener.samples()`` at every scrape (in its kind's declared families)."""
        self._listeners[name] = listener

    def remove_listener(self, name: str) -> None:
        self._listeners.pop(name, None)
        self.store.replace(("", f"listener:{name}"), {})

    def _listener_samples(self) -> None:
        # A few counters per listener: rendered at the scrape, not per datagram.
        for name, listener in self._listeners.items():
            lines: dict[str, list[str]] = {}
            for sample in listener.samples():
                labels = f"{{{label_text(sample.labels)}}}" if sample.labels else ""
                lines.setdefault(sample.name, []).append(
                    f"{sample.name}{labels} {format_value(sample.value)}\n"
                )
            self.store.replace(("", f"listener:{name}"), lines)

    def render(self) -> bytes:
        return b"".join(resolve(self.render_parts()))

    def render_parts(self) -> list[Part]:
        """The exposition as parts to join (a snapshot: the deferred parts are rendered
        later, see :class:`Deferred`).

        At 50,000 targets the joined text is over 100 MB: ``bytes.join`` releases
        the GIL while copying, so the web server joins and compresses in a thread
        (and reports the loop time, :meth:`SelfMetrics.metrics_loop_time`).
        """
        self._listener_samples()
        parts = self.store.parts()
        parts.append(self.self_metrics.render())
        return parts


EXTRA_LABELS_LIMIT = 4096
"""Distinct sample label sets whose text is kept (``stat="min"``, an interface, ...)."""


def _extra_label_text(
    cache: dict[tuple[tuple[str, str], ...], str], labels: tuple[tuple[str, str], ...]
) -> str:
    """``,name="value"...`` of a sample's own labels, remembered (bounded) for next time."""
    if len(cache) >= EXTRA_LABELS_LIMIT:
        cache.clear()
    text = cache[labels] = f",{label_text(labels)}" if labels else ""
    return text
