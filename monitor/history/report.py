"""Availability report over a period: ``continuity-monitor report``.

The figures are the exporter's (:mod:`monitor.engine.availability`), taken over a
period ``[since, until)`` instead of a window ending now: a report over a
period shows what the exporter would show at ``now = until`` with a window
(and MTTR/MTBF window) of ``until - since``, computed from the whole history.

Definitions
-----------
*Observed time* of a target in the period: the monitor's observation periods
(when it ran) minus its isolation periods, from the target's first
observation on, minus the target's maintenance unless maintenance is
counted. Unobserved time counts neither as up nor as down.

*Downtime*: the part of the target's outages that lies in observed time
inside the period. An outage that crosses a boundary of the period
contributes only its part inside.

*Availability*: ``1 - downtime / observed time``; ``None`` (no data) when
nothing was observed. Shown twice: *with maintenance* (``count_maintenance =
true``: maintenance time is observed, an outage in it is downtime) and
*without maintenance* (``count_maintenance = false``: maintenance time is left
out). Downtime, outages, MTTR, MTBF and the longest outage follow
``[monitor] count_maintenance``, like the exporter's figures; the JSON form
holds both sets.

An outage *counts* when its downtime over its whole span (to its end, or as
far as the history was observed while it is open) is above zero.

*Outages*: counted outages that started in the period. One carried over
from before the period is listed and its downtime in the period counted, but
it is not counted again.

*MTTR*: mean downtime of the counted outages that ended in ``(since,
until]``, each with its whole downtime (also the part before the period).

*MTBF*: observed up time in the period (observed time minus downtime) over
the number of outages (above); ``None`` if none started.

*Longest outage*: the one with the most downtime inside the period.

*Incidents*: the outages grouped by root cause (see
:mod:`monitor.history.report_incidents`): one router cut is one incident with the
router's outage as its root cause and the outages of the targets behind it
(cause ``parent:NAME``) as its consequences, dated from the root cause's
start. The report counts incidents and the targets they affected apart from
outages, which stay per target: a cut router with five sites behind it is
1 incident, 6 targets affected, and 6 outages in the targets' own figures.

*Groups* pool their targets: availability is the summed downtime over the
summed observed time (not the mean of ratios), MTTR the mean over all their
repaired outages, MTBF the summed up time over all their outages.

With ``[monitor] shard`` set, the configuration's targets are that shard's
(the instance's history holds only those). Targets in the history that are no
longer in the configuration are grouped
under ``(not in config)`` when they had an outage in the period. The history
does not record when a target was removed, so their observed time runs to
the end of the period and their availability may be overstated; the report
says so.

The computation is pure (:func:`build_report`); the last section of this
module is the command (configuration, database, progress bar, output).
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import NamedTuple, TextIO
from zoneinfo import ZoneInfo

from monitor.engine.availability import Interval, clip, intersect, measure, normalize, subtract
from monitor.engine.config import Config, ConfigError, load_config
from monitor.engine.shard import select
from monitor.engine.shard_spec import parse_shard
from monitor.history.report_incidents import group_incidents
from monitor.history.report_model import (
    NOT_IN_CONFIG,
    GroupBy,
    GroupReport,
    OutageLine,
    Period,
    PeriodFigures,
    Report,
    TargetReport,
    pool,
)
from monitor.history.report_render import render
from monitor.history.store import Outage, PeriodRows, StoreError, database_path, open_readonly
from monitor.web.api import parse_rfc3339

FORMATS = ("md", "csv", "html", "json")
GROUP_LABELS = ("operator", "province", "site")
"""``--group-by`` forms that name a label directly; any other is ``label:NAME``."""
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReportError(Exception):
    """An expected failure of the command; the message is for the operator."""


# --------------------------------------------------------------------------
# Options: period and grouping (the types are in monitor.report_model)
# --------------------------------------------------------------------------


def parse_moment(text: str, zone: ZoneInfo, option: str) -> float:
    """``YYYY-MM-DD`` (midnight in ``zone``) or an RFC 3339 time, as UNIX seconds."""
    try:
        if _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), zone).timestamp()
        return parse_rfc3339(text)
    except ValueError:
        raise ReportError(
            f"{option}: expected YYYY-MM-DD or an RFC 3339 time such as "
            f"2026-11-01T00:00:00+07:00, got {text!r}"
        ) from None


def parse_period(since: str, until: str, timezone: str) -> Period:
    """The period of ``--since``/``--until``; raises ReportError unless since < until."""
    zone = ZoneInfo(timezone)
    period = Period(
        parse_moment(since, zone, "--since"), parse_moment(until, zone, "--until"), timezone
    )
    if period.since >= period.until:
        raise ReportError(f"--since ({since}) must be before --until ({until})")
    return period


def parse_group_by(text: str | None) -> GroupBy:
    """``operator``, ``province``, ``site`` or ``label:NAME``; None: no grouping."""
    if text is None:
        return GroupBy()
    if text in GROUP_LABELS:
        return GroupBy(text)
    name = text.removeprefix("label:")
    if text.startswith("label:") and _LABEL_NAME.fullmatch(name):
        return GroupBy(name)
    raise ReportError(
        f"--group-by: expected {', '.join(GROUP_LABELS)} or label:NAME "
        f"(NAME a label name such as kind), got {text!r}"
    )


def monitor_observed(
    observation: Iterable[tuple[float, float]], isolation: Iterable[tuple[float, float | None]]
) -> list[Interval]:
    """When the monitor observed: its run periods minus its isolation (normalized)."""
    isolated = normalize((s, math.inf if e is None else e) for s, e in isolation)
    return subtract(normalize(observation), isolated)


@dataclass(frozen=True, slots=True)
class TargetRows:
    """One target's part of the history, as the report needs it."""

    name: str
    first_observed: float | None
    outages: Sequence[Outage] = ()
    """Its outages overlapping the period, oldest first."""
    maintenance: Sequence[Interval] = ()
    """Its maintenance periods, normalized."""


def _target_observed(
    rows: TargetRows, observed: Sequence[Interval], period: Period, with_maintenance: bool
) -> list[Interval]:
    """The target's observed time from the period's start, or its earliest outage's, on.

    It reaches past the period so an outage's whole span can be measured.
    """
    if rows.first_observed is None:
        return []
    lo = max(rows.first_observed, min([period.since, *(o.start for o in rows.outages)]))
    seen = clip(observed, lo, math.inf)
    return seen if with_maintenance else subtract(seen, rows.maintenance)


def _span(outage: Outage) -> Interval:
    return (outage.start, math.inf if outage.end is None else outage.end)


class ModeFigures(NamedTuple):
    """A target's figures in one mode, before its outage lines exist."""

    figures: PeriodFigures
    """Without ``longest``, which :func:`target_report` fills in."""
    downtimes: list[float]
    """Each outage's downtime inside the period."""
    longest: int | None
    """Index of the outage with the most downtime inside the period."""


def target_figures(
    rows: TargetRows, observed: Sequence[Interval], period: Period, *, with_maintenance: bool
) -> ModeFigures:
    """A target's figures in one mode; ``observed`` is :func:`monitor_observed`'s."""
    since, until = period.since, period.until
    outages = rows.outages
    seen = _target_observed(rows, observed, period, with_maintenance)
    in_period = clip(seen, since, until)
    spans = [_span(o) for o in outages]
    down = intersect(normalize((max(s, since), min(e, until)) for s, e in spans), in_period)
    downtimes = [_measure_between(down, s, e) for s, e in spans]
    started = repaired = 0
    repair = 0.0
    for outage, span in zip(outages, spans, strict=True):
        whole = _measure_between(seen, *span)
        if whole <= 0:
            continue  # not a failure: entirely unobserved or in excluded maintenance
        if since <= outage.start < until:
            started += 1
        if outage.end is not None and since < outage.end <= until:
            repaired += 1
            repair += whole
    # The first of equals wins: the earliest outage.
    longest = max(range(len(outages)), key=lambda i: (downtimes[i], -i), default=None)
    if longest is not None and downtimes[longest] <= 0:
        longest = None
    figures = PeriodFigures(
        observed_seconds=measure(in_period),
        downtime_seconds=measure(down),
        outages=started,
        repaired=repaired,
        repair_seconds=repair,
        longest_seconds=0.0 if longest is None else downtimes[longest],
    )
    return ModeFigures(figures, downtimes, longest)


def _measure_between(intervals: Sequence[Interval], lo: float, hi: float) -> float:
    """Length of normalized ``intervals`` inside ``[lo, hi)`` (0 when empty)."""
    return measure(clip(intervals, lo, hi)) if lo < hi else 0.0


def _line(outage: Outage, with_maintenance: float, without_maintenance: float) -> OutageLine:
    return OutageLine(
        target=outage.target,
        check=outage.check,
        start=outage.start,
        end=outage.end,
        cause=outage.cause,
        reason=outage.reason,
        message=outage.message,
        downtime_with_maintenance=with_maintenance,
        downtime_without_maintenance=without_maintenance,
    )


def target_report(
    rows: TargetRows,
    observed: Sequence[Interval],
    period: Period,
    *,
    labels: Mapping[str, str],
    in_config: bool,
) -> TargetReport:
    """One target's figures in both modes and its outage list."""
    counted, excluded = (
        target_figures(rows, observed, period, with_maintenance=mode) for mode in (True, False)
    )
    lines = tuple(
        _line(o, w, wo)
        for o, w, wo in zip(rows.outages, counted.downtimes, excluded.downtimes, strict=True)
    )
    return TargetReport(
        name=rows.name,
        labels=labels,
        in_config=in_config,
        with_maintenance=_with_longest(counted, lines),
        without_maintenance=_with_longest(excluded, lines),
        outages=lines,
    )


def _with_longest(mode: ModeFigures, lines: Sequence[OutageLine]) -> PeriodFigures:
    if mode.longest is None:
        return mode.figures
    return replace(mode.figures, longest=lines[mode.longest])


def _group(name: str, targets: Sequence[TargetReport]) -> GroupReport:
    ordered = tuple(sorted(targets, key=lambda t: t.name))
    return GroupReport(
        name=name,
        targets=ordered,
        with_maintenance=pool(t.with_maintenance for t in ordered),
        without_maintenance=pool(t.without_maintenance for t in ordered),
    )


def _group_order(name: str) -> tuple[int, str]:
    """Named groups first, then "(no label)", then "(not in config)"."""
    if name == NOT_IN_CONFIG:
        return (2, name)
    return (1 if name.startswith("(no ") else 0, name)


def _by_target(outages: Iterable[Outage]) -> dict[str, list[Outage]]:
    found: dict[str, list[Outage]] = {}
    for outage in outages:
        found.setdefault(outage.target, []).append(outage)
    for rows in found.values():
        rows.sort(key=lambda o: o.start)
    return found


def _maintenance_by_target(
    rows: Iterable[tuple[str, float, float | None]],
) -> dict[str, list[Interval]]:
    raw: dict[str, list[Interval]] = {}
    for target, start, end in rows:
        raw.setdefault(target, []).append((start, math.inf if end is None else end))
    return {target: normalize(periods) for target, periods in raw.items()}


def build_report(
    targets: Mapping[str, Mapping[str, str]],
    rows: PeriodRows,
    period: Period,
    *,
    group_by: GroupBy = GroupBy(),
    count_maintenance: bool = False,
    instance: str = "",
    generated: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    language: str = "en",
) -> Report:
    """The report from the configured targets (name to labels) and the history's rows.

    Every configured target is reported (never observed: no data); a target
    only in the history is reported under :data:`NOT_IN_CONFIG` when it had an
    outage in the period. ``progress(done, total)`` is called per target.
    """
    outages = _by_target(rows.outages)
    maintenance = _maintenance_by_target(rows.maintenance)
    observed = monitor_observed(rows.observation, rows.isolation)
    names = [*targets, *sorted(n for n in outages if n not in targets)]
    members: dict[str, list[TargetReport]] = {}
    for done, name in enumerate(names, 1):
        in_config = name in targets
        history = TargetRows(
            name,
            rows.first_observed.get(name),
            outages.get(name, ()),
            maintenance.get(name, ()),
        )
        report = target_report(
            history, observed, period, labels=targets.get(name, {}), in_config=in_config
        )
        group = group_by.group_of(report.labels) if in_config else NOT_IN_CONFIG
        members.setdefault(group, []).append(report)
        if progress is not None:
            progress(done, len(names))
    groups = tuple(_group(n, members[n]) for n in sorted(members, key=_group_order))
    total = _group("total", [t for g in groups for t in g.targets])
    last = max((end for _, end in rows.observation), default=None)
    return Report(
        period=period,
        instance=instance,
        group_by=group_by,
        count_maintenance=count_maintenance,
        observed_until=last if last is not None and last < period.until else None,
        generated=generated,
        groups=groups,
        total=total,
        not_in_config=tuple(n for n in names if n not in targets),
        incidents=tuple(group_incidents(o for t in total.targets for o in t.outages)),
        language=language,
    )


# --------------------------------------------------------------------------
# The command: configuration, database, progress, output
# --------------------------------------------------------------------------

PROGRESS_ROWS = 50_000
"""Above this many outage rows in the period, the progress bar shows at once."""
PROGRESS_DELAY = 1.0
"""Seconds after which the progress bar shows anyway (a slow disk, a busy database)."""


class Progress:
    """A progress bar on a terminal (stderr), only for a large or slow history.

    Off when the stream is not a terminal, so a redirected or piped run
    prints nothing extra. Redrawn at most every ``interval`` seconds; the
    line is cleared at the end.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool | None = None,
        min_rows: int = PROGRESS_ROWS,
        delay: float = PROGRESS_DELAY,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._enabled = stream.isatty() if enabled is None else enabled
        self._min_rows = min_rows
        self._delay = delay
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._large = False
        self.shown = False

    def rows(self, done: int, total: int) -> None:
        """Outage rows read from the database."""
        self._large = self._large or total > self._min_rows
        self._draw("reading outages", done, total)

    def targets(self, done: int, total: int) -> None:
        """Targets computed."""
        self._draw("computing", done, total)

    def _draw(self, label: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if not (self.shown or self._large or now - self._started >= self._delay):
            return
        if done < total and self._drawn_at is not None and now - self._drawn_at < self._interval:
            return
        self.shown = True
        self._drawn_at = now
        ratio = done / total if total else 1.0
        bar = "#" * round(ratio * 30)
        self._stream.write(f"\r{label:<16} [{bar:<30}] {ratio:4.0%} {done}/{total}\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        if self.shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


@dataclass(frozen=True, slots=True)
class Options:
    """The command line of ``continuity-monitor report``."""

    config: Path
    since: str
    until: str
    state_dir: str | None = None
    group_by: str | None = None
    format: str = "md"
    output: Path | None = None


def _load_config(options: Options) -> Config:
    try:
        config = load_config(options.config)
    except ConfigError as exc:
        raise ReportError(f"invalid configuration {options.config}:\n{exc}") from None
    if options.state_dir:
        # The same override as `run --state-dir`: relative to the config file's folder.
        monitor = config.monitor.model_copy(update={"state_dir": options.state_dir})
        config = replace(config, monitor=monitor)
    if config.monitor.shard:
        # This instance's history holds only its shard's targets (and the canaries).
        config = select(config, parse_shard(config.monitor.shard)).config
    return config


def _read(path: Path, period: Period, progress: Progress) -> PeriodRows:
    try:
        with open_readonly(path) as reader:
            return reader.period_rows(period.since, period.until, progress=progress.rows)
    except StoreError as exc:
        raise ReportError(f"cannot read the history: {exc}") from None
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the history {path}: {exc}") from None


def make_report(options: Options, progress: Progress, *, wall: Callable[[], float]) -> Report:
    """Load the configuration and the history, and compute the report."""
    group_by = parse_group_by(options.group_by)
    config = _load_config(options)
    period = parse_period(options.since, options.until, config.monitor.timezone)
    rows = _read(database_path(config.state_dir), period, progress)
    return build_report(
        {t.name: t.labels for t in config.targets},
        rows,
        period,
        group_by=group_by,
        count_maintenance=config.monitor.count_maintenance,
        instance=config.monitor.instance,
        language=config.monitor.language,
        generated=wall(),
        progress=progress.targets,
    )


def _write(text: str, output: Path | None, stdout: TextIO) -> None:
    if output is None:
        stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {output}: {exc.strerror or exc}") from None


def run(
    options: Options,
    *,
    stdout: TextIO,
    stderr: TextIO,
    wall: Callable[[], float] = time.time,
) -> int:
    """The command: 0 on success; 1 with one message on stderr on an expected failure."""
    progress = Progress(stderr)
    try:
        if options.format not in FORMATS:
            raise ReportError(f"--format: expected one of {', '.join(FORMATS)}")
        try:
            report = make_report(options, progress, wall=wall)
        finally:
            progress.close()
        _write(render(report, options.format), options.output, stdout)
    except ReportError as exc:
        print(f"continuity-monitor: {exc}", file=stderr)
        return 1
    return 0
