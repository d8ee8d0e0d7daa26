"""pipeline/memory.py: a freed large array's memory is reused, not faulted in (and zeroed) again."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# page faults while a second 200 MB array is filled after a first one was freed, and numpy's huge-page
# advice afterwards
REFILL_FAULTS = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    from pipeline.memory import keep_freed_memory
    kept = keep_freed_memory() if sys.argv[1] == "keep" else None
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    first = np.ones(25_000_000)
    del first
    before = faults()
    second = np.ones(25_000_000)
    multiarray = getattr(np, "_core", None) or np.core
    print(kept, faults() - before, multiarray.multiarray._get_madvise_hugepage())
""")


def refill(mode: str, *, huge_pages: str) -> tuple[str, int, str]:
    done = subprocess.run([sys.executable, "-c", REFILL_FAULTS.format(root=str(ROOT)), mode],
                          capture_output=True, text=True, check=True,
                          env={"NUMPY_MADVISE_HUGEPAGE": huge_pages, "PATH": "/usr/bin:/bin"})
    kept, faults, advice = done.stdout.split()
    return kept, int(faults), advice


def test_a_freed_array_is_reused_without_faulting_its_pages_in_again() -> None:
    kept, faults_kept, _ = refill("keep", huge_pages="0")
    if kept != "True":
        pytest.skip("the C library is not glibc: memory is allocated as before")
    _, faults_default, _ = refill("default", huge_pages="0")   # small pages, so that faults count pages
    pages = 200_000_000 // 4096
    assert faults_default > pages // 2      # glibc's default: the pages come back from the kernel, zeroed
    assert faults_kept < pages // 100       # kept: the freed block is reused as it is


def test_numpy_stops_asking_for_huge_pages() -> None:
    assert refill("default", huge_pages="1")[2] == "True"
    assert refill("keep", huge_pages="1")[2] == "False"
