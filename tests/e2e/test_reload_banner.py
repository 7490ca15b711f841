"""A refused reload is on the status page until a reload succeeds (Chromium).

The page is open while the file is broken and reloaded: its refresh shows the
banner with the problem and its line, without a page load; a good reload
takes it away again. The banner is also in the HTML of a fresh page load.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tests.daemon_process import DaemonProcess

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CONFIG = """
[monitor]
instance = "banner"
language = "{language}"

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"

[defaults.icmp]
count = 1

[[targets]]
name = "lo-1"
address = "127.0.0.1"
"""


def test_banner_from_a_refused_reload_until_a_good_one(
    tmp_path: Path, browser: BrowserContext
) -> None:
    with DaemonProcess(CONFIG.format(language="en"), tmp_path) as daemon:
        page = browser.new_page()
        page.goto(daemon.url + "/")
        banner = page.locator("#reload-failed")
        assert banner.is_hidden()
        good = daemon.config.read_text()
        daemon.config.write_text(good.replace("count = 1", "count = 0"))
        status, _ = daemon.request("POST", "/-/reload")
        assert status == 400
        banner.wait_for(state="visible", timeout=15_000)
        assert (
            page.locator("#reload-text")
            .inner_text()
            .startswith("The configuration file was refused at ")
        )
        issues = page.locator("#reload-issues li").all_inner_texts()
        assert len(issues) == 1 and "icmp.count: must be at least 1, got 0" in issues[0]

        page.reload()  # the banner is in the page's HTML too
        assert page.locator("#reload-failed").is_visible()

        daemon.config.write_text(good)
        assert daemon.request("POST", "/-/reload")[0] == 200
        page.locator("#reload-failed").wait_for(state="hidden", timeout=15_000)


def test_banner_in_vietnamese(tmp_path: Path, browser: BrowserContext) -> None:
    with DaemonProcess(CONFIG.format(language="vi"), tmp_path) as daemon:
        daemon.config.write_text(daemon.config.read_text().replace("count = 1", "count = 0"))
        assert daemon.request("POST", "/-/reload")[0] == 400
        page = browser.new_page()
        page.goto(daemon.url + "/")
        text = page.locator("#reload-text").inner_text()
        assert text.startswith("Tệp cấu hình bị từ chối lúc ")
