"""The channel registry: every kind of channel, by its ``type`` name.

Adding a channel kind = one module here + its tests + one line below.
"""

from __future__ import annotations

from alerts.channels import alertmanager, email, mqtt, webhook
from alerts.channels.base import ChannelKind


def _registry(*kinds: ChannelKind) -> dict[str, ChannelKind]:
    return {kind.type: kind for kind in kinds}


KINDS: dict[str, ChannelKind] = _registry(
    mqtt.KIND,
    webhook.KIND,
    alertmanager.KIND,
    email.KIND,
)
