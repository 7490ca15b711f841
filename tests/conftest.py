"""The fixtures every test package shares, and the ``needs`` marker.

Fixtures (each starts a real peer for one test and stops it after):

* ``mosquitto``: an anonymous broker (:class:`tests.peers.Mosquitto`);
* ``alertmanager``: a single Alertmanager (:class:`tests.peers.Alertmanager`);
* ``smtp_server``: an aiosmtpd server (:class:`tests.peers.SmtpServer`);
* ``receiver``: an HTTP receiver in the test's loop (:class:`tests.peers.HttpReceiver`);
* ``black_hole``: a TCP server that never answers (:class:`tests.peers.BlackHole`);
* ``browser``: headless Chromium through Playwright (:func:`tests.browser.chromium`);
* ``report_database``: the hand-computed history of ``tests/unit/test_report.py``.

Every test under ``tests/e2e`` is marked ``slow`` here (each runs the daemon
as a process, most with namespaces or real peers); elsewhere slow tests carry
``@pytest.mark.slow`` (more than ~3 s under load). ``pytest -m "not slow"``
is the quick loop; ``make test`` runs everything.

``@pytest.mark.needs("snmptrap", ...)`` on a test or module (``pytestmark``)
runs :func:`tests.helpers.require_peer` before the test: a missing program
skips it locally and fails it in CI. Helpers that tests call directly
(ports, bounded waits, config files) are in ``tests/helpers.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import chromium
from tests.helpers import require_peer
from tests.peers import Alertmanager, BlackHole, HttpReceiver, Mosquitto, SmtpServer, http_receiver

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="needs"):
        require_peer(*marker.args)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """An anonymous broker for one test."""
    require_peer("mosquitto")
    with Mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    require_peer("alertmanager")
    with Alertmanager(tmp_path) as am:
        yield am


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    async with http_receiver() as running:
        yield running


@pytest.fixture
async def black_hole() -> AsyncIterator[BlackHole]:
    hole = BlackHole()
    await hole.start()
    try:
        yield hole
    finally:
        await hole.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A Chromium context with a fresh profile; fails the test on outside traffic or errors."""
    require_peer("playwright", "chromium")
    with chromium(tmp_path) as context:
        yield context


@pytest.fixture(scope="session")
def report_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The history of ``tests/unit/test_report.py``'s docstring, written once per run."""
    from tests.unit.test_report import write_fixture_history  # noqa: PLC0415 - a test module

    path = tmp_path_factory.mktemp("history") / "history.sqlite3"
    write_fixture_history(path)
    return path
