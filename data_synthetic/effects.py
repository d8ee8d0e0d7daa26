"""Planted municipality effects: the report's second stage (table 3.3) built into the synthetic data.

For each category c, alpha_c = Z_c γ_c + u_c over the 356 municipalities, where Z holds the twelve
table 3.3 characteristics of `characteristics_year`, centred, computed as the pipeline computes them
(sql/40_municipality_year.sql, models/second_stage.py) from the registers drawn before the planted
outcome. γ_c is chosen so that the bivariate slopes Cov(alpha_c, z_k) / Var(z_k) are the report's
(S γ = diag(S) b for the covariance S of Z), and u_c is a residual orthogonal to Z with a chosen SD
(common to the categories in part, larger in smaller municipalities); alpha_c has mean zero over the
category's persons. DGP.md §4 explains every number.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from data_synthetic import parameters as P
from data_synthetic.geography import YEARS
from data_synthetic.registers import IN_SAMPLE_AGE, Context, YearDraws, benefit_amounts, nus_level
from data_synthetic.population import REFUGEE_REASONS

# The table 3.3 characteristics in the pipeline's order (models/second_stage.py CHARACTERISTICS).
SECOND_STAGE = ("ln_befolkning", "ln_inntekt_30_59", "pst_arbeid_utdanning_30_59", "pst_sosialstonad_30_59",
                "ln_sentralitetsindeks", "pst_industri_2010", "pst_primaer_2010", "pst_innvandrere_ikke_flukt",
                "pst_flyktninger", "pst_hoyere_utdanning_30_59", "pst_innv_hoy_utd_inntekt_30_59", "sykehus_i_region")
INVKAT_B, INVKAT_C = 1, 2


def characteristics(ctx: Context, draws: YearDraws) -> pd.DataFrame:
    """The twelve second-stage characteristics per 2020 municipality in year draws.t (methods.md §5),
    transformed as in table 3.3 (ln, percent, 0/1), from everyone resident on 1 January."""
    pop, c, geo = ctx.pop, ctx.pop.cols, ctx.geo
    year = draws.t
    g = ctx.g[year]
    n_muni = len(geo.kommuner_2020)
    resident = np.flatnonzero(pop.unit[:, year - YEARS[0]] >= 0)
    muni = geo.unit_muni[pop.unit[resident, year - YEARS[0]]]

    def share(flag: np.ndarray, among: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100 * np.bincount(muni[among], weights=flag[among], minlength=n_muni) / \
                np.bincount(muni[among], minlength=n_muni)

    everyone = np.ones(len(resident), bool)
    refugee_bg = np.isin(c["reason"][resident], list(REFUGEE_REASONS)).astype(float)
    immigrant_bg = np.isin(c["invkat"][resident], [INVKAT_B, INVKAT_C])
    # registers of the year for residents with an income record (no record: no income, not employed)
    record = np.full(pop.n, -1)
    record[draws.endres] = np.arange(len(draws.endres))
    row = record[resident]
    has = row >= 0
    yrk = np.where(has, draws.yrk[np.maximum(row, 0)], 0).astype(float)
    igang = np.where(has, draws.igang[np.maximum(row, 0)], -1)
    level = np.where(has, nus_level(pop, year)[resident], -1)
    benefits = sum(amount for amount in benefit_amounts(ctx, draws).values())
    benefit = np.where(has, benefits[np.maximum(row, 0)], 0)
    working_age = (year - c["birth"][resident] >= 30) & (year - c["birth"][resident] <= 59)
    employed = yrk > g
    higher = (level >= 6) & (level <= 8)
    with np.errstate(invalid="ignore", divide="ignore"):
        income = np.bincount(muni[working_age & has], weights=yrk[working_age & has], minlength=n_muni) / \
            np.bincount(muni[working_age & has], minlength=n_muni)
    kommuner = geo.kommuner_2020
    naering = geo.naering_2010.pivot(index="kommnr_2020", columns="naering", values="sysselsatte") \
        .reindex(kommuner["kommnr_2020"])
    total = naering.sum(axis=1).to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame({
            "kommnr_2020": kommuner["kommnr_2020"].to_numpy(),
            "ln_befolkning": np.log(np.bincount(muni, minlength=n_muni).astype(float)),
            "ln_inntekt_30_59": np.log(np.where(income > 0, income, np.nan)),
            "pst_arbeid_utdanning_30_59": share((employed | (igang >= 0)).astype(float), working_age),
            "pst_sosialstonad_30_59": share(((benefit > 0) & (benefit > yrk)).astype(float), working_age),
            "ln_sentralitetsindeks": np.log(kommuner["sentralitetsindeks"].to_numpy(float)),
            "pst_industri_2010": 100 * naering["C"].to_numpy(float) / total,
            "pst_primaer_2010": 100 * naering["A"].to_numpy(float) / total,
            "pst_innvandrere_ikke_flukt": share((immigrant_bg & (refugee_bg == 0)).astype(float), everyone),
            "pst_flyktninger": share(refugee_bg, everyone),
            "pst_hoyere_utdanning_30_59": share(higher.astype(float), working_age),
            "pst_innv_hoy_utd_inntekt_30_59": share(((yrk > 4 * g) | higher).astype(float), working_age & immigrant_bg),
            "sykehus_i_region": kommuner["sykehus_i_region"].to_numpy(float),
        })
    return frame


def contribution_persons(ctx: Context, *, max_botid: int) -> np.ndarray:
    """[category, municipality]: persons of the category with a person-year in the contribution sample
    (study sample, botid 0..max_botid) settled in the municipality; > 0 are the municipalities of table 3.3."""
    pop, c, cov = ctx.pop, ctx.pop.cols, ctx.covariates
    present = np.zeros(pop.n, bool)
    for t in YEARS:
        j = t - YEARS[0]
        persons = np.flatnonzero((c["arrive"] <= t) & (c["leave"] > t) & (c["category"] >= 0) & (pop.unit[:, j] >= 0)
                                 & (cov["settlement"] >= 0))
        age = t - c["birth"][persons].astype(np.int64)
        botid = t - c["innv_year"][persons].astype(np.int64) - 1
        present[persons[(botid >= 0) & (botid <= max_botid) & (age >= IN_SAMPLE_AGE[0]) & (age <= IN_SAMPLE_AGE[1])]] = True
    persons = np.flatnonzero(present)
    counts = np.zeros((len(P.CATEGORY_NAMES), len(ctx.geo.kommuner_2020)), np.int64)
    np.add.at(counts, (c["category"][persons], cov["settlement"][persons]), 1)
    return counts


def planted_coefficients(z: np.ndarray, slopes: np.ndarray, std_errors: np.ndarray, *,
                         max_sd: float) -> tuple[np.ndarray, float]:
    """γ whose fitted part Zγ has bivariate slopes on each column of Z as close to `slopes` as possible in
    units of `std_errors`, with SD(Zγ) at most `max_sd`; returns (γ, ridge penalty used).

    slope_k(γ) = (Sγ)_k / S_kk for the covariance S of Z. Unpenalised, Sγ = diag(S)·slopes exactly;
    when that fitted part would have an SD above max_sd, minimise Σ_k ((slope_k(γ) − b_k)/se_k)² + λ γ'Sγ
    with λ found by bisection so that SD(Zγ) = max_sd.
    """
    cov = np.atleast_2d(np.cov(z, rowvar=False))
    design = cov / np.diag(cov)[:, None] / std_errors[:, None]
    target = slopes / std_errors

    def solve(penalty: float) -> np.ndarray:
        return np.linalg.lstsq(design.T @ design + penalty * cov, design.T @ target, rcond=None)[0]

    def sd(gamma: np.ndarray) -> float:
        return float(np.sqrt(max(gamma @ cov @ gamma, 0.0)))

    gamma = solve(0.0)
    if sd(gamma) <= max_sd:
        return gamma, 0.0
    low, high = 0.0, 1e-6
    while sd(solve(high)) > max_sd:
        high *= 4
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if sd(solve(mid)) > max_sd else (low, mid)
    return solve(high), high


def person_bands(persons: np.ndarray, own: np.ndarray, *, min_size: int) -> np.ndarray:
    """Band of each municipality by its number of persons (cut at MUNICIPALITY_EFFECTS["person_bands"]); a
    band with fewer than `min_size` municipalities of `own` joins the band below it (the lowest the one above)."""
    band = np.digitize(persons, P.MUNICIPALITY_EFFECTS["person_bands"])
    while True:
        labels, sizes = np.unique(band[own], return_counts=True)
        if len(labels) < 2 or sizes.min() >= min_size:
            return band
        small = labels[np.argmin(sizes)]
        position = int(np.flatnonzero(labels == small)[0])
        band[band == small] = labels[position - 1] if position > 0 else labels[1]


def municipality_effects(chars: pd.DataFrame, persons: np.ndarray, rng: np.random.Generator) -> dict:
    """alpha[c, m] (probability units) for c in CATEGORY_NAMES, and everything planted (pp units).

    For each category the slopes are planted over the municipalities where the category is present
    (`persons[c] > 0`), as the report's table 3.3 regresses over them; u is made orthogonal to Z within
    each band of the category's number of persons (MUNICIPALITY_EFFECTS["person_bands"]), so that it stays
    unrelated to the characteristics also over the larger municipalities alone.
    """
    spec = P.MUNICIPALITY_EFFECTS
    published = P.published_slopes()
    z = chars[list(SECOND_STAGE)].to_numpy(float)
    z = np.where(np.isfinite(z), z, np.nanmean(z, axis=0))   # a municipality without a value: the mean
    n = len(chars)
    common = rng.standard_normal(n)
    # smaller municipalities vary more: the residual's scale falls with population^size_power
    ln_pop = z[:, SECOND_STAGE.index("ln_befolkning")]
    spread = np.exp(-spec["size_power"] * (ln_pop - ln_pop.mean()))
    out = {"alpha": [], "fitted": [], "u": [], "gamma": {}, "ridge": {}, "slopes_planted": {}, "municipalities": {}}
    for i, category in enumerate(P.CATEGORY_NAMES):
        own = persons[i] > 0
        own = own if own.sum() > len(SECOND_STAGE) + 2 else np.ones(n, bool)
        centred = z - z[own].mean(axis=0)
        varies = centred[own].std(axis=0) > 0
        slopes = np.array([published[category][name][0] for name in SECOND_STAGE])
        std_errors = np.array([published[category][name][1] for name in SECOND_STAGE])
        gamma = np.zeros(len(SECOND_STAGE))
        gamma[varies], ridge = planted_coefficients(centred[own][:, varies], slopes[varies], std_errors[varies],
                                                    max_sd=spec["max_fitted_sd"][category])
        fitted = centred @ gamma
        raw = spread * (np.sqrt(spec["common_share"]) * common
                        + np.sqrt(1 - spec["common_share"]) * rng.standard_normal(n))
        residual = raw.copy()
        design = np.column_stack([np.ones(n), centred[:, varies]])
        band = person_bands(persons[i], own, min_size=2 * design.shape[1])
        for b in np.unique(band[own]):                      # orthogonal to Z within each band
            rows = own & (band == b)
            residual[rows] = raw[rows] - design[rows] @ np.linalg.lstsq(design[rows], raw[rows], rcond=None)[0]
        spread_own = residual[own].std()
        u = spec["sd_u"][category] * residual / spread_own if spread_own > 0 else np.zeros(n)
        alpha = fitted + u
        # mean zero over the category's persons, so that b_kategori is the effect at the average settlement
        alpha -= np.average(alpha, weights=persons[i]) if persons[i].sum() else alpha.mean()
        out["alpha"].append(alpha / 100)
        out["fitted"].append(fitted)
        out["u"].append(u)
        out["gamma"][category] = dict(zip(SECOND_STAGE, gamma.tolist()))
        out["ridge"][category] = ridge
        out["municipalities"][category] = int(own.sum())
        out["slopes_planted"][category] = {
            name: float(np.cov(alpha[own], z[own, k])[0, 1] / np.var(z[own, k], ddof=1)) if varies[k] else 0.0
            for k, name in enumerate(SECOND_STAGE)}
    out["alpha"] = np.array(out["alpha"])
    return out
