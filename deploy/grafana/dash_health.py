"""The Monitor health dashboard: scrapes, config reloads, scheduler, probes and
notification queues of the monitor instances themselves."""

from __future__ import annotations

from panels import (
    UP_DOWN_MAPPING,
    Cell,
    Json,
    Q,
    Row,
    dashboard,
    now,
    query_variable,
    row,
    stat,
    timeseries,
    value_mapping,
)

FILE = "continuity-monitor-health.json"

INST = 'job=~"$job", instance=~"$instance"'
"""The instances the two variables pick."""


def instances() -> list[Row | Cell]:
    return [
        row("Instances"),
        stat(
            "Scrape status",
            now(f"up{{{INST}}}", "{{instance}}"),
            mappings=UP_DOWN_MAPPING,
            background=True,
            text_mode="value_and_name",
            size=(5, 5),
        ),
        stat(
            "Config",
            now(f"continuity_config_last_reload_successful{{{INST}}}", "{{instance}}"),
            mappings=value_mapping([(1, "loaded", "green"), (0, "reload rejected", "red")]),
            background=True,
            text_mode="value_and_name",
            size=(5, 5),
        ),
        stat(
            "Last successful load",
            now(
                "time() - max by (instance) ("
                f"continuity_config_last_reload_success_timestamp_seconds{{{INST}}})",
                "{{instance}}",
            ),
            unit="dtdurations",
            text_mode="value_and_name",
            size=(5, 5),
        ),
        stat(
            "Targets",
            now(f"sum by (instance) (continuity_targets{{{INST}}})", "{{instance}}"),
            text_mode="value_and_name",
            size=(4, 5),
        ),
        stat(
            "Version",
            now(
                f"continuity_build_info{{{INST}}}",
                "{{instance}} {{version}} (Python {{python}})",
            ),
            text_mode="name",
            size=(5, 5),
        ),
    ]


def scheduler() -> list[Row | Cell]:
    lag = (
        "histogram_quantile({q}, sum by (instance, kind, le) "
        "(rate(continuity_scheduler_lag_seconds_bucket{{" + INST + "}}[$__rate_interval])))"
    )
    return [
        row("Scheduler"),
        timeseries(
            "Scheduler lag",
            [
                Q(lag.format(q="0.99"), "p99 {{instance}} {{kind}}"),
                Q(lag.format(q="0.5"), "p50 {{instance}} {{kind}}"),
            ],
            unit="s",
            description="How late check runs start compared with their schedule.",
            size=(12, 7),
        ),
        timeseries(
            "Skipped runs",
            Q(
                "sum by (instance, kind) (increase("
                f"continuity_scheduler_skipped_runs_total{{{INST}}}[$__rate_interval]))",
                "{{instance}} {{kind}}",
            ),
            bars=True,
            defaults={"noValue": "0"},
            description="Runs skipped because the scheduler fell a whole interval behind "
            "(no series until the first skip).",
            size=(12, 7),
        ),
        timeseries(
            "Probes in flight",
            Q(
                f"sum by (instance, kind) (continuity_probes_in_flight{{{INST}}})",
                "{{instance}} {{kind}}",
            ),
            size=(12, 7),
        ),
        timeseries(
            "Check runs per second",
            Q(
                "sum by (instance, kind, result) ("
                f"rate(continuity_check_runs_total{{{INST}}}[$__rate_interval]))",
                "{{instance}} {{kind}} {{result}}",
            ),
            unit="ops",
            size=(12, 7),
        ),
    ]


def scrapes_and_process() -> list[Row | Cell]:
    return [
        row("Scrapes and process"),
        *(
            timeseries(title, Q(expr, "{{instance}}"), unit=unit, size=(6, 7))
            for title, expr, unit in (
                ("Scrape duration", f"scrape_duration_seconds{{{INST}}}", "s"),
                ("Samples per scrape", f"scrape_samples_scraped{{{INST}}}", "short"),
                (
                    "CPU",
                    f"rate(process_cpu_seconds_total{{{INST}}}[$__rate_interval])",
                    "percentunit",
                ),
                ("Resident memory", f"process_resident_memory_bytes{{{INST}}}", "bytes"),
            )
        ),
    ]


def notifications() -> list[Row | Cell]:
    rate = (
        "sum by ({by}) (rate(continuity_notifications_{name}_total{{"
        + INST
        + "}}[$__rate_interval]))"
    )
    return [
        row("Notifications"),
        timeseries(
            "Pending notifications",
            Q(
                f"sum by (instance, channel) (continuity_notifications_pending{{{INST}}})",
                "{{instance}} {{channel}}",
            ),
            size=(8, 7),
        ),
        timeseries(
            "Oldest pending notification",
            Q(
                "max by (instance, channel) ("
                f"continuity_notification_oldest_pending_age_seconds{{{INST}}})",
                "{{instance}} {{channel}}",
            ),
            unit="s",
            threshold_line=600,
            size=(8, 7),
        ),
        timeseries(
            "Deliveries per second",
            [
                Q(rate.format(by="channel", name="sent"), "{{channel}} sent"),
                Q(
                    rate.format(by="channel, kind", name="failed"),
                    "{{channel}} failed ({{kind}})",
                ),
                Q(rate.format(by="channel", name="dead"), "{{channel}} given up"),
            ],
            unit="ops",
            size=(8, 7),
        ),
    ]


def build() -> Json:
    return dashboard(
        "continuity-monitor-health",
        "Continuity / Monitor health",
        "The monitor instances themselves: scrapes, config reloads, scheduler, probes and "
        "notification queues.",
        [*instances(), *scheduler(), *scrapes_and_process(), *notifications()],
        [
            query_variable("job", "Job", "label_values(continuity_build_info, job)"),
            query_variable(
                "instance", "Instance", 'label_values(continuity_build_info{job=~"$job"}, instance)'
            ),
        ],
    )
