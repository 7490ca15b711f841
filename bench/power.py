"""Time to dark in a storm: what the estimator, the rule and the board cost the daemon.

``python -m bench.power``: N UPS targets (default 1,000, the design's SNMP
scale) all on battery, each with a full trend window (60 polls), behind 10
routers with 20 sites behind each UPS's router share. Measured with
``time.process_time``, median of ``--runs``:

- **per poll**: one UPS result through :class:`monitor.engine.power.PowerWatch`
  (observe, estimate), the exporter's series and ``SiteGoingDark``'s rule;
- **per alert tick** (every second): every UPS on battery through the rule
  (the estimate is cached per reading), for all N;
- **per board**: the status page's power board rows for all N, sorted, with
  what goes dark behind each.

Pure computation on the real modules, no peers: the figure to compare is the
SNMP poll itself (5.4 ms of CPU per poll in ``bench.snmp``, same machine).
"""

from __future__ import annotations

import argparse
import statistics
import time
from zoneinfo import ZoneInfo

from alerts.rules import RuleBook, TargetInfo
from monitor.alert_flow import dark_notes
from monitor.engine.config import Config, MonitorSection, Target
from monitor.engine.exporter import Exporter, SelfMetrics
from monitor.engine.policy import Policy
from monitor.engine.power import TREND_POINTS, PowerWatch
from monitor.engine.state import Health, TargetState, Topology, World
from monitor.web.page_locale import Locale
from monitor.web.power_board import board_rows

T0 = 1_800_000_000.0
LEAD = 1800.0


def values(charge: float) -> dict[str, float]:
    return {
        "ups_on_battery": 1.0,
        "ups_battery_charge_ratio": charge,
        "ups_battery_runtime_seconds": 7200.0,
    }


def setup(n: int) -> tuple[PowerWatch, Exporter, RuleBook, dict[str, TargetInfo]]:
    watch = PowerWatch()
    exporter = Exporter([], SelfMetrics())
    infos = {}
    for i in range(n):
        name = f"ups-{i}"
        exporter.set_target(name, {"site": f"S{i}", "province": "Quang Ngai"})
        infos[name] = TargetInfo(name, {"site": f"S{i}"})
        for k in range(TREND_POINTS):
            watch.observe(name, T0 + 30 * k, values(0.9 - 0.001 * k))
    return watch, exporter, RuleBook(instance="bench"), infos


def per_poll(n: int) -> float:
    watch, exporter, rules, infos = setup(n)
    at = T0 + 30 * TREND_POINTS
    started = time.process_time()
    for i in range(n):
        name = f"ups-{i}"
        watch.observe(name, at, values(0.83))
        estimate = watch.estimate(name)
        assert estimate is not None
        exporter.predicted_dark(name, estimate.dark_at, estimate.method)
        rules.going_dark(
            infos[name],
            estimate.dark_at,
            at,
            lead=LEAD,
            notes=lambda e=estimate: dark_notes(e, at, "Asia/Ho_Chi_Minh", []),
        )
    return (time.process_time() - started) / n


def per_tick(n: int) -> float:
    watch, _, rules, infos = setup(n)
    at = T0 + 30 * TREND_POINTS
    watch.on_battery()  # the daemon works each estimate out when its poll arrives
    started = time.process_time()
    for name, estimate in watch.on_battery().items():
        assert estimate is not None
        rules.going_dark(infos[name], estimate.dark_at, at, lead=LEAD)
    return time.process_time() - started


def per_board(n: int) -> float:
    watch, _, _, _ = setup(n)
    watch.on_battery()  # estimates worked out at their polls, as in the daemon
    targets = [Target(f"rtr-{r}", "127.0.0.1", ()) for r in range(10)]
    parents: dict[str, tuple[str, ...]] = {t.name: () for t in targets}
    for i in range(n):
        ups = f"ups-{i}"
        targets.append(Target(ups, "127.0.0.1", (), parents=(f"rtr-{i % 10}",)))
        parents[ups] = (f"rtr-{i % 10}",)
        for s in range(20 if i < 10 else 0):  # the first UPS feed a router's sites each
            site = f"site-{i}-{s}"
            targets.append(Target(site, "127.0.0.1", (), parents=(ups,)))
            parents[site] = (ups,)
    config = Config(MonitorSection(), tuple(targets))
    states = {name: TargetState(name, Health.UP, 0.0, own=Health.UP) for name in parents}
    policy = Policy(states, Topology.build(parents), World())
    loc = Locale("en", ZoneInfo("Asia/Ho_Chi_Minh"), T0 + 30 * TREND_POINTS)
    started = time.process_time()
    rows = board_rows(watch.on_battery(), config, policy, loc)
    assert len(rows) == n
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ups", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for label, measure, unit, scale in (
        ("per UPS poll", per_poll, "µs", 1e6),
        ("per alert tick, all UPS", per_tick, "ms", 1e3),
        ("per power board, all UPS", per_board, "ms", 1e3),
    ):
        runs = [measure(args.ups) * scale for _ in range(args.runs)]
        shown = ", ".join(f"{r:.1f}" for r in runs)
        print(f"{label} ({args.ups} on battery): {statistics.median(runs):.1f} {unit} ({shown})")


if __name__ == "__main__":
    main()
