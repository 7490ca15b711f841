"""The contract every probe kind passes, against real peers on loopback.

For each kind in the registry (opened through the registry, as the daemon
does) and each way a peer can behave (answers, nothing listens, never
answers, answers garbage): the probe returns a result and never raises; its
reason is one of the kind's declared ``reasons``; it comes back by the
deadline it was given; its samples are only in the families the kind declares
(the exporter would otherwise label them "undeclared") and its values only
the names rules may refer to. A new kind fails here until it has a harness
below.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import probes
from monitor.contract import ProbeContext, ProbeKind, ProbeResult, ProbeSetupError, ProbeTarget
from tests.helpers import peer_missing, require_peer
from tests.integration.test_dns_probe import LoopbackDns
from tests.peers import BlackHole, free_port
from tests.snmp_agents import SnmpsimAgent

MODES = ("ok", "refused", "silent", "garbage")
"""ok: a peer that answers; refused: nothing listens; silent: the peer takes
the packets or the connection and never answers; garbage: it answers bytes
that mean nothing."""

TIMEOUT = 1.0
SLACK = 0.5
"""How long after its deadline a result may come back (loop scheduling, a busy CI)."""

GARBAGE = b"\x30\x82\xff\xff\x00 this is not a reply \r\n\r\n\x00\x01"
SNMP_DATA = Path(__file__).resolve().parents[1] / "data" / "snmp"


@dataclass
class Peers:
    """Loopback peers for every mode; ports stay bound while the test runs."""

    tcp_ok: int
    tcp_silent: int
    tcp_garbage: int
    http_ok: int
    udp_silent: int
    udp_garbage: int
    dns_ok: int
    snmp_ok: int | None
    closed: int


async def _tcp_server(reply: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(reply)
            await writer.drain()
            await asyncio.wait_for(reader.read(1024), 0.5)
        with contextlib.suppress(Exception):
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


class _Garbage(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(GARBAGE, addr)


def _port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


@contextlib.contextmanager
def _snmpsim(tmp_path: Path) -> Iterator[int | None]:
    if peer_missing("snmpsim") is not None:
        yield None
        return
    agent = SnmpsimAgent(tmp_path / "snmpsim")
    agent.put("ups", (SNMP_DATA / "ups-online.snmprec").read_text().splitlines())
    with agent:
        agent.start("ups")
        yield agent.port


@pytest.fixture(scope="module")
def snmp_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int | None]:
    with _snmpsim(tmp_path_factory.mktemp("contract")) as port:
        yield port


@pytest.fixture
async def peers(snmp_port: int | None) -> AsyncIterator[Peers]:
    loop = asyncio.get_running_loop()
    hole = BlackHole()
    await hole.start()
    banner = await _tcp_server(b"SSH-2.0-contract\r\n")
    junk = await _tcp_server(GARBAGE)

    async def answer(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = int(runner.addresses[0][1])
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    garbage, _ = await loop.create_datagram_endpoint(_Garbage, local_addr=("127.0.0.1", 0))
    try:
        async with LoopbackDns() as dns_server:
            yield Peers(
                tcp_ok=_port(banner),
                tcp_silent=hole.port,
                tcp_garbage=_port(junk),
                http_ok=http_port,
                udp_silent=silent.getsockname()[1],
                udp_garbage=garbage.get_extra_info("sockname")[1],
                dns_ok=dns_server.port,
                snmp_ok=snmp_port,
                closed=free_port(),
            )
    finally:
        garbage.close()
        silent.close()
        await runner.cleanup()
        for server in (banner, junk):
            server.close()
            await server.wait_closed()
        await hole.stop()


Setup = tuple[str, dict[str, Any]] | str
"""(target address, raw check settings), or why the mode does not apply to the kind."""


def _icmp(mode: str, p: Peers) -> Setup:
    if mode != "ok":
        return (
            "loopback always answers pings; loss and timeouts: tests/integration/test_icmp_netns.py"
        )
    return "127.0.0.1", {"count": 2, "packet_interval": "200ms"}


def _http(mode: str, p: Peers) -> Setup:
    port = {"ok": p.http_ok, "refused": p.closed, "silent": p.tcp_silent}.get(mode, p.tcp_garbage)
    return f"http://127.0.0.1:{port}/", {}


def _tcp(mode: str, p: Peers) -> Setup:
    port = {"ok": p.tcp_ok, "refused": p.closed, "silent": p.tcp_silent}.get(mode, p.tcp_garbage)
    return "127.0.0.1", {"port": port, "expect": "^SSH-"}


def _udp_port(mode: str, p: Peers, ok: int) -> int:
    return {"ok": ok, "refused": p.closed, "silent": p.udp_silent}.get(mode, p.udp_garbage)


def _dns(mode: str, p: Peers) -> Setup:
    server = f"127.0.0.1:{_udp_port(mode, p, p.dns_ok)}"
    return "127.0.0.1", {"name": "ok.test", "server": server}


def _snmp(mode: str, p: Peers) -> Setup:
    if mode == "ok" and p.snmp_ok is None:
        require_peer("snmpsim")  # skips here, fails in CI
    port = _udp_port(mode, p, p.snmp_ok or 0)
    return "127.0.0.1", {"community": "ups", "port": port, "modules": ["system", "ups"]}


HARNESSES: dict[str, Callable[[str, Peers], Setup]] = {
    "icmp": _icmp,
    "http": _http,
    "tcp": _tcp,
    "dns": _dns,
    "snmp": _snmp,
}


def test_every_registered_kind_has_a_harness() -> None:
    assert sorted(HARNESSES) == sorted(probes.KINDS)


async def run(kind: ProbeKind, address: str, raw: dict[str, Any]) -> tuple[ProbeResult, float]:
    """One attempt through the registry entry; the seconds past the deadline it returned."""
    settings = kind.settings.model_validate({"timeout": f"{TIMEOUT}s", **raw})
    loop = asyncio.get_running_loop()
    try:
        async with kind.open(ProbeContext()) as prober:
            deadline = loop.time() + TIMEOUT
            result = await prober.probe(
                ProbeTarget("contract", address), settings, deadline=deadline
            )
            return result, loop.time() - deadline
    except ProbeSetupError as exc:
        pytest.skip(f"{kind.name} cannot run here: {exc}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(HARNESSES))
async def test_probe_kind_keeps_the_contract(name: str, mode: str, peers: Peers) -> None:
    kind = probes.KINDS[name]
    setup = HARNESSES[name](mode, peers)
    if isinstance(setup, str):
        pytest.skip(setup)
    address, raw = setup
    result, late = await run(kind, address, raw)  # must not raise
    assert isinstance(result, ProbeResult)
    assert result.reason in kind.reasons, f"{result.reason!r}: {result.message}"
    assert result.ok == (mode == "ok"), f"{result.reason}: {result.message}"
    assert result.ok == (result.reason == "ok")
    assert late <= SLACK, f"returned {late:.2f}s after its deadline"
    declared = {f.name for f in kind.families}
    assert {s.name for s in result.samples} <= declared
    if kind.values is not None:
        assert set(result.values) <= kind.values
    if mode == "ok":
        assert result.samples, "an answered probe reports what it measured"
