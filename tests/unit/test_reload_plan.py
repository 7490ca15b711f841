"""A reload's plan (``monitor.daemon.plan_config``) works only on what changed and
says the same as a comparison of every job.

The configs are loaded with a memo as the daemon loads them, so unchanged
targets are the same objects; the plan must keep their jobs (the same
objects) and must still notice a job whose target did not change but whose
depth did (a parent of its parent changed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.daemon import jobs_for, plan_config
from monitor.engine.config import Config, ConfigSchema, Target, load_config
from monitor.engine.config_memo import TargetMemo
from monitor.engine.scheduler import plan_jobs
from tests.helpers import write_config

MAIN = """
include = ["inventory.csv"]

[defaults]
checks = ["icmp"]
interval = "30s"

[defaults.tcp]
port = 22
"""

INVENTORY = """\
name,address,checks,parents
up,127.0.0.1,icmp,
core,127.0.0.2,icmp,
a,127.0.0.3,icmp tcp,core
b,127.0.0.4,icmp,a
c,127.0.0.5,icmp,
"""

CASES = [
    # (id, file, text replaced, replacement, jobs started, jobs stopped)
    ("nothing", "config.toml", "", "", set(), set()),
    ("a row added", "inventory.csv", "c,", "d,127.0.0.6,icmp,\nc,", {"d/icmp"}, set()),
    ("a row removed", "inventory.csv", "c,127.0.0.5,icmp,\n", "", set(), {"c/icmp"}),
    (
        "a check dropped",
        "inventory.csv",
        "a,127.0.0.3,icmp tcp,",
        "a,127.0.0.3,icmp,",
        set(),
        {"a/tcp"},
    ),
    (
        "an address moved",
        "inventory.csv",
        "a,127.0.0.3,",
        "a,127.0.0.13,",
        {"a/icmp", "a/tcp"},
        {"a/icmp", "a/tcp"},
    ),
    (
        # core gets a parent: core, a and b sit one deeper; a and b did not change
        "depths below a new parent",
        "inventory.csv",
        "core,127.0.0.2,icmp,",
        "core,127.0.0.2,icmp,up",
        {"core/icmp", "a/icmp", "a/tcp", "b/icmp"},
        {"core/icmp", "a/icmp", "a/tcp", "b/icmp"},
    ),
    (
        "[defaults.tcp]: only a's tcp job",
        "config.toml",
        "port = 22",
        "port = 23",
        {"a/tcp"},
        {"a/tcp"},
    ),
]


def keys(jobs: object) -> set[str]:
    return {f"{name}/{kind}" for name, kind in jobs}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("file", "old", "new", "started", "stopped"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_plan_touches_only_what_changed_and_agrees_with_comparing_every_job(
    tmp_path: Path, file: str, old: str, new: str, started: set[str], stopped: set[str]
) -> None:
    path = write_config(tmp_path, MAIN, files={"inventory.csv": INVENTORY})
    schema, memo = ConfigSchema(), TargetMemo[Target]()
    running: Config = load_config(path, schema=schema, memo=memo)
    first = plan_config(None, running)
    side = tmp_path / file
    side.write_text(side.read_text().replace(old, new, 1))
    config = load_config(path, schema=schema, memo=memo)
    plan = plan_config(running, config, first.wanted)
    assert keys(plan.jobs.stop) == stopped
    assert keys((j.target.name, j.kind) for j in plan.jobs.start) == started
    everything = plan_jobs(jobs_for(running), jobs_for(config))  # the plan of old
    assert set(plan.jobs.stop) == set(everything.stop)
    assert set(plan.jobs.start) == set(everything.start)
    assert plan.jobs.kept == everything.kept
    for name, jobs in plan.wanted.items():
        untouched = not any(key.startswith(f"{name}/") for key in started | stopped)
        assert (jobs is first.wanted.get(name)) is untouched, name
