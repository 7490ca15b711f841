"""A probe that cannot get a socket says ``local_resources``, never that the target failed.

The test process runs out of file descriptors (its soft ``RLIMIT_NOFILE``
lowered, then every descriptor left taken, bounded by that limit) while
loopback peers that answer are up: an HTTP server, a TCP listener, a DNS
server and net-snmp's snmpd. Each probe kind that needs a new socket per
run (http, tcp, dns, and SNMP v1/v2c before its shared socket exists)
returns ``local_resources`` with a clear message and does not raise; once
descriptors are back the same probes succeed. ICMP keeps working: its
sockets are opened once at start. The errno table is checked for every
errno that means "this machine", including those a test cannot cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web

from monitor.contract import ProbeResult, ProbeTarget
from probes.dns import REASONS as DNS_REASONS
from probes.dns import DnsProber, DnsSettings
from probes.http import REASONS as HTTP_REASONS
from probes.http import HttpProber, HttpSettings
from probes.icmp import REASONS as ICMP_REASONS
from probes.icmp import IcmpProber, IcmpSettings
from probes.neterrors import LOCAL_RESOURCES, local_failure, os_failure
from probes.snmp import REASONS as SNMP_REASONS
from probes.snmp import SnmpProber, SnmpSettings
from probes.tcp import REASONS as TCP_REASONS
from probes.tcp import TcpProber, TcpSettings
from tests.helpers import require_peer
from tests.integration.test_dns_probe import LoopbackDns, loopback_resolver
from tests.snmp_agents import SnmpdAgent


@contextlib.contextmanager
def no_descriptors_left() -> Iterator[None]:
    """Take every file descriptor the process may still open; give them back at exit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 64), hard))
    held: list[int] = []
    try:
        with contextlib.suppress(OSError):
            while len(held) < 100_000:
                held.append(os.open("/dev/null", os.O_RDONLY))
        with pytest.raises(OSError) as exhausted:
            os.open("/dev/null", os.O_RDONLY)
        assert exhausted.value.errno == errno.EMFILE
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    require_peer("snmpd")
    with SnmpdAgent(tmp_path_factory.mktemp("snmpd")) as running:
        yield running


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[str]:
    app = web.Application()

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        await runner.cleanup()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def run_all(
    agent: SnmpdAgent, url: str, tcp_port: int, dns: LoopbackDns
) -> dict[str, ProbeResult]:
    """One run of each kind, each with a new prober (no pooled connection, no open socket)."""
    deadline = asyncio.get_running_loop().time() + 2.0
    results: dict[str, ProbeResult] = {}
    async with HttpProber() as http:
        settings = HttpSettings.model_validate({"timeout": "2s"})
        results["http"] = await http.probe(ProbeTarget("web", url), settings, deadline=deadline)
    async with TcpProber() as tcp:
        tcp_settings = TcpSettings.model_validate({"port": tcp_port, "timeout": "2s"})
        results["tcp"] = await tcp.probe(
            ProbeTarget("gw", "127.0.0.1"), tcp_settings, deadline=deadline
        )
    async with DnsProber(
        resolver=loopback_resolver(dns), system_nameservers=["127.0.0.1"]
    ) as dns_prober:
        dns_settings = DnsSettings.model_validate(
            {"server": dns.address, "timeout": "2s", "name": "ok.test."}
        )
        results["dns"] = await dns_prober.probe(
            ProbeTarget("ns", "127.0.0.1"), dns_settings, deadline=deadline
        )
    async with SnmpProber() as snmp:
        snmp_settings = SnmpSettings.model_validate(
            {"community": agent.community, "port": agent.port, "timeout": "2s"}
        )
        results["snmp"] = await snmp.probe(
            ProbeTarget("bts", "127.0.0.1"), snmp_settings, deadline=deadline
        )
    return results


async def test_probes_without_a_descriptor_say_local_resources(agent: SnmpdAgent) -> None:
    tcp_server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    tcp_port = int(tcp_server.sockets[0].getsockname()[1])
    try:
        async with (
            http_server() as url,
            LoopbackDns() as dns,
            IcmpProber() as icmp,
        ):
            icmp_settings = IcmpSettings.model_validate({"count": 1})
            with no_descriptors_left():
                starved = await run_all(agent, url, tcp_port, dns)
                deadline = asyncio.get_running_loop().time() + 2.0
                ping = await icmp.probe(
                    ProbeTarget("lo", "127.0.0.1"), icmp_settings, deadline=deadline
                )
            fed = await run_all(agent, url, tcp_port, dns)
    finally:
        tcp_server.close()
        await tcp_server.wait_closed()
    for kind, result in starved.items():
        assert result.reason == LOCAL_RESOURCES, (kind, result.reason, result.message)
        assert "EMFILE" in result.message and "the target was not checked" in result.message
    for kind, result in fed.items():
        assert result.reason == "ok", (kind, result.reason, result.message)
    assert ping.reason == "ok", ping.message  # its socket was opened at start


@pytest.mark.parametrize(
    "reasons", [HTTP_REASONS, TCP_REASONS, DNS_REASONS, ICMP_REASONS, SNMP_REASONS]
)
def test_every_kind_declares_the_reason(reasons: tuple[str, ...]) -> None:
    assert LOCAL_RESOURCES in reasons


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.EMFILE, LOCAL_RESOURCES),
        (errno.ENFILE, LOCAL_RESOURCES),
        (errno.ENOBUFS, LOCAL_RESOURCES),
        (errno.ENOMEM, LOCAL_RESOURCES),
        (errno.ECONNREFUSED, "connect_refused"),
        (errno.EHOSTUNREACH, "connect_error"),
        (errno.ENETUNREACH, "connect_error"),
        (errno.ETIMEDOUT, "connect_error"),
    ],
)
def test_connect_errors_table(code: int, reason: str) -> None:
    failure = os_failure(OSError(code, os.strerror(code)), "10.80.0.2:80")
    assert failure.reason == reason
    assert "10.80.0.2:80" in failure.message


def test_a_wrapped_shortage_is_found() -> None:
    inner = OSError(errno.EMFILE, "Too many open files")
    wrapped = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 80, False, True, None, None, None), inner
    )
    failure = local_failure(wrapped, "cannot make the request")
    assert failure is not None and failure.reason == LOCAL_RESOURCES
    try:
        try:
            raise inner
        except OSError as exc:
            raise RuntimeError("library error") from exc
    except RuntimeError as outer:
        assert local_failure(outer, "x") is not None
    assert local_failure(OSError(errno.EPERM, "no"), "x") is None
