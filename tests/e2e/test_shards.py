"""Sharding end to end: three daemons with ``--shard i/3`` on one config.

Each exports only its share, together they export every target once (the
canary, on purpose, on all three), trees of parents and children stay on one
shard, and a SIGHUP reload keeps the split for the targets it adds.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from monitor.config import load_config
from monitor.shard import Shard, select
from tests.daemon_process import DaemonProcess

SHARDS = 3
HEAD = """
[monitor]
instance = "shard-e2e"
canaries = ["gw"]

[defaults]
checks = ["icmp"]
interval = "1s"
timeout = "1s"

[defaults.icmp]
count = 1
"""


def target(name: str, address: str, extra: str = "") -> str:
    return f'[[targets]]\nname = "{name}"\naddress = "{address}"\n{extra}'


def config_text(roots: int) -> str:
    """``roots`` trees of a core router and two sites, two pinned targets and a canary."""
    parts = [HEAD, target("gw", "127.0.0.1")]
    for r in range(roots):
        parts.append(target(f"core-{r}", f"127.1.{r}.1"))
        parts += [
            target(f"bts-{r}-{c}", f"127.1.{r}.{c + 2}", f'parents = ["core-{r}"]\n')
            for c in range(2)
        ]
    pinned = 'labels = { shard_key = "pinned" }\n'
    parts += [target("pin-a", "127.2.0.1", pinned), target("pin-b", "127.2.0.2", pinned)]
    return "\n".join(parts)


def up_targets(daemon: DaemonProcess) -> set[str]:
    return {
        labels["target"]
        for labels, value in daemon.metrics().get("continuity_target_up", [])
        if value == 1
    }


def exported_targets(daemon: DaemonProcess) -> set[str]:
    """Every target that has any series on this daemon's /metrics."""
    return {
        labels["target"]
        for samples in daemon.metrics().values()
        for labels, _ in samples
        if "target" in labels
    }


def wait_for_share(daemon: DaemonProcess, expected: set[str], timeout: float = 15) -> set[str]:
    """Poll until the daemon reports exactly ``expected`` UP (bounded); return what it has."""
    end = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < end:
        seen = up_targets(daemon)
        if seen == expected:
            break
        time.sleep(0.2)
    return seen


def expected_shares(path: Path) -> list[set[str]]:
    config = load_config(path)
    return [
        {t.name for t in select(config, Shard(i, SHARDS)).config.targets} for i in range(SHARDS)
    ]


@contextmanager
def three_shards(tmp_path: Path, text: str) -> Iterator[list[DaemonProcess]]:
    with ExitStack() as stack:
        daemons = []
        for i in range(SHARDS):
            directory = tmp_path / f"shard-{i}"
            directory.mkdir()
            daemon = DaemonProcess(text, directory, extra_args=("--shard", f"{i}/{SHARDS}"))
            daemons.append(stack.enter_context(daemon))
        yield daemons


def check_partition(shares: list[set[str]], all_names: set[str]) -> None:
    for i, share in enumerate(shares):
        assert "gw" in share, f"shard {i} lacks the canary"
    rest = [share - {"gw"} for share in shares]
    assert sum(len(r) for r in rest) == len(all_names) - 1, "a target is on two shards"
    assert set().union(*rest) | {"gw"} == all_names
    assert all(rest), "every shard has some targets"


def test_three_shards_export_only_their_share_and_together_everything(tmp_path: Path) -> None:
    roots = 20
    text = config_text(roots)
    with three_shards(tmp_path, text) as daemons:
        expected = expected_shares(daemons[0].config)
        shares = [wait_for_share(d, e) for d, e in zip(daemons, expected, strict=True)]
        assert shares == expected
        all_names = {t.name for t in load_config(daemons[0].config).targets}
        check_partition(shares, all_names)
        for r in range(roots):
            tree = {f"core-{r}", f"bts-{r}-0", f"bts-{r}-1"}
            assert sum(1 for share in shares if tree <= share) == 1, f"tree {r} split"
        assert sum(1 for share in shares if {"pin-a", "pin-b"} <= share) == 1
        for i, daemon in enumerate(daemons):
            assert exported_targets(daemon) == expected[i], "series of another shard's target"
            assert daemon.value("continuity_targets") == len(expected[i])
            assert f"shard {i}/{SHARDS}: {len(expected[i])} of {len(all_names)}" in daemon.log()

        # A reload with more targets: each daemon takes only its part of the new ones.
        grown = config_text(roots + 10)
        for daemon in daemons:
            daemon.config.write_text(daemon.config.read_text().replace(text, grown))
            daemon.signal(signal.SIGHUP)
        expected = expected_shares(daemons[0].config)
        shares = [wait_for_share(d, e) for d, e in zip(daemons, expected, strict=True)]
        assert shares == expected
        check_partition(shares, {t.name for t in load_config(daemons[0].config).targets})
