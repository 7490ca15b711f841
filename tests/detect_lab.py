"""Pieces of the detection lab shared by ``bench/detect.py`` and the e2e acceptance tests.

- :class:`tests.peers.WebhookReceiver` (re-exported here with its
  :class:`~tests.peers.Delivery`): the daemon's ``webhook`` channel posts to
  it; every alert of every body is stamped with ``time.monotonic()`` on
  arrival, so times to page are measured on the same clock as the cuts.
  :func:`webhook_channel` is the config that points every alert at it.
- Link faults on namespace hosts: cutting a site's link at its router,
  random loss with nftables inside a namespace.
- Waiting on the daemon's API (a positive signal) instead of sleeping.

Network rule: the receiver listens on loopback; the faults only touch
namespaces the caller created with :mod:`tests.netns` /
:mod:`tests.netns_topology`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tests.daemon_process import DaemonProcess
from tests.netns import run
from tests.netns_topology import Site
from tests.peers import Delivery, WebhookReceiver


def is_page(alertname: str, target: str) -> Callable[[Delivery], bool]:
    return lambda d: d.status == "firing" and d.alertname == alertname and d.target == target


def is_resolve(alertname: str, target: str) -> Callable[[Delivery], bool]:
    return lambda d: d.status == "resolved" and d.alertname == alertname and d.target == target


def webhook_channel(receiver: WebhookReceiver) -> str:
    """Config lines: every alert to the receiver, each alert its own notification."""
    return (
        "\n[channels.hook]\n"
        'type = "webhook"\n'
        f'url = "{receiver.url}"\n'
        'timeout = "2s"\n'
        "\n[[alerts.routes]]\n"
        'channels = ["hook"]\n'
    )


# -- faults --------------------------------------------------------------------------------


def cut_site(router_ns: str, site: Site) -> None:
    """Take the router's end of a site's link down (the site keeps its own routes)."""
    run(["ip", "-n", router_ns, "link", "set", site.router_if, "down"])


def restore_site(router_ns: str, site: Site) -> None:
    run(["ip", "-n", router_ns, "link", "set", site.router_if, "up"])
    run(["ip", "-n", router_ns, "addr", "replace", f"{site.gateway}/30", "dev", site.router_if])


LOSS_TABLE = "cmt_loss"


def add_loss(namespace: str, percent: int) -> None:
    """Drop ``percent`` % of the echo requests a namespace receives, at random."""
    script = (
        f"table inet {LOSS_TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority 0;\n"
        f"    icmp type echo-request numgen random mod 100 < {percent} drop\n"
        "  }\n"
        "}\n"
    )
    run(["ip", "netns", "exec", namespace, "nft", "-f", "-"], stdin=script)


def remove_loss(namespace: str) -> None:
    run(["ip", "netns", "exec", namespace, "nft", "delete", "table", "inet", LOSS_TABLE])


# -- the daemon's API ----------------------------------------------------------------------


def targets(daemon: DaemonProcess) -> dict[str, dict[str, Any]]:
    """``/api/v1/targets`` by name."""
    document = daemon.json("/api/v1/targets")
    assert isinstance(document, dict)
    return {t["name"]: t for t in document["targets"]}


def all_up(daemon: DaemonProcess, names: Iterable[str]) -> bool:
    views = targets(daemon)
    return all(views[name]["state"] == "up" for name in names)


def check_ok_since(view: dict[str, Any], moment_rfc3339: str) -> bool:
    """Whether the target's every check's last result is a success started after a moment."""
    checks = view["checks"]
    return bool(checks) and all(
        c["last"] is not None and c["last"]["ok"] and c["last"]["at"] > moment_rfc3339
        for c in checks
    )


def drained(daemon: DaemonProcess, channel: str = "hook") -> bool:
    """Whether the outbox has nothing left to send on ``channel``."""
    return daemon.value("continuity_notifications_pending", channel=channel) in (0.0, None)


def summary(deliveries: Iterable[Delivery]) -> list[tuple[str, str, str]]:
    """(status, alertname, target) of each delivery, for exact comparisons in messages."""
    return [(d.status, d.alertname, d.target) for d in deliveries]
