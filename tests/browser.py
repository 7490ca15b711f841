"""Debian's Chromium, headless, driven by Playwright for Python: a real browser for page tests.

:func:`chromium` (behind the ``browser`` fixture of ``tests/conftest.py``) yields a Playwright ``BrowserContext`` of
``/usr/bin/chromium`` started with a fresh profile directory and the flags
below; Playwright's own browser downloads are never used (nothing runs
``playwright install``). On exit it checks what the page did:

- every request went to a loopback address: others are aborted by a route
  and fail the test (the network rule: tests talk only to 127.0.0.0/8 and
  ::1, and the flags keep Chromium's own background traffic off);
- no JavaScript error was thrown and nothing was logged as an error (a
  Content-Security-Policy violation shows up here too);
- no dialog was opened (``alert(1)`` from an injected script would be one).

The fixture skips (fails in CI) when Playwright or Chromium is missing
(``tests/setup-system.sh`` installs the ``chromium`` package as root).
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra is not installed: the fixture skips
    sync_playwright = None  # type: ignore[assignment]

from tests.helpers import PEERS

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Dialog, Error, Page, Route

CHROMIUM = PEERS["chromium"][0]  # Debian's, never a Playwright download
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"  # git-ignored
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--metrics-recording-only",
    # Debian's wrapper adds --enable-remote-extensions, and the browser still looks up
    # update and account hosts: no name resolves, and anything not on loopback goes
    # to a closed loopback port, so not even a DNS query leaves the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--proxy-server=127.0.0.1:9",
    "--dns-prefetch-disable",
]
LAUNCH_TIMEOUT_MS = 30_000
ACTION_TIMEOUT_MS = 10_000


def is_loopback_url(url: str) -> bool:
    """Loopback http(s)/ws(s) URLs, and the browser's own data/blob/about URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Watch:
    """What pages of a context did that a test must not allow."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.blocked, f"requests outside loopback were made: {self.blocked}"
        assert not self.dialogs, f"dialogs were opened: {self.dialogs}"
        assert not self.errors, f"the page reported errors: {self.errors}"


def _watch_page(page: Page, watch: Watch) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(message.text)

    def on_page_error(error: Error) -> None:
        watch.errors.append(str(error))

    def on_dialog(dialog: Dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("dialog", on_dialog)


@contextlib.contextmanager
def chromium(workdir: Path) -> Iterator[BrowserContext]:
    """A Chromium context with a fresh profile under ``workdir``; on exit, fails the test
    on outside traffic or page errors."""
    assert sync_playwright is not None, "require_peer('playwright') first"
    watch = Watch()

    def only_loopback(route: Route) -> None:
        if is_loopback_url(route.request.url):
            route.continue_()
        else:
            watch.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(workdir / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=LAUNCH_TIMEOUT_MS,
            viewport={"width": 1400, "height": 900},
            locale="en-GB",
            timezone_id="UTC",
            service_workers="block",
        )
        try:
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.route("**/*", only_loopback)
            for page in context.pages:  # the persistent context opens with one
                _watch_page(page, watch)
            context.on("page", lambda page: _watch_page(page, watch))
            yield context
        finally:
            context.close()
    watch.check()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``tests/artifacts/<name>.png``; returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
