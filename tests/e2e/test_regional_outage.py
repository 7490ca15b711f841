"""A regional outage end to end (issue 12): one suppression policy over the dependency tree.

Two district routers in network namespaces, router A with 5 sites behind it
and router B with 3, three independent sites, two canaries, the daemon as a
process and a loopback webhook receiver. Interval 1 s, ``down_interval`` 1 s,
``fall`` 3: a root cause is paged within ``fall x interval + 2 s``.

- (a) a storm: router A's uplink and the 3 independent sites cut at once,
  canaries up: exactly 4 ``TargetDown`` pages, none for the sites behind A,
  no ``MonitorIsolated``, no loss-rule alert for the sites behind A; the 4
  resolves after the repair and nothing else;
- (b) planned work: maintenance on router B through the API covers its
  sites; cut, restore, end the window: nothing paged;
- (c) the monitor's own uplink: every link from the monitor (the canaries,
  both routers, the independent sites) cut at once: one ``MonitorIsolated``
  naming the canaries, per-target pages held; targets that recover before
  isolation ends (early, or together with the canaries) are never paged, one
  still down afterwards is (a rule's warning about that one is not judged).
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.detect_lab import drained, is_page, is_resolve, summary, targets, webhook_channel
from tests.helpers import wait_until
from tests.netns_topology import Site, restore_uplink, router_with_sites
from tests.peers import Delivery, WebhookReceiver

INTERVAL, TIMEOUT, FALL, RISE = 1.0, 1.0, 3, 2
PAGE_WITHIN = FALL * INTERVAL + 2.0
LOOPBACK_CANARIES = {"canary-1": "127.77.0.1", "canary-2": "127.77.0.2"}

CONFIG = f"""
[monitor]
instance = "regional"
canaries = ["canary-1", "canary-2"]

[defaults]
checks = ["icmp"]
interval = "{INTERVAL:g}s"
timeout = "{TIMEOUT:g}s"
down_interval = "{INTERVAL:g}s"
fall = {FALL}
rise = {RISE}

[defaults.icmp]
count = 1

[[alerts.rules]]
name = "HighLoss"
metric = "icmp.packet_loss_ratio"
above = 0.3
for = "2s"
"""


@dataclass
class Scene:
    daemon: DaemonProcess
    receiver: WebhookReceiver
    routers: dict[str, netns.NetnsHost]  # rtr-a, rtr-b
    sites: dict[str, dict[str, Site]]  # router name -> its sites by name
    independent: dict[str, netns.NetnsHost]  # x1..x3
    canaries: dict[str, netns.NetnsHost]  # empty when the canaries are on loopback

    def state(self, name: str) -> str:
        return str(targets(self.daemon)[name]["state"])

    def states(self) -> dict[str, str]:
        return {name: str(v["state"]) for name, v in targets(self.daemon).items()}

    def all_up(self, timeout: float = 15) -> None:
        wait_until(lambda: set(self.states().values()) == {"up"}, timeout, "all targets up")

    def cut_router(self, router: str) -> float:
        at = time.monotonic()
        self.routers[router].cut()
        return at

    def restore_router(self, router: str) -> None:
        restore_uplink(self.routers[router], list(self.sites[router].values()))

    def quiet(self) -> None:
        """Positive end: every target up again and the outbox empty."""
        self.all_up()
        wait_until(lambda: drained(self.daemon), 5, "the outbox drained")


def config_text(scene_hosts: dict[str, str], parents: dict[str, str], hook: WebhookReceiver) -> str:
    text = CONFIG
    for name, address in scene_hosts.items():
        text += f'\n[[targets]]\nname = "{name}"\naddress = "{address}"\n'
        if name in parents:
            text += f'parents = ["{parents[name]}"]\n'
    return text + webhook_channel(hook)


@pytest.fixture
def make_scene(tmp_path: Path) -> Iterator[object]:
    """``make_scene(canaries_in_namespaces)`` builds the topology and starts the daemon."""
    netns.require()
    with ExitStack() as stack:

        def make(canaries_in_namespaces: bool = False) -> Scene:
            ra, a_sites = stack.enter_context(router_with_sites(5))
            rb, b_sites = stack.enter_context(router_with_sites(3))
            independent = {f"x{i}": stack.enter_context(netns.netns_host()) for i in (1, 2, 3)}
            canaries = (
                {name: stack.enter_context(netns.netns_host()) for name in LOOPBACK_CANARIES}
                if canaries_in_namespaces
                else {}
            )
            hook = stack.enter_context(WebhookReceiver())
            sites = {
                "rtr-a": {f"a{i}": s for i, s in enumerate(a_sites, 1)},
                "rtr-b": {f"b{i}": s for i, s in enumerate(b_sites, 1)},
            }
            hosts = {"rtr-a": ra.v4, "rtr-b": rb.v4}
            parents: dict[str, str] = {}
            for router, named in sites.items():
                for name, site in named.items():
                    hosts[name] = site.v4
                    parents[name] = router
            hosts.update({name: host.v4 for name, host in independent.items()})
            hosts.update(
                {name: host.v4 for name, host in canaries.items()}
                if canaries
                else LOOPBACK_CANARIES
            )
            daemon = stack.enter_context(DaemonProcess(config_text(hosts, parents, hook), tmp_path))
            scene = Scene(daemon, hook, {"rtr-a": ra, "rtr-b": rb}, sites, independent, canaries)
            scene.all_up()
            return scene

        yield make


def target_downs(deliveries: list[Delivery], status: str) -> list[str]:
    return sorted(
        d.target for d in deliveries if d.alertname == "TargetDown" and d.status == status
    )


def check_bodies(deliveries: list[Delivery]) -> None:
    """Every alert's labels, status and its notification's status agree."""
    for d in deliveries:
        assert d.alert["labels"]["alertname"] == d.alertname, d.alert
        assert d.alert["labels"].get("target", "") == d.target, d.alert
        assert d.alert["status"] == d.status == d.body["status"], d.body


def test_storm_pages_exactly_the_root_causes(make_scene: object) -> None:
    scene: Scene = make_scene()  # type: ignore[operator]
    hook, daemon = scene.receiver, scene.daemon
    roots = ["rtr-a", "x1", "x2", "x3"]
    cut_at = {"rtr-a": scene.cut_router("rtr-a")}
    for name in ("x1", "x2", "x3"):
        cut_at[name] = time.monotonic()
        scene.independent[name].cut()

    for name in roots:
        page = hook.wait(is_page("TargetDown", name), PAGE_WITHIN + 2)
        assert page is not None and page.at - cut_at[name] <= PAGE_WITHIN, (
            f"TargetDown {name} not paged within fall x interval + 2 s = {PAGE_WITHIN:g} s "
            f"({'never' if page is None else f'after {page.at - cut_at[name]:.1f} s'}); "
            f"received: {summary(hook.deliveries())}"
        )
    # Positive signal: the sites behind A are unreachable, and have been failing for longer
    # than the loss rule's `for` (2 s) plus a run: the rule had every chance to fire.
    behind = list(scene.sites["rtr-a"])
    wait_until(
        lambda: (
            all(
                v["state"] == "unreachable"
                and v["checks"][0]["last"] is not None
                and not v["checks"][0]["last"]["ok"]
                for n, v in targets(daemon).items()
                if n in behind
            )
            and time.monotonic() - cut_at["rtr-a"] > 3.0 + INTERVAL
        ),
        10,
        "the sites behind rtr-a unreachable and failing for 3 s",
    )
    wait_until(lambda: drained(daemon), 5, "the outbox drained")
    during = hook.deliveries()
    assert not [d for d in during if d.alertname == "MonitorIsolated"], (
        f"MonitorIsolated although both canaries answer: {summary(during)}"
    )
    assert not [d for d in during if d.alertname == "HighLoss" and d.target in behind], (
        f"the loss rule fired for sites behind the cut router: {summary(during)}"
    )
    assert target_downs(during, "firing") == roots, summary(during)

    repaired = time.monotonic()
    scene.restore_router("rtr-a")
    for name in ("x1", "x2", "x3"):
        scene.independent[name].restore()
    for name in roots:
        assert hook.wait(is_resolve("TargetDown", name), 10, since=repaired) is not None, (
            f"{name} not resolved after the repair: {summary(hook.deliveries())}"
        )
    scene.quiet()
    after = hook.deliveries(since=repaired)
    assert [d for d in after if d.status == "firing"] == [], (
        f"paged after the repair: {summary(after)}"
    )
    everything = hook.deliveries()
    assert target_downs(everything, "firing") == roots
    assert target_downs(everything, "resolved") == roots
    # Only the roots were ever spoken of (a rule's warning about a root itself is not judged here).
    assert {d.target for d in everything} <= set(roots), summary(everything)
    check_bodies(everything)


def test_maintenance_on_a_router_covers_its_sites(make_scene: object) -> None:
    scene: Scene = make_scene()  # type: ignore[operator]
    hook, daemon = scene.receiver, scene.daemon
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=10)
    status, text = daemon.request(
        "POST",
        "/api/v1/maintenance",
        {
            "targets": ["rtr-b"],
            "end": end.isoformat().replace("+00:00", "Z"),
            "comment": "fibre splice behind rtr-b",
            "created_by": "noc",
        },
    )
    assert status == 201, text
    window = json.loads(text)["id"]
    wait_until(lambda: scene.state("rtr-b") == "maintenance", 5, "rtr-b in maintenance")
    scene.cut_router("rtr-b")
    behind = list(scene.sites["rtr-b"])
    # Positive signal: the sites behind B (and B) have failed past fall: their checks are
    # hard DOWN, as they would be before any page.
    wait_until(
        lambda: all(targets(daemon)[n]["checks"][0]["state"] == "down" for n in ["rtr-b", *behind]),
        PAGE_WITHIN + 4,
        "the checks of rtr-b and its sites hard down",
    )
    wait_until(lambda: drained(daemon), 5, "the outbox drained")
    assert hook.deliveries() == [], f"planned work paged: {summary(hook.deliveries())}"

    scene.restore_router("rtr-b")
    # The window ends while rtr-b may still be confirming its recovery (rise).
    assert daemon.request("DELETE", f"/api/v1/maintenance/{window}")[0] == 204
    scene.quiet()
    assert hook.deliveries() == [], (
        f"planned work paged (cut, restore, end of the window): {summary(hook.deliveries())}"
    )

    # Control: the receiver path works (an unplanned cut is paged).
    scene.independent["x1"].cut()
    page = hook.wait(is_page("TargetDown", "x1"), PAGE_WITHIN + 2)
    scene.independent["x1"].restore()
    assert page is not None, "control cut of x1 not paged: the receiver path is broken"


def test_monitor_uplink_cut_isolates_and_holds_per_target_pages(make_scene: object) -> None:
    scene: Scene = make_scene(canaries_in_namespaces=True)  # type: ignore[operator]
    hook, daemon = scene.receiver, scene.daemon
    # The monitor's own uplink: every path from it fails at once.
    for host in scene.canaries.values():
        host.cut()
    for router in scene.routers:
        scene.cut_router(router)
    for host in scene.independent.values():
        host.cut()
    isolated = hook.wait(is_page("MonitorIsolated", ""), PAGE_WITHIN + 4)
    assert isolated is not None, f"no MonitorIsolated: {summary(hook.deliveries())}"
    text = json.dumps(isolated.alert, ensure_ascii=False)
    assert "canary-1" in text and "canary-2" in text, (
        f"MonitorIsolated does not name the failed canaries: {isolated.alert['annotations']}"
    )
    # Held: the roots' own checks are hard DOWN (past fall: they would have been paged).
    roots = ["rtr-a", "rtr-b", *scene.independent]
    wait_until(
        lambda: all(targets(daemon)[n]["checks"][0]["state"] == "down" for n in roots),
        PAGE_WITHIN + 2,
        "every root's check hard down",
    )
    wait_until(lambda: drained(daemon), 5, "the outbox drained")
    during = hook.deliveries()
    assert [d.alertname for d in during] == ["MonitorIsolated"], (
        f"per-target pages while isolated: {summary(during)}"
    )

    # rtr-a, rtr-b and x1 come back while the canaries are still cut off ...
    early = ["rtr-a", "rtr-b", "x1", *scene.sites["rtr-a"], *scene.sites["rtr-b"]]
    for router in scene.routers:
        scene.restore_router(router)
    scene.independent["x1"].restore()
    wait_until(
        lambda: all(scene.states()[n] == "up" for n in early),
        15,
        "the targets restored early up while isolated",
    )
    # ... then the monitor's path comes back, and x2 with it (one repair, everything at
    # once); x3 stays down.
    restored = time.monotonic()
    for host in scene.canaries.values():
        host.restore()
    scene.independent["x2"].restore()
    resolved = hook.wait(is_resolve("MonitorIsolated", ""), 15, since=restored)
    assert resolved is not None, f"isolation never ended: {summary(hook.deliveries())}"
    page = hook.wait(is_page("TargetDown", "x3"), PAGE_WITHIN + 4, since=restored)
    assert page is not None, (
        f"x3, still down after isolation, not paged: {summary(hook.deliveries())}"
    )
    x3_back = time.monotonic()
    scene.independent["x3"].restore()
    assert hook.wait(is_resolve("TargetDown", "x3"), 10, since=x3_back) is not None
    scene.quiet()
    everything = hook.deliveries()
    spoken = [d for d in everything if d.target != "x3" or d.alertname == "TargetDown"]
    assert sorted(summary(spoken)) == sorted(
        [
            ("firing", "MonitorIsolated", ""),
            ("resolved", "MonitorIsolated", ""),
            ("firing", "TargetDown", "x3"),
            ("resolved", "TargetDown", "x3"),
        ]
    ), f"a target that recovered before isolation ended was paged: {summary(everything)}"
    check_bodies(everything)
