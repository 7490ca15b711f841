"""Test hosts in network namespaces, reusable by any integration test.

``with netns_host() as host:`` creates a namespace ``cmt-<random>`` joined
to the root namespace by a veth pair: the host end carries ``10.80.X.1/30``
and ``fd80:X::1/64``, the peer end inside the namespace ``10.80.X.2/30`` and
``fd80:X::2/64`` (``X`` is picked per host so parallel tests don't clash).
Everything is removed on exit, also when the test failed.

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


@dataclass
class NetnsHost:
    """A namespace host reachable from the root namespace over a veth pair."""

    name: str
    index: int
    host_if: str
    peer_if: str

    @property
    def v4(self) -> str:
        """The host's IPv4 address (inside the namespace)."""
        return f"10.80.{self.index}.2"

    @property
    def v4_local(self) -> str:
        """Our end of the link, in the root namespace."""
        return f"10.80.{self.index}.1"

    @property
    def v6(self) -> str:
        return f"fd80:{self.index}::2"

    @property
    def v6_local(self) -> str:
        return f"fd80:{self.index}::1"

    @property
    def v4_prefix(self) -> str:
        return f"10.80.{self.index}.0/30"

    @property
    def v6_prefix(self) -> str:
        return f"fd80:{self.index}::/64"

    def exec(self, *args: str, check: bool = True, stdin: str | None = None) -> str:
        """Run a command inside the namespace."""
        return run(["ip", "netns", "exec", self.name, *args], check=check, stdin=stdin)

    def nft(self, script: str) -> None:
        """Load an nftables script (``nft -f -`` syntax) inside the namespace."""
        self.exec("nft", "-f", "-", stdin=script)

    def sysctl(self, key: str, value: str) -> None:
        """Set a sysctl of the namespace (they are per namespace for net.*)."""
        self.exec("sysctl", "-q", "-w", f"{key}={value}")

    def cut(self) -> None:
        """Take our end of the link down: its routes go, the safety route answers."""
        run(["ip", "link", "set", self.host_if, "down"])

    def cut_peer(self) -> None:
        """Take the far end down: our end loses carrier, packets go nowhere."""
        run(["ip", "-n", self.name, "link", "set", self.peer_if, "down"])

    def restore(self) -> None:
        """Both ends up with their addresses (IPv6 ones are dropped on down)."""
        run(["ip", "link", "set", self.host_if, "up"])
        run(["ip", "-n", self.name, "link", "set", self.peer_if, "up"])
        self._address()

    def _address(self) -> None:
        run(["ip", "addr", "replace", f"{self.v4_local}/30", "dev", self.host_if])
        run(["ip", "-n", self.name, "addr", "replace", f"{self.v4}/30", "dev", self.peer_if])
        run(["ip", "-6", "addr", "replace", f"{self.v6_local}/64", "dev", self.host_if, "nodad"])
        peer_v6 = f"{self.v6}/64"
        run(["ip", "-n", self.name, "-6", "addr", "replace", peer_v6, "dev", self.peer_if, "nodad"])


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


def _safety_route(verb: str, prefix: str) -> list[str]:
    family = "-6" if ":" in prefix else "-4"
    return ["ip", family, "route", verb, "unreachable", prefix, "metric", str(SAFETY_METRIC)]


def _setup(host: NetnsHost) -> None:
    run(["ip", "netns", "add", host.name])
    run(["ip", "link", "add", host.host_if, "type", "veth", "peer", "name", host.peer_if])
    run(["ip", "link", "set", host.peer_if, "netns", host.name])
    run(["ip", "-n", host.name, "link", "set", "lo", "up"])
    # ICMP errors the test host sends (nft reject) must not be rate limited.
    host.sysctl("net.ipv4.icmp_ratelimit", "0")
    host.sysctl("net.ipv4.icmp_ratemask", "0")
    host.sysctl("net.ipv6.icmp.ratelimit", "0")
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
