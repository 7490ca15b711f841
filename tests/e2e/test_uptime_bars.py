"""Uptime bars on the status page, from a real daemon over a history it did not live through.

The history database is written first by the real store with its clock set
back (``tests/uptime_history.py``): the monitor observed from five days ago,
``qng-core-1`` was down from 23:30 to 00:45 across a local midnight two days
ago; then the daemon starts on it and a target on a closed port goes DOWN
now. The page must show the outage on both days (hover titles and the tap
list), the open outage in today's and this hour's bars, the days before the
first observation as *not yet observed*, and the site and province strips
pooling their targets; in Chromium (``tests/browser.py``), with the strict
Content-Security-Policy and no script needed to see any of it; a target
going down redraws its strip through the page's refresh, without a reload.
Screenshots at 1,
100 and 10,000 targets go to ``tests/artifacts/`` with the page's load
time; ``python -m bench.bars_page`` has the figures.
"""

from __future__ import annotations

import html
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from monitor.history.store import database_path
from tests.browser import ARTIFACTS, screenshot
from tests.daemon_process import DaemonProcess
from tests.helpers import free_port
from tests.uptime_history import SCALE_CONFIG, past_outages, seed, write_inventory

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

CONFIG = """
[monitor]
instance = "bars-test"
timezone = "Asia/Ho_Chi_Minh"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 1

[[targets]]
name = "qng-core-1"
address = "127.0.0.1"
labels = {{ province = "Quảng Ngãi", site = "QNG-CORE" }}

[[targets]]
name = "bts-binh-son-02"
address = "127.0.0.2"
labels = {{ province = "Quảng Ngãi", site = "BS-02" }}

[[targets]]
name = "post-tracking-api"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed_port} }}
labels = {{ province = "Hà Nội", site = "HN-DC1" }}
"""


def local(day: datetime, hour: int, minute: int) -> float:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


class Past:
    """The seeded history, in the configured zone."""

    def __init__(self, now: float) -> None:
        today = datetime.fromtimestamp(now, ZONE).replace(hour=0, minute=0, second=0)
        self.first_day = today - timedelta(days=5)
        self.first = local(self.first_day, 12, 0)
        self.before = today - timedelta(days=2)  # the outage starts this day at 23:30
        self.after = today - timedelta(days=1)
        self.outage = (local(self.before, 23, 30), local(self.after, 0, 45))
        self.until = now - 30


@pytest.fixture(scope="module")
def past() -> Past:
    return Past(time.time())


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, past: Past) -> Iterator[DaemonProcess]:
    directory = tmp_path_factory.mktemp("bars")
    seed(
        database_path(directory / "state"),
        ["qng-core-1", "bts-binh-son-02"],
        past.first,
        [("qng-core-1", *past.outage)],
        past.until,
    )
    with DaemonProcess(CONFIG.format(closed_port=free_port()), directory) as running:
        running.wait_for("continuity_target_up", 0, timeout=15, target="post-tracking-api")
        running.wait_for("continuity_target_up", 1, timeout=15, target="qng-core-1")
        yield running


def get(url: str) -> tuple[dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return dict(response.headers), response.read().decode()


def page_data(page: str) -> dict[str, Any]:
    """The page's data for its script (the JSON block in its head)."""
    found = re.search(r'<script id="page-data" type="application/json">(.*?)</script>', page)
    assert found is not None
    return dict(json.loads(found.group(1)))


def row_html(page: str, name: str) -> str:
    """The ``<tr>`` of a target in the overview's HTML."""
    for chunk in page.split('<tr class="t"')[1:]:
        if f">{html.escape(name)}</a>" in chunk:
            return chunk.split("</tr>")[0]
    raise AssertionError(f"no row for {name}")


def titles(fragment: str, level: str) -> list[str]:
    """The hover titles of the bars of one level, unescaped."""
    found = re.findall(rf'<rect class="{level}"[^>]*><title>(.*?)</title>', fragment, re.S)
    return [html.unescape(t) for t in found]


def test_the_bars_show_the_past_from_the_outage_history(daemon: DaemonProcess, past: Past) -> None:
    headers, page = get(daemon.url + "/")
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert " style=" not in page  # the bars are coloured by the stylesheet's classes

    core = row_html(page, "qng-core-1")
    assert core.count('<svg class="bars"') == 1
    before, after = past.before.strftime("%Y-%m-%d"), past.after.strftime("%Y-%m-%d")
    outage = f"outage {before} 23:30 \u2013 {after} 00:45 (1 h 15 min)"
    poor = titles(core, "poor")
    # 30 min on one day, 45 on the next, and their hours if within the last 48 h
    assert poor[0] == f"{before}: 97.91 % · down 30 min\n{outage}"
    assert poor[1] == f"{after}: 96.87 % · down 45 min\n{outage}"
    unseen = titles(core, "none")[0]
    first_day = past.first_day.strftime("%Y-%m-%d")
    assert unseen.endswith(
        f"{(past.first_day - timedelta(days=1)).strftime('%Y-%m-%d')}: not yet observed"
    )
    # Shorter than 90 days: the window says since when, and its figure covers only that.
    label = re.search(rf'role="img"><title>since {first_day}: (\d+\.\d\d) %', core)
    assert label is not None, core
    expected = 100 * (1 - 75 * 60 / (time.time() - past.first))
    assert abs(float(label.group(1)) - expected) < 0.05
    # Tap: the days with downtime listed under the strip, newest first.
    listed = re.findall(r"<li>(.*?)</li>", core)
    assert [html.unescape(item) for item in listed] == [
        f"{after}: 96.87 % · down 45 min; {outage}",
        f"{before}: 97.91 % · down 30 min; {outage}",
    ]

    quiet = row_html(page, "bts-binh-son-02")
    assert titles(quiet, "poor") == [] and "<details" not in quiet
    # A quiet row shows its strip as an image shared with every row of its shape: the
    # background of its (empty) cell by a class; the strip's figure is given once in the
    # page's data, by the image's key (the script makes it the cell's title on hover).
    found = re.search(r'<td class="q q-([0-9a-f]{16})"></td>', quiet)
    assert found is not None and "<img" not in quiet, quiet
    labels = page_data(page)["bar_labels"]
    assert labels[found.group(1)] == f"since {first_day}: 100.00 % · 48 h: 100.00 %"
    sheet_url = re.search(
        r'<link rel="stylesheet" href="(/status/bars\.css\?v=[0-9a-f]{16})">', page
    )
    assert sheet_url is not None
    sheet_headers, sheet = get(daemon.url + html.unescape(sheet_url.group(1)))
    assert sheet_headers["Content-Type"].startswith("text/css")
    assert "max-age" in sheet_headers["Cache-Control"]  # the page's own version: kept
    src = f"/status/bars/{found.group(1)}.svg"
    assert f".q-{found.group(1)}{{background-image:url({src})}}" in sheet
    image_headers, image = get(daemon.url + src)
    assert image_headers["Content-Type"].startswith("image/svg+xml")
    assert "script" not in image and 'fill="#3fb950"' in image and 'fill="#4a5a70"' in image

    down = row_html(page, "post-tracking-api")
    today = datetime.fromtimestamp(time.time(), ZONE).strftime("%Y-%m-%d")
    open_days = [t for t in titles(down, "poor") if t.startswith(f"{today}:")]
    assert open_days and "ongoing" in open_days[0]
    assert f'role="img"><title>since {today}' in down  # first observed by this daemon, today

    # The site and province of qng-core-1 pool both their targets: the day's downtime
    # over two targets' observed time is half the share.
    province = page.split("Quảng Ngãi</h2>")[1].split("</summary>")[0]
    assert any(t.startswith(f"{after}: 98.43 %") for t in titles(province, "poor"))
    site = page.split(">QNG-CORE</span>")[1].split("</tr>")[0]
    assert any(t.startswith(f"{after}: 96.87 %") for t in titles(site, "poor"))


def drawn_image(page: Page, cell: Locator) -> bool:
    """The quiet cell's background is its shared image, loaded under the page's policy,
    drawn across the cell's content box (as wide as an inline strip) at the bars' height."""
    loaded, size, inner, height = cell.evaluate(
        """async c => {
          const style = getComputedStyle(c);
          const url = style.backgroundImage.match(/url\\("(.*)"\\)/);
          if (!url) return [false, style.backgroundImage + ' ' + c.className, 0, 0];
          const image = new Image();
          image.src = url[1];
          await image.decode();
          const inner = c.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
          return [image.naturalWidth > 0, style.backgroundSize, inner, c.clientHeight];
        }"""
    )
    assert loaded, size
    width, bar_height = size.rsplit(" ", 1)
    wide = width == "calc(100% - 20px)" or abs(float(width.removesuffix("px")) - inner) < 1
    return bool(loaded and wide and bar_height == "14px" and height >= 14)


def test_a_tap_on_the_strip_lists_the_days_with_downtime(
    daemon: DaemonProcess, browser: BrowserContext, past: Past
) -> None:
    page = browser.new_page()
    page.goto(daemon.url + "/")
    core = page.locator("tr.t").filter(has=page.get_by_role("link", name="qng-core-1"))
    listed = core.locator("details.bar-days li")
    assert not listed.first.is_visible()
    core.locator("details.bar-days summary").click()
    after = past.after.strftime("%Y-%m-%d")
    assert listed.first.is_visible() and listed.first.inner_text().startswith(f"{after}: 96.87 %")
    assert core.locator("svg.bars rect.poor").count() >= 2
    quiet = page.locator("tr.t").filter(has=page.get_by_role("link", name="bts-binh-son-02"))
    cell = quiet.locator("td.q")
    assert cell.get_attribute("title") is None  # the figure is the page's, once per image
    cell.hover()
    first_day = past.first_day.strftime("%Y-%m-%d")
    assert cell.get_attribute("title") == f"since {first_day}: 100.00 % · 48 h: 100.00 %"
    assert drawn_image(page, cell)  # still drawn under the pointer (the row's hover colour)
    # On a phone the page fits its width (the top bar wraps) and every strip is drawn.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    widths = page.locator("tr.t :is(.bars, td.q)").evaluate_all(
        "all => all.map(e => e.clientWidth)"
    )
    assert widths and min(widths) >= 180, widths
    assert drawn_image(page, cell)  # as wide as the phone, as tall as the bars
    screenshot(page, "status-bars")


# -- at scale ---------------------------------------------------------------------------


def load(page: Page, url: str) -> dict[str, float]:
    """Load ``url`` and read the browser's navigation timing (seconds)."""
    page.goto(url, wait_until="load", timeout=120_000)
    timing = page.evaluate(
        """() => {
          const n = performance.getEntriesByType('navigation')[0];
          return {response: n.responseEnd - n.requestStart, load: n.loadEventEnd - n.startTime,
                  bytes: n.transferSize};
        }"""
    )
    return {key: float(value) / (1000 if key != "bytes" else 1) for key, value in timing.items()}


@pytest.mark.parametrize("count", [1, 100, 10_000])
def test_screenshots_and_load_time_at_scale(
    count: int, tmp_path: Path, browser: BrowserContext
) -> None:
    names = write_inventory(tmp_path / "inventory.csv", count)
    now = time.time()
    seed(
        database_path(tmp_path / "state"),
        names,
        now - 10 * 86400,
        past_outages(names, now),
        now - 30,
    )
    with DaemonProcess(SCALE_CONFIG.format(count=count), tmp_path) as daemon:
        daemon.wait_for("continuity_targets", count, timeout=60)
        page = browser.new_page()
        load(page, daemon.url + "/")  # the first paint renders every row
        timing = load(page, daemon.url + "/")
        assert page.locator("tr.t").count() == count
        assert page.locator("tr.t :is(.bars, td.q)").count() == count
        assert page.locator("tr.site-head .bars").count() == page.locator("tr.site-head").count()
        # The quiet rows' strips are their cells' backgrounds, loaded under the page's policy.
        quiet = page.locator("tr.t td.q")
        assert quiet.count() > 0 or count == 1  # at 1 the one target had outages
        if count > 1:
            assert drawn_image(page, quiet.first)
        assert page.locator("tr.t rect.poor").count() >= len(range(0, count, 50))
        print(f"{count} targets: {timing}")
        assert timing["load"] < 30  # generous on a shared machine: bench.bars_page measures
        ARTIFACTS.mkdir(exist_ok=True)  # the first screen: a full page of 10,000 rows is too tall
        page.screenshot(path=str(ARTIFACTS / f"status-bars-{count}.png"))


# -- live ---------------------------------------------------------------------------------

LIVE_CONFIG = """
[monitor]
instance = "bars-live"
timezone = "Asia/Ho_Chi_Minh"

[defaults]
checks = ["tcp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[[targets]]
name = "post-api"
address = "127.0.0.1"
tcp = {{ port = {port} }}
labels = {{ province = "Hà Nội", site = "HN-DC1" }}
"""


class Listener:
    """A loopback TCP port that accepts (and closes) connections until closed."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.port = int(self.socket.getsockname()[1])
        self.open = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.open:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            connection.close()

    def close(self) -> None:
        self.open = False
        self.thread.join(timeout=5)
        self.socket.close()


def test_a_target_going_down_redraws_its_bars_without_a_reload(
    tmp_path: Path, browser: BrowserContext
) -> None:
    listener = Listener()
    try:
        with DaemonProcess(LIVE_CONFIG.format(port=listener.port), tmp_path) as daemon:
            daemon.wait_for("continuity_target_up", 1, timeout=15, target="post-api")
            page = browser.new_page()
            page.goto(daemon.url + "/")
            page.evaluate("window.sameDocument = true")  # gone if the page were loaded anew
            row = page.locator("tr.t").filter(has=page.get_by_role("link", name="post-api"))
            assert row.locator("svg.bars rect.poor").count() == 0
            listener.close()  # refused from now on
            page.wait_for_function(
                "() => document.querySelector('tr.t[data-state=down] svg.bars rect.poor')",
                timeout=20_000,
            )
            titles = row.locator("svg.bars rect.poor title").all_text_contents()
            assert titles and "ongoing" in titles[0], titles
            today = datetime.fromtimestamp(time.time(), ZONE).strftime("%Y-%m-%d")
            assert titles[0].startswith(f"{today}: ")
            # The tap list is drawn by the script as the template draws it.
            assert (row.locator("details.bar-days li").first.text_content() or "").startswith(today)
            assert page.evaluate("window.sameDocument") is True
            screenshot(page, "status-bars-live")
    finally:
        if listener.open:
            listener.close()


@pytest.mark.parametrize("width", [1400, 1100, 900])
def test_a_sites_bars_stand_above_its_rows_bars_at_every_width(
    width: int, daemon: DaemonProcess, browser: BrowserContext
) -> None:
    """Narrower screens hide the address (1250 px) and the 30-day column (1000 px); a
    site's head row keeps its bars in the rows' bars column all the same."""
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(daemon.url + "/")
    edges = page.evaluate(
        """() => [...document.querySelectorAll('#groups tbody.site')].map(body => {
             const head = body.querySelector('tr.site-head > td.c-bars');
             const row = body.querySelector('tr.t > td:last-child');
             const h = head.getBoundingClientRect(), r = row.getBoundingClientRect();
             return [h.left, r.left, h.right, r.right];
           })"""
    )
    assert edges
    for head_left, row_left, head_right, row_right in edges:
        assert abs(head_left - row_left) < 1 and abs(head_right - row_right) < 1, (width, edges)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"status-bars-{width}px")
