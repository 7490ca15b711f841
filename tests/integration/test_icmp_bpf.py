"""The raw sockets' kernel filter against the real kernel on loopback (127.0.0.0/8, ::1 only).

Another pinger's echo replies must not reach the engine's socket at all
(each cost a read and often a wake-up); replies of ours and ICMP errors
must. Needs CAP_NET_RAW (CI runs as root).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import pytest

from monitor.contract import ProbeResult, ProbeTarget
from probes import icmp_bpf
from probes import icmp_packet as pkt
from probes.icmp import IcmpProber, IcmpSettings
from probes.icmp_engine import IcmpEngine
from tests.integration.test_icmp_loopback import has_ipv6_loopback, needs_raw

pytestmark = needs_raw


def drain(sock: socket.socket) -> list[bytes]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            out.append(sock.recv(2048))
        except BlockingIOError:
            return out


def echo_round(v6: bool) -> tuple[list[bytes], bytes]:
    """Echoes with a foreign cookie and ours to loopback; what our filtered socket read."""
    family, proto = (
        (socket.AF_INET6, socket.IPPROTO_ICMPV6) if v6 else (socket.AF_INET, socket.IPPROTO_ICMP)
    )
    ours, foreign = os.urandom(pkt.COOKIE_LEN), os.urandom(pkt.COOKIE_LEN)
    reply_type = pkt.ICMP6_ECHO_REPLY if v6 else pkt.ICMP_ECHO_REPLY
    with (
        socket.socket(family, socket.SOCK_RAW, proto) as filtered,
        socket.socket(family, socket.SOCK_RAW, proto) as sender,
    ):
        program = icmp_bpf.cookie_program(ours, ip_header=not v6, reply_type=reply_type)
        assert icmp_bpf.attach(filtered, program)
        # What came before the filter was attached (another pinger on this host) is
        # queued unfiltered: read it away before the round.
        drain(filtered)
        address = "::1" if v6 else "127.0.3.7"
        for seq, cookie in enumerate((foreign, ours, foreign, foreign)):
            packet = pkt.build_echo_request(0x5A5A, seq, pkt.make_payload(cookie, 24), v6=v6)
            sender.sendto(packet, (address, 0))
        time.sleep(0.2)  # loopback answers at once; the queue is read without waiting
        return drain(filtered), ours


@pytest.mark.parametrize("v6", [False, pytest.param(True, id="ipv6")])
def test_only_replies_with_our_cookie_pass_other_types_untouched(v6: bool) -> None:
    if v6 and not has_ipv6_loopback():
        pytest.skip("no IPv6 (::1) on this host")
    reads, ours = echo_round(v6)
    at = 0 if v6 else 20  # raw IPv4 reads start with the IP header
    reply_type = pkt.ICMP6_ECHO_REPLY if v6 else pkt.ICMP_ECHO_REPLY
    replies = [r for r in reads if r[at] == reply_type]
    # the one reply of ours, none of the three foreign ones
    assert [r[at + 8 : at + 8 + len(ours)] for r in replies] == [ours]
    assert replies[0][at + 6 : at + 8] == b"\x00\x01"
    # types other than the echo reply pass whatever they carry (this socket has no
    # ICMP_FILTER, so it also reads the four requests on loopback, and any other
    # pinger's on this host): errors must too
    requests = [r for r in reads if r[at] != reply_type and r[at + 4 : at + 6] == b"\x5a\x5a"]
    assert len(requests) == 4


def test_program_shape() -> None:
    program = icmp_bpf.cookie_program(bytes(range(8)), ip_header=True, reply_type=0)
    assert program[0][0] == 0xB1  # X = the IPv4 header's length
    assert program[-2] == (0x06, 0, 0, icmp_bpf.KEEP_ALL)
    assert program[-1] == (0x06, 0, 0, 0)
    assert [k for code, _, _, k in program if code == 0x15][1:] == [0x00010203, 0x04050607]
    with pytest.raises(ValueError, match="multiple of 4"):
        icmp_bpf.cookie_program(b"abc", ip_header=False, reply_type=129)


class CountingSocket(socket.socket):
    """A real socket that keeps the source and ICMP type of each packet ``recvmsg`` read."""

    def __init__(self, family: int, kind: int, proto: int) -> None:
        super().__init__(family, kind, proto)
        self.reads: list[tuple[str, int]] = []

    def recvmsg(self, *args: Any) -> Any:
        got = super().recvmsg(*args)
        data, _, _, address = got
        if self.family == socket.AF_INET:
            self.reads.append((address[0], data[(data[0] & 0x0F) * 4]))
        return got


async def test_the_engine_never_reads_another_pingers_replies() -> None:
    """While a foreign pinger's 300 replies come back on loopback, the engine's raw
    socket reads only the replies to its own 3 echoes (on a shared host other
    pingers' replies are dropped as well; an ICMP error of theirs would still pass)."""
    opened: list[CountingSocket] = []

    def factory(family: int, kind: int, proto: int) -> socket.socket:
        opened.append(CountingSocket(family, kind, proto))
        return opened[-1]

    engine = IcmpEngine(mode="raw", socket_factory=factory)
    loop = asyncio.get_running_loop()
    async with IcmpProber(engine=engine) as prober:
        # Replies queued before the engine attached its filter (another pinger on this
        # host) are read at its first drain: only what comes after counts.
        await asyncio.sleep(0.05)
        for sock in opened:
            sock.reads.clear()
        future: asyncio.Future[ProbeResult] = loop.create_future()
        settings = IcmpSettings(count=3, packet_interval="100ms", timeout="2s")
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as foreign:
            payload = pkt.make_payload(os.urandom(pkt.COOKIE_LEN), 16)
            target = ProbeTarget("127.0.3.8", "127.0.3.8")
            assert prober.start(
                target, settings, deadline=loop.time() + 2.0, done=future.set_result
            )
            for seq in range(300):
                foreign.sendto(pkt.build_echo_request(0x1234, seq, payload), ("127.0.3.9", 0))
                if seq % 50 == 49:
                    await asyncio.sleep(0.02)
            result = await asyncio.wait_for(future, 3.0)
            await asyncio.sleep(0.1)
            drain(foreign)
    assert result.ok and result.values["packets_received"] == 3, result.message
    reads = [read for sock in opened for read in sock.reads]
    replies = [source for source, kind in reads if kind == pkt.ICMP_ECHO_REPLY]
    assert replies == ["127.0.3.8"] * 3
