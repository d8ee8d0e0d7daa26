"""pipeline/memory.py: within a model stage a freed large array's memory is reused, not faulted in (and
zeroed) again; after it, numpy's huge-page advice is back and the memory is handed back."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# page faults while a second 200 MB array is filled after a first one was freed, inside a stage when
# `kept`; numpy's huge-page advice inside and after; resident memory after the stage
REFILL = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, {root!r})
    import numpy as np
    from pipeline import memory
    multiarray = getattr(np, "_core", None) or np.core
    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    def resident_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4096 / 2**20
    def stage():
        first = np.ones(25_000_000)
        del first
        before = faults()
        second = np.ones(25_000_000)
        return faults() - before, multiarray.multiarray._get_madvise_hugepage()
    run = memory.keeps_freed_memory(stage) if sys.argv[1] == "kept" else stage
    refill_faults, advice_inside = run()
    print(json.dumps({{"glibc": memory._glibc() is not None, "refill_faults": refill_faults,
                      "advice_inside": advice_inside, "advice_after": multiarray.multiarray._get_madvise_hugepage(),
                      "resident_after_mib": resident_mib()}}))
""")


def refill(mode: str, *, huge_pages: str) -> dict:
    done = subprocess.run([sys.executable, "-c", REFILL.format(root=str(ROOT)), mode],
                          capture_output=True, text=True, check=True,
                          env={"NUMPY_MADVISE_HUGEPAGE": huge_pages, "PATH": "/usr/bin:/bin"})
    return json.loads(done.stdout)


def test_a_freed_array_is_reused_inside_the_stage_and_handed_back_after_it() -> None:
    kept = refill("kept", huge_pages="0")   # small pages, so that faults count pages
    if not kept["glibc"]:
        pytest.skip("the C library is not glibc: memory is allocated as before")
    default = refill("default", huge_pages="0")
    pages = 200_000_000 // 4096
    assert default["refill_faults"] > pages // 2   # glibc's default: the pages come back from the kernel, zeroed
    assert kept["refill_faults"] < pages // 100    # kept: the freed block is reused as it is
    # the stage's 200 MB arrays are freed and handed back: what stays is the interpreter and numpy
    assert kept["resident_after_mib"] < default["resident_after_mib"] + 50


def test_numpy_asks_for_huge_pages_only_outside_the_stage() -> None:
    kept, default = refill("kept", huge_pages="1"), refill("default", huge_pages="1")
    assert default["advice_inside"] and default["advice_after"]
    assert not kept["advice_inside"] and kept["advice_after"]
