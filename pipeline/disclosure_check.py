"""The `disclosure-check` command: scan an output directory before anything leaves the secure room.

One table at a time it fails on (1) any file type that is not a table, text or figure, (2) a column
that holds person-level variables, (3) any cell value equal to a person id of the panel, (4) a table
with as many rows as a person-level extract would have, (5) a persons count from 1 to min_persons − 1
left unsuppressed, (6) a count not rounded to the `[disclosure] count_base` or a share with more
decimals than `share_decimals`, and (7) kommunebidrag without a row for every municipality and
group. Over the whole release it runs the differencing attacks of pipeline/differencing.py and fails
when a suppressed or unpublished count below min_persons comes back exactly.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import differencing
from pipeline.config import Settings
from pipeline.disclosure import Policy

RELEASABLE_SUFFIXES = {".csv", ".md", ".tex", ".png", ".pdf", ".svg", ".json", ".jsonl", ".txt"}
PERSON_LEVEL_COLUMNS = {"lopenr", "mor_lopenr", "far_lopenr", "partner_lopenr", "foedselsaar",
                        "innvandringsdato", "yrkinnt", "fodselsnummer", "fnr"}
PERSONS_COLUMN = re.compile(r"^(n_persons|persons(_in|_out|_excluded)?|n_personer|antall_personer)$")
COUNT_COLUMN = re.compile(r"^(n_persons|n_person_years|(persons|person_years)(_in|_out|_excluded)?|befolkning_ref)$")
SHARE_COLUMN = re.compile(r"^share_pct$")
MAX_AGGREGATE_ROWS = 50_000


def person_ids(settings: Settings) -> frozenset[str]:
    """Ids of the study population (WORK), read once: what a leaked id would look like."""
    for path, column in ((settings.paths.refugees, "lopenr"), (settings.paths.person_year, "lopenr")):
        if path.exists():
            return frozenset(pd.read_parquet(path, columns=[column])[column].astype(str).unique().tolist())
    return frozenset()


def _numbers(text: pd.Series, marker: str) -> pd.Series:
    return pd.to_numeric(text.where(text != marker), errors="coerce")


def rows(mask: np.ndarray) -> str:
    """The first offending lines of a CSV file (line 1 is the header)."""
    return ", ".join(str(i + 2) for i in np.flatnonzero(mask)[:5])


def check_table(path: Path, frame: pd.DataFrame, ids: frozenset[str], policy: Policy) -> list[str]:
    """Problems of one CSV table read as text (pure apart from the arguments)."""
    name = str(path)
    problems = []
    person_columns = sorted(PERSON_LEVEL_COLUMNS & {c.lower() for c in frame.columns})
    if person_columns:
        problems.append(f"{name}: person-level column(s) {person_columns}")
    if len(frame) > MAX_AGGREGATE_ROWS:
        problems.append(f"{name}: {len(frame):,} rows looks like a row-level table (limit {MAX_AGGREGATE_ROWS:,})")
    for column in frame.columns:
        values = frame[column]
        hit_values = ids.intersection(values.unique().tolist()) if ids else ()
        if hit_values:
            hits = values.isin(hit_values)
            numeric = _numbers(values, policy.marker).notna() | (values == policy.marker)
            # a number that happens to equal a numeric id is only a leak when the column is mostly ids
            if hits[~numeric].any() or hits.sum() > 0.5 * max(len(values), 1):
                problems.append(f"{name}: column '{column}' has {int(hits.sum())} cell(s) equal to a person id "
                                f"of the panel")
        numbers = _numbers(values, policy.marker)
        if PERSONS_COLUMN.match(str(column)):
            small = ((numbers > 0) & (numbers < policy.min_persons)).to_numpy()
            if small.any():
                problems.append(f"{name}: column '{column}' has {int(small.sum())} unsuppressed count(s) below "
                                f"{policy.min_persons} (rows {rows(small)})")
        if COUNT_COLUMN.match(str(column)) and policy.count_base > 1:
            unrounded = (numbers.notna() & (numbers % policy.count_base != 0)).to_numpy()
            if unrounded.any():
                problems.append(f"{name}: column '{column}' has {int(unrounded.sum())} count(s) not rounded to "
                                f"a multiple of {policy.count_base} (rows {rows(unrounded)})")
        if SHARE_COLUMN.match(str(column)):
            scale = 10.0 ** policy.share_decimals
            precise = (numbers.notna() & ((numbers * scale - (numbers * scale).round()).abs() > 1e-6)).to_numpy()
            if precise.any():
                problems.append(f"{name}: column '{column}' has {int(precise.sum())} share(s) with more than "
                                f"{policy.share_decimals} decimal(s) (rows {rows(precise)})")
    return problems


def check_contribution_rows(path: Path, frame: pd.DataFrame) -> list[str]:
    """kommunebidrag must hold every municipality in every group: a missing row tells 'none' from 'few'."""
    if not {"gruppe", "kommnr_2020"} <= set(frame.columns):
        return []
    sets = frame.groupby("gruppe")["kommnr_2020"].agg(frozenset)
    every = frozenset().union(*sets) if len(sets) else frozenset()
    short = {gruppe: len(every - codes) for gruppe, codes in sets.items() if codes != every}
    if short:
        return [f"{path}: groups {sorted(short)} lack rows for some municipalities ({short}); write every "
                f"municipality x group row, with the marker for none and for few alike"]
    return []


def run(settings: Settings) -> list[str]:
    """All problems found in settings.paths.out (empty list: the directory may be released)."""
    out = settings.paths.out
    if not out.exists():
        return [f"{out}: output directory does not exist"]
    policy = settings.disclosure
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
            problems += check_table(path, frame, ids, policy)
            if path.name == "kommunebidrag.csv":
                problems += check_contribution_rows(path, frame)
        elif path.suffix in {".md", ".tex", ".json", ".jsonl", ".txt"} and ids:
            tokens = set(re.findall(r"[A-Za-z0-9_]+", path.read_text(encoding="utf-8", errors="replace")))
            leaked = tokens & ids
            if leaked:
                problems.append(f"{path}: {len(leaked)} person id(s) in the text")
    return problems + differencing.attack(out, policy)
