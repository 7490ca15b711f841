"""The time-to-dark estimator fed by the real SNMP prober polling snmpsim, whose UPS
charge changes between polls (snmpsim's ``numeric`` variation module): a noisy
discharge is found by the trend; a battery charging again (the recording swapped
for one whose charge rises) leaves the device's runtime to decide.

Each poll's time is the result's own start, as in the daemon.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.contract import ProbeTarget
from monitor.engine.power import PowerWatch
from probes.snmp import SnmpProber, SnmpSettings
from tests.snmp_agents import SnmpsimAgent, sort_records

pytestmark = pytest.mark.needs("snmpsim")

DATA = Path(__file__).resolve().parent.parent / "data" / "snmp"
CHARGE_OID = "1.3.6.1.2.1.33.1.2.4.0"
MINUTES_OID = "1.3.6.1.2.1.33.1.2.3.0"
POLLS = 6


def ups_lines(charge: str, minutes: int) -> list[str]:
    lines = (DATA / "ups-on-battery.snmprec").read_text().splitlines()
    lines = [line for line in lines if not line.startswith((f"{CHARGE_OID}|", f"{MINUTES_OID}|"))]
    return sort_records([*lines, f"{CHARGE_OID}|{charge}", f"{MINUTES_OID}|2|{minutes}"])


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SnmpsimAgent]:
    agent = SnmpsimAgent(tmp_path)
    # Falling 2 % a second from 90 %, with up to a point of noise below the line.
    agent.put("ups", ups_lines("2:numeric|initial=90,rate=-2,deviation=1,min=0", 120))
    with agent:
        agent.start("ups")
        yield agent


async def poll_into(
    watch: PowerWatch, port: int, polls: int, durations: list[float] | None = None
) -> list[tuple[float, float]]:
    """``polls`` polls a second apart into ``watch``; (time, charge %) of each.

    ``durations`` collects each poll's duration: the agent computed its value
    somewhere in ``[started, started + duration]``, which on a loaded machine
    moves a point off its line by that much.
    """
    settings = SnmpSettings.model_validate(
        {"community": "ups", "port": port, "modules": ["system", "ups"]}
    )
    seen = []
    async with SnmpProber() as prober:
        for _ in range(polls):
            loop = asyncio.get_running_loop()
            result = await prober.probe(
                ProbeTarget("ups-1", "127.0.0.1"), settings, deadline=loop.time() + 2
            )
            assert result.ok, result.message
            assert watch.observe("ups-1", result.started, result.values)
            seen.append((result.started, result.values["ups_battery_charge_ratio"] * 100))
            if durations is not None:
                durations.append(result.duration)
            await asyncio.sleep(1.0)
    return seen


async def test_a_noisy_discharge_is_found_by_the_trend(sim: SnmpsimAgent) -> None:
    watch = PowerWatch()
    durations: list[float] = []
    seen = await poll_into(watch, sim.port, POLLS, durations)
    charges = [c for _, c in seen]
    assert charges[0] > charges[-1] and len(set(charges)) > 2  # the values did change
    estimate = watch.estimate("ups-1")
    assert estimate is not None
    assert estimate.method == "trend"  # the device's two hours are far later
    # The slope found over six noisy polls is the agent's (2 % a second) within a
    # quarter; the time to dark is that slope carried on from the last poll: noise and
    # whole percents move the last point by two points at most (a second at this
    # slope), and a slow answer (the agent read its clock after the poll's start) by
    # up to the slowest poll's duration. Against the agent's own line the error is
    # the slope's, carried over the forty-odd seconds left: up to a quarter of them.
    assert estimate.rate == pytest.approx(0.02, rel=0.25)
    last_at, last_charge = seen[-1]
    slack = 2.5 + max(durations)
    carried = last_at + last_charge / 100 / estimate.rate
    assert estimate.dark_at == pytest.approx(carried, abs=slack), durations
    left = last_charge / 2
    assert estimate.dark_at == pytest.approx(last_at + left, abs=0.25 * left + slack)
    assert estimate.device_at == pytest.approx(last_at + 7200, abs=1)


async def test_charging_again_leaves_the_device_to_decide(sim: SnmpsimAgent) -> None:
    watch = PowerWatch()
    await poll_into(watch, sim.port, 3)
    falling = watch.estimate("ups-1")
    assert falling is not None and falling.method == "trend"
    # A generator starts: the same UPS, still on battery by its output source, charging.
    sim.stop()
    sim.put("ups", ups_lines("2:numeric|initial=40,rate=3,max=100", 25))
    sim.start("ups")
    seen = await poll_into(watch, sim.port, 3)
    assert seen[-1][1] > seen[0][1]
    estimate = watch.estimate("ups-1")
    assert estimate is not None
    assert estimate.trend_at is None and estimate.method == "device"
    assert estimate.dark_at == pytest.approx(seen[-1][0] + 25 * 60, abs=1)
