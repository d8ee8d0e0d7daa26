"""The run log: one JSON line per event (stage timings, suppressed-cell counts), in the output dir."""
from __future__ import annotations

import json
import time
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
