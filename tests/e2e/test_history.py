"""Measurement history end to end: a real daemon, its history API, the smoke graph, the histogram.

Before the daemon starts, the test writes ten days of buckets (a link that
degrades: its median climbs and it loses packets in the last days) and an
outage into the daemon's history file through the store itself, so every
range has something to show; then the daemon measures loopback targets (a
real ICMP echo to 127.0.0.1 and a TCP connect to a closed loopback port) at
one-second intervals with ten-second fine and two-minute coarse buckets, so its own buckets close
while the test watches. The screenshot of the target page goes to
``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from monitor.engine.measurements import COARSE, FINE
from monitor.engine.rttsketch import Summary
from monitor.history.store import Store, database_path
from tests.browser import screenshot
from tests.daemon_process import DaemonProcess
from tests.helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CONFIG = """
[monitor]
instance = "history-test"
state_dir = "state"

[history]
fine_bucket = "10s"
coarse_bucket = "2m"

[defaults]
interval = "1s"
timeout = "1s"

[[targets]]
name = "bts-smoke"
address = "127.0.0.1"
checks = ["icmp"]
icmp = {{ count = 3, packet_interval = "100ms" }}
labels = {{ province = "Quang Ngai", site = "BS-01" }}

[[targets]]
name = "closed-port"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed_port} }}
"""


def degrading(hours_ago: float, rng_seed: int) -> Summary:
    """One bucket of a link that gets worse as time goes on (deterministic)."""
    s = Summary()
    base = 0.004 + 0.016 * max(0.0, 1 - hours_ago / 72)  # median 4 ms -> 20 ms
    for i in range(12):
        jitter = 1 + 0.8 * math.sin(rng_seed * 7.3 + i * 1.7)
        lost = 1 if hours_ago < 36 and (rng_seed + i) % 9 == 0 else 0
        s.add(sent=3, lost=lost, seconds=base * jitter)
    return s


async def prefill(directory: Path) -> float:
    """Ten days of coarse and three hours of fine buckets, and one closed outage."""
    now = time.time()
    async with Store(database_path(directory / "state"), buckets=(10, 120)) as store:
        coarse = [
            ("bts-smoke", "icmp", int(now // 120) * 120 - 120 * k, degrading(k / 30, k))
            for k in range(1, 10 * 24 * 30, 5)
        ]
        fine = [
            ("bts-smoke", "icmp", int(now // 10) * 10 - 10 * k, degrading(k / 360, k))
            for k in range(30, 3 * 360)  # up to five minutes ago: the rest is live
        ]
        store.write_buckets(COARSE, coarse)
        store.write_buckets(FINE, fine)
        store.outage_started(
            "bts-smoke", "icmp", now - 5400, cause="check_failed", reason="timeout", message=""
        )
        store.outage_ended("bts-smoke", now - 4800)
        await store.flush()
    return now


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    directory = tmp_path_factory.mktemp("history")
    asyncio.run(prefill(directory))
    config = CONFIG.format(closed_port=free_port())
    with DaemonProcess(config, directory) as running:
        yield running


def history(daemon: DaemonProcess, name: str, range_name: str) -> dict[str, Any]:
    document = daemon.json(f"/api/v1/targets/{name}/history?range={range_name}")
    assert isinstance(document, dict)
    return document


def wait_for_live_points(daemon: DaemonProcess, timeout: float = 40) -> dict[str, Any]:
    """Until the daemon's own fine buckets of both targets are readable (the last minute's)."""
    deadline = time.monotonic() + timeout
    while True:
        smoke = history(daemon, "bts-smoke", "3h")
        closed = history(daemon, "closed-port", "3h")
        # More results than one open ten-second bucket holds: closed buckets were
        # written by the store and read back.
        recent = [p for p in smoke["checks"][0]["points"] if p["t"] >= smoke["until"] - 60]
        if (
            closed["checks"]
            and closed["checks"][0]["points"]
            and recent
            and recent[0]["count"] >= 15
        ):
            return {"smoke": smoke, "closed": closed}
        if time.monotonic() > deadline:
            raise AssertionError(f"no live buckets after {timeout} s: {recent} {closed}")
        time.sleep(1)


def test_history_api_shows_stored_and_live_buckets(daemon: DaemonProcess) -> None:
    live = wait_for_live_points(daemon)
    smoke = live["smoke"]
    assert smoke["range"] == "3h" and smoke["level"] == "fine" and smoke["step_seconds"] == 60
    (icmp,) = smoke["checks"]
    assert icmp["check"] == "icmp"
    points = icmp["points"]
    assert len(points) > 150  # three hours of prefilled minutes, and the live ones
    for p in points:
        assert p["min"] <= p["p10"] <= p["p50"] <= p["p90"] <= p["max"]
    # Live points: real echoes to 127.0.0.1, answered in well under 10 ms, none lost.
    last = points[-1]
    assert last["lost"] == 0 and last["sent"] >= 3 and last["max"] < 0.05
    # The closed port: every attempt lost, no times.
    closed = live["closed"]["checks"][0]["points"][-1]
    assert closed["lost"] == closed["sent"] > 0 and closed["p50"] is None
    assert [o["end"] is not None for o in smoke["outages"]] == [True]


def test_long_ranges_read_coarse_buckets(daemon: DaemonProcess) -> None:
    ten_days = history(daemon, "bts-smoke", "10d")
    assert ten_days["level"] == "coarse"
    points = ten_days["checks"][0]["points"]
    assert len(points) > 200
    # The degradation shows: the median of the last day is above that of the first.
    assert points[-2]["p50"] > 2 * points[0]["p50"]
    year = history(daemon, "bts-smoke", "360d")
    assert year["step_seconds"] == 86400
    assert sum(p["count"] for p in year["checks"][0]["points"]) >= sum(p["count"] for p in points)


def test_bad_range_and_unknown_target(daemon: DaemonProcess) -> None:
    status, body = daemon.get("/api/v1/targets/bts-smoke/history?range=2y")
    assert status == 400 and "range" in body
    status, _ = daemon.get("/api/v1/targets/nobody/history")
    assert status == 404


def test_rtt_histogram_is_exported(daemon: DaemonProcess) -> None:
    wait_for_live_points(daemon)
    series = daemon.metrics()  # one scrape: the check keeps running between scrapes

    def value(name: str, **labels: str) -> float | None:
        wanted = {"target": "bts-smoke", "check": "icmp", **labels}
        found = [v for got, v in series.get(name, []) if wanted.items() <= got.items()]
        return found[0] if found else None

    count = value("continuity_probe_rtt_seconds_count")
    inf = value("continuity_probe_rtt_seconds_bucket", le="+Inf")
    small = value("continuity_probe_rtt_seconds_bucket", le="0.1")
    # Loopback answers in well under 0.1 s; a loaded machine may delay a reply past
    # it now and then, so the bucket holds most runs, never more than all.
    assert count is not None and count >= 2 and inf == count
    assert small is not None and count / 2 <= small <= count
    # A check without a time (every attempt refused) counts nothing.
    assert not [
        v
        for got, v in series.get("continuity_probe_rtt_seconds_count", [])
        if got.get("target") == "closed-port"
    ]


def shapes(page: Page, selector: str) -> int:
    """Rectangles drawn by the paths matching ``selector`` in the smoke graph."""
    total = 0
    for path in page.locator(f"#smoke {selector}").all():
        total += (path.get_attribute("d") or "").count("M")
    return total


def test_smoke_graph_on_the_target_page(daemon: DaemonProcess, browser: BrowserContext) -> None:
    wait_for_live_points(daemon)
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    started = time.perf_counter()
    page.goto(f"{daemon.url}/targets/bts-smoke")
    page.wait_for_selector("#smoke svg")
    loaded = time.perf_counter() - started
    assert int(page.locator("#smoke figure").get_attribute("data-steps") or 0) > 150
    assert shapes(page, "path.smoke-band") > 150  # one bar per step
    assert page.locator("#smoke .smoke-outage").count() == 1
    assert shapes(page, "path.smoke-median.l0") > 0
    assert page.locator(".smoke-ranges a.current").text_content() == "3h"
    screenshot(page, "target-smoke-3h")
    page.get_by_role("link", name="10d", exact=True).click()
    page.wait_for_url("**range=10d")
    assert page.locator(".smoke-ranges a.current").text_content() == "10d"
    assert shapes(page, "path.smoke-band") > 200
    # Loss in the last days shows as colour.
    assert shapes(page, "path.smoke-median.l1") > 0
    screenshot(page, "target-smoke-10d")
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(f"{daemon.url}/targets/bts-smoke?range=30h")
    box = phone.locator("#smoke svg").bounding_box()
    assert box is not None and box["width"] >= 560  # its labels stay readable: the card scrolls
    # ... and opens at its right end, the newest data, on the screen.
    assert box["x"] + box["width"] <= 390 and box["x"] < 0, box
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # the page does not
    screenshot(phone, "target-smoke-30h-phone")
    print(f"target page with smoke graph loaded in {loaded * 1000:.0f} ms")
