"""The run manifest: what went in (hashes, row counts), with which settings and code, and what came out."""
from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from pipeline import runlog
from pipeline.config import PROJECT_ROOT, Settings
from pipeline.io import write_json
from pipeline.load import locate
from pipeline.contract import TABLES

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "duckdb", "pyreadstat", "matplotlib",
            "typer", "rich", "pyfixest")


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


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
    out = {}
    for name in TABLES:
        path = locate(settings, name)
        if path is not None:
            out[name] = {"file": path.name, "sha256": sha256(path), "bytes": path.stat().st_size,
                         "rows": row_counts.get(name)}
    return out


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
        "outputs": {str(p.relative_to(settings.paths.out)): sha256(p) for p in outputs},
    }


def run(settings: Settings) -> Path:
    return write_json(build(settings), settings.paths.manifest)
