"""History: the SQLite store (outages, state changes, events, silences),
maintenance windows at run time, and the availability report.

Imports: the base modules of ``monitor``, ``alerts``, ``monitor.engine``,
``monitor.web.server`` (JSON views and request parsing) and itself; never the
process modules (ARCHITECTURE.md).
"""
