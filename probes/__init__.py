"""Probe kinds. Adding a kind is one module, one test module and one line below."""

from __future__ import annotations

from collections.abc import Mapping

from probes import icmp
from probes.base import ProbeKind

KINDS: Mapping[str, ProbeKind] = {
    kind.name: kind
    for kind in (
        icmp.KIND,
    )
}
