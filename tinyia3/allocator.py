"""Keep freed memory for reuse, so that a training step's large arrays do not page-fault.

A step allocates and frees the same large activation arrays every time (at 8 × 128 tokens of
GPT-2 small: dozens of 3-12 MB arrays per block, and 100 MB chunks of logits). glibc's malloc
gives large blocks back to the kernel when they are freed, so the next step gets fresh pages that
the kernel must fault in and zero one 4 KB page at a time. Measured on the 2-core benchmark
machine: ~75,000 page faults and ~1 s of system time per step at 8 × 128 (step 5.2 s -> 4.2 s
once memory is kept), ~68,000 and ~3 s at 4 × 512 (step 13-16 s -> 10-12 s). Telling malloc
to keep freed blocks for reuse removes that cost. Peak resident memory is unchanged (it is set
by the largest step, which allocates what it needs either way), but memory freed after a step
stays with the process instead of going back to the system.

Applied when tinyia3 is imported, on Linux with glibc only; set TINYIA3_KEEP_FREED_MEMORY=0 in
the environment to leave malloc as it is.
"""

from __future__ import annotations

import ctypes
import os
import platform

# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Blocks below this come from the reusable heap instead of their own mmap: every activation of a
# GPT-2-small step and every logits chunk. Larger requests (rare) still get their own mapping.
MMAP_THRESHOLD = 1 << 30  # 1 GiB
# Never return free memory at the top of the heap to the system (glibc's mallopt documents -1 as
# "disable trimming"). Any finite limit would fail long sequences: a 4 × 512 step of GPT-2 small
# frees more than 2 GiB, the largest finite value mallopt (a C int) accepts.
TRIM_THRESHOLD = -1


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse. Returns whether it was applied."""
    if os.environ.get("TINYIA3_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False  # other allocators (macOS, musl) have their own policies and no mallopt
    libc = ctypes.CDLL("libc.so.6")
    # mallopt returns 1 on success. Setting both thresholds also switches off glibc's own
    # adjustment of them, which would otherwise only start after the first large free.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


KEPT = keep_freed_memory()
