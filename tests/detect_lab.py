"""Pieces of the detection lab shared by ``bench/detect.py`` and the e2e acceptance tests.

- :class:`WebhookReceiver`: an aiohttp server on 127.0.0.1 (its own event
  loop in a thread) that the daemon's ``webhook`` channel posts to; every
  alert of every body is kept as a :class:`Delivery` stamped with
  ``time.monotonic()`` on arrival, so times to page are measured on the same
  clock as the cuts.
- Link faults on namespace hosts: cutting a site's link at its router,
  random loss with nftables inside a namespace.
- Waiting on the daemon's API (a positive signal) instead of sleeping.

Network rule: the receiver listens on loopback; the faults only touch
namespaces the caller created with :mod:`tests.netns` /
:mod:`tests.netns_topology`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.daemon_process import DaemonProcess
from tests.helpers import free_port
from tests.netns import run
from tests.netns_topology import Site


@dataclass(frozen=True)
class Delivery:
    """One alert of one webhook body, as it arrived."""

    at: float  # time.monotonic() when the body arrived
    status: str  # "firing" | "resolved"
    alertname: str
    target: str
    fingerprint: str
    starts_at: str | None
    ends_at: str | None
    alert: dict[str, Any]  # the alert document as sent
    body: dict[str, Any]  # the whole notification

    @property
    def key(self) -> tuple[str, str]:
        return self.alertname, self.target

    def __str__(self) -> str:
        return f"{self.status} {self.alertname} {self.target or '-'} at {self.at:.2f}"


class WebhookReceiver:
    """Records what the daemon's webhook channel posts; use as a context manager."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        self._raw: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        arrived = time.monotonic()
        body = json.loads(raw)
        alerts = body.get("alerts", []) if isinstance(body, dict) else []
        with self._lock:
            self._raw.append(raw)
            for alert in alerts:
                labels = alert.get("labels", {})
                self._deliveries.append(
                    Delivery(
                        at=arrived,
                        status=str(alert.get("status", body.get("status", ""))),
                        alertname=str(labels.get("alertname", alert.get("alertname", ""))),
                        target=str(labels.get("target", alert.get("target", "")) or ""),
                        fingerprint=str(alert.get("fingerprint", "")),
                        starts_at=alert.get("starts_at"),
                        ends_at=alert.get("ends_at"),
                        alert=alert,
                        body=body,
                    )
                )
        return web.json_response({})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def deliveries(self, since: float = 0.0) -> list[Delivery]:
        """Every alert received at or after ``since`` (monotonic), in arrival order."""
        with self._lock:
            return [d for d in self._deliveries if d.at >= since]

    def bodies(self) -> int:
        with self._lock:
            return len(self._raw)

    def wait(
        self, predicate: Callable[[Delivery], bool], timeout: float, since: float = 0.0
    ) -> Delivery | None:
        """The first delivery since ``since`` matching ``predicate``, or None after ``timeout``."""
        end = time.monotonic() + timeout
        while True:
            for delivery in self.deliveries(since):
                if predicate(delivery):
                    return delivery
            if time.monotonic() >= end:
                return None
            time.sleep(0.02)


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
