"""Signed MQTT acknowledgements as a table: what is accepted, what is refused and why."""

from __future__ import annotations

import json

import pytest

from alerts.ack import WINDOW, Ack, AckVerifier, sign

SECRET = "s" * 20
FP = "64af709a49585dd0"
NOW = 1_800_000_000


def body(**fields: object) -> bytes:
    doc: dict[str, object] = {"fingerprint": FP, "at": NOW, "by": "alice"}
    doc.update(fields)
    if "hmac" not in fields:
        doc["hmac"] = sign(SECRET, str(doc["fingerprint"]), int(doc["at"]))  # type: ignore[call-overload]
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (FP.encode(), "not JSON"),
        (b"[1]", "not a JSON object"),
        (b"{" * 5000, "not JSON"),
        (body(fingerprint="zz"), "no valid fingerprint"),
        (body(fingerprint="a" * 65), "no valid fingerprint"),
        (body(at="2026-01-01T00:00:00Z", hmac="00"), "no timestamp"),
        (body(at=True, hmac="00"), "no timestamp"),
        (body(hmac=None), "bad or missing hmac"),
        (body(hmac="00" * 32), "bad or missing hmac"),
        (body(hmac=sign("another secret entirely", FP, NOW)), "bad or missing hmac"),
        (body(at=NOW - int(WINDOW) - 1), "stale"),
        (body(at=NOW + int(WINDOW) + 1), "stale"),
    ],
)
def test_refused(raw: bytes, why: str) -> None:
    verdict = AckVerifier(SECRET, lambda: float(NOW)).verify(raw)
    assert isinstance(verdict, str) and verdict.startswith(why)


def test_accepted_once_within_the_window() -> None:
    now = [float(NOW)]
    verifier = AckVerifier(SECRET, lambda: now[0])
    assert verifier.verify(body()) == Ack(FP, "alice")
    assert verifier.verify(body()) == "replayed"
    now[0] += WINDOW - 1
    assert verifier.verify(body()) == "replayed"
    now[0] += 2
    assert str(verifier.verify(body())).startswith("stale")
    assert verifier.verify(body(at=int(now[0]))) == Ack(FP, "alice")  # a fresh one
    assert (
        verifier.verify(body(at=int(now[0]), hmac=sign(SECRET, FP, int(now[0])).upper()))
        == "replayed"
    )
