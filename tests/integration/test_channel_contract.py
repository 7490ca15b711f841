"""The contract every channel kind passes, against real peers on loopback.

For each kind in the registry (opened through the registry, as the daemon does):
delivered when the peer takes it; transient when the peer is unreachable or
says "later"; permanent when the peer rejects it for good; the channel's own
timeout is honoured against a peer that never answers; and no secret
(password, token, HMAC key, a token in the URL) appears in any error or log
line, on any path. A new kind fails here until it has a harness below.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from alerts.channels import KINDS
from alerts.channels.base import ChannelContext, ChannelSettings, PermanentError, TransientError
from alerts.model import Alert, Notification, Site
from tests.helpers import free_port, peer_missing, require_peer
from tests.peers import (
    BlackHole,
    HttpReceiver,
    Mosquitto,
    SmtpServer,
)

PASSWORD = "pw-CONTRACT-7f3a"
TOKEN = "tok-CONTRACT-91bc"
HMAC_KEY = "hmac-CONTRACT-55d2"
URL_TOKEN = "q-CONTRACT-0e1f"
SECRETS = (PASSWORD, TOKEN, HMAC_KEY, URL_TOKEN)

MODES = ("ok", "refused", "later", "reject", "silent")
"""ok: delivered; refused: nothing listens; later: the peer says try again;
reject: the peer refuses for good; silent: the peer accepts TCP and never answers."""

# The SMTP peer requires AUTH without TLS here (the contract is about our side).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

NOTE = Notification(
    key="TargetDown/contract@1700000000.000:firing",
    channel="contract",
    alerts=(
        Alert(
            {"alertname": "TargetDown", "target": "bts-1", "severity": "critical"},
            time.time() - 60,
            annotations={"summary": "no reply"},
            site=Site(address="Binh Son", contact="+84 255 000 000"),
        ),
    ),
)


@dataclass
class Harness:
    """How to point one kind at the peers for each mode."""

    kind: str
    raw: Callable[[str], dict[str, Any] | None]
    delivered: Callable[[], int]
    no_permanent: str = ""

    def settings(self, mode: str, timeout: float = 3.0) -> ChannelSettings | None:
        raw = self.raw(mode)
        if raw is None:
            return None
        data = {"type": self.kind, "timeout": f"{timeout}s", **raw}
        return KINDS[self.kind].settings.model_validate(data)


async def attempt(harness: Harness, settings: ChannelSettings) -> BaseException | None:
    """Open the channel through the registry and send one notification."""
    kind = KINDS[harness.kind]
    async with kind.open(settings, ChannelContext("contract", "contract-test")) as channel:
        try:
            await channel.send(NOTE)
        except Exception as exc:
            return exc
    return None


# -- peers shared by the module ----------------------------------------------------------


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto | None]:
    if peer_missing("mosquitto") is not None:  # the other kinds still run
        yield None
        return
    with Mosquitto(tmp_path_factory.mktemp("mqtt"), users={"noc": PASSWORD}) as running:
        yield running


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(users={"noc": PASSWORD}) as server:
        yield server


def mqtt_harness(broker: Mosquitto | None, hole: BlackHole) -> Harness:
    if broker is None:
        require_peer("mosquitto")
    assert broker is not None
    refused = free_port()

    def raw(mode: str) -> dict[str, Any] | None:
        port = {
            "ok": broker.port,
            "later": broker.port,
            "refused": refused,
            "silent": hole.port,
        }.get(mode)
        if port is None:
            return None
        password = "wrong-" + PASSWORD if mode == "later" else PASSWORD  # not authorised: retried
        return {
            "url": f"mqtt://127.0.0.1:{port}",
            "username": "noc",
            "password": password,
            "reconnect_initial": "100ms",
        }

    return Harness(
        "mqtt",
        raw,
        lambda: 1,
        "MQTT 3.1.1 has no way to refuse a publish for good: every failure is retried",
    )


def http_raw(
    receiver: HttpReceiver, hole: BlackHole, key: str, **extra: Any
) -> Callable[[str], dict[str, Any] | None]:
    refused = free_port()

    def raw(mode: str) -> dict[str, Any]:
        base = {
            "ok": receiver.url,
            "later": f"{receiver.url}/status-503",
            "reject": f"{receiver.url}/status-400",
            "refused": f"http://127.0.0.1:{refused}",
            "silent": f"http://127.0.0.1:{hole.port}",
        }[mode]
        url = f"{base}/hook?token={URL_TOKEN}"
        return {key: [url] if key == "urls" else url, **extra}

    return raw


def webhook_harness(receiver: HttpReceiver, hole: BlackHole) -> Harness:
    raw = http_raw(
        receiver, hole, "url", secret=HMAC_KEY, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    return Harness("webhook", raw, lambda: len(receiver.requests))


def alertmanager_harness(receiver: HttpReceiver, hole: BlackHole) -> Harness:
    raw = http_raw(receiver, hole, "urls", username="noc", password=PASSWORD)
    return Harness("alertmanager", raw, lambda: len(receiver.requests))


def email_harness(smtp: SmtpServer, hole: BlackHole) -> Harness:
    refused = free_port()

    def raw(mode: str) -> dict[str, Any]:
        port = {"refused": refused, "silent": hole.port}.get(mode, smtp.port)
        to = {"later": "later@example.vn", "reject": "reject@example.vn"}.get(
            mode, "oncall@example.vn"
        )
        return {
            "smarthost": f"127.0.0.1:{port}",
            "security": "none",
            "username": "noc",
            "password": PASSWORD,
            "from": "noc@example.vn",
            "to": [to],
        }

    return Harness("email", raw, lambda: len(smtp.messages))


@pytest.fixture(params=sorted(KINDS))
def harness(
    request: pytest.FixtureRequest,
    broker: Mosquitto | None,
    smtp: SmtpServer,
    receiver: HttpReceiver,
    black_hole: BlackHole,
    tmp_path: Path,
) -> Harness:
    kind = request.param
    if kind == "mqtt":
        return mqtt_harness(broker, black_hole)
    if kind == "webhook":
        return webhook_harness(receiver, black_hole)
    if kind == "alertmanager":
        return alertmanager_harness(receiver, black_hole)
    if kind == "email":
        return email_harness(smtp, black_hole)
    raise AssertionError(f"channel kind {kind!r} has no contract harness: add one in {__file__}")


# -- the contract ----------------------------------------------------------------------------


async def test_delivers(harness: Harness) -> None:
    settings = harness.settings("ok")
    assert settings is not None
    before = harness.delivered()
    assert await attempt(harness, settings) is None
    assert harness.delivered() > before or harness.kind == "mqtt"  # mqtt: the broker acked


@pytest.mark.parametrize("mode", ["refused", "later"])
async def test_transient(harness: Harness, mode: str) -> None:
    settings = harness.settings(mode, timeout=1.0)
    assert settings is not None
    error = await attempt(harness, settings)
    assert isinstance(error, TransientError), repr(error)


async def test_permanent(harness: Harness) -> None:
    settings = harness.settings("reject")
    if settings is None:
        pytest.skip(harness.no_permanent)
    error = await attempt(harness, settings)
    assert isinstance(error, PermanentError), repr(error)


async def test_timeout_honoured(harness: Harness) -> None:
    settings = harness.settings("silent", timeout=0.5)
    assert settings is not None
    started = time.monotonic()
    error = await attempt(harness, settings)
    elapsed = time.monotonic() - started
    assert isinstance(error, TransientError), repr(error)
    assert elapsed < 0.5 + 1.0, f"send took {elapsed:.2f}s with a 0.5s timeout"


def _texts(error: BaseException | None) -> list[str]:
    out: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        out += [str(error), repr(error), *map(str, error.args)]
        error = error.__cause__ or error.__context__
    return out


async def test_no_secret_in_errors_or_logs(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for mode in MODES:
        settings = harness.settings(mode, timeout=0.5)
        if settings is None:
            continue
        texts.append(repr(settings))
        texts += _texts(await attempt(harness, settings))
    texts += [r.getMessage() for r in caplog.records]
    texts += [r.exc_text or "" for r in caplog.records]
    texts.append(caplog.text)
    leaks = [(secret, text) for text in texts for secret in SECRETS if secret in text]
    assert leaks == []
