"""Alerting: rules, muting, routing, the durable outbox and channels (see DESIGN.md)."""
