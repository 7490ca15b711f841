"""The panel library of the Grafana dashboards: one data source, one grid, shared mappings.

Each ``dash_*.py`` module declares one dashboard: a function per row returns
its :func:`row` title and the panels made by the builders here
(:func:`stat`, :func:`timeseries`, :func:`state_timeline`, :func:`bargauge`,
:func:`table`), each with its ``size=(width, height)`` on Grafana's 24-column
grid; :func:`dashboard` lays them out left to right, rows under rows, and
wraps them with the variables. Adding a panel is one builder call in its row.
``generate.py`` writes the JSON files from them.

Every query goes to the data source ``${DS_PROMETHEUS}``: a data source
variable of that name makes the same file work when provisioned (the
variable picks a Prometheus data source) and when imported (Grafana asks for
the ``__inputs`` entry and puts the chosen one in its place).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def now(expr: str, legend: str = "") -> Q:
    """An instant query: the value at the end of the time range (stats, tables, gauges)."""
    return Q(expr, legend, instant=True)


def now_table(expr: str) -> Q:
    """An instant query whose series become table rows (their labels the columns)."""
    return Q(expr, instant=True, table=True)


Queries = Q | Sequence[Q]


@dataclass(frozen=True)
class Cell:
    """A panel and its size on the grid (:class:`Layout` gives it a place and an id)."""

    json: Json
    w: int
    h: int


@dataclass(frozen=True)
class Row:
    """A row header across the grid; the panels after it are under it."""

    title: str


def row(title: str) -> Row:
    return Row(title)


def _targets(queries: Queries) -> list[Json]:
    out = []
    for index, q in enumerate([queries] if isinstance(queries, Q) else queries):
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
    queries: Queries,
    *,
    size: tuple[int, int],
    description: str = "",
    unit: str | None = None,
    defaults: Json | None = None,
    overrides: Sequence[Json] = (),
    options: Json | None = None,
    **extra: Any,
) -> Cell:
    """A panel of ``kind`` with its queries, ``size`` (width, height) on the grid;
    ``defaults`` merge into the field defaults, ``extra`` into the panel."""
    field_defaults: Json = {}
    if unit is not None:
        field_defaults["unit"] = unit
    field_defaults.update(defaults or {})
    json = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": _targets(queries),
        "fieldConfig": {"defaults": field_defaults, "overrides": list(overrides)},
        "options": options or {},
        **extra,
    }
    return Cell(json, *size)


def stat(
    title: str,
    queries: Queries,
    *,
    mappings: list[Json] | None = None,
    steps: Json | None = None,
    background: bool = False,
    text_mode: str = "auto",
    **kwargs: Any,
) -> Cell:
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
    queries: Queries,
    *,
    bars: bool = False,
    threshold_line: float | None = None,
    **kwargs: Any,
) -> Cell:
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


def state_timeline(title: str, queries: Queries, *, mappings: list[Json], **kwargs: Any) -> Cell:
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


def heatmap(title: str, queries: Queries, **kwargs: Any) -> Cell:
    """Buckets of a Prometheus histogram over time (queries give one series per ``le``)."""
    for q in [queries] if isinstance(queries, Q) else queries:
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
    title: str, queries: Queries, *, steps: Json, minimum: float | None = None, **kwargs: Any
) -> Cell:
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


def table(title: str, queries: Queries, *, transformations: list[Json], **kwargs: Any) -> Cell:
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


def sort_by(field: str, *, desc: bool = False) -> Json:
    return {"id": "sortBy", "options": {"sort": [{"field": field, "desc": desc}]}}


def availability_column(name: str = "Availability") -> Json:
    """A table column of availability ratios: percent, 4 decimals, coloured by the steps."""
    return by_name(
        name,
        ("unit", "percentunit"),
        ("decimals", 4),
        ("custom.cellOptions", {"type": "color-text"}),
        ("thresholds", AVAILABILITY_STEPS),
        ("color", {"mode": "thresholds"}),
    )


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

    def add(self, cell: Cell) -> None:
        """Next to the previous panel, or on a new line when it does not fit."""
        if self.x + cell.w > GRID_WIDTH:
            self._new_line()
        placed = {**cell.json, "gridPos": {"h": cell.h, "w": cell.w, "x": self.x, "y": self.y}}
        placed["id"] = self._next_id()
        self.panels.append(placed)
        self.x += cell.w
        self.line_height = max(self.line_height, cell.h)

    def place(self, items: Iterable[Row | Cell]) -> list[Json]:
        for item in items:
            if isinstance(item, Row):
                self.row(item.title)
            else:
                self.add(item)
        return self.panels


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
    uid: str,
    title: str,
    description: str,
    items: Iterable[Row | Cell],
    variables: list[Json],
) -> Json:
    """The dashboard ``uid`` with ``items`` (rows and panels) laid out in order."""
    panels = Layout().place(items)
    kinds = sorted({p["type"] for p in panels if p["type"] != "row"})
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
        "panels": panels,
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
