"""Observed against predicted work-or-education rates per settlement municipality, and the release
rule for the table they go in (the municipality cards: "do we do better than our refugees'
composition predicts?").

Model (methods.md §6, kommunebidrag), per group: y_i = x_i'β + α_{g(i)} + e_i. The predicted rate of
person-year i is what the average settlement municipality would give the same person:

    ŷ⁰_i = x_i'β̂ + ᾱ,    ᾱ = Σ_{g∈R} N_g α̂_g / Σ_{g∈R} N_g,

with N_g the municipality's person-years and R the municipalities whose contribution is released
(at least min_persons persons), so ᾱ is a function of released numbers only. Because the absorbed
estimator gives α̂_g = ȳ_g − x̄_g'β̂ exactly (models/fixed_effects.py), the mean gap over municipality
g's person-years is

    ȳ_g − mean_{i∈g} ŷ⁰_i = α̂_g − ᾱ = θ_g − θ̄,

for every normalisation θ = α − c of the contributions: the contribution minus its person-year-weighted
mean over the released municipalities. The per-botid cells split that gap by years since immigration.

Release (`suppressed_cells`, then pipeline/disclosure.release): a cell (group × municipality × botid band, plus the band total) is the set
of persons with a person-year in it. Primary rule: fewer than min_persons persons → every statistic
and count is the marker. Complementary rule, because the cells are linked: within a group and
municipality the bands add up to the total (person-year weighted), and the total's gap is the released
contribution minus θ̄; within a municipality and band the three categories add up to "alle" (observed
rates and counts). For every such line whose margin is released, the suppressed inner cells holding
persons must together hold at least min_persons persons (else the released cells give their sum
back); and a suppressed margin must not be the only suppressed cell of its line. Further inner cells
are suppressed, smallest first, until every line holds.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

TOTAL_BAND = "0-9"
CATEGORY_GROUPS = ("asyl", "overforing", "familie")
ALL_GROUP = "alle"
STAT_COLUMNS = ("observed_pct", "predicted_pct", "gap_pp")
COUNT_COLUMNS = ("n_persons", "n_person_years")


def weighted_mean_effect(alpha: np.ndarray, n_obs: np.ndarray, mean_over: np.ndarray) -> float:
    """ᾱ = Σ_{g∈R} N_g α_g / Σ_{g∈R} N_g over the levels in the boolean mask `mean_over` (R)."""
    mask = np.asarray(mean_over, dtype=bool)
    weights = np.asarray(n_obs, dtype=np.float64) * mask
    if weights.sum() <= 0:
        return float("nan")
    return float(weights @ np.asarray(alpha, dtype=np.float64) / weights.sum())


def predicted_rates(X: np.ndarray, beta: np.ndarray, *, alpha: np.ndarray, n_obs: np.ndarray,
                    mean_over: np.ndarray) -> tuple[np.ndarray, float]:
    """(ŷ⁰_i = x_i'β + ᾱ for every row of X, ᾱ) — see the module docstring.

    `beta` has one entry per column of X (0 for a column the fit dropped as collinear); `alpha`,
    `n_obs` and `mean_over` one per municipality level.
    """
    alpha_bar = weighted_mean_effect(alpha, n_obs, mean_over)
    return np.asarray(X, dtype=np.float64) @ np.asarray(beta, dtype=np.float64) + alpha_bar, alpha_bar


def botid_band(botid: Sequence[int] | np.ndarray, bands: Sequence[tuple[int, int]]) -> np.ndarray:
    """Label "lo-hi" (or "b" for a one-year band) of the band each botid falls in; "" outside all bands."""
    values = np.asarray(botid)
    out = np.full(values.shape, "", dtype=object)
    for lo, hi in bands:
        out[(values >= lo) & (values <= hi)] = band_label(lo, hi)
    return out


def band_label(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def check_bands(bands: Sequence[tuple[int, int]], *, max_botid: int) -> list[tuple[int, int]]:
    """Bands as sorted (lo, hi) pairs that cover 0..max_botid once each; ValueError otherwise."""
    pairs = sorted((int(lo), int(hi)) for lo, hi in bands)
    covered = [b for lo, hi in pairs for b in range(lo, hi + 1)]
    if covered != list(range(max_botid + 1)) or any(lo > hi for lo, hi in pairs):
        raise ValueError(f"botid bands {pairs} must cover 0..{max_botid} once each, in order, "
                         f"e.g. [[0, 1], [2, 3], [4, 5], [6, {max_botid}]]")
    return pairs


def _sets_by_code(codes: np.ndarray, values: np.ndarray) -> dict[int, frozenset]:
    """The set of `values` of each code (codes ≥ 0): one stable sort, then a set per run of equal codes."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if len(codes) else np.array([], int)
    runs = np.split(values[order], starts[1:])
    return {int(sorted_codes[start]): frozenset(run.tolist()) for start, run in zip(starts, runs)}


def gap_cells(
    rows: pd.DataFrame, *, municipalities: Sequence[str], bands: Sequence[str], total_band: str = TOTAL_BAND,
) -> tuple[pd.DataFrame, dict[tuple[str, str], frozenset]]:
    """Cells of one group: every municipality × (each band, total) with the observed and predicted
    rate (percent), their gap (pp), distinct persons and person-years.

    `rows` has one row per person-year: kommnr_2020, person, band, y (0/1), predicted. Empty cells
    get 0 counts and NaN statistics. Also returns each cell's set of persons, keyed (kommnr, band).
    """
    frame = rows[["kommnr_2020", "person", "band", "y", "predicted"]]
    total = frame.assign(band=total_band)
    both = pd.concat([frame, total], ignore_index=True)
    grouped = both.groupby(["kommnr_2020", "band"], sort=True, observed=True)
    stats = grouped.agg(observed=("y", "mean"), predicted=("predicted", "mean"),
                        n_persons=("person", "nunique"), n_person_years=("y", "size"))
    kommnr_codes, kommnr_levels = pd.factorize(frame["kommnr_2020"], use_na_sentinel=False)
    band_codes, band_levels = pd.factorize(frame["band"], use_na_sentinel=False)
    person = frame["person"].to_numpy()
    n_bands = len(band_levels)
    persons = {(kommnr_levels[code // n_bands], band_levels[code % n_bands]): members
               for code, members in _sets_by_code(kommnr_codes * n_bands + band_codes, person).items()}
    persons.update({(kommnr_levels[code], total_band): members
                    for code, members in _sets_by_code(kommnr_codes, person).items()})
    index = pd.MultiIndex.from_product([list(municipalities), [*bands, total_band]], names=["kommnr_2020", "band"])
    stats = stats.reindex(index)
    out = pd.DataFrame({
        "kommnr_2020": index.get_level_values(0),
        "botid": index.get_level_values(1),
        "observed_pct": stats["observed"].to_numpy() * 100.0,
        "predicted_pct": stats["predicted"].to_numpy() * 100.0,
        "gap_pp": (stats["observed"] - stats["predicted"]).to_numpy() * 100.0,
        "n_persons": stats["n_persons"].fillna(0).astype(np.int64).to_numpy(),
        "n_person_years": stats["n_person_years"].fillna(0).astype(np.int64).to_numpy(),
    })
    return out, persons


# --- release ------------------------------------------------------------------------------------

Key = tuple[Hashable, ...]


def _lines(keys: set[Key], *, bands: Sequence[str], total_band: str) -> list[tuple[Key, list[Key]]]:
    """(margin, inner cells) of every linear relation among cells keyed (gruppe, kommnr, band)."""
    municipalities = sorted({k[1] for k in keys})
    groups = sorted({k[0] for k in keys})
    lines = []
    for gruppe in groups:
        for kommnr in municipalities:
            lines.append(((gruppe, kommnr, total_band), [(gruppe, kommnr, b) for b in bands]))
    if ALL_GROUP in groups:
        categories = [g for g in CATEGORY_GROUPS if g in groups]
        for kommnr in municipalities:
            for band in [*bands, total_band]:
                lines.append(((ALL_GROUP, kommnr, band), [(g, kommnr, band) for g in categories]))
    return [(margin, [c for c in inner if c in keys]) for margin, inner in lines if margin in keys]


def suppressed_cells(
    persons: dict[Key, frozenset], *, bands: Sequence[str], total_band: str = TOTAL_BAND, min_persons: int,
) -> set[Key]:
    """Cells to suppress (module docstring): primary, then complementary until every line holds.

    `persons` maps every cell (gruppe, kommnr, band) to its set of persons (empty for an empty cell).
    A line's margin counts as released when it holds at least min_persons persons: a group total is
    then published through its contribution even if its rates are suppressed here.
    """
    keys = set(persons)
    size = {k: len(v) for k, v in persons.items()}
    suppressed = {k for k in keys if size[k] < min_persons}
    lines = _lines(keys, bands=bands, total_band=total_band)
    changed = True
    while changed:
        changed = False
        for margin, inner in lines:
            released = [c for c in inner if c not in suppressed]
            if not released:
                continue
            hidden = [c for c in inner if c in suppressed and size[c] > 0]
            margin_published = size[margin] >= min_persons
            need = False
            if margin_published and hidden:
                need = len(frozenset().union(*(persons[c] for c in hidden))) < min_persons
            if margin in suppressed and margin_published and not any(c in suppressed for c in inner):
                need = True  # the margin would be the sum of its released inner cells
            if need:
                candidates = [c for c in released if size[c] > 0] or released
                suppressed.add(min(candidates, key=lambda c: (size[c], str(c))))
                changed = True
    return suppressed
