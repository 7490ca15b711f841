"""Prometheus exposition: series kept small per target, rendered at the scrape.

A scrape must never stall the event loop. Rendering 120,000 labelled series
with prometheus-client on each scrape costs over a second of CPU, and keeping
every line's text between scrapes cost 1.3 KB a target at 50,000 targets. So
each state and figures update keeps, per metric family, one small cell under
the series' label text (a number, often the very float the state keeps, or
the short text after the labels), and so does each check's latest result (a
batch at a time: :meth:`Exporter.check_result`); ``/metrics`` copies each family's
cells on the loop and renders the lines from the copy where the parts are
joined (off the loop for a large scrape: :class:`Deferred`), family by family
so that the text format stays valid: one HELP/TYPE header, then every series
of that family.

The daemon's own metrics (build info, reload status, scheduler lag, process
figures) are few and use prometheus-client in a private registry.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any

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
    if type(value) is float and 1e-4 <= value < 1e6:
        # The same text at half the cost (this runs for four samples of every ICMP
        # result): here ``repr`` writes the shortest decimal that reads back, without
        # an exponent, and a double's spacing (under 1.2e-10) is finer than the ninth
        # decimal, so that decimal is the nine-place one with its trailing zeros dropped.
        text = f"{value:.9f}".rstrip("0")
        return text + "0" if text[-1] == "." else text
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

    For series kept as numbers (the RTT histogram, the cell families): their text,
    kept per series between scrapes, was a kilobyte a target at 50,000 targets. The
    snapshot is a copy taken on the loop, so that later results do not change what
    ``pieces`` writes. The text comes in pieces of well under a millisecond of work
    each, which a large scrape renders on the loop between its other work (see
    ``monitor.web.metrics_body``: rendered in a thread, the same Python code held the
    GIL, and the loop waited for it after each of its system calls).
    """

    pieces: Callable[[], Iterator[bytes]]
    """The text, piece by piece (each a bounded amount of work)."""
    series: int
    """How many series it writes (it weighs as that many parts: see the web server)."""

    def render(self) -> bytes:
        """The whole text at once (a small scrape, or where the join runs)."""
        return b"".join(self.pieces())


Part = bytes | Deferred
"""One piece of the exposition: text, or text to render from a snapshot."""


def resolve(parts: Iterable[Part]) -> list[bytes]:
    """The parts as text (renders the deferred ones: call it where the join runs)."""
    return [p if isinstance(p, bytes) else p.render() for p in parts]


def weight(parts: Sequence[Part]) -> int:
    """Parts plus the series the deferred ones will write: how heavy the assembly is."""
    return len(parts) + sum(p.series for p in parts if isinstance(p, Deferred))


Cell = int | float | str
"""What a family keeps for one key between scrapes: a number, or text (see :data:`SEP`)."""

SEP = "\x00"
"""In a text cell, where a line's family name, ``{`` and label key go: the cell holds
the rest of each of its lines (``SEP + ',stat="min"} 0.0004\\n' + SEP + ...``)."""

Cells = Iterable[tuple[str, Any]]
"""(label key, cell) pairs of one family, from a snapshot of its cells."""

CellRenderer = Callable[[str, Cells], list[str]]
"""A family's lines from its name and (some of) its cells."""


def text_lines(name: str, cells: Iterable[tuple[str, str]]) -> list[str]:
    """Text cells: the family's name, ``{`` and the label key wherever the cell has SEP."""
    return [cell.replace(SEP, f"{name}{{{key}") for key, cell in cells]


FAMILY_SETS_LIMIT = 4096
"""Distinct family sets (and sets of a target's parts) shared between keys (a few per
probe kind and outcome)."""


@dataclass(slots=True)
class _Family:
    header: bytes
    render: CellRenderer
    """How the cells become lines at the scrape."""
    # Both dicts hold str keys and str, bytes or number values only: nothing the cyclic
    # collector must walk, so it untracks them and they stay untracked.
    series: dict[str, bytes] = field(default_factory=dict)
    """Full lines by series key (:meth:`SeriesStore.replace`)."""
    cells: dict[str, Cell] = field(default_factory=dict)
    """Cells by label key (:meth:`SeriesStore.put`), rendered at the scrape."""
    lines: int = 1
    """Most lines one text cell held (a deferred part's weight per cell)."""


_CellPart = tuple[str, str, frozenset[str]]
"""(part, label key suffix, families) of a key kept as cells."""


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


RENDER_CHUNK = 256
"""Cells rendered at a time: the lines of one chunk exist together, never a family's;
a chunk is a fraction of a millisecond of work (a piece of a :class:`Deferred`)."""


def _family_pieces(render: CellRenderer, name: str, cells: dict[str, Cell]) -> Iterator[bytes]:
    """A family's lines, rendered a chunk at a time: one piece of text a chunk.

    A line is a str of its own until it is joined: a chunk's lines (tens of
    kilobytes) reuse the memory of the chunk before, where a family's at once
    would be 50,000 to 200,000 of them at 50,000 targets. The pieces are what a
    large scrape renders on the loop between its other work (see
    ``monitor.web.metrics_body``); the family's text is never joined whole.
    """
    items = iter(cells.items())
    while lines := render(name, islice(items, RENDER_CHUNK)):
        yield "".join(lines).encode()


class SeriesStore:
    """Series grouped by family, keyed by (target, part); a scrape joins them.

    ``part`` is the check kind for a check's series, ``""`` for a target's.

    **Cells** (:meth:`put`: every per-target series the exporter writes): a
    family keeps one cell per key, a number or a short text, under the key's
    label text (the target's labels from :meth:`set_labels`, then the part's
    own, such as ``,check="icmp"``). The dict key *is* those labels, so nothing
    is kept per line but the cell, and a number is often the very float the
    target's state keeps. Each scrape copies a family's cells on the loop (a
    dict copy: about 0.2 ms for 50,000) and renders its lines from the copy with
    the family's renderer where the exposition is joined (:class:`Deferred`);
    a result arriving after the copy is in the next scrape. Text kept per line
    had been 1.3 KB a target at 50,000 ICMP targets, half of it the same labels
    repeated on every line.

    **Text** (:meth:`replace`: the few listener series): full lines by series
    key, joined as they are.

    Within a family, lines are in the order their keys first got that family (a
    key that leaves a family and comes back goes to the end); text before cells
    should a family have both.
    """

    def __init__(
        self,
        families: Iterable[MetricFamily],
        renderers: Mapping[str, CellRenderer] | None = None,
    ) -> None:
        self._renderers = dict(renderers or {})
        self._families: dict[str, _Family] = {}
        # target -> part -> the families its text series are in (by target, so that
        # removing one target does not scan every key)
        self._owned: dict[str, dict[str, frozenset[str]]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}  # see _family_set
        # target -> its label text, and the parts it keeps as cells: one tuple shared
        # by every target with the same parts (a dict per target was 200 bytes)
        self._labels: dict[str, str] = {}
        self._cell_parts: dict[str, tuple[_CellPart, ...]] = {}
        self._shapes: dict[tuple[_CellPart, ...], tuple[_CellPart, ...]] = {}
        # family -> snapshot of its series kept as numbers (see add_source)
        self._sources: dict[str, Callable[[], Deferred | None]] = {}
        for family in families:
            self.declare(family)

    def declare(self, family: MetricFamily) -> None:
        if family.name in self._families:
            return
        kind = "gauge" if family.type == "info" else family.type
        header = f"# HELP {family.name} {family.help}\n# TYPE {family.name} {kind}\n"
        render = self._renderers.get(family.name, text_lines)
        self._families[family.name] = _Family(header.encode(), render)

    def render_with(self, name: str, render: CellRenderer) -> None:
        """Render the cells of family ``name`` with ``render`` (declared on the fly if
        nobody declared it: a probe reported it)."""
        self._renderers[name] = render
        family = self._families.get(name)
        if family is None:
            family = self._undeclared(name)
        family.render = render

    # -- cells -----------------------------------------------------------------

    def set_labels(self, target: str, labels: str) -> None:
        """The target's label text (``target="a",site="x"``), which begins the label
        keys of its cells. Changed labels move its cells to the new keys (to the end
        of each family: a dict cannot rename a key in place)."""
        old = self._labels.get(target)
        if old == labels:
            return
        self._labels[target] = labels
        if old is None:
            return
        families = self._families
        for _, suffix, names in self._cell_parts.get(target, ()):
            old_key, new_key = old + suffix, labels + suffix
            for name in names:
                cells = families[name].cells
                if old_key in cells:
                    cells[new_key] = cells.pop(old_key)

    def has_labels(self, target: str) -> bool:
        return target in self._labels

    def put(self, target: str, part: str, suffix: str, cells: Mapping[str, Cell]) -> None:
        """Set the key (``target``, ``part``)'s cells (family -> cell) under the label
        key made of the target's labels and ``suffix``; drop the families it left.

        ``target`` must have labels (:meth:`set_labels`) unless it is ``""``: series
        of no target, whose label key is ``suffix`` alone."""
        base = self._labels[target] if target else ""
        key = base + suffix if suffix else base
        shape = self._cell_parts.get(target, ())
        for entry in shape:
            if entry[0] == part:
                if entry[1] != suffix or entry[2] != cells.keys():
                    self._drop_cells(base, entry, cells.keys() if entry[1] == suffix else ())
                    self._set_part(target, shape, entry, (part, suffix, self._family_set(cells)))
                break
        else:
            if cells:
                self._set_part(target, shape, None, (part, suffix, self._family_set(cells)))
        families = self._families
        for name, cell in cells.items():
            family = families.get(name)
            if family is None:  # a probe reported a family nobody declared: still valid text
                family = self._undeclared(name)
            family.cells[key] = cell
            if type(cell) is str and family.lines < (n := cell.count(SEP)):
                family.lines = n

    def _drop_cells(self, base: str, entry: _CellPart, keep: Collection[str] = ()) -> None:
        """Drop ``entry``'s cells of the families not in ``keep``."""
        _, suffix, names = entry
        key = base + suffix if suffix else base
        for name in names:
            if name not in keep:
                self._families[name].cells.pop(key, None)

    def _set_part(
        self,
        target: str,
        shape: tuple[_CellPart, ...],
        old: _CellPart | None,
        new: _CellPart | None,
    ) -> None:
        """Record ``new`` in place of ``old`` among the target's parts (shared tuples)."""
        parts = list(shape)
        if old is not None:
            at = parts.index(old)
            if new is None or not new[2]:
                del parts[at]
            else:
                parts[at] = new
        elif new is not None and new[2]:
            parts.append(new)
        if not parts:
            self._cell_parts.pop(target, None)
            return
        kept = tuple(parts)
        shared = self._shapes.get(kept)
        if shared is None:
            if len(self._shapes) >= FAMILY_SETS_LIMIT:
                self._shapes.clear()
            shared = self._shapes[kept] = kept
        self._cell_parts[target] = shared

    # -- text ------------------------------------------------------------------

    def replace(self, key: tuple[str, str], lines: Mapping[str, list[str]]) -> None:
        """Set the key's series to ``lines`` (family -> full text lines); drop
        families it left."""
        self.replace_text(key, {name: "".join(text) for name, text in lines.items()})

    def replace_text(self, key: tuple[str, str], texts: Mapping[str, str]) -> None:
        """:meth:`replace` with each family's lines already joined."""
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

    def _family_set(self, names: Iterable[str]) -> frozenset[str]:
        """The set of ``names``, one shared object per distinct set.

        Thousands of targets have the same few sets; a frozenset of five names
        is 700 bytes, which was a tenth of the memory per target at 50,000.
        """
        names = frozenset(names)
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

    # -- removal ---------------------------------------------------------------

    def remove_target(self, target: str) -> None:
        """Drop every series of the target, and its labels."""
        base = self._labels.pop(target, "")
        for entry in self._cell_parts.pop(target, ()):
            self._drop_cells(base, entry)
        for part, names in self._owned.pop(target, {}).items():
            series_key = _series_key((target, part))
            for name in names:
                self._families[name].series.pop(series_key, None)

    def remove(self, key: tuple[str, str]) -> None:
        """Drop one key's series (a check a reload took off its target)."""
        target, part = key
        shape = self._cell_parts.get(target, ())
        for entry in shape:
            if entry[0] == part:
                self._drop_cells(self._labels.get(target, ""), entry)
                self._set_part(target, shape, entry, None)
                break
        owned = self._owned.get(target)
        if owned is None:
            return
        series_key = _series_key(key)
        for name in owned.pop(part, ()):
            self._families[name].series.pop(series_key, None)
        if not owned:
            del self._owned[target]

    # -- the scrape ------------------------------------------------------------

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
            series, cells = family.series, family.cells
            if not series and not cells and deferred is None:
                continue
            parts.append(family.header)
            if series:
                parts.extend(series.values())
            if cells:
                parts.append(
                    Deferred(
                        partial(_family_pieces, family.render, name, cells.copy()),
                        len(cells) * family.lines,
                    )
                )
            if deferred is not None:
                parts.append(deferred)
        return parts

    def __len__(self) -> int:
        """Keys kept, summed over families (a multi-line cell counts once)."""
        return sum(len(f.series) + len(f.cells) for f in self._families.values())


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


# The families the exporter keeps as cells, and how each is rendered at the scrape.
UP = "continuity_target_up"
STATE = "continuity_target_state"
SINCE = "continuity_target_state_since_timestamp_seconds"
SUCCESS = "continuity_check_success"
DURATION = "continuity_check_duration_seconds"
FAILURE = "continuity_check_failure_info"
LAST_RUN = "continuity_check_last_run_timestamp_seconds"
SLO_BUDGET = "continuity_slo_error_budget_remaining_ratio"
SLO_BURN = "continuity_slo_burn_rate"
SLO_OBJECTIVE = "continuity_slo_objective_ratio"
PREDICTED_DARK = "continuity_ups_predicted_dark_timestamp_seconds"
OUTAGES = "continuity_outages_total"
DOWNTIME = "continuity_downtime_seconds_total"
AVAILABILITY = "continuity_availability_ratio"
MTTR = "continuity_mttr_seconds"
MTBF = "continuity_mtbf_seconds"

CHECK_LABEL = ',check="'
"""Where a check's label begins in its label key (``check`` is a reserved label name,
so the target's own labels never hold it; searched from the end all the same)."""


def count_lines(name: str, cells: Iterable[tuple[str, int]]) -> list[str]:
    """Whole numbers: flags (1/0) and counts."""
    return [f"{name}{{{key}}} {cell}\n" for key, cell in cells]


def state_lines(name: str, cells: Iterable[tuple[str, str]]) -> list[str]:
    """The current state's name (``up``, ``down``, ...) as the ``state`` label, value 1."""
    return [f'{name}{{{key},state="{cell}"}} 1\n' for key, cell in cells]


def millisecond_lines(name: str, cells: Iterable[tuple[str, float]]) -> list[str]:
    """Times and totals to the millisecond: :func:`format_value` of the value rounded."""
    return [f"{name}{{{key}}} {format_value(round(cell, 3))}\n" for key, cell in cells]


def seconds_lines(name: str, cells: Iterable[tuple[str, float]]) -> list[str]:
    """Durations: :func:`format_seconds`."""
    return [f"{name}{{{key}}} {format_seconds(cell)}\n" for key, cell in cells]


def mean_seconds_lines(name: str, cells: Iterable[tuple[str, float]]) -> list[str]:
    """MTTR and MTBF, over the 30-day window."""
    return [f'{name}{{{key},window="30d"}} {format_seconds(cell)}\n' for key, cell in cells]


def ratio_lines(name: str, cells: Iterable[tuple[str, float]]) -> list[str]:
    """Ratios at full precision: :func:`format_value`."""
    return [f"{name}{{{key}}} {format_value(cell)}\n" for key, cell in cells]


def failure_lines(name: str, cells: Iterable[tuple[str, str]]) -> list[str]:
    """A failed check's reason (kept escaped) as the ``reason`` label, value 1."""
    return [f'{name}{{{key},reason="{cell}"}} 1\n' for key, cell in cells]


def sample_lines(name: str, cells: Iterable[tuple[str, str]]) -> list[str]:
    """A check's samples: text cells kept under the check's label key, written with the
    target's labels only (the key without its check label)."""
    return [cell.replace(SEP, f"{name}{{{key[: key.rindex(CHECK_LABEL)]}") for key, cell in cells]


RENDERERS: Mapping[str, CellRenderer] = {
    UP: count_lines,
    STATE: state_lines,
    SINCE: millisecond_lines,
    SUCCESS: count_lines,
    DURATION: seconds_lines,
    FAILURE: failure_lines,
    LAST_RUN: millisecond_lines,
    SLO_BUDGET: ratio_lines,
    SLO_BURN: text_lines,
    SLO_OBJECTIVE: ratio_lines,
    PREDICTED_DARK: text_lines,
    OUTAGES: count_lines,
    DOWNTIME: millisecond_lines,
    AVAILABILITY: text_lines,
    MTTR: mean_seconds_lines,
    MTBF: mean_seconds_lines,
}
"""The exporter's own families (a probe's samples never go into them)."""


def _same_series(a: Figures, b: Figures) -> bool:
    """Whether two figures make the same series (``observed_since`` is not one)."""
    return (
        a.outages_total == b.outages_total
        and a.downtime_seconds_total == b.downtime_seconds_total
        and a.mttr_seconds == b.mttr_seconds
        and a.mtbf_seconds == b.mtbf_seconds
        # in order: the lines follow it
        and (
            a.availability is b.availability
            or [*a.availability.items()] == [*b.availability.items()]
        )
    )


SHARED_TEXTS_LIMIT = 4096
"""Recent distinct text cells kept to be shared (see :meth:`Exporter._shared`)."""


class Exporter:
    """Turns results and states into series and serves the joined text."""

    def __init__(self, families: Iterable[MetricFamily], self_metrics: SelfMetrics) -> None:
        self.store = SeriesStore([*CORE_FAMILIES, *families], RENDERERS)
        self.self_metrics = self_metrics
        # kind -> ',check="kind"': shared by every target (a dict of label texts per
        # target was 190 bytes a target, for a join that costs 0.1 µs a result)
        self._kind_labels: dict[str, str] = {}
        # (family, labels) of a sample -> how its line is written (see _sample_plan)
        self._sample_plans: dict[tuple[str, tuple[tuple[str, str], ...]], _SamplePlan] = {}
        self._sample_families: set[str] = set()
        self._texts: dict[str, str] = {}  # see _shared
        self._listeners: dict[str, Listener] = {}
        self._figures: dict[str, Figures] = {}  # see figures
        # (target, kind) -> the check's latest result whose series are not written yet
        # (see check_result), oldest first
        self._pending: dict[tuple[str, str], ProbeResult] = {}

    def declare(self, families: Iterable[MetricFamily]) -> None:
        for family in families:
            self.store.declare(family)

    def set_target(self, name: str, labels: Mapping[str, str]) -> None:
        """(Re)define a target's identifying labels: ``target`` first, then its own, sorted."""
        self.store.set_labels(name, label_text([("target", name), *sorted(labels.items())]))

    def remove_target(self, name: str) -> None:
        # What waits is written first (at most a batch), so that the removal below
        # takes every series of the target and nothing of it waits any more.
        self.write_pending()
        self.store.remove_target(name)
        self._figures.pop(name, None)

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None:
        """Take a check's latest result; its series are written with the next
        :data:`PENDING_BATCH` results, or by the next scrape (:meth:`write_pending`),
        whichever comes first.

        Written back to back, the writes made a delivered result 2-12 µs cheaper in
        process (``bench.deliver_cost``, against each written as it came); in the
        daemon the difference was within the host's noise. Held longer (until the
        scrape, which would skip a result replaced meanwhile), the waiting results
        outlived the collector's young generations: it did twice the work and took
        all of the gain.
        """
        pending = self._pending
        pending[target, kind] = result
        self.self_metrics.runs.count_run(kind, result.ok)
        if len(pending) >= PENDING_BATCH:
            self.write_pending()

    def write_pending(self) -> None:
        """Write the series of the results :meth:`check_result` holds, oldest first."""
        pending = self._pending
        write, has_labels = self._write_check, self.store.has_labels
        for (target, kind), result in pending.items():
            if has_labels(target):  # none: removed since its run started, or never told of
                write(target, kind, result)
        pending.clear()

    def _write_check(self, target: str, kind: str, result: ProbeResult) -> None:
        """Keep a check's series from its latest result.

        The check label's text is kept per kind and a sample's extra labels once
        per distinct label set (shared by every target); the outcome, duration
        and start are kept as the result's own numbers (the objects the check's
        state keeps too), the samples as the text after their labels.
        """
        kind_label = self._kind_labels.get(kind)
        if kind_label is None:
            kind_label = self._kind_labels[kind] = f',check="{escape_label_value(kind)}"'
        ok = result.ok
        cells: dict[str, Cell] = {
            SUCCESS: 1 if ok else 0,
            DURATION: result.duration,
            LAST_RUN: result.started,
        }
        if not ok:
            cells[FAILURE] = escape_label_value(result.reason)
        samples = result.samples
        if samples:
            plans = self._sample_plans
            texts: dict[str, str] = {}
            for name, value, labels in samples:
                plan = plans.get((name, labels))
                if plan is None:
                    plan = self._sample_plan(name, labels)
                if plan is _NOT_A_SAMPLE:
                    continue
                line = f"{plan[0]}{plan[1](value)}\n"
                previous = texts.get(name)
                texts[name] = line if previous is None else previous + line
            shared = self._shared
            for name, text in texts.items():
                cells[name] = shared(text)
        self.store.put(target, kind, kind_label, cells)

    def _sample_plan(self, name: str, labels: tuple[tuple[str, str], ...]) -> _SamplePlan:
        """How a sample of family ``name`` with ``labels`` becomes its line's text after
        the label key: the text before the value and the value's formatter (or
        :data:`_NOT_A_SAMPLE` for a family the exporter writes itself), remembered
        (bounded) so that a result's samples cost one lookup each."""
        plans = self._sample_plans
        if len(plans) >= EXTRA_LABELS_LIMIT:
            plans.clear()
        plan: _SamplePlan = _NOT_A_SAMPLE
        if name in self._sample_families or self._sample_family(name):
            extra = f",{label_text(labels)}" if labels else ""
            fmt = format_seconds if name.endswith("_seconds") else format_value
            plan = (f"{SEP}{extra}}} ", fmt)
        plans[(name, labels)] = plan
        return plan

    def _sample_family(self, name: str) -> bool:
        """Make ``name`` a family of samples (lines labelled by their target, without the
        check); False for a family the exporter writes itself (a probe cannot)."""
        if name in RENDERERS:
            return False
        self.store.render_with(name, sample_lines)
        self._sample_families.add(name)
        return True

    def _shared(self, text: str) -> str:
        """One object per distinct cell text among the recent ones: most targets' loss
        ratio, availability and the like are the same few texts."""
        texts = self._texts
        shared = texts.get(text)
        if shared is None:
            if len(texts) >= SHARED_TEXTS_LIMIT:
                texts.clear()
            shared = texts[text] = text
        return shared

    def target_state(self, state: TargetState) -> None:
        """Keep a target's state series: its health and the time it entered it."""
        # Only the current state: five all-zero series per target carried no
        # information and were five sixths of this family at 50,000 targets.
        # Rules and panels select ``state="..."} == 1``, which reads the same.
        cells: dict[str, Cell] = {STATE: state.health.value}
        if state.health in (Health.UP, Health.DOWN):
            cells[UP] = 1 if state.health is Health.UP else 0
        if state.since is not None:
            cells[SINCE] = state.since
        self.store.put(state.name, "", "", cells)

    def figures(self, name: str, figures: Figures) -> None:
        """Keep a target's continuity figures (outages, downtime, availability, MTTR/MTBF).

        Figures with the same values as the ones kept are not written again
        (2.8 µs a target): most targets' do not move between two refreshes,
        and the store hands out the very same object then.
        """
        last = self._figures.get(name)
        if last is figures:
            return
        if last is not None and _same_series(last, figures):
            if last.availability is not figures.availability:
                # keep the one whose mapping the next ones share (the store keeps
                # steady figures with a mapping shared by many targets; a copy that
                # moves only in observed_since has it too)
                self._figures[name] = figures
            return
        cells: dict[str, Cell] = {
            OUTAGES: figures.outages_total,
            DOWNTIME: figures.downtime_seconds_total,
        }
        ratios = "".join(
            [
                f'{SEP},window="{window}"}} {format_value(value)}\n'
                for window, value in figures.availability.items()
                if value is not None
            ]
        )
        if ratios:
            cells[AVAILABILITY] = self._shared(ratios)
        if figures.mttr_seconds is not None:
            cells[MTTR] = figures.mttr_seconds
        if figures.mtbf_seconds is not None:
            cells[MTBF] = figures.mtbf_seconds
        self.store.put(name, "#figures", "", cells)
        self._figures[name] = figures

    def predicted_dark(self, name: str, dark_at: float | None, method: str = "") -> None:
        """A UPS target's time-to-dark prediction; ``None`` removes the series (on mains)."""
        if not self.store.has_labels(name):
            return
        cells: dict[str, Cell] = {}
        if dark_at is not None:
            cells[PREDICTED_DARK] = (
                f'{SEP},method="{escape_label_value(method)}"}} {format_value(round(dark_at, 3))}\n'
            )
        self.store.put(name, "#power", "", cells)

    def slo(self, name: str, objective: float, status: SloStatus) -> None:
        """Keep one SLO's budget and burn rates (series labelled ``slo``, no target)."""
        burn = "".join(
            [
                f'{SEP},window="{w}"}} {format_value(v)}\n'
                for w, v in status.burn.items()
                if v is not None
            ]
        )
        cells: dict[str, Cell] = {SLO_OBJECTIVE: objective}
        if burn:
            cells[SLO_BURN] = burn
        if status.budget_remaining is not None:
            cells[SLO_BUDGET] = status.budget_remaining
        self.store.put("", f"slo:{name}", f'slo="{escape_label_value(name)}"', cells)

    def remove_slo(self, name: str) -> None:
        self.store.remove(("", f"slo:{name}"))

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
        self.write_pending()
        parts = self.store.parts()
        parts.append(self.self_metrics.render())
        return parts


PENDING_BATCH = 64
"""Check results written together (see :meth:`Exporter.check_result`): few enough that
their objects (about 7 the collector tracks, each) stay within one young generation."""

EXTRA_LABELS_LIMIT = 4096
"""Distinct sample label sets whose text is kept (``stat="min"``, an interface, ...)."""


_SamplePlan = tuple[str, Callable[[float], str]]
"""The text of a sample's line between its label key and its value, and the value's
formatter."""

_NOT_A_SAMPLE: _SamplePlan = ("", format_value)
"""The plan of a family a probe cannot write (the exporter's own): its samples are dropped."""
