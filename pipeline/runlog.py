"""The run log: one JSON line per event (stage timings, suppressed-cell counts), in the output dir."""
from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path


def record(log_path: Path, stage: str, event: str, **fields: object) -> None:
    """Append one event. Fields are aggregate numbers only: never person-level values."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    entry = {"stage": stage, "event": event, **fields}
    with open(log_path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def read(log_path: Path) -> list[dict]:
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]


class Timer:
    """Context manager measuring wall time in seconds."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def peak_memory_mib() -> float | None:
    """Peak resident memory of this process since the last reset (Linux VmHWM), in MiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory() -> bool:
    """Reset the peak so the next reading covers one stage only (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class StageMeter:
    """Wall time and peak memory of each named stage run in this process.

    Stages nest: a stage opened inside another is named `outer/inner`, and the outer stage's peak covers
    its inner ones. With `show=True` a spinner names the running stage on stderr and each finished stage
    is printed with its time (rich; plain lines when stderr is not a terminal).
    """

    def __init__(self, log_path: Path | None = None, *, show: bool = False) -> None:
        self.log_path = log_path
        self.stages: list[dict] = []
        self.open: list[dict] = []   # stages entered and not yet finished, outermost first
        self.console = None
        self.status = None
        if show:
            from rich.console import Console

            self.console = Console(stderr=True)

    def _fold_peak(self) -> None:
        """Carry the peak since the last reset into every open stage, before the next reset."""
        peak = peak_memory_mib()
        for entry in self.open:
            entry["peak_mib"] = max(entry["peak_mib"] or 0, peak or 0) if peak is not None else entry["peak_mib"]

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        full_name = "/".join([*(entry["stage"] for entry in self.open), name])
        self._fold_peak()
        reset_peak_memory()
        entry = {"stage": full_name, "seconds": 0.0, "peak_mib": None, "depth": len(self.open)}
        self.open.append(entry)
        start = time.perf_counter()
        try:
            if self.console is not None and self.status is None:
                with self.console.status(f"{full_name} ...") as self.status:
                    yield
            else:
                if self.status is not None:
                    self.status.update(f"{full_name} ...")
                yield
        finally:
            if entry["depth"] == 0:
                self.status = None
            self._fold_peak()
            self.open.pop()
            if self.status is not None and self.open:
                self.status.update(f"{self.open[-1]['stage']} ...")
        entry["seconds"] = time.perf_counter() - start
        self.stages.append(entry)
        peak = entry["peak_mib"]
        self._show(entry)
        if self.log_path is not None:
            record(self.log_path, full_name, "timing", seconds=round(entry["seconds"], 3),
                   peak_mib=None if peak is None else round(peak, 1))

    def _show(self, entry: dict) -> None:
        if self.console is not None:
            label = "  " * entry["depth"] + entry["stage"].rsplit("/", 1)[-1]
            self.console.print(f"[green]done[/green] {label:<30} {entry['seconds']:8.1f} s  "
                               f"{entry['peak_mib'] or 0:8.0f} MiB peak")

    def add_concurrent(self, meters: list[tuple[list[dict], int]]) -> None:
        """The stages of meters that ran at the same time in other processes (stages, process id), nested in
        the open stages here. The open stages' peak is the sum over the processes of each one's largest
        peak. The other meters logged their stages already."""
        prefix = "".join(entry["stage"] + "/" for entry in self.open[-1:])
        largest: dict[int, float] = {}
        for stages, process in meters:
            for entry in stages:
                nested = {**entry, "stage": prefix + entry["stage"], "depth": entry["depth"] + len(self.open)}
                self.stages.append(nested)
                self._show(nested)
                largest[process] = max(largest.get(process, 0.0), entry["peak_mib"] or 0.0)
        for entry in self.open:
            entry["peak_mib"] = max(entry["peak_mib"] or 0, sum(largest.values()))
