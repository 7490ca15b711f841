"""A reload tells the path watch only what changed (``PathWatch.configure_steps``).

The outcome must be the one of looking at every target again: a removed
target is forgotten, a moved one loses its baseline and is traced again, a
new traceable one is traced, an unchanged one keeps its baseline. Scripted
tracer and a fake clock, as in ``test_path_watch``; nothing is sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.engine.config import Config, load_config
from monitor.engine.pipeline import diff_config
from monitor.path_watch import CONFIGURE_SLICE, PathWatch
from tests.unit.test_path_watch import (
    ADDRESSES,
    CONFIG,
    R3,
    SITE,
    WHOLE,
    Clock,
    ScriptedTracer,
    states,
)

MOVED = "10.80.4.3"
R3_TABLE = f'[[targets]]\nname = "r3"\naddress = "{R3}"\nparents = ["r2"]\n\n'
assert R3_TABLE in CONFIG
RELOADED = (
    CONFIG.replace(R3_TABLE, "")  # r3 removed
    .replace(f'"{SITE}"\nparents = ["r3"]', f'"{MOVED}"\nparents = ["r2"]')  # site moved
    .replace('checks = ["tcp"]', 'checks = ["icmp", "tcp"]')  # smtp traceable now
)


def load(tmp_path: Path, text: str, name: str) -> Config:
    path = tmp_path / name
    path.write_text(text)
    return load_config(path)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize("incremental", [True, False], ids=["what changed", "every target"])
async def test_a_reload_adopts_only_what_changed_with_the_outcome_of_all(
    tmp_path: Path, incremental: bool
) -> None:
    before = load(tmp_path, CONFIG, "before.toml")
    after = load(tmp_path, RELOADED, "after.toml")
    tracer = ScriptedTracer(*[WHOLE] * 6)
    clock = Clock()
    watch = PathWatch(
        wall=clock,
        names=lambda address: ADDRESSES.get(address, []),
        states=states(),
        on_diagnosis=lambda name, diagnosis: None,
    )
    watch.configure(before, {"icmp": tracer})
    assert watch.refresh_baselines() == 3  # r2, r3, site; smtp has no traceable check
    await settle()
    assert set(watch.baselines) == {"r2", "r3", "site"}
    tracer.calls.clear()
    diff = diff_config(before.targets, after)
    assert {t.name for t in diff.changed} == {"site", "smtp"} and diff.removed == ("r3",)
    if incremental:
        steps = list(watch.configure_steps(after, {"icmp": tracer}, diff.changed, diff.removed))
        assert steps == []  # two targets: one slice
    else:
        watch.configure(after, {"icmp": tracer})
    assert set(watch.baselines) == {"r2"}  # r3 forgotten, site moved: its path is another
    assert watch.view("r3") is None and watch.view("smtp") is not None
    clock.now += 120  # the trace budget refilled; r2's next baseline is 10 minutes on
    assert watch.refresh_baselines() == 2
    await settle()
    assert sorted(name for name, _, _ in tracer.calls) == ["site", "smtp"]
    assert set(watch.baselines) == {"r2", "site", "smtp"}


def test_many_changed_targets_are_adopted_in_slices(tmp_path: Path) -> None:
    rows = "".join(f"t{i},10.80.{i // 250}.{i % 250 + 1}\n" for i in range(CONFIGURE_SLICE * 2 + 1))
    (tmp_path / "inventory.csv").write_text("name,address\n" + rows)
    config = load(tmp_path, 'include = ["inventory.csv"]\n[defaults]\nchecks = ["icmp"]\n', "c")
    watch = PathWatch(
        wall=Clock(), names=lambda address: [], states={}, on_diagnosis=lambda n, d: None
    )
    tracer = ScriptedTracer()
    assert len(list(watch.configure_steps(config, {"icmp": tracer}))) == 2
    assert watch.view(f"t{CONFIGURE_SLICE * 2}") is not None  # adopted to the last
