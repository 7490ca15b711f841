"""Test hosts in network namespaces, reusable by any integration test.

``with netns_host() as host:`` creates a namespace ``cmt-<random>`` joined
to the root namespace by a veth pair: the host end carries ``10.80.X.1/30``
and ``fd80:X::1/64``, the peer end inside the namespace ``10.80.X.2/30`` and
``fd80:X::2/64`` (``X`` is picked per host so parallel tests don't clash).
Everything is removed on exit, also when the test failed. The veth pair is a
:class:`Link` (addresses by side, cut either end, bring both up), the same
one :mod:`tests.netns_chain` joins routers with.

Network rule: tests only ever talk to 127.0.0.0/8, ::1 and these hosts. To
make sure a test host's traffic can never leave the machine (when the veth
is down the connected route vanishes and the default route would take
over), each host also installs ``unreachable`` routes for its prefixes with
a high metric. Adding that route is also how ``X`` is reserved: it fails if
another live host already holds ``X``.

Needs root and iproute2; :func:`skip_reason` says why not (the benchmarks use
it) and :func:`require` skips the calling test (a missing tool fails it in CI).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import require_peer

SAFETY_METRIC = 4242
"""Metric of the safety ``unreachable`` routes (must lose to connected routes)."""
COMMAND_TIMEOUT = 20.0


class NetnsError(RuntimeError):
    """An ``ip``/``nft`` command failed; the message has its stderr."""


def skip_reason() -> str | None:
    """Why namespace hosts cannot be made here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "needs root for ip netns"
    if shutil.which("ip") is None:
        return "needs root for ip netns (iproute2 `ip` not found)"
    return None


def require(*tools: str) -> None:
    """Skip the calling test unless we are root and ``ip`` and ``tools`` (e.g. ``nft``) are
    installed; a missing tool fails it in CI (:func:`tests.helpers.require_peer`)."""
    if os.geteuid() != 0:
        pytest.skip("needs root for ip netns")
    require_peer("ip", *tools)


def run(args: Sequence[str], *, check: bool = True, stdin: str | None = None) -> str:
    """Run a command (bounded in time); return stdout, raise :class:`NetnsError`."""
    proc = subprocess.run(
        list(args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def ip_in(ns: str | None, *args: str) -> list[str]:
    """An ``ip`` command in namespace ``ns`` (None: the root namespace)."""
    return ["ip", *(("-n", ns) if ns else ()), *args]


@dataclass
class Link:
    """A veth pair on subnet ``X`` (``index``): 10.80.X.0/30 and fd80:X::/64, side 1
    (``.1``/``::1``) on the ``left`` end, towards the root namespace, side 2 on the
    ``right`` end. A host is a link from the root namespace; a chain of routers
    (:mod:`tests.netns_chain`) is links from namespace to namespace."""

    index: int
    left_ns: str | None  # None: the root namespace
    right_ns: str
    left_if: str
    right_if: str

    def v4(self, side: int) -> str:
        return f"10.80.{self.index}.{side}"

    def v6(self, side: int) -> str:
        return f"fd80:{self.index}::{side}"

    @property
    def v4_prefix(self) -> str:
        return f"10.80.{self.index}.0/30"

    @property
    def v6_prefix(self) -> str:
        return f"fd80:{self.index}::/64"

    def create(self) -> None:
        """The veth pair, made in the left namespace, its right end moved into the right one."""
        run(
            ip_in(
                self.left_ns,
                "link",
                "add",
                self.left_if,
                "type",
                "veth",
                "peer",
                "name",
                self.right_if,
            )
        )
        run(ip_in(self.left_ns, "link", "set", self.right_if, "netns", self.right_ns))

    def cut_left(self) -> None:
        """The left end down: its connected routes go (its node answers "unreachable")."""
        run(ip_in(self.left_ns, "link", "set", self.left_if, "down"))

    def cut_right(self) -> None:
        """The right end down: the left end loses carrier, packets go nowhere."""
        run(ip_in(self.right_ns, "link", "set", self.right_if, "down"))

    def up(self) -> None:
        """Both ends up with their addresses (IPv6 ones are dropped when a link goes down)."""
        for ns, name, side in ((self.left_ns, self.left_if, 1), (self.right_ns, self.right_if, 2)):
            run(ip_in(ns, "link", "set", name, "up"))
            run(ip_in(ns, "addr", "replace", f"{self.v4(side)}/30", "dev", name))
            run(ip_in(ns, "-6", "addr", "replace", f"{self.v6(side)}/64", "dev", name, "nodad"))


UNLIMITED_ICMP_ERRORS = (
    ("net.ipv4.icmp_ratelimit", "0"),
    ("net.ipv4.icmp_ratemask", "0"),
    ("net.ipv6.icmp.ratelimit", "0"),
)
"""Sysctls for a namespace whose ICMP errors (nft reject, Time Exceeded) must not be
rate limited, or tests would see them vanish."""


def namespace_sysctls(ns: str, settings: Sequence[tuple[str, str]]) -> None:
    """Set sysctls inside namespace ``ns`` (net.* ones are per namespace)."""
    for key, value in settings:
        run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", f"{key}={value}"])


def new_namespace(name: str) -> None:
    """A namespace with its loopback up (the caller deletes it)."""
    run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


@dataclass
class NetnsHost:
    """A namespace host reachable from the root namespace over a veth pair."""

    name: str
    index: int
    host_if: str
    peer_if: str

    @property
    def link(self) -> Link:
        """Its veth pair: the root namespace on the left, the host on the right."""
        return Link(self.index, None, self.name, self.host_if, self.peer_if)

    @property
    def v4(self) -> str:
        """The host's IPv4 address (inside the namespace)."""
        return self.link.v4(2)

    @property
    def v4_local(self) -> str:
        """Our end of the link, in the root namespace."""
        return self.link.v4(1)

    @property
    def v6(self) -> str:
        return self.link.v6(2)

    @property
    def v6_local(self) -> str:
        return self.link.v6(1)

    @property
    def v4_prefix(self) -> str:
        return self.link.v4_prefix

    @property
    def v6_prefix(self) -> str:
        return self.link.v6_prefix

    def exec(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """Run a command inside the namespace."""
        return run(["ip", "netns", "exec", self.name, *args], check=check, stdin=stdin)

    def nft(self, script: str) -> None:
        """Load an nftables script (``nft -f -`` syntax) inside the namespace."""
        self.exec("nft", "-f", "-", stdin=script)

    def sysctl(self, key: str, value: str) -> None:
        """Set a sysctl of the namespace (they are per namespace for net.*)."""
        namespace_sysctls(self.name, ((key, value),))

    def cut(self) -> None:
        """Take our end of the link down: its routes go, the safety route answers."""
        self.link.cut_left()

    def cut_peer(self) -> None:
        """Take the far end down: our end loses carrier, packets go nowhere."""
        self.link.cut_right()

    def restore(self) -> None:
        """Both ends up with their addresses (IPv6 ones are dropped on down)."""
        self.link.up()


def _reserve_index(attempts: int = 40) -> int:
    """Pick a free X by adding the safety routes (which fail if X is taken)."""
    for _ in range(attempts):
        index = 1 + secrets.randbelow(250)
        try:
            run(_safety_route("add", f"10.80.{index}.0/30"))
        except NetnsError:
            continue
        try:
            run(_safety_route("add", f"fd80:{index}::/64"))
        except NetnsError:
            run(_safety_route("del", f"10.80.{index}.0/30"), check=False)
            continue
        return index
    raise NetnsError("no free 10.80.X.0/30 subnet for a test host")


@contextmanager
def reserved_subnet() -> Iterator[int]:
    """A subnet ``X`` held by its safety routes for the block (see :func:`_reserve_index`)."""
    index = _reserve_index()
    try:
        yield index
    finally:
        run(_safety_route("del", f"10.80.{index}.0/30"), check=False)
        run(_safety_route("del", f"fd80:{index}::/64"), check=False)


def _safety_route(verb: str, prefix: str) -> list[str]:
    family = "-6" if ":" in prefix else "-4"
    return ["ip", family, "route", verb, "unreachable", prefix, "metric", str(SAFETY_METRIC)]


def _setup(host: NetnsHost) -> None:
    new_namespace(host.name)
    host.link.create()
    # ICMP errors the test host sends (nft reject) must not be rate limited.
    namespace_sysctls(host.name, UNLIMITED_ICMP_ERRORS)
    host.restore()


def _teardown(host: NetnsHost) -> None:
    # Deleting the namespace destroys the peer, which takes the host end too.
    run(["ip", "netns", "del", host.name], check=False)
    run(["ip", "link", "del", host.host_if], check=False)
    run(_safety_route("del", host.v4_prefix), check=False)
    run(_safety_route("del", host.v6_prefix), check=False)


@contextmanager
def netns_host() -> Iterator[NetnsHost]:
    """A fresh namespace host; removed on exit whatever happened."""
    index = _reserve_index()
    tag = secrets.token_hex(3)
    host = NetnsHost(name=f"cmt-{tag}", index=index, host_if=f"cmt{tag}h", peer_if=f"cmt{tag}p")
    try:
        _setup(host)
        yield host
    finally:
        _teardown(host)


@contextmanager
def sysctl(key: str, value: str) -> Iterator[None]:
    """Set a root-namespace sysctl for the duration of a block, then restore it."""
    path = Path("/proc/sys") / key.replace(".", "/")
    old = path.read_text()
    path.write_text(value)
    try:
        yield
    finally:
        with suppress(OSError):
            path.write_text(old)
