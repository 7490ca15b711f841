"""The optional public page (``[public]``) in Chromium: a chosen subset of targets and
fields on its own listener, no addresses or messages, no credentials even when the
NOC page needs basic auth."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import bcrypt

from tests.daemon_process import API_TOKEN, DaemonProcess
from tests.helpers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CONFIG = """
[monitor]
instance = "public-test"
language = "{language}"

[defaults]
interval = "1s"
timeout = "1s"
fall = 1
rise = 1

[[targets]]
name = "bts-binh-son-01"
address = "127.0.0.41"
checks = ["icmp"]
icmp = {{ count = 1 }}
labels = {{ public = "yes" }}

[[targets]]
name = "post-office-portal"
address = "127.0.0.1"
checks = ["tcp"]
tcp = {{ port = {closed} }}
labels = {{ public = "yes" }}

[[targets]]
name = "noc-core-router"
address = "127.0.0.42"
checks = ["icmp"]
icmp = {{ count = 1 }}

[public]
listen = "127.0.0.1:{public}"
match = {{ public = "yes" }}
fields = ["state", "since", "availability", "reason"]
title = "{title}"

[web]
api_token = "{token}"
basic_auth_users = {{ noc = "{hash}" }}
"""


def config(language: str, public: int, title: str) -> str:
    hashed = bcrypt.hashpw(b"noc-password", bcrypt.gensalt(4)).decode()
    return CONFIG.format(
        language=language,
        public=public,
        closed=free_port(),
        title=title,
        token=API_TOKEN,
        hash=hashed,
    )


def test_public_page_shows_the_chosen_targets_and_fields_only(
    tmp_path: Path, browser: BrowserContext
) -> None:
    port = free_port()
    with DaemonProcess(config("en", port, "Service status"), tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 0, timeout=10, target="post-office-portal")
        daemon.wait_for("continuity_target_up", 1, timeout=10, target="bts-binh-son-01")
        try:  # the NOC page needs credentials ...
            urllib.request.urlopen(daemon.url + "/", timeout=5)
            raise AssertionError("the NOC page answered without credentials")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
        page = browser.new_page()  # ... the public one does not
        response = page.goto(f"http://127.0.0.1:{port}/")
        assert response is not None and response.status == 200
        assert page.title() == "Service status"
        names = page.locator("#public-targets td.c-name").all_inner_texts()
        assert names == ["bts-binh-son-01", "post-office-portal"]
        bts = page.locator("tr.t", has_text="bts-binh-son-01")
        assert bts.locator(".badge").inner_text() == "Up"
        assert bts.locator(".c-avail").count() == 2
        # a fresh daemon: both windows say since when the target is observed
        for cell in bts.locator(".c-avail").all_inner_texts():
            assert re.fullmatch(r"100\.00 %\nsince \d\d:\d\d:\d\d", cell), cell
        portal = page.locator("tr.t", has_text="post-office-portal")
        assert portal.locator(".badge").inner_text() == "Down"
        assert portal.locator(".c-reason").inner_text() == "connection refused"
        # A narrow screen drops the 30-day column (head and cells), never the reason.
        page.set_viewport_size({"width": 900, "height": 800})
        assert portal.locator(".c-reason").is_visible()
        assert page.locator("#public-targets th.c-reason").is_visible()
        assert bts.locator(".c-avail").evaluate_all("a => a.map(c => c.offsetWidth > 0)") == [
            True,
            False,
        ]
        assert not page.locator("#public-targets th.c-a30").is_visible()
        page.set_viewport_size({"width": 1280, "height": 800})
        html = page.content()
        for secret in ("127.0.0", "noc-core-router", "public = ", "connection to"):
            assert secret not in html, secret
        # nothing else is served there: no API, no NOC page
        for path in ("/api/v1/targets", "/targets/bts-binh-son-01", "/metrics"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
                raise AssertionError(f"{path} is served on the public listener")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404


def test_public_page_in_vietnamese_with_fewer_fields(
    tmp_path: Path, browser: BrowserContext
) -> None:
    port = free_port()
    text = config("vi", port, "Tình trạng dịch vụ").replace(
        'fields = ["state", "since", "availability", "reason"]', 'fields = ["state"]'
    )
    with DaemonProcess(text, tmp_path) as daemon:
        daemon.wait_for("continuity_target_up", 1, timeout=10, target="bts-binh-son-01")
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        assert page.locator("html").get_attribute("lang") == "vi"
        headers = page.locator("#public-targets th").all_text_contents()
        assert headers == ["Đối tượng", "Trạng thái"]
        bts = page.locator("tr.t", has_text="bts-binh-son-01")
        assert bts.locator(".badge").inner_text() == "Đang hoạt động"
