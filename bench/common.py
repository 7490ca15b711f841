"""Pieces every benchmark needs: process CPU from /proc, a child process (a free port is
``tests.helpers.free_port``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def wait_http(
    session: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    """Until ``url`` answers 200; fails early if ``proc`` (which serves it) exits."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(url) as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:g} s")


@contextlib.contextmanager
def process(command: Sequence[str], log: Path, **kw: object) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped (SIGTERM, then SIGKILL) when the block ends."""
    with log.open("ab") as out:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            list(command), stdout=out, stderr=subprocess.STDOUT, cwd=REPO, **kw
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
