"""The status page's incidents at 10,001 targets: what folding costs per request.

``python -m bench.incidents_page``: a core router, 100 district routers
behind it and 99 sites behind each; the banner's incidents are built (roles
from the real policy, consequences folded, the first 50 made into views) once
with everything up and once with the core cut (one incident of 10,001
targets, the worst case: every target is a problem and hangs on one root).
Pure computation, no peers; CPU time per request, median of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from zoneinfo import ZoneInfo

from monitor.engine.policy import Policy
from monitor.engine.state import Health, TargetState, Topology, World
from monitor.web.page_locale import Locale
from monitor.web.status_page import BANNER_LIMIT, Line, Row, incident_view, incidents


def tree(routers: int, sites: int) -> dict[str, tuple[str, ...]]:
    parents: dict[str, tuple[str, ...]] = {"core": ()}
    for r in range(routers):
        parents[f"r{r}"] = ("core",)
        for s in range(sites):
            parents[f"s{r}-{s}"] = (f"r{r}",)
    return parents


def state(name: str, parents: tuple[str, ...], cut: bool) -> tuple[TargetState, str]:
    if not cut:
        return TargetState(name, Health.UP, 0.0, own=Health.UP), "up"
    failing = {"own": Health.DOWN, "flap_bits": 1, "flap_count": 1}
    if not parents:
        down = TargetState(
            name, Health.DOWN, 1.0, outage_start=1.0, outage_cause="check:icmp", **failing
        )
        return down, "down"
    cause = f"parent:{parents[0]}"
    behind = TargetState(
        name, Health.UNREACHABLE, 2.0, outage_start=2.0, outage_cause=cause, **failing
    )
    return behind, "unreachable"


def build(parents: dict[str, tuple[str, ...]], cut: bool) -> tuple[Policy, list[Line]]:
    states, lines = {}, []
    for name, ps in parents.items():
        st, shown = state(name, ps, cut)
        states[name] = st
        row = Row(name, "", "", "", shown, st.since, "", "", "", "", "", "", st.outage_start)
        lines.append(Line(st, None, (None, None), (), (), row, 1))
    return Policy(states, Topology.build(parents), World(), {}), lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    parents = tree(100, 99)
    loc = Locale("en", ZoneInfo("UTC"), 100.0)
    for cut in (False, True):
        policy, lines = build(parents, cut)
        runs = []
        for _ in range(args.runs):
            started = time.process_time()
            found = incidents(lines, policy)
            for incident in found[:BANNER_LIMIT]:
                incident_view(incident, loc)
            runs.append(time.process_time() - started)
        affected = sum(i.affected for i in found)
        print(
            f"{len(lines)} targets, core cut={cut}: {len(found)} incidents, {affected} affected,"
            f" median CPU {statistics.median(runs) * 1000:.1f} ms per request"
        )


if __name__ == "__main__":
    main()
