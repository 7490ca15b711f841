"""Probe kinds. Adding a kind is one module, one test module and one line below.

Imports: the base modules of ``monitor`` (``monitor.contract``,
``monitor.config_types``, ...) and ``probes`` itself; never the daemon,
``alerts`` or ``prometheus_client`` (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.contract import ListenerKind, ProbeKind
from probes import dns, http, icmp, snmp, tcp, traps

KINDS: Mapping[str, ProbeKind[Any]] = {
    kind.name: kind
    for kind in (
        icmp.KIND,
        snmp.KIND,
        http.KIND,
        tcp.KIND,
        dns.KIND,
    )
}

# Things that receive rather than poll (SNMP traps): one line each.
_LISTENERS: tuple[ListenerKind, ...] = (traps.LISTENER,)
LISTENERS: Mapping[str, ListenerKind] = {listener.name: listener for listener in _LISTENERS}
