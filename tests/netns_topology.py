"""A router namespace with site hosts behind it, for dependency tests.

    root ns ──veth── router ns ──veth── site ns (one per site)

The router is a :func:`tests.netns.netns_host` (its uplink is the veth to the
root namespace); each site gets its own 10.80.X.0/30 behind the router, the
router forwards, and the root namespace routes each site prefix via the
router. Every site prefix also gets the safety ``unreachable`` route of
``tests.netns``, so when the uplink is cut the traffic to the sites fails
here instead of following the default route off the machine.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from tests.netns import NetnsHost, _reserve_index, _safety_route, netns_host, run


@dataclass
class Site:
    name: str
    index: int
    router_if: str
    site_if: str

    @property
    def v4(self) -> str:
        return f"10.80.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.80.{self.index}.1"

    @property
    def prefix(self) -> str:
        return f"10.80.{self.index}.0/30"


@contextmanager
def router_with_sites(count: int) -> Iterator[tuple[NetnsHost, list[Site]]]:
    with ExitStack() as stack, netns_host() as router:
        router.sysctl("net.ipv4.ip_forward", "1")
        sites = []
        for _ in range(count):
            site = _add_site(router)
            stack.callback(_remove_site, site)
            sites.append(site)
        yield router, sites


def _add_site(router: NetnsHost) -> Site:
    index = _reserve_index()
    tag = secrets.token_hex(3)
    site = Site(name=f"cms-{tag}", index=index, router_if=f"cms{tag}r", site_if=f"cms{tag}s")
    run(["ip", "netns", "add", site.name])
    run(
        [
            "ip",
            "-n",
            router.name,
            "link",
            "add",
            site.router_if,
            "type",
            "veth",
            "peer",
            "name",
            site.site_if,
            "netns",
            site.name,
        ]
    )
    run(["ip", "-n", site.name, "link", "set", "lo", "up"])
    run(["ip", "-n", router.name, "addr", "add", f"{site.gateway}/30", "dev", site.router_if])
    run(["ip", "-n", site.name, "addr", "add", f"{site.v4}/30", "dev", site.site_if])
    run(["ip", "-n", router.name, "link", "set", site.router_if, "up"])
    run(["ip", "-n", site.name, "link", "set", site.site_if, "up"])
    run(["ip", "-n", site.name, "route", "add", "default", "via", site.gateway])
    run(["ip", "route", "replace", site.prefix, "via", router.v4])
    return site


def restore_uplink(router: NetnsHost, sites: list[Site]) -> None:
    """Bring the router's uplink back, with the routes to the sites (they went with it)."""
    router.restore()
    for site in sites:
        run(["ip", "route", "replace", site.prefix, "via", router.v4])


def _remove_site(site: Site) -> None:
    run(["ip", "route", "del", site.prefix, "via", f"10.80.{site.index}.1"], check=False)
    run(["ip", "route", "del", site.prefix, "proto", "boot"], check=False)
    run(["ip", "netns", "del", site.name], check=False)
    run(_safety_route("del", site.prefix), check=False)
    run(_safety_route("del", f"fd80:{site.index}::/64"), check=False)
