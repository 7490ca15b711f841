"""Where the path breaks: a trace read against the baseline, in words (pure).

:func:`diagnose` compares an outage trace (:class:`probes.trace.PathTrace`)
with the baseline path recorded while the target was up and says, for the
alert, the outage row, the target page and the API::

    path breaks after hop 2 (10.80.2.2, r2); the baseline path went on to hop 3
    (10.80.3.2, r3) and reached the target at hop 4

Hops that are configured targets are named (``names`` maps an address to
the names of the targets that have it). :class:`TraceBudget` bounds how
many traces start per minute, with a share kept for outage traces. No I/O,
no clock reads: time is passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, field_validator

from monitor.config_types import Duration, NonNegativeDuration, StrictModel, duration_at_most
from monitor.i18n import texts
from probes.trace import Hop, PathTrace

# The diagnosis is written in English, from the catalogue's texts, so that
# monitor.i18n can put it in a channel's or a page's language when it is shown.
_EN = texts("en")

Names = Callable[[str], Sequence[str]]
"""The configured target names that have an address (none: an empty sequence)."""


class PathDiagnosisSection(StrictModel):
    """``[path_diagnosis]``: trace the path to a root cause when it goes DOWN.

    Defaults cost at most 32 echoes and 2 s a trace, 60 traces a minute.
    """

    enabled: bool = True
    max_hops: Annotated[int, Field(ge=1, le=64)] = 16
    probes_per_hop: Annotated[int, Field(ge=1, le=5)] = 2
    timeout: Annotated[
        Duration, duration_at_most(10.0, "a trace that waits longer only delays the page")
    ] = 2.0
    baseline_interval: Duration = 3600.0
    max_traces_per_minute: Annotated[int, Field(ge=1, le=6000)] = 60
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 8
    # 0 pages at once (as without a baseline); the diagnosis still reaches the outage row.
    page_wait: Annotated[
        NonNegativeDuration,
        duration_at_most(30.0, "a page must not wait long for its diagnosis"),
    ] = 3.0

    @field_validator("baseline_interval")
    @classmethod
    def _baseline_not_too_often(cls, value: float) -> float:
        if value < 60.0:
            raise ValueError("must be at least 1m (a baseline path changes rarely)")
        return value


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What an outage trace showed, compared with the baseline."""

    at: float
    text: str
    reached: bool
    last_hop: int | None  # hop number of the last answering hop; None: none answered
    last_address: str | None
    last_name: str | None
    trace: PathTrace
    baseline: PathTrace | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reached": self.reached,
            "last_hop": self.last_hop,
            "last_address": self.last_address,
            "last_name": self.last_name,
        }


def hop_label(hop: Hop, names: Names) -> str:
    """``10.80.2.2, r2`` (the address, and the target names that have it)."""
    assert hop.address is not None
    named = [n for n in names(hop.address) if n]
    return ", ".join([hop.address, *named])


def first_name(address: str | None, names: Names) -> str | None:
    if address is None:
        return None
    return next(iter(names(address)), None)


def diagnose(trace: PathTrace, baseline: PathTrace | None, names: Names, at: float) -> Diagnosis:
    """The diagnosis of an outage trace (see the module docstring for the words)."""
    last = trace.last_answering
    if trace.error:
        text = _EN["msg.path.not_traced"].format(error_text=trace.error)
    elif trace.reached:
        text = _EN["msg.path.complete"].format(hop=trace.destination_hop)
    elif last is None:
        text = _EN["msg.path.silent"]
    else:
        key = "msg.path.breaks_unreachable" if last.kind == "unreachable" else "msg.path.breaks"
        text = _EN[key].format(hop=last.ttl, where_part=hop_label(last, names))
    if not trace.error and not trace.reached:
        text += compare(trace, baseline, names)
    return Diagnosis(
        at=at,
        text=text,
        reached=trace.reached,
        last_hop=last.ttl if last is not None else None,
        last_address=last.address if last is not None else None,
        last_name=first_name(last.address if last is not None else None, names),
        trace=trace,
        baseline=baseline,
    )


def compare(trace: PathTrace, baseline: PathTrace | None, names: Names) -> str:
    """How the broken path differs from the baseline (a clause starting with ``; ``)."""
    if baseline is None or not baseline.hops:
        return "; " + _EN["msg.path.no_baseline"]
    last = trace.last_answering
    upto = last.ttl if last is not None else 0
    by_ttl = {hop.ttl: hop for hop in baseline.hops}
    clauses = []
    if last is not None:
        was = by_ttl.get(last.ttl)
        if was is not None and was.answered and was.address != last.address:
            clauses.append(
                _EN["msg.path.changed"].format(hop=last.ttl, where_part=hop_label(was, names))
            )
    following = by_ttl.get(upto + 1)
    if following is not None and following.answered and following.kind != "reply":
        where = hop_label(following, names)
        if baseline.reached:
            clauses.append(
                _EN["msg.path.went_on_reached"].format(
                    hop=following.ttl, where_part=where, target_hop=baseline.destination_hop
                )
            )
        else:
            clauses.append(_EN["msg.path.went_on"].format(hop=following.ttl, where_part=where))
    elif following is not None and following.kind == "reply":
        clauses.append(_EN["msg.path.reached"].format(hop=following.ttl))
    elif baseline.reached:
        clauses.append(_EN["msg.path.reached"].format(hop=baseline.destination_hop))
    return "".join(f"; {clause}" for clause in clauses)


def trace_view(trace: PathTrace | None, names: Names, at: str | None = None) -> Any:
    """A trace for the API and the target page (None stays None)."""
    if trace is None:
        return None
    return {
        "at": at,
        "destination": trace.destination,
        "reached": trace.reached,
        "error": trace.error or None,
        "probes": trace.probes,
        "duration_seconds": round(trace.duration, 3),
        "hops": [
            {
                "hop": hop.ttl,
                "address": hop.address,
                "name": first_name(hop.address, names),
                "kind": hop.kind,
                "rtt_seconds": None if hop.rtt is None else round(hop.rtt, 6),
            }
            for hop in trace.hops
        ],
    }


class TraceBudget:
    """At most ``per_minute`` traces started in any 60 seconds (a sliding window).

    Baseline refreshes may use only ``baseline_share`` of it, so traces at an
    outage always find room for the rest. Time is passed in.
    """

    WINDOW = 60.0

    def __init__(self, per_minute: int, baseline_share: float = 0.5) -> None:
        self.per_minute = per_minute
        self.baseline_share = baseline_share
        self._started: deque[float] = deque()

    def _used(self, now: float) -> int:
        started = self._started
        while started and started[0] <= now - self.WINDOW:
            started.popleft()
        return len(started)

    def take(self, now: float, *, baseline: bool = False) -> bool:
        """Start one trace now if the budget allows (True), else nothing (False)."""
        limit = self.per_minute
        if baseline:
            limit = max(1, int(limit * self.baseline_share)) if limit > 1 else 0
        if self._used(now) >= limit:
            return False
        self._started.append(now)
        return True

    def used(self, now: float) -> int:
        """Traces started in the last minute."""
        return self._used(now)
