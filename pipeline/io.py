"""Atomic, deterministic writing of every file the pipeline produces.

Each file is written to a temporary sibling and renamed into place on success, so a stage that
fails or is killed half way leaves the previous output intact.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create a directory for confidential work files, readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_path(path: Path, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if private:
            os.chmod(tmp, PRIVATE_FILE_MODE)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_csv(frame: pd.DataFrame, path: Path, *, float_format: str = "%.6g") -> Path:
    """CSV with a stable layout: UTF-8, comma, '\\n' line ends, no index; `float_format` also for the
    numbers in text columns (a statistic beside the suppression marker)."""
    out = frame.copy()
    for column in out.columns[out.dtypes == object]:
        out[column] = out[column].map(lambda v: float_format % v if isinstance(v, float) and v == v else v)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n")
    return path


def write_text(text: str, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(obj: object, path: Path) -> Path:
    return write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", path)


def write_parquet(frame: pd.DataFrame, path: Path, *, private: bool = True) -> Path:
    """Parquet for work files (person level: owner-only permissions by default)."""
    with atomic_path(path, private=private) as tmp:
        frame.to_parquet(tmp, index=False)
    return path
