"""The daemon's result path in process: real pipeline, policy and alert flow; fake time.

A :class:`Harness` loads a real config (from TOML text), builds the same
:class:`~monitor.engine.pipeline.Pipeline` and :class:`~monitor.alert_flow.AlertFlow`
the daemon builds, and replaces only what is outside them: the clock, the
scheduler (a small event-driven one that honours ``interval``,
``down_interval``, fast polling and re-check triggers exactly as
:class:`monitor.engine.scheduler.Scheduler` does), and the probes (a target answers
unless its own link or an ancestor's is cut). What reaches delivery is
collected with the time it was sent, so lifecycle scenarios run as fast,
deterministic tables.
"""

from __future__ import annotations

import heapq
import itertools
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from alerts.model import Alert
from monitor.alert_flow import AlertFlow
from monitor.contract import ProbeEvent, ProbeResult
from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import Pipeline
from monitor.engine.policy import Policy, subtree_owners
from monitor.engine.state import Event, TargetState


@dataclass(frozen=True)
class Sent:
    """One alert handed to delivery, and when."""

    at: float
    alert: Alert

    @property
    def what(self) -> tuple[str, str, str]:
        return (self.alert.name, self.alert.target, self.alert.status)


class _Sink:
    """The pipeline's alert sink: the real flow, its output collected."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness

    def state_event(self, event: Event, policy: Policy) -> None:
        self.harness.collect(self.harness.flow.state_event(event, policy))

    def device_event(self, target: str, event: ProbeEvent) -> None:
        self.harness.collect(self.harness.flow.device_event(target, event))

    def check_result(self, target: str, kind: str, result: ProbeResult) -> None:
        self.harness.collect(self.harness.flow.check_result(target, kind, result))

    def state_changed(self, state: TargetState, policy: Policy) -> None:
        return None


@dataclass
class _Scheduler:
    """Due times per (target, check); fast polling and triggers as the real scheduler."""

    harness: Harness
    fast: set[tuple[str, str]] = field(default_factory=set)

    def trigger(self, target: str) -> int:
        count = 0
        for key in self.harness.jobs:
            if key[0] == target:
                previous = self.harness.last_run.get(key)
                soonest = self.harness.now
                if previous is not None:
                    soonest = max(soonest, previous + self.harness.fast_interval(key))
                self.harness.due(key, soonest)
                count += 1
        return count

    def set_fast(self, key: tuple[str, str], fast: bool) -> None:
        if fast:
            self.fast.add(key)
        else:
            self.fast.discard(key)


class Harness:
    """Run a config's targets against a scripted network on a fake clock."""

    def __init__(self, config_text: str, *, start: float = 1_700_000_000.0) -> None:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "config.toml"
            path.write_text(config_text)
            self.config: Config = load_config(path)
        self.now = start
        self.cut: set[str] = set()  # targets whose own link is cut
        self.loss: dict[str, float] = {}  # targets whose runs fail at random, with this chance
        self.starved: set[str] = set()  # targets whose runs find this host out of sockets
        self.random = random.Random(7)
        self.sent: list[Sent] = []
        self.results: list[tuple[float, str, bool]] = []
        self.maintenance_owners: list[str] = []
        self.scheduler = _Scheduler(self)
        self.pipeline = Pipeline(wall=lambda: self.now, scheduler=self.scheduler)
        self.flow = AlertFlow(wall=lambda: self.now, mute=self._mute)
        self.pipeline.alerts = _Sink(self)
        self.pipeline.configure(self.config, TargetState)
        self.collect(self.flow.configure(self.config))
        self.jobs = {(t.name, c.kind): c.settings for t in self.config.targets for c in t.checks}
        self._queue: list[tuple[float, int, tuple[str, str]]] = []
        self._seq = itertools.count()
        self._next: dict[tuple[str, str], float] = {}
        self.last_run: dict[tuple[str, str], float] = {}
        for i, key in enumerate(sorted(self.jobs)):  # spread like the scheduler's hash spread
            self.due(key, start + (i % 10) * self.jobs[key].interval / 10)
        self._next_tick = start + 1.0

    # -- the network -------------------------------------------------------------

    def reachable(self, name: str) -> bool:
        """Own link up and (no parents, or any parent reachable)."""
        if name in self.cut:
            return False
        parents = self.pipeline.topology.parents.get(name, ())
        return not parents or any(self.reachable(p) for p in parents)

    # -- driving -------------------------------------------------------------------

    def due(self, key: tuple[str, str], when: float) -> None:
        if self._next.get(key, float("inf")) <= when:
            return  # already due sooner
        self._next[key] = when
        heapq.heappush(self._queue, (when, next(self._seq), key))

    def run_until(self, until: float) -> None:
        """Process every run and alert tick due up to ``until`` (absolute time)."""
        while True:
            run_at = self._queue[0][0] if self._queue else float("inf")
            if min(run_at, self._next_tick) > until:
                break
            if self._next_tick <= run_at:
                self.now = self._next_tick
                self._next_tick += 1.0
                self.pipeline.tick()
                self.collect(self.flow.tick())
                continue
            when, _, key = heapq.heappop(self._queue)
            if self._next.get(key) != when:
                continue  # superseded by an earlier trigger
            del self._next[key]
            self.now = when
            self._run(key)
        self.now = until

    def advance(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def _run(self, key: tuple[str, str]) -> None:
        name, kind = key
        ok = self.reachable(name) and self.random.random() >= self.loss.get(name, 0.0)
        reason = "ok" if ok else "timeout"
        if name in self.starved:
            ok, reason = False, "local_resources"
        result = ProbeResult(
            ok,
            reason,
            "1/1 replies" if ok else f"0/1 replies from {name}",
            self.now,
            0.01,
            values={"packet_loss_ratio": 0.0 if ok else 1.0},
        )
        self.results.append((self.now, name, ok))
        self.last_run[key] = self.now
        self.pipeline.on_result(name, kind, result)
        fast = key in self.scheduler.fast
        interval = self.fast_interval(key) if fast else self.jobs[key].interval
        self.due(key, self.now + interval)

    def fast_interval(self, key: tuple[str, str]) -> float:
        settings = self.jobs[key]
        return settings.down_interval or max(settings.interval / 3, settings.timeout)

    def set_maintenance(self, owners: list[str]) -> None:
        """Windows open on exactly ``owners`` now (each covering its subtree)."""
        self.maintenance_owners = owners
        covering = subtree_owners(owners, self.pipeline.topology.children)
        current = self.pipeline.maintenance
        flips = [(n, True, o) for n, o in covering.items() if current.get(n) != o]
        flips += [(n, False, n) for n in list(current) if n not in covering]
        self.pipeline.set_maintenance(flips)
        self.collect(self.flow.tick())

    # -- what came out ---------------------------------------------------------------

    def _mute(self, alert: Alert) -> str | None:
        return self.pipeline.policy().alert_mute(alert.name, alert.target)

    def collect(self, alerts: list[Alert]) -> None:
        self.sent.extend(Sent(self.now, a) for a in alerts)

    def pages(self, name: str = "TargetDown") -> list[Sent]:
        return [s for s in self.sent if s.alert.name == name and s.alert.status == "firing"]

    def whats(self) -> list[tuple[str, str, str]]:
        return [s.what for s in self.sent]
