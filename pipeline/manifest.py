"""The run manifest: what went in (hashes, row counts), with which settings and code, and what came out."""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from pipeline import runlog
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.io import write_json
from pipeline.registers.contract import TABLES
from pipeline.registers.load import locate

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "duckdb", "pyreadstat", "matplotlib",
            "typer", "rich", "pyfixest")


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=64)
def _remembered_sha256(path: Path, version: tuple[int, ...]) -> str:
    return sha256(path)


def remembered_sha256(path: Path) -> str:
    """sha256 of an input file, read again only when its size, inode or times changed: `all` writes the
    manifest twice, and the inputs are most of the bytes hashed."""
    s = path.stat()
    return _remembered_sha256(path, (s.st_size, s.st_ino, s.st_mtime_ns, s.st_ctime_ns))


def sha256_many(paths: list[Path], *, digest=sha256) -> list[str]:
    """`digest` of each file, two at a time (hashing releases the GIL), largest first so that both
    threads end together."""
    order = sorted(range(len(paths)), key=lambda i: -paths[i].stat().st_size)
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = dict(zip(order, pool.map(lambda i: digest(paths[i]), order)))
    return [digests[i] for i in range(len(paths))]


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def package_versions() -> dict[str, str | None]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def input_files(settings: Settings, row_counts: dict[str, int]) -> dict[str, dict]:
    located = {name: path for name in TABLES if (path := locate(settings, name)) is not None}
    digests = dict(zip(located, sha256_many(list(located.values()), digest=remembered_sha256)))
    return {name: {"file": path.name, "sha256": digests[name], "bytes": path.stat().st_size,
                   "rows": row_counts.get(name)} for name, path in located.items()}


def synthetic_seed(settings: Settings) -> int | None:
    truth = settings.paths.input / "truth.json"
    if settings.seed is not None:
        return settings.seed
    if truth.exists():
        return json.loads(truth.read_text(encoding="utf-8")).get("seed")
    return None


def build(settings: Settings) -> dict:
    """Assemble the manifest from the input directory, the run log and the output directory."""
    events = runlog.read(settings.paths.run_log)
    row_counts = {e["table"]: e["rows"] for e in events if e.get("event") == "rows"}
    timings: dict[str, float] = {}
    for e in events:
        if e.get("event") == "timing":
            timings[e["stage"]] = e["seconds"]  # the latest run of each stage
    suppressed = {e["output"]: e["cells"] for e in events if e.get("event") == "suppressed"}
    outputs = sorted(p for p in settings.paths.out.rglob("*")
                     if p.is_file() and p.name not in ("manifest.json", "run_log.jsonl") and not p.name.startswith("."))
    config = {k: v for k, v in settings.source.items() if k != "paths"}
    return {
        "inputs": input_files(settings, row_counts),
        "configuration": config,
        "paths": {"input": str(settings.paths.input), "work": str(settings.paths.work),
                  "out": str(settings.paths.out)},
        "versions": package_versions(),
        "git_commit": git_commit(),
        "seed": synthetic_seed(settings),
        "timings_seconds": {k: round(v, 3) for k, v in sorted(timings.items())},
        "suppressed_cells": suppressed,
        "outputs": {str(p.relative_to(settings.paths.out)): digest for p, digest in zip(outputs, sha256_many(outputs))},
    }


def run(settings: Settings) -> Path:
    return write_json(build(settings), settings.paths.manifest)
