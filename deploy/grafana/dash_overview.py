"""The Overview dashboard: what is down right now, where, and availability per
operator and province."""

from __future__ import annotations

from panels import (
    AVAILABILITY_STEPS,
    PLACE,
    SEL,
    STATE_COLOURS,
    STATE_MAPPING,
    WINDOW_VARIABLE,
    Cell,
    Json,
    Row,
    availability_column,
    bargauge,
    by_name,
    dashboard,
    now,
    now_table,
    organize,
    place_variables,
    row,
    selector,
    sort_by,
    stat,
    table,
    target_link,
    thresholds,
)

FILE = "continuity-overview.json"


def now_down() -> list[Row | Cell]:
    down_or_unreachable = (
        "continuity_target_state"
        + selector(*PLACE, 'target=~"$target"', 'state=~"down|unreachable"')
        + " == 1"
    )
    return [
        row("Now"),
        stat(
            "Targets by state",
            now(f"sum by (state) (continuity_target_state{SEL})", "{{state}}"),
            text_mode="value_and_name",
            overrides=[
                by_name(name, ("color", {"mode": "fixed", "fixedColor": colour}))
                for name, colour in STATE_COLOURS.items()
            ],
            description="Targets in each state (the filters above apply).",
            size=(10, 5),
        ),
        stat(
            "Down now",
            now(f"count(continuity_target_up{SEL} == 0) or vector(0)", "down"),
            steps=thresholds((None, "green"), (1, "red")),
            background=True,
            description="Targets in hard DOWN state. Unreachable ones (behind a failed "
            "parent) are counted under 'Targets by state'.",
            size=(4, 5),
        ),
        stat(
            "Notifications pending",
            now("sum by (channel) (continuity_notifications_pending)", "{{channel}}"),
            steps=thresholds((None, "green"), (1, "orange")),
            text_mode="value_and_name",
            description="Notifications in the outbox not yet delivered, per channel.",
            size=(5, 5),
        ),
        stat(
            "Oldest pending notification",
            now(
                "max by (channel) (continuity_notification_oldest_pending_age_seconds)",
                "{{channel}}",
            ),
            unit="s",
            steps=thresholds((None, "green"), (60, "orange"), (600, "red")),
            text_mode="value_and_name",
            description="How long the oldest undelivered notification has waited (0 when "
            "the queue is empty).",
            size=(5, 5),
        ),
        table(
            "Active outages",
            [
                now_table(
                    "time() - max by (target, province, site, operator, state) ("
                    f"continuity_target_state_since_timestamp_seconds{SEL}"
                    f" * on (target, instance) group_left (state) ({down_or_unreachable}))"
                ),
                now_table(
                    "max by (target, check, reason) ("
                    f"continuity_check_failure_info{SEL}"
                    f" * on (target, instance) group_left () ({down_or_unreachable}))"
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
                sort_by("Down for"),
            ],
            overrides=[
                by_name("Down for", ("unit", "dtdurations")),
                by_name("target", ("links", [target_link("${__value.raw}")])),
            ],
            description="Targets DOWN or UNREACHABLE now, newest first, with the checks "
            "that fail and their reason codes. The full history with causes is in the "
            "daemon's /api/v1/outages.",
            size=(24, 8),
        ),
    ]


def by_province() -> list[Row | Cell]:
    return [
        row("Targets by province"),
        stat(
            "$province",
            now(
                "max by (site, target) (target:continuity_target_state:code"
                + selector(*PLACE, 'target=~"$target"')
                + ")",
                "{{site}} / {{target}}",
            ),
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
            size=(24, 6),
        ),
    ]


def availability() -> list[Row | Cell]:
    return [
        row("Availability"),
        *(
            bargauge(
                f"Availability by {title} (24h and 30d)",
                now(
                    f"avg by ({label}, window) (continuity_availability_ratio"
                    + selector(*PLACE, 'target=~"$target"', 'window=~"24h|30d"')
                    + ")",
                    f"{{{{{label}}}}} · {{{{window}}}}",
                ),
                unit="percentunit",
                steps=AVAILABILITY_STEPS,
                minimum=0.9,
                description=f"Mean availability of the {title}'s targets, from their "
                "outage history (maintenance and unobserved time left out).",
                size=(12, 8),
            )
            for label, title in (("operator", "operator"), ("province", "province"))
        ),
        table(
            "Worst 10 targets by availability ($window)",
            now_table(
                "bottomk(10, min by (target, site, province, operator) ("
                "continuity_availability_ratio"
                + selector(*PLACE, 'target=~"$target"', 'window="$window"')
                + "))"
            ),
            transformations=[
                organize(exclude=["Time"], rename={"Value": "Availability"}),
                sort_by("Availability"),
            ],
            overrides=[
                availability_column(),
                by_name("target", ("links", [target_link("${__value.raw}")])),
            ],
            size=(24, 9),
        ),
    ]


def build() -> Json:
    return dashboard(
        "continuity-overview",
        "Continuity / Overview",
        "What is down right now, where, and availability per operator and province.",
        [*now_down(), *by_province(), *availability()],
        [*place_variables(target_multi=True), WINDOW_VARIABLE],
    )
