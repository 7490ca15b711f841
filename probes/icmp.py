"""ICMP echo probe: settings model and prober (engine lands with the walking skeleton)."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from probes.base import CheckSettings, Duration, float_range, format_duration, int_range


class IcmpSettings(CheckSettings):
    """``icmp = { count = 5, packet_interval = "1s" }`` on a target or template."""

    count: int_range(1, 100) = 3  # type: ignore[valid-type]
    packet_interval: Duration = 1.0
    payload_size: int_range(0, 1400) = 56  # type: ignore[valid-type]
    family: Literal["auto", "ipv4", "ipv6"] = "auto"
    max_loss_ratio: float_range(0.0, 1.0) = 1.0  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _echoes_fit_in_timeout(self) -> IcmpSettings:
        spread = (self.count - 1) * self.packet_interval
        if spread >= self.timeout:
            raise ValueError(
                f"count x packet_interval must leave time for the last reply: "
                f"{self.count - 1} x {format_duration(self.packet_interval)} = "
                f"{format_duration(spread)} is not shorter than timeout "
                f"{format_duration(self.timeout)}"
            )
        return self
