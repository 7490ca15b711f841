"""The daemon's maintenance windows at run time: config windows plus API-made ones.

Owns what changes while the daemon runs (windows made through the API, which
target each window covers, when each target's current window opened) and
writes maintenance periods and API windows to the history. The daemon asks it
which targets enter or leave maintenance now, and applies that to the state
machine itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from monitor.engine.config import Config
from monitor.engine.maintenance import MaintenanceWindow, active, windows_by_target
from monitor.engine.policy import subtree_owners
from monitor.engine.state import Topology
from monitor.history.store import Store
from monitor.web.maintenance_api import parse_window, window_view

log = logging.getLogger(__name__)


class MaintenanceBook:
    """Which targets are in maintenance, from config and API windows."""

    def __init__(self, store: Store, wall: Callable[[], float]) -> None:
        self.store = store
        self.wall = wall
        self.config: Config | None = None
        self._api: dict[str, MaintenanceWindow] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._index: dict[str, tuple[int, ...]] = {}
        self._since: dict[str, float] = {}  # target -> when its current period opened

    async def load(self) -> None:
        """The API-made windows a previous run left in the history."""
        for stored in await self.store.windows():
            try:
                self._api[stored.id] = MaintenanceWindow.model_validate_json(stored.definition)
            except ValueError:
                log.warning("ignoring stored maintenance window %s: no longer valid", stored.id)
                continue
            self._meta[stored.id] = {"created_by": stored.created_by, "created": stored.created}

    def configure(self, config: Config) -> None:
        self.config = config
        self._index = windows_by_target(
            self._windows(), ((t.name, t.labels) for t in config.targets)
        )

    def _windows(self) -> list[MaintenanceWindow]:
        config_windows = list(self.config.maintenance) if self.config else []
        return config_windows + list(self._api.values())

    def covering(self, topology: Topology) -> dict[str, str]:
        """Every target in maintenance now, with the target whose window covers it.

        A window on a target covers its whole dependency subtree for as long as
        it lasts: a site behind a router under planned work is in maintenance
        "via" the router. A target with its own window is its own owner; where
        several windows cover one, its own wins, else the nearest ancestor's.
        """
        if self.config is None:
            return {}
        now, windows, zone = self.wall(), self._windows(), self.config.monitor.timezone
        owners = [
            name
            for name, indexes in self._index.items()
            if any(active(windows[i], now, zone) for i in indexes)
        ]
        return subtree_owners(owners, topology.children)

    def windows_for(self, owners: Iterable[str]) -> list[tuple[str, dict[str, Any]]]:
        """The windows (active or not) naming any of ``owners``, with the owner each names.

        ``owners`` is a target followed by its ancestors (nearest first): every
        window that covers the target, its own and those inherited through the
        dependency tree, each once and with the nearest owner it names.
        """
        if self.config is None:
            return []
        views = self.view()["windows"]  # in the order of _windows(): config, then API
        out: list[tuple[str, dict[str, Any]]] = []
        listed: set[int] = set()
        for owner in owners:
            for index in self._index.get(owner, ()):
                if index not in listed:
                    listed.add(index)
                    out.append((owner, views[index]))
        return out

    def record(self, name: str, on: bool, now: float) -> None:
        """A target entered or left maintenance: a period in the history."""
        if on:
            self._since[name] = now
            self.store.maintenance(name, now, None)
        else:
            self.store.maintenance(name, self._since.pop(name, now), now)

    # -- API -----------------------------------------------------------------

    def view(self) -> dict[str, Any]:
        """``GET /api/v1/maintenance``: config windows and those made through the API."""
        assert self.config is not None
        now, zone = self.wall(), self.config.monitor.timezone
        out = [
            window_view(f"config:{i}", "config", w, active(w, now, zone), {})
            for i, w in enumerate(self.config.maintenance)
        ]
        out += [
            window_view(wid, "api", w, active(w, now, zone), self._meta.get(wid, {}))
            for wid, w in self._api.items()
        ]
        return {"windows": out}

    def add(self, body: Any) -> dict[str, Any]:
        """``POST /api/v1/maintenance``: a one-off window, persisted (call ``covering`` next)."""
        assert self.config is not None
        now = self.wall()
        window, meta = parse_window(body, now, {t.name for t in self.config.targets})
        window_id = uuid.uuid4().hex[:12]
        self._api[window_id] = window
        self._meta[window_id] = meta
        self.store.add_window(
            window_id,
            window.model_dump_json(),
            created=now,
            created_by=meta["created_by"],
            comment=window.comment,
        )
        self.configure(self.config)
        zone = self.config.monitor.timezone
        return window_view(window_id, "api", window, active(window, now, zone), meta)

    def remove(self, window_id: str) -> bool:
        """``DELETE /api/v1/maintenance/{id}``: end an API-made window (call ``covering`` next)."""
        if window_id not in self._api or self.config is None:
            return False
        del self._api[window_id]
        self._meta.pop(window_id, None)
        self.store.remove_window(window_id)
        self.configure(self.config)
        return True
