"""The built-in SNMP modules, one file each; adding one is a file and a line below.

Each file exports ``MODULE``, a :class:`probes.snmp_modules.SnmpModule`
(plan, parse, families). ``[snmp_modules.NAME]`` tables become the same
object at config load (:func:`probes.snmp_modules.user_module`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from probes.snmp_mibs import entity_sensor, host, if_mib, system, ups
from probes.snmp_modules import SnmpModule

BUILTIN: Final[Mapping[str, SnmpModule]] = {
    module.name: module
    for module in (
        system.MODULE,
        if_mib.MODULE,
        ups.MODULE,
        host.MODULE,
        entity_sensor.MODULE,
    )
}
