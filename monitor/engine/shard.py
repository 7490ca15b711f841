"""Splitting the targets between instances: ``--shard i/n`` (rendezvous hashing).

Each target has a *shard key*; shard ``i`` of ``n`` monitors the targets
whose key scores highest for ``i`` among ``0 .. n-1`` (highest random weight,
or rendezvous, hashing). So ``n`` instances on one config cover every target
exactly once without talking to each other, and going from ``n`` to ``n+1``
instances moves only the targets the new shard wins, about ``1/(n+1)`` of
them; the others stay where their history is.

The score is blake2b of the key and the shard number: stable across
processes, machines and Python versions (never :func:`hash`, which is salted
per process).

Parents and their children share a shard so that dependency suppression
(UNREACHABLE instead of DOWN behind a failed parent) keeps working: a target's
effective key is its ``shard_key`` label when it has one; otherwise the
effective key of its first parent, recursively; otherwise its own name. A
whole tree without ``shard_key`` labels therefore follows its root, and an
operator can pin groups together (or apart) with the label.

Two exceptions, both visible in :class:`Selection`:

* A link to a parent that lives on another shard (a second parent, or a
  ``shard_key`` that differs from the parent's) is dropped from this shard's
  config: that child is judged on its own checks and goes DOWN, not
  UNREACHABLE, when the remote parent fails.
* Canaries (``monitor.canaries``) are the instance's own uplink checks, so
  every shard monitors all of them: each instance must notice its own
  isolation. They are the only targets that appear in more than one shard.

Everything here is pure: config in, config out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from monitor.engine.config import Config, Target
from monitor.engine.shard_spec import Shard

SHARD_KEY_LABEL = "shard_key"


def score(key: str, index: int) -> int:
    """The weight of shard ``index`` for ``key``: 64 bits of blake2b(key, index)."""
    # The separator keeps ("a1", 0) and ("a", 10) apart.
    digest = hashlib.blake2b(f"{key}\x00{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def shard_of(key: str, count: int) -> int:
    """The shard (0 .. count-1) that ``key`` belongs to: the one scoring highest."""
    return max(range(count), key=lambda index: score(key, index))


def effective_keys(
    labels: Mapping[str, Mapping[str, str]], parents: Mapping[str, Iterable[str]]
) -> dict[str, str]:
    """Each target's effective shard key (see the module docstring).

    ``labels`` and ``parents`` are keyed by target name. Iterative with a
    memo, since inventories have deep chains; a cycle (which the config
    refuses anyway) ends at the target where it closes.
    """
    keys: dict[str, str] = {}
    for name in labels:
        chain: list[str] = []
        current: str | None = name
        while current is not None and current not in keys:
            own = labels.get(current, {}).get(SHARD_KEY_LABEL)
            if own is not None or current in chain:
                keys[current] = own if own is not None else current
                break
            chain.append(current)
            first = next(iter(parents.get(current, ())), None)
            current = first if first in labels else None
        # Unwind: every target on the chain takes the key where the chain ended.
        end = keys[current] if current is not None else chain[-1]
        for member in chain:
            keys.setdefault(member, end)
    return keys


def assign(
    labels: Mapping[str, Mapping[str, str]], parents: Mapping[str, Iterable[str]], count: int
) -> dict[str, int]:
    """The shard of every target (by name)."""
    return {name: shard_of(key, count) for name, key in effective_keys(labels, parents).items()}


@dataclass(frozen=True)
class Selection:
    """One shard's part of a config, and what the split cut."""

    config: Config
    shard: Shard
    total: int
    """Targets in the whole config."""
    cut_links: tuple[tuple[str, str], ...]
    """(child, parent) links dropped because the parent is on another shard."""


def select(config: Config, shard: Shard) -> Selection:
    """The config that shard ``shard`` runs: its targets plus every canary."""
    targets = config.targets
    shards = assign(
        {t.name: t.labels for t in targets}, {t.name: t.parents for t in targets}, shard.count
    )
    keep = {name for name, index in shards.items() if index == shard.index}
    keep.update(config.monitor.canaries)
    cut: list[tuple[str, str]] = []
    kept: list[Target] = []
    for target in targets:
        if target.name not in keep:
            continue
        remote = [p for p in target.parents if p not in keep]
        cut.extend((target.name, p) for p in remote)
        local = tuple(p for p in target.parents if p in keep)
        kept.append(replace(target, parents=local) if remote else target)
    monitor = config.monitor.model_copy(update={"shard": str(shard)})
    selected = replace(config, targets=tuple(kept), monitor=monitor)
    return Selection(selected, shard, len(targets), tuple(cut))
