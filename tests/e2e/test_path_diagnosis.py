"""Path diagnosis end to end (issue 15, part 4): a chain of three routers, a cut between r2 and r3.

    daemon (root ns) ── r1 ── r2 ──X── r3 ── site

Every node is a configured target (parents r1 <- r2 <- r3 <- site), so the
cut makes r3 a root cause (DOWN) and the site a consequence (UNREACHABLE).
The daemon records each target's baseline path while it is up, traces r3's
path when r3 goes DOWN, and the page (webhook), the API, the outage row and
the target page say the path breaks after hop 2, r2's address, named r2.
Every wait ends on a positive signal from the daemon or the receiver.
"""

from __future__ import annotations

import html
import json
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import netns
from tests.daemon_process import DaemonProcess
from tests.detect_lab import is_page, summary, webhook_channel
from tests.helpers import wait_until
from tests.netns_chain import Chain, router_chain
from tests.peers import WebhookReceiver

pytestmark = [pytest.mark.root, pytest.mark.slow]

INTERVAL, FALL, PAGE_WAIT = 1.0, 3, 3.0
BOUND = INTERVAL + (FALL - 1) * INTERVAL + INTERVAL + 2.0 + PAGE_WAIT

CONFIG = f"""
[monitor]
instance = "paths"

[defaults]
checks = ["icmp"]
interval = "{INTERVAL:g}s"
timeout = "1s"
down_interval = "{INTERVAL:g}s"
fall = {FALL}
rise = 2

[defaults.icmp]
count = 1

[path_diagnosis]
max_hops = 8
timeout = "1s"
page_wait = "{PAGE_WAIT:g}s"
baseline_interval = "1m"
"""


@dataclass
class Scene:
    daemon: DaemonProcess
    receiver: WebhookReceiver
    chain: Chain
    family: str

    def node(self, position: int) -> str:
        """The address node ``position`` answers from (1 = r1 ... 4 = the site)."""
        if self.family == "v4":
            return self.chain.node_v4(position)
        return self.chain.node_v6(position)

    def target(self, name: str) -> dict[str, Any]:
        found = self.daemon.json(f"/api/v1/targets/{name}")
        assert isinstance(found, dict)
        return found


def names_of(view: dict[str, Any]) -> list[str | None]:
    return [hop["name"] for hop in view["hops"]]


@pytest.fixture(params=["v4", "v6"])
def scene(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Scene]:
    netns.require()
    family = request.param
    with router_chain(3) as chain, WebhookReceiver() as receiver:
        config = CONFIG
        nodes = ["r1", "r2", "r3", "site"]
        for position, name in enumerate(nodes, 1):
            parents = f'parents = ["{nodes[position - 2]}"]\n' if position > 1 else ""
            address = chain.node_v4(position) if family == "v4" else chain.node_v6(position)
            config += f'\n[[targets]]\nname = "{name}"\naddress = "{address}"\n{parents}'
        config += webhook_channel(receiver)
        with DaemonProcess(config, tmp_path) as daemon:
            scene = Scene(daemon, receiver, chain, family)
            wait_until(
                lambda: all(
                    scene.target(n)["state"] == "up"
                    and (scene.target(n)["path"] or {}).get("baseline") is not None
                    for n in nodes
                ),
                30,
                "every target up with a baseline path",
            )
            yield scene


def test_cut_between_router_2_and_3_pages_r3_with_the_path_breaking_after_r2(
    scene: Scene,
) -> None:
    chain, daemon, hook = scene.chain, scene.daemon, scene.receiver
    r2 = scene.node(2)
    baseline = scene.target("r3")["path"]["baseline"]
    assert baseline["reached"] and names_of(baseline) == ["r1", "r2", "r3"], baseline
    assert scene.target("site")["path"]["baseline"]["hops"][-1]["name"] == "site"

    cut = time.monotonic()
    chain.cut_far(2)
    page = hook.wait(is_page("TargetDown", "r3"), BOUND + 5)
    assert page is not None, f"r3 not paged: {summary(hook.deliveries())}"
    assert page.at - cut <= BOUND, f"paged {page.at - cut:.1f} s after the cut"

    expected = f"path breaks after hop 2 ({r2}, r2)"
    # The page itself: the annotation and the rendered text (the template variable).
    assert page.alert["annotations"]["path"].startswith(expected), page.alert
    assert page.alert["annotations"]["path"].endswith(
        "the baseline path reached the target at hop 3"
    )
    assert f"Path: {expected}" in page.body["text"], page.body["text"]

    # The API: the diagnosis names the last answering hop.
    wait_until(lambda: scene.target("site")["state"] == "unreachable", 10, "site unreachable")
    diagnosis = scene.target("r3")["path"]["diagnosis"]
    assert (diagnosis["last_hop"], diagnosis["last_address"], diagnosis["last_name"]) == (
        2,
        r2,
        "r2",
    )
    assert not diagnosis["reached"]
    assert diagnosis["text"].startswith(expected)
    assert names_of(diagnosis["trace"])[:2] == ["r1", "r2"]
    # A consequence is not traced: its root cause's trace says it all.
    assert scene.target("site")["path"]["diagnosis"] is None
    assert not any(d.target == "site" for d in hook.deliveries() if d.status == "firing")

    # The outage row.
    outages = daemon.json("/api/v1/outages?" + urllib.parse.urlencode({"target": "r3"}))
    assert isinstance(outages, dict)
    rows = [o for o in outages["outages"] if o["end"] is None]
    assert len(rows) == 1 and (rows[0]["path"] or "").startswith(expected), outages

    # The target page (autoescaped HTML).
    status, page_html = daemon.get("/targets/r3")
    assert status == 200
    assert html.escape(expected) in page_html or expected in page_html, page_html[-3000:]
    assert 'id="path-diagnosis"' in page_html


def test_alert_api_shows_the_path_annotation(scene: Scene) -> None:
    """``GET /api/v1/alerts`` carries the same annotation as the page."""
    scene.chain.cut_near(2)  # r2 drops its route: it answers "unreachable" itself
    page = scene.receiver.wait(is_page("TargetDown", "r3"), BOUND + 5)
    assert page is not None, summary(scene.receiver.deliveries())
    alerts = scene.daemon.json("/api/v1/alerts")
    assert isinstance(alerts, dict)
    (down,) = [a for a in alerts["alerts"] if a["labels"]["alertname"] == "TargetDown"]
    r2 = scene.node(2)
    assert down["annotations"]["path"].startswith(
        f"path breaks after hop 2 ({r2}, r2), which reports the target unreachable"
    ), json.dumps(down)
