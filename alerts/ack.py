"""Signed acknowledgements over MQTT: a shared secret per channel, a bounded replay window.

Anyone who can publish on the broker (a site gateway, say) could read an
alert's fingerprint from the alerts topic and acknowledge it, silencing its
repeats and escalation. An acknowledgement must therefore prove knowledge of
the channel's ``command_secret``::

    {"fingerprint": "<hex>", "at": <UNIX seconds>, "by": "alice",
     "hmac": "<hex HMAC-SHA256(secret, fingerprint + "\\n" + str(at))>"}

``at`` must lie within :data:`WINDOW` seconds of our clock, and a signed
message is accepted once: the signatures seen within the window are kept.
``by`` is not signed: it is logged as the sender's unauthenticated claim.
Pure; time passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 300.0  # seconds either side of now that a signed acknowledgement is valid
MAX_SEEN = 10_000  # signatures remembered at most (a flood of valid ones is a leaked secret)
_HEX = frozenset(string.hexdigits)


def sign(secret: str, fingerprint: str, at: int) -> str:
    """The ``hmac`` field for an acknowledgement (what a sender computes)."""
    message = f"{fingerprint}\n{at}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Ack:
    fingerprint: str
    by: str  # the sender's claim, not verified


class AckVerifier:
    """Checks signed acknowledgements; remembers the ones accepted within the window."""

    def __init__(self, secret: str, clock: Callable[[], float], window: float = WINDOW) -> None:
        self._secret = secret
        self._clock = clock
        self._window = window
        self._seen: dict[str, float] = {}  # signature -> its ``at``

    def verify(self, raw: bytes) -> Ack | str:
        """The acknowledgement, or why it is refused (for the log)."""
        parsed = _parse(raw)
        if isinstance(parsed, str):
            return parsed
        fingerprint, at, mac, by = parsed
        if not hmac.compare_digest(mac, sign(self._secret, fingerprint, at)):
            return "bad or missing hmac"
        now = self._clock()
        if abs(now - at) > self._window:
            return f"stale: 'at' is {now - at:+.0f} s from now (allowed +-{self._window:.0f} s)"
        self._forget(now)
        if mac in self._seen:
            return "replayed"
        self._seen[mac] = at
        return Ack(fingerprint, by)

    def _forget(self, now: float) -> None:
        for mac in [m for m, at in self._seen.items() if abs(now - at) > self._window]:
            del self._seen[mac]
        while len(self._seen) >= MAX_SEEN:
            del self._seen[next(iter(self._seen))]


def _parse(raw: bytes) -> tuple[str, int, str, str] | str:
    """(fingerprint, at, hmac, by) of an acknowledgement, or why it is malformed."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(doc, dict):
        return "not a JSON object"
    fingerprint, at, mac, by = (doc.get(k) for k in ("fingerprint", "at", "hmac", "by"))
    if not isinstance(fingerprint, str) or not 0 < len(fingerprint) <= 64:
        return "no valid fingerprint"
    if not isinstance(at, int) or isinstance(at, bool):
        return "no timestamp 'at' (UNIX seconds)"
    if not isinstance(mac, str) or not set(fingerprint) <= _HEX:
        return "bad or missing hmac" if not isinstance(mac, str) else "no valid fingerprint"
    return fingerprint, at, mac.lower(), by[:64] if isinstance(by, str) else ""
