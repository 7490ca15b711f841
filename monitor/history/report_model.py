"""What a report holds: the period, the grouping, outage lines, figures,
incidents and the report itself (frozen dataclasses, no logic beyond sums).

Below :mod:`monitor.history.report` (the computation and the command),
:mod:`monitor.history.report_incidents` (grouping outages by root cause) and
:mod:`monitor.history.report_render` (the formats), which all import it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

NOT_IN_CONFIG = "(not in config)"
"""The group of targets that are in the history but not in the configuration."""
ALL_TARGETS = "all targets"
"""The only group when the report is not grouped."""


@dataclass(frozen=True, slots=True)
class Period:
    """The report's period ``[since, until)`` and the time zone it is shown in."""

    since: float
    until: float
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def seconds(self) -> float:
        return self.until - self.since


@dataclass(frozen=True, slots=True)
class GroupBy:
    """How targets are grouped: by the value of one label, or not at all."""

    label: str | None = None

    def group_of(self, labels: Mapping[str, str]) -> str:
        """The group of a target that is in the configuration."""
        if self.label is None:
            return ALL_TARGETS
        return labels.get(self.label) or f"(no {self.label})"

    def describe(self) -> str | None:
        return None if self.label is None else self.label


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutageLine:
    """One outage as the report lists it, with its downtime inside the period."""

    target: str
    check: str | None
    start: float
    end: float | None
    cause: str
    reason: str
    message: str
    downtime_with_maintenance: float
    """Seconds of downtime inside the period when maintenance is counted."""
    downtime_without_maintenance: float
    """Seconds of downtime inside the period when maintenance is left out."""

    def downtime(self, with_maintenance: bool) -> float:
        if with_maintenance:
            return self.downtime_with_maintenance
        return self.downtime_without_maintenance


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """Sums over one target or a pool of targets, in one maintenance mode.

    Sums rather than ratios so that groups pool by adding (see the module
    docstring); the ratios are properties.
    """

    observed_seconds: float = 0.0
    downtime_seconds: float = 0.0
    outages: int = 0
    """Counted outages that started in the period."""
    repaired: int = 0
    """Counted outages that ended in the period."""
    repair_seconds: float = 0.0
    """Whole downtime of the repaired outages."""
    longest: OutageLine | None = None
    longest_seconds: float = 0.0
    """Downtime of ``longest`` inside the period."""

    @property
    def availability(self) -> float | None:
        if self.observed_seconds <= 0:
            return None
        # Float sums can stray by an ulp past the bounds.
        return min(1.0, max(0.0, 1.0 - self.downtime_seconds / self.observed_seconds))

    @property
    def mttr_seconds(self) -> float | None:
        return self.repair_seconds / self.repaired if self.repaired else None

    @property
    def mtbf_seconds(self) -> float | None:
        if not self.outages:
            return None
        return max(0.0, self.observed_seconds - self.downtime_seconds) / self.outages

    def __add__(self, other: PeriodFigures) -> PeriodFigures:
        longest = self if self.longest_seconds >= other.longest_seconds else other
        return PeriodFigures(
            observed_seconds=self.observed_seconds + other.observed_seconds,
            downtime_seconds=self.downtime_seconds + other.downtime_seconds,
            outages=self.outages + other.outages,
            repaired=self.repaired + other.repaired,
            repair_seconds=self.repair_seconds + other.repair_seconds,
            longest=longest.longest,
            longest_seconds=longest.longest_seconds,
        )


def pool(figures: Iterable[PeriodFigures]) -> PeriodFigures:
    """The pooled figures of several targets (sums; see :class:`PeriodFigures`)."""
    total = PeriodFigures()
    for item in figures:
        total = total + item
    return total


@dataclass(frozen=True, slots=True)
class TargetReport:
    """One target: its figures in both maintenance modes and its outages in the period."""

    name: str
    labels: Mapping[str, str]
    in_config: bool
    with_maintenance: PeriodFigures
    without_maintenance: PeriodFigures
    outages: tuple[OutageLine, ...]

    def figures(self, with_maintenance: bool) -> PeriodFigures:
        return self.with_maintenance if with_maintenance else self.without_maintenance


@dataclass(frozen=True, slots=True)
class GroupReport:
    """A group of targets, sorted by name, and their pooled figures."""

    name: str
    targets: tuple[TargetReport, ...]
    with_maintenance: PeriodFigures
    without_maintenance: PeriodFigures

    def figures(self, with_maintenance: bool) -> PeriodFigures:
        return self.with_maintenance if with_maintenance else self.without_maintenance

    @property
    def outages(self) -> list[OutageLine]:
        """Every listed outage of the group, oldest first."""
        return sorted((o for t in self.targets for o in t.outages), key=_outage_order)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything a renderer shows."""

    period: Period
    instance: str
    group_by: GroupBy
    count_maintenance: bool
    """The mode of downtime, outages, MTTR, MTBF and longest (``[monitor] count_maintenance``)."""
    observed_until: float | None
    """Where the history's observation ends, if inside the period (the monitor may still run)."""
    generated: float
    groups: tuple[GroupReport, ...]
    total: GroupReport
    not_in_config: tuple[str, ...] = field(default=())
    """Targets grouped under :data:`NOT_IN_CONFIG`."""
    incidents: tuple[Incident, ...] = field(default=())
    """Every listed outage, grouped by root cause (:mod:`monitor.history.report_incidents`)."""

    def incident_counts(self, group: GroupReport | None = None) -> IncidentCounts:
        """Counted incidents and affected targets, of a group or (None) of every target."""
        names = None if group is None else {t.name for t in group.targets}
        return count(self.incidents, self.period, self.count_maintenance, names, names)

    language: str = "en"
    """``[monitor] language``: the language of every text people read in the report."""


def _outage_order(line: OutageLine) -> tuple[float, str]:
    return (line.start, line.target)


@dataclass(frozen=True, slots=True)
class Incident:
    """A root cause's outage and the outages it caused, nearest first."""

    root: OutageLine
    consequences: tuple[OutageLine, ...] = ()

    @property
    def start(self) -> float:
        """When it began: the root cause's start (its consequences are dated from it)."""
        return self.root.start

    @property
    def targets(self) -> list[str]:
        """Every affected target, the root cause first, each once."""
        return list(dict.fromkeys([self.root.target, *(c.target for c in self.consequences)]))

    def counts(self, period: Period, with_maintenance: bool) -> bool:
        """Whether it counts in the period (see the module docstring)."""
        if not period.since <= self.root.start < period.until:
            return False
        lines = (self.root, *self.consequences)
        return any(line.downtime(with_maintenance) > 0 for line in lines)


class IncidentCounts(NamedTuple):
    incidents: int
    affected: int


def count(
    incidents: Iterable[Incident],
    period: Period,
    with_maintenance: bool,
    roots_in: Collection[str] | None = None,
    affected_in: Collection[str] | None = None,
) -> IncidentCounts:
    """Counted incidents (rooted in ``roots_in``) and their affected targets (in ``affected_in``).

    ``None`` means every target: the report's total. A group counts the
    incidents whose root cause is one of its targets, and its own targets
    among those affected by any counted incident.
    """
    counted = [i for i in incidents if i.counts(period, with_maintenance)]
    rooted = [i for i in counted if roots_in is None or i.root.target in roots_in]
    affected = {
        target
        for incident in counted
        for target in incident.targets
        if affected_in is None or target in affected_in
    }
    return IncidentCounts(len(rooted), len(affected))
