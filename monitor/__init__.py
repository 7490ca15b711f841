"""continuity-monitor: the daemon (config, scheduler, state, exporter, history, web, CLI).

Imports (ARCHITECTURE.md, enforced by tests/unit/test_import_rules.py): the
base modules here (``contract``, ``config_types``, ``config_errors``,
``regex``, ``redact``, ``clock``, ``dbfile``, ``i18n``) import only each
other and may be imported by every package; ``state`` and ``policy`` are pure
and import only the base and each other; the rest of the daemon may import
``probes`` and ``alerts``, which never import it back.
"""
