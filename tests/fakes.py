"""Test doubles for pure-logic tests: a fake clock and a scripted prober.

Only for unit tests of the scheduler, state and daemon wiring; anything that
speaks a protocol is tested against a real peer instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.contract import CheckSettings, ProbeResult, ProbeTarget
from monitor.engine.exporter import Part, SelfMetrics


class FakeClock:
    """A monotonic clock that only moves when the test says so."""

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self.t = start
        self.wall_offset = wall_offset
        self._sleepers: list[tuple[float, int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.t + self.wall_offset

    async def sleep_until(
        self, when: float, waiter: asyncio.Future[None] | None = None, priority: int = 0
    ) -> None:
        if when <= self.t:
            await asyncio.sleep(0)
            return
        future = waiter if waiter is not None else asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (when, priority, next(self._seq), future))
        await future

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` when time reaches ``when`` (in order with the sleepers)."""
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: callback())
        if when <= self.t:
            future.set_result(None)
            return
        heapq.heappush(self._sleepers, (when, 0, next(self._seq), future))

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking sleepers in order and letting them run."""
        end = self.t + seconds
        await settle()  # tasks created just before must reach their first sleep
        while self._sleepers and self._sleepers[0][0] <= end:
            when, _, _, future = heapq.heappop(self._sleepers)
            self.t = max(self.t, when)
            if not future.done():
                future.set_result(None)
            await settle()
        self.t = end
        await settle()


async def settle(rounds: int = 30) -> None:
    """Let every ready task run until they all wait again."""
    for _ in range(rounds):
        await asyncio.sleep(0)


def result(
    ok: bool = True,
    started: float = 0.0,
    reason: str | None = None,
    duration: float = 0.01,
    **values: float,
) -> ProbeResult:
    return ProbeResult(
        ok=ok,
        reason=reason or ("ok" if ok else "timeout"),
        message="" if ok else "no reply",
        started=started,
        duration=duration,
        values=values,
    )


@dataclass
class ScriptedProber:
    """Records calls; ``behaviour(call)`` may advance the clock or raise."""

    clock: FakeClock
    behaviour: Callable[[dict[str, Any]], Any] | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def probe(
        self, target: ProbeTarget, settings: CheckSettings, *, deadline: float
    ) -> ProbeResult:
        call = {"target": target.name, "at": self.clock.now(), "deadline": deadline}
        self.calls.append(call)
        if self.behaviour is not None:
            outcome = self.behaviour(call)
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if isinstance(outcome, ProbeResult):
                return outcome
        return result(started=self.clock.wall())


@dataclass
class StartableScriptedProber(ScriptedProber):
    """A :class:`ScriptedProber` the scheduler runs in its tick lane (``start``).

    ``behaviour(call)`` runs inside ``start`` (so a raise is the prober's bug);
    a coroutine it returns is awaited before ``done``. ``decline(name)``
    sends that target's runs through ``probe`` (the task path) instead.
    """

    decline: Callable[[str], bool] | None = None
    started: int = 0
    _waiting: set[asyncio.Task[None]] = field(default_factory=set)

    def start(
        self,
        target: ProbeTarget,
        settings: CheckSettings,
        *,
        deadline: float,
        done: Callable[[ProbeResult], None],
    ) -> bool:
        if self.decline is not None and self.decline(target.name):
            return False
        self.started += 1
        call = {"target": target.name, "at": self.clock.now(), "deadline": deadline}
        self.calls.append(call)
        outcome = self.behaviour(call) if self.behaviour is not None else None
        loop = asyncio.get_running_loop()
        if asyncio.iscoroutine(outcome):
            task = loop.create_task(self._finish(outcome, done))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)
        else:
            loop.call_soon(done, self._result(outcome))
        return True

    async def _finish(self, pending: Any, done: Callable[[ProbeResult], None]) -> None:
        done(self._result(await pending))

    def _result(self, outcome: object) -> ProbeResult:
        return outcome if isinstance(outcome, ProbeResult) else result(started=self.clock.wall())


class MetricsBackend:
    """What the ``/metrics`` handler asks of the daemon, and no more: given parts."""

    def __init__(self, parts: list[Part]) -> None:
        self.parts = parts
        self.self_metrics = SelfMetrics()

    def metrics(self) -> list[Part]:
        return self.parts
