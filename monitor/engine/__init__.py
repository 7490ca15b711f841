"""The engine: config loading, scheduling, one result's way (pipeline), the
pure state step and policy, figures over windows and the exporter.

Imports: the base modules of ``monitor``, ``probes``, ``alerts`` and the
engine itself; never ``monitor.history``, ``monitor.web.server`` or the process
modules (one exception: ``config`` validates ``[web]`` with
``monitor.web.security.WebSection``). ``state`` and ``policy`` import only
the base and each other (ARCHITECTURE.md).
"""
