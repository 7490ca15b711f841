"""Muting: silences, maintenance and isolation between the rules and delivery.

The :class:`Gate` decides which alerts reach delivery. A firing alert that
is muted (by a silence, by its target's maintenance, or because the monitor
is isolated) is held back; if it is still firing when the mute ends, it is
passed on then. A resolve is passed on exactly when its firing was: an
on-call person who was paged always hears that it is over, and one who was
not is not told about something they never saw.

Silences are Alertmanager-style: matchers on labels (equality or anchored
regular expression), an end time, who made it and why. Pure; time passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from alerts.model import Alert
from monitor.regex import Regex, compile_regex


@dataclass(frozen=True, slots=True)
class Matcher:
    """``name`` equals ``value``, or fully matches it as a regex.

    Regexes are compiled once, here, with RE2 (linear time: a silence's
    pattern comes from whoever holds the API token); a pattern RE2 refuses
    raises ValueError when the matcher is made.
    """

    name: str
    value: str
    regex: bool = False
    compiled: Regex | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.regex and self.compiled is None:
            object.__setattr__(self, "compiled", compile_regex(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.compiled is not None:
            return self.compiled.fullmatch(actual)
        return actual == self.value


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def covers(self, alert: Alert, now: float) -> bool:
        return (
            self.starts_at <= now < self.ends_at
            and bool(self.matchers)
            and all(m.matches(alert.labels) for m in self.matchers)
        )

    def may_cover(self, target: str, labels: Mapping[str, str]) -> bool:
        """Whether it can hold back alerts about ``target`` (with its labels).

        The same matching as :meth:`covers`, on the labels every alert about
        the target carries (``target`` and the target's own labels). Matchers
        on labels only alerts carry (``alertname``, ``check``) cannot be judged
        without an alert: they neither select nor exclude; a silence with none
        on the target's labels is not the target's.
        """
        known = {**labels, "target": target}
        relevant = [m for m in self.matchers if m.name in known]
        return bool(relevant) and all(m.matches(known) for m in relevant)


def silences_for(
    silences: Iterable[Silence], target: str, labels: Mapping[str, str]
) -> list[Silence]:
    """The silences that may hold back alerts about a target (the target page lists them)."""
    return [s for s in silences if s.may_cover(target, labels)]


MuteReason = Callable[[Alert], str | None]
"""The daemon's part of muting: maintenance and isolation, by alert."""


@dataclass
class Gate:
    """Holds muted alerts back and keeps firing/resolve notifications paired."""

    silences: dict[str, Silence] = field(default_factory=dict)
    notified: set[str] = field(default_factory=set)  # fingerprints whose firing went out
    held: dict[str, Alert] = field(default_factory=dict)  # muted firing alerts

    def muted(self, alert: Alert, now: float, context: MuteReason) -> str | None:
        """Why the alert is muted now, or None."""
        for silence in self.silences.values():
            if silence.covers(alert, now):
                return f"silence:{silence.id}"
        return context(alert)

    def offer(self, alerts: Sequence[Alert], now: float, context: MuteReason) -> list[Alert]:
        """Alerts from the rules; returns those to hand to delivery."""
        out: list[Alert] = []
        for alert in alerts:
            fp = alert.fingerprint
            if alert.ends_at is not None:
                self.held.pop(fp, None)
                if fp in self.notified:
                    self.notified.discard(fp)
                    out.append(alert)
            elif self.muted(alert, now, context) is not None:
                self.held[fp] = alert
            else:
                self.notified.add(fp)
                out.append(alert)
        return out

    def release(self, now: float, context: MuteReason) -> list[Alert]:
        """Held alerts whose mute has ended (still firing): pass them on now."""
        out = []
        for fp, alert in list(self.held.items()):
            if self.muted(alert, now, context) is None:
                del self.held[fp]
                self.notified.add(fp)
                out.append(alert)
        return out

    def expire(self, now: float) -> list[str]:
        """Drop silences that have ended; returns their ids."""
        gone = [sid for sid, s in self.silences.items() if s.ends_at <= now]
        for sid in gone:
            del self.silences[sid]
        return gone
