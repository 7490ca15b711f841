"""Flooding a trap port from loopback, for the flood tests and ``bench.traps_flood``.

:func:`flood` runs a sender process that sends datagrams from one source
address (127.x.y.z: each is a different "host" to the receiver) at a given
rate for a given time, both bounded; :func:`valid_traps` sends real traps
with net-snmp's ``snmptrap`` from another source address, spread over a
time. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import struct
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

MAX_SECONDS = 30.0
MAX_RATE = 100_000.0

SENDER = r"""
import errno, os, random, socket, struct, sys, time
source, port, rate, seconds, path = sys.argv[1:6]
port, rate, seconds = int(port), float(rate), float(seconds)
if path == "-":
    rng = random.Random(1)
    payloads = [bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))) for _ in range(997)]
else:
    data, payloads = open(path, "rb").read(), []
    while data:
        (size,) = struct.unpack("!H", data[:2])
        payloads.append(data[2 : 2 + size])
        data = data[2 + size :]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((source, 0))
start = time.monotonic()
end = start + seconds
sent = dropped = 0
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - start) * rate) if rate > 0 else sent + 512
    while sent + dropped < due:
        try:
            sock.sendto(payloads[(sent + dropped) % len(payloads)], ("127.0.0.1", port))
            sent += 1
        except OSError as exc:
            if exc.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.ECONNREFUSED):
                raise
            dropped += 1
    if rate > 0:
        time.sleep(0.0005)
print(sent, flush=True)
"""


async def flood(
    port: int,
    *,
    source: str,
    rate: float,
    seconds: float,
    payloads: Sequence[bytes] | None = None,
) -> int:
    """Send for ``seconds`` at ``rate`` datagrams/s (0: as fast as possible); returns the count.

    ``payloads`` are sent in turn; ``None`` sends random bytes (1-200 octets).
    """
    assert source.startswith("127.") and 0 < seconds <= MAX_SECONDS and 0 <= rate <= MAX_RATE
    with tempfile.TemporaryDirectory() as tmp:
        path = "-"
        if payloads is not None:
            file = Path(tmp) / "payloads"
            file.write_bytes(b"".join(struct.pack("!H", len(p)) + p for p in payloads))
            path = str(file)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SENDER,
            source,
            str(port),
            str(rate),
            str(seconds),
            path,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=seconds + 20)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, f"the sender failed ({proc.returncode})"
    return int(out)


def net_snmp_env(directory: Path) -> dict[str, str]:
    """No system or user snmp.conf, no MIBs, state in the given directory."""
    (directory / "conf").mkdir(exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SNMPCONFPATH": str(directory / "conf"),
        "SNMP_PERSISTENT_DIR": str(directory / "persist"),
        "MIBS": "",
        "HOME": str(directory),
    }


LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_VARBINDS = (
    "1.3.6.1.2.1.2.2.1.1.2", "i", "2",
    "1.3.6.1.2.1.2.2.1.2.2", "s", "eth1",
)  # fmt: skip


async def valid_traps(
    port: int,
    env: dict[str, str],
    *,
    count: int,
    source: str,
    seconds: float,
    credentials: Sequence[str] = ("-v", "2c", "-c", "public"),
) -> int:
    """Send ``count`` linkDown traps with snmptrap from ``source``, spread over ``seconds``.

    Returns how many snmptrap runs succeeded (a trap is fire-and-forget:
    success means it was sent).
    """
    assert source.startswith("127.") and count <= 1000
    loop = asyncio.get_running_loop()
    start = loop.time()
    ok = 0
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * seconds / count - loop.time()))
        proc = await asyncio.create_subprocess_exec(
            "snmptrap", *credentials, f"--clientaddr={source}", f"127.0.0.1:{port}",
            "", LINK_DOWN, *IF_VARBINDS,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await asyncio.wait_for(proc.wait(), timeout=15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        ok += proc.returncode == 0
    return ok


async def capture(env: dict[str, str], credentials: Sequence[str]) -> bytes:
    """The bytes one snmptrap run sends (a linkDown), caught on a plain socket."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Catch, local_addr=("127.0.0.1", 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        proc = await asyncio.create_subprocess_exec(
            "snmptrap", *credentials, f"127.0.0.1:{port}", "", LINK_DOWN, *IF_VARBINDS, env=env
        )
        await asyncio.wait_for(proc.wait(), timeout=15)
        return await asyncio.wait_for(protocol.caught, timeout=5)
    finally:
        transport.close()


class _Catch(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.caught: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.caught.done():
            self.caught.set_result(data)


# The credentials of the trap lab, shared by the flood tests and bench.traps_flood.
ENGINE = "0x8000000001020304"
V2C = ("-v", "2c", "-c", "public")
V3: tuple[str, ...] = (
    *("-v", "3", "-e", ENGINE, "-u", "noc", "-l", "authPriv", "-a", "SHA", "-A", "authkey-123"),
    *("-x", "AES", "-X", "privkey-456"),
)
V3_BAD_HMAC = (*V3[:11], "wrong-auth-key", *V3[12:])
SECTION = {
    "listen": "127.0.0.1:0",
    "communities": ["public"],
    "users": [
        {
            "user": "noc",
            "auth_protocol": "sha",
            "auth_key": "authkey-123",
            "priv_protocol": "aes128",
            "priv_key": "privkey-456",
            "engine_ids": [ENGINE],
        }
    ],
}
