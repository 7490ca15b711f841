"""Detection lab: how fast and how truthfully the daemon pages, cut by cut.

    python -m bench.detect [--runs 3] [--loss-minutes 5] [--quick] [--only NAME ...]
    make bench-detect

A benchmark, not a CI test: it needs root (network namespaces, raw ICMP,
nftables). What runs, all on this machine:

- a router in a network namespace with 20 sites behind it
  (:func:`tests.netns_topology.router_with_sites`), 3 independent sites
  (:func:`tests.netns.netns_host`), and two loopback canaries
  (127.77.0.1/2, ``[monitor] canaries``); every address is 127.0.0.0/8 or a
  namespace host of this run (10.80.0.0/16 with its safety routes);
- the real daemon (``python -m monitor run``), one process per settings
  profile, its alerts routed to a ``webhook`` channel;
- a loopback aiohttp webhook receiver (:class:`tests.peers.WebhookReceiver`)
  stamping every alert's arrival on the same monotonic clock as the cuts.

Scenarios (each repeated ``--runs`` times unless noted, every step bounded;
at interval 1 s a run starts only once a whole flapping window has passed
since the previous run's repair, and the site scenarios cut a different site
each run, so every run is a fresh incident):

- ``site-1s`` / ``site-10s``: one site cut at interval 1 s / 10 s, restored;
- ``router``: the router's uplink cut with its 20 sites behind it;
- ``site-router-rf`` / ``site-router-sf``: a site cut and paged, then its
  router cut; restored router first / site first;
- ``blip-2s`` / ``blip-4s``: the router's uplink cut for 2 s / 4 s;
- ``storm`` (issue 12): the router and the 3 independent sites cut at once,
  canaries up;
- ``planned`` (issue 12): maintenance on the router through
  ``POST /api/v1/maintenance``, the uplink cut and restored, the window ended
  (``DELETE``);
- ``loss-1`` / ``loss-3``: 20 % random loss (nftables in the site's
  namespace) on 10 sites for ``--loss-minutes`` with 1 / 3 echoes per run
  (run once, not ``--runs`` times).

The rule the figures are judged by (README, "the continuity model"): with
``D = (fall - 1) x down_interval``, a failure shorter than D never pages, one
longer than ``interval + D + timeout + 2 s`` always does. Per scenario it
prints time to page (from the cut) and to resolve (from the moment the
target is really reachable again: its own link and its router's), median and
worst over the runs, and counts:

- ``pages``/``resolves``: firing/resolved alerts received (any alert name);
- ``false``: pages that are not a root cause's first page of its outage (a
  site behind a cut router, a failure shorter than D, a target in
  maintenance, a second page within one outage, ``MonitorIsolated`` while the
  canaries answer, any ``TargetDown`` for a host with random loss; one
  ``TargetFlapping`` per lossy host is allowed);
- ``missed``: cuts longer than the bound that were not paged;
- ``late``: root-cause pages that came later than the bound after the cut;
- ``lost``: pages with no resolve after the repair, and resolves that came
  while the target was still cut off.

Results go to ``bench/results/detect-YYYYmmdd-HHMMSS.json``; namespaces and
processes are removed on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from alerts.config import AlertsSection
from monitor.engine.state import FLAP_WINDOW
from tests import netns
from tests.daemon_process import DaemonProcess
from tests.detect_lab import (
    add_loss,
    cut_site,
    drained,
    remove_loss,
    restore_site,
    targets,
    webhook_channel,
)
from tests.netns_topology import Site, restore_uplink, router_with_sites
from tests.peers import Delivery, WebhookReceiver

RESULTS = Path(__file__).resolve().parent / "results"
ROUTER = "rtr"
CANARIES = {"canary-1": "127.77.0.1", "canary-2": "127.77.0.2"}
LOSS_PERCENT = 20


@dataclass(frozen=True)
class Profile:
    """Check settings of one daemon process."""

    name: str
    interval: float
    timeout: float
    fall: int
    rise: int
    down_interval: float
    count: int
    packet_interval: float = 0.2

    @property
    def debounce(self) -> float:
        """D: how long a failure lasts, from its first failed run, before it pages."""
        return (self.fall - 1) * self.down_interval

    @property
    def bound(self) -> float:
        """A failure longer than this always pages (and is paged within it)."""
        return self.interval + self.debounce + self.timeout + 2.0


FAST = Profile("1s", interval=1, timeout=1, fall=3, rise=2, down_interval=1, count=1)
FAST1 = Profile("1s-1echo", interval=1, timeout=1, fall=3, rise=2, down_interval=1, count=1)
FAST3 = Profile("1s-3echoes", interval=1, timeout=1, fall=3, rise=2, down_interval=1, count=3)
SLOW = Profile("10s", interval=10, timeout=2, fall=3, rise=2, down_interval=3, count=3)


def fmt(seconds: float) -> str:
    return f"{seconds:g}s"


def daemon_config(profile: Profile, lab: Lab, receiver: WebhookReceiver) -> str:
    lines = [
        "[monitor]",
        'instance = "detect"',
        f"canaries = {json.dumps(list(CANARIES))}",
        "",
        "[defaults]",
        'checks = ["icmp"]',
        f'interval = "{fmt(profile.interval)}"',
        f'timeout = "{fmt(profile.timeout)}"',
        f'down_interval = "{fmt(profile.down_interval)}"',
        f"fall = {profile.fall}",
        f"rise = {profile.rise}",
        "",
        "[defaults.icmp]",
        f"count = {profile.count}",
        f'packet_interval = "{fmt(profile.packet_interval)}"',
    ]
    for name, address in lab.addresses().items():
        lines += ["", "[[targets]]", f'name = "{name}"', f'address = "{address}"']
        if name in lab.parent:
            lines.append(f'parents = ["{lab.parent[name]}"]')
    return "\n".join(lines) + "\n" + webhook_channel(receiver)


# -- the lab: hosts, cuts and the ground truth ---------------------------------------------


@dataclass
class Lab:
    """The namespace hosts, and a log of every cut and repair (the ground truth)."""

    router: netns.NetnsHost
    sites: dict[str, Site]
    independent: dict[str, netns.NetnsHost]
    parent: dict[str, str] = field(default_factory=dict)
    log: list[tuple[float, str, str]] = field(default_factory=list)  # (t, target, cut|restore)
    last_repair: float = 0.0  # monotonic time of the latest restore (kept across runs)

    def addresses(self) -> dict[str, str]:
        out = dict(CANARIES)
        out[ROUTER] = self.router.v4
        out.update({name: site.v4 for name, site in self.sites.items()})
        out.update({name: host.v4 for name, host in self.independent.items()})
        return out

    def names(self) -> list[str]:
        return list(self.addresses())

    def cut(self, *names: str) -> None:
        for name in names:
            started = time.monotonic()  # from before the command: times to page err long
            if name == ROUTER:
                self.router.cut()
            elif name in self.sites:
                cut_site(self.router.name, self.sites[name])
            else:
                self.independent[name].cut()
            self.log.append((started, name, "cut"))

    def restore(self, *names: str) -> None:
        for name in names:
            if name == ROUTER:
                restore_uplink(self.router, list(self.sites.values()))
            elif name in self.sites:
                restore_site(self.router.name, self.sites[name])
            else:
                self.independent[name].restore()
            # after the command: the link works from here, times to resolve err long
            self.last_repair = time.monotonic()
            self.log.append((self.last_repair, name, "restore"))

    def own_intervals(self, name: str, end: float) -> list[tuple[float, float]]:
        """When the target's own link was cut (an open cut ends at ``end``)."""
        out: list[tuple[float, float]] = []
        start: float | None = None
        for at, who, what in self.log:
            if who != name:
                continue
            if what == "cut" and start is None:
                start = at
            elif what == "restore" and start is not None:
                out.append((start, at))
                start = None
        if start is not None:
            out.append((start, end))
        return out

    def dark(self, name: str, at: float, end: float) -> bool:
        """Whether the target was cut off (its link or its router's) at ``at``."""
        chain = [name] + ([self.parent[name]] if name in self.parent else [])
        return any(s <= at < e for who in chain for s, e in self.own_intervals(who, end))

    def light_again(self, name: str, after: float, end: float) -> float | None:
        """The first moment after ``after`` when the target is reachable again."""
        chain = [name] + ([self.parent[name]] if name in self.parent else [])
        candidates = [after] + [
            e for who in chain for _, e in self.own_intervals(who, end) if e > after
        ]
        for moment in sorted(candidates):
            if not self.dark(name, moment, end):
                return moment
        return None


@contextlib.contextmanager
def build_lab() -> Iterator[Lab]:
    with router_with_sites(20) as (router, sites), contextlib.ExitStack() as stack:
        independent = {f"x{i}": stack.enter_context(netns.netns_host()) for i in (1, 2, 3)}
        named = {f"s{i:02d}": site for i, site in enumerate(sites, 1)}
        lab = Lab(router, named, independent, parent={name: ROUTER for name in named})
        yield lab


# -- one run of a scenario and its verdict -------------------------------------------------


@dataclass
class Run:
    """What one repetition did and received."""

    start: float
    index: int = 0  # 0-based repetition number
    end: float = 0.0
    muted: set[str] = field(default_factory=set)  # in maintenance: any page is false
    lossy: set[str] = field(default_factory=set)  # random loss: TargetDown is false
    deliveries: list[Delivery] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    page_s: list[float] = field(default_factory=list)
    resolve_s: list[float] = field(default_factory=list)
    pages: int = 0
    resolves: int = 0
    false: int = 0
    missed: int = 0
    late: int = 0
    lost: int = 0
    details: list[str] = field(default_factory=list)


def judge(run: Run, lab: Lab, profile: Profile) -> Verdict:
    """Compare what arrived with the cuts that happened."""
    verdict = Verdict()
    firing = [d for d in run.deliveries if d.status == "firing"]
    verdict.pages = len(firing)
    verdict.resolves = sum(1 for d in run.deliveries if d.status == "resolved")
    used: set[tuple[str, float]] = set()  # (target, interval start) already paged
    flapped: set[str] = set()
    for page in firing:
        reason = _false_reason(page, run, lab, profile, used, flapped)
        if reason:
            verdict.false += 1
            verdict.details.append(f"false page: {page} ({reason})")
        _judge_resolve(page, run, lab, verdict, legit=not reason)
    for name in lab.names():
        for start, end in lab.own_intervals(name, run.end):
            if name in run.muted or end - start <= profile.bound:
                continue
            if (name, start) not in used:
                verdict.missed += 1
                verdict.details.append(f"missed: {name} cut for {end - start:.1f} s, no page")
    for page in firing:
        for start, _ in lab.own_intervals(page.target, run.end):
            if (page.target, start) in used and start <= page.at and page.alertname == "TargetDown":
                verdict.page_s.append(page.at - start)
                if page.at - start > profile.bound:
                    verdict.late += 1
                    verdict.details.append(f"late: {page}, {page.at - start:.1f} s after its cut")
                used.discard((page.target, start))  # one time per interval
                break
    return verdict


def _false_reason(
    page: Delivery,
    run: Run,
    lab: Lab,
    profile: Profile,
    used: set[tuple[str, float]],
    flapped: set[str],
) -> str:
    """Why a page is false, or "" when it is a root cause's first page."""
    if page.target in run.muted:
        return "in maintenance"
    if page.alertname == "TargetFlapping" and page.target in run.lossy:
        if page.target in flapped:
            return "flapping paged again"
        flapped.add(page.target)
        return ""
    if page.alertname != "TargetDown":
        return f"{page.alertname} with no cause for it"
    if page.target in run.lossy:
        return "random loss, never cut"
    for start, end in lab.own_intervals(page.target, run.end):
        if start <= page.at:
            if end - start < profile.debounce:
                return f"cut for {end - start:.1f} s < D = {profile.debounce:g} s"
            if (page.target, start) in used:
                return "second page of one outage"
            if page.at > end + profile.bound:
                continue  # long after this cut: not its page
            used.add((page.target, start))
            return ""
    if page.target in lab.parent and lab.own_intervals(lab.parent[page.target], run.end):
        return f"behind {lab.parent[page.target]}, never cut itself"
    return "never cut"


def _judge_resolve(page: Delivery, run: Run, lab: Lab, verdict: Verdict, *, legit: bool) -> None:
    resolve = next(
        (
            d
            for d in run.deliveries
            if d.status == "resolved" and d.key == page.key and d.at > page.at
        ),
        None,
    )
    if resolve is None:
        verdict.lost += 1
        verdict.details.append(f"lost resolve: {page} never resolved")
        return
    if page.target and lab.dark(page.target, resolve.at, run.end):
        verdict.lost += 1
        verdict.details.append(f"lost resolve: {resolve} while still cut off")
        return
    back = lab.light_again(page.target, page.at, run.end) if page.target else None
    if legit and back is not None and page.target not in run.lossy:
        verdict.resolve_s.append(resolve.at - back)


# -- scenario steps ------------------------------------------------------------------------


@dataclass
class Bench:
    lab: Lab
    receiver: WebhookReceiver
    daemon: DaemonProcess
    profile: Profile
    limit: float  # hard limit of one run, seconds
    fresh: bool = True  # wait a flapping window between runs (not in --quick)

    def deadline_left(self, run: Run) -> float:
        return run.start + self.limit - time.monotonic()

    def settle(self, timeout: float = 60.0) -> str:
        """Until every target is up and nothing is firing (bounded); what was not, if so.

        At short intervals also until a whole flapping window (``FLAP_WINDOW``
        results) has passed since the previous run's last repair: each run is a
        fresh incident, not one more change in a target's flapping history.
        """
        if self.fresh and self.profile.interval <= 2:
            clean = self.lab.last_repair + (FLAP_WINDOW + 1) * self.profile.interval
            time.sleep(max(0.0, clean - time.monotonic()))
        names = self.lab.names()
        end = time.monotonic() + timeout
        while True:
            views = targets(self.daemon)
            alerts = self.daemon.json("/api/v1/alerts")
            assert isinstance(alerts, dict)
            down = [n for n in names if views[n]["state"] != "up"]
            firing = [
                f"{a['labels'].get('alertname')} {a['labels'].get('target', '')}"
                for a in alerts["alerts"]
            ]
            if not down and not firing:
                return ""
            if time.monotonic() > end:
                return f"started unsettled: not up {down}, active alerts {firing}"
            time.sleep(0.2)

    def wait_page(self, run: Run, name: str, timeout: float) -> None:
        """Until ``name`` is paged (or ``timeout``, bounded by the run's limit)."""
        got = self.receiver.wait(
            lambda d: d.status == "firing" and d.target == name,
            min(timeout, max(self.deadline_left(run), 0)),
            since=run.start,
        )
        if got is None:
            run.notes.append(f"no page for {name} within {timeout:.0f} s")

    def hold(self, run: Run, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline_left(run))))

    def quiet_end(self, run: Run, quiet: float) -> None:
        """After the last repair: ``quiet`` seconds for late pages, then until every target
        is up, nothing is firing and the outbox is empty, so the resolves land in this run."""
        self.hold(run, quiet)
        names = self.lab.names()
        while self.deadline_left(run) > 0:
            views = targets(self.daemon)
            alerts = self.daemon.json("/api/v1/alerts")
            assert isinstance(alerts, dict)
            if (
                all(views[n]["state"] == "up" for n in names)
                and not alerts["alerts"]
                and drained(self.daemon)
            ):
                return
            time.sleep(0.2)
        run.notes.append("not all up, resolved and sent within the run's limit")


Step = Callable[[Bench, Run], None]


def site_of(run: Run) -> str:
    """A different site each run, so no site's flapping history spans runs."""
    return f"s{run.index % 20 + 1:02d}"


def s_site(b: Bench, run: Run) -> None:
    site = site_of(run)
    b.lab.cut(site)
    b.wait_page(run, site, b.profile.bound + 3)
    b.hold(run, 2)
    b.lab.restore(site)
    b.quiet_end(run, 3)


def s_router(b: Bench, run: Run) -> None:
    b.lab.cut(ROUTER)
    b.wait_page(run, ROUTER, b.profile.bound + 3)
    b.hold(run, 3)
    b.lab.restore(ROUTER)
    b.quiet_end(run, 3)


def s_site_router(router_first: bool) -> Step:
    def step(b: Bench, run: Run) -> None:
        site = site_of(run)
        b.lab.cut(site)
        b.wait_page(run, site, b.profile.bound + 3)
        b.hold(run, 1)
        b.lab.cut(ROUTER)
        b.wait_page(run, ROUTER, b.profile.bound + 3)
        b.hold(run, 3)
        first, second = (ROUTER, site) if router_first else (site, ROUTER)
        b.lab.restore(first)
        b.hold(run, 6)  # the site is still cut off: nothing about it may be resolved
        b.lab.restore(second)
        b.quiet_end(run, 3)

    return step


def s_blip(seconds: float) -> Step:
    def step(b: Bench, run: Run) -> None:
        b.lab.cut(ROUTER)
        time.sleep(seconds)
        b.lab.restore(ROUTER)
        b.quiet_end(run, 5)

    return step


def s_storm(b: Bench, run: Run) -> None:
    roots = [ROUTER, *b.lab.independent]
    b.lab.cut(*roots)
    for name in roots:
        b.wait_page(run, name, b.profile.bound + 3)
    b.hold(run, 3)
    b.lab.restore(*roots)
    b.quiet_end(run, 3)


def s_planned(b: Bench, run: Run) -> None:
    run.muted = {ROUTER, *b.lab.sites}
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    status, text = b.daemon.request(
        "POST",
        "/api/v1/maintenance",
        {
            "targets": [ROUTER],
            "end": end.isoformat().replace("+00:00", "Z"),
            "comment": "bench: planned work on the router",
            "created_by": "bench",
        },
    )
    if status != 201:
        raise RuntimeError(f"maintenance refused: {status} {text}")
    window = json.loads(text)["id"]
    try:
        b.hold(run, 1)
        b.lab.cut(ROUTER)
        b.hold(run, b.profile.bound + 3)
        b.lab.restore(ROUTER)
        names = b.lab.names()
        while b.deadline_left(run) > 0:
            views = targets(b.daemon)
            if all(views[n]["state"] in ("up", "maintenance") for n in names):
                break
            time.sleep(0.2)
        b.hold(run, 2)
    finally:
        b.daemon.request("DELETE", f"/api/v1/maintenance/{window}")
    b.quiet_end(run, 5)


def s_loss(minutes: float) -> Step:
    def step(b: Bench, run: Run) -> None:
        lossy = list(b.lab.sites)[:10]
        run.lossy = set(lossy)
        try:
            for name in lossy:
                add_loss(b.lab.sites[name].name, LOSS_PERCENT)
            b.hold(run, minutes * 60)
        finally:
            for name in lossy:
                remove_loss(b.lab.sites[name].name)
        b.quiet_end(run, 5)

    return step


@dataclass(frozen=True)
class Scenario:
    name: str
    profile: Profile
    step: Step
    limit: float  # seconds per run
    once: bool = False  # long: run once whatever --runs says


def scenarios(loss_minutes: float) -> list[Scenario]:
    # A flapping episode resolves ``[alerts] flapping_keep_for`` after the flapping
    # stopped (a calm window after the loss): the run waits for those resolves too.
    keep_for = AlertsSection().flapping_keep_for
    loss_limit = loss_minutes * 60 + 90 + keep_for + FLAP_WINDOW
    return [
        Scenario("site-1s", FAST, s_site, 45),
        Scenario("router", FAST, s_router, 50),
        Scenario("site-router-rf", FAST, s_site_router(True), 70),
        Scenario("site-router-sf", FAST, s_site_router(False), 70),
        Scenario("blip-2s", FAST, s_blip(2), 40),
        Scenario("blip-4s", FAST, s_blip(4), 40),
        Scenario("storm", FAST, s_storm, 60),
        Scenario("planned", FAST, s_planned, 70),
        Scenario("site-10s", SLOW, s_site, 120),
        # the loss runs last, each with a fresh daemon (flapping history of its own)
        Scenario("loss-1", FAST1, s_loss(loss_minutes), loss_limit, once=True),
        Scenario("loss-3", FAST3, s_loss(loss_minutes), loss_limit, once=True),
    ]


# -- driving it ----------------------------------------------------------------------------


def run_scenario(b: Bench, scenario: Scenario, runs: int) -> dict[str, Any]:
    verdicts: list[Verdict] = []
    notes: list[str] = []
    for index in range(1 if scenario.once else runs):
        unsettled = b.settle()
        run = Run(start=time.monotonic(), index=index)
        if unsettled:
            run.notes.append(unsettled)
        b.lab.log.clear()
        try:
            scenario.step(b, run)
        finally:
            # whatever happened, leave every link up for the next run
            cut = {name for _, name, what in b.lab.log if what == "cut"}
            restored = {name for _, name, what in b.lab.log if what == "restore"}
            for name in cut - restored:
                b.lab.restore(name)
        run.end = time.monotonic()
        run.deliveries = b.receiver.deliveries(since=run.start)
        verdict = judge(run, b.lab, b.profile)
        verdicts.append(verdict)
        notes += [f"run {index + 1}: {n}" for n in run.notes + verdict.details]
        print(
            f"  {scenario.name} run {index + 1}: pages {verdict.pages} resolves "
            f"{verdict.resolves} false {verdict.false} missed {verdict.missed} "
            f"late {verdict.late} lost {verdict.lost} ({run.end - run.start:.0f} s)",
            flush=True,
        )
    return summarize(scenario, verdicts, notes)


def summarize(scenario: Scenario, verdicts: list[Verdict], notes: list[str]) -> dict[str, Any]:
    page_s = [t for v in verdicts for t in v.page_s]
    resolve_s = [t for v in verdicts for t in v.resolve_s]
    return {
        "scenario": scenario.name,
        "profile": asdict(scenario.profile),
        "debounce_s": scenario.profile.debounce,
        "bound_s": scenario.profile.bound,
        "runs": len(verdicts),
        "page_median_s": statistics.median(page_s) if page_s else None,
        "page_worst_s": max(page_s) if page_s else None,
        "resolve_median_s": statistics.median(resolve_s) if resolve_s else None,
        "resolve_worst_s": max(resolve_s) if resolve_s else None,
        "pages": sum(v.pages for v in verdicts),
        "resolves": sum(v.resolves for v in verdicts),
        "false": sum(v.false for v in verdicts),
        "missed": sum(v.missed for v in verdicts),
        "late": sum(v.late for v in verdicts),
        "lost": sum(v.lost for v in verdicts),
        "notes": notes,
    }


def table(rows: list[dict[str, Any]]) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    out = [
        "| scenario | runs | D / bound s | page med / worst s | resolve med / worst s "
        "| pages | resolves | false | missed | late | lost |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        out.append(
            f"| {r['scenario']} | {r['runs']} | {r['debounce_s']:g} / {r['bound_s']:g} "
            f"| {cell(r['page_median_s'])} / {cell(r['page_worst_s'])} "
            f"| {cell(r['resolve_median_s'])} / {cell(r['resolve_worst_s'])} "
            f"| {r['pages']} | {r['resolves']} | {r['false']} | {r['missed']} | {r['late']} "
            f"| {r['lost']} |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="repetitions per scenario (3)")
    parser.add_argument("--loss-minutes", type=float, default=5.0, help="loss scenarios (5)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 run each, 0.5 min of loss, no flapping window between runs",
    )
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    args = parser.parse_args(argv)
    reason = netns.skip_reason()
    if reason is not None:
        print(f"bench.detect: {reason}", file=sys.stderr)
        return 2
    runs = 1 if args.quick else max(1, args.runs)
    loss_minutes = 0.5 if args.quick else args.loss_minutes
    chosen = [s for s in scenarios(loss_minutes) if not args.only or s.name in args.only]
    load = os.getloadavg()
    started = time.strftime("%Y%m%d-%H%M%S")
    rows: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp,
        build_lab() as lab,
        WebhookReceiver() as receiver,
    ):
        for profile in dict.fromkeys(s.profile for s in chosen):
            directory = Path(tmp) / profile.name
            directory.mkdir()
            config = daemon_config(profile, lab, receiver)
            with DaemonProcess(config, directory) as daemon:
                for scenario in (s for s in chosen if s.profile == profile):
                    print(f"{scenario.name} (interval {fmt(profile.interval)})", flush=True)
                    b = Bench(lab, receiver, daemon, profile, scenario.limit, not args.quick)
                    rows.append(run_scenario(b, scenario, runs))
    print()
    print(table(rows))
    for row in rows:
        for note in row["notes"][:8]:
            print(f"  {row['scenario']}: {note}")
        if len(row["notes"]) > 8:
            print(f"  {row['scenario']}: ... {len(row['notes']) - 8} more in the results file")
    load_after = os.getloadavg()
    print(f"\nload average before {load[0]:.2f}, after {load_after[0]:.2f} (2 cores, shared)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"detect-{started}.json"
    out.write_text(
        json.dumps(
            {"load_before": load, "load_after": load_after, "runs": runs, "rows": rows}, indent=2
        )
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
