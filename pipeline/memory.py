"""How the model stages take memory: freed arrays are reused, and pages are small.

The model stages build and drop arrays of a hundred megabytes and more, dozens of times (a design
matrix per variant, its demeaned copy, the fitted values). By default glibc hands every freed block
over 32 MB back to the kernel, and the kernel zeroes the pages again when the next array touches
them; numpy also asks for transparent huge pages for its large arrays, and a huge page is slow to
come by on a shared (virtual) machine: 1 GB touched for the first time took 0.1 to 3.7 s in huge
pages, 0.5 to 0.9 s in small ones. At scale 1.0 a third of `robustness`'s time was the kernel's.

Kept in the heap, a freed block is reused as it is. The price is resident memory that stays at the
stage's high mark while it runs (some 300 MB more per process at scale 1.0), which the run's memory
target allows; it is handed back when the stage ends. The pass over the registers keeps the defaults:
its arrays are few, and its random lookups gain from huge pages what their faults cost.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_UP_TO = 2**31 - 1   # bytes free at the heap's top before it is trimmed (mallopt takes an int)


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (it has mallopt and malloc_trim), else None."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None:
            libc.mallopt.argtypes, libc.mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            libc.malloc_trim.argtypes, libc.malloc_trim.restype = (ctypes.c_size_t,), ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def keeps_freed_memory(stage: Callable[P, R]) -> Callable[P, R]:
    """Run `stage` with freed memory kept in the heap and no huge-page advice for numpy's arrays; then
    restore numpy's advice and hand the heap's free memory back, so that the steps after it (and the
    processes they fork) do not carry the stage's high mark. glibc's limits stay as the stage set them:
    put back to their first values they would also undo glibc's own tuning since the process started
    (the manifest step, run after the models, took 0.7 instead of 0.5 s)."""
    @functools.wraps(stage)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        libc, advice = _glibc(), _set_huge_page_advice(False)
        kept = (libc is not None and bool(libc.mallopt(M_MMAP_MAX, 0))
                and bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_UP_TO)))
        try:
            return stage(*args, **kwargs)
        finally:
            _set_huge_page_advice(advice)
            if kept:
                libc.malloc_trim(0)
    return run


def _set_huge_page_advice(enabled: bool) -> bool:
    """Set whether numpy advises huge pages for its large arrays; return the previous setting."""
    multiarray = getattr(np, "_core", None) or np.core   # numpy 2 or 1.26
    set_advice = getattr(multiarray.multiarray, "_set_madvise_hugepage", None)
    return bool(set_advice(enabled)) if set_advice is not None else enabled
