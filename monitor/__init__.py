"""continuity-monitor: the daemon core (config, scheduler, state, exporter, web, CLI)."""
