"""Pinned malloc thresholds: a large block freed does not make the next ones heap memory."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

# In a fresh interpreter, so that the thresholds are glibc's own at the start:
# map and free a 20 MB block (which, unpinned, raises the mmap threshold to 20 MB),
# then say how many bytes of mappings a 4 MB block added.
SCRIPT = """
import ctypes, sys
from monitor.engine.heap import pin_malloc_thresholds

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "pinned":
    assert pin_malloc_thresholds()
big = bytearray(20_000_000)
del big
before = libc.mallinfo2().hblkhd
block = bytearray(4_000_000)
print(libc.mallinfo2().hblkhd - before)
"""


def _has_mallinfo2() -> bool:
    return hasattr(ctypes.CDLL(None), "mallinfo2")


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc 2.33 or later (mallinfo2)")
@pytest.mark.parametrize(("mode", "mapped"), [("pinned", True), ("glibc default", False)])
def test_a_block_over_the_pinned_threshold_is_mapped_after_a_larger_one_was_freed(
    mode: str, mapped: bool
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    added = int(out.stdout)
    # pinned: its own mapping, unmapped when freed; by default (the control, which
    # shows what pinning is for): carved from the heap, which keeps it once freed
    assert (added >= 4_000_000) is mapped, added
