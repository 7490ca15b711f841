"""The Target dashboard: one target's state, checks, failures, outages, ICMP,
HTTP/TLS, SNMP and UPS figures."""

from __future__ import annotations

from panels import (
    AVAILABILITY_STEPS,
    OK_FAILED_MAPPING,
    STATE_MAPPING,
    UP_DOWN_MAPPING,
    Cell,
    Json,
    Q,
    Row,
    T,
    by_name,
    by_regex,
    dashboard,
    heatmap,
    now,
    organize,
    place_variables,
    row,
    sort_by,
    stat,
    state_timeline,
    table,
    thresholds,
    timeseries,
    value_mapping,
)

FILE = "continuity-target.json"


def state() -> list[Row | Cell]:
    return [
        row("State"),
        stat(
            "State",
            now(f"max(target:continuity_target_state:code{{{T}}})", "state"),
            mappings=STATE_MAPPING,
            background=True,
            size=(4, 4),
        ),
        stat(
            "In this state for",
            now(f"time() - max(continuity_target_state_since_timestamp_seconds{{{T}}})", "since"),
            unit="dtdurations",
            description="A DOWN is dated from the first failed run of the streak.",
            size=(4, 4),
        ),
        stat(
            "Availability",
            now(f"max by (window) (continuity_availability_ratio{{{T}}})", "{{window}}"),
            unit="percentunit",
            steps=AVAILABILITY_STEPS,
            text_mode="value_and_name",
            defaults={"decimals": 3},
            size=(10, 4),
        ),
        stat(
            "MTTR / MTBF (30 days)",
            [
                now(f"max(continuity_mttr_seconds{{{T}}})", "MTTR"),
                now(f"max(continuity_mtbf_seconds{{{T}}})", "MTBF"),
            ],
            unit="dtdurations",
            text_mode="value_and_name",
            description="Mean time to repair (outages that ended) and between failures "
            "(outages that started) over 30 days; empty until there is an outage.",
            size=(6, 4),
        ),
        state_timeline(
            "State over time",
            Q(f"max(target:continuity_target_state:code{{{T}}})", "state"),
            mappings=STATE_MAPPING,
            size=(24, 4),
        ),
        state_timeline(
            "Check results",
            Q(f"max by (check) (continuity_check_success{{{T}}})", "{{check}}"),
            mappings=OK_FAILED_MAPPING,
            size=(24, 5),
        ),
        heatmap(
            "Round-trip time distribution",
            Q(
                "sum by (le) (increase(continuity_probe_rtt_seconds_bucket"
                f"{{{T}}}[$__rate_interval]))",
                "{{le}}",
            ),
            description="How many runs took how long, per time step: echo trains (mean "
            "round trip) and successful checks of every kind of the target "
            "(continuity_probe_rtt_seconds). The same picture as the target page's smoke "
            "graph: a band that widens or climbs is a link getting worse.",
            size=(24, 8),
        ),
    ]


def outages() -> list[Row | Cell]:
    down = f'continuity_target_state{{{T}, state=~"down|unreachable"}} == 1'
    since = (
        "max by (target, state) ("
        f"continuity_target_state_since_timestamp_seconds{{{T}}}"
        f" * on (target, instance) group_left (state) ({down}))"
    )
    # The subquery looks at every evaluation in each step, so that an outage
    # shorter than the step still shows.
    seen = f"max_over_time(({since})[$__interval:])"
    return [
        row("Outages and failures"),
        table(
            "Outages in the time range",
            Q(
                f'count_values by (target, state) ("start", {seen})'
                f" * on (target, state) group_left () (time() - {seen})",
                table=True,
            ),
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
                sort_by("Seen from", desc=True),
            ],
            overrides=[by_name("Duration", ("unit", "dtdurations"))],
            description="One row per DOWN or UNREACHABLE period seen in the time range "
            "(each has its own start time). Duration counts from the exact start, also "
            "when it began before the range, to the last step it was seen in. Causes and "
            "older outages: the daemon's /api/v1/outages.",
            size=(12, 8),
        ),
        stat(
            "Outages and downtime in the time range",
            [
                now(
                    f"round(max(increase(continuity_outages_total{{{T}}}[$__range])))",
                    "outages",
                ),
                now(
                    f"max(increase(continuity_downtime_seconds_total{{{T}}}[$__range]))",
                    "downtime",
                ),
            ],
            text_mode="value_and_name",
            overrides=[by_name("downtime", ("unit", "dtdurations"))],
            size=(12, 8),
        ),
        state_timeline(
            "Failure reasons",
            Q(
                f"max by (check, reason) (continuity_check_failure_info{{{T}}})",
                "{{check}}: {{reason}}",
            ),
            mappings=value_mapping([(1, "failing", "red")]),
            description="Reason code of each failing check (timeout, refused, loss, "
            "tls_expired, ...); empty while every check succeeds.",
            size=(12, 6),
        ),
        timeseries(
            "Check duration",
            Q(f"max by (check) (continuity_check_duration_seconds{{{T}}})", "{{check}}"),
            unit="s",
            size=(12, 6),
        ),
    ]


def reachability() -> list[Row | Cell]:
    return [
        row("Reachability (ICMP)"),
        timeseries(
            "Round-trip time and jitter",
            [
                Q(f"max by (stat) (continuity_icmp_rtt_seconds{{{T}}})", "rtt {{stat}}"),
                Q(f"max(continuity_icmp_jitter_seconds{{{T}}})", "jitter"),
            ],
            unit="s",
            size=(12, 7),
        ),
        timeseries(
            "Packet loss",
            Q(f"max(continuity_icmp_packet_loss_ratio{{{T}}})", "loss"),
            unit="percentunit",
            defaults={"max": 1},
            size=(12, 7),
        ),
    ]


def http_and_tls() -> list[Row | Cell]:
    return [
        row("HTTP and TLS"),
        timeseries(
            "HTTP phases",
            Q(f"max by (phase) (continuity_http_phase_duration_seconds{{{T}}})", "{{phase}}"),
            unit="s",
            size=(12, 7),
        ),
        stat(
            "HTTP status",
            now(f"max(continuity_http_status_code{{{T}}})", "status"),
            steps=thresholds((None, "green"), (300, "orange"), (400, "red")),
            background=True,
            size=(4, 7),
        ),
        stat(
            "TLS certificate: days left",
            [
                now(
                    f"min((continuity_tls_certificate_expiry_timestamp_seconds{{{T}}}"
                    " - time()) / 86400)",
                    "server certificate",
                ),
                now(
                    f"min((continuity_tls_chain_earliest_expiry_timestamp_seconds{{{T}}}"
                    " - time()) / 86400)",
                    "earliest in chain",
                ),
            ],
            unit="suffix: days",
            steps=thresholds((None, "red"), (3, "orange"), (14, "green")),
            text_mode="value_and_name",
            defaults={"decimals": 1},
            size=(8, 7),
        ),
    ]


def snmp_device() -> list[Row | Cell]:
    octets = (
        "max by (interface) (rate(continuity_snmp_interface_{}_octets_total{{"
        + T
        + "}}[$__rate_interval])) * 8"
    )
    errors = (
        "max by (interface) (rate(continuity_snmp_interface_{}_total{{"
        + T
        + "}}[$__rate_interval]))"
    )
    return [
        row("SNMP device"),
        stat(
            "Device uptime",
            now(f"max(continuity_snmp_uptime_seconds{{{T}}})", "uptime"),
            unit="dtdurations",
            size=(6, 6),
        ),
        stat(
            "Reboots in the time range",
            now(
                f"round(max(increase(continuity_snmp_reboots_total{{{T}}}[$__range])))",
                "reboots",
            ),
            steps=thresholds((None, "green"), (1, "orange")),
            description="Reboots the monitor detected (sysUpTime going back, or the "
            "SNMPv3 engine boots counter going up).",
            size=(6, 6),
        ),
        state_timeline(
            "Interfaces",
            Q(
                f"max by (interface, alias) (continuity_snmp_interface_up{{{T}}})",
                "{{interface}} {{alias}}",
            ),
            mappings=UP_DOWN_MAPPING,
            size=(12, 6),
        ),
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
            size=(12, 7),
        ),
        timeseries(
            "Interface errors and discards",
            [
                Q(errors.format("in_errors"), "{{interface}} in errors"),
                Q(errors.format("out_errors"), "{{interface}} out errors"),
                Q(errors.format("in_discards"), "{{interface}} in discards"),
                Q(errors.format("out_discards"), "{{interface}} out discards"),
            ],
            unit="pps",
            size=(12, 7),
        ),
    ]


def ups() -> list[Row | Cell]:
    return [
        row("UPS"),
        stat(
            "Power",
            now(f"max(continuity_ups_on_battery{{{T}}})", "power"),
            mappings=value_mapping([(0, "mains", "green"), (1, "on battery", "red")]),
            background=True,
            size=(6, 6),
        ),
        timeseries(
            "Battery runtime left",
            Q(f"max(continuity_ups_battery_runtime_seconds{{{T}}})", "runtime"),
            unit="s",
            size=(9, 6),
        ),
        timeseries(
            "Battery charge",
            Q(f"max(continuity_ups_battery_charge_ratio{{{T}}})", "charge"),
            unit="percentunit",
            defaults={"max": 1},
            size=(9, 6),
        ),
    ]


def build() -> Json:
    return dashboard(
        "continuity-target",
        "Continuity / Target",
        "One target: state, checks, failures, outages, ICMP, HTTP/TLS, SNMP and UPS figures. "
        "Panels of kinds the target does not have stay empty.",
        [*state(), *outages(), *reachability(), *http_and_tls(), *snmp_device(), *ups()],
        place_variables(target_multi=False),
    )
