"""Exporter: pre-rendered series stay valid exposition text as results change."""

from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitor.contract import MetricFamily, ProbeResult, Sample
from monitor.engine.availability import Figures
from monitor.engine.config import load_config
from monitor.engine.exporter import (
    BARE_FAMILIES,
    CORE_FAMILIES,
    Exporter,
    SelfMetrics,
    SeriesStore,
    escape_label_value,
    format_seconds,
    format_value,
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


def test_a_bare_familys_lines_get_their_name_back_at_the_scrape() -> None:
    """A bare family's text is kept without its name; the scrape puts the name
    (one shared object) before each line, in the family's order, beside full ones."""
    up = MetricFamily("continuity_target_up", "gauge", "Up.")
    store = SeriesStore([up, RTT], bare=[up.name])
    for name in ("b", "a", "c"):
        store.replace((name, ""), {up.name: [f'{{target="{name}"}} 1\n']})
        store.replace((name, "icmp"), {RTT.name: [f'{RTT.name}{{target="{name}"}} 2\n']})
    store.replace(("b", ""), {up.name: ['{target="b"} 0\n']})  # in place: order kept
    store.remove(("a", ""))
    parts = store.parts()
    assert b"".join(parts).decode().splitlines() == [
        "# HELP continuity_target_up Up.",
        "# TYPE continuity_target_up gauge",
        'continuity_target_up{target="b"} 0',
        'continuity_target_up{target="c"} 1',
        "# HELP continuity_icmp_rtt_seconds RTT.",
        "# TYPE continuity_icmp_rtt_seconds gauge",
        'continuity_icmp_rtt_seconds{target="b"} 2',
        'continuity_icmp_rtt_seconds{target="a"} 2',
        'continuity_icmp_rtt_seconds{target="c"} 2',
    ]
    assert parts[1] is parts[3] and parts[1] == b"continuity_target_up"
    assert len(store) == 5


def test_the_exporters_bare_families_are_one_line_per_key() -> None:
    """Each family the exporter keeps bare gets one line per key from it, whatever
    the figures and states (a second line would be left without a name)."""
    exporter = Exporter([*STORE_FAMILIES], SelfMetrics())
    exporter.set_target("a", {})
    exporter.check_result("a", "icmp", ProbeResult(False, "timeout", "", 1.0, 2.0))
    exporter.target_state(TargetState("a", Health.DOWN, since=3.0))
    exporter.figures(
        "a",
        Figures(3, 4.5, {"1h": 0.5, "24h": 0.75, "7d": None}, mttr_seconds=5.0, mtbf_seconds=6.0),
    )
    exporter.predicted_dark("a", 7.0, "trend")
    exporter.slo("s", 0.99, SloStatus(0.25, {"1h": 1.0, "6h": 2.0}, False, False))
    text = exporter.store.render().decode()
    for name in BARE_FAMILIES:
        lines = [line for line in text.splitlines() if line.startswith(f"{name}{{")]
        assert len(lines) == 1, name
    assert len(families(text.encode())) >= len(BARE_FAMILIES)


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
