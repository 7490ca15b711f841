"""The availability report as Markdown, CSV, HTML or JSON.

Formatting only: the figures come from :mod:`monitor.history.report`. Times are shown
in the report's time zone (``[monitor] timezone``), except in JSON where they
are RFC 3339 in UTC like the API's. HTML goes through an autoescaping Jinja2
template (``templates/report.html.j2``) with an inline SVG bar chart per group
(no JavaScript) and print styles for A4; JSON through ``json.dumps``; CSV
through the ``csv`` module (one row per group and per target, figures only:
the outage list is in the other forms).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from monitor.history.report_model import (
    GroupReport,
    Incident,
    OutageLine,
    PeriodFigures,
    Report,
    TargetReport,
)
from monitor.i18n import cause_words, detail_words, reason_word, texts
from monitor.web.api import rfc3339

TEMPLATES = Path(__file__).parent.parent / "templates"
CHART_TARGETS = 25
"""Most targets in one group's chart (the least available ones)."""


def render(report: Report, fmt: str) -> str:
    """The report in ``fmt`` (md, csv, html, json)."""
    renderers: dict[str, Callable[[Report], str]] = {
        "md": markdown,
        "csv": csv_text,
        "html": html,
        "json": json_text,
    }
    return renderers[fmt](report)


# --------------------------------------------------------------------------
# Numbers and times for people
# --------------------------------------------------------------------------


def duration(seconds: float | None, language: str = "en") -> str:
    """``3h 07m 12s``, ``2d 04h 10m``: at most three units, the largest first."""
    if seconds is None:
        return "-"
    t = texts(language)
    total = round(seconds)
    if total < 60:
        return t["report.span.s"].format(s=total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return t["report.span.dhm"].format(d=days, h=hours, m=minutes)
    if hours:
        return t["report.span.hms"].format(h=hours, m=minutes, s=secs)
    return t["report.span.ms"].format(m=minutes, s=secs)


def words(report: Report) -> Mapping[str, str]:
    """The report's texts in ``[monitor] language``."""
    return texts(report.language)


def percent(ratio: float | None, no_data: str = "no data", language: str = "en") -> str:
    """``99.953%``, truncated rather than rounded so that only 1.0 shows as 100.000%.

    Vietnamese writes the decimal comma (``99,953%``)."""
    if ratio is None:
        return no_data
    # The small epsilon keeps float noise (0.99995 stored as 0.999949999...) from losing a digit.
    text = f"{math.floor(ratio * 100_000 + 1e-6) / 1000:.3f}%"
    return text.replace(".", ",") if language == "vi" else text


def _decimal(text: str, report: Report) -> str:
    """A figure with the report language's decimal mark (Vietnamese writes ``99,5``)."""
    return text.replace(".", ",") if report.language == "vi" else text


def when(timestamp: float | None, zone: ZoneInfo) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, zone).strftime("%Y-%m-%d %H:%M:%S")


def maintenance_mode(report: Report) -> str:
    """Which mode the downtime columns use, in words."""
    t = words(report)
    return t["report.mode.counted" if report.count_maintenance else "report.mode.excluded"]


def outage_notes(line: OutageLine, report: Report) -> list[str]:
    """What a reader needs to know about an outage besides its times."""
    period = report.period
    t = words(report)
    notes: list[str] = []
    if line.start < period.since:
        notes.append(t["report.note.before"])
    if line.end is None:
        notes.append(t["report.note.open"])
    elif line.end > period.until:
        notes.append(t["report.note.after"])
    counted = line.downtime(report.count_maintenance)
    in_maintenance = line.downtime_with_maintenance - line.downtime_without_maintenance
    # The span inside the period as far as the history reaches, against what was observed.
    reach = period.until if report.observed_until is None else report.observed_until
    end = min(period.until, reach, math.inf if line.end is None else line.end)
    unobserved = max(0.0, end - max(line.start, period.since)) - line.downtime_with_maintenance
    if line.downtime_with_maintenance <= 0:
        notes.append(t["report.note.unobserved_all"])
    elif counted <= 0:
        notes.append(t["report.note.maintenance_all"])
    else:
        if in_maintenance > 0 and not report.count_maintenance:
            notes.append(
                t["report.note.in_maintenance"].format(
                    duration=duration(in_maintenance, report.language)
                )
            )
        if unobserved >= 0.5:  # what rounds to 0s is float noise
            notes.append(
                t["report.note.unobserved"].format(duration=duration(unobserved, report.language))
            )
    return notes


def longest_parts(
    figures: PeriodFigures, zone: ZoneInfo, *, with_target: bool, language: str = "en"
) -> tuple[str, str, str]:
    """The longest outage's downtime, its target (if asked for) and its start."""
    line = figures.longest
    if line is None:
        return ("-", "", "")
    target = line.target if with_target else ""
    return (duration(figures.longest_seconds, language), target, when(line.start, zone))


def longest_text(
    figures: PeriodFigures, zone: ZoneInfo, *, with_target: bool, language: str = "en"
) -> str:
    length, target, start = longest_parts(figures, zone, with_target=with_target, language=language)
    if not start:
        return length
    return f"{length} ({target}, {start})" if target else f"{length} ({start})"


def notice_not_in_config(report: Report) -> str | None:
    count = len(report.not_in_config)
    if not count:
        return None
    t = words(report)
    return t["report.notice.one" if count == 1 else "report.notice.many"].format(count=count)


DEFINITION_KEYS = (
    "observed",
    "downtime",
    "availability",
    "outages",
    "mttr",
    "mtbf",
    "longest",
    "incident",
)


def definitions(report: Report) -> list[str]:
    t = words(report)
    return [t[f"report.def.{key}"] for key in DEFINITION_KEYS]


def group_name(report: Report, name: str) -> str:
    """A group as people read it: ``(no province)`` and ``(not in config)`` in words."""
    t = words(report)
    if name == "(not in config)":
        return t["report.not_in_config"]
    if (
        name == "all targets"
    ):  # monitor.history.report_model.ALL_TARGETS (which imports this module)
        return t["report.all_targets"]
    if name.startswith("(no ") and name.endswith(")"):
        return t["report.no_label"].format(label=name[4:-1])
    return name


def reason_text(report: Report, code: str) -> str:
    """A reason code in words (the code itself is in the JSON and CSV forms)."""
    return reason_word(code, words(report)) if code else ""


def cause_text(report: Report, cause: str) -> str:
    """An outage's cause in words (``check:icmp`` as the failed checks)."""
    return cause_words(cause, words(report))


def message_text(report: Report, message: str) -> str:
    """A check's message in the report's language (as written when no pattern knows it)."""
    return detail_words(message, words(report))


# --------------------------------------------------------------------------
# Incidents (shared by the forms)
# --------------------------------------------------------------------------


def incidents_text(report: Report, group: GroupReport | None = None) -> str:
    """``1 incident, 6 targets affected``, in the report's language."""
    t = words(report)
    counted = report.incident_counts(group)
    incidents = t["report.incident_one" if counted.incidents == 1 else "report.incident_many"]
    affected = t["report.affected_one" if counted.affected == 1 else "report.affected_many"]
    return (
        incidents.format(count=counted.incidents) + ", " + affected.format(count=counted.affected)
    )


def incident_title(incident: Incident, report: Report) -> str:
    """``dp-rtr (check:icmp): 5 targets behind it unreachable``."""
    t = words(report)
    root, behind = incident.root, len(incident.targets) - 1
    text = f"{root.target} ({cause_text(report, root.cause)})"
    if behind:
        text += ": " + t["report.behind_one" if behind == 1 else "report.behind_many"].format(
            count=behind
        )
    if not incident.counts(report.period, report.count_maintenance):
        before = root.start < report.period.since
        text += " [" + t["report.not_counted_before" if before else "report.not_counted_downtime"]
        text += "]"
    return text


def consequence_text(line: OutageLine, report: Report) -> str:
    """A consequence under its incident: its cause, end and downtime in the period."""
    t = words(report)
    zone = report.period.zone
    end = when(line.end, zone) if line.end is not None else t["report.open"]
    downtime = duration(line.downtime(report.count_maintenance), report.language)
    return t["report.consequence_line"].format(
        target=line.target, cause=cause_text(report, line.cause), end=end, downtime=downtime
    )


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------

_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\|*`<>[]"} | {"\n": " ", "\r": " "})


def _md(text: str) -> str:
    """A table cell: pipes, newlines and markup characters made literal."""
    return text.translate(_MD_SPECIAL)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows)
    return lines


FIGURE_KEYS = (
    "avail_without",
    "avail_with",
    "outages",
    "downtime",
    "mttr",
    "mtbf",
    "longest",
)


def figure_header(report: Report) -> tuple[str, ...]:
    t = words(report)
    return tuple(t[f"report.col.{key}"] for key in FIGURE_KEYS)


def _figure_cells(
    report: Report, item: GroupReport | TargetReport, *, with_target: bool
) -> list[str]:
    main = item.figures(report.count_maintenance)
    no_data = words(report)["report.no_data"]
    return [
        percent(item.without_maintenance.availability, no_data, report.language),
        percent(item.with_maintenance.availability, no_data, report.language),
        str(main.outages),
        duration(main.downtime_seconds, report.language),
        duration(main.mttr_seconds, report.language),
        duration(main.mtbf_seconds, report.language),
        longest_text(main, report.period.zone, with_target=with_target, language=report.language),
    ]


def _md_heading(report: Report) -> list[str]:
    zone = report.period.zone
    period = report.period
    t = words(report)
    since, until = when(period.since, zone), when(period.until, zone)
    length = duration(period.seconds, report.language)
    lines = [
        "# " + t["report.title_period"].format(since=since, until=until),
        "",
        f"- {t['report.instance']}: {_md(report.instance)}",
        f"- {t['report.period']}: [{since}, {until}) {period.timezone}, {length}",
        f"- {t['report.grouped_by']}: {report.group_by.describe() or t['report.no_grouping']}",
    ]
    if report.observed_until is not None:
        lines.append(f"- {t['report.observed_until']}: {when(report.observed_until, zone)}")
    lines += [
        f"- {t['report.mode_label']}: {maintenance_mode(report)}",
        f"- {t['report.generated']}: {when(report.generated, zone)}",
    ]
    notice = notice_not_in_config(report)
    if notice:
        lines += ["", f"> {t['report.note']}: {notice}"]
    return lines


def _md_group(report: Report, group: GroupReport) -> list[str]:
    zone = report.period.zone
    t = words(report)
    shown = _md(group_name(report, group.name))
    lines = ["", f"## {shown}", ""]
    lines += _md_table(
        (t["report.target"], t["report.observed"], *figure_header(report)),
        (
            [
                t.name,
                duration(t.figures(report.count_maintenance).observed_seconds, report.language),
                *_figure_cells(report, t, with_target=False),
            ]
            for t in group.targets
        ),
    )
    outages = group.outages
    lines += ["", "### " + t["report.outages_of"].format(group=shown), ""]
    if not outages:
        return [*lines, t["report.none"]]
    lines += _md_table(
        tuple(
            t[f"report.{key}"]
            for key in (
                "target",
                "start",
                "end",
                "downtime_in_period",
                "check",
                "cause",
                "reason",
                "message",
                "notes",
            )
        ),
        (
            [
                o.target,
                when(o.start, zone),
                when(o.end, zone) if o.end is not None else t["report.open"],
                duration(o.downtime(report.count_maintenance), report.language),
                o.check or "-",
                cause_text(report, o.cause),
                reason_text(report, o.reason),
                message_text(report, o.message),
                "; ".join(outage_notes(o, report)),
            ]
            for o in outages
        ),
    )
    return lines


def incident_header(report: Report) -> tuple[str, str]:
    t = words(report)
    return t["report.col.incidents"], t["report.col.affected"]


def _md_incidents(report: Report) -> list[str]:
    """Each incident on a line, its consequences listed under it."""
    zone = report.period.zone
    lines = [
        "",
        "## " + words(report)["report.col.incidents"],
        "",
        incidents_text(report) + ".",
        "",
    ]
    t = words(report)
    if not report.incidents:
        return [*lines, t["report.none"]]
    for incident in report.incidents:
        root_end = incident.root.end
        end = when(root_end, zone) if root_end is not None else t["report.open"]
        span = t["report.from_to"].format(start=when(incident.start, zone), end=end)
        lines.append(f"- {span}: {_md(incident_title(incident, report))}")
        lines += [f"  - {_md(consequence_text(c, report))}" for c in incident.consequences]
    return lines


def markdown(report: Report) -> str:
    lines = _md_heading(report)
    t = words(report)
    lines += ["", "## " + t["report.summary"], ""]
    rows = [
        [
            group_name(report, g.name),
            str(len(g.targets)),
            *map(str, report.incident_counts(g)),
            *_figure_cells(report, g, with_target=True),
        ]
        for g in report.groups
    ]
    rows.append(
        [
            t["report.total"],
            str(len(report.total.targets)),
            *map(str, report.incident_counts()),
            *_figure_cells(report, report.total, with_target=True),
        ]
    )
    header = (t["report.group"], t["report.targets"], *incident_header(report))
    lines += _md_table((*header, *figure_header(report)), rows)
    lines += _md_incidents(report)
    for group in report.groups:
        lines += _md_group(report, group)
    lines += ["", "## " + t["report.definitions"], ""]
    lines += [f"- {text}" for text in definitions(report)]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------

CSV_COLUMNS = (
    "row",
    "group",
    "target",
    "in_config",
    "observed_seconds",
    "availability_without_maintenance",
    "availability_with_maintenance",
    "outages",
    "downtime_seconds",
    "mttr_seconds",
    "mtbf_seconds",
    "longest_outage_seconds",
    "longest_outage_target",
    "longest_outage_start",
    "incidents",
    "affected_targets",
)


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _csv_row(
    report: Report,
    kind: str,
    group: str,
    item: GroupReport | TargetReport,
    incidents: Sequence[int] = (),
) -> list[str]:
    """``incidents``: counted incidents and affected targets (groups and the total)."""
    main = item.figures(report.count_maintenance)
    in_config = getattr(item, "in_config", None)
    longest = main.longest
    return [
        kind,
        group,
        item.name if kind == "target" else "",
        "" if in_config is None else str(in_config).lower(),
        _number(main.observed_seconds),
        _number(item.without_maintenance.availability),
        _number(item.with_maintenance.availability),
        str(main.outages),
        _number(main.downtime_seconds),
        _number(main.mttr_seconds),
        _number(main.mtbf_seconds),
        _number(main.longest_seconds) if longest else "",
        longest.target if longest else "",
        datetime.fromtimestamp(longest.start, report.period.zone).isoformat() if longest else "",
        *([str(n) for n in incidents] or ["", ""]),
    ]


def csv_text(report: Report) -> str:
    """One row per group and per target, then the total; seconds and ratios as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for group in report.groups:
        counted = report.incident_counts(group)
        writer.writerow(_csv_row(report, "group", group.name, group, counted))
        for target in group.targets:
            writer.writerow(_csv_row(report, "target", group.name, target))
    writer.writerow(_csv_row(report, "total", "", report.total, report.incident_counts()))
    return out.getvalue()


# --------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------


def _outage_json(line: OutageLine, report: Report) -> dict[str, Any]:
    return {
        "target": line.target,
        "check": line.check,
        "start": rfc3339(line.start),
        "end": rfc3339(line.end),
        "cause": line.cause,
        "reason": line.reason,
        "message": line.message,
        "downtime_with_maintenance_seconds": line.downtime_with_maintenance,
        "downtime_without_maintenance_seconds": line.downtime_without_maintenance,
        "notes": outage_notes(line, report),
    }


def _figures_json(figures: PeriodFigures) -> dict[str, Any]:
    longest = figures.longest
    return {
        "observed_seconds": figures.observed_seconds,
        "downtime_seconds": figures.downtime_seconds,
        "availability_ratio": figures.availability,
        "outages": figures.outages,
        "mttr_seconds": figures.mttr_seconds,
        "mtbf_seconds": figures.mtbf_seconds,
        "longest_outage": None
        if longest is None
        else {
            "target": longest.target,
            "start": rfc3339(longest.start),
            "downtime_seconds": figures.longest_seconds,
        },
    }


def _both_json(item: GroupReport | TargetReport) -> dict[str, Any]:
    return {
        "with_maintenance": _figures_json(item.with_maintenance),
        "without_maintenance": _figures_json(item.without_maintenance),
    }


def _target_json(target: TargetReport, report: Report) -> dict[str, Any]:
    return {
        "name": target.name,
        "labels": dict(target.labels),
        "in_config": target.in_config,
        "figures": _both_json(target),
        "outages": [_outage_json(o, report) for o in target.outages],
    }


def _counts_json(counted: tuple[int, int]) -> dict[str, int]:
    return {"incidents_counted": counted[0], "affected_targets": counted[1]}


def _incident_json(incident: Incident, report: Report) -> dict[str, Any]:
    """An incident: its root cause's outage and its consequences, dated from the root's start."""
    return {
        "start": rfc3339(incident.start),
        "root_cause": _outage_json(incident.root, report),
        "affected_targets": incident.targets,
        "counted": incident.counts(report.period, report.count_maintenance),
        "consequences": [
            {
                **_outage_json(c, report),
                "start": rfc3339(incident.start),
                "recorded_start": rfc3339(c.start),
            }
            for c in incident.consequences
        ],
    }


def json_text(report: Report) -> str:
    """Both maintenance modes in full; times RFC 3339 UTC; seconds and ratios unrounded."""
    document = {
        "instance": report.instance,
        "since": rfc3339(report.period.since),
        "until": rfc3339(report.period.until),
        "timezone": report.period.timezone,
        "generated": rfc3339(report.generated),
        "history_observed_until": rfc3339(report.observed_until),
        "group_by": report.group_by.describe(),
        "count_maintenance": report.count_maintenance,
        "not_in_config": list(report.not_in_config),
        "total": _both_json(report.total),
        **_counts_json(report.incident_counts()),
        "incidents": [_incident_json(i, report) for i in report.incidents],
        "groups": [
            {
                "name": g.name,
                "figures": _both_json(g),
                **_counts_json(report.incident_counts(g)),
                "targets": [_target_json(t, report) for t in g.targets],
            }
            for g in report.groups
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a chart, in SVG user units."""

    label: str
    title: str
    y: float
    width: float | None
    """None: no data."""
    value: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar chart of availability, drawn by the template as SVG."""

    bars: tuple[Bar, ...]
    ticks: tuple[tuple[float, str], ...]
    """(x, label) of the axis ticks."""
    caption: str
    height: float
    width: float = 720
    label_width: float = 190
    plot_width: float = 440
    row: float = 18
    top: float = 4


AXIS_FLOORS = (0.999, 0.99, 0.9, 0.0)
"""Where the axis may begin: the highest one below every bar, so small differences show."""


def _axis_floor(values: Iterable[float]) -> float:
    lowest = min(values, default=1.0)
    return next(f for f in AXIS_FLOORS if f < lowest or f == 0.0)


def _short(name: str, limit: int = 28) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def chart(report: Report, group: GroupReport) -> Chart:
    """The group's targets by availability, least available first (at most CHART_TARGETS)."""
    mode = report.count_maintenance
    words_ = words(report)

    def key(t: TargetReport) -> tuple[float, str]:
        ratio = t.figures(mode).availability
        return (2.0 if ratio is None else ratio, t.name)

    shown = sorted(group.targets, key=key)[:CHART_TARGETS]
    floor = _axis_floor(r for t in shown if (r := t.figures(mode).availability) is not None)
    base = Chart((), (), "", 0)
    bars = []
    for i, target in enumerate(shown):
        ratio = target.figures(mode).availability
        width = None if ratio is None else (ratio - floor) / (1.0 - floor) * base.plot_width
        bars.append(
            Bar(
                _short(target.name),
                target.name,
                base.top + i * base.row,
                width,
                percent(ratio, words_["report.no_data"], report.language),
            )
        )
    ticks = tuple(
        (base.plot_width * k / 4, _decimal(f"{(floor + (1.0 - floor) * k / 4) * 100:g}%", report))
        for k in range(5)
    )
    what = words_["report.chart.counted" if mode else "report.chart.excluded"]
    caption = words_["report.chart.caption"].format(
        what=what, floor=_decimal(f"{floor * 100:g}", report)
    )
    if len(group.targets) > len(shown):
        caption += words_["report.chart.least"].format(shown=len(shown), total=len(group.targets))
    height = base.top + len(shown) * base.row + 22
    return Chart(tuple(bars), ticks, caption, height)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def html(report: Report) -> str:
    zone = report.period.zone
    template = _environment().get_template("report.html.j2")
    return template.render(
        report=report,
        zone=zone,
        charts={g.name: chart(report, g) for g in report.groups},
        notice=notice_not_in_config(report),
        mode=maintenance_mode(report),
        definitions=definitions(report),
        figure_header=figure_header(report),
        t=words(report),
        lang=report.language,
        reason=lambda code: reason_text(report, code),
        cause=lambda text: cause_text(report, text),
        message=lambda text: message_text(report, text),
        group_name=lambda name: group_name(report, name),
        numbers=lambda item: _figure_cells(report, item, with_target=False)[:-1],
        longest=lambda item, with_target: longest_parts(
            item.figures(report.count_maintenance),
            zone,
            with_target=with_target,
            language=report.language,
        ),
        when=lambda ts: when(ts, zone),
        duration=lambda seconds: duration(seconds, report.language),
        notes=lambda line: outage_notes(line, report),
        incident_counts=report.incident_counts,
        incidents_text=incidents_text(report),
        incident_title=lambda incident: incident_title(incident, report),
        consequence_text=lambda line: consequence_text(line, report),
    )
