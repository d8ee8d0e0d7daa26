"""The `disclosure-check` command: scan an output directory before anything leaves the secure room.

It fails on (1) any file type that is not a table, text or figure, (2) a column that holds person-level
variables, (3) any cell value equal to a person id of the panel, (4) a table with as many rows as a
person-level extract would have, and (5) a persons count from 1 to min_persons-1 left unsuppressed.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pipeline.config import Settings

RELEASABLE_SUFFIXES = {".csv", ".md", ".tex", ".png", ".pdf", ".svg", ".json", ".jsonl", ".txt"}
PERSON_LEVEL_COLUMNS = {"lopenr", "mor_lopenr", "far_lopenr", "partner_lopenr", "foedselsaar",
                        "innvandringsdato", "yrkinnt", "fodselsnummer", "fnr"}
COUNT_COLUMN = re.compile(r"^(n_persons|persons(_in|_out|_excluded)?|n_personer|antall_personer)$")
MAX_AGGREGATE_ROWS = 50_000


def person_ids(settings: Settings) -> set[str]:
    panel = settings.paths.person_year
    if not panel.exists():
        return set()
    return set(pd.read_parquet(panel, columns=["lopenr"])["lopenr"].astype(str).unique())


def check_table(path: Path, frame: pd.DataFrame, ids: set[str], min_persons: int, marker: str) -> list[str]:
    """Problems of one CSV table (pure apart from the arguments)."""
    name = str(path)
    problems = []
    person_columns = sorted(PERSON_LEVEL_COLUMNS & {c.lower() for c in frame.columns})
    if person_columns:
        problems.append(f"{name}: person-level column(s) {person_columns}")
    if len(frame) > MAX_AGGREGATE_ROWS:
        problems.append(f"{name}: {len(frame):,} rows looks like a row-level table (limit {MAX_AGGREGATE_ROWS:,})")
    for column in frame.columns if ids else ():
        values = frame[column].astype(str)
        hits = values.isin(ids)
        numeric = pd.to_numeric(values.where(values != marker), errors="coerce").notna() | (values == marker)
        # a number that happens to equal a numeric id is only a leak when the column is mostly ids
        if hits[~numeric].any() or hits.sum() > 0.5 * max(len(values), 1):
            problems.append(f"{name}: column '{column}' has {int(hits.sum())} cell(s) equal to a person id "
                            f"of the panel")
    for column in frame.columns:
        if not COUNT_COLUMN.match(str(column)):
            continue
        text = frame[column].astype(str)
        numbers = pd.to_numeric(text.where(text != marker), errors="coerce")
        small = numbers[(numbers > 0) & (numbers < min_persons)]
        if len(small):
            problems.append(f"{name}: column '{column}' has {len(small)} unsuppressed count(s) below "
                            f"{min_persons} (rows {', '.join(str(i + 2) for i in small.index[:5])})")
    return problems


def run(settings: Settings) -> list[str]:
    """All problems found in settings.paths.out (empty list: the directory may be released)."""
    out = settings.paths.out
    if not out.exists():
        return [f"{out}: output directory does not exist"]
    ids = person_ids(settings)
    problems = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            problems.append(f"{path}: leftover temporary file")
            continue
        if path.suffix not in RELEASABLE_SUFFIXES:
            problems.append(f"{path}: file type {path.suffix or '(none)'} is not releasable")
            continue
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            problems += check_table(path, frame, ids, settings.min_persons, settings.suppression_marker)
        elif path.suffix in {".md", ".tex", ".json", ".jsonl", ".txt"} and ids:
            tokens = set(re.findall(r"[A-Za-z0-9_]+", path.read_text(encoding="utf-8", errors="replace")))
            leaked = tokens & ids
            if leaked:
                problems.append(f"{path}: {len(leaked)} person id(s) in the text")
    return problems
