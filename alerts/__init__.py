"""Alerting: rules, muting, routing, the durable outbox and channels (see ARCHITECTURE.md).

Delivery (this package apart from ``rules`` and ``mute``):

* :mod:`alerts.model` — ``Alert`` (Alertmanager shape plus the site),
  ``Notification`` (one delivery to one channel, with its dedup key),
  ``TargetStatus`` (for retained state topics).
* :mod:`alerts.config` — ``[channels.NAME]``, ``[alerts]``, ``[[alerts.routes]]``;
  ``validate_alerting`` and ``check_alerts``.
* :mod:`alerts.route` — pure routing: match, group, group_wait, repeat, escalation.
* :mod:`alerts.outbox` — SQLite outbox, one ordered worker per channel.
* :mod:`alerts.delivery` — ``Delivery``: the entry point the rule side calls.
* :mod:`alerts.channels` — the channel kinds and their registry.
* :mod:`alerts.templates`, :mod:`alerts.payload` — texts (en, vi) and JSON documents.
* :mod:`alerts.metrics` — the delivery metrics collector.

Imports: the base modules of ``monitor`` (``monitor.config_types``,
``monitor.clock``, ``monitor.dbfile``, ``monitor.i18n``, ...) and ``alerts``
itself; never the daemon or ``probes`` (ARCHITECTURE.md).
"""
