"""The C allocator's arenas for a long-running daemon with worker threads (glibc only).

glibc gives a thread that allocates while another holds the main arena an arena
of its own (up to eight per core), and what is freed there stays with that
arena. The daemon's threads (the history and outbox writers, the config loader,
the scrape's join and gzip, the default executor) each kept tens of megabytes
that way after a large load or scrape: at 50,000 targets, 50 MB of RSS after one
interval and 80 MB after the scrapes (bench/README.md, issue 14 session 5). Two
arenas bound that at no measurable cost: these threads mostly wait on the disk,
the loop or zlib (which allocates once per call), not on the allocator.

Called once, before any thread starts. ``MALLOC_ARENA_MAX`` in the environment
wins (glibc has read it already); on another C library this does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_ARENA_MAX = -8
"""``mallopt`` parameter number of the arena limit (glibc's malloc.h)."""
ARENAS = 2


def limit_arenas(count: int = ARENAS) -> bool:
    """Allow at most ``count`` malloc arenas; says whether the limit was set here."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # the operator's choice, already applied by glibc
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False  # not glibc
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, count))
