"""Disclosure control for every descriptive output (methods.md §7).

Rule: a cell is the set of persons a statistic is computed from, counted as distinct persons
(`lopenr`), not person-years. A cell with fewer than `min_persons` persons is suppressed: each of its
statistic columns (and its count columns) is replaced by an explicit marker, never 0 or blank.
A share is judged by its denominator: a share computed from a group of >= `min_persons` persons is
shown even if its numerator is small, as the report does (no numerator counts are released).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PERSONS_COLUMN = "n_persons"


def suppress(
    frame: pd.DataFrame,
    *,
    stat_columns: Sequence[str],
    min_persons: int,
    marker: str,
    persons_column: str = PERSONS_COLUMN,
    count_columns: Sequence[str] = ("n_persons", "n_person_years"),
) -> tuple[pd.DataFrame, int]:
    """Replace statistics of cells with `persons_column` < `min_persons` by `marker`.

    Returns (frame, number of suppressed cells). Key columns are untouched; the suppressed columns
    become text columns holding the value or the marker. Counts present in `count_columns` are
    suppressed with the statistics (a count below the threshold is itself a small cell).
    """
    if persons_column not in frame.columns:
        raise KeyError(f"suppress: the frame has no persons-count column {persons_column!r}")
    missing = [c for c in stat_columns if c not in frame.columns]
    if missing:
        raise KeyError(f"suppress: statistic columns {missing} are not in the frame")
    persons = pd.to_numeric(frame[persons_column], errors="raise")
    small = (persons < min_persons).to_numpy()
    columns = list(dict.fromkeys([*stat_columns, *(c for c in count_columns if c in frame.columns)]))
    out = frame.copy()
    for column in columns:
        values = out[column].astype(object)
        values = values.where(~small, marker)
        out[column] = values
    return out, int(small.sum())


def to_numeric(frame: pd.DataFrame, columns: Sequence[str], *, marker: str) -> pd.DataFrame:
    """Read back a releasable table: the marker (and blanks) become NaN, the rest float."""
    out = frame.copy()
    for column in columns:
        if column not in out.columns:
            continue
        text = out[column].astype(object)
        text = text.where(text != marker, np.nan)
        out[column] = pd.to_numeric(text, errors="raise").astype(float)
    return out


def is_suppressed(series: pd.Series, *, marker: str) -> pd.Series:
    """Boolean mask of the cells that carry the marker."""
    return series.astype(object).eq(marker)


def suppress_small_counts(frame: pd.DataFrame, columns: Sequence[str], min_persons: int, marker: str) -> pd.DataFrame:
    """Tables of counts (the sample flow): each count from 1 to min_persons-1 becomes the marker.

    Zero and counts of at least min_persons stay; each count is its own cell.
    """
    out = frame.copy()
    for column in columns:
        values = out[column].astype(object)
        small = (frame[column] > 0) & (frame[column] < min_persons)
        out[column] = values.where(~small, marker)
    return out
