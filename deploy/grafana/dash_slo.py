"""The SLO and availability dashboard: error budgets, burn rates, and availability
per operator and province for reports."""

from __future__ import annotations

from panels import (
    AVAILABILITY_STEPS,
    WINDOW_VARIABLE,
    Cell,
    Json,
    Q,
    Row,
    availability_column,
    bargauge,
    dashboard,
    now,
    now_table,
    organize,
    query_variable,
    row,
    sort_by,
    stat,
    table,
    thresholds,
    timeseries,
)

FILE = "continuity-slo.json"

SLO = 'slo=~"$slo"'
"""The SLOs the variable picks."""


def error_budgets() -> list[Row | Cell]:
    return [
        row("Error budgets"),
        stat(
            "Error budget remaining",
            now(f"slo:continuity_slo_error_budget_remaining_ratio:min{{{SLO}}}", "{{slo}}"),
            unit="percentunit",
            steps=thresholds((None, "red"), (0, "orange"), (0.25, "green")),
            text_mode="value_and_name",
            description="Share of each SLO's error budget left over its window (negative: "
            "overspent). With several instances, the least any of them has left.",
            size=(12, 6),
        ),
        bargauge(
            "Burn rate now",
            now(
                f"slo_window:continuity_slo_burn_rate:max{{{SLO}}}",
                "{{slo}} · {{window}}",
            ),
            steps=thresholds((None, "green"), (1, "yellow"), (6, "orange"), (14.4, "red")),
            description="Error ratio over each window divided by the budget: 1 spends the "
            "budget exactly over the SLO window.",
            size=(8, 6),
        ),
        stat(
            "Objectives",
            now(f"slo:continuity_slo_objective_ratio:max{{{SLO}}}", "{{slo}}"),
            unit="percentunit",
            text_mode="value_and_name",
            defaults={"decimals": 3},
            size=(4, 6),
        ),
        timeseries(
            "Error budget remaining over time",
            Q(f"slo:continuity_slo_error_budget_remaining_ratio:min{{{SLO}}}", "{{slo}}"),
            unit="percentunit",
            size=(24, 7),
        ),
    ]


def burn_rates() -> list[Row | Cell]:
    return [
        row("Burn rates"),
        timeseries(
            "Fast burn: 1h and 5m (alert when both exceed 14.4)",
            Q(
                f'slo_window:continuity_slo_burn_rate:max{{{SLO}, window=~"1h|5m"}}',
                "{{slo}} {{window}}",
            ),
            threshold_line=14.4,
            size=(12, 7),
        ),
        timeseries(
            "Slow burn: 6h and 30m over 6, or 3d over 1",
            Q(
                f'slo_window:continuity_slo_burn_rate:max{{{SLO}, window=~"6h|30m|3d"}}',
                "{{slo}} {{window}}",
            ),
            threshold_line=6,
            size=(12, 7),
        ),
    ]


def availability_for_reports() -> list[Row | Cell]:
    return [
        row("Availability for reports ($window)"),
        *(
            bargauge(
                title,
                now(
                    f'{level}_window:continuity_availability_ratio:avg{{window="$window"}}',
                    f"{{{{{level}}}}}",
                ),
                unit="percentunit",
                steps=AVAILABILITY_STEPS,
                minimum=0.9,
                size=(8, 8),
            )
            for level, title in (
                ("operator", "Mean availability by operator"),
                ("province", "Mean availability by province"),
            )
        ),
        bargauge(
            "Worst target of each operator",
            now(
                'operator_window:continuity_availability_ratio:min{window="$window"}',
                "{{operator}}",
            ),
            unit="percentunit",
            steps=AVAILABILITY_STEPS,
            minimum=0.9,
            size=(8, 8),
        ),
        table(
            "Mean availability by operator and province",
            now_table(
                'operator_province_window:continuity_availability_ratio:avg{window="$window"}'
            ),
            transformations=[
                organize(exclude=["Time", "window"], rename={"Value": "Availability"}),
                sort_by("Availability"),
            ],
            overrides=[availability_column()],
            size=(24, 8),
        ),
    ]


def build() -> Json:
    return dashboard(
        "continuity-slo",
        "Continuity / SLO and availability",
        "Error budgets and burn rates per SLO; availability per operator and province for "
        "reports. Needs the recording rules of deploy/prometheus.",
        [*error_budgets(), *burn_rates(), *availability_for_reports()],
        [
            query_variable("slo", "SLO", "label_values(continuity_slo_objective_ratio, slo)"),
            WINDOW_VARIABLE,
        ],
    )
