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

    With `show=True` a spinner names the running stage on stderr and each finished stage is printed
    with its time (rich; plain lines when stderr is not a terminal).
    """

    def __init__(self, log_path: Path | None = None, *, show: bool = False) -> None:
        self.log_path = log_path
        self.stages: list[dict] = []
        self.console = None
        if show:
            from rich.console import Console

            self.console = Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        reset_peak_memory()
        start = time.perf_counter()
        if self.console is not None:
            with self.console.status(f"{name} ..."):
                yield
        else:
            yield
        seconds = time.perf_counter() - start
        peak = peak_memory_mib()
        self.stages.append({"stage": name, "seconds": seconds, "peak_mib": peak})
        if self.console is not None:
            self.console.print(f"[green]done[/green] {name:<28} {seconds:8.1f} s  {peak or 0:8.0f} MiB peak")
        if self.log_path is not None:
            record(self.log_path, name, "timing", seconds=round(seconds, 3),
                   peak_mib=None if peak is None else round(peak, 1))
