"""Trap floods survived, and what each kind of datagram costs (``python -m bench.traps_flood``).

Two parts, each run three times and reported as medians:

* **Cost per datagram**, straight through :meth:`TrapListener.handle` with
  budgets out of the way: random junk, a v2c trap, a v3 trap with a bad HMAC
  (a known user and engine ID, the wrong key: what an attacker who sniffed
  the header can send), a good v3 trap. Process CPU time over a few thousand
  calls. The v3 bad-HMAC figure is what :data:`probes.traps.V3_BUDGET` is set
  from.
* **Floods survived**: a real listener with the default budgets in this
  process, a sender process flooding its port from 127.0.1.1 for 3 s while
  net-snmp's ``snmptrap`` sends 50 valid traps from 127.0.0.2 (and 50 v3
  traps from 127.0.0.3 under the bad-HMAC flood). Reported: datagrams/s
  sent, valid traps accepted of 50, the listener's CPU per datagram handled
  (this process's CPU time, which includes starting the 50 snmptrap
  processes, over the datagrams counted), the share of a core, and the
  datagrams the kernel dropped.

Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from probes.traps import TrapListener, TrapsSection
from tests.trap_flood import (
    SECTION,
    V2C,
    V3,
    V3_BAD_HMAC,
    capture,
    flood,
    net_snmp_env,
    valid_traps,
)

UNLIMITED = {
    "max_per_second": 1_000_000,
    "max_per_source_per_second": 1_000_000,
    "max_v3_per_second": 100_000,
    "max_v3_per_source_per_second": 100_000,
}
SECONDS = 3.0
VALID = 50
RUNS = 3


# -- cost per datagram ---------------------------------------------------------


async def cost_per_datagram(env: dict[str, str], calls: int) -> dict[str, list[float]]:
    """Microseconds of CPU per handle() call, by kind, one figure per run."""
    samples = {
        "random junk": [bytes((n * 37 + 11) % 256 for n in range(60))],
        "v2c trap": [await capture(env, V2C)],
        "v3 trap, bad HMAC": [await capture(env, V3_BAD_HMAC)],
        "v3 trap, good": [await capture(env, V3)],
    }
    section = TrapsSection.model_validate({**SECTION, **UNLIMITED})
    costs: dict[str, list[float]] = {kind: [] for kind in samples}
    async with TrapListener(section, lambda a, e: None) as listener:
        for _ in range(RUNS):
            for kind, (data,) in samples.items():
                count = calls if not kind.startswith("v3") else calls // 10
                results: set[str] = set()
                start = time.process_time()
                for n in range(count):
                    results.add(listener.handle(data, (f"127.0.2.{n % 200}", 40000)))
                costs[kind].append((time.process_time() - start) / count * 1e6)
                print(f"  {kind}: {costs[kind][-1]:.1f} us ({', '.join(sorted(results))})")
    return costs


# -- floods survived -------------------------------------------------------------


@dataclass
class FloodRun:
    sent: int
    accepted: dict[str, int]
    cpu_per_datagram_us: float
    core_share: float
    kernel_dropped: int


async def one_flood(
    env: dict[str, str],
    rate: float,
    payloads: list[bytes] | None,
    valid: dict[str, tuple[str, ...]],
) -> FloodRun:
    section = TrapsSection.model_validate(SECTION)
    events: list[str] = []
    async with TrapListener(section, lambda agent, e: events.append(agent)) as listener:
        port = listener.address[1]
        cpu, wall = time.process_time(), time.monotonic()
        senders: list[Awaitable[int]] = [
            flood(port, source="127.0.1.1", rate=rate, seconds=SECONDS, payloads=payloads)
        ]
        for source, credentials in valid.items():
            senders.append(
                valid_traps(
                    port, env, count=VALID, source=source, seconds=SECONDS, credentials=credentials
                )
            )
        sent, *_ = await asyncio.gather(*senders)
        await asyncio.sleep(0.5)  # what is still in the socket's buffer
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        handled = sum(listener.counters.counts.values())
        return FloodRun(
            sent=sent,
            accepted={source: events.count(source) for source in valid},
            cpu_per_datagram_us=cpu / max(1, handled) * 1e6,
            core_share=cpu / wall,
            kernel_dropped=listener.counters.kernel_dropped,
        )


Scenario = tuple[
    str,
    float,
    Callable[[dict[str, str]], Awaitable[list[bytes] | None]],
    dict[str, tuple[str, ...]],
]


async def _junk(env: dict[str, str]) -> list[bytes] | None:
    return None


async def _good_community(env: dict[str, str]) -> list[bytes] | None:
    return [await capture(env, V2C)]


async def _bad_hmac(env: dict[str, str]) -> list[bytes] | None:
    return [await capture(env, V3_BAD_HMAC)]


SCENARIOS: tuple[Scenario, ...] = (
    ("random junk", 3000, _junk, {"127.0.0.2": V2C}),
    ("random junk", 10000, _junk, {"127.0.0.2": V2C}),
    ("random junk", 20000, _junk, {"127.0.0.2": V2C}),
    ("v2c traps, good community, one host", 5000, _good_community, {"127.0.0.2": V2C}),
    ("v3 traps, bad HMAC", 1500, _bad_hmac, {"127.0.0.2": V2C, "127.0.0.3": V3}),
)


async def floods(env: dict[str, str]) -> list[tuple[str, float, list[FloodRun]]]:
    table = []
    for name, rate, payloads_of, valid in SCENARIOS:
        runs = []
        for _ in range(RUNS):
            run = await one_flood(env, rate, await payloads_of(env), valid)
            print(f"  {name} at {rate:g}/s: {run}")
            runs.append(run)
        table.append((name, rate, runs))
    return table


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(costs: dict[str, list[float]], table: list[tuple[str, float, list[FloodRun]]]) -> str:
    lines = [
        "| datagram | CPU per datagram (median of 3) |",
        "| --- | --- |",
        *(f"| {kind} | {_median(v):.1f} µs |" for kind, v in costs.items()),
        "",
        "| flood from one host (3 s) | sent/s | valid accepted | CPU per datagram | "
        "share of a core | kernel drops |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, _rate, runs in table:
        accepted = " + ".join(
            f"{min(r.accepted[s] for r in runs)}-{max(r.accepted[s] for r in runs)} of {VALID}"
            for s in runs[0].accepted
        )
        lines.append(
            f"| {name} | {_median([r.sent / SECONDS for r in runs]):,.0f} | {accepted} | "
            f"{_median([r.cpu_per_datagram_us for r in runs]):.1f} µs | "
            f"{_median([r.core_share for r in runs]):.0%} | "
            f"{_median([float(r.kernel_dropped) for r in runs]):,.0f} |"
        )
    return "\n".join(lines)


async def main(calls: int) -> None:
    logging.getLogger("probes.traps").setLevel(logging.ERROR)  # rejections are the point here
    if shutil.which("snmptrap") is None:
        raise SystemExit("needs net-snmp's snmptrap (tests/setup-system.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        env = net_snmp_env(Path(tmp))
        print("cost per datagram:")
        costs = await cost_per_datagram(env, calls)
        print("floods:")
        table = await floods(env)
    print()
    print(report(costs, table))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="handle() calls per kind and run")
    asyncio.run(main(min(parser.parse_args().calls, 200_000)))
