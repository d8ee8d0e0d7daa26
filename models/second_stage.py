"""Second stage: municipality contributions on municipality characteristics (methods.md §6, table 3.3).

One bivariate OLS per (group, characteristic), one observation per municipality:
θ_m = a + b·z_m + e_m, b = S_zθ / S_zz, R² = b² S_zz / S_θθ, n−2 residual degrees of freedom.
Standard errors: "conventional" (default, as the report's table): se(b)² = [RSS/(n−2)] / S_zz;
"HC1": se(b)² = n/(n−2) · Σ (z_m − z̄)² e_m² / S_zz²; "HC3": Σ (z_m − z̄)² e_m² / (1 − h_m)² / S_zz²,
h_m = 1/n + (z_m − z̄)²/S_zz (MacKinnon and White 1985). p-value two-sided from t(n−2).

FGLS for an estimated dependent variable (Lewis and Linzer 2005, Political Analysis 13: 345–364):
the contribution θ̂_m carries sampling variance ω_m² (its SE squared) on top of the regression's
σ², so Var(e_m) = σ² + ω_m². With OLS residuals e, X = (1, z) (k = 2), G = diag(ω²),
σ̂² = max{0, [Σe² − Σω² + tr((X'X)⁻¹X'GX)] / (n − k)}, and b is weighted least squares with weights
1/(ω_m² + σ̂²) as inverse variances (not their square roots), SEs as lm/statsmodels WLS (scale
Σ w ê²/(n − k) times (X'WX)⁻¹). Lewis and Linzer recommend OLS with heteroskedasticity-robust
(HC3) SEs beside it; `second_stage_weighted` reports both.
Stars: *** p < 0.01, ** p < 0.05, * p < 0.10.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

SecondStageSE = Literal["conventional", "HC1", "HC3"]
SECOND_STAGE_SES: tuple[str, ...] = ("conventional", "HC1", "HC3")


@dataclass(frozen=True)
class Characteristic:
    """A second-stage regressor: `name`, its source column in MUNICIPALITY_YEAR and transform.

    transform "log": ln(x) (x <= 0 → missing); "percent": 100·x (shares are fractions); "level": x.
    `level_column`/`level_transform` give the untransformed version described in table 3.2.
    """

    name: str
    column: str
    transform: Literal["log", "percent", "level"]
    label_no: str
    label_en: str
    level_transform: Literal["percent", "level"] = "level"


# Table 3.3 rows, in the report's order (methods.md §6).
CHARACTERISTICS: tuple[Characteristic, ...] = (
    Characteristic("ln_befolkning", "befolkning", "log", "Ln (befolkningsstørrelse)", "Ln (population)"),
    Characteristic("ln_inntekt_30_59", "inntekt_30_59", "log", "Ln (gjennomsnittsinntekt 30–59)",
                   "Ln (mean income 30–59)"),
    Characteristic("pst_arbeid_utdanning_30_59", "andel_arbeid_utdanning_30_59", "percent",
                   "% i jobb eller utdanning 30–59", "% in work or education 30–59", "percent"),
    Characteristic("pst_sosialstonad_30_59", "andel_sosialstonad_30_59", "percent",
                   "% med sosiale stønader > yrkesinntekt 30–59", "% social benefits > income 30–59", "percent"),
    Characteristic("ln_sentralitetsindeks", "sentralitetsindeks", "log", "Ln (sentralitetsindeks)",
                   "Ln (centrality index)"),
    Characteristic("pst_industri_2010", "andel_industri_2010", "percent", "% med jobb i industri",
                   "% employed in manufacturing", "percent"),
    Characteristic("pst_primaer_2010", "andel_primaer_2010", "percent", "% med jobb i primærnæringen",
                   "% employed in primary industries", "percent"),
    Characteristic("pst_innvandrere_ikke_flukt", "andel_innvandringsbakgrunn_ikke_flukt", "percent",
                   "% innvandrere – ikke flukt", "% immigrant background, not refugee", "percent"),
    Characteristic("pst_flyktninger", "andel_flyktningbakgrunn", "percent", "% flyktninger",
                   "% refugee background", "percent"),
    Characteristic("pst_hoyere_utdanning_30_59", "andel_hoyere_utdanning_30_59", "percent",
                   "% med høy utdanning 30–59", "% higher education 30–59", "percent"),
    Characteristic("pst_innv_hoy_utd_inntekt_30_59", "andel_innv_hoy_utd_inntekt_30_59", "percent",
                   "% innvandrere med høy utdanning og/eller inntekt", "% immigrants with high education and/or income",
                   "percent"),
    Characteristic("sykehus_i_region", "sykehus_i_region", "level", "Sykehus i økonomisk region",
                   "Hospital in economic region"),
)


CharacteristicForm = Literal["regressor", "level"]
CHARACTERISTIC_FORMS: tuple[str, ...] = ("regressor", "level")


def characteristics_frame(
    municipality_year: pd.DataFrame, *, year: int, form: CharacteristicForm = "regressor",
    characteristics: tuple[Characteristic, ...] = CHARACTERISTICS,
) -> pd.DataFrame:
    """One row per municipality (`kommnr_2020`) of `year`, one column per characteristic.

    form "regressor": table 3.3's regressors, named `name` and transformed (log, shares in %);
    form "level": table 3.2's untransformed values (levels, shares in %), named by their `column`.
    """
    if form not in CHARACTERISTIC_FORMS:
        raise ValueError(f"form must be one of {list(CHARACTERISTIC_FORMS)}, not {form!r}")
    rows = municipality_year.loc[municipality_year["aar"] == year]
    if rows.empty:
        years = sorted(municipality_year["aar"].unique().tolist())
        raise ValueError(f"municipality_year has no rows for characteristics_year={year}; years present: {years}")
    out = pd.DataFrame({"kommnr_2020": rows["kommnr_2020"].astype(str).to_numpy()})
    for ch in characteristics:
        x = pd.to_numeric(rows[ch.column], errors="coerce").astype("float64").to_numpy()
        transform = ch.transform if form == "regressor" else ch.level_transform
        if transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)
        elif transform == "percent":
            x = 100.0 * x
        out[ch.name if form == "regressor" else ch.column] = x
    return out


def stars(p_value: float) -> str:
    """*** p < 0.01, ** p < 0.05, * p < 0.10, else ''."""
    if not np.isfinite(p_value):
        return ""
    return "***" if p_value < 0.01 else "**" if p_value < 0.05 else "*" if p_value < 0.10 else ""


def bivariate_ols(y: np.ndarray, x: np.ndarray, *, se: SecondStageSE = "conventional") -> dict[str, float]:
    """Slope, SE, p-value, stars, R², n of y = a + b x (module docstring); pairs with a NaN dropped."""
    if se not in SECOND_STAGE_SES:
        raise ValueError(f"se must be one of {list(SECOND_STAGE_SES)}, not {se!r}")
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(x)
    y, x = y[ok], x[ok]
    n = int(y.size)
    nan = {"coef": np.nan, "intercept": np.nan, "std_error": np.nan, "p_value": np.nan, "stars": "",
           "r2": np.nan, "n": n}
    if n < 3:
        return nan
    xd, yd = x - x.mean(), y - y.mean()
    sxx, syy = float(xd @ xd), float(yd @ yd)
    if sxx <= 1e-12 * max(1.0, float(x @ x)):
        return nan
    b = float(xd @ yd) / sxx
    e = yd - b * xd
    if se == "conventional":
        var_b = float(e @ e) / (n - 2) / sxx
    elif se == "HC1":
        var_b = n / (n - 2) * float((xd * xd) @ (e * e)) / sxx**2
    else:
        leverage = 1.0 / n + xd * xd / sxx
        var_b = float((xd * xd) @ (e * e / (1.0 - leverage) ** 2)) / sxx**2
    se_b = float(np.sqrt(var_b))
    t = b / se_b if se_b > 0 else np.inf
    p = float(2 * stats.t.sf(abs(t), n - 2))
    return {"coef": b, "intercept": float(y.mean() - b * x.mean()), "std_error": se_b, "p_value": p,
            "stars": stars(p), "r2": b * b * sxx / syy if syy > 0 else np.nan, "n": n}


def second_stage(
    contributions: pd.DataFrame,
    characteristics: pd.DataFrame,
    *,
    names: tuple[str, ...] | None = None,
    se: SecondStageSE = "conventional",
) -> pd.DataFrame:
    """Table 3.3: for each gruppe × characteristic, bivariate OLS of `estimate` on the characteristic.

    `contributions` has gruppe, kommnr_2020, estimate; `characteristics` has kommnr_2020 and one
    column per characteristic. Returns characteristic, gruppe, coef, std_error, p_value, stars, r2, n.
    """
    names = names or tuple(c for c in characteristics.columns if c != "kommnr_2020")
    rows = []
    for char in names:
        for gruppe, part in contributions.groupby("gruppe", sort=False):
            merged = part.merge(characteristics[["kommnr_2020", char]], on="kommnr_2020", how="inner")
            res = bivariate_ols(merged["estimate"].to_numpy(dtype=float), merged[char].to_numpy(dtype=float), se=se)
            rows.append({"characteristic": char, "gruppe": gruppe, **{k: res[k] for k in
                         ("coef", "std_error", "p_value", "stars", "r2", "n")}})
    return pd.DataFrame(rows, columns=["characteristic", "gruppe", "coef", "std_error", "p_value", "stars", "r2", "n"])


def bivariate_fgls(y: np.ndarray, x: np.ndarray, omega: np.ndarray) -> dict[str, float]:
    """FGLS slope of y = a + b x when y_m has known sampling SE ω_m (module docstring); NaN pairs dropped.

    Returns coef, intercept, std_error, p_value (t(n−2)), stars, sigma2 (σ̂², between-unit residual
    variance), n, and the weights used (array, in the order of the kept pairs).
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    omega = np.asarray(omega, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(x) & np.isfinite(omega)
    y, x, omega = y[ok], x[ok], omega[ok]
    n = int(y.size)
    nan = {"coef": np.nan, "intercept": np.nan, "std_error": np.nan, "p_value": np.nan, "stars": "",
           "sigma2": np.nan, "n": n, "weights": np.full(n, np.nan)}
    if n < 3 or float(np.var(x)) <= 1e-12 * max(1.0, float(np.mean(x * x))):
        return nan
    X = np.column_stack([np.ones(n), x])
    XtX_inv = np.linalg.inv(X.T @ X)
    e = y - X @ (XtX_inv @ X.T @ y)
    omega2 = omega**2
    trace = float(np.trace(XtX_inv @ (X.T * omega2) @ X))
    sigma2 = max(0.0, (float(e @ e) - float(omega2.sum()) + trace) / (n - 2))
    w = 1.0 / (omega2 + sigma2)
    if not np.isfinite(w).all():
        return nan
    XtWX_inv = np.linalg.inv((X.T * w) @ X)
    coef = XtWX_inv @ (X.T * w) @ y
    resid = y - X @ coef
    scale = float(w @ resid**2) / (n - 2)
    se_b = float(np.sqrt(scale * XtWX_inv[1, 1]))
    t = coef[1] / se_b if se_b > 0 else np.inf
    p = float(2 * stats.t.sf(abs(t), n - 2))
    return {"coef": float(coef[1]), "intercept": float(coef[0]), "std_error": se_b, "p_value": p,
            "stars": stars(p), "sigma2": sigma2, "n": n, "weights": w}


WEIGHTED_COLUMNS = ("characteristic", "gruppe", "coef_ols", "std_error_hc3", "p_value_hc3", "stars_hc3",
                    "coef_fgls", "std_error_fgls", "p_value_fgls", "stars_fgls", "sigma2_fgls", "n")


def second_stage_weighted(
    contributions: pd.DataFrame,
    characteristics: pd.DataFrame,
    *,
    names: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Table 3.3's companion: per gruppe × characteristic, OLS with HC3 SEs and FGLS (Lewis–Linzer).

    `contributions` has gruppe, kommnr_2020, estimate, std_error (the contributions' SEs ω, pp).
    Columns: WEIGHTED_COLUMNS; coef_ols equals table 3.3's coef on the same municipalities.
    """
    names = names or tuple(c for c in characteristics.columns if c != "kommnr_2020")
    rows = []
    for char in names:
        for gruppe, part in contributions.groupby("gruppe", sort=False):
            merged = part.merge(characteristics[["kommnr_2020", char]], on="kommnr_2020", how="inner")
            y = merged["estimate"].to_numpy(dtype=float)
            x = merged[char].to_numpy(dtype=float)
            omega = merged["std_error"].to_numpy(dtype=float)
            both = np.isfinite(omega)   # same municipalities in both columns
            ols = bivariate_ols(y[both], x[both], se="HC3")
            fgls = bivariate_fgls(y[both], x[both], omega[both])
            rows.append({"characteristic": char, "gruppe": gruppe, "coef_ols": ols["coef"],
                         "std_error_hc3": ols["std_error"], "p_value_hc3": ols["p_value"], "stars_hc3": ols["stars"],
                         "coef_fgls": fgls["coef"], "std_error_fgls": fgls["std_error"],
                         "p_value_fgls": fgls["p_value"], "stars_fgls": fgls["stars"], "sigma2_fgls": fgls["sigma2"],
                         "n": ols["n"]})
    return pd.DataFrame(rows, columns=list(WEIGHTED_COLUMNS))
