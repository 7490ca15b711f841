"""The C allocator's thresholds, pinned, so that a scrape's text goes back to the system.

glibc's ``malloc`` serves a request above its mmap threshold with a mapping
of its own, unmapped when freed, and smaller ones from its heaps (one arena
per thread that allocates; the scrape renders in a worker thread). By default
both thresholds move: freeing a mapped block raises the mmap threshold to that
block's size (up to 32 MiB) and the trim threshold, the free memory a heap
keeps at its top, to twice that. A scrape at 50,000 targets renders a few
dozen family texts of 2-25 MB and frees them: after the first scrape they all
came from the heaps, which kept them, about 150 MB more RSS after six scrapes
than before the first (bench/README.md, issue 14 session 6). Pinned (setting
a threshold turns its adjustment off), blocks from :data:`MMAP_THRESHOLD` up
are mapped and unmapped, and a heap returns what it has free above
:data:`TRIM_THRESHOLD` at its top.

What it costs: a ``mmap``/``munmap`` pair and fresh pages for each block of
256 KiB or more, a few dozen per scrape and a few per reload.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""``mallopt`` parameters (glibc's ``malloc.h``)."""

MMAP_THRESHOLD = 256 * 1024
"""Blocks this large or larger get a mapping of their own (glibc starts at 128 KiB)."""
TRIM_THRESHOLD = 1024 * 1024
"""Free memory above this at a heap's top goes back to the system."""


def pin_malloc_thresholds() -> bool:
    """Pin glibc's mmap and trim thresholds for this process; False (nothing done)
    where the C library has no ``mallopt`` or refuses the values."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: its C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    pinned = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not pinned:
        log.info("malloc thresholds left as the C library sets them")
    return pinned
