"""What the web layer needs from the daemon (:class:`Backend`), so the server,
the status pages and the public page depend on a protocol, not on each other
or on the daemon.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from monitor.engine.availability import Figures
    from monitor.engine.config import Config
    from monitor.engine.exporter import Part, SelfMetrics
    from monitor.engine.policy import Policy
    from monitor.engine.power import Estimate
    from monitor.engine.uptime import Buckets


@dataclass(frozen=True, slots=True)
class ReloadFailure:
    """A refused reload: when, and every problem of the file (one a line)."""

    at: float
    issues: tuple[str, ...]


class Backend(Protocol):
    """What the web layer needs from the daemon."""

    @property
    def ready(self) -> bool: ...

    def metrics(self) -> list[Part]:
        """The exposition as parts to join (see :meth:`Exporter.render_parts`)."""
        ...

    @property
    def self_metrics(self) -> SelfMetrics: ...

    async def reload(self) -> tuple[bool, str]: ...

    def api_targets(self) -> dict[str, Any]: ...

    def api_target(self, name: str) -> dict[str, Any] | None: ...

    async def api_outages(self, query: Mapping[str, str]) -> dict[str, Any]: ...

    async def api_history(self, name: str, range_name: str) -> dict[str, Any] | None: ...

    def api_maintenance(self) -> dict[str, Any]: ...

    def api_alerts(self) -> dict[str, Any]: ...

    def api_ack(self, fingerprint: str) -> bool: ...

    def api_silences(self) -> dict[str, Any]: ...

    def api_add_silence(self, body: Any) -> dict[str, Any]: ...

    def api_remove_silence(self, silence_id: str) -> bool: ...

    def api_add_maintenance(self, body: Any) -> dict[str, Any]: ...

    def api_remove_maintenance(self, window_id: str) -> bool: ...

    def api_figures(self, name: str) -> Figures | None: ...

    def api_uptime(self, names: Iterable[str], edges: Sequence[float]) -> Buckets | None: ...

    def page_state(self) -> tuple[Config, Policy]: ...

    def target_mutes(self, name: str) -> dict[str, Any]: ...

    def reload_failure(self) -> ReloadFailure | None: ...

    def power_board(self) -> dict[str, Estimate | None]:
        """UPS targets on battery and their time-to-dark predictions."""
        ...
