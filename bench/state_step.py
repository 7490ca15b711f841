"""What the state step costs for the usual result (the quiet path), in process.

    python -m bench.state_step [--targets 10000] [--rounds 9]

N targets with one ICMP check each, no parents, no canaries (``bench.icmp``'s
inventory as the state step sees it). Three untimed rounds of successes settle
every target UP; each timed round then steps one realistic success per target
(an echo train's seven values, five samples, three RTTs, distinct per target
and round) through :func:`monitor.engine.state.step`, applying the changes as
the pipeline does. The results are made before the round; the thread's CPU
clock times only the steps, with the collector off. Prints µs per step per
round and their median.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from monitor.contract import ProbeResult, Sample
from monitor.engine.state import CheckPolicy, Health, TargetState, Topology, World, step

_POLICIES = {"icmp": CheckPolicy()}


def icmp_result(target: int, round_no: int) -> ProbeResult:
    """A three-reply echo train's result, as ``probes.icmp.summarize`` shapes it."""
    rtts = (4e-05 + target * 1e-09, 4.1e-05 + round_no * 1e-09, 3.9e-05)
    values = {
        "rtt_min_seconds": min(rtts),
        "rtt_avg_seconds": sum(rtts) / 3,
        "rtt_max_seconds": max(rtts),
        "jitter_seconds": 1e-06,
        "loss_ratio": 0.0,
        "replies": 3.0,
        "sent": 3.0,
    }
    samples = tuple(
        Sample("continuity_icmp_rtt_seconds", value, (("stat", key),))
        for key, value in list(values.items())[:5]
    )
    started = 1e9 + round_no * 10
    return ProbeResult(True, "ok", "3/3 replies", started, 0.002, samples, values, (), rtts)


def run(n: int, rounds: int) -> list[float]:
    names = [f"site-{i:05d}" for i in range(n)]
    topo = Topology.build({})
    world = World(total=n)
    states = {name: TargetState(name) for name in names}
    per_round = []
    for round_no in range(3 + rounds):
        results = [icmp_result(i, round_no) for i in range(n)]
        now = 1e9 + round_no * 10
        gc.disable()
        began = time.thread_time()
        for name, result in zip(names, results, strict=True):
            changes = step(
                states, world, topo, name, check="icmp", result=result, now=now, policies=_POLICIES
            )
            states.update(changes.states)
            if changes.world is not None:
                world = changes.world
        spent = time.thread_time() - began
        gc.enable()
        if round_no >= 3:
            per_round.append(spent / n * 1e6)
    assert all(state.health is Health.UP for state in states.values())
    return per_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()
    per_round = run(options.targets, options.rounds)
    rounds = ", ".join(f"{x:.2f}" for x in per_round)
    print(f"µs per quiet step: median {statistics.median(per_round):.2f} (rounds {rounds})")


if __name__ == "__main__":
    main()
