"""Disclosure control for every releasable output (methods.md §7), over the whole release.

Every table that leaves the secure room goes through `release`, which applies three rules:

1. Primary suppression. A cell is the set of persons a statistic is computed from, counted as
   distinct persons. A cell with fewer than `min_persons` persons has each of its statistics and
   counts written as an explicit marker, never 0 or blank.
2. Rounding of counts. Every published count of persons or person-years is rounded to the nearest
   multiple of `count_base` (halves up). Tables that share a margin (the by-botid splits of one
   population, a figure beside a table total, the categories beside `alle`, in and out of the
   sample flow) then give a suppressed count back only as an interval: each rounded count hides up
   to count_base − 1 values, so a difference of two of them is unknown within about 2·count_base.
   Statistics derived from a count (per 1 000 inhabitants) are computed from the rounded count.
3. Precision of shares. Shares (percent) are published with `share_decimals` decimals. Exact
   shares beside rounded denominators would give a denominator back (k/n has few solutions near a
   rounded n); whole percent leave several.

What stays derivable, by design (the report's own practice): a share is judged by its denominator,
so share × n gives a numerator to within about n/200 + share·count_base/200 — a small numerator of a
large cell is approximately known. No count of a suppressed cell comes back exactly from the
released tables; `disclosure-check` verifies that by running the differencing attacks
(pipeline/differencing.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PERSONS_COLUMN = "n_persons"
COUNT_COLUMNS = ("n_persons", "n_person_years")


@dataclass(frozen=True)
class Policy:
    """The `[disclosure]` options: threshold, marker, rounding base of counts, decimals of shares."""

    min_persons: int = 30
    marker: str = "prikket"
    count_base: int = 5
    share_decimals: int = 0

    def count_interval(self, published: int) -> tuple[int, int]:
        """The integers a published count can stand for: round_count⁻¹(published)."""
        low = published - self.count_base // 2
        high = published + (self.count_base + 1) // 2 - 1
        return max(low, 0), high

    def share_half_width(self) -> float:
        """Half the last published digit of a share, in percentage points."""
        return 0.5 * 10.0 ** (-self.share_decimals)


@dataclass(frozen=True)
class Columns:
    """The columns of one releasable table: statistics of the cell, counts, shares (a subset of stats)."""

    stats: tuple[str, ...] = ()
    counts: tuple[str, ...] = COUNT_COLUMNS
    shares: tuple[str, ...] = ()
    persons: str = PERSONS_COLUMN
    whole: tuple[str, ...] = ()      # statistics that are whole numbers (ranks), written without decimals


def round_count(values: pd.Series | np.ndarray, base: int) -> np.ndarray:
    """Nearest multiple of `base`, halves up (counts are non-negative); NaN stays NaN."""
    x = np.asarray(values, dtype=float)
    return base * np.floor(x / base + 0.5)


def round_share(values: pd.Series | np.ndarray, decimals: int) -> np.ndarray:
    """Shares to `decimals` decimals, halves away from zero (not numpy's halves-to-even)."""
    x = np.asarray(values, dtype=float)
    scale = 10.0 ** decimals
    return np.sign(x) * np.floor(np.abs(x) * scale + 0.5 + 1e-9) / scale


def suppress(
    frame: pd.DataFrame,
    *,
    stat_columns: Sequence[str],
    min_persons: int,
    marker: str,
    persons_column: str = PERSONS_COLUMN,
    count_columns: Sequence[str] = COUNT_COLUMNS,
) -> tuple[pd.DataFrame, int]:
    """Primary suppression: statistics and counts of cells with `persons_column` < `min_persons` → marker.

    Returns (frame, number of suppressed cells). Key columns are untouched; the suppressed columns
    become text columns holding the value or the marker.
    """
    small = _small_cells(frame, persons_column, stat_columns, min_persons)
    columns = [*stat_columns, *(c for c in count_columns if c in frame.columns)]
    return _mark(frame.copy(), columns, small, marker), int(small.sum())


def release(frame: pd.DataFrame, *, policy: Policy, columns: Columns,
            also_hide: np.ndarray | None = None) -> tuple[pd.DataFrame, int]:
    """Rules 1–3 of the module docstring on one table; returns (releasable frame, suppressed cells).

    The threshold is judged on the exact count; counts are then rounded and shares limited, so a
    shown cell carries published values only. `also_hide` marks rows suppressed to protect others
    (`complementary_cells`).
    """
    small = _small_cells(frame, columns.persons, columns.stats, policy.min_persons)
    if also_hide is not None:
        small = small | np.asarray(also_hide, dtype=bool)
    counts = [c for c in columns.counts if c in frame.columns]
    out = frame.copy()
    for column in counts:
        out[column] = round_count(frame[column], policy.count_base)
    for column in columns.shares:
        out[column] = round_share(frame[column], policy.share_decimals)
    out = _mark(out, [*columns.stats, *counts], small, policy.marker)
    whole = [*counts, *columns.whole, *(columns.shares if policy.share_decimals == 0 else ())]
    return _integers(out, whole), int(small.sum())


def complementary_cells(frame: pd.DataFrame, *, margins: Sequence[Sequence[str]], cell: Sequence[str],
                        min_persons: int, persons_column: str = PERSONS_COLUMN) -> np.ndarray:
    """Rows to hide besides the small cells, so that no margin has exactly one hidden cell.

    Each margin (a list of key columns) groups cells that add up to a total another table can give
    (the by-botid population of a category and botid; a sex within it). Where a group has exactly one
    hidden cell, the smallest shown cell of the group is hidden too; margins are revisited until no
    group has a single hidden cell. Rows that repeat a cell (one per outcome) are hidden together.
    """
    cells = frame.drop_duplicates(list(cell))[list(dict.fromkeys([*cell, *(c for m in margins for c in m)]))]
    cells = cells.assign(_n=pd.to_numeric(frame.loc[cells.index, persons_column]).to_numpy())
    hidden = (cells["_n"] < min_persons).to_numpy().copy()
    extra = np.zeros(len(cells), dtype=bool)
    changed = True
    while changed:
        changed = False
        for margin in margins:
            for positions in cells.groupby(list(margin), sort=False).indices.values():
                if hidden[positions].sum() != 1:
                    continue
                shown = positions[~hidden[positions]]
                if shown.size:
                    smallest = shown[np.argmin(cells["_n"].to_numpy()[shown])]
                    hidden[smallest] = extra[smallest] = True
                    changed = True
    hide_keys = set(map(tuple, cells.loc[extra, list(cell)].to_numpy().tolist()))
    return np.array([key in hide_keys for key in map(tuple, frame[list(cell)].to_numpy().tolist())], dtype=bool)


def _small_cells(frame: pd.DataFrame, persons_column: str, stat_columns: Sequence[str],
                 min_persons: int) -> np.ndarray:
    if persons_column not in frame.columns:
        raise KeyError(f"the frame has no persons-count column {persons_column!r}")
    missing = [c for c in stat_columns if c not in frame.columns]
    if missing:
        raise KeyError(f"statistic columns {missing} are not in the frame")
    return (pd.to_numeric(frame[persons_column], errors="raise") < min_persons).to_numpy()


def _mark(frame: pd.DataFrame, columns: Sequence[str], small: np.ndarray, marker: str) -> pd.DataFrame:
    for column in dict.fromkeys(columns):
        frame[column] = frame[column].astype(object).where(~small, marker)
    return frame


def _integers(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Whole numbers written as integers (30, not 30.0) next to the marker."""
    for column in columns:
        frame[column] = frame[column].map(lambda v: int(v) if isinstance(v, (float, int, np.integer)) and not
                                          isinstance(v, bool) and np.isfinite(v) else v)
    return frame


def suppress_small_counts(frame: pd.DataFrame, columns: Sequence[str], *, policy: Policy) -> pd.DataFrame:
    """Tables of counts (the sample flow): each count from 1 to min_persons − 1 becomes the marker, and
    every other count is rounded to the base. Zero stays zero; each count is its own cell."""
    out = frame.copy()
    for column in columns:
        small = (frame[column] > 0) & (frame[column] < policy.min_persons)
        out[column] = pd.Series(round_count(frame[column], policy.count_base), index=frame.index).astype(object)
        out[column] = out[column].where(~small, policy.marker)
    return _integers(out, columns)


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
