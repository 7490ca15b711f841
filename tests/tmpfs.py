"""A small tmpfs for tests of a full or read-only disk (needs root; skips otherwise).

``with tmpfs(path, "2m") as mnt:`` mounts a tmpfs of that size on ``path``
and unmounts it at exit. :func:`fill` takes every free byte, :func:`free`
gives them back; :func:`read_only` remounts it read-only.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = "filler.bin"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    path.mkdir(parents=True, exist_ok=True)
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))  # a process still holds it: detach now


def fill(mnt: Path) -> int:
    """Write a file until the file system is full; returns the bytes taken."""
    written = 0
    fd = os.open(mnt / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 20, 4096, 1):  # big steps, then the last pages and bytes
            with contextlib.suppress(OSError):
                while True:
                    written += os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return written


def free(mnt: Path) -> None:
    (mnt / FILLER).unlink(missing_ok=True)


def read_only(mnt: Path) -> None:
    result = _run("mount", "-o", "remount,ro", str(mnt))
    assert result.returncode == 0, result.stderr
