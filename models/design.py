"""Regression blocks as data, the regression sample and the design matrix (methods.md §1–3, §6).

A *block* is one explanatory characteristic (fig 3.15 adds them one at a time; fig 3.16 splits R²
over them). Categorical blocks enter as 0/1 dummies for every level present in the sample except a
documented reference level; the age block is `alder_innvandring` and its square. The settlement
municipality block is not a column block: it is absorbed as fixed effects (models/fixed_effects.py).
Column names are those of pipeline/schema.py PERSON_YEAR.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

OUTCOME = "arbeid_utdanning"
OUTCOMES = ("arbeid_utdanning", "sysselsatt", "i_utdanning")   # the panel's 0/1 outcomes (methods.md §3)
CLUSTER = "lopenr"
MUNICIPALITY_FE = "bosettingskommune"

BlockKind = Literal["categorical", "quadratic"]


@dataclass(frozen=True)
class Block:
    """One explanatory block: `column` of the panel, its kind and (categorical) reference level.

    `reference=None` means "the first level present" (sorted order), used for immigration year.
    """

    name: str
    column: str
    kind: BlockKind
    reference: object = None
    label_no: str = ""
    label_en: str = ""


# The nine cumulative blocks of fig 3.15, in the report's order (methods.md §6).
INDIVIDUAL_BLOCKS: tuple[Block, ...] = (
    Block("kategori", "kategori", "categorical", "asyl", "Kategori", "Category"),
    Block("botid", "botid", "categorical", 0, "Botid", "Years since immigration"),
    Block("fodeland", "fodeland_gruppe", "categorical", "annet", "Fødeland", "Country of birth"),
    Block("innvandringsaar", "innvandringsaar", "categorical", None, "Innvandringsår", "Immigration year"),
    Block("alder", "alder_innvandring", "quadratic", None, "Alder ved innvandring", "Age at immigration"),
    Block("kjonn", "kjonn", "categorical", 1, "Kjønn", "Sex"),
    Block("barn", "barn_innvandring", "categorical", 0, "Barn", "Children"),
    Block("partner", "partner_innvandring", "categorical", 0, "Partner", "Partner"),
    Block("utdanning", "utdanning_innvandring", "categorical", 0, "Utdanning", "Education"),
)
# The tenth block of fig 3.16: settlement municipality, absorbed as fixed effects.
MUNICIPALITY_BLOCK_NAME = "bosettingskommune"
MUNICIPALITY_BLOCK_LABELS = ("Bosettingskommune", "Settlement municipality")

# Fig 3.15: model m uses the first m blocks.
MODEL_NAMES: tuple[str, ...] = (
    "baseline", "+ botid", "+ fødeland", "+ innvandringsår", "+ alder",
    "+ kjønn", "+ barn", "+ partner", "+ utdanning",
)


@dataclass(frozen=True)
class Design:
    """Outcome, regressors (no intercept column), clusters and FE codes of one regression sample.

    `column_block[j]` is the index in `blocks` of the block column j belongs to. `cluster` holds
    person codes 0..n_clusters−1, `fe` municipality codes. `references` holds the reference level used
    per categorical block (the documented one, or the first level present when it is absent).
    """

    y: np.ndarray
    X: np.ndarray
    terms: tuple[str, ...]
    column_block: np.ndarray
    blocks: tuple[Block, ...]
    cluster: np.ndarray
    n_clusters: int
    fe: np.ndarray | None
    fe_levels: np.ndarray | None
    references: dict[str, object]

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    def columns_of(self, block_names: list[str] | tuple[str, ...]) -> np.ndarray:
        """Column indices of the named blocks, in design order."""
        wanted = [i for i, b in enumerate(self.blocks) if b.name in set(block_names)]
        return np.flatnonzero(np.isin(self.column_block, wanted))

    def rows(self, mask: np.ndarray) -> Design:
        """The same design on a subset of rows (codes renumbered; columns kept, even if constant)."""
        cluster, cluster_levels = pd.factorize(self.cluster[mask], sort=True)
        fe = fe_levels = None
        if self.fe is not None and self.fe_levels is not None:
            fe, used = pd.factorize(self.fe[mask], sort=True)
            fe, fe_levels = fe.astype(np.int64), self.fe_levels[used]
        return Design(y=self.y[mask], X=self.X[mask], terms=self.terms, column_block=self.column_block,
                      blocks=self.blocks, cluster=cluster.astype(np.int64), n_clusters=len(cluster_levels),
                      fe=fe, fe_levels=fe_levels, references=self.references)


def regression_sample(
    person_year: pd.DataFrame,
    *,
    min_age: int,
    max_age: int,
    max_botid: int | None = None,
    categories: tuple[str, ...] | list[str] | None = None,
    require: tuple[str, ...] = (),
    outcome: str = OUTCOME,
    exclude_years: tuple[int, ...] = (),
) -> tuple[pd.DataFrame, int]:
    """Rows with min_age <= alder <= max_age (methods.md §1), optional botid filters, categories and
    years left out.

    Rows missing the outcome or any column in `require` are dropped listwise; returns the sample and
    the number of rows dropped that way (the caller logs it).
    """
    rows, dropped = regression_rows(person_year, min_age=min_age, max_age=max_age, max_botid=max_botid,
                                    categories=categories, require=require, outcome=outcome,
                                    exclude_years=exclude_years)
    return person_year.loc[rows], dropped   # one copy of the rows


def regression_rows(
    person_year: pd.DataFrame,
    *,
    min_age: int,
    max_age: int,
    max_botid: int | None = None,
    categories: tuple[str, ...] | list[str] | None = None,
    require: tuple[str, ...] = (),
    outcome: str = OUTCOME,
    exclude_years: tuple[int, ...] = (),
) -> tuple[np.ndarray, int]:
    """regression_sample's rows as a boolean mask over `person_year`, without copying them."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {list(OUTCOMES)}, not {outcome!r}")
    keep = person_year["alder"].between(min_age, max_age)
    if max_botid is not None:
        keep &= person_year["botid"] <= max_botid
    if categories is not None:
        keep &= person_year["kategori"].isin(list(categories))
    if exclude_years:
        keep &= ~person_year["aar"].isin(list(exclude_years))
    keep = keep.to_numpy(dtype=bool)
    complete = person_year[[outcome, CLUSTER, *require]].notna().all(axis=1).to_numpy()
    return keep & complete, int((keep & ~complete).sum())


def _sorted_levels(levels: list) -> list:
    try:
        return sorted(levels, key=float)
    except (TypeError, ValueError):
        return sorted(levels, key=str)


def _same_level(a: object, b: object) -> bool:
    try:
        return float(a) == float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(a) == str(b)


def _level_label(level: object) -> str:
    if isinstance(level, (float, np.floating)) and float(level).is_integer():
        return str(int(level))
    return str(level)


def block_layout(values: pd.Series, block: Block) -> tuple[np.ndarray, list[str], object]:
    """Where one block's values go: for a categorical block, each row's dummy column among the block's
    (−1 for the reference level or a missing value); for the quadratic block, x itself. With the
    column names and the reference level (None for the quadratic block)."""
    if block.kind == "quadratic":
        return values.to_numpy(dtype=np.float64), [block.column, f"{block.column}^2"], None
    # factorize works on the column as stored (Arrow strings are dictionary-encoded, not copied to objects)
    first_seen_codes, uniques = pd.factorize(values)
    uniques = list(uniques)
    levels = _sorted_levels(uniques)
    if not levels:
        return np.full(len(values), -1, dtype=np.int64), [], None
    matches = [i for i, lv in enumerate(levels) if block.reference is not None and _same_level(lv, block.reference)]
    ref_index = matches[0] if matches else 0
    column_of_level = np.array([i - (i > ref_index) if i != ref_index else -1 for i in range(len(levels))],
                               dtype=np.int64)
    column_of_unique = column_of_level[[levels.index(u) for u in uniques]]
    column = np.where(first_seen_codes >= 0, column_of_unique[np.maximum(first_seen_codes, 0)], -1)
    names = [f"{block.column}[{_level_label(levels[i])}]" for i in range(len(levels)) if i != ref_index]
    return column, names, levels[ref_index]


def _fill_block(out: np.ndarray, layout: np.ndarray, block: Block) -> None:
    """Write one block's columns into `out` (zeros on entry): 1.0 in each row's dummy column, or x, x²."""
    if block.kind == "quadratic":
        out[:, 0] = layout
        out[:, 1] = layout * layout
        return
    rows = np.flatnonzero(layout >= 0)
    out[rows, layout[rows]] = 1.0


def block_columns(values: pd.Series, block: Block) -> tuple[np.ndarray, list[str], object]:
    """Columns of one block: dummies for levels != reference, or (x, x²) for the quadratic block."""
    layout, names, ref = block_layout(values, block)
    out = np.zeros((len(values), len(names)))
    _fill_block(out, layout, block)
    return out, names, ref


def _factorize_sorted_strings(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and sorted levels of the values as strings (pd.factorize(values.astype(str), sort=True));
    a column stored as strings is factorized as stored, without a copy to Python objects."""
    if isinstance(values.dtype, pd.StringDtype) and not values.isna().any():
        codes, levels = pd.factorize(values, sort=True)
        return codes, np.asarray([str(level) for level in levels], dtype=object)
    codes, levels = pd.factorize(values.to_numpy().astype(str), sort=True)
    return codes, np.asarray(levels, dtype=object)


def build_design(
    sample: pd.DataFrame,
    blocks: tuple[Block, ...] = INDIVIDUAL_BLOCKS,
    *,
    fe_column: str | None = None,
    outcome: str = OUTCOME,
) -> Design:
    """Design of `sample` for `blocks` (+ FE codes from `fe_column`), rows in sample order."""
    frame = sample
    layouts, terms, owner, refs = [], [], [], {}
    for index, block in enumerate(blocks):
        layout, names, ref = block_layout(frame[block.column], block)
        layouts.append((layout, len(terms), len(names)))
        terms += names
        owner += [index] * len(names)
        if block.kind == "categorical":
            refs[block.name] = ref
    # one zeroed matrix, each block written into its columns (no per-block copies)
    X = np.zeros((len(frame), len(terms)))
    for block, (layout, start, width) in zip(blocks, layouts):
        _fill_block(X[:, start:start + width], layout, block)
    # a column stored as Arrow strings is factorized as stored: the same first-seen codes
    cluster_values = frame[CLUSTER]
    cluster_codes, cluster_uniques = pd.factorize(
        cluster_values if isinstance(cluster_values.dtype, pd.StringDtype) else cluster_values.to_numpy(), sort=False)
    fe = fe_levels = None
    if fe_column is not None:
        fe, fe_levels = _factorize_sorted_strings(frame[fe_column])
    return Design(
        y=frame[outcome].to_numpy(dtype=np.float64),
        X=X,
        terms=tuple(terms),
        column_block=np.asarray(owner, dtype=np.int64),
        blocks=tuple(blocks),
        cluster=cluster_codes.astype(np.int64),
        n_clusters=len(cluster_uniques),
        fe=None if fe is None else fe.astype(np.int64),
        fe_levels=fe_levels,
        references=refs,
    )


class DesignCache:
    """Designs already built from one panel's regressors, by sample: a request for the same person-years
    (the same row labels in the same order) returns that design with the requested outcome as y, so
    fig 3.15, fig 3.16 and the contributions of all refugees build one design when their samples
    coincide, and the robustness variants that differ only in the outcome share theirs.

    One cache per panel, or per panels that differ only in their outcome columns: the rows are
    recognised by their labels, not by their values.
    """

    def __init__(self) -> None:
        self._built: list[tuple[np.ndarray, tuple[Block, ...], str | None, Design]] = []

    def build(self, sample: pd.DataFrame, blocks: tuple[Block, ...] = INDIVIDUAL_BLOCKS, *,
              fe_column: str | None = None, outcome: str = OUTCOME) -> Design:
        """build_design(sample, blocks, fe_column=fe_column, outcome=outcome), reusing a design of the
        same rows (its fixed-effect codes dropped or added as asked)."""
        rows = sample.index.to_numpy()
        y = sample[outcome].to_numpy(dtype=np.float64)
        for known_rows, known_blocks, known_fe, design in self._built:
            if known_blocks == tuple(blocks) and len(known_rows) == len(rows) and np.array_equal(known_rows, rows):
                if fe_column == known_fe:
                    return dataclasses.replace(design, y=y)
                if fe_column is None:
                    return dataclasses.replace(design, y=y, fe=None, fe_levels=None)
                fe, fe_levels = _factorize_sorted_strings(sample[fe_column])
                design = dataclasses.replace(design, y=y, fe=fe.astype(np.int64), fe_levels=fe_levels)
                self._built.append((rows, tuple(blocks), fe_column, design))   # the same X, other codes
                return design
        design = build_design(sample, blocks, fe_column=fe_column, outcome=outcome)
        self._built.append((rows, tuple(blocks), fe_column, design))
        return design
