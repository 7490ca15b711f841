"""The malloc arena limit, seen in glibc's own per-arena statistics of a real process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.daemon_process import REPO

# Eight threads allocate at the same time (a barrier lines them up), then glibc
# prints one "Arena N:" block per arena in use (malloc_stats, on stderr).
PROGRAM = textwrap.dedent(
    """
    import ctypes, sys, threading
    from monitor.allocator import limit_arenas
    print(limit_arenas() if sys.argv[1] == "limit" else "off")
    barrier = threading.Barrier(8)
    def work():
        barrier.wait()
        keep = [bytearray(1000) for _ in range(20000)]
        barrier.wait()
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL(None).malloc_stats()
    """
)


def _arenas(mode: str, env: dict[str, str]) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip(), done.stderr.count("Arena ")


@pytest.fixture
def env() -> dict[str, str]:
    if not hasattr(__import__("ctypes").CDLL(None), "malloc_stats"):
        pytest.skip("not glibc: no arenas to limit")
    return {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}


def test_threads_share_two_arenas_once_limited(env: dict[str, str]) -> None:
    said, arenas = _arenas("limit", env)
    assert said == "True" and 1 <= arenas <= 2
    said, arenas = _arenas("off", env)  # the same threads without the limit
    assert said == "off" and arenas > 2


def test_the_operators_malloc_arena_max_wins(env: dict[str, str]) -> None:
    said, arenas = _arenas("limit", {**env, "MALLOC_ARENA_MAX": "4"})
    assert said == "False" and 2 < arenas <= 4
