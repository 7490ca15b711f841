"""A past for the uptime bars: a history database written by the real store, clock set back.

``seed(path, names, first, outages, until)`` opens :class:`monitor.history.store.Store`
on ``path`` with a clock that starts at ``first`` (the monitor's observation
period and every target's first observation begin then), replays
``outages`` (target, start, end) at their times and closes the store at
``until``, so the period ends there. A daemon started on the same state
directory afterwards sees days of history, gaps and outages it never ran
through. Used by the bars' end-to-end tests and ``bench.bars_page``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Sequence
from pathlib import Path

from monitor.history.store import Store

Planned = tuple[str, float, float]
"""An outage: target, start, end."""


def seed(
    path: Path, names: Iterable[str], first: float, outages: Sequence[Planned], until: float
) -> None:
    """Write the history (in a thread of its own: Playwright's sync API holds a loop here)."""
    work = _seed(path, list(names), first, sorted(outages, key=lambda o: o[1]), until)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


async def _seed(
    path: Path, names: list[str], first: float, outages: Sequence[Planned], until: float
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    clock = [first]
    async with Store(path, clock=lambda: clock[0], heartbeat=3600.0) as store:
        for name in names:
            store.first_observed(name, first)
        for name, start, end in outages:
            clock[0] = max(clock[0], start)
            store.outage_started(
                name, "icmp", start, cause="check:icmp", reason="timeout", message="no reply"
            )
            clock[0] = max(clock[0], end)
            store.outage_ended(name, end)
        clock[0] = until
        await store.flush()


# -- an inventory of any size with a past, for the screenshots and the page bench ------

SCALE_CONFIG = """
include = ["inventory.csv"]

[monitor]
instance = "bars-{count}"
timezone = "Asia/Ho_Chi_Minh"
max_concurrency = 20000

[defaults]
checks = ["icmp"]
interval = "60s"
timeout = "2s"

[defaults.icmp]
count = 1
"""

SITE_SIZE = 10  # targets per site
SITES_PER_PROVINCE = 20
OUTAGE_EVERY = 50  # one target in this many had outages in the past


def loopback(i: int) -> str:
    """127.1.0.1 and on (each address distinct, no .0 or .255)."""
    return f"127.{1 + i // 64516}.{(i // 254) % 254 + 1}.{i % 254 + 1}"


def write_inventory(path: Path, count: int) -> list[str]:
    """``count`` loopback ICMP targets, ten to a site and twenty sites to a province."""
    names = [f"bts-{i:05d}" for i in range(count)]
    rows = [
        f"{name},{loopback(i)},P{i // (SITE_SIZE * SITES_PER_PROVINCE):02d},S{i // SITE_SIZE:04d}"
        for i, name in enumerate(names)
    ]
    path.write_text("name,address,label.province,label.site\n" + "\n".join(rows) + "\n")
    return names


def past_outages(names: Sequence[str], now: float) -> list[Planned]:
    """Every :data:`OUTAGE_EVERY`-th target: 20 min down 3 days ago, and 5 min 30 days ago.

    With the monitor observing from 10 days ago (as the screenshots and the bench seed
    it), the older one lies before that: its day is drawn *not observed*, the outage
    named in its title (an outage row the monitor did not see counts no downtime).
    """
    day = 86400.0
    out: list[Planned] = []
    for i, name in enumerate(names):
        if i % OUTAGE_EVERY == 0:
            out.append((name, now - 3 * day, now - 3 * day + 1200))
            out.append((name, now - 30 * day, now - 30 * day + 300))
    return out
