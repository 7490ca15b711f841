"""The shared test helpers: a missing peer skips locally and fails in CI; waits are bounded."""

from __future__ import annotations

import pytest

from tests import helpers
from tests.helpers import peer_missing, require_peer, wait_until


@pytest.fixture
def missing_peer(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(helpers.PEERS, "nothing", ("/nonexistent/nothing", "no package at all"))
    return "nothing"


def test_a_missing_peer_is_named_with_its_package(missing_peer: str) -> None:
    assert peer_missing("nothing") == "needs nothing (nothing: no package at all; make system-deps)"


@pytest.mark.parametrize("ci", ["", "false", "0"])
def test_a_missing_peer_skips_outside_ci(
    missing_peer: str, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="needs nothing"):
        require_peer(missing_peer)


@pytest.mark.parametrize("ci", ["true", "1", "TRUE"])
def test_a_missing_peer_fails_in_ci(
    missing_peer: str, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI=true and a peer is missing: needs nothing"):
        require_peer(missing_peer)


def test_a_present_peer_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(helpers.PEERS, "python", ("python3", "the interpreter"))
    monkeypatch.setenv("CI", "true")
    require_peer("python")
    assert peer_missing("python") is None


def test_wait_until_fails_after_its_timeout_and_names_what() -> None:
    with pytest.raises(AssertionError, match=r"the impossible not reached within 0\.1 s"):
        wait_until(lambda: False, 0.1, "the impossible")
    assert wait_until(lambda: True, 0.1) < 0.1
