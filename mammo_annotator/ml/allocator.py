"""Keep freed memory in the process for the next step (glibc's allocator).

A training step allocates and frees tensors of 10-30 MB. By default glibc serves such blocks
with fresh mmap calls, or gives the top of the heap back to the kernel once they are freed, so
every step touches new pages again: about 700,000 page faults and 2 s of kernel time in a 3,000
image training (benchmarks/bench_heads.py). Keeping freed blocks for reuse costs no memory
beyond the peak the training needs anyway.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit systems
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Serve blocks up to 32 MB from the heap and keep up to 1 GB of freed heap; True when set
    (glibc on Linux), False where the allocator is another one and nothing changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
