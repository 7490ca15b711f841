"""Incidents in the report: outages grouped by root cause, against a hand-built history.

Times are hours from ``S`` = 2026-11-01 00:00 (UTC); the period is
``[S, S + 48h)``; the monitor ran [-1h, 50h] without isolation.

==========  ===============  =============================================
target      parent           outages (cause)
==========  ===============  =============================================
core-rtr    -                [10, 12] (check), [30, 31] (check)
dist-rtr    core-rtr         [10.02, 12.01] (parent:core-rtr)
site-1      dist-rtr         [10.03, 12.02] (parent:dist-rtr): two levels down
site-2      dist-rtr         [10.03, 12.02] (parent:dist-rtr)
site-3      core-rtr         [10.01, 12] and [30.01, 31] (parent:core-rtr)
site-4      core-rtr         [9.99, 12] (parent:core-rtr): seen a moment before its parent
bts-x       -                [10.02, 11] (check): fails on its own at the same time
site-5      gone-rtr         [40, 41] (parent:gone-rtr): its parent's outage is not in the history
==========  ===============  =============================================

So: 4 incidents (the core cut with 5 targets behind it, the BTS, the second
core cut with site-3, and site-5 alone), 8 distinct targets affected, and 10
outages in the targets' own figures.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.history.report import build_report, parse_period
from monitor.history.report_incidents import group_incidents
from monitor.history.report_model import Incident, OutageLine, Report, count
from monitor.history.report_render import render
from monitor.history.store import Store, open_readonly
from tests.unit.test_report import Clock

S = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
H = 3600.0
PERIOD = parse_period("2026-11-01", "2026-11-03", "UTC")

HISTORY: list[tuple[str, float, float | None, str]] = [
    ("core-rtr", 10, 12, "check:icmp"),
    ("dist-rtr", 10.02, 12.01, "parent:core-rtr"),
    ("site-1", 10.03, 12.02, "parent:dist-rtr"),
    ("site-2", 10.03, 12.02, "parent:dist-rtr"),
    ("site-3", 10.01, 12, "parent:core-rtr"),
    ("site-4", 9.99, 12, "parent:core-rtr"),
    ("bts-x", 10.02, 11, "check:icmp"),
    ("core-rtr", 30, 31, "check:icmp"),
    ("site-3", 30.01, 31, "parent:core-rtr"),
    ("site-5", 40, 41, "parent:gone-rtr"),
]
TARGETS = sorted({name for name, *_ in HISTORY})


def at(hours: float) -> float:
    return S + hours * H


def line(target: str, start: float, end: float | None, cause: str) -> OutageLine:
    down = ((end if end is not None else 48) - start) * H
    return OutageLine(
        target, None, at(start), None if end is None else at(end), cause, "", "", down, down
    )


def shape(incidents: list[Incident]) -> list[tuple[str, float, list[str]]]:
    return [
        (i.root.target, (i.start - S) / H, [c.target for c in i.consequences]) for i in incidents
    ]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param(
            [line("bts-x", 1, 2, "check:icmp")], [("bts-x", 1, [])], id="one failure alone"
        ),
        pytest.param(
            [line(*row) for row in HISTORY],
            [
                # Nearest first (by name at each depth): the sites two levels down last.
                ("core-rtr", 10, ["dist-rtr", "site-3", "site-4", "site-1", "site-2"]),
                ("bts-x", 10.02, []),
                ("core-rtr", 30, ["site-3"]),  # a second cut is a second incident
                ("site-5", 40, []),  # no outage of its parent: it stands alone
            ],
            id="the module's history",
        ),
        pytest.param(
            [
                line("rtr", 1, 2, "check:icmp"),
                line("rtr", 5, 6, "check:icmp"),
                line("site", 5.5, 7, "parent:rtr"),  # overlaps only the second cut
            ],
            [("rtr", 1, []), ("rtr", 5, ["site"])],
            id="a consequence joins the parent's outage it overlaps",
        ),
        pytest.param(
            [line("rtr", 1, None, "check:icmp"), line("site", 1.01, None, "parent:rtr")],
            [("rtr", 1, ["site"])],
            id="open outages",
        ),
        pytest.param(
            [line("a", 1, 2, "parent:b"), line("b", 1, 2, "parent:a")],
            [("a", 1, ["b"])],
            id="a cycle in the causes ends",
        ),
    ],
)
def test_group_incidents(
    lines: list[OutageLine], expected: list[tuple[str, float, list[str]]]
) -> None:
    assert shape(group_incidents(lines)) == expected


def test_counting_incidents_and_affected_targets() -> None:
    incidents = group_incidents(line(*row) for row in HISTORY)
    assert count(incidents, PERIOD, False) == (4, 8)
    # A group counts the incidents rooted in it and its own targets among those affected.
    sites = {"site-1", "site-2", "site-5"}
    assert count(incidents, PERIOD, False, sites, sites) == (1, 3)
    routers = {"core-rtr", "dist-rtr"}
    assert count(incidents, PERIOD, False, routers, routers) == (2, 2)
    # One that began before the period is listed, not counted.
    early = group_incidents([line("rtr", -2, 1, "check:icmp"), line("s", -1.9, 1, "parent:rtr")])
    assert count(early, PERIOD, False) == (0, 0)


async def _write(path: Path) -> None:
    clock = Clock(at(-1))
    async with Store(path, clock=clock, heartbeat=3600) as store:
        for name in TARGETS:
            store.first_observed(name, at(-1))
        for name, start, end, cause in sorted(HISTORY, key=lambda row: row[1]):
            store.outage_started(
                name, "icmp", at(start), cause=cause, reason="timeout", message="no reply"
            )
            if end is not None:
                store.outage_ended(name, at(end))
        clock.now = at(50)
        await store.flush()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = tmp_path_factory.mktemp("incidents") / "history.sqlite3"
    asyncio.run(_write(path))
    with open_readonly(path) as reader:
        rows = reader.period_rows(PERIOD.since, PERIOD.until)
    return build_report({name: {} for name in TARGETS}, rows, PERIOD, generated=at(60))


def test_the_report_counts_incidents_and_affected_targets_apart_from_outages(
    report: Report,
) -> None:
    assert report.incident_counts() == (4, 8)
    assert report.total.without_maintenance.outages == 10  # the targets' own outages
    assert shape(list(report.incidents))[0] == (
        "core-rtr",
        10,
        ["dist-rtr", "site-3", "site-4", "site-1", "site-2"],
    )


@pytest.mark.parametrize(
    ("target", "downtime_hours"),
    [
        # Each target's own figures still count its own outage rows, unchanged.
        ("site-1", 12.02 - 10.03),
        ("site-4", 12 - 9.99),
        ("site-3", (12 - 10.01) + (31 - 30.01)),
        ("bts-x", 11 - 10.02),
    ],
)
def test_figures_per_target_are_unchanged(
    report: Report, target: str, downtime_hours: float
) -> None:
    (found,) = [t for t in report.total.targets if t.name == target]
    assert found.without_maintenance.downtime_seconds / H == pytest.approx(downtime_hours)


def test_markdown_lists_consequences_under_their_root_cause(report: Report) -> None:
    text = render(report, "md")
    assert "| Total | 8 | 4 | 8 |" in text  # 8 targets, 4 incidents, 8 affected
    assert "4 incidents, 8 targets affected." in text
    block = text[text.index("## Incidents") :]
    first = block.index(
        "- 2026-11-01 10:00:00 to 2026-11-01 12:00:00: core-rtr (failed checks: icmp): "
    )
    assert "5 targets behind it unreachable" in block[first:].splitlines()[0]
    under = block[first:].splitlines()[1:6]
    assert [entry.split(" ")[3] for entry in under] == [
        "dist-rtr",
        "site-3",
        "site-4",
        "site-1",
        "site-2",
    ]
    assert (
        under[3]
        == "  - site-1 (parent dist-rtr is down), until 2026-11-01 12:01:12, 1h 59m 24s in period"
    )


def test_json_dates_consequences_from_the_root_cause(report: Report) -> None:
    document = json.loads(render(report, "json"))
    assert (document["incidents_counted"], document["affected_targets"]) == (4, 8)
    first = document["incidents"][0]
    assert first["root_cause"]["target"] == "core-rtr" and first["counted"] is True
    assert first["affected_targets"] == [
        "core-rtr",
        "dist-rtr",
        "site-3",
        "site-4",
        "site-1",
        "site-2",
    ]
    site_4 = first["consequences"][2]
    assert site_4["target"] == "site-4"
    assert site_4["start"] == first["start"] == "2026-11-01T10:00:00.000Z"
    assert site_4["recorded_start"] == "2026-11-01T09:59:24.000Z"


def test_csv_and_html_count_incidents(report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    total = rows[-1]
    assert (total["row"], total["incidents"], total["affected_targets"]) == ("total", "4", "8")
    assert total["outages"] == "10"
    assert all(r["incidents"] == "" for r in rows if r["row"] == "target")
    html = render(report, "html")
    assert "4 incidents, 8 targets affected." in html
    assert "core-rtr (failed checks: icmp): 5 targets behind it unreachable" in html
    assert "<li>site-1 (parent dist-rtr is down), until 2026-11-01 12:01:12" in html
