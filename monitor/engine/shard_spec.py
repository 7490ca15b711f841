"""A shard of the targets, ``i/n``, as written in ``--shard`` and ``[monitor] shard``.

Below both :mod:`monitor.engine.config` (which validates the key) and
:mod:`monitor.engine.shard` (which splits a loaded config), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHARDS = 1024


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based: ``0/3``, ``1/3``, ``2/3``)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"i/n"`` with ``0 <= i < n``; a :class:`ValueError` says what is wrong."""
    index_text, sep, count_text = text.strip().partition("/")
    if not sep or not index_text.isdigit() or not count_text.isdigit():
        raise ValueError(f"expected 'i/n' such as '0/3' (shard i of n, from 0), got {text!r}")
    index, count = int(index_text), int(count_text)
    if not 1 <= count <= MAX_SHARDS:
        raise ValueError(f"the shard count must be between 1 and {MAX_SHARDS}, got {count}")
    if index >= count:
        raise ValueError(f"the shard index must be between 0 and {count - 1}, got {index}")
    return Shard(index, count)
