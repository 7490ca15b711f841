"""The status page in a real browser: Debian's Chromium driven by Playwright.

The daemon runs as a process (``DaemonProcess``) on loopback; its targets
are loopback addresses, a closed loopback port (DOWN at once, "refused"),
and for the cut-off test a network-namespace host. The ``browser`` fixture
(``tests/browser.py``) fails a test whose page made a request outside
loopback, threw a script error, broke the Content-Security-Policy or opened
a dialog, so the ``<script>alert(1)</script>`` target proves itself: had it
run, the fixture would have seen the alert. Screenshots go to
``tests/artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from monitor.i18n import LANGUAGES, missing_translations, texts
from tests import netns
from tests.browser import screenshot
from tests.daemon_process import DaemonProcess
from tests.helpers import free_port
from tests.netns_topology import router_with_sites

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

XSS = "<script>alert(1)</script>"
REFRESH_WAIT_MS = 15_000  # a refresh period (5 s) plus fall x interval plus slack

CONFIG = """
[monitor]
instance = "noc-test-1"
timezone = "Asia/Ho_Chi_Minh"
language = "{language}"

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
labels = {{ province = "Quảng Ngãi", site = "QNG-CORE", operator = "vnpt" }}
location = {{ address = "Quang Ngai city", lat = 15.12, lon = 108.8, contact = "+84 255 000 000" }}

[[targets]]
name = "bts-binh-son-02"
address = "127.0.0.2"
parents = ["qng-core-1"]
labels = {{ province = "Quảng Ngãi", site = "BS-02" }}

[[targets]]
name = "post-tracking-api"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed_port} }}
labels = {{ province = "Hà Nội", site = "HN-DC1" }}

[[targets]]
name = "{xss}"
address = "127.0.0.3"
labels = {{ province = "Hà Nội", site = "HN-DC1" }}

[[targets]]
name = "ups-hue-1"
address = "127.0.0.4"
labels = {{ province = "Thừa Thiên Huế", site = "HUE-UPS" }}
"""

TOTAL = 5


def config_text(language: str = "en") -> str:
    # Nothing listens on a port we just bound and released: TCP checks are refused.
    return CONFIG.format(language=language, closed_port=free_port(), xss=XSS)


def prepare(daemon: DaemonProcess) -> None:
    """Wait for the first states; add a maintenance window and a silence through the API."""
    daemon.wait_for("continuity_target_up", 0, timeout=10, target="post-tracking-api")
    daemon.wait_for("continuity_target_up", 1, timeout=10, target="qng-core-1")
    status, body = daemon.request(
        "POST",
        "/api/v1/maintenance",
        {
            "targets": ["ups-hue-1"],
            "end": "30d",
            "comment": "battery swap",
            "created_by": "noc",
        },
    )
    assert status == 201, body
    status, body = daemon.request(
        "POST",
        "/api/v1/silences",
        {
            "matchers": [{"name": "target", "value": "post-tracking-api"}],
            "ends_at": "30d",
            "created_by": "noc",
            "comment": "vendor is on it",
        },
    )
    assert status == 201, body
    daemon.wait_for(
        "continuity_target_state", 1, timeout=10, target="ups-hue-1", state="maintenance"
    )


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    with DaemonProcess(config_text(), tmp_path_factory.mktemp("status-page")) as running:
        prepare(running)
        yield running


def row(page: Page, name: str) -> Locator:
    """The overview's line of a target, found by its link text."""
    return page.locator("tr.t").filter(has=page.get_by_role("link", name=name, exact=True))


# The overview's cells carry no class (ten thousand rows): they are known by their place.
COLUMNS = ("state", "name", "address", "since", "a24", "a30", "reason", "bars")


def cell(line: Locator, column: str) -> Locator:
    """A cell of an overview line, by its column (as the page's script finds it)."""
    return line.locator(f":scope > td:nth-child({COLUMNS.index(column) + 1})")


def visible_names(page: Page) -> list[str]:
    names = page.locator("tr.t:visible > td:nth-child(2) a").all_text_contents()
    return sorted(names)


def wait_refreshed(page: Page, count: int = 1) -> None:
    """Until the page's script has applied ``count`` refreshes since it loaded."""
    page.wait_for_function(
        "n => Number(document.body.dataset.refreshed || 0) >= n", arg=count, timeout=10_000
    )


# -- the overview ---------------------------------------------------------------------


def test_overview_groups_targets_and_shows_states_in_words(
    daemon: DaemonProcess, browser: BrowserContext
) -> None:
    page = browser.new_page()
    response = page.goto(daemon.url + "/")
    assert response is not None and response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    wait_refreshed(page)
    assert page.title() == "Continuity status · noc-test-1"
    provinces = page.locator("details.province summary h2").all_text_contents()
    assert provinces == ["Hà Nội", "Quảng Ngãi", "Thừa Thiên Huế"]
    sites = page.locator(".site-name").all_text_contents()
    assert sites == ["HN-DC1", "BS-02", "QNG-CORE", "HUE-UPS"]

    down = row(page, "post-tracking-api")
    assert down.get_attribute("data-state") == "down"
    assert down.locator(".badge").inner_text() == "Down"  # words, not only a colour
    assert "tcp: connection refused" in cell(down, "reason").inner_text()
    # a fresh daemon: both windows say since when the target is observed
    assert re.fullmatch(r"\d+\.\d\d %\nsince \d\d:\d\d:\d\d", cell(down, "a24").inner_text())
    assert row(page, "qng-core-1").locator(".badge").inner_text() == "Up"
    first = cell(row(page, "qng-core-1"), "a24")
    assert first.inner_text().startswith("100.00 %\nsince ")
    assert (first.get_attribute("title") or "").startswith("since ")
    maintenance = row(page, "ups-hue-1")
    assert maintenance.locator(".badge").inner_text() == "Maintenance"
    assert cell(maintenance, "reason").inner_text() == "in a maintenance window"
    # Since when: a wall time and a running duration filled in by the script.
    assert re.fullmatch(r"\d\d:\d\d:\d\d", cell(down, "since").locator("time").inner_text())
    assert re.fullmatch(r"\d+ (s|min)", cell(down, "since").locator(".dur").inner_text())

    # Styled by their place: the reason in its colour (a maintenance one in blue), the
    # address in the fixed-width font, the availability right-aligned and coloured.
    def style(c: Locator, name: str) -> str:
        return str(c.evaluate("(c, name) => getComputedStyle(c)[name]", name))

    assert style(cell(down, "reason"), "color") == "rgb(255, 179, 174)"
    assert style(cell(maintenance, "reason"), "color") == "rgb(88, 166, 255)"
    assert "Mono" in style(cell(down, "address"), "fontFamily")
    assert style(first, "textAlign") == "right"
    assert style(first, "color") == "rgb(63, 185, 80)"  # good

    banner = page.locator("#banner")
    assert "alarm" in (banner.get_attribute("class") or "")
    incidents = page.locator("#incidents-list > li")
    assert incidents.count() == 1 and "post-tracking-api" in incidents.inner_text()
    assert page.locator("#incidents-count").inner_text() == "1"
    assert page.locator("#affected").inner_text() == "1 target affected"
    alert = page.locator("#alerts-list li").filter(has_text="post-tracking-api")
    assert "Target down" in alert.inner_text() and "muted" in alert.inner_text()
    assert page.locator("#count-down").inner_text() == "1"
    assert page.locator("#count-maintenance").inner_text() == "1"
    assert page.locator("#shown").inner_text() == f"{TOTAL} of {TOTAL} targets shown"
    screenshot(page, "status-overview")


def test_search_and_state_filters(daemon: DaemonProcess, browser: BrowserContext) -> None:
    page = browser.new_page()
    page.goto(daemon.url + "/")
    assert len(visible_names(page)) == TOTAL

    page.fill("#search", "tracking")
    page.wait_for_function("() => document.querySelectorAll('tr.t:not([hidden])').length === 1")
    assert visible_names(page) == ["post-tracking-api"]
    assert page.locator("#shown").inner_text() == f"1 of {TOTAL} targets shown"
    assert page.locator("details.province:visible h2").all_text_contents() == ["Hà Nội"]

    # Without diacritics, as people type on a keyboard without a Vietnamese layout.
    page.fill("#search", "quang ngai")
    page.wait_for_function("() => document.querySelectorAll('tr.t:not([hidden])').length === 2")
    assert visible_names(page) == ["bts-binh-son-02", "qng-core-1"]

    page.fill("#search", "no target is called this")
    page.wait_for_function("() => !document.getElementById('nothing').hidden")
    page.fill("#search", "")
    page.wait_for_function(
        f"() => document.querySelectorAll('tr.t:not([hidden])').length === {TOTAL}"
    )

    page.locator("#filters input[value=up]").uncheck()
    assert visible_names(page) == ["post-tracking-api", "ups-hue-1"]
    page.locator("#filters input[value=maintenance]").uncheck()
    assert visible_names(page) == ["post-tracking-api"]
    assert "hide=" in page.url  # the filter is in the address, to bookmark or share

    page.click("#show-all")
    assert len(visible_names(page)) == TOTAL
    page.click("#problems")
    assert visible_names(page) == ["post-tracking-api"]

    # A filtered address opens filtered; the script keeps filtering across refreshes.
    page.goto(daemon.url + "/?q=qng&hide=down,unreachable")
    wait_refreshed(page, 2)
    assert visible_names(page) == ["qng-core-1"]
    assert page.input_value("#search") == "qng"
    assert not page.locator("#filters input[value=down]").is_checked()


def test_a_script_tag_as_a_name_is_shown_as_text(
    daemon: DaemonProcess, browser: BrowserContext
) -> None:
    status, html = daemon.get("/")
    assert status == 200
    assert XSS not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    page = browser.new_page()
    page.goto(daemon.url + "/")
    wait_refreshed(page)
    link = page.get_by_role("link", name=XSS, exact=True)
    assert link.inner_text() == XSS
    assert link.get_attribute("href") == "/targets/" + quote(XSS, safe="")
    assert page.locator("script:not([src]):not([type='application/json'])").count() == 0

    link.click()
    page.wait_for_url(re.compile(r".*/targets/%3Cscript%3E.*"))
    assert page.locator("h1").inner_text() == XSS
    wait_refreshed(page)  # the detail page's script fetched its own data by that name
    status, detail = daemon.get("/targets/" + quote(XSS, safe=""))
    assert status == 200 and XSS not in detail
    # The fixture fails the test if an alert dialog had opened.


def test_target_page_shows_checks_outages_dependencies_location_and_mutes(
    daemon: DaemonProcess, browser: BrowserContext
) -> None:
    page = browser.new_page()
    page.goto(daemon.url + "/")
    page.get_by_role("link", name="post-tracking-api", exact=True).first.click()
    page.wait_for_url("**/targets/post-tracking-api")
    head = page.locator("#head")
    assert head.locator(".badge").inner_text() == "Down"
    assert "tcp: connection refused" in page.locator("#reason").inner_text()
    check = page.locator("#checks tr[data-check=tcp]")
    assert "Failed" in check.inner_text() and "refused" in check.inner_text()
    assert re.search(r"\d+\.\d ms", check.inner_text())
    outage = page.locator("table.outages tbody tr").first
    assert "ongoing" in outage.inner_text() and "failed checks: tcp" in outage.inner_text()
    alerts = page.locator("section.card", has_text="Active alerts")
    assert "Target down" in alerts.inner_text() and "muted" in alerts.inner_text()
    silence = page.locator("section.card", has_text="Silences")
    assert "vendor is on it" in silence.inner_text()
    assert 'target="post-tracking-api"' in silence.inner_text()
    wait_refreshed(page, 2)
    assert head.locator(".badge").inner_text() == "Down"
    screenshot(page, "status-target-down")

    page.goto(daemon.url + "/targets/qng-core-1")
    location = page.locator("section.card", has_text="Location")
    assert "Quang Ngai city" in location.inner_text()
    assert location.get_by_role("link", name="+84 255 000 000").get_attribute("href") == (
        "tel:+84255000000"
    )
    map_link = location.get_by_role("link", name=re.compile("Open map"))
    href = map_link.get_attribute("href") or ""
    assert href.startswith("https://www.openstreetmap.org/?mlat=15.120000&mlon=108.800000")
    assert map_link.get_attribute("rel") == "noopener noreferrer"  # a link: never followed here
    children = page.locator("section.card", has_text="Dependencies")
    assert children.get_by_role("link", name="bts-binh-son-02").count() == 1
    assert "100.00 %" in page.locator("ul.tiles").inner_text()

    page.goto(daemon.url + "/targets/bts-binh-son-02")
    assert page.get_by_role("link", name="qng-core-1").count() == 1

    page.goto(daemon.url + "/targets/ups-hue-1")
    windows = page.locator("section.card", has_text="Maintenance windows")
    assert "battery swap" in windows.inner_text() and "active now" in windows.inner_text()
    assert page.locator("#head .badge").inner_text() == "Maintenance"

    status, missing = daemon.get("/targets/nope")  # not in the browser: it logs 404s as errors
    assert status == 404 and "No target is named nope." in missing


def test_vietnamese_page(tmp_path: Path, browser: BrowserContext) -> None:
    with DaemonProcess(config_text("vi"), tmp_path) as vi:
        vi.wait_for("continuity_target_up", 0, timeout=10, target="post-tracking-api")
        vi.wait_for("continuity_target_up", 1, timeout=10, target="qng-core-1")
        page = browser.new_page()
        page.goto(vi.url + "/")
        wait_refreshed(page)
        assert page.locator("html").get_attribute("lang") == "vi"
        assert row(page, "post-tracking-api").locator(".badge").inner_text() == "Mất kết nối"
        assert row(page, "qng-core-1").locator(".badge").inner_text() == "Đang hoạt động"
        filters = page.locator("#filters").inner_text()
        for word in ("Không thể truy cập", "Bảo trì", "Chập chờn", "Không rõ"):
            assert word in filters
        assert page.locator("#shown").inner_text() == f"Đang hiện {TOTAL}/{TOTAL} đối tượng"
        assert (page.locator("#incidents-box h2").text_content() or "").startswith(
            "Sự cố đang diễn ra"
        )
        assert re.fullmatch(
            r"\d+ (giây|phút)", row(page, "post-tracking-api").locator(".dur").inner_text()
        )
        screenshot(page, "status-overview-vi")
        page.goto(vi.url + "/targets/qng-core-1")
        assert "Xem bản đồ" in page.inner_text("main")
        screenshot(page, "status-target-vi")


def test_static_files_are_the_daemons_own(daemon: DaemonProcess) -> None:
    for name, kind in (("status.css", "text/css"), ("index.js", "text/javascript")):
        with urllib.request.urlopen(f"{daemon.url}/static/{name}", timeout=5) as response:
            assert response.headers["Content-Type"].startswith(kind)
            assert response.headers["Cache-Control"] == "no-cache"
            etag = response.headers["ETag"]
        request = urllib.request.Request(
            f"{daemon.url}/static/{name}", headers={"If-None-Match": etag}
        )
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(request, timeout=5)
        assert not_modified.value.code == 304
    for path in ("/static/nope.js", "/static/..%2Fstatus_page.py", "/static/%2e%2e/i18n.py"):
        assert daemon.get(path)[0] == 404, path


def test_every_text_has_both_languages() -> None:
    assert missing_translations() == []
    english, vietnamese = (texts(language) for language in LANGUAGES)
    assert english.keys() == vietnamese.keys()
    assert vietnamese["state.down"] == "Mất kết nối"


# -- live updates -------------------------------------------------------------------


CUT_CONFIG = """
[monitor]
instance = "noc-test-2"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 1

[[targets]]
name = "bts-cut"
address = "{site}"
labels = {{ province = "Quang Ngai", site = "BS-07" }}

[[targets]]
name = "lo"
address = "127.0.0.1"
"""


@pytest.mark.root
def test_a_cut_target_turns_down_on_the_page_without_a_reload(
    tmp_path: Path, browser: BrowserContext
) -> None:
    netns.require()
    with netns.netns_host() as host, DaemonProcess(CUT_CONFIG.format(site=host.v4), tmp_path) as d:
        d.wait_for("continuity_target_up", 1, timeout=10, target="bts-cut")
        page = browser.new_page()
        page.goto(d.url + "/")
        target = row(page, "bts-cut")
        assert target.get_attribute("data-state") == "up"
        page.evaluate("window.sameDocument = true")  # gone if the page were loaded anew

        host.cut_peer()
        cut_at = time.monotonic()
        page.wait_for_selector("tr.t[data-state=down] >> text=bts-cut", timeout=REFRESH_WAIT_MS)
        seen_after = time.monotonic() - cut_at
        assert target.locator(".badge").inner_text() == "Down"
        # The peer's link is down: no reply (timeout) or no neighbour (unreachable).
        assert re.match(
            r"icmp: (timed out|destination unreachable)", cell(target, "reason").inner_text()
        )
        assert "bts-cut" in page.locator("#incidents-list").inner_text()
        assert page.locator("#count-down").inner_text() == "1"
        assert page.evaluate("window.sameDocument") is True
        screenshot(page, "status-cut-target-down")
        print(f"DOWN on the page {seen_after:.1f} s after the cut")


# -- incidents: a root cause with its consequences folded under it --------------------

ROUTER_CONFIG = """
[monitor]
instance = "noc-test-3"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"
fall = 2
rise = 1

[defaults.icmp]
count = 1

[[targets]]
name = "dp-rtr"
address = "{router}"
labels = {{ province = "Quảng Ngãi", site = "DP-CORE" }}

[[targets]]
name = "dp-bts-01"
address = "{a}"
parents = ["dp-rtr"]
labels = {{ province = "Quảng Ngãi", site = "DP-01" }}

[[targets]]
name = "dp-bts-02"
address = "{b}"
parents = ["dp-rtr"]
labels = {{ province = "Quảng Ngãi", site = "DP-02" }}

[[targets]]
name = "dp-bts-03"
address = "{c}"
parents = ["dp-rtr"]
labels = {{ province = "Quảng Ngãi", site = "DP-03" }}

[[targets]]
name = "lo"
address = "127.0.0.1"
labels = {{ province = "Hà Nội", site = "HN-DC1" }}
"""
SITES = ["dp-bts-01", "dp-bts-02", "dp-bts-03"]


@pytest.mark.root
def test_a_cut_router_is_one_incident_with_its_sites_folded_under_it(
    tmp_path: Path, browser: BrowserContext
) -> None:
    netns.require()
    with router_with_sites(3) as (router, (a, b, c)):
        config = ROUTER_CONFIG.format(router=router.v4, a=a.v4, b=b.v4, c=c.v4)
        with DaemonProcess(config, tmp_path) as daemon:
            for name in ("dp-rtr", *SITES):
                daemon.wait_for("continuity_target_up", 1, timeout=10, target=name)
            page = browser.new_page()
            page.goto(daemon.url + "/")
            wait_refreshed(page)
            assert page.locator("#incidents-box").is_hidden()
            page.evaluate("window.sameDocument = true")  # gone if the page were loaded anew
            site_page = browser.new_page()
            site_page.goto(daemon.url + "/targets/dp-bts-02")
            wait_refreshed(site_page)
            assert site_page.locator("#incident").count() == 0  # up: no part in an incident

            router.cut()
            page.wait_for_function(
                "() => document.querySelectorAll('#incidents-list .consequence-list li')"
                ".length === 3",
                timeout=REFRESH_WAIT_MS,
            )
            # One line for the router, not four rows sorted by time.
            items = page.locator("#incidents-list > li")
            assert items.count() == 1
            summary = items.locator("summary")
            assert summary.get_by_role("link").inner_text() == "dp-rtr"
            assert summary.locator(".badge").inner_text() == "Down"
            summary_text = "3 targets behind it unreachable: dp-bts-01, dp-bts-02, dp-bts-03"
            assert summary.locator(".behind").inner_text() == summary_text
            assert page.locator("#incidents-count").inner_text() == "1"
            assert page.locator("#affected").inner_text() == "4 targets affected"
            consequences = items.locator(".consequence-list")
            assert consequences.is_hidden()  # folded until someone opens it
            # The open target page follows: its root cause appears without a click.
            site_page.wait_for_selector("#root-cause >> text=dp-rtr", timeout=REFRESH_WAIT_MS)
            site_page.close()

            summary.locator(".behind").click()
            assert consequences.is_visible()
            assert consequences.get_by_role("link").all_text_contents() == SITES
            assert consequences.locator(".badge").all_text_contents() == ["Unreachable"] * 3
            refreshed = int(page.evaluate("Number(document.body.dataset.refreshed)"))
            wait_refreshed(page, refreshed + 1)
            assert consequences.is_visible()  # a refresh keeps it open
            # The table keeps every target in its place; the count of DOWN is the router alone.
            assert page.locator("#count-down").inner_text() == "1"
            assert page.locator("#count-unreachable").inner_text() == "3"
            screenshot(page, "status-incident-folded")

            summary.press("Enter")  # the native <summary> folds from the keyboard too
            assert consequences.is_hidden()
            assert page.evaluate("window.sameDocument") is True  # all by the live updates

            # Drawn by the server, the same incident reads the same.
            page.goto(daemon.url + "/")
            served = page.locator("#incidents-list > li")
            assert served.count() == 1
            assert served.locator(".behind").inner_text() == summary_text
            assert served.locator(".consequence-list a").all_text_contents() == SITES  # folded

            page.goto(daemon.url + "/targets/dp-rtr")
            card = page.locator("#incident")
            assert "3 targets are out because of it" in card.inner_text()
            assert card.locator("#consequences").get_by_role("link").all_text_contents() == SITES
            page.goto(daemon.url + "/targets/dp-bts-02")
            root = page.locator("#root-cause")
            assert (
                root.get_by_role("link", name="dp-rtr").get_attribute("href") == "/targets/dp-rtr"
            )
            screenshot(page, "status-target-consequence")

            # Planned work on the router: the sites behind it are in maintenance through it.
            status, body = daemon.request(
                "POST",
                "/api/v1/maintenance",
                {"targets": ["dp-rtr"], "end": "30d", "created_by": "noc"},
            )
            assert status == 201, body
            for name in SITES:
                daemon.wait_for(
                    "continuity_target_state", 1, timeout=10, target=name, state="maintenance"
                )
            page.goto(daemon.url + "/")
            for name in SITES:
                assert cell(row(page, name), "reason").inner_text() == (
                    "in maintenance (via dp-rtr)"
                )
            assert cell(row(page, "dp-rtr"), "reason").inner_text() == ("in a maintenance window")
            assert page.locator("#incidents-box").is_hidden()  # planned work is no incident
            screenshot(page, "status-maintenance-via")

            page.goto(daemon.url + "/targets/dp-bts-01")
            assert page.locator("#reason").inner_text() == "in maintenance (via dp-rtr)"
            assert page.locator("#muted").inner_text() == "in maintenance (via dp-rtr)"
            windows = page.locator("section.card", has_text="Maintenance windows")
            assert "via dp-rtr" in windows.inner_text()
            assert "active now" in windows.inner_text()
