"""The availability report against a hand-computed history, and its renderers.

The fixture history is written with the real :class:`monitor.history.store.Store`
(a controlled clock makes its observation periods), read back with
:meth:`Reader.period_rows`, and every figure is checked against arithmetic
done by hand in the comments. The report must also agree with the exporter's
own figures (``monitor.engine.availability.figures`` at ``now = until`` with a
window of the period's length).

Times are hours from ``S`` = 2026-11-01 00:00 in Asia/Ho_Chi_Minh (UTC+7);
the period is ``[S, S + 48h)`` (``--since 2026-11-01 --until 2026-11-03``).

Monitor: ran [-2h, 20h] and [22h, 50h]; isolated [30h, 31h]. So observed
time inside the period is [0, 20] + [22, 30] + [31, 48] = 20 + 8 + 17 = 45 h.

=========  ==========================  ==================================
target     labels                      history
=========  ==========================  ==================================
core-1     operator=vnpt, site=...     first seen -2h; outages [-1, 1] (crosses the
                                       period's start), [19, 23] (spans the monitor's
                                       gap), [47, 49] (crosses the period's end)
bts-02     operator=vnpt               first seen -2h; maintenance [10, 12]; outages
                                       [10.5, 11.5] (inside maintenance),
                                       [11.75, 12.25] (half in it), [30.5, 32] (spans
                                       the isolation)
post-api   operator=vnpost             added mid-period: first seen 24h; outages
                                       [36, 36h10m], [47.5, still open]
old-site   (not in the config)         first seen -2h; outage [5, 6]
new-site   operator=vnpt               in the config, never observed
=========  ==========================  ==================================
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.engine.availability import figures as exporter_figures
from monitor.engine.availability import window_sums
from monitor.history.report import Progress, ReportError, build_report, parse_group_by, parse_period
from monitor.history.report_model import NOT_IN_CONFIG, GroupBy, PeriodFigures, Report, pool
from monitor.history.report_render import duration, percent, render
from monitor.history.store import Store, load_histories, open_readonly

ZONE = "Asia/Ho_Chi_Minh"
S = datetime(2026, 11, 1, tzinfo=ZoneInfo(ZONE)).timestamp()
H = 3600.0
PERIOD = parse_period("2026-11-01", "2026-11-03", ZONE)

TARGETS: dict[str, Mapping[str, str]] = {
    "core-1": {"operator": "vnpt", "province": "Quang Ngai", "site": "QNG-CORE"},
    "bts-02": {"operator": "vnpt", "province": "Quang Ngai"},
    "post-api": {"operator": "vnpost", "province": "Da Nang"},
    "new-site": {"operator": "vnpt"},
}


def at(hours: float) -> float:
    return S + hours * H


class Clock:
    """The store's clock: observation periods run from open to the last commit."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _write_history(path: Path) -> None:
    clock = Clock(at(-2))
    # First run of the monitor: [-2h, 20h].
    async with Store(path, clock=clock, heartbeat=3600) as store:
        for name in ("core-1", "bts-02", "old-site"):
            store.first_observed(name, at(-2))
        store.outage_started(
            "core-1", "icmp", at(-1), cause="check:icmp", reason="timeout", message="no reply"
        )
        store.outage_ended("core-1", at(1))
        store.maintenance("bts-02", at(10), at(12))
        store.outage_started(
            "bts-02", "icmp", at(10.5), cause="check:icmp", reason="timeout", message="works"
        )
        store.outage_ended("bts-02", at(11.5))
        store.outage_started(
            "bts-02", "snmp", at(11.75), cause="check:snmp", reason="timeout", message="a | b"
        )
        store.outage_ended("bts-02", at(12.25))
        store.outage_started(
            "old-site", "icmp", at(5), cause="check:icmp", reason="unreachable", message="<b>x</b>"
        )
        store.outage_ended("old-site", at(6))
        # Left open when this run stops; the next run closes it.
        store.outage_started(
            "core-1", "icmp", at(19), cause="check:icmp", reason="timeout", message="fibre cut"
        )
        clock.now = at(20)
        await store.flush()
    # Second run: [22h, 50h].
    clock.now = at(22)
    async with Store(path, clock=clock, heartbeat=3600) as store:
        store.outage_ended("core-1", at(23))
        store.first_observed("post-api", at(24))
        store.isolation(at(30), at(31))
        store.outage_started(
            "bts-02", "icmp", at(30.5), cause="check:icmp", reason="timeout", message="uplink"
        )
        store.outage_ended("bts-02", at(32))
        store.outage_started(
            "post-api", "http", at(36), cause="check:http", reason="status", message="HTTP 503"
        )
        store.outage_ended("post-api", at(36 + 1 / 6))
        store.outage_started(
            "core-1", "icmp", at(47), cause="check:icmp", reason="timeout", message="power"
        )
        store.outage_ended("core-1", at(49))
        store.outage_started(
            "post-api", "http", at(47.5), cause="check:http", reason="timeout", message="down"
        )
        clock.now = at(50)
        await store.flush()


def write_fixture_history(path: Path) -> None:
    """The module docstring's history, in the database at ``path`` (the ``report_database``
    fixture of tests/conftest.py, and the e2e tests)."""
    asyncio.run(_write_history(path))


FIXTURE_CONFIG = f"""
[monitor]
instance = "noc-qng-1"
timezone = "{ZONE}"
state_dir = "state"

[defaults]
checks = ["icmp"]
"""
"""The fixture's config as TOML (the e2e tests append TARGETS_TOML)."""

TARGETS_TOML = "".join(
    f"""
[[targets]]
name = "{name}"
address = "10.0.0.{i}"
labels = {{ {", ".join(f'{k} = "{v}"' for k, v in labels.items())} }}
"""
    for i, (name, labels) in enumerate(TARGETS.items(), 1)
)


BY_OPERATOR = GroupBy("operator")


def make_report(
    database: Path, group_by: GroupBy = BY_OPERATOR, count_maintenance: bool = False
) -> Report:
    with open_readonly(database) as reader:
        rows = reader.period_rows(PERIOD.since, PERIOD.until)
    return build_report(
        TARGETS,
        rows,
        PERIOD,
        group_by=group_by,
        count_maintenance=count_maintenance,
        instance="noc-qng-1",
        generated=at(60),
    )


def hours(figures: PeriodFigures) -> tuple[float, float]:
    return figures.observed_seconds / H, figures.downtime_seconds / H


# --------------------------------------------------------------------------
# Figures, target by target
# --------------------------------------------------------------------------


def test_the_period_is_midnight_to_midnight_in_the_configured_zone() -> None:
    assert PERIOD.since == datetime(2026, 10, 31, 17, tzinfo=UTC).timestamp()
    assert PERIOD.seconds == 48 * H


def test_outages_crossing_both_boundaries_and_the_monitors_gap(report_database: Path) -> None:
    report = make_report(report_database)
    (core,) = [t for g in report.groups for t in g.targets if t.name == "core-1"]
    for figures in (core.with_maintenance, core.without_maintenance):  # no maintenance
        # observed 45 h (module docstring); downtime: [0, 1] of [-1, 1] = 1 h,
        # [19, 20] + [22, 23] of [19, 23] = 2 h (20-22 the monitor was stopped),
        # [47, 48) of [47, 49] = 1 h; 4 h in all.
        assert hours(figures) == pytest.approx((45, 4))
        assert figures.availability == pytest.approx(1 - 4 / 45)  # 91.111 %
        # Started in the period: [19, 23] and [47, 49]; [-1, 1] began before it.
        assert figures.outages == 2
        # Ended in the period: [-1, 1] with its whole 2 h (also the hour before
        # the period) and [19, 23] with 2 h observed: (2 + 2) / 2.
        assert figures.mttr_seconds == pytest.approx(2 * H)
        # Up time (45 - 4) over 2 outages.
        assert figures.mtbf_seconds == pytest.approx(20.5 * H)
        assert figures.longest is not None and figures.longest.start == at(19)
        assert figures.longest_seconds == pytest.approx(2 * H)
    downtimes = [o.downtime_without_maintenance / H for o in core.outages]
    assert downtimes == pytest.approx([1, 2, 1])


def test_maintenance_is_left_out_or_counted(report_database: Path) -> None:
    report = make_report(report_database)
    (bts,) = [t for g in report.groups for t in g.targets if t.name == "bts-02"]
    without = bts.without_maintenance
    # Observed: 45 h minus maintenance [10, 12] = 43 h. Downtime: [10.5, 11.5]
    # lies inside maintenance (0), [12, 12.25] of [11.75, 12.25] = 0.25 h, and
    # [31, 32] of [30.5, 32] (isolated until 31) = 1 h: 1.25 h.
    assert hours(without) == pytest.approx((43, 1.25))
    assert without.availability == pytest.approx(1 - 1.25 / 43)  # 97.093 %
    assert without.outages == 2  # the one inside maintenance is no failure
    assert without.mttr_seconds == pytest.approx((0.25 + 1) / 2 * H)  # 37 min 30 s
    assert without.mtbf_seconds == pytest.approx((43 - 1.25) / 2 * H)
    assert without.longest is not None and without.longest.start == at(30.5)

    counted = bts.with_maintenance
    # Maintenance is observed: 45 h; downtime 1 + 0.5 + 1 = 2.5 h.
    assert hours(counted) == pytest.approx((45, 2.5))
    assert counted.availability == pytest.approx(1 - 2.5 / 45)  # 94.444 %
    assert counted.outages == 3
    assert counted.mttr_seconds == pytest.approx(2.5 / 3 * H)  # 50 min
    assert counted.mtbf_seconds == pytest.approx((45 - 2.5) / 3 * H)
    # Two outages of 1 h: the earlier one is the longest.
    assert counted.longest is not None and counted.longest.start == at(10.5)


def test_a_target_added_mid_period_counts_from_its_first_observation(report_database: Path) -> None:
    report = make_report(report_database)
    (api,) = [t for g in report.groups for t in g.targets if t.name == "post-api"]
    figures = api.without_maintenance
    # First seen at 24 h: observed [24, 30] + [31, 48] = 23 h. Downtime: 10 min
    # plus [47.5, 48) of the outage still open = 40 min.
    assert hours(figures) == pytest.approx((23, 2 / 3))
    assert figures.availability == pytest.approx(1 - (2 / 3) / 23)  # 97.101 %
    assert figures.outages == 2  # the open one counts: it has downtime
    assert figures.mttr_seconds == pytest.approx(10 * 60)  # only the closed one
    assert figures.mtbf_seconds == pytest.approx((23 - 2 / 3) / 2 * H)  # 11 h 10 min
    assert api.outages[-1].end is None


def test_targets_never_observed_and_no_longer_configured(report_database: Path) -> None:
    report = make_report(report_database)
    (new,) = [t for g in report.groups for t in g.targets if t.name == "new-site"]
    assert new.without_maintenance.availability is None
    assert new.without_maintenance.outages == 0 and new.outages == ()
    assert report.not_in_config == ("old-site",)
    (old,) = next(g for g in report.groups if g.name == NOT_IN_CONFIG).targets
    assert not old.in_config
    assert hours(old.without_maintenance) == pytest.approx((45, 1))


# --------------------------------------------------------------------------
# Groups
# --------------------------------------------------------------------------


def test_groups_pool_sums_rather_than_averaging_ratios(report_database: Path) -> None:
    report = make_report(report_database)
    assert [g.name for g in report.groups] == ["vnpost", "vnpt", NOT_IN_CONFIG]
    vnpt = report.groups[1]
    assert [t.name for t in vnpt.targets] == ["bts-02", "core-1", "new-site"]
    without = vnpt.without_maintenance
    # core-1 45 h observed, 4 h down; bts-02 43 h, 1.25 h; new-site nothing.
    assert hours(without) == pytest.approx((88, 5.25))
    assert without.availability == pytest.approx(1 - 5.25 / 88)  # 94.034 %
    mean_of_ratios = ((1 - 4 / 45) + (1 - 1.25 / 43)) / 2  # 94.102 %: not what we report
    assert without.availability != pytest.approx(mean_of_ratios, abs=1e-4)
    assert without.outages == 4
    # Repaired: core-1's 2 h and 2 h, bts-02's 0.25 h and 1 h.
    assert without.mttr_seconds == pytest.approx(5.25 / 4 * H)
    assert without.mtbf_seconds == pytest.approx((88 - 5.25) / 4 * H)
    assert without.longest is not None and without.longest.target == "core-1"
    counted = vnpt.with_maintenance
    assert hours(counted) == pytest.approx((90, 6.5))
    assert counted.outages == 5
    assert counted.mttr_seconds == pytest.approx(6.5 / 5 * H)


def test_total_pools_every_group(report_database: Path) -> None:
    total = make_report(report_database).total.without_maintenance
    # vnpt 88 h / 5.25 h, post-api 23 h / 2/3 h, old-site 45 h / 1 h.
    assert hours(total) == pytest.approx((156, 5.25 + 2 / 3 + 1))
    assert total.outages == 4 + 2 + 1


@pytest.mark.parametrize(
    ("group_by", "groups"),
    [
        (GroupBy(), ["all targets", NOT_IN_CONFIG]),
        (GroupBy("province"), ["Da Nang", "Quang Ngai", "(no province)", NOT_IN_CONFIG]),
        (GroupBy("site"), ["QNG-CORE", "(no site)", NOT_IN_CONFIG]),
    ],
)
def test_group_forms(report_database: Path, group_by: GroupBy, groups: list[str]) -> None:
    assert [g.name for g in make_report(report_database, group_by).groups] == groups


def test_pool_of_nothing_has_no_data() -> None:
    empty = pool([])
    assert empty.availability is None and empty.mttr_seconds is None
    assert empty.mtbf_seconds is None and empty.longest is None


# --------------------------------------------------------------------------
# The same definitions as the exporter
# --------------------------------------------------------------------------


@pytest.mark.parametrize("count_maintenance", [False, True])
def test_figures_equal_the_exporters_at_the_end_of_the_period(
    report_database: Path, count_maintenance: bool
) -> None:
    """The exporter's figures at now = until, window = the period's length."""
    report = make_report(report_database)
    width = PERIOD.seconds
    db = sqlite3.connect(report_database)
    try:
        monitor, histories = load_histories(db, PERIOD.until, count_maintenance)
    finally:
        db.close()
    targets = {t.name: t for g in report.groups for t in g.targets}
    for name, history in histories.items():
        ours = targets[name].figures(count_maintenance)
        theirs = exporter_figures(
            history,
            monitor,
            PERIOD.until,
            count_maintenance=count_maintenance,
            windows={"period": width},
            mean_window=width,
        )
        ((down, seen),) = window_sums(
            history, monitor, PERIOD.until, {"p": width}, count_maintenance=count_maintenance
        ).values()
        assert ours.availability == pytest.approx(theirs.availability["period"]), name
        assert ours.mttr_seconds == pytest.approx(theirs.mttr_seconds), name
        assert ours.mtbf_seconds == pytest.approx(theirs.mtbf_seconds), name
        assert (ours.downtime_seconds, ours.observed_seconds) == pytest.approx((down, seen))


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        ("2026-11-01", "2026-12-01", ("2026-10-31T17:00:00+00:00", "2026-11-30T17:00:00+00:00")),
        (
            "2026-11-01T00:00:00Z",
            "2026-11-01T12:30:00+07:00",
            ("2026-11-01T00:00:00+00:00", "2026-11-01T05:30:00+00:00"),
        ),
    ],
)
def test_parse_period(since: str, until: str, expected: tuple[str, str]) -> None:
    period = parse_period(since, until, ZONE)
    assert datetime.fromtimestamp(period.since, UTC).isoformat() == expected[0]
    assert datetime.fromtimestamp(period.until, UTC).isoformat() == expected[1]


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("2026-11-02", "2026-11-01", "--since (2026-11-02) must be before --until (2026-11-01)"),
        ("2026-11-01", "2026-11-01", "--since (2026-11-01) must be before --until (2026-11-01)"),
        (
            "yesterday",
            "2026-11-01",
            "--since: expected YYYY-MM-DD or an RFC 3339 time such as "
            "2026-11-01T00:00:00+07:00, got 'yesterday'",
        ),
        (
            "2026-11-01",
            "2026-11-31",
            "--until: expected YYYY-MM-DD or an RFC 3339 time such as "
            "2026-11-01T00:00:00+07:00, got '2026-11-31'",
        ),
        (
            "2026-11-01T00:00:00",
            "2026-12-01",
            "--since: expected YYYY-MM-DD or an RFC 3339 time such as "
            "2026-11-01T00:00:00+07:00, got '2026-11-01T00:00:00'",
        ),
    ],
)
def test_parse_period_errors(since: str, until: str, message: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_period(since, until, ZONE)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "label"),
    [
        (None, None),
        ("operator", "operator"),
        ("province", "province"),
        ("site", "site"),
        ("label:kind", "kind"),
        ("label:_x1", "_x1"),
    ],
)
def test_parse_group_by(text: str | None, label: str | None) -> None:
    assert parse_group_by(text) == GroupBy(label)


@pytest.mark.parametrize("text", ["region", "label:", "label:1x", "label:a-b", "Operator"])
def test_parse_group_by_errors(text: str) -> None:
    with pytest.raises(ReportError) as caught:
        parse_group_by(text)
    assert str(caught.value) == (
        "--group-by: expected operator, province, site or label:NAME "
        f"(NAME a label name such as kind), got {text!r}"
    )


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (59.4, "59s"),
        (60, "1m 00s"),
        (37.5 * 60, "37m 30s"),
        (4 * H + 5, "4h 00m 05s"),
        (44 * H, "1d 20h 00m"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [
        (None, "no data"),
        (1.0, "100.000%"),
        (0.999996, "99.999%"),  # truncated: only a clean record shows 100 %
        (0.99995, "99.995%"),
        (1 - 4 / 45, "91.111%"),
        (0.0, "0.000%"),
    ],
)
def test_percent(ratio: float | None, text: str) -> None:
    assert percent(ratio) == text


def test_markdown(report_database: Path) -> None:
    text = render(make_report(report_database), "md")
    assert text.startswith("# Availability report: 2026-11-01 00:00:00 to 2026-11-03 00:00:00\n")
    assert (
        # 4 incidents rooted in the group, 2 of its targets affected (one outage each, here)
        "| vnpt | 3 | 4 | 2 | 94.034% | 92.777% | 4 | 5h 15m 00s | 1h 18m 45s | 20h 41m 15s "
        "| 2h 00m 00s (core-1, 2026-11-01 19:00:00) |"
    ) in text
    assert (
        "| core-1 | 2026-10-31 23:00:00 | 2026-11-01 01:00:00 | 1h 00m 00s | icmp "
        "| failed checks: icmp | timed out | no reply | began before the period |"
    ) in text
    assert "| post-api | 2026-11-02 23:30:00 | open | 30m 00s |" in text
    assert "in maintenance: not counted" in text
    assert "| a \\| b |" in text  # a pipe in a message does not break the table
    assert "\\<b\\>x\\</b\\>" in text
    assert '"(not in config)"' in text and "may be overstated" in text


def test_html_is_escaped_has_charts_and_no_script(report_database: Path) -> None:
    text = render(make_report(report_database), "html")
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert text.count("<svg") == 3  # one chart per group
    assert "<script" not in text.lower() and "@page" in text and "@media print" in text
    assert "axis from 90% to 100%" in text


def test_json_holds_both_modes(report_database: Path) -> None:
    document = json.loads(render(make_report(report_database), "json"))
    assert document["since"] == "2026-10-31T17:00:00.000Z"
    assert document["group_by"] == "operator" and document["not_in_config"] == ["old-site"]
    vnpt = document["groups"][1]
    assert vnpt["name"] == "vnpt"
    assert vnpt["figures"]["without_maintenance"]["availability_ratio"] == pytest.approx(
        1 - 5.25 / 88
    )
    assert vnpt["figures"]["with_maintenance"]["outages"] == 5
    core = vnpt["targets"][1]
    assert core["name"] == "core-1" and core["labels"]["site"] == "QNG-CORE"
    assert core["outages"][0]["notes"] == ["began before the period"]
    assert core["outages"][0]["downtime_without_maintenance_seconds"] == pytest.approx(H)


def test_csv(report_database: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(render(make_report(report_database), "csv"))))
    assert [(r["row"], r["group"], r["target"]) for r in rows] == [
        ("group", "vnpost", ""),
        ("target", "vnpost", "post-api"),
        ("group", "vnpt", ""),
        ("target", "vnpt", "bts-02"),
        ("target", "vnpt", "core-1"),
        ("target", "vnpt", "new-site"),
        ("group", NOT_IN_CONFIG, ""),
        ("target", NOT_IN_CONFIG, "old-site"),
        ("total", "", ""),
    ]
    bts = rows[3]
    assert float(bts["availability_without_maintenance"]) == pytest.approx(1 - 1.25 / 43)
    assert float(bts["availability_with_maintenance"]) == pytest.approx(1 - 2.5 / 45)
    assert float(bts["downtime_seconds"]) == pytest.approx(1.25 * H)
    assert rows[5]["availability_without_maintenance"] == ""  # new-site: no data
    assert rows[7]["in_config"] == "false"


def test_the_configured_mode_picks_the_downtime_columns(report_database: Path) -> None:
    text = render(make_report(report_database, count_maintenance=True), "md")
    # bts-02 with maintenance counted: 3 outages, 2 h 30 min down.
    assert "| bts-02 | 1d 21h 00m | 97.093% | 94.444% | 3 | 2h 30m 00s |" in text
    assert "maintenance counted ([monitor] count_maintenance = true)" in text


# --------------------------------------------------------------------------
# Progress bar
# --------------------------------------------------------------------------


class Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_stays_silent_off_a_terminal() -> None:
    stream = Terminal(tty=False)
    progress = Progress(stream, min_rows=10, delay=0.0)
    progress.rows(100, 100)
    progress.targets(5, 5)
    progress.close()
    assert stream.getvalue() == "" and not progress.shown


def test_progress_shows_at_once_for_a_large_history() -> None:
    stream = Terminal(tty=True)
    progress = Progress(stream, min_rows=100, delay=60.0, clock=lambda: 0.0)
    progress.rows(50, 200)
    progress.rows(200, 200)
    progress.close()
    out = stream.getvalue()
    assert "\rreading outages  [" in out and " 25% 50/200" in out and "100% 200/200" in out
    assert out.endswith("\r\x1b[K")  # the line is cleared


def test_progress_shows_a_small_history_only_when_slow() -> None:
    stream = Terminal(tty=True)
    now = [0.0]
    progress = Progress(stream, min_rows=100, delay=1.0, clock=lambda: now[0])
    progress.rows(10, 10)
    progress.targets(1, 3)
    assert stream.getvalue() == ""
    now[0] = 1.5
    progress.targets(2, 3)
    assert "computing" in stream.getvalue() and " 67% 2/3" in stream.getvalue()
