"""The shared UDP engine of SNMP v1/v2c polling: one socket per family, many requests.

Why one socket: a socket (and a transport object, a file descriptor and a
reader registration) per request costs more than the request itself at a
thousand devices. Here one unconnected UDP socket per address family, with a
large receive buffer so bursts of responses are not dropped, carries every
request; responses are routed to their waiting future by request-id (read
from the first few bytes, without decoding the varbinds) and checked to come
from the address the request went to.

Retries resend the same bytes with the same request-id, so a late answer to
the first try still completes the request. Nothing here raises for network
conditions: :meth:`SnmpUdpEngine.request` returns the response bytes or an
:class:`Failure` saying ``timeout`` or ``send_error``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from probes.neterrors import local_failure
from probes.snmp_codec import VarBind, peek_request_id

__all__ = ["RECEIVE_BUFFER", "Failure", "Reply", "SnmpUdpEngine", "SockAddr"]

log = logging.getLogger(__name__)

RECEIVE_BUFFER: Final = 8 * 1024 * 1024
"""Bytes of socket receive buffer asked for (past rmem_max when root)."""
_SO_RCVBUFFORCE: Final = getattr(socket, "SO_RCVBUFFORCE", 33)
_ID_SPACE: Final = 1 << 31

SockAddr = tuple[str, int] | tuple[str, int, int, int]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a request got no response: ``timeout``, ``send_error`` or ``local_resources``.

    ``local_resources``: this host could not open a socket (out of file
    descriptors or buffers), which says nothing about the device.
    """

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A Response PDU's error status, error index and varbinds (any SNMP version)."""

    error_status: int
    error_index: int
    varbinds: list[VarBind]


class _Pending:
    """One request in flight: its bytes, where it went, and how many tries are left."""

    __slots__ = ("addr", "future", "payload", "timer", "tries_left", "try_timeout")

    def __init__(
        self,
        future: asyncio.Future[bytes | Failure],
        addr: SockAddr,
        payload: bytes,
        tries_left: int,
        try_timeout: float,
    ) -> None:
        self.future = future
        self.addr = addr
        self.payload = payload
        self.tries_left = tries_left
        self.try_timeout = try_timeout
        self.timer: asyncio.TimerHandle | None = None


class _Protocol(asyncio.DatagramProtocol):
    """Hands each datagram to the engine; errors on an unconnected socket are ignored."""

    def __init__(self, on_datagram: Callable[[bytes, SockAddr], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: SockAddr) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for one device must not affect others; that
        # device's request simply times out.
        log.debug("SNMP socket error: %s", exc)


class SnmpUdpEngine:
    """Runs v1/v2c requests over shared sockets: ``async with SnmpUdpEngine() as engine``."""

    def __init__(self, *, receive_buffer: int = RECEIVE_BUFFER) -> None:
        self._receive_buffer = receive_buffer
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._pending: dict[int, _Pending] = {}
        self._next_id = int.from_bytes(os.urandom(4), "big") % _ID_SPACE
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> SnmpUdpEngine:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Fail requests in flight and close the sockets."""
        for pending in list(self._pending.values()):
            self._settle(pending, Failure("timeout", "the SNMP engine was closed"))
        self._pending.clear()
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()

    def _allocate_id(self) -> int:
        # Ids start at a random point so two daemons polling one device
        # rarely collide; ids in use are skipped.
        for _ in range(len(self._pending) + 1):
            self._next_id = (self._next_id + 1) % _ID_SPACE
            if self._next_id not in self._pending:
                return self._next_id
        raise RuntimeError("no free SNMP request-id")  # pragma: no cover

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is not None:
            return transport
        loop = asyncio.get_running_loop()
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            _set_receive_buffer(sock, self._receive_buffer)
            sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))  # noqa: S104
            transport, _protocol = await loop.create_datagram_endpoint(
                lambda: _Protocol(self._on_datagram), sock=sock
            )
        except OSError:
            sock.close()
            raise
        self._transports[family] = transport
        return transport

    async def request(
        self,
        family: int,
        addr: SockAddr,
        build: Callable[[int], bytes],
        *,
        retries: int,
        try_timeout: float,
        deadline: float,
    ) -> bytes | Failure:
        """Send ``build(request_id)`` to ``addr``; return the response bytes or a failure.

        Each try waits ``try_timeout`` seconds (cut short by ``deadline``,
        on the loop clock); ``retries`` more tries follow an unanswered one.
        """
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline:
            return Failure("timeout", "no time left before the deadline")
        try:
            transport = await self._transport(family)
        except OSError as exc:
            local = local_failure(exc, "cannot open a UDP socket")
            if local is not None:
                return Failure(local.reason, local.message)
            return Failure("send_error", f"cannot open a UDP socket: {exc.strerror or exc}")
        request_id = self._allocate_id()
        pending = _Pending(loop.create_future(), addr, build(request_id), retries + 1, try_timeout)
        self._pending[request_id] = pending
        deadline_timer = loop.call_at(deadline, self._expire, request_id, pending)
        try:
            self._send(request_id, pending, transport)
            return await pending.future
        finally:
            deadline_timer.cancel()
            if pending.timer is not None:
                pending.timer.cancel()
            if self._pending.get(request_id) is pending:
                del self._pending[request_id]

    def _send(
        self, request_id: int, pending: _Pending, transport: asyncio.DatagramTransport
    ) -> None:
        if pending.future.done():
            return
        pending.tries_left -= 1
        try:
            transport.sendto(pending.payload, pending.addr)
        except OSError as exc:
            local = local_failure(exc, "sendto failed")
            failure = (
                Failure(local.reason, local.message)
                if local is not None
                else Failure("send_error", f"sendto failed: {exc.strerror or exc}")
            )
            self._settle(pending, failure)
            return
        assert self._loop is not None
        pending.timer = self._loop.call_later(
            pending.try_timeout, self._try_timed_out, request_id, pending, transport
        )

    def _try_timed_out(
        self, request_id: int, pending: _Pending, transport: asyncio.DatagramTransport
    ) -> None:
        if pending.tries_left > 0:
            self._send(request_id, pending, transport)
        else:
            self._expire(request_id, pending)

    def _expire(self, request_id: int, pending: _Pending) -> None:
        self._settle(pending, Failure("timeout", "no response"))

    @staticmethod
    def _settle(pending: _Pending, outcome: bytes | Failure) -> None:
        if not pending.future.done():
            pending.future.set_result(outcome)

    def _on_datagram(self, data: bytes, addr: SockAddr) -> None:
        request_id = peek_request_id(data)
        if request_id is None:
            return
        pending = self._pending.get(request_id)
        # A response must come from where the request went: a stray or
        # spoofed datagram with a guessed id is ignored.
        if pending is None or addr[0] != pending.addr[0] or addr[1] != pending.addr[1]:
            return
        self._settle(pending, data)


def _set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for a large receive buffer, past net.core.rmem_max when privileged."""
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, size)
        except OSError:
            continue
        return
