"""The web: the HTTP server, the API, the status and public pages, request
bodies, access control and the server's own defences.

Imports: the base modules of ``monitor``, ``monitor.engine`` and itself; it
reaches the daemon only through ``backend.Backend``, a protocol; never
``monitor.history`` or the process modules (ARCHITECTURE.md).
"""
