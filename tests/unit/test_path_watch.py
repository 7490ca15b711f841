"""PathWatch with a scripted tracer and a fake clock: who is traced, when, how often, what waits.

The tracer here returns prepared traces (the real one is tested in
network namespaces); the clock is a number the test moves. No sleeps: the
traces are tasks that finish when the test lets the loop run once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.model import Alert
from monitor.alert_flow import AlertFlow
from monitor.contract import ProbeTarget
from monitor.engine.config import Config, ConfigError, load_config
from monitor.engine.paths import Diagnosis
from monitor.engine.policy import Policy
from monitor.engine.state import Event, EventKind, Health, TargetState, Topology, World
from monitor.path_watch import HOLD_REASON, PathMetrics, PathWatch
from probes.trace import Hop, PathTrace, PathTracer

R1, R2, R3, SITE = "10.80.1.2", "10.80.2.2", "10.80.3.2", "10.80.4.2"
ADDRESSES = {R1: ["r1"], R2: ["r2"], R3: ["r3"], SITE: ["site"]}

CONFIG = f"""
[defaults]
checks = ["icmp"]

[path_diagnosis]
max_traces_per_minute = 6
max_hops = 12
page_wait = "3s"
baseline_interval = "10m"

[[targets]]
name = "r2"
address = "{R2}"

[[targets]]
name = "r3"
address = "{R3}"
parents = ["r2"]

[[targets]]
name = "site"
address = "{SITE}"
parents = ["r3"]

[[targets]]
name = "smtp"
address = "10.80.5.2"
checks = ["tcp"]
tcp = {{ port = 25 }}
"""

WHOLE = PathTrace(
    R3,
    (
        Hop(1, R1, "ttl_exceeded", 0.001),
        Hop(2, R2, "ttl_exceeded", 0.002),
        Hop(3, R3, "reply", 0.01),
    ),
    True,
    24,
    0.01,
)
CUT = PathTrace(
    R3,
    (Hop(1, R1, "ttl_exceeded"), Hop(2, R2, "ttl_exceeded"), Hop(3, None, "silent")),
    False,
    24,
    2.0,
)


class ScriptedTracer:
    """Answers each trace with the next prepared one; ``gate`` holds traces until set."""

    def __init__(self, *traces: PathTrace) -> None:
        self.traces = list(traces)
        self.calls: list[tuple[str, int, int]] = []
        self.waits: list[float] = []
        self.gate: asyncio.Event | None = None

    async def trace(
        self,
        target: ProbeTarget,
        settings: Any,
        *,
        max_hops: int,
        probes_per_hop: int,
        deadline: float,
    ) -> PathTrace:
        self.calls.append((target.name, max_hops, probes_per_hop))
        self.waits.append(deadline - asyncio.get_running_loop().time())
        if self.gate is not None:
            await self.gate.wait()
        return self.traces.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return load_config(path)


PARENTS = {"r2": (), "r3": ("r2",), "site": ("r3",), "smtp": ()}


def states(**health: Health) -> dict[str, TargetState]:
    out = {}
    for name in PARENTS:
        h = health.get(name, Health.UP)
        out[name] = TargetState(
            name,
            h,
            own=Health.DOWN if h is not Health.UP else Health.UP,
            failing=h is not Health.UP,
        )
    return out


def policy(live: dict[str, TargetState]) -> Policy:
    return Policy(live, Topology.build(PARENTS), World())


def down(name: str, at: float) -> Event:
    return Event(EventKind.TARGET_DOWN, name, at)


class Watch:
    def __init__(self, config: Config, tracer: ScriptedTracer) -> None:
        self.clock = Clock()
        self.states = states()
        self.diagnosed: list[tuple[str, Diagnosis]] = []
        self.paths = PathWatch(
            wall=self.clock,
            names=lambda address: ADDRESSES.get(address, []),
            states=self.states,
            on_diagnosis=lambda name, d: self.diagnosed.append((name, d)),
        )
        self.paths.configure(config, {"icmp": tracer})

    def set(self, **health: Health) -> Policy:
        self.states.clear()
        self.states.update(states(**health))
        return policy(self.states)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_scripted_tracer_is_a_path_tracer() -> None:
    assert isinstance(ScriptedTracer(), PathTracer)


async def test_a_root_cause_going_down_is_traced_and_diagnosed(config: Config) -> None:
    tracer = ScriptedTracer(WHOLE, WHOLE, WHOLE)
    watch = Watch(config, tracer)
    assert watch.paths.refresh_baselines() == 3  # r2, r3, site: smtp has no tracer
    await settle()
    assert set(watch.paths.baselines) == {"r2", "r3", "site"}
    tracer.traces = [CUT]
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    await settle()
    ((name, diagnosis),) = watch.diagnosed
    assert name == "r3"
    assert diagnosis.text == (
        "path breaks after hop 2 (10.80.2.2, r2); the baseline path reached the target at hop 3"
    )
    assert (diagnosis.last_hop, diagnosis.last_name) == (2, "r2")
    view = watch.paths.view("r3")
    assert view is not None and view["diagnosis"]["last_address"] == R2
    assert [h["name"] for h in view["baseline"]["hops"]] == ["r1", "r2", "r3"]
    # Traced to two hops past where the baseline met the target, and waiting for
    # answers 0.5 s (the baseline's hops answered within 10 ms), not the 2 s timeout.
    assert tracer.calls[-1] == ("r3", 5, 2)
    assert tracer.waits[0] == pytest.approx(2.0, abs=0.05)
    assert tracer.waits[-1] == pytest.approx(0.5, abs=0.05)


async def test_a_consequence_and_a_target_without_tracer_are_not_traced(config: Config) -> None:
    tracer = ScriptedTracer()
    watch = Watch(config, tracer)
    # The site is DOWN too, but behind r3: a consequence.
    watch.paths.state_event(
        down("site", watch.clock.now), policy(states(r3=Health.DOWN, site=Health.DOWN))
    )
    watch.paths.state_event(down("smtp", watch.clock.now), watch.set(smtp=Health.DOWN))
    await settle()
    assert tracer.calls == [] and watch.diagnosed == []
    assert watch.paths.view("smtp") is None


async def test_the_page_waits_for_the_trace_at_most_page_wait(config: Config) -> None:
    tracer = ScriptedTracer(WHOLE, WHOLE, WHOLE, CUT)
    watch = Watch(config, tracer)
    watch.paths.refresh_baselines()
    await settle()
    tracer.gate = asyncio.Event()
    page = Alert({"alertname": "TargetDown", "target": "r3"}, watch.clock.now)
    other = Alert({"alertname": "HighLoss", "target": "r3"}, watch.clock.now)
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    await settle()
    assert watch.paths.holding(page) == HOLD_REASON
    assert watch.paths.holding(other) is None
    watch.clock.now += 2.9
    assert watch.paths.holding(page) == HOLD_REASON
    watch.clock.now += 0.1
    assert watch.paths.holding(page) is None  # page_wait is over: the page goes without it
    tracer.gate.set()
    await settle()
    assert [name for name, _ in watch.diagnosed] == ["r3"]  # still for the outage row and API


@pytest.mark.parametrize(
    ("text", "seconds", "held"),
    [('"0s"', 0.0, False), ('"0ms"', 0.0, False), ('"250ms"', 0.25, True), ('"30s"', 30.0, True)],
)
async def test_page_wait_zero_pages_at_once(
    tmp_path: Path, text: str, seconds: float, held: bool
) -> None:
    """``page_wait = "0s"``: the page goes at once, the diagnosis still follows."""
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace('page_wait = "3s"', f"page_wait = {text}"))
    config = load_config(path)
    assert config.path_diagnosis.page_wait == seconds
    tracer = ScriptedTracer(WHOLE, WHOLE, WHOLE, CUT)
    watch = Watch(config, tracer)
    watch.paths.refresh_baselines()
    await settle()
    page = Alert({"alertname": "TargetDown", "target": "r3"}, watch.clock.now)
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    assert (watch.paths.holding(page) == HOLD_REASON) is held
    await settle()
    assert [name for name, _ in watch.diagnosed] == ["r3"]


def test_page_wait_refuses_a_negative_duration(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace('page_wait = "3s"', 'page_wait = "-1s"'))
    with pytest.raises(ConfigError, match=r"path_diagnosis\.page_wait"):
        load_config(path)


async def test_without_a_baseline_the_page_does_not_wait(config: Config) -> None:
    tracer = ScriptedTracer(CUT)
    watch = Watch(config, tracer)
    page = Alert({"alertname": "TargetDown", "target": "r3"}, watch.clock.now)
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    assert watch.paths.holding(page) is None
    await settle()
    ((_, diagnosis),) = watch.diagnosed  # still diagnosed, for the outage row and the API
    assert diagnosis.text.endswith("no baseline path recorded yet")


async def test_outage_traces_stop_at_the_rate_bound(config: Config) -> None:
    tracer = ScriptedTracer(*[CUT] * 10)
    watch = Watch(config, tracer)
    for _ in range(8):
        watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
        watch.clock.now += 1
    await settle()
    assert len(tracer.calls) == 6 and watch.paths.refused == 2
    watch.clock.now += 60
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    await settle()
    assert len(tracer.calls) == 7


async def test_baselines_only_while_up(config: Config) -> None:
    tracer = ScriptedTracer(*[WHOLE] * 10)
    watch = Watch(config, tracer)
    watch.set(r2=Health.DOWN)
    assert watch.paths.refresh_baselines() == 2  # r3 and site; r2 is not up
    await settle()
    watch.set()
    watch.clock.now += 9
    assert watch.paths.refresh_baselines() == 0  # r2 is looked at again 10 s later
    watch.clock.now += 1
    assert watch.paths.refresh_baselines() == 1
    await settle()
    assert set(watch.paths.baselines) == {"r2", "r3", "site"}
    watch.clock.now += 600  # baseline_interval: all three again
    assert watch.paths.refresh_baselines() == 3


async def test_baselines_leave_the_rest_of_the_budget_to_outages(config: Config) -> None:
    tracer = ScriptedTracer(*[CUT] * 4, *[WHOLE] * 3)
    watch = Watch(config, tracer)
    for _ in range(4):
        watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    await settle()
    watch.set()
    assert watch.paths.refresh_baselines() == 0  # baselines may use 3 of 6: 4 are used
    watch.clock.now += 60
    assert watch.paths.refresh_baselines() == 3


async def test_a_baseline_that_does_not_reach_its_target_is_not_kept(config: Config) -> None:
    tracer = ScriptedTracer(CUT, CUT, CUT)
    watch = Watch(config, tracer)
    watch.paths.refresh_baselines()
    await settle()
    assert watch.paths.baselines == {}


async def test_disabled_traces_nothing(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "off.toml"
    path.write_text(CONFIG.replace("[path_diagnosis]", "[path_diagnosis]\nenabled = false"))
    tracer = ScriptedTracer(CUT)
    watch = Watch(load_config(path), tracer)
    assert watch.paths.refresh_baselines() == 0
    watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
    await settle()
    assert tracer.calls == []


def test_a_held_page_gets_the_path_annotation_before_it_goes(config: Config) -> None:
    """AlertFlow.annotate: the held TargetDown takes the diagnosis and is released."""
    clock = Clock()
    holding = {"on": True}
    flow = AlertFlow(wall=clock, mute=lambda a: HOLD_REASON if holding["on"] else None)
    flow.configure(config)
    live = states(r3=Health.DOWN)
    assert flow.state_event(down("r3", clock.now), policy(live)) == []  # held
    holding["on"] = False
    (sent,) = flow.annotate("r3", "TargetDown", {"path": "path breaks after hop 2 (10.80.2.2, r2)"})
    assert sent.annotations["path"] == "path breaks after hop 2 (10.80.2.2, r2)"
    assert sent.name == "TargetDown" and sent.target == "r3"
    # Once passed on, what it said stays (the outbox has it).
    assert flow.annotate("r3", "TargetDown", {"path": "later"}) == []
    (active,) = [a for a in flow.rules.active.values() if a.name == "TargetDown"]
    assert active.annotations["path"].startswith("path breaks after hop 2")


def test_path_diagnosis_settings_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        "[path_diagnosis]\n"
        'baseline_interval = "10s"\n'
        "max_hops = 0\n"
        'page_wait = "1m"\n'
        'tiemout = "1s"\n'
        '\n[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    for expected in (
        f"{path}:3: path_diagnosis.max_hops: must be at least 1, got 0",
        f"{path}:2: path_diagnosis.baseline_interval: must be at least 1m "
        "(a baseline path changes rarely)",
        f"{path}:4: path_diagnosis.page_wait: must be at most 30s, got 1m "
        "(a page must not wait long for its diagnosis)",
        f"{path}:5: path_diagnosis.tiemout: unknown key; did you mean timeout?",
    ):
        assert expected in text, text


def test_path_diagnosis_defaults(config: Config, tmp_path: Path) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('[[targets]]\nname = "a"\naddress = "127.0.0.1"\nchecks = ["icmp"]\n')
    settings = load_config(path).path_diagnosis
    assert (settings.enabled, settings.max_hops, settings.probes_per_hop) == (True, 16, 2)
    assert (settings.timeout, settings.baseline_interval, settings.page_wait) == (2.0, 3600.0, 3.0)
    assert (settings.max_traces_per_minute, settings.max_concurrent) == (60, 8)


async def test_traces_are_counted_for_prometheus(config: Config) -> None:
    tracer = ScriptedTracer(WHOLE, WHOLE, WHOLE, *[CUT] * 8)
    watch = Watch(config, tracer)
    registry = CollectorRegistry()
    registry.register(PathMetrics(watch.paths))
    watch.paths.refresh_baselines()
    await settle()
    for _ in range(7):  # six a minute: the seventh is refused
        watch.paths.state_event(down("r3", watch.clock.now), watch.set(r3=Health.DOWN))
        await settle()
    text = generate_latest(registry).decode()
    assert 'continuity_path_traces_total{purpose="baseline"} 3.0' in text
    assert 'continuity_path_traces_total{purpose="outage"} 3.0' in text
    assert "continuity_path_traces_refused_total 4.0" in text
    assert "continuity_path_baselines 3.0" in text
