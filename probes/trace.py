"""Path traces: TTL-limited echoes through the shared ICMP engine, and what they show.

A trace sends ``probes_per_hop`` echoes with each TTL from 1 to ``max_hops``
at once (one round, then the next ``ROUND_GAP`` later) through
:meth:`probes.icmp_engine.IcmpEngine.ping` with ``ttl``, and waits until every
echo is settled or the deadline. The router where an echo's TTL runs out
answers ICMP Time Exceeded quoting the echo (so the engine matches it by
identifier and sequence); a router without a way on answers Destination
Unreachable; the destination answers the echo. No external traceroute binary,
no extra socket: the probes share the engine's socket with every ping.

Cost and bounds: at most ``max_hops x probes_per_hop`` echoes, and at most
the deadline of waiting (hops beyond a break never answer, so an outage
trace lasts its whole timeout); all of it is waiting on the event loop, a few
dozen packets of work.

:func:`assemble` turns the answers into hops (pure, tested with tables): per
TTL the first answer; the path ends at the first TTL the destination
answered (reached) or a router said unreachable. :class:`PathTracer` is the
capability a prober offers when it can trace (the ICMP prober does); the
daemon finds it by that protocol, never by the kind's name.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

from monitor.contract import ProbeTarget
from probes.icmp_engine import EchoAnswer, IcmpEngine, PingOutcome, SockAddr

HopKind = Literal["ttl_exceeded", "unreachable", "reply", "silent"]

ROUND_GAP: Final = 0.05
"""Seconds between the rounds of a trace (one echo per TTL each)."""
PAYLOAD_SIZE: Final = 8
"""Bytes after the ICMP header: our 8-byte cookie, which routers quote back."""


@dataclass(frozen=True, slots=True)
class Hop:
    """Hop ``ttl`` of a trace: who answered an echo sent with that TTL, and how."""

    ttl: int
    address: str | None
    kind: HopKind
    rtt: float | None = None

    @property
    def answered(self) -> bool:
        return self.address is not None


@dataclass(frozen=True, slots=True)
class PathTrace:
    """One trace to ``destination``: hops 1..n, n where the path ended or ``max_hops``.

    ``reached``: the destination answered (its hop is the last). ``probes``:
    echoes sent. ``error``: why nothing could be sent (no address, no IPv6).
    """

    destination: str
    hops: tuple[Hop, ...]
    reached: bool
    probes: int
    duration: float
    error: str = ""

    @property
    def last_answering(self) -> Hop | None:
        """The farthest hop that answered, not counting the destination itself."""
        for hop in reversed(self.hops):
            if hop.answered and hop.kind != "reply":
                return hop
        return None

    @property
    def destination_hop(self) -> int | None:
        """The hop number at which the destination answered, if it did."""
        return self.hops[-1].ttl if self.reached and self.hops else None


def assemble(
    destination: str,
    answers: Mapping[int, Sequence[EchoAnswer | None]],
    *,
    probes: int = 0,
    duration: float = 0.0,
) -> PathTrace:
    """Hops from the answers per TTL (pure).

    Per TTL the first echo that got an answer counts. The path ends at the
    first TTL where the destination replied or a router reported it has no
    way on (``unreachable``; at the hop where that router was already seen,
    if it was); later TTLs say nothing more (they meet the same end).
    Trailing silent hops after the last answer are kept up to the last TTL
    probed: they are where the path goes dark. An answer "from" the
    destination that is an ICMP error (a host's own unreachable) is a hop
    like any other.
    """
    hops: list[Hop] = []
    reached = False
    target = destination.partition("%")[0]
    for ttl in sorted(answers):
        # An echo reply from anyone but the destination is no answer of this path.
        answer = next((a for a in answers[ttl] if _counts(a, target)), None)
        if answer is None:
            hops.append(Hop(ttl, None, "silent"))
            continue
        kind = _kind(answer.kind)
        if kind == "unreachable":
            _unreachable(hops, Hop(ttl, answer.responder, kind, answer.rtt))
            break
        # Interned: the same routers are on the paths of thousands of targets.
        hops.append(Hop(ttl, sys.intern(answer.responder), kind, answer.rtt))
        if kind == "reply":
            reached = True
            break
    return PathTrace(destination, tuple(hops), reached, probes, duration)


def _counts(answer: EchoAnswer | None, target: str) -> bool:
    if answer is None:
        return False
    return answer.kind != "reply" or answer.responder.partition("%")[0] == target


def _unreachable(hops: list[Hop], hop: Hop) -> None:
    """A router says it has no way on: the path ends at that router.

    A router already seen at an earlier hop (its Time Exceeded for a lower
    TTL) is that hop, not this one: echoes with a higher TTL reach it too and
    get its Unreachable (once its neighbour beyond is known dead), so the
    path is cut back to where the router is, and that hop says unreachable.
    """
    for index, earlier in enumerate(hops):
        if earlier.address == hop.address:
            del hops[index + 1 :]
            hops[index] = Hop(earlier.ttl, earlier.address, "unreachable", earlier.rtt)
            return
    hops.append(hop)


def _kind(kind: str) -> HopKind:
    if kind == "reply":
        return "reply"
    if kind == "unreachable":
        return "unreachable"
    return "ttl_exceeded"


async def trace_path(
    engine: IcmpEngine,
    family: int,
    sockaddr: SockAddr,
    *,
    max_hops: int,
    probes_per_hop: int,
    deadline: float,
) -> PathTrace:
    """Trace the path to ``sockaddr`` through ``engine`` (see the module docstring)."""
    loop = asyncio.get_running_loop()
    begin = loop.time()
    runs = [
        engine.ping(
            family,
            sockaddr,
            count=probes_per_hop,
            interval=ROUND_GAP,
            payload_size=PAYLOAD_SIZE,
            deadline=deadline,
            ttl=ttl,
        )
        for ttl in range(1, max_hops + 1)
    ]
    outcomes = await asyncio.gather(*runs)
    answers = {ttl: outcome.answers for ttl, outcome in enumerate(outcomes, 1)}
    sent = sum(outcome.sent for outcome in outcomes)
    trace = assemble(sockaddr[0], answers, probes=sent, duration=loop.time() - begin)
    refused = not_sent(outcomes)
    if refused and trace.last_answering is None and not trace.reached:
        # Nothing left this host (no route here, a firewall): no hop to blame.
        return PathTrace(trace.destination, (), False, sent, trace.duration, refused)
    return trace


def not_sent(outcomes: Sequence[PingOutcome]) -> str:
    """Why this host refused to send a trace's echoes (``""`` when it sent them)."""
    for outcome in outcomes:
        for _reason, message in outcome.failures:
            if message.startswith(("send", "no IPv6 route")):
                # monitor.i18n knows this text ("msg.path.cannot_send"): keep them alike
                return f"this monitor cannot send to {outcome.destination} ({message})"
    return ""


@runtime_checkable
class PathTracer(Protocol):
    """A prober that can trace the path to a target (the ICMP prober can)."""

    async def trace(
        self,
        target: ProbeTarget,
        settings: Any,
        *,
        max_hops: int,
        probes_per_hop: int,
        deadline: float,
    ) -> PathTrace:
        """Trace to ``target`` (its address as this prober resolves it); never raises
        for the network (an address that cannot be traced is a trace with ``error``)."""
        ...
