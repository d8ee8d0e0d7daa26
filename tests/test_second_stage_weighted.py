"""Precision-weighted second stage (models/second_stage.py: bivariate_fgls, HC3, second_stage_weighted)
and the one characteristics function."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from models.second_stage import (
    CHARACTERISTICS, bivariate_fgls, bivariate_ols, characteristics_frame, second_stage, second_stage_weighted,
)
from models.simulate import simulate_municipality_year


def test_fgls_by_hand():
    """y = (1, 3, 2, 5, 4), x = (0, 1, 2, 3, 4), ω = 1 each: S_xy = 8, S_xx = 10, OLS b = 0.8, a = 1.4,
    e = (−0.4, 0.8, −1, 1.2, −0.6), Σe² = 3.6; tr((X'X)⁻¹X'GX) = tr(I₂) = 2 with G = I;
    σ̂² = (3.6 − 5 + 2)/3 = 0.2. Equal weights, so FGLS = OLS."""
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    x = np.arange(5.0)
    res = bivariate_fgls(y, x, np.ones(5))
    assert res["sigma2"] == pytest.approx(0.2)
    assert res["coef"] == pytest.approx(0.8) and res["intercept"] == pytest.approx(1.4)
    # σ̂² is floored at 0 when the SEs alone exceed the residual spread
    assert bivariate_fgls(y, x, np.full(5, 3.0))["sigma2"] == 0.0


def test_fgls_equals_statsmodels_wls_with_the_same_weights():
    rng = np.random.default_rng(4)
    n = 150
    x = rng.normal(size=n)
    omega = rng.uniform(0.5, 6.0, n)
    y = 1.0 + 0.8 * x + rng.normal(0, 1.5, n) + omega * rng.normal(size=n)
    res = bivariate_fgls(y, x, omega)
    X = sm.add_constant(x)
    e = sm.OLS(y, X).fit().resid
    trace = np.trace(np.linalg.inv(X.T @ X) @ X.T @ np.diag(omega**2) @ X)
    sigma2 = (e @ e - (omega**2).sum() + trace) / (n - 2)
    assert res["sigma2"] == pytest.approx(sigma2, rel=1e-10)
    wls = sm.WLS(y, X, weights=1.0 / (omega**2 + sigma2)).fit()
    assert res["coef"] == pytest.approx(wls.params[1], rel=1e-10)
    assert res["intercept"] == pytest.approx(wls.params[0], rel=1e-10)
    assert res["std_error"] == pytest.approx(wls.bse[1], rel=1e-10)
    assert res["p_value"] == pytest.approx(wls.pvalues[1], rel=1e-8)
    # the square-root weights of a published port give another (wrong) estimate
    wrong = sm.WLS(y, X, weights=1.0 / np.sqrt(omega**2 + sigma2)).fit()
    assert abs(wrong.params[1] - res["coef"]) > 1e-6


def test_hc3_equals_statsmodels():
    rng = np.random.default_rng(7)
    x = rng.normal(size=60)
    y = 2 - x + rng.normal(size=60) * (1 + np.abs(x))
    fit = sm.OLS(y, sm.add_constant(x)).fit(cov_type="HC3")
    res = bivariate_ols(y, x, se="HC3")
    assert res["coef"] == pytest.approx(fit.params[1]) and res["std_error"] == pytest.approx(fit.bse[1], rel=1e-10)
    with pytest.raises(ValueError, match="'conventional', 'HC1', 'HC3'"):
        bivariate_ols(y, x, se="HC2")


def test_fgls_is_closer_to_the_truth_when_precision_varies():
    """Monte Carlo (300 draws): with ω ranging 0.5–10, FGLS has a smaller MSE for the slope than OLS."""
    rng = np.random.default_rng(9)
    n = 120
    x = rng.normal(size=n)
    omega = np.exp(rng.uniform(np.log(0.5), np.log(10.0), n))
    errors_ols, errors_fgls = [], []
    for _ in range(300):
        y = 0.5 * x + rng.normal(0, 1.0, n) + omega * rng.normal(size=n)
        errors_ols.append(bivariate_ols(y, x)["coef"] - 0.5)
        errors_fgls.append(bivariate_fgls(y, x, omega)["coef"] - 0.5)
    assert np.mean(np.square(errors_fgls)) < 0.5 * np.mean(np.square(errors_ols))


def test_second_stage_weighted_matches_table_3_3_ols():
    rng = np.random.default_rng(1)
    codes = np.array([f"{1000 + i}" for i in range(40)])
    chars = characteristics_frame(simulate_municipality_year(codes, rng.normal(size=40)), year=2010)
    contributions = pd.DataFrame({"gruppe": "alle", "kommnr_2020": codes, "estimate": rng.normal(0, 5, 40),
                                  "std_error": rng.uniform(1, 4, 40)})
    names = tuple(ch.name for ch in CHARACTERISTICS)
    weighted = second_stage_weighted(contributions, chars, names=names)
    plain = second_stage(contributions, chars, names=names)
    assert weighted["coef_ols"].to_numpy() == pytest.approx(plain["coef"].to_numpy())
    assert (weighted["n"] == plain["n"]).all() and len(weighted) == len(CHARACTERISTICS)


def test_one_characteristics_function_gives_regressors_and_levels():
    rng = np.random.default_rng(2)
    codes = np.array(["0301", "1001", "1002"])
    municipality_year = simulate_municipality_year(codes, rng.normal(size=3))
    regressors = characteristics_frame(municipality_year, year=2012)
    levels = characteristics_frame(municipality_year, year=2012, form="level")
    row = municipality_year[(municipality_year.aar == 2012)].iloc[1]
    assert regressors.loc[1, "ln_befolkning"] == pytest.approx(np.log(row.befolkning))
    assert levels.loc[1, "befolkning"] == row.befolkning
    assert levels.loc[1, "andel_industri_2010"] == pytest.approx(100 * row.andel_industri_2010)
    assert regressors.loc[1, "pst_industri_2010"] == pytest.approx(100 * row.andel_industri_2010)
    with pytest.raises(ValueError, match="'regressor', 'level'"):
        characteristics_frame(municipality_year, year=2012, form="raw")
