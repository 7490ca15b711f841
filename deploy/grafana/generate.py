"""Writes the Grafana dashboards of deploy/grafana/dashboards from this file.

    python deploy/grafana/generate.py           # (re)write the JSON files
    python deploy/grafana/generate.py --check   # exit 1 if a file is not what this writes

The JSON files are the product (import them as they are into Grafana 10 or
later, or provision them with ../provisioning); this file keeps their panels
consistent: one data source reference, one layout grid, the same variables
and value mappings everywhere. Edit here, run it, commit both; the tests
(tests/e2e/test_dashboards.py) fail when the two differ, and run every
panel query of the JSON files against a real Prometheus.

Every query goes to the data source ``${DS_PROMETHEUS}``: a data source
variable of that name makes the same file work when provisioned (the
variable picks a Prometheus data source) and when imported (Grafana asks for
the ``__inputs`` entry and puts the chosen one in its place).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
SCHEMA_VERSION = 39
GRID_WIDTH = 24
DS: dict[str, str] = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
TAGS = ["continuity"]

Json = dict[str, Any]

# -- value mappings and colours --------------------------------------------------

# The codes of the recording rule target:continuity_target_state:code
# (deploy/prometheus/rules/continuity-recording.yml), worst last.
STATE_CODES: tuple[tuple[int, str, str], ...] = (
    (0, "up", "green"),
    (1, "maintenance", "blue"),
    (2, "unknown", "text"),
    (3, "flapping", "orange"),
    (4, "unreachable", "purple"),
    (5, "down", "red"),
)
STATE_COLOURS = {name: colour for _, name, colour in STATE_CODES}


def value_mapping(pairs: Iterable[tuple[int, str, str]]) -> list[Json]:
    options = {
        str(value): {"text": text, "color": colour, "index": index}
        for index, (value, text, colour) in enumerate(pairs)
    }
    return [{"type": "value", "options": options}]


STATE_MAPPING = value_mapping(STATE_CODES)
UP_DOWN_MAPPING = value_mapping([(1, "up", "green"), (0, "down", "red")])
OK_FAILED_MAPPING = value_mapping([(1, "ok", "green"), (0, "failed", "red")])


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Absolute steps from the lowest (``None``) up."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


AVAILABILITY_STEPS = thresholds((None, "red"), (0.99, "orange"), (0.999, "green"))
NEUTRAL_STEPS = thresholds((None, "green"))


def target_link(value: str) -> Json:
    """A data link to the Target dashboard for the target that ``value`` names
    (a Grafana data link variable such as ``${__value.raw}``)."""
    return {
        "title": "Open target",
        "url": f"/d/continuity-target/continuity-target?var-target={value}&${{__url_time_range}}",
    }


# -- queries and panels ------------------------------------------------------------


@dataclass(frozen=True)
class Q:
    """One panel query: PromQL, legend, and how Grafana runs it."""

    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False


def _targets(queries: Sequence[Q]) -> list[Json]:
    out = []
    for index, q in enumerate(queries):
        target: Json = {
            "datasource": DS,
            "editorMode": "code",
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "range": not q.instant,
            "instant": q.instant,
            "refId": chr(ord("A") + index),
        }
        if q.table:
            target["format"] = "table"
        out.append(target)
    return out


def panel(
    kind: str,
    title: str,
    queries: Sequence[Q],
    *,
    description: str = "",
    unit: str | None = None,
    defaults: Json | None = None,
    overrides: Sequence[Json] = (),
    options: Json | None = None,
    **extra: Any,
) -> Json:
    """A panel of ``kind`` with its queries; ``defaults`` merge into the field defaults."""
    field_defaults: Json = {}
    if unit is not None:
        field_defaults["unit"] = unit
    field_defaults.update(defaults or {})
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(queries),
        "fieldConfig": {"defaults": field_defaults, "overrides": list(overrides)},
        "options": options or {},
        **extra,
    }


def stat(
    title: str,
    queries: Sequence[Q],
    *,
    mappings: list[Json] | None = None,
    steps: Json | None = None,
    background: bool = False,
    text_mode: str = "auto",
    **kwargs: Any,
) -> Json:
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "thresholds": steps or NEUTRAL_STEPS,
        "mappings": mappings or [],
        **kwargs.pop("defaults", {}),
    }
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "auto",
        "textMode": text_mode,
        "colorMode": "background" if background else "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "wideLayout": True,
        **kwargs.pop("options", {}),
    }
    return panel("stat", title, queries, defaults=defaults, options=options, **kwargs)


def timeseries(
    title: str,
    queries: Sequence[Q],
    *,
    bars: bool = False,
    threshold_line: float | None = None,
    **kwargs: Any,
) -> Json:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineWidth": 1,
        "fillOpacity": 10,
        "showPoints": "never",
        "spanNulls": False,
        "axisSoftMin": 0,
    }
    defaults: Json = {"color": {"mode": "palette-classic"}, "custom": custom}
    if threshold_line is not None:
        custom["thresholdsStyle"] = {"mode": "line+area"}
        defaults["thresholds"] = thresholds((None, "transparent"), (threshold_line, "red"))
    defaults.update(kwargs.pop("defaults", {}))
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return panel("timeseries", title, queries, defaults=defaults, options=options, **kwargs)


def state_timeline(
    title: str, queries: Sequence[Q], *, mappings: list[Json], **kwargs: Any
) -> Json:
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "thresholds": NEUTRAL_STEPS,
        "mappings": mappings,
        "custom": {"fillOpacity": 80, "lineWidth": 0},
    }
    options = {
        "mergeValues": True,
        "showValue": "auto",
        "alignValue": "left",
        "rowHeight": 0.9,
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
        "tooltip": {"mode": "single", "sort": "none"},
    }
    return panel("state-timeline", title, queries, defaults=defaults, options=options, **kwargs)


def heatmap(title: str, queries: Sequence[Q], **kwargs: Any) -> Json:
    """Buckets of a Prometheus histogram over time (queries give one series per ``le``)."""
    for q in queries:
        if not q.legend:
            raise ValueError("a heatmap query needs the legend {{le}}")
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "scale": "exponential", "exponent": 0.5},
        "yAxis": {"axisPlacement": "left", "unit": "s"},
        "rowsFrame": {"layout": "le"},
        "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": True},
        "legend": {"show": True},
        "cellValues": {},
        "exemplars": {"color": "rgba(255,0,255,0.7)"},
        "filterValues": {"le": 1e-9},
        "showValue": "never",
    }
    return panel("heatmap", title, queries, options=options, **kwargs)


def bargauge(
    title: str, queries: Sequence[Q], *, steps: Json, minimum: float | None = None, **kwargs: Any
) -> Json:
    defaults: Json = {"color": {"mode": "thresholds"}, "thresholds": steps, "decimals": 3}
    if minimum is not None:
        defaults.update(min=minimum, max=1)
    options = {
        "orientation": "horizontal",
        "displayMode": "gradient",
        "valueMode": "color",
        "showUnfilled": True,
        "namePlacement": "left",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
    }
    return panel("bargauge", title, queries, defaults=defaults, options=options, **kwargs)


def table(title: str, queries: Sequence[Q], *, transformations: list[Json], **kwargs: Any) -> Json:
    options = {
        "showHeader": True,
        "cellHeight": "sm",
        "footer": {"show": False, "reducer": ["sum"], "fields": "", "countRows": False},
    }
    defaults: Json = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}}
    defaults.update(kwargs.pop("defaults", {}))
    return panel(
        "table",
        title,
        queries,
        defaults=defaults,
        options=options,
        transformations=transformations,
        **kwargs,
    )


def by_name(name: str, *properties: tuple[str, Any]) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties],
    }


def by_regex(pattern: str, *properties: tuple[str, Any]) -> Json:
    return {
        "matcher": {"id": "byRegexp", "options": pattern},
        "properties": [{"id": key, "value": value} for key, value in properties],
    }


def organize(exclude: Iterable[str] = (), rename: dict[str, str] | None = None) -> Json:
    return {
        "id": "organize",
        "options": {
            "excludeByName": {name: True for name in exclude},
            "indexByName": {},
            "renameByName": rename or {},
        },
    }


# -- layout ----------------------------------------------------------------------------


class Layout:
    """Places panels left to right on Grafana's 24-column grid, rows under rows."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self.x = 0
        self.y = 0
        self.line_height = 0

    def _next_id(self) -> int:
        return len(self.panels) + 1

    def _new_line(self) -> None:
        self.y += self.line_height
        self.x = 0
        self.line_height = 0

    def row(self, title: str) -> None:
        self._new_line()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": self.y},
                "id": self._next_id(),
                "panels": [],
            }
        )
        self.y += 1

    def add(self, panel_json: Json, w: int, h: int) -> None:
        if self.x + w > GRID_WIDTH:
            self._new_line()
        panel_json["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel_json["id"] = self._next_id()
        self.panels.append(panel_json)
        self.x += w
        self.line_height = max(self.line_height, h)


# -- variables -----------------------------------------------------------------------

DATASOURCE_VARIABLE: Json = {
    "name": "DS_PROMETHEUS",
    "label": "Data source",
    "type": "datasource",
    "query": "prometheus",
    "current": {},
    "hide": 0,
    "includeAll": False,
    "multi": False,
    "options": [],
    "refresh": 1,
    "regex": "",
    "skipUrlSync": False,
}


def query_variable(
    name: str, label: str, definition: str, *, multi: bool = True, hide: int = 0
) -> Json:
    """A variable from ``label_values(...)``; multi ones offer All (``.*``, which
    also matches series without the label)."""
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": definition,
        "query": {"query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "hide": hide,
        "includeAll": multi,
        "multi": multi,
        "options": [],
        "skipUrlSync": False,
    }
    if multi:
        variable["allValue"] = ".*"
        variable["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    else:
        variable["current"] = {}
    return variable


def custom_variable(name: str, label: str, values: Sequence[str], default: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "custom",
        "query": ",".join(values),
        "current": {"selected": True, "text": default, "value": default},
        "options": [{"selected": v == default, "text": v, "value": v} for v in values],
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "skipUrlSync": False,
    }


def place_variables(*, target_multi: bool) -> list[Json]:
    """Province, site, operator and target, each narrowed by the ones before."""
    return [
        query_variable("province", "Province", "label_values(continuity_target_state, province)"),
        query_variable(
            "site", "Site", 'label_values(continuity_target_state{province=~"$province"}, site)'
        ),
        query_variable(
            "operator",
            "Operator",
            'label_values(continuity_target_state{province=~"$province", site=~"$site"}, operator)',
        ),
        query_variable(
            "target",
            "Target",
            "label_values(continuity_target_state{"
            'province=~"$province", site=~"$site", operator=~"$operator"}, target)',
            multi=target_multi,
        ),
    ]


WINDOW_VARIABLE = custom_variable(
    "window", "Availability window", ["1h", "24h", "7d", "30d"], "30d"
)


def selector(*matchers: str) -> str:
    return "{" + ", ".join(matchers) + "}"


PLACE = ('province=~"$province"', 'site=~"$site"', 'operator=~"$operator"')
SEL = selector(*PLACE, 'target=~"$target"')
T = 'target="$target"'


# -- dashboards --------------------------------------------------------------------------


def dashboard(
    uid: str, title: str, description: str, layout: Layout, variables: list[Json]
) -> Json:
    kinds = sorted({p["type"] for p in layout.panels if p["type"] != "row"})
    requires = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *({"type": "panel", "id": k, "name": k, "version": ""} for k in kinds),
    ]
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes continuity-monitor",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__elements": {},
        "__requires": requires,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": False,
                "keepTime": True,
                "tags": TAGS,
                "targetBlank": False,
                "title": "Continuity dashboards",
                "type": "dashboards",
            }
        ],
        "liveNow": False,
        "panels": layout.panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": TAGS,
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


def overview() -> Json:
    layout = Layout()
    layout.row("Now")
    layout.add(
        stat(
            "Targets by state",
            [Q(f"sum by (state) (continuity_target_state{SEL})", "{{state}}", instant=True)],
            text_mode="value_and_name",
            overrides=[
                by_name(name, ("color", {"mode": "fixed", "fixedColor": colour}))
                for name, colour in STATE_COLOURS.items()
            ],
            description="Targets in each state (the filters above apply).",
        ),
        10,
        5,
    )
    layout.add(
        stat(
            "Down now",
            [Q(f"count(continuity_target_up{SEL} == 0) or vector(0)", "down", instant=True)],
            steps=thresholds((None, "green"), (1, "red")),
            background=True,
            description="Targets in hard DOWN state. Unreachable ones (behind a failed "
            "parent) are counted under 'Targets by state'.",
        ),
        4,
        5,
    )
    layout.add(
        stat(
            "Notifications pending",
            [
                Q(
                    "sum by (channel) (continuity_notifications_pending)",
                    "{{channel}}",
                    instant=True,
                )
            ],
            steps=thresholds((None, "green"), (1, "orange")),
            text_mode="value_and_name",
            description="Notifications in the outbox not yet delivered, per channel.",
        ),
        5,
        5,
    )
    layout.add(
        stat(
            "Oldest pending notification",
            [
                Q(
                    "max by (channel) (continuity_notification_oldest_pending_age_seconds)",
                    "{{channel}}",
                    instant=True,
                )
            ],
            unit="s",
            steps=thresholds((None, "green"), (60, "orange"), (600, "red")),
            text_mode="value_and_name",
            description="How long the oldest undelivered notification has waited (0 when "
            "the queue is empty).",
        ),
        5,
        5,
    )
    down_or_unreachable = (
        "continuity_target_state"
        + selector(*PLACE, 'target=~"$target"', 'state=~"down|unreachable"')
        + " == 1"
    )
    layout.add(
        table(
            "Active outages",
            [
                Q(
                    "time() - max by (target, province, site, operator, state) ("
                    f"continuity_target_state_since_timestamp_seconds{SEL}"
                    f" * on (target, instance) group_left (state) ({down_or_unreachable}))",
                    instant=True,
                    table=True,
                ),
                Q(
                    "max by (target, check, reason) ("
                    f"continuity_check_failure_info{SEL}"
                    f" * on (target, instance) group_left () ({down_or_unreachable}))",
                    instant=True,
                    table=True,
                ),
            ],
            transformations=[
                {"id": "joinByField", "options": {"byField": "target", "mode": "outer"}},
                organize(
                    exclude=["Time", "Time 1", "Time 2", "Value #B"],
                    rename={
                        "Value #A": "Down for",
                        "check": "Failing check",
                        "reason": "Reason",
                    },
                ),
                {"id": "sortBy", "options": {"sort": [{"field": "Down for", "desc": False}]}},
            ],
            overrides=[
                by_name("Down for", ("unit", "dtdurations")),
                by_name("target", ("links", [target_link("${__value.raw}")])),
            ],
            description="Targets DOWN or UNREACHABLE now, newest first, with the checks "
            "that fail and their reason codes. The full history with causes is in the "
            "daemon's /api/v1/outages.",
        ),
        24,
        8,
    )
    layout.row("Targets by province")
    layout.add(
        stat(
            "$province",
            [
                Q(
                    "max by (site, target) (target:continuity_target_state:code"
                    + selector(*PLACE, 'target=~"$target"')
                    + ")",
                    "{{site}} / {{target}}",
                    instant=True,
                )
            ],
            mappings=STATE_MAPPING,
            background=True,
            text_mode="value_and_name",
            defaults={"links": [target_link("${__field.labels.target}")]},
            options={"minVizWidth": 120, "minVizHeight": 40},
            repeat="province",
            repeatDirection="v",
            description="Every target of the province by site, coloured by state. Needs "
            "the recording rules of deploy/prometheus; targets without a province label "
            "are not in this grid (they are in the counts above).",
        ),
        24,
        6,
    )
    layout.row("Availability")
    for label, title in (("operator", "operator"), ("province", "province")):
        layout.add(
            bargauge(
                f"Availability by {title} (24h and 30d)",
                [
                    Q(
                        f"avg by ({label}, window) (continuity_availability_ratio"
                        + selector(*PLACE, 'target=~"$target"', 'window=~"24h|30d"')
                        + ")",
                        f"{{{{{label}}}}} · {{{{window}}}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                steps=AVAILABILITY_STEPS,
                minimum=0.9,
                description=f"Mean availability of the {title}'s targets, from their "
                "outage history (maintenance and unobserved time left out).",
            ),
            12,
            8,
        )
    layout.add(
        table(
            "Worst 10 targets by availability ($window)",
            [
                Q(
                    "bottomk(10, min by (target, site, province, operator) ("
                    "continuity_availability_ratio"
                    + selector(*PLACE, 'target=~"$target"', 'window="$window"')
                    + "))",
                    instant=True,
                    table=True,
                )
            ],
            transformations=[
                organize(exclude=["Time"], rename={"Value": "Availability"}),
                {"id": "sortBy", "options": {"sort": [{"field": "Availability", "desc": False}]}},
            ],
            overrides=[
                by_name(
                    "Availability",
                    ("unit", "percentunit"),
                    ("decimals", 4),
                    ("custom.cellOptions", {"type": "color-text"}),
                    ("thresholds", AVAILABILITY_STEPS),
                    ("color", {"mode": "thresholds"}),
                ),
                by_name("target", ("links", [target_link("${__value.raw}")])),
            ],
        ),
        24,
        9,
    )
    return dashboard(
        "continuity-overview",
        "Continuity / Overview",
        "What is down right now, where, and availability per operator and province.",
        layout,
        [*place_variables(target_multi=True), WINDOW_VARIABLE],
    )


def target_dashboard() -> Json:
    layout = Layout()
    layout.row("State")
    layout.add(
        stat(
            "State",
            [Q(f"max(target:continuity_target_state:code{{{T}}})", "state", instant=True)],
            mappings=STATE_MAPPING,
            background=True,
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "In this state for",
            [
                Q(
                    f"time() - max(continuity_target_state_since_timestamp_seconds{{{T}}})",
                    "since",
                    instant=True,
                )
            ],
            unit="dtdurations",
            description="A DOWN is dated from the first failed run of the streak.",
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Availability",
            [
                Q(
                    f"max by (window) (continuity_availability_ratio{{{T}}})",
                    "{{window}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=AVAILABILITY_STEPS,
            text_mode="value_and_name",
            defaults={"decimals": 3},
        ),
        10,
        4,
    )
    layout.add(
        stat(
            "MTTR / MTBF (30 days)",
            [
                Q(f"max(continuity_mttr_seconds{{{T}}})", "MTTR", instant=True),
                Q(f"max(continuity_mtbf_seconds{{{T}}})", "MTBF", instant=True),
            ],
            unit="dtdurations",
            text_mode="value_and_name",
            description="Mean time to repair (outages that ended) and between failures "
            "(outages that started) over 30 days; empty until there is an outage.",
        ),
        6,
        4,
    )
    layout.add(
        state_timeline(
            "State over time",
            [Q(f"max(target:continuity_target_state:code{{{T}}})", "state")],
            mappings=STATE_MAPPING,
        ),
        24,
        4,
    )
    layout.add(
        state_timeline(
            "Check results",
            [Q(f"max by (check) (continuity_check_success{{{T}}})", "{{check}}")],
            mappings=OK_FAILED_MAPPING,
        ),
        24,
        5,
    )
    layout.add(
        heatmap(
            "Round-trip time distribution",
            [
                Q(
                    "sum by (le) (increase(continuity_probe_rtt_seconds_bucket"
                    f"{{{T}}}[$__rate_interval]))",
                    "{{le}}",
                )
            ],
            description="How many runs took how long, per time step: echo trains (mean "
            "round trip) and successful checks of every kind of the target "
            "(continuity_probe_rtt_seconds). The same picture as the target page's smoke "
            "graph: a band that widens or climbs is a link getting worse.",
        ),
        24,
        8,
    )
    layout.row("Outages and failures")
    down = f'continuity_target_state{{{T}, state=~"down|unreachable"}} == 1'
    since = (
        "max by (target, state) ("
        f"continuity_target_state_since_timestamp_seconds{{{T}}}"
        f" * on (target, instance) group_left (state) ({down}))"
    )
    # The subquery looks at every evaluation in each step, so that an outage
    # shorter than the step still shows.
    seen = f"max_over_time(({since})[$__interval:])"
    layout.add(
        table(
            "Outages in the time range",
            [
                Q(
                    f'count_values by (target, state) ("start", {seen})'
                    f" * on (target, state) group_left () (time() - {seen})",
                    table=True,
                )
            ],
            transformations=[
                {
                    "id": "groupBy",
                    "options": {
                        "fields": {
                            "start": {"aggregations": [], "operation": "groupby"},
                            "state": {"aggregations": [], "operation": "groupby"},
                            "Time": {"aggregations": ["min", "max"], "operation": "aggregate"},
                            "Value": {"aggregations": ["max"], "operation": "aggregate"},
                        }
                    },
                },
                organize(
                    exclude=["start"],
                    rename={
                        "Time (min)": "Seen from",
                        "Time (max)": "Seen until",
                        "Value (max)": "Duration",
                    },
                ),
                {"id": "sortBy", "options": {"sort": [{"field": "Seen from", "desc": True}]}},
            ],
            overrides=[by_name("Duration", ("unit", "dtdurations"))],
            description="One row per DOWN or UNREACHABLE period seen in the time range "
            "(each has its own start time). Duration counts from the exact start, also "
            "when it began before the range, to the last step it was seen in. Causes and "
            "older outages: the daemon's /api/v1/outages.",
        ),
        12,
        8,
    )
    layout.add(
        stat(
            "Outages and downtime in the time range",
            [
                Q(
                    f"round(max(increase(continuity_outages_total{{{T}}}[$__range])))",
                    "outages",
                    instant=True,
                ),
                Q(
                    f"max(increase(continuity_downtime_seconds_total{{{T}}}[$__range]))",
                    "downtime",
                    instant=True,
                ),
            ],
            text_mode="value_and_name",
            overrides=[by_name("downtime", ("unit", "dtdurations"))],
        ),
        12,
        8,
    )
    layout.add(
        state_timeline(
            "Failure reasons",
            [
                Q(
                    f"max by (check, reason) (continuity_check_failure_info{{{T}}})",
                    "{{check}}: {{reason}}",
                )
            ],
            mappings=value_mapping([(1, "failing", "red")]),
            description="Reason code of each failing check (timeout, refused, loss, "
            "tls_expired, ...); empty while every check succeeds.",
        ),
        12,
        6,
    )
    layout.add(
        timeseries(
            "Check duration",
            [Q(f"max by (check) (continuity_check_duration_seconds{{{T}}})", "{{check}}")],
            unit="s",
        ),
        12,
        6,
    )
    layout.row("Reachability (ICMP)")
    layout.add(
        timeseries(
            "Round-trip time and jitter",
            [
                Q(f"max by (stat) (continuity_icmp_rtt_seconds{{{T}}})", "rtt {{stat}}"),
                Q(f"max(continuity_icmp_jitter_seconds{{{T}}})", "jitter"),
            ],
            unit="s",
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Packet loss",
            [Q(f"max(continuity_icmp_packet_loss_ratio{{{T}}})", "loss")],
            unit="percentunit",
            defaults={"max": 1},
        ),
        12,
        7,
    )
    layout.row("HTTP and TLS")
    layout.add(
        timeseries(
            "HTTP phases",
            [Q(f"max by (phase) (continuity_http_phase_duration_seconds{{{T}}})", "{{phase}}")],
            unit="s",
        ),
        12,
        7,
    )
    layout.add(
        stat(
            "HTTP status",
            [Q(f"max(continuity_http_status_code{{{T}}})", "status", instant=True)],
            steps=thresholds((None, "green"), (300, "orange"), (400, "red")),
            background=True,
        ),
        4,
        7,
    )
    layout.add(
        stat(
            "TLS certificate: days left",
            [
                Q(
                    f"min((continuity_tls_certificate_expiry_timestamp_seconds{{{T}}}"
                    " - time()) / 86400)",
                    "server certificate",
                    instant=True,
                ),
                Q(
                    f"min((continuity_tls_chain_earliest_expiry_timestamp_seconds{{{T}}}"
                    " - time()) / 86400)",
                    "earliest in chain",
                    instant=True,
                ),
            ],
            unit="suffix: days",
            steps=thresholds((None, "red"), (3, "orange"), (14, "green")),
            text_mode="value_and_name",
            defaults={"decimals": 1},
        ),
        8,
        7,
    )
    layout.row("SNMP device")
    layout.add(
        stat(
            "Device uptime",
            [Q(f"max(continuity_snmp_uptime_seconds{{{T}}})", "uptime", instant=True)],
            unit="dtdurations",
        ),
        6,
        6,
    )
    layout.add(
        stat(
            "Reboots in the time range",
            [
                Q(
                    f"round(max(increase(continuity_snmp_reboots_total{{{T}}}[$__range])))",
                    "reboots",
                    instant=True,
                )
            ],
            steps=thresholds((None, "green"), (1, "orange")),
            description="Reboots the monitor detected (sysUpTime going back, or the "
            "SNMPv3 engine boots counter going up).",
        ),
        6,
        6,
    )
    layout.add(
        state_timeline(
            "Interfaces",
            [
                Q(
                    f"max by (interface, alias) (continuity_snmp_interface_up{{{T}}})",
                    "{{interface}} {{alias}}",
                )
            ],
            mappings=UP_DOWN_MAPPING,
        ),
        12,
        6,
    )
    octets = (
        "max by (interface) (rate(continuity_snmp_interface_{}_octets_total{{"
        + T
        + "}}[$__rate_interval])) * 8"
    )
    layout.add(
        timeseries(
            "Interface traffic",
            [
                Q(octets.format("in"), "{{interface}} in"),
                Q(octets.format("out"), "{{interface}} out"),
            ],
            unit="bps",
            overrides=[by_regex(".* out$", ("custom.transform", "negative-Y"))],
            description="Bits per second from the interface octet counters; out is drawn "
            "below the axis.",
        ),
        12,
        7,
    )
    errors = (
        "max by (interface) (rate(continuity_snmp_interface_{}_total{{"
        + T
        + "}}[$__rate_interval]))"
    )
    layout.add(
        timeseries(
            "Interface errors and discards",
            [
                Q(errors.format("in_errors"), "{{interface}} in errors"),
                Q(errors.format("out_errors"), "{{interface}} out errors"),
                Q(errors.format("in_discards"), "{{interface}} in discards"),
                Q(errors.format("out_discards"), "{{interface}} out discards"),
            ],
            unit="pps",
        ),
        12,
        7,
    )
    layout.row("UPS")
    layout.add(
        stat(
            "Power",
            [Q(f"max(continuity_ups_on_battery{{{T}}})", "power", instant=True)],
            mappings=value_mapping([(0, "mains", "green"), (1, "on battery", "red")]),
            background=True,
        ),
        6,
        6,
    )
    layout.add(
        timeseries(
            "Battery runtime left",
            [Q(f"max(continuity_ups_battery_runtime_seconds{{{T}}})", "runtime")],
            unit="s",
        ),
        9,
        6,
    )
    layout.add(
        timeseries(
            "Battery charge",
            [Q(f"max(continuity_ups_battery_charge_ratio{{{T}}})", "charge")],
            unit="percentunit",
            defaults={"max": 1},
        ),
        9,
        6,
    )
    return dashboard(
        "continuity-target",
        "Continuity / Target",
        "One target: state, checks, failures, outages, ICMP, HTTP/TLS, SNMP and UPS figures. "
        "Panels of kinds the target does not have stay empty.",
        layout,
        place_variables(target_multi=False),
    )


def slo_dashboard() -> Json:
    slo = 'slo=~"$slo"'
    layout = Layout()
    layout.row("Error budgets")
    layout.add(
        stat(
            "Error budget remaining",
            [
                Q(
                    f"slo:continuity_slo_error_budget_remaining_ratio:min{{{slo}}}",
                    "{{slo}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=thresholds((None, "red"), (0, "orange"), (0.25, "green")),
            text_mode="value_and_name",
            description="Share of each SLO's error budget left over its window (negative: "
            "overspent). With several instances, the least any of them has left.",
        ),
        12,
        6,
    )
    layout.add(
        bargauge(
            "Burn rate now",
            [
                Q(
                    f"slo_window:continuity_slo_burn_rate:max{{{slo}}}",
                    "{{slo}} · {{window}}",
                    instant=True,
                )
            ],
            steps=thresholds((None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")),
            description="Error ratio over each window divided by the budget: 1 spends the "
            "budget exactly over the SLO window.",
        ),
        8,
        6,
    )
    layout.add(
        stat(
            "Objectives",
            [Q(f"slo:continuity_slo_objective_ratio:max{{{slo}}}", "{{slo}}", instant=True)],
            unit="percentunit",
            text_mode="value_and_name",
            defaults={"decimals": 3},
        ),
        4,
        6,
    )
    layout.add(
        timeseries(
            "Error budget remaining over time",
            [Q(f"slo:continuity_slo_error_budget_remaining_ratio:min{{{slo}}}", "{{slo}}")],
            unit="percentunit",
        ),
        24,
        7,
    )
    layout.row("Burn rates")
    layout.add(
        timeseries(
            "Fast burn: 1h and 5m (alert when both exceed 14.4)",
            [
                Q(
                    f'slo_window:continuity_slo_burn_rate:max{{{slo}, window=~"1h|5m"}}',
                    "{{slo}} {{window}}",
                )
            ],
            threshold_line=14.4,
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Slow burn: 6h and 30m over 6, or 3d over 1",
            [
                Q(
                    f'slo_window:continuity_slo_burn_rate:max{{{slo}, window=~"6h|30m|3d"}}',
                    "{{slo}} {{window}}",
                )
            ],
            threshold_line=6,
        ),
        12,
        7,
    )
    layout.row("Availability for reports ($window)")
    for level, title in (
        ("operator", "Mean availability by operator"),
        ("province", "Mean availability by province"),
    ):
        layout.add(
            bargauge(
                title,
                [
                    Q(
                        f'{level}_window:continuity_availability_ratio:avg{{window="$window"}}',
                        f"{{{{{level}}}}}",
                        instant=True,
                    )
                ],
                unit="percentunit",
                steps=AVAILABILITY_STEPS,
                minimum=0.9,
            ),
            8,
            8,
        )
    layout.add(
        bargauge(
            "Worst target of each operator",
            [
                Q(
                    'operator_window:continuity_availability_ratio:min{window="$window"}',
                    "{{operator}}",
                    instant=True,
                )
            ],
            unit="percentunit",
            steps=AVAILABILITY_STEPS,
            minimum=0.9,
        ),
        8,
        8,
    )
    layout.add(
        table(
            "Mean availability by operator and province",
            [
                Q(
                    'operator_province_window:continuity_availability_ratio:avg{window="$window"}',
                    instant=True,
                    table=True,
                )
            ],
            transformations=[
                organize(exclude=["Time", "window"], rename={"Value": "Availability"}),
                {"id": "sortBy", "options": {"sort": [{"field": "Availability", "desc": False}]}},
            ],
            overrides=[
                by_name(
                    "Availability",
                    ("unit", "percentunit"),
                    ("decimals", 4),
                    ("custom.cellOptions", {"type": "color-text"}),
                    ("thresholds", AVAILABILITY_STEPS),
                    ("color", {"mode": "thresholds"}),
                )
            ],
        ),
        24,
        8,
    )
    return dashboard(
        "continuity-slo",
        "Continuity / SLO and availability",
        "Error budgets and burn rates per SLO; availability per operator and province for "
        "reports. Needs the recording rules of deploy/prometheus.",
        layout,
        [
            query_variable("slo", "SLO", "label_values(continuity_slo_objective_ratio, slo)"),
            WINDOW_VARIABLE,
        ],
    )


def monitor_health() -> Json:
    inst = 'job=~"$job", instance=~"$instance"'
    layout = Layout()
    layout.row("Instances")
    layout.add(
        stat(
            "Scrape status",
            [Q(f"up{{{inst}}}", "{{instance}}", instant=True)],
            mappings=UP_DOWN_MAPPING,
            background=True,
            text_mode="value_and_name",
        ),
        5,
        5,
    )
    layout.add(
        stat(
            "Config",
            [
                Q(
                    f"continuity_config_last_reload_successful{{{inst}}}",
                    "{{instance}}",
                    instant=True,
                )
            ],
            mappings=value_mapping([(1, "loaded", "green"), (0, "reload rejected", "red")]),
            background=True,
            text_mode="value_and_name",
        ),
        5,
        5,
    )
    layout.add(
        stat(
            "Last successful load",
            [
                Q(
                    "time() - max by (instance) ("
                    f"continuity_config_last_reload_success_timestamp_seconds{{{inst}}})",
                    "{{instance}}",
                    instant=True,
                )
            ],
            unit="dtdurations",
            text_mode="value_and_name",
        ),
        5,
        5,
    )
    layout.add(
        stat(
            "Targets",
            [Q(f"sum by (instance) (continuity_targets{{{inst}}})", "{{instance}}", instant=True)],
            text_mode="value_and_name",
        ),
        4,
        5,
    )
    layout.add(
        stat(
            "Version",
            [
                Q(
                    f"continuity_build_info{{{inst}}}",
                    "{{instance}} {{version}} (Python {{python}})",
                    instant=True,
                )
            ],
            text_mode="name",
        ),
        5,
        5,
    )
    layout.row("Scheduler")
    lag = (
        "histogram_quantile({q}, sum by (instance, kind, le) "
        "(rate(continuity_scheduler_lag_seconds_bucket{{" + inst + "}}[$__rate_interval])))"
    )
    layout.add(
        timeseries(
            "Scheduler lag",
            [
                Q(lag.format(q="0.99"), "p99 {{instance}} {{kind}}"),
                Q(lag.format(q="0.5"), "p50 {{instance}} {{kind}}"),
            ],
            unit="s",
            description="How late check runs start compared with their schedule.",
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Skipped runs",
            [
                Q(
                    "sum by (instance, kind) (increase("
                    f"continuity_scheduler_skipped_runs_total{{{inst}}}[$__rate_interval]))",
                    "{{instance}} {{kind}}",
                )
            ],
            bars=True,
            defaults={"noValue": "0"},
            description="Runs skipped because the scheduler fell a whole interval behind "
            "(no series until the first skip).",
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Probes in flight",
            [
                Q(
                    f"sum by (instance, kind) (continuity_probes_in_flight{{{inst}}})",
                    "{{instance}} {{kind}}",
                )
            ],
        ),
        12,
        7,
    )
    layout.add(
        timeseries(
            "Check runs per second",
            [
                Q(
                    "sum by (instance, kind, result) ("
                    f"rate(continuity_check_runs_total{{{inst}}}[$__rate_interval]))",
                    "{{instance}} {{kind}} {{result}}",
                )
            ],
            unit="ops",
        ),
        12,
        7,
    )
    layout.row("Scrapes and process")
    for title, expr, unit in (
        ("Scrape duration", f"scrape_duration_seconds{{{inst}}}", "s"),
        ("Samples per scrape", f"scrape_samples_scraped{{{inst}}}", "short"),
        ("CPU", f"rate(process_cpu_seconds_total{{{inst}}}[$__rate_interval])", "percentunit"),
        ("Resident memory", f"process_resident_memory_bytes{{{inst}}}", "bytes"),
    ):
        layout.add(timeseries(title, [Q(expr, "{{instance}}")], unit=unit), 6, 7)
    layout.row("Notifications")
    layout.add(
        timeseries(
            "Pending notifications",
            [
                Q(
                    f"sum by (instance, channel) (continuity_notifications_pending{{{inst}}})",
                    "{{instance}} {{channel}}",
                )
            ],
        ),
        8,
        7,
    )
    layout.add(
        timeseries(
            "Oldest pending notification",
            [
                Q(
                    "max by (instance, channel) ("
                    f"continuity_notification_oldest_pending_age_seconds{{{inst}}})",
                    "{{instance}} {{channel}}",
                )
            ],
            unit="s",
            threshold_line=600,
        ),
        8,
        7,
    )
    rate = (
        "sum by ({by}) (rate(continuity_notifications_{name}_total{{"
        + inst
        + "}}[$__rate_interval]))"
    )
    layout.add(
        timeseries(
            "Deliveries per second",
            [
                Q(rate.format(by="channel", name="sent"), "{{channel}} sent"),
                Q(rate.format(by="channel, kind", name="failed"), "{{channel}} failed ({{kind}})"),
                Q(rate.format(by="channel", name="dead"), "{{channel}} given up"),
            ],
            unit="ops",
        ),
        8,
        7,
    )
    return dashboard(
        "continuity-monitor-health",
        "Continuity / Monitor health",
        "The monitor instances themselves: scrapes, config reloads, scheduler, probes and "
        "notification queues.",
        layout,
        [
            query_variable("job", "Job", "label_values(continuity_build_info, job)"),
            query_variable(
                "instance", "Instance", 'label_values(continuity_build_info{job=~"$job"}, instance)'
            ),
        ],
    )


DASHBOARDS = {
    "continuity-overview.json": overview,
    "continuity-target.json": target_dashboard,
    "continuity-slo.json": slo_dashboard,
    "continuity-monitor-health.json": monitor_health,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"out of date (run {Path(__file__).name}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
