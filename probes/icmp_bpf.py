"""A kernel filter on the engine's raw ICMP sockets: other processes' echo replies stay out.

A raw ICMP socket receives a copy of every ICMP packet of its family that the
host receives and its ``ICMP_FILTER`` type mask passes: every echo reply to
every other pinger on the host (fping, smokeping, another monitor, or on the
test VM the other sessions' benchmarks) comes to our socket too. Each one
cost a ``recvmsg``, a look at its bytes in Python and often a wake-up of the
event loop of its own; on the shared test VM, with another session's daemon
pinging 50,000 loopback addresses, three reads in four of our daemon at
1,000 targets were someone else's replies (``strace -c``, 10 s: 13,440
``recvmsg`` for 3,001 echoes sent).

:func:`cookie_program` is a classic BPF program (``SO_ATTACH_FILTER``) that
the kernel runs on each packet before queueing it: an echo reply passes
only if its payload starts with this engine's cookie; every other type the
type mask lets through (destination unreachable, time exceeded: the error
may quote only 8 bytes of our echo, so it cannot be told apart here) passes
as before. The reader still checks the cookie of what it reads: the filter
is a saving, not the guard (a kernel that refuses the program leaves the
engine as it was, see :func:`attach`).

Datagram ping sockets need none of this: the kernel hands each one only the
replies to its own identifier.
"""

from __future__ import annotations

import ctypes
import logging
import socket
import struct
from typing import Final

from probes import icmp_packet as pkt

log = logging.getLogger(__name__)

SO_ATTACH_FILTER: Final = 26  # linux/asm-generic/socket.h; not exported by the socket module

# Classic BPF instruction codes (linux/filter.h, linux/bpf_common.h).
_LDX_B_MSH: Final = 0xB1  # X = 4 * (packet[k] & 0x0f): the IPv4 header's length
_LDX_IMM: Final = 0x01  # X = k
_LD_B_IND: Final = 0x50  # A = packet[X + k] (a byte)
_LD_W_IND: Final = 0x40  # A = packet[X + k .. X + k + 4] (big-endian word)
_JEQ_K: Final = 0x15  # if A == k skip jt instructions, else skip jf
_RET_K: Final = 0x06  # keep k bytes of the packet (0: drop it)

KEEP_ALL: Final = 0xFFFF_FFFF
_INSTRUCTION: Final = struct.Struct("=HBBI")  # struct sock_filter
_PROGRAM: Final = struct.Struct("@HP")  # struct sock_fprog: length, (padding,) pointer


def cookie_program(cookie: bytes, *, ip_header: bool, reply_type: int) -> list[tuple[int, ...]]:
    """The filter's instructions, as (code, jt, jf, k) tuples.

    ``ip_header``: reads start with the IPv4 header (raw IPv4 sockets); else
    with the ICMP header (raw ICMPv6 sockets). ``reply_type`` is the echo
    reply's type in that family. The cookie is compared a 32-bit word at a
    time, so its length must be a multiple of 4. Bytes past the end of a
    short packet make the kernel drop it (a reply of ours is never that short).
    """
    if not cookie or len(cookie) % 4:
        raise ValueError("the cookie's length must be a positive multiple of 4")
    words = [int.from_bytes(cookie[i : i + 4], "big") for i in range(0, len(cookie), 4)]
    program: list[tuple[int, ...]] = [
        (_LDX_B_MSH, 0, 0, 0) if ip_header else (_LDX_IMM, 0, 0, 0),
        (_LD_B_IND, 0, 0, 0),  # the ICMP type
        # not an echo reply: jump over the cookie's words to "keep"
        (_JEQ_K, 0, 2 * len(words), reply_type),
    ]
    for n, word in enumerate(words):
        remaining = len(words) - n - 1
        program.append((_LD_W_IND, 0, 0, pkt.ECHO_HEADER_LEN + 4 * n))
        # a word that differs: jump to "drop" (past the later words and "keep")
        program.append((_JEQ_K, 0, 2 * remaining + 1, word))
    program.append((_RET_K, 0, 0, KEEP_ALL))
    program.append((_RET_K, 0, 0, 0))
    return program


def attach(sock: socket.socket, program: list[tuple[int, ...]]) -> bool:
    """Attach ``program`` to ``sock``; False (and a debug line) if the kernel refuses it,
    in which case the socket reads everything as before."""
    code = b"".join(_INSTRUCTION.pack(*instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code, len(code))  # the kernel copies it
    fprog = _PROGRAM.pack(len(program), ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError as exc:
        log.debug("ICMP: no kernel filter on the raw socket (%s); the reader checks alone", exc)
        return False
    return True
