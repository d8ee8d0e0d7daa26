"""Hand-computed tiny cases for OLS, CR1/HC1/iid, the absorbed fixed effect and the second stage."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.design import Block, block_columns
from models.fixed_effects import fit_absorbed, normalise_effects
from models.ols import fit_ols, independent_columns
from models.second_stage import bivariate_ols, stars
from models.shapley import shapley_from_values
from models.vcov import fe_nested_in_clusters

# x = 0,1,2,3; y = 0,2,1,3.  x̄ = ȳ = 1.5, Sxx = 5, Sxy = 4 → b = 0.8, a = 0.3.
# residuals u = -0.3, 0.9, -0.9, 0.3; RSS = 1.8; TSS = 5 → R² = 0.64.
# (X'X)^{-1} = [[14, -6], [-6, 4]] / 20 = [[0.7, -0.3], [-0.3, 0.2]].
X = np.array([0.0, 1.0, 2.0, 3.0])
Y = np.array([0.0, 2.0, 1.0, 3.0])


def test_ols_coefficients_and_r2():
    res = fit_ols(Y, X, terms=["x"], vcov="iid")
    np.testing.assert_allclose(res.coef, [0.3, 0.8], atol=1e-14)
    assert res.r2 == pytest.approx(0.64, abs=1e-14)
    # adjusted: 1 - 0.36 * 3/2
    assert res.adj_r2 == pytest.approx(0.46, abs=1e-14)


def test_iid_vcov():
    # σ² = 1.8 / (4 - 2) = 0.9; V = 0.9 (X'X)^{-1}
    res = fit_ols(Y, X, vcov="iid")
    np.testing.assert_allclose(res.vcov, 0.9 * np.array([[0.7, -0.3], [-0.3, 0.2]]), atol=1e-14)


def test_hc1_vcov():
    # meat = Σ u² z z' = [[1.8, 2.7], [2.7, 4.86]]; B M B = [[.1854, -.0486], [-.0486, .0324]]; × N/(N-K) = 2
    res = fit_ols(Y, X, vcov="HC1")
    np.testing.assert_allclose(res.vcov, [[0.3708, -0.0972], [-0.0972, 0.0648]], atol=1e-13)


def test_cr1_three_clusters():
    # clusters {0}, {1,2}, {3}: s = (-0.3, 0), (0, -0.9), (0.3, 0.9)
    # B s = (-.21, .09), (.27, -.18), (-.06, .09); Σ (Bs)(Bs)' = [[.1206, -.0729], [-.0729, .0486]]
    # factor G/(G-1)·(N-1)/(N-K) = 3/2 · 3/2 = 2.25
    res = fit_ols(Y, X, cluster=np.array([0, 1, 1, 2]), vcov="CR1")
    np.testing.assert_allclose(res.vcov, 2.25 * np.array([[0.1206, -0.0729], [-0.0729, 0.0486]]), atol=1e-13)
    assert res.df_resid == 2


def test_cr1_two_clusters():
    # clusters {0,1}, {2,3}: s_A = (0.6, 0.9) = -s_B; B s_A = (0.15, 0); factor 2 · 3/2 = 3
    res = fit_ols(Y, X, cluster=np.array([0, 0, 1, 1]), vcov="CR1")
    np.testing.assert_allclose(res.vcov, [[3 * 2 * 0.0225, 0.0], [0.0, 0.0]], atol=1e-13)


def test_collinear_column_is_dropped_in_order():
    Xc = np.column_stack([X, 2 * X + 1, X**2])
    res = fit_ols(Y, Xc, terms=["x", "x_twice", "x_sq"], vcov="iid")
    assert res.dropped == ("x_twice",)
    assert res.terms == ("Intercept", "x", "x_sq")
    keep = independent_columns(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    assert keep.tolist() == [True, False, True]


def test_constant_column_is_dropped():
    res = fit_ols(Y, np.column_stack([X, np.full(4, 7.0)]), terms=["x", "seven"], vcov="iid")
    assert res.dropped == ("seven",)
    np.testing.assert_allclose(res.coef, [0.3, 0.8], atol=1e-13)


# Fixed effects: group 0 has (x, y) = (0, 1), (2, 3); group 1 has (1, 1), (3, 5).
# within: ẍ = (-1, 1, -1, 1), ÿ = (-1, 1, -2, 2) → β = 6/4 = 1.5; α0 = 2 - 1.5·1 = 0.5, α1 = 3 - 1.5·2 = 0.
# residuals (0.5, -0.5, -0.5, 0.5), RSS = 1.
FX = np.array([0.0, 2.0, 1.0, 3.0])
FY = np.array([1.0, 3.0, 1.0, 5.0])
FE = np.array([0, 0, 1, 1])


def test_fixed_effects_iid():
    # K = 1 + 2 levels, σ² = 1/(4-3) = 1. Var β = 1/4.
    # Var α_g = σ²(1/n_g + x̄_g² /4): α0: .5 + .25 = .75; α1: .5 + 1 = 1.5; Cov = x̄0 x̄1/4 = .5
    res = fit_absorbed(FY, FX, FE, vcov="iid")
    assert res.ols.coef[0] == pytest.approx(1.5, abs=1e-14)
    np.testing.assert_allclose(res.fe_coef, [0.5, 0.0], atol=1e-14)
    np.testing.assert_allclose(res.ols.vcov, [[0.25]], atol=1e-14)
    np.testing.assert_allclose(res.fe_vcov, [[0.75, 0.5], [0.5, 1.5]], atol=1e-14)
    ref = normalise_effects(res, normalisation="reference", reference="0")
    # θ1 = α1 - α0 = -0.5; Var = 1.5 + .75 - 2·.5 = 1.25
    np.testing.assert_allclose(ref["estimate"], [0.0, -0.5], atol=1e-14)
    np.testing.assert_allclose(ref["std_error"], [0.0, np.sqrt(1.25)], atol=1e-14)
    mean = normalise_effects(res, normalisation="mean")
    # θ = (0.25, -0.25); Var θ0 = Var((α0 - α1)/2) = 1.25/4
    np.testing.assert_allclose(mean["estimate"], [0.25, -0.25], atol=1e-14)
    np.testing.assert_allclose(mean["std_error"], [np.sqrt(0.3125)] * 2, atol=1e-14)


def test_fixed_effects_cr1_clusters_equal_to_groups():
    # clusters = groups (each FE level inside one cluster → nested → K = 1 + 1).
    # s_c = Σ ẍ u: c0 = -1, c1 = 1; B = 1/4; raw Var β = 2/16; factor 2/1 · 3/2 = 3 → 0.375
    # R = 0 (residuals sum to 0 per group); Ψ_c = -s_c B x̄' = (.25, .5), (-.25, -.5)
    # Q = 3 · 2 · [[.0625, .125], [.125, .25]]
    res = fit_absorbed(FY, FX, FE, cluster=np.array([0, 0, 1, 1]), vcov="CR1")
    assert res.fe_nested and res.ols.df_k == 2
    np.testing.assert_allclose(res.ols.vcov, [[0.375]], atol=1e-14)
    np.testing.assert_allclose(res.fe_vcov, [[0.375, 0.75], [0.75, 1.5]], atol=1e-14)


def test_nesting_direction_follows_pyfixest():
    fe = np.array([0, 0, 1, 1, 1])
    persons = np.array([0, 1, 2, 3, 3])   # persons inside municipalities: FE not nested in clusters
    assert not fe_nested_in_clusters(fe, persons)
    regions = np.array([0, 0, 0, 0, 0])   # every FE level inside one cluster: nested
    assert fe_nested_in_clusters(fe, regions)


def test_reference_absent_raises_naming_it():
    res = fit_absorbed(FY, FX, FE, fe_levels=np.array(["1001", "1002"], dtype=object), vcov="iid")
    with pytest.raises(ValueError, match="0301.*asyl.*mean"):
        normalise_effects(res, normalisation="reference", reference="0301", context="gruppe 'asyl'")
    with pytest.raises(ValueError, match="normalisation must be one of"):
        normalise_effects(res, normalisation="median")


def test_block_columns_reference_levels():
    values = pd.Series([3, 0, 99, 3, 1])
    cols, names, ref = block_columns(values, Block("utd", "utd", "categorical", 0))
    assert ref == 0 and names == ["utd[1]", "utd[3]", "utd[99]"]
    np.testing.assert_array_equal(cols, [[0, 1, 0], [0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    # absent reference → the first level present
    cols, names, ref = block_columns(pd.Series(["b", "c"]), Block("k", "k", "categorical", "a"))
    assert ref == "b" and names == ["k[c]"]
    cols, names, _ = block_columns(pd.Series([2, 3]), Block("age", "age", "quadratic"))
    np.testing.assert_array_equal(cols, [[2, 4], [3, 9]])
    assert names == ["age", "age^2"]


def test_bivariate_ols_by_hand():
    # same data as above: b = 0.8; conventional se = sqrt(0.9 / 5) = sqrt(0.18); t = 0.8/0.4243 on 2 df
    res = bivariate_ols(Y, X)
    assert res["coef"] == pytest.approx(0.8) and res["r2"] == pytest.approx(0.64)
    assert res["std_error"] == pytest.approx(np.sqrt(0.18))
    assert res["n"] == 4
    # HC1: n/(n-2) Σ(x-x̄)² e² / Sxx² = 2 · (2.25·.09 + .25·.81 + .25·.81 + 2.25·.09)/25 = 2·0.81/25
    assert bivariate_ols(Y, X, se="HC1")["std_error"] == pytest.approx(np.sqrt(2 * 0.81 / 25))
    # NaN pairs are dropped
    assert bivariate_ols(np.r_[Y, np.nan], np.r_[X, 5.0])["n"] == 4


def test_stars_thresholds():
    assert [stars(p) for p in (0.2, 0.099, 0.049, 0.009, np.nan)] == ["", "*", "**", "***", ""]


def test_shapley_of_a_small_game_by_hand():
    # v({}) = 0, v({0}) = 1, v({1}) = 2, v({0,1}) = 4 → φ0 = (1 + (4-2))/2 = 1.5, φ1 = 2.5
    np.testing.assert_allclose(shapley_from_values(np.array([0.0, 1.0, 2.0, 4.0]), 2), [1.5, 2.5])
    # a symmetric 3-player majority game (v = 1 for coalitions of two or more): each player gets 1/3
    majority = np.array([float(bin(mask).count("1") >= 2) for mask in range(8)])
    phi = shapley_from_values(majority, 3)
    np.testing.assert_allclose(phi, [1 / 3] * 3)
