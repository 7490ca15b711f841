"""A chain of router namespaces with a host at the end, for path traces.

    root ns ──L1── r1 ──L2── r2 ──L3── r3 ──L4── host

Link ``Lk`` is 10.80.Xk.0/30 and fd80:Xk::/64, ``.1``/``::1`` on the side
towards the root namespace and ``.2``/``::2`` on the far side, so a node is
reached (and answers ICMP errors) at the ``.2`` address of the link towards
the root. Each ``Xk`` is reserved with the safety ``unreachable`` routes of
:mod:`tests.netns` (the first link is a :func:`tests.netns.netns_host`), so
nothing sent to the chain can leave the machine when a link is cut.

Routers forward both families and send ICMP errors without rate limits
(``icmp_ratelimit`` 0 in each namespace: Linux routers send Time Exceeded
only with forwarding on and within those limits). Routes are explicit
prefixes, never defaults. Everything is removed on exit.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

from tests.netns import (
    UNLIMITED_ICMP_ERRORS,
    Link,
    NetnsHost,
    ip_in,
    namespace_sysctls,
    netns_host,
    new_namespace,
    reserved_subnet,
    run,
)


@dataclass
class Chain:
    """Routers r1..rN and the host at the end, joined by links L1..L(N+1)."""

    links: list[Link] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # r1..rN, then the host

    @property
    def routers(self) -> int:
        return len(self.namespaces) - 1

    def node_v4(self, position: int) -> str:
        """The address node ``position`` (1 = r1, N+1 = the host) answers from."""
        return self.links[position - 1].v4(2)

    def node_v6(self, position: int) -> str:
        return self.links[position - 1].v6(2)

    @property
    def host_v4(self) -> str:
        return self.node_v4(len(self.namespaces))

    @property
    def host_v6(self) -> str:
        return self.node_v6(len(self.namespaces))

    def cut_near(self, router: int) -> None:
        """Router ``router`` takes its link to the next node down: it loses its routes
        beyond it and answers "network unreachable"."""
        self.links[router].cut_left()

    def cut_far(self, router: int) -> None:
        """The next node takes the link down: router ``router`` keeps its route and
        forwards into a dead link (no carrier), so the echoes vanish."""
        self.links[router].cut_right()

    def restore(self) -> None:
        """Every link up with its addresses and every route (IPv6 ones go with a down link)."""
        for link in self.links:
            link.up()
        _routes(self)
        _settle(self)


SETTLE_TIMEOUT = 5.0


def _settle(chain: Chain) -> None:
    """Wait until no link-local address is tentative: until then IPv6 neighbour
    discovery between the routers fails and the first forwarded echoes are lost."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if not any(
            run(["ip", "-n", ns, "-6", "addr", "show", "tentative"]).strip()
            for ns in chain.namespaces
        ):
            return
        time.sleep(0.1)


def _routes(chain: Chain) -> None:
    """Explicit routes: towards the root via the left neighbour, onwards via the right."""
    links = chain.links
    nodes: list[str | None] = [None, *chain.namespaces]
    for position, ns in enumerate(nodes):
        for target in range(len(links)):
            if target in (position - 1, position):
                continue  # connected on one side or the other
            if target < position - 1:
                via_v4, via_v6 = links[position - 1].v4(1), links[position - 1].v6(1)
            else:
                via_v4, via_v6 = links[position].v4(2), links[position].v6(2)
            prefix = links[target]
            run(ip_in(ns, "route", "replace", prefix.v4_prefix, "via", via_v4), check=False)
            run(ip_in(ns, "-6", "route", "replace", prefix.v6_prefix, "via", via_v6), check=False)


ROUTER_SYSCTLS = (
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv6.conf.all.forwarding", "1"),
    *UNLIMITED_ICMP_ERRORS,
)


def _add_node(stack: ExitStack, chain: Chain, left_ns: str) -> None:
    index = stack.enter_context(reserved_subnet())
    tag = secrets.token_hex(3)
    ns = f"cmc-{tag}"
    new_namespace(ns)
    stack.callback(run, ["ip", "netns", "del", ns], check=False)
    link = Link(index, left_ns, ns, f"cmc{tag}l", f"cmc{tag}r")
    link.create()
    chain.links.append(link)
    chain.namespaces.append(ns)


@contextmanager
def router_chain(routers: int = 3) -> Iterator[Chain]:
    """``routers`` routers in a row and a host behind the last; removed on exit."""
    with ExitStack() as stack:
        first: NetnsHost = stack.enter_context(netns_host())
        chain = Chain()
        chain.links.append(first.link)
        chain.namespaces.append(first.name)
        for _ in range(routers):
            _add_node(stack, chain, chain.namespaces[-1])
        for ns in chain.namespaces[:-1]:
            namespace_sysctls(ns, ROUTER_SYSCTLS)
        # The host answers its own errors without limits too (its unreachables).
        namespace_sysctls(chain.namespaces[-1], ROUTER_SYSCTLS)
        for prefix in chain.links[1:]:  # the root's routes into the chain
            stack.callback(run, ["ip", "route", "del", prefix.v4_prefix], check=False)
            stack.callback(run, ["ip", "-6", "route", "del", prefix.v6_prefix], check=False)
        chain.restore()
        yield chain
