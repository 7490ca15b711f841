"""Running every check of some targets once, outside the daemon (the ``probe`` command).

Opens only the probers the chosen targets need, runs all their checks
concurrently with each check's own timeout as deadline, and returns the
results in config order. Shares the probe contract with the daemon, so what
the operator sees here is what the daemon would measure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import probes
from monitor.contract import ProbeContext, ProbeKind, Prober, ProbeResult, ProbeTarget
from monitor.engine.config import Config, Target


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    target: str
    kind: str
    result: ProbeResult


async def run_once(
    config: Config, targets: Sequence[Target], kinds: Mapping[str, ProbeKind[Any]] | None = None
) -> list[CheckOutcome]:
    kinds = kinds if kinds is not None else probes.KINDS
    needed = sorted({c.kind for t in targets for c in t.checks})
    async with contextlib.AsyncExitStack() as stack:
        probers: dict[str, Prober[Any]] = {}
        for kind in needed:
            spec = kinds[kind]
            context = ProbeContext(
                sections={name: config.sections.get(name) for name in spec.sections},
                instance=config.monitor.instance,
            )
            probers[kind] = await stack.enter_async_context(spec.open(context))
        loop = asyncio.get_running_loop()
        pairs = [(t, c) for t in targets for c in t.checks]
        results = await asyncio.gather(
            *(
                probers[c.kind].probe(
                    ProbeTarget(t.name, t.address),
                    c.settings,
                    deadline=loop.time() + c.settings.timeout,
                )
                for t, c in pairs
            )
        )
    return [CheckOutcome(t.name, c.kind, r) for (t, c), r in zip(pairs, results, strict=True)]
