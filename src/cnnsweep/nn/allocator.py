"""glibc's malloc told to keep the memory a training step frees, for the next step to reuse.

A training step allocates and frees the same few dozen arrays of 0.1-10 MB every time (layer
outputs, gradients, the padded inputs). glibc hands freed memory at the top of a heap back to
the kernel once it exceeds its trim threshold, and a second thread (the batch split's) has a heap
of its own that shrinks the same way; the next step faults the pages back in, each zeroed by the
kernel. Measured here (`ru_minflt`, float32, batch 100): 1,500-2,000 page faults per
DeepConvNet step split over two threads (8-10 ms of system time in an 88 ms step) and 500-1,100
per SimpleConvNet step; with the thresholds below, 0-30. Steps in alternating processes, medians:
SimpleConvNet at two threads 15.2 → 12.9 ms, DeepConvNet 82.6 → 80.5 ms.

Setting either threshold turns glibc's dynamic thresholds off, so both are set, to the largest
values its dynamic rule reaches on 64-bit (an mmap threshold of 32 MiB, a trim threshold twice
that): arrays above 32 MiB are mapped and unmapped as before, and a process keeps at most
64 MiB of freed memory per heap instead of giving it back. Process-wide and one way, so the
engine never calls it itself: a run does (experiment.py), and so do the benchmarks, as a run.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20
TRIM_THRESHOLD_BYTES = 64 << 20


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (above) for this process; False where the C
    library is not glibc or refuses the values (nothing is changed then)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    mallopt = ctypes.CDLL(None).mallopt
    # The mmap threshold first: a trim threshold set alone would leave the mmap threshold fixed
    # at its 128 KiB start, and every array above it mapped afresh (a step twice as slow).
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
