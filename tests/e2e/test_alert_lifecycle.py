"""Alert lifecycle end to end (issue 11): a router namespace, three sites, a webhook receiver.

The documented rule: with ``D = (fall - 1) x down_interval`` a failure shorter
than D never pages, one longer than ``interval + D + timeout + 2 s`` always
does. A site already paged stays firing while its router is down (it becomes
UNREACHABLE, not "resolved") and is resolved once, after it is really up.
Every wait is bounded and ends on a positive signal from the daemon's API
or the receiver, never on a bare sleep.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.web.api import rfc3339
from tests import netns
from tests.daemon_process import DaemonProcess
from tests.detect_lab import (
    check_ok_since,
    cut_site,
    drained,
    is_page,
    is_resolve,
    restore_site,
    summary,
    targets,
    webhook_channel,
)
from tests.helpers import wait_until
from tests.netns_topology import Site, restore_uplink, router_with_sites
from tests.peers import WebhookReceiver

INTERVAL, TIMEOUT, FALL, RISE, DOWN_INTERVAL = 1.0, 1.0, 3, 2, 1.0
D = (FALL - 1) * DOWN_INTERVAL
BOUND = INTERVAL + D + TIMEOUT + 2.0  # a longer failure always pages within this

CONFIG = f"""
[monitor]
instance = "lifecycle"

[defaults]
checks = ["icmp"]
interval = "{INTERVAL:g}s"
timeout = "{TIMEOUT:g}s"
down_interval = "{DOWN_INTERVAL:g}s"
fall = {FALL}
rise = {RISE}

[defaults.icmp]
count = 1
"""


@dataclass
class Scene:
    daemon: DaemonProcess
    receiver: WebhookReceiver
    router: netns.NetnsHost
    sites: dict[str, Site]

    @property
    def names(self) -> list[str]:
        return ["rtr", *self.sites]

    def up(self, timeout: float = 15) -> None:
        wait_until(
            lambda: all(v["state"] == "up" for v in targets(self.daemon).values()),
            timeout,
            "all targets up",
        )

    def state(self, name: str) -> str:
        return str(targets(self.daemon)[name]["state"])


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    netns.require()
    with (
        router_with_sites(3) as (router, sites),
        WebhookReceiver() as receiver,
    ):
        named = {f"s{i}": site for i, site in enumerate(sites, 1)}
        config = CONFIG + f'\n[[targets]]\nname = "rtr"\naddress = "{router.v4}"\n'
        for name, site in named.items():
            config += f'\n[[targets]]\nname = "{name}"\naddress = "{site.v4}"\nparents = ["rtr"]\n'
        config += webhook_channel(receiver)
        with DaemonProcess(config, tmp_path) as daemon:
            scene = Scene(daemon, receiver, router, named)
            scene.up()
            yield scene


@pytest.mark.parametrize("router_first", [True, False], ids=["router-first", "site-first"])
def test_paged_site_behind_cut_router_is_never_falsely_resolved(
    scene: Scene, router_first: bool
) -> None:
    daemon, hook, s1 = scene.daemon, scene.receiver, scene.sites["s1"]
    cut_s1 = time.monotonic()
    cut_site(scene.router.name, s1)
    page = hook.wait(is_page("TargetDown", "s1"), BOUND + 2)
    assert page is not None, f"s1 not paged within {BOUND + 2:g} s: {summary(hook.deliveries())}"
    assert page.at - cut_s1 <= BOUND, f"s1 paged after {page.at - cut_s1:.1f} s"

    scene.router.cut()
    router_page = hook.wait(is_page("TargetDown", "rtr"), BOUND + 2)
    assert router_page is not None, f"router not paged: {summary(hook.deliveries())}"
    # Positive signal: the daemon has moved s1 behind its router, and sent what it decided.
    wait_until(lambda: scene.state("s1") == "unreachable", 5, "s1 unreachable")
    wait_until(lambda: drained(daemon), 5, "the outbox drained")
    assert hook.wait(is_resolve("TargetDown", "s1"), 0.5) is None, (
        "s1 was resolved while it is still cut off (DOWN -> UNREACHABLE must not resolve): "
        f"{summary(hook.deliveries())}"
    )

    def restore_router() -> float:
        restore_uplink(scene.router, list(scene.sites.values()))
        return time.monotonic()

    def restore_s1() -> float:
        restore_site(scene.router.name, s1)
        return time.monotonic()

    if router_first:
        restore_router()
        assert hook.wait(is_resolve("TargetDown", "rtr"), BOUND) is not None
        # s1 is still cut: the daemon sees it down again, on its own
        wait_until(lambda: scene.state("s1") == "down", BOUND, "s1 down again")
        wait_until(lambda: drained(daemon), 5, "the outbox drained")
        s1_back = restore_s1()
    else:
        restore_s1()
        # s1's link is back but it is still behind the cut router: nothing to resolve yet
        wait_until(lambda: drained(daemon), 5, "the outbox drained")
        assert scene.state("s1") == "unreachable"
        s1_back = restore_router()
        assert hook.wait(is_resolve("TargetDown", "rtr"), BOUND) is not None
    resolve = hook.wait(is_resolve("TargetDown", "s1"), BOUND, since=s1_back)
    early = [d for d in hook.deliveries() if d.status == "resolved" and d.target == "s1"]
    assert resolve is not None, (
        f"s1 never resolved after its repair; before it: {summary(early)}; "
        f"all: {summary(hook.deliveries())}"
    )
    scene.up()
    wait_until(lambda: drained(daemon), 5, "the outbox drained")

    got = summary(hook.deliveries())
    expected = [
        ("firing", "TargetDown", "s1"),
        ("firing", "TargetDown", "rtr"),
        ("resolved", "TargetDown", "rtr"),
        ("resolved", "TargetDown", "s1"),
    ]
    assert sorted(got) == sorted(expected), got
    for delivery in hook.deliveries():  # exact bodies: labels and status agree
        assert delivery.alert["labels"]["alertname"] == delivery.alertname == "TargetDown"
        assert delivery.alert["labels"]["target"] == delivery.target
        assert delivery.body["status"] == delivery.status
    assert resolve.at >= s1_back
    assert page.fingerprint == resolve.fingerprint and page.starts_at == resolve.starts_at


def test_router_blip_shorter_than_debounce_pages_nothing(scene: Scene) -> None:
    daemon, hook = scene.daemon, scene.receiver
    blip = D - 0.6  # well inside D: at most fall - 1 runs can start while it lasts
    failed_runs: set[str] = set()  # start times of the router's failed runs seen

    def look() -> dict[str, dict[str, Any]]:
        views = targets(daemon)
        last = views["rtr"]["checks"][0]["last"]
        if last is not None and not last["ok"]:
            failed_runs.add(last["at"])
        return views

    cut = time.monotonic()
    scene.router.cut()
    while time.monotonic() - cut < blip:
        look()
        time.sleep(0.05)
    restore_uplink(scene.router, list(scene.sites.values()))
    restored = str(rfc3339(time.time()))
    # Positive signal: every target has succeeded again since the repair and is up.
    wait_until(
        lambda: all(check_ok_since(v, restored) and v["state"] == "up" for v in look().values()),
        BOUND + RISE * DOWN_INTERVAL,
        "every target checked ok after the repair",
    )
    wait_until(lambda: drained(daemon), 5, "the outbox drained")
    assert failed_runs, "the router's check never failed during the blip (nothing tested)"
    assert hook.deliveries() == [], (
        f"a {blip:.1f} s router blip (D = {D:g} s, {len(failed_runs)} failed router runs) "
        f"paged: {summary(hook.deliveries())}"
    )

    # Control: the same receiver does get a page for a cut longer than the bound.
    cut_site(scene.router.name, scene.sites["s2"])
    page = hook.wait(is_page("TargetDown", "s2"), BOUND + 2)
    restore_site(scene.router.name, scene.sites["s2"])
    assert page is not None, "control cut of s2 was not paged: the receiver path is broken"
