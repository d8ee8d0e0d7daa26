"""How the model stages take memory: freed arrays are reused, and pages are small.

The model stages build and drop arrays of a hundred megabytes and more, dozens of times (a design
matrix per variant, its demeaned copy, the fitted values). By default glibc hands every freed block
over 32 MB back to the kernel, and the kernel zeroes the pages again when the next array touches
them; numpy also asks for transparent huge pages for its large arrays, and a huge page is slow to
come by on a shared (virtual) machine: 1 GB touched for the first time took 0.1 to 3.7 s in huge
pages, 0.5 to 0.9 s in small ones. At scale 1.0 a third of `robustness`'s time was the kernel's.

Kept in the heap, a freed block is reused as it is. The price is resident memory that stays at the
stage's high mark (some 300 MB more per process at scale 1.0), which the run's memory target allows.
The pass over the registers keeps the defaults: its arrays are few, and its random lookups gain from
huge pages what their faults cost.
"""
from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_UP_TO = 2**31 - 1   # bytes free at the heap's top before it is trimmed (mallopt takes an int)


def _mallopt():
    """glibc's mallopt, or None where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return None
    if mallopt is not None:
        mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory() -> bool:
    """For the rest of this process: serve every block from the heap, keep freed memory there, and no
    huge-page advice for numpy's arrays. False where the C library is not glibc (numpy's advice is
    still turned off)."""
    multiarray = getattr(np, "_core", None) or np.core   # numpy 2 or 1.26
    set_advice = getattr(multiarray.multiarray, "_set_madvise_hugepage", None)
    if set_advice is not None:
        set_advice(False)
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO))
