"""Exporter: pre-rendered series stay valid exposition text as results change."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitor.contract import MetricFamily, ProbeResult, Sample
from monitor.engine import exporter as exporter_module
from monitor.engine.availability import Figures
from monitor.engine.config import load_config
from monitor.engine.exporter import (
    CORE_FAMILIES,
    RENDER_CHUNK,
    RENDERERS,
    SEP,
    CellRenderer,
    Deferred,
    Exporter,
    SelfMetrics,
    SeriesStore,
    count_lines,
    escape_label_value,
    failure_lines,
    format_seconds,
    format_value,
    mean_seconds_lines,
    millisecond_lines,
    ratio_lines,
    resolve,
    sample_lines,
    seconds_lines,
    state_lines,
    text_lines,
    weight,
)
from monitor.engine.slo import SloStatus
from monitor.engine.state import Health, TargetState
from monitor.history.store import FAMILIES as STORE_FAMILIES
from probes import KINDS, LISTENERS

RTT = MetricFamily("continuity_icmp_rtt_seconds", "gauge", "RTT.")


def ok_result(rtt: float = 0.001) -> ProbeResult:
    return ProbeResult(
        True,
        "ok",
        "",
        1_700_000_000.5,
        0.25,
        samples=(Sample("continuity_icmp_rtt_seconds", rtt, (("stat", "avg"),)),),
    )


def families(text: bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ('a"b', 'a\\"b'),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a\\nb"),
        ("<script>", "<script>"),
    ],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


@pytest.mark.parametrize(
    ("value", "text"),
    [(1, "1.0"), (0.5, "0.5"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")],
)
def test_value_format(value: float, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.000310642000840744, "0.000310642"),  # a float difference: nanoseconds kept
        (7.43865966796875e-05, "7.4387e-05"),
        (0.25, "0.25"),
        (1_765_012_345.123, "1765012345.123"),
        (3e-10, "0.0"),  # under a nanosecond
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_seconds_format_at_nanosecond_resolution(value: float, text: str) -> None:
    assert format_seconds(value) == text
    assert abs(float(text) - value) <= 5e-10 or not math.isfinite(value)


@settings(max_examples=2000, deadline=None)
@given(
    st.one_of(
        st.floats(min_value=0.0, max_value=2e6),
        st.floats(min_value=5e-5, max_value=2e-4),
        st.floats(min_value=999_999.0, max_value=1_000_001.0),
        st.integers(min_value=0, max_value=10**7),
        st.floats(allow_nan=True, allow_infinity=True),
    )
)
def test_seconds_format_is_the_rounded_repr(value: float) -> None:
    """The fixed-notation shortcut writes what ``repr(round(value, 9))`` writes."""
    expected = repr(round(float(value), 9))
    expected = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}.get(expected, expected)
    assert format_seconds(value) == expected


@pytest.mark.parametrize("value", [1e-4, 0.0001000000004, 0.0001000000006, 1.0, 999_999.9999999999])
def test_seconds_format_at_the_edges_of_the_shortcut(value: float) -> None:
    assert format_seconds(value) == repr(round(value, 9))


def test_seconds_samples_are_rounded_to_the_nanosecond_and_ratios_are_not() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    exporter.set_target("a", {})
    result = ProbeResult(
        True,
        "ok",
        "",
        1_700_000_000.5,
        0.000310642000840744,
        samples=(
            Sample("continuity_icmp_rtt_seconds", 7.43865966796875e-05, (("stat", "avg"),)),
            Sample("continuity_icmp_packet_loss_ratio", 1 / 3, ()),
        ),
    )
    exporter.check_result("a", "icmp", result)
    exporter.write_pending()
    text = exporter.store.render().decode()
    assert 'continuity_check_duration_seconds{target="a",check="icmp"} 0.000310642\n' in text
    assert 'continuity_icmp_rtt_seconds{target="a",stat="avg"} 7.4387e-05\n' in text
    assert f'continuity_icmp_packet_loss_ratio{{target="a"}} {1 / 3!r}\n' in text


def test_removing_one_key_keeps_the_targets_other_series() -> None:
    store = SeriesStore([RTT])
    store.replace(("a", "icmp"), {RTT.name: ['continuity_icmp_rtt_seconds{target="a"} 1\n']})
    store.replace(("a", "x"), {"other": ['other{target="a"} 1\n']})
    store.remove(("a", "x"))
    store.remove(("a", "never"))
    assert store.render().decode().count("{") == 1 and len(store) == 1
    store.remove(("a", "icmp"))
    store.remove(("gone", "icmp"))
    assert store.render() == b""
    store.remove_target("a")  # nothing left to remove


def test_family_dicts_stay_out_of_the_collectors_way_as_results_replace_series() -> None:
    """A family's dict holds only str keys and bytes: once the collector untracks it,
    replacing a series must not track it again (every young collection would walk
    all targets' entries: 50-180 ms pauses at 50,000 targets)."""
    store = SeriesStore([RTT])
    for name in ("a", "b"):
        store.replace(
            (name, "icmp"), {RTT.name: [f'continuity_icmp_rtt_seconds{{target="{name}"}} 1\n']}
        )
    gc.collect()
    kind = "".join(["ic", "mp"])  # keys built at run time, as the daemon's are (not constants)
    store.replace(("a", kind), {RTT.name: ['continuity_icmp_rtt_seconds{target="a"} 2\n']})
    store.replace(("c", kind), {RTT.name: ['continuity_icmp_rtt_seconds{target="c"} 3\n']})
    store.remove(("b", kind))
    family = store._families[RTT.name].series
    assert not gc.is_tracked(family)
    assert store.render().decode().splitlines()[2:] == [
        'continuity_icmp_rtt_seconds{target="a"} 2',
        'continuity_icmp_rtt_seconds{target="c"} 3',
    ]


def test_keys_whose_joined_names_coincide_stay_apart() -> None:
    store = SeriesStore([RTT])
    store.replace(("ab", "c"), {RTT.name: ['continuity_icmp_rtt_seconds{target="ab"} 1\n']})
    store.replace(("a", "bc"), {RTT.name: ['continuity_icmp_rtt_seconds{target="a"} 2\n']})
    assert len(store) == 2
    store.remove_target("a")
    assert store.render().decode().endswith('continuity_icmp_rtt_seconds{target="ab"} 1\n')


def test_series_carry_target_and_its_labels_and_parse_back() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    exporter.set_target('bts "1"\n', {"site": "BS-02", "province": "Quang Ngai"})
    exporter.check_result('bts "1"\n', "icmp", ok_result())
    exporter.target_state(TargetState('bts "1"\n', Health.UP, since=1_700_000_000.0))
    parsed = families(exporter.render())
    ((labels, value),) = parsed["continuity_icmp_rtt_seconds"]
    assert labels == {
        "target": 'bts "1"\n',
        "site": "BS-02",
        "province": "Quang Ngai",
        "stat": "avg",
    }
    assert value == 0.001
    assert parsed["continuity_target_up"][0][1] == 1
    # Only the current state's series: the all-zero ones carried no information.
    assert parsed["continuity_target_state"] == [
        ({"target": 'bts "1"\n', "site": "BS-02", "province": "Quang Ngai", "state": "up"}, 1)
    ]
    assert parsed["continuity_check_success"][0] == (
        {"target": 'bts "1"\n', "site": "BS-02", "province": "Quang Ngai", "check": "icmp"},
        1,
    )


def test_a_failure_exports_its_reason_and_drops_stale_families() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    exporter.set_target("a", {})
    exporter.check_result("a", "icmp", ok_result())
    exporter.check_result("a", "icmp", ProbeResult(False, "timeout", "no reply", 1.0, 5.0))
    parsed = families(exporter.render())
    assert "continuity_icmp_rtt_seconds" not in parsed
    assert parsed["continuity_check_failure_info"] == [
        ({"target": "a", "check": "icmp", "reason": "timeout"}, 1)
    ]
    exporter.check_result("a", "icmp", ok_result())
    assert "continuity_check_failure_info" not in families(exporter.render())


def test_unknown_target_has_state_but_no_up_series() -> None:
    exporter = Exporter([], SelfMetrics())
    exporter.set_target("a", {})
    exporter.target_state(TargetState("a"))
    parsed = families(exporter.render())
    assert "continuity_target_up" not in parsed
    assert parsed["continuity_target_state"] == [({"target": "a", "state": "unknown"}, 1)]


def test_removing_a_target_removes_all_its_series() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b"):
        exporter.set_target(name, {})
        exporter.check_result(name, "icmp", ok_result())
        exporter.target_state(TargetState(name, Health.UP, since=1.0))
    exporter.remove_target("a")
    text = exporter.store.render().decode()
    assert 'target="a"' not in text and 'target="b"' in text


def test_each_family_has_one_header_even_with_many_targets() -> None:
    store = SeriesStore([RTT])
    for i in range(50):
        store.replace(
            (f"t{i}", "icmp"),
            {
                "continuity_icmp_rtt_seconds": [
                    f'continuity_icmp_rtt_seconds{{target="t{i}"}} 1.0\n'
                ]
            },
        )
    text = store.render().decode()
    assert text.count("# TYPE continuity_icmp_rtt_seconds gauge") == 1
    assert len(store) == 50


def test_self_metrics_use_a_private_registry() -> None:
    metrics = SelfMetrics()
    metrics.observe_lag("icmp", 0.003)
    text = metrics.render().decode()
    assert "continuity_scheduler_lag_seconds_bucket" in text and "continuity_build_info" in text
    assert REGISTRY.get_sample_value("continuity_config_last_reload_successful") is None


def test_an_undeclared_family_is_declared_on_the_fly_and_stays_valid() -> None:
    exporter = Exporter([], SelfMetrics())
    exporter.set_target("a", {})
    result = ProbeResult(
        True, "ok", "", 1.0, 0.1, samples=(Sample("continuity_snmp_custom_total", 5.0),)
    )
    exporter.check_result("a", "snmp", result)
    text = exporter.render().decode()
    assert "# TYPE continuity_snmp_custom_total counter" in text
    assert families(exporter.render())["continuity_snmp_custom_total"] == [({"target": "a"}, 5.0)]


def test_snmp_user_module_families_come_from_the_config_sections(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[snmp_modules.temp]\noid = "1.3.6.1.4.1.9999.1"\ntype = "gauge"\n'
        '[defaults]\nchecks = ["icmp"]\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\n'
    )
    config = load_config(path)
    declared = [f.name for f in KINDS["snmp"].section_families(config.sections)]
    assert declared and all(name.startswith("continuity_snmp_") for name in declared)


def test_readme_lists_every_metric_family() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    names = [f.name for f in CORE_FAMILIES] + [f.name for f in STORE_FAMILIES]
    names += [f.name for kind in KINDS.values() for f in kind.families]
    names += [f.name for listener in LISTENERS.values() for f in listener.families]
    missing = [n for n in names if f"`{n}" not in readme]
    assert missing == []


def test_skipped_runs_are_exported_from_zero() -> None:
    metrics = SelfMetrics()
    metrics.observe_lag("icmp", 0.001)
    assert 'continuity_scheduler_skipped_runs_total{kind="icmp"} 0.0' in metrics.render().decode()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("5:abcdeicmp", ""), ("abcde", "icmp")),  # a name that spells another key
        (("1", ""), ("", "1")),
        (("2:ab", ""), ("ab", "")),
        (("a", ""), ("a", "icmp")),
    ],
)
def test_a_targets_own_part_keyed_by_its_name_meets_no_other_key(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    store = SeriesStore([RTT])
    store.replace(first, {RTT.name: ['continuity_icmp_rtt_seconds{k="1"} 1\n']})
    store.replace(second, {RTT.name: ['continuity_icmp_rtt_seconds{k="2"} 2\n']})
    assert len(store) == 2
    store.remove(first)
    assert store.render().decode().endswith('continuity_icmp_rtt_seconds{k="2"} 2\n')


@pytest.mark.parametrize(
    ("render", "cells", "lines"),
    [
        (count_lines, {'t="a"': 1, 't="b"': 0}, ['x{t="a"} 1', 'x{t="b"} 0']),
        (count_lines, {'t="a"': 12345}, ['x{t="a"} 12345']),
        (state_lines, {'t="a"': "flapping"}, ['x{t="a",state="flapping"} 1']),
        (millisecond_lines, {'t="a"': 1_700_000_000.12349}, ['x{t="a"} 1700000000.123']),
        (millisecond_lines, {'t="a"': 0}, ['x{t="a"} 0.0']),  # an int total
        (millisecond_lines, {'t="a"': math.inf}, ['x{t="a"} +Inf']),
        (seconds_lines, {'t="a"': 0.000310642000840744}, ['x{t="a"} 0.000310642']),
        (seconds_lines, {'t="a"': math.nan}, ['x{t="a"} NaN']),
        (mean_seconds_lines, {'t="a"': 30.5}, ['x{t="a",window="30d"} 30.5']),
        (ratio_lines, {'s="o"': 1 / 3}, ['x{s="o"} ' + repr(1 / 3)]),
        (
            failure_lines,
            {'t="a",check="tcp"': 'refused \\"port\\"'},
            ['x{t="a",check="tcp",reason="refused \\"port\\""} 1'],
        ),
        (
            text_lines,
            {'t="a"': f'{SEP},w="1h"}} 1.0\n{SEP},w="7d"}} 0.5\n'},
            [
                'x{t="a",w="1h"} 1.0',
                'x{t="a",w="7d"} 0.5',
            ],
        ),
        (
            sample_lines,
            {'t="a",check="icmp"': f'{SEP},stat="min"}} 1e-05\n{SEP}}} 0.5\n'},
            [
                'x{t="a",stat="min"} 1e-05',
                'x{t="a"} 0.5',
            ],
        ),
        # the check label is the last one: a value that spells it is escaped
        (
            sample_lines,
            {'t="a,check=\\"x\\"",check="icmp"': f"{SEP}}} 1\n"},
            ['x{t="a,check=\\"x\\""} 1'],
        ),
    ],
)
def test_each_cell_renderer_writes_the_lines_of_its_cells(
    render: CellRenderer, cells: dict[str, object], lines: list[str]
) -> None:
    assert "".join(render("x", cells.items())).splitlines() == lines


def _scrape_text(store: SeriesStore) -> list[str]:
    return [line for line in store.render().decode().splitlines() if not line.startswith("#")]


def test_cells_keep_their_place_in_a_family_until_they_leave_it() -> None:
    """A key put again keeps its line's place; one that leaves a family and comes
    back goes to the end of it (the order the text kept per key had)."""
    exporter = Exporter([], SelfMetrics())
    for name in ("b", "a", "c"):
        exporter.set_target(name, {})
        exporter.target_state(TargetState(name, Health.UP, since=1.0))
    exporter.target_state(TargetState("b", Health.DOWN, since=2.0))  # in place
    exporter.target_state(TargetState("a", Health.FLAPPING, since=3.0))  # leaves up
    exporter.target_state(TargetState("a", Health.UP, since=4.0))  # back: at the end
    up = [line for line in _scrape_text(exporter.store) if line.startswith("continuity_target_up")]
    assert up == [
        'continuity_target_up{target="b"} 0',
        'continuity_target_up{target="c"} 1',
        'continuity_target_up{target="a"} 1',
    ]
    since = [line for line in _scrape_text(exporter.store) if "since" in line]
    assert [line.rpartition(" ")[2] for line in since] == ["2.0", "4.0", "1.0"]


def test_a_scrape_renders_the_cells_as_they_were_when_it_began() -> None:
    """The parts hold a copy of each family's cells: a result, a state change or a
    removal after the copy is in the next scrape, never half in this one."""
    exporter = Exporter([RTT], SelfMetrics())
    exporter.set_target("a", {})
    exporter.check_result("a", "icmp", ok_result(0.001))
    exporter.target_state(TargetState("a", Health.UP, since=1.0))
    parts = exporter.render_parts()
    exporter.check_result("a", "icmp", ok_result(0.002))
    exporter.target_state(TargetState("a", Health.DOWN, since=2.0))
    exporter.remove_target("a")
    before = b"".join(resolve(parts)).decode()
    assert 'continuity_icmp_rtt_seconds{target="a",stat="avg"} 0.001\n' in before
    assert 'continuity_target_up{target="a"} 1\n' in before
    exporter.write_pending()  # the removed target's result is not written
    assert exporter.store.render() == b""


def test_new_labels_move_every_series_of_the_target_to_them() -> None:
    """A reload that changes a target's labels rewrites all its series at once (the
    checks' and figures' too, which the text kept per key had left with the old
    labels until their next result); they move to the end of their families."""
    exporter = Exporter([*STORE_FAMILIES, RTT], SelfMetrics())
    for name in ("a", "b"):
        exporter.set_target(name, {"site": "old"})
        exporter.target_state(TargetState(name, Health.UP, since=1.0))
        exporter.check_result(name, "icmp", ok_result())
        exporter.figures(name, Figures(1, 2.0, {"1h": 0.5}, None, None))
        exporter.write_pending()
    exporter.set_target("a", {"site": "new"})
    lines = _scrape_text(exporter.store)
    assert not [line for line in lines if 'target="a",site="old"' in line]
    moved = [line for line in lines if 'target="a",site="new"' in line]
    assert len(moved) == len(lines) // 2 == 10
    for family in {line.partition("{")[0] for line in lines}:
        of_family = [line for line in lines if line.startswith(family + "{")]
        assert 'target="b"' in of_family[0] and 'target="a"' in of_family[-1], family
    exporter.set_target("a", {"site": "new"})  # the same labels: nothing moves
    assert _scrape_text(exporter.store) == lines


def test_targets_with_the_same_parts_share_one_record_of_them() -> None:
    """What parts a target has, and their families, is one tuple shared by every
    target with the same (a dict per target was 200 bytes at 50,000 targets)."""
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b", "c"):
        exporter.set_target(name, {})
        exporter.target_state(TargetState(name, Health.UP, since=1.0))
        exporter.check_result(name, "icmp", ok_result())
    exporter.write_pending()
    exporter.check_result("c", "icmp", ProbeResult(False, "timeout", "", 1.0, 2.0))
    exporter.write_pending()
    parts = exporter.store._cell_parts
    assert parts["a"] is parts["b"] and parts["c"] is not parts["a"]
    exporter.check_result("c", "icmp", ok_result())
    exporter.write_pending()
    assert parts["c"] is parts["a"]
    exporter.store.remove(("c", "icmp"))
    assert [part for part, _, _ in parts["c"]] == [""]
    exporter.store.remove(("c", ""))
    assert "c" not in parts and exporter.store.has_labels("c")


def test_numbers_the_state_keeps_are_not_copied() -> None:
    """The cells of the state's time and the result's duration and start are the
    float objects the state and its kept result hold."""
    exporter = Exporter([], SelfMetrics())
    exporter.set_target("a", {})
    state = TargetState("a", Health.UP, since=1_700_000_000.25)
    result = ProbeResult(True, "ok", "", 1_700_000_001.5, 0.125)
    exporter.target_state(state)
    exporter.check_result("a", "icmp", result)
    exporter.write_pending()
    families = exporter.store._families
    assert (
        families["continuity_target_state_since_timestamp_seconds"].cells['target="a"']
        is state.since
    )
    check = families["continuity_check_duration_seconds"].cells
    assert check['target="a",check="icmp"'] is result.duration


def test_a_probe_cannot_write_into_the_exporters_own_families() -> None:
    assert "continuity_check_success" in RENDERERS
    exporter = Exporter([], SelfMetrics())
    exporter.set_target("a", {})
    result = ProbeResult(
        True, "ok", "", 1.0, 0.5, samples=(Sample("continuity_check_success", 7.0),)
    )
    exporter.check_result("a", "icmp", result)
    assert families(exporter.render())["continuity_check_success"] == [
        ({"target": "a", "check": "icmp"}, 1.0)
    ]


def test_a_deferred_family_weighs_as_the_lines_its_cells_write() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b"):
        exporter.set_target(name, {})
        exporter.check_result(
            name,
            "icmp",
            ProbeResult(
                True,
                "ok",
                "",
                1.0,
                0.5,
                samples=tuple(
                    Sample(RTT.name, 0.001, (("stat", stat),)) for stat in ("min", "avg", "max")
                ),
            ),
        )
    exporter.write_pending()
    parts = exporter.store.parts()
    rtt = next(p for p in parts if isinstance(p, Deferred) and RTT.name.encode() in p.render())
    assert rtt.series == 6
    lines = b"".join(resolve(parts)).count(b"\n")
    assert weight(parts) >= lines


def test_slo_series_are_kept_and_removed_by_name() -> None:
    exporter = Exporter([], SelfMetrics())
    exporter.slo('core "x"', 0.999, SloStatus(0.25, {"1h": 2.0, "6h": None}, False, False))
    exporter.slo("edge", 0.99, SloStatus(None, {}, False, False))
    assert _scrape_text(exporter.store) == [
        'continuity_slo_error_budget_remaining_ratio{slo="core \\"x\\""} 0.25',
        'continuity_slo_burn_rate{slo="core \\"x\\"",window="1h"} 2.0',
        'continuity_slo_objective_ratio{slo="core \\"x\\""} 0.999',
        'continuity_slo_objective_ratio{slo="edge"} 0.99',
    ]
    exporter.remove_slo('core "x"')
    exporter.remove_slo("never was")
    assert _scrape_text(exporter.store) == ['continuity_slo_objective_ratio{slo="edge"} 0.99']


def test_cell_dicts_stay_out_of_the_collectors_way() -> None:
    """Cells are numbers and str: a family's dict of them stays untracked by the
    cyclic collector as results replace them (see the text dicts' test above)."""
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b"):
        exporter.set_target(name, {})
        exporter.check_result(name, "icmp", ok_result())
        exporter.target_state(TargetState(name, Health.UP, since=1.0))
    exporter.write_pending()
    gc.collect()
    exporter.check_result("a", "icmp", ok_result(0.003))
    exporter.target_state(TargetState("b", Health.DOWN, since=2.0))
    exporter.set_target("c", {})
    exporter.check_result("c", "icmp", ok_result())
    exporter.write_pending()
    kept = {name: f.cells for name, f in exporter.store._families.items() if f.cells}
    assert kept.keys() == {
        RTT.name,
        "continuity_target_state",
        "continuity_target_up",
        "continuity_target_state_since_timestamp_seconds",
        "continuity_check_success",
        "continuity_check_duration_seconds",
        "continuity_check_last_run_timestamp_seconds",
    }
    for name, cells in kept.items():
        assert not gc.is_tracked(cells), name


def test_the_exporters_families_parse_back_with_their_values() -> None:
    """Every family the exporter keeps as cells, written and parsed back."""
    exporter = Exporter([*STORE_FAMILIES], SelfMetrics())
    exporter.set_target("a", {"site": "x"})
    exporter.check_result("a", "icmp", ProbeResult(False, "timeout", "", 1.25, 2.5))
    exporter.target_state(TargetState("a", Health.DOWN, since=3.0))
    exporter.figures(
        "a",
        Figures(3, 4.5, {"1h": 0.5, "24h": 0.75, "7d": None}, mttr_seconds=5.0, mtbf_seconds=6.0),
    )
    exporter.predicted_dark("a", 7.0, "trend")
    exporter.predicted_dark("unknown target", 7.0, "trend")  # ignored
    exporter.slo("s", 0.99, SloStatus(0.25, {"1h": 1.0}, False, False))
    exporter.write_pending()
    parsed = families(exporter.store.render())
    a = {"target": "a", "site": "x"}
    assert parsed == {
        "continuity_target_up": [(a, 0.0)],
        "continuity_target_state": [({**a, "state": "down"}, 1.0)],
        "continuity_target_state_since_timestamp_seconds": [(a, 3.0)],
        "continuity_check_success": [({**a, "check": "icmp"}, 0.0)],
        "continuity_check_duration_seconds": [({**a, "check": "icmp"}, 2.5)],
        "continuity_check_failure_info": [({**a, "check": "icmp", "reason": "timeout"}, 1.0)],
        "continuity_slo_error_budget_remaining_ratio": [({"slo": "s"}, 0.25)],
        "continuity_slo_burn_rate": [({"slo": "s", "window": "1h"}, 1.0)],
        "continuity_slo_objective_ratio": [({"slo": "s"}, 0.99)],
        "continuity_check_last_run_timestamp_seconds": [({**a, "check": "icmp"}, 1.25)],
        "continuity_ups_predicted_dark_timestamp_seconds": [({**a, "method": "trend"}, 7.0)],
        "continuity_outages_total": [(a, 3.0)],
        "continuity_downtime_seconds_total": [(a, 4.5)],
        "continuity_availability_ratio": [
            ({**a, "window": "1h"}, 0.5),
            ({**a, "window": "24h"}, 0.75),
        ],
        "continuity_mttr_seconds": [({**a, "window": "30d"}, 5.0)],
        "continuity_mtbf_seconds": [({**a, "window": "30d"}, 6.0)],
    }
    exporter.predicted_dark("a", None)
    assert "continuity_ups_predicted_dark_timestamp_seconds" not in families(
        exporter.store.render()
    )


@pytest.mark.parametrize("keys", [1, RENDER_CHUNK - 1, RENDER_CHUNK, RENDER_CHUNK + 1, 2500])
def test_a_family_is_rendered_a_chunk_at_a_time_and_whole(keys: int) -> None:
    """The lines of a family come a chunk of cells at a time, all of them, in order."""
    calls: list[int] = []

    def render(name: str, cells: Iterable[tuple[str, int]]) -> list[str]:
        lines = count_lines(name, cells)
        calls.append(len(lines))
        return lines

    store = SeriesStore([MetricFamily("x", "gauge", "X.")], {"x": render})
    for i in range(keys):
        store.set_labels(f"t{i}", f't="{i}"')
        store.put(f"t{i}", "", "", {"x": i})
    lines = store.render().decode().splitlines()[2:]
    assert lines == [f'x{{t="{i}"}} {i}' for i in range(keys)]
    assert max(calls) <= RENDER_CHUNK and calls[-1] == 0


def test_sample_lines_stay_right_when_the_remembered_label_sets_overflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A probe with more distinct label sets than the exporter remembers (SNMP ports)
    still writes each sample under its own labels, in its family, with its format."""
    monkeypatch.setattr(exporter_module, "EXTRA_LABELS_LIMIT", 3)
    exporter = Exporter([RTT], SelfMetrics())
    exporter.set_target("a", {})
    for round_no in range(2):
        ports = [
            Sample(
                "continuity_snmp_if_in_octets_total", float(port + round_no), (("if", f"p{port}"),)
            )
            for port in range(7)
        ]
        samples = (
            *ports,
            Sample("continuity_icmp_rtt_seconds", 0.0012345678912, (("stat", "avg"),)),
            Sample("continuity_check_success", 7.0),  # the exporter's own: dropped
        )
        exporter.check_result("a", "snmp", ProbeResult(True, "ok", "", 1.0, 0.5, samples))
        got = families(exporter.render())
        assert got["continuity_snmp_if_in_octets_total"] == [
            ({"target": "a", "if": f"p{port}"}, float(port + round_no)) for port in range(7)
        ]
        assert got["continuity_icmp_rtt_seconds"] == [({"target": "a", "stat": "avg"}, 0.001234568)]
        assert got["continuity_check_success"] == [({"target": "a", "check": "snmp"}, 1.0)]


def test_check_results_are_written_a_batch_at_a_time_or_by_the_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Results wait for the batch to fill or for the scrape, whichever comes first: a
    result replaced meanwhile is not written, and every run is counted."""
    monkeypatch.setattr(exporter_module, "PENDING_BATCH", 4)
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b", "c"):
        exporter.set_target(name, {})
    exporter.check_result("a", "icmp", ok_result(0.001))
    exporter.check_result("b", "icmp", ok_result(0.005))
    exporter.check_result("a", "icmp", ProbeResult(False, "timeout", "", 2.0, 5.0))
    exporter.check_result("a", "icmp", ok_result(0.002))
    assert exporter.store.render() == b""  # two results wait
    exporter.check_result("c", "icmp", ok_result(0.003))
    exporter.check_result("b", "icmp", ok_result(0.004))
    rtt = [line for line in _scrape_text(exporter.store) if line.startswith(RTT.name)]
    assert rtt == []  # still three
    exporter.check_result("c", "icmp", ok_result(0.006))
    exporter.check_result("d", "icmp", ok_result(0.007))  # no labels (removed): dropped
    rtt = [line for line in _scrape_text(exporter.store) if line.startswith(RTT.name)]
    assert rtt == [
        'continuity_icmp_rtt_seconds{target="a",stat="avg"} 0.002',
        'continuity_icmp_rtt_seconds{target="b",stat="avg"} 0.004',
        'continuity_icmp_rtt_seconds{target="c",stat="avg"} 0.006',
    ]
    assert "failure_info" not in exporter.store.render().decode()
    exporter.check_result("b", "icmp", ok_result(0.008))
    assert 'target="b",stat="avg"} 0.008' in exporter.render().decode()  # the scrape's
    runs = exporter.self_metrics.render().decode()
    assert 'continuity_check_runs_total{kind="icmp",result="success"} 8.0' in runs
    assert 'continuity_check_runs_total{kind="icmp",result="failure"} 1.0' in runs


def test_a_scrape_writes_what_waits_and_a_removed_target_loses_its_result() -> None:
    exporter = Exporter([RTT], SelfMetrics())
    for name in ("a", "b"):
        exporter.set_target(name, {})
        exporter.check_result(name, "icmp", ok_result())
    exporter.remove_target("a")
    exporter.set_target("a", {})  # back under the same name: the old result is gone
    text = exporter.render().decode()
    assert 'target="b",check="icmp"' in text and 'target="a",check="icmp"' not in text
