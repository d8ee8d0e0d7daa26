"""Second stage: municipality contributions on municipality characteristics (methods.md §6, table 3.3).

One bivariate OLS per (group, characteristic), one observation per municipality:
θ_m = a + b·z_m + e_m, b = S_zθ / S_zz, R² = b² S_zz / S_θθ, n−2 residual degrees of freedom.
Standard errors: "conventional" (default, as the report's table): se(b)² = [RSS/(n−2)] / S_zz;
"HC1": se(b)² = n/(n−2) · Σ (z_m − z̄)² e_m² / S_zz². p-value two-sided from t(n−2).
Stars: *** p < 0.01, ** p < 0.05, * p < 0.10.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

SecondStageSE = Literal["conventional", "HC1"]


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


def characteristics_frame(
    municipality_year: pd.DataFrame, *, year: int,
    characteristics: tuple[Characteristic, ...] = CHARACTERISTICS,
) -> pd.DataFrame:
    """One row per municipality (`kommnr_2020`) of `year`, one column per characteristic (transformed)."""
    rows = municipality_year.loc[municipality_year["aar"] == year]
    if rows.empty:
        years = sorted(municipality_year["aar"].unique().tolist())
        raise ValueError(f"municipality_year has no rows for characteristics_year={year}; years present: {years}")
    out = pd.DataFrame({"kommnr_2020": rows["kommnr_2020"].astype(str).to_numpy()})
    for ch in characteristics:
        x = pd.to_numeric(rows[ch.column], errors="coerce").astype("float64").to_numpy()
        if ch.transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)
        elif ch.transform == "percent":
            x = 100.0 * x
        out[ch.name] = x
    return out


def characteristic_levels(
    municipality_year: pd.DataFrame, *, year: int,
    characteristics: tuple[Characteristic, ...] = CHARACTERISTICS,
) -> pd.DataFrame:
    """Untransformed characteristics (levels, shares in %) for the descriptive table 3.2."""
    rows = municipality_year.loc[municipality_year["aar"] == year]
    out = pd.DataFrame({"kommnr_2020": rows["kommnr_2020"].astype(str).to_numpy()})
    for ch in characteristics:
        x = pd.to_numeric(rows[ch.column], errors="coerce").astype("float64").to_numpy()
        out[ch.column] = 100.0 * x if ch.level_transform == "percent" else x
    return out


def stars(p_value: float) -> str:
    """*** p < 0.01, ** p < 0.05, * p < 0.10, else ''."""
    if not np.isfinite(p_value):
        return ""
    return "***" if p_value < 0.01 else "**" if p_value < 0.05 else "*" if p_value < 0.10 else ""


def bivariate_ols(y: np.ndarray, x: np.ndarray, *, se: SecondStageSE = "conventional") -> dict[str, float]:
    """Slope, SE, p-value, stars, R², n of y = a + b x (module docstring); pairs with a NaN dropped."""
    if se not in ("conventional", "HC1"):
        raise ValueError(f"se must be 'conventional' or 'HC1', not {se!r}")
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
    else:
        var_b = n / (n - 2) * float((xd * xd) @ (e * e)) / sxx**2
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
