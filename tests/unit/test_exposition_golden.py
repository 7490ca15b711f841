"""The exposition of a fixed scenario stays byte-identical as the series storage changes.

``tests/data/exposition_golden.txt`` is the output of :func:`scenario` at commit
3807095 (before issue 14's session 5 reshaped how the pre-rendered series are
stored): targets with label values that need escaping, up, down and unknown
states and state changes, ICMP results with and without replies, a loss, a
failure of another check, availability figures, an SLO, a UPS prediction, the
RTT histogram, then one target and one check removed and a second round of
results (which replaces series in place, adds and drops families per key).
Any change in bytes, order of series within a family included, fails.

One deliberate change since: the RTT histogram's lines are rendered at the
scrape in slot order (first observed first) instead of kept in the order
their text was first rendered; the same 1,417 lines, every other family's in
the same order (checked when the file was written again).
"""

from __future__ import annotations

from pathlib import Path

from monitor.contract import ProbeResult, Sample
from monitor.engine.availability import Figures
from monitor.engine.config import DEFAULT_RTT_BUCKETS
from monitor.engine.exporter import Exporter, SelfMetrics
from monitor.engine.rtt_histogram import RttHistogram
from monitor.engine.slo import SloStatus
from monitor.engine.state import Health, TargetState
from monitor.history.store import FAMILIES as STORE_FAMILIES
from probes import KINDS
from probes.icmp import summarize
from probes.icmp_engine import PingOutcome

GOLDEN = Path(__file__).parent.parent / "data" / "exposition_golden.txt"
T0 = 1_700_000_000.0
HEALTHS = (Health.UP, Health.DOWN, Health.UNKNOWN, Health.UP, Health.FLAPPING)


def _name(i: int) -> str:
    if i % 7 == 3:
        return f'bts "{i}"\\x\n'  # every character the text format escapes
    return f"site-{i:03d}"


def _icmp(i: int, round_: int) -> ProbeResult:
    """Replies, a loss, or none at all, by target and round."""
    rtt = 0.0004 + i * 1.3e-5 + round_ * 7e-6
    if (i + round_) % 6 == 5:
        rtts: tuple[float | None, ...] = (None, None, None)
    elif (i + round_) % 4 == 2:
        rtts = (rtt, None, rtt * 1.5)
    else:
        rtts = (rtt, rtt * 1.1, rtt * 0.9)
    outcome = PingOutcome(f"127.0.{i // 200}.{i % 200 + 1}", rtts, ())
    return summarize(
        outcome, 0.5, name=_name(i), started=T0 + i * 0.37 + round_ * 60, duration=rtt * 3
    )


def _tcp(i: int, round_: int) -> ProbeResult:
    ok = (i + round_) % 5 != 1
    return ProbeResult(
        ok,
        "ok" if ok else 'refused "port"',
        "",
        T0 + i * 0.41 + round_ * 60,
        0.0021 + i * 1e-5,
        samples=(Sample("continuity_tcp_connect_seconds", 0.0011 + i * 1e-6, ()),) if ok else (),
    )


def _figures(i: int) -> Figures:
    availability: dict[str, float | None] = {
        "1h": 1.0 - i * 1e-4,
        "24h": 1.0 - i * 3e-5,
        "7d": None if i % 3 == 0 else 0.999,
        "30d": None if i % 3 == 0 else 0.9995,
    }
    return Figures(
        outages_total=i % 4,
        downtime_seconds_total=i * 12.345,
        availability=availability,
        mttr_seconds=None if i % 4 == 0 else 30.5 + i,
        mtbf_seconds=None if i % 4 == 0 else 86400.25 * i,
    )


def scenario() -> bytes:
    """The store's exposition after a fixed sequence of results, states and removals
    (the daemon's own metrics, which vary by process, are left out)."""
    families = [*STORE_FAMILIES, *(f for k in KINDS.values() for f in k.families)]
    exporter = Exporter(families, SelfMetrics())
    histogram = RttHistogram(exporter.store, DEFAULT_RTT_BUCKETS)
    n = 40
    for i in range(n):
        labels = {"site": f"S{i % 5}", "region": 'Quang "Ngai"' if i % 2 else "Hue\\North"}
        exporter.set_target(_name(i), labels)
        exporter.target_state(TargetState(_name(i)))
    for round_ in range(3):
        for i in range(n):
            if round_ == 2 and i == 11:
                continue  # removed in round 1
            name = _name(i)
            result = _icmp(i, round_)
            exporter.check_result(name, "icmp", result)
            rtt = dict((s.name, s.value) for s in result.samples if s.labels == (("stat", "avg"),))
            histogram.observe(name, "icmp", rtt.get("continuity_icmp_rtt_seconds"))
            if i % 3 == 0:
                tcp = _tcp(i, round_)
                exporter.check_result(name, "tcp", tcp)
                histogram.observe(name, "tcp", tcp.duration if tcp.ok else None)
            health = HEALTHS[(i + round_) % len(HEALTHS)]
            since = None if health is Health.UNKNOWN else T0 + i + round_ * 60.125
            exporter.target_state(TargetState(name, health, since=since))
        exporter.write_pending()  # what a scrape does first
        for i in range(0, n, 2 + round_):
            if round_ == 2 and i == 11:
                continue
            exporter.figures(_name(i), _figures(i + round_))
        exporter.predicted_dark(_name(5), None if round_ == 1 else T0 + 3600.5, "trend")
        exporter.slo(
            'core "sites"',
            0.999,
            SloStatus(0.5 - round_ * 0.25, {"1h": 2.0, "6h": None, "3d": 0.25}, False, False),
        )
        if round_ == 1:
            exporter.remove_target(_name(11))
            histogram.forget(_name(11))
            exporter.store.remove((_name(9), "tcp"))
            histogram.keep(_name(9), ["icmp"])
            exporter.remove_slo("none such")
    return exporter.store.render()


def test_the_exposition_of_the_fixed_scenario_is_unchanged() -> None:
    assert scenario() == GOLDEN.read_bytes()


def test_the_scenario_covers_what_it_claims() -> None:
    """The golden text holds every kind of line the docstring lists (so that a
    scenario change that loses one is noticed)."""
    text = GOLDEN.read_text()
    for needed in (
        'target="bts \\"3\\"\\\\x\\n"',
        'state="down"',
        'state="unknown"',
        "continuity_target_up{",
        'continuity_check_failure_info{target="site-009",',
        'reason="refused \\"port\\""',
        "continuity_icmp_packet_loss_ratio{",
        "continuity_availability_ratio{",
        "continuity_probe_rtt_seconds_bucket{",
        'continuity_slo_burn_rate{slo="core \\"sites\\"",window="3d"}',
        "continuity_ups_predicted_dark_timestamp_seconds{",
    ):
        assert needed in text, needed
    assert 'target="site-011"' not in text
    assert 'target="site-009"' in text and 'target="site-009",check="tcp"' not in text
