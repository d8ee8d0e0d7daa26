"""Empirical-Bayes contributions (models/shrinkage.py) and robust EBCI critical values (models/ebci.py).

Three ways: golden values of the R package `ebci` (tests/testthat/test-cv.R; its `cva` takes m₂, the
second moment of the normalised bias, so B = √m₂ = 5 is m₂ = 25), a five-municipality case worked by
hand, an independent engine (statsmodels' Paule–Mandel random-effects meta-analysis), and Monte Carlo
recovery of planted effects.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from models import ebci
from models.shrinkage import (
    critical_values, empirical_bayes, moments, morris_prior, pooled_standard_errors, shrink_contributions,
)

# --- critical values: the package's own test values ------------------------------------------------


@pytest.mark.parametrize(("m2", "kappa", "alpha", "expected"), [
    (25.0, 3.0, 0.05, 11.88358367),          # cva(m2=25, kappa=3): B = 5
    (100.0, 3.0, 0.05, 24.86172217),         # cva(10^2, 3): B = 10
    (1.0, 3.0, 0.2, 1.8494683),              # cva(m2=1, kappa=3, alpha=0.2)
    (2.8**2, 8.0, 0.1, 7.0779747158),        # cva(m2=2.8^2, alpha=0.1, kappa=8)
    (0.0, math.inf, 0.05, stats.norm.ppf(0.975)),
    (0.0, 4.0, 0.2, stats.norm.ppf(0.9)),
])
def test_cva_matches_the_ebci_package(m2, kappa, alpha, expected):
    assert ebci.cva(m2, kappa=kappa, alpha=alpha).cv == pytest.approx(expected, rel=1.5e-8)


def test_rho_and_lam_match_the_ebci_package():
    assert ebci.rho(1.0, 3.0, 11.9699639845401).alpha == pytest.approx(6.0216e-05, rel=1e-4)
    assert ebci.rho(2.8**2, 8.0, 7.1324290147839279896).alpha == pytest.approx(0.09805099, rel=1e-7)
    assert ebci.lam(0.0, 42.2201)[1] == pytest.approx(1932.78377442, rel=1e-9)
    assert ebci.lam(0.000759676644983789, 2.85710241617874)[0] == pytest.approx(0.00827903, abs=5e-9)


def test_cva_limits_and_orderings():
    # kurtosis 1 (b² known) is the non-central chi-square value; a large kappa does not bind
    assert ebci.cva(1.0, kappa=1.0).cv == pytest.approx(ebci.cvb(1.0))
    assert ebci.cva(1.0, kappa=1e4, alpha=0.2).cv == pytest.approx(ebci.cva(1.0, alpha=0.2).cv)
    assert abs(ebci.cva(25.0, kappa=1.000001).cv - ebci.cvb(5.0)) < 1e-5
    assert ebci.cva(0.25, kappa=15.0).cv < ebci.cva(0.25).cv
    # the bound on kurtosis only tightens: cvb(√m₂) <= cva(m₂, κ) <= cva(m₂, ∞) <= Chebyshev
    for m2 in (0.1, 1.0, 4.0):
        values = [ebci.cvb(math.sqrt(m2), 0.1), ebci.cva(m2, kappa=3.0, alpha=0.1).cv,
                  ebci.cva(m2, alpha=0.1).cv, math.sqrt((1 + m2) / 0.1)]
        assert all(a <= b * (1 + 1e-12) for a, b in zip(values, values[1:])), values
    # the returned least-favourable distribution attains the moments and the non-coverage alpha
    result = ebci.cva(2.0, kappa=3.0, alpha=0.1)
    x, p = np.array(result.x), np.array(result.p)
    assert p @ x == pytest.approx(2.0, rel=1e-4) and p @ x**2 <= 3.0 * 4.0 * (1 + 1e-4)
    assert result.alpha == pytest.approx(0.1, abs=1e-6)


def test_interpolated_critical_values_agree_with_exact_ones():
    m2 = np.geomspace(0.03, 8.0, 60)
    exact = np.array([ebci.cva(m, kappa=4.0, alpha=0.1).cv for m in m2[::7]])
    assert np.max(np.abs(critical_values(m2, kappa=4.0, alpha=0.1)[::7] / exact - 1)) < 2e-4


# --- the estimator by hand -----------------------------------------------------------------------


def test_five_municipalities_by_hand():
    """Y = −4, −2, 0, 2, 4, σ = 1, X = constant. Morris: δ = 0, τ² = s²(Y) − σ² = 10 − 1 = 9.
    Moments with equal weights 1/10: μ̃₂ = mean(Y²) − 1 = 7; PMT floor 2·5·0.01/(0.5·0.5) = 0.4;
    μ̃₄ = mean(Y⁴ − 6Y² + 3) = 108.8 − 48 + 3 = 63.8, κ = max(63.8/49, 1 + 6.4/49) = 63.8/49.
    w = 7/8, θ̂ = 0.875 Y, posterior SD √0.875, half-length cva(1/7, κ) · 0.875."""
    y = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    se = np.ones(5)
    X = np.ones((5, 1))
    delta, tau2, w = morris_prior(y, se, X)
    assert delta == pytest.approx([0.0], abs=1e-12) and tau2 == pytest.approx(9.0)
    assert w == pytest.approx(np.full(5, 0.1))
    mom = moments(y, se, w)
    assert mom.mu2 == pytest.approx(7.0) and mom.kappa == pytest.approx(63.8 / 49)
    result = empirical_bayes(y, se, X, alpha=0.1)
    assert result.estimate == pytest.approx(0.875 * y)
    assert result.std_error == pytest.approx(np.full(5, math.sqrt(0.875)))
    half = ebci.cva(1 / 7, kappa=63.8 / 49, alpha=0.1).cv * 0.875
    assert result.ci_high - result.estimate == pytest.approx(np.full(5, half), rel=1e-6)
    assert result.estimate - result.ci_low == pytest.approx(np.full(5, half), rel=1e-6)
    assert result.parametric_half_length == pytest.approx(np.full(5, stats.norm.ppf(0.95) * math.sqrt(0.875)))
    # the robust interval is wider than the parametric one, whose worst case undercovers
    assert half > result.parametric_half_length[0]
    assert (result.parametric_noncoverage > 0.1).all()


def test_zero_prior_variance_is_floored_and_the_reference_unit_is_kept():
    """Estimates closer together than their noise: τ² = 0, and μ₂ is the PMT floor
    2Σw²σ⁴/(Σw·Σwσ²) = 2·5/(5·5) = 0.4 (σ = 1, w = 1), so w = 0.4/1.4, not 0; a unit with σ = 0
    (the reference municipality) keeps its estimate with a zero-width interval."""
    y = np.array([-0.1, 0.05, 0.0, 0.1, -0.05, 0.0])
    se = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    result = empirical_bayes(y, se, np.ones((6, 1)), alpha=0.1)
    assert result.tau2 == 0.0
    assert result.moments.mu2_uncorrected < 0 and result.moments.mu2 == pytest.approx(0.4)
    assert result.shrinkage[:5] == pytest.approx(np.full(5, 0.4 / 1.4))
    assert result.estimate[5] == 0.0 and result.ci_low[5] == result.ci_high[5] == 0.0
    assert (result.ci_high[:5] - result.ci_low[:5] > 0).all()


def test_option_errors_name_the_allowed_values():
    with pytest.raises(ValueError, match="'morris', 'equal'"):
        empirical_bayes(np.zeros(20), np.ones(20), np.ones((20, 1)), prior_weights="ml")
    with pytest.raises(ValueError, match="'PMT', 'none'"):
        empirical_bayes(np.zeros(20), np.ones(20), np.ones((20, 1)), fs_correction="FPLIB")
    frame = pd.DataFrame({"gruppe": "alle", "kommnr_2020": ["0301"], "estimate": [0.0], "std_error": [1.0],
                          "n_persons": [50], "n_person_years": [200]})
    with pytest.raises(ValueError, match="'pooled', 'cluster'"):
        shrink_contributions(frame, min_persons=30, standard_errors="robust")


# --- an independent engine -----------------------------------------------------------------------


def test_morris_with_a_constant_equals_statsmodels_paule_mandel():
    """With X = constant, Morris's fixed point Σw(k/(k−1)e² − σ²) = τ²Σw is Σw e² = k − 1: Paule–Mandel."""
    rng = np.random.default_rng(3)
    se = rng.uniform(0.5, 3.0, 40)
    y = 2.0 + rng.normal(0, 1.5, 40) + rng.normal(size=40) * se
    delta, tau2, _ = morris_prior(y, se, np.ones((40, 1)))
    reference = combine_effects(y, se**2, method_re="pm")
    assert tau2 == pytest.approx(reference.tau2, rel=1e-6)
    assert delta[0] == pytest.approx(reference.mean_effect_re, rel=1e-8)


# --- Monte Carlo ---------------------------------------------------------------------------------


@pytest.mark.parametrize("effects", ["normal", "skewed"])
def test_monte_carlo_mse_and_robust_coverage(effects):
    """200 draws of 120 municipalities, half with σ = 1 and half with σ = 2, prior mean depending on a
    covariate; θ − Xδ normal or centred χ²₁ (skewness 2.8, kurtosis 15). Shrinkage beats the raw
    estimates in MSE and the robust 90 % EBCI covers 90 % of the municipalities on average."""
    rng = np.random.default_rng(12 if effects == "normal" else 13)
    n = 120
    group = np.arange(n) < n // 2
    se = np.where(group, 1.0, 2.0)
    X = np.column_stack([np.ones(n), group])
    covered, sq_eb, sq_raw = [], [], []
    for _ in range(200):
        u = rng.standard_normal(n) if effects == "normal" else (rng.chisquare(1, n) - 1) / math.sqrt(2)
        theta = 1.0 + 2.0 * group + 2.0 * u
        y = theta + se * rng.standard_normal(n)
        result = empirical_bayes(y, se, X, alpha=0.1)
        covered.append(np.mean((result.ci_low <= theta) & (theta <= result.ci_high)))
        sq_eb.append(np.mean((result.estimate - theta) ** 2))
        sq_raw.append(np.mean((y - theta) ** 2))
    coverage = float(np.mean(covered))
    ratio = float(np.mean(sq_eb) / np.mean(sq_raw))
    # 24,000 municipality-draws: Monte Carlo SE of the coverage about 0.002
    assert 0.88 <= coverage <= 0.93, coverage
    assert ratio < 0.8, ratio


def test_pooled_standard_errors_recover_the_variance_model():
    """σ_j² = s²[1 + (T̄_j − 1)ρ]/N_j with s² = 2000, ρ = 0.4, measured with 20 % noise: recovered."""
    rng = np.random.default_rng(5)
    persons = rng.integers(30, 400, 300).astype(float)
    years = persons * rng.uniform(2.0, 7.0, 300)
    true = np.sqrt(2000 * (1 + (years / persons - 1) * 0.4) / years)
    noisy = true * np.sqrt(rng.chisquare(50, 300) / 50)
    pooled, s2, rho = pooled_standard_errors(noisy, persons, years)
    assert s2 == pytest.approx(2000, rel=0.1) and rho == pytest.approx(0.4, abs=0.06)
    assert np.max(np.abs(pooled / true - 1)) < 0.08
    assert pooled_standard_errors(np.r_[noisy, 0.0], np.r_[persons, 500], np.r_[years, 2000])[0][-1] == 0.0


def test_shrink_contributions_uses_only_releasable_municipalities():
    """Changing a suppressed municipality's estimate changes no published value."""
    rng = np.random.default_rng(8)
    n = 80
    persons = np.r_[rng.integers(30, 500, 60), rng.integers(5, 30, 20)]
    years = persons * 4
    frame = pd.DataFrame({
        "gruppe": "asyl", "kommnr_2020": [f"{1000 + i}" for i in range(n)],
        "estimate": rng.normal(0, 4, n), "std_error": 40 / np.sqrt(persons), "n_persons": persons,
        "n_person_years": years,
    })
    first, summary = shrink_contributions(frame, min_persons=30)
    changed = frame.assign(estimate=np.where(persons < 30, 99.0, frame["estimate"]))
    second, _ = shrink_contributions(changed, min_persons=30)
    pd.testing.assert_frame_equal(first, second)
    assert first.loc[persons < 30, "eb_estimate"].isna().all()
    assert first.loc[persons >= 30, ["eb_estimate", "eb_ci_low", "eb_ci_high"]].notna().all().all()
    assert summary.loc[0, "n_municipalities"] == 60
    points, _ = shrink_contributions(frame, min_persons=30, intervals=False)   # the robustness stage's call
    pd.testing.assert_series_equal(points["eb_estimate"], first["eb_estimate"])
    pd.testing.assert_series_equal(points["eb_std_error"], first["eb_std_error"])
    assert points[["eb_ci_low", "eb_ci_high"]].isna().all().all()


# --- size-dependent prior variance (moment independence relaxed) ----------------------------------


@pytest.mark.parametrize("link", ["log", "identity"])
def test_constant_variance_covariate_reproduces_the_constant_prior(link):
    """Z = constant column: exp(γ₀) (or γ₀) is the weighted mean of e² − σ², the per-unit PMT floor is
    2Σw²σ⁴/(Σw·Σwσ²) and the standardised κ is μ̃₄/μ₂²: every result equals the one-μ₂ path."""
    rng = np.random.default_rng(21)
    n = 60
    se = rng.uniform(0.5, 3.0, n)
    se[0] = 0.0                                   # a reference unit, kept at its estimate
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    for spread in (2.0, 0.0):                     # μ₂ estimated, and μ₂ at the floor
        y = X @ [1.0, 0.5] + spread * rng.standard_normal(n) + se * rng.standard_normal(n)
        for options in ({}, {"prior_weights": "equal"}, {"fs_correction": "none"}):
            one = empirical_bayes(y, se, X, alpha=0.1, **options)
            by_z = empirical_bayes(y, se, X, alpha=0.1, variance_covariates=np.ones((n, 1)), variance_link=link,
                                   **options)
            for name in ("estimate", "std_error", "ci_low", "ci_high", "shrinkage", "prior_mean",
                         "parametric_noncoverage", "prior_variance"):
                np.testing.assert_allclose(getattr(by_z, name), getattr(one, name), rtol=1e-12, atol=1e-12,
                                           err_msg=f"{name} {options} spread={spread}")
            assert by_z.moments.mu2 == pytest.approx(one.moments.mu2, rel=1e-12)
            assert by_z.moments.kappa == pytest.approx(one.moments.kappa, rel=1e-12)
            assert by_z.moments.mu2_uncorrected == pytest.approx(one.moments.mu2_uncorrected, rel=1e-12)
            if by_z.moments.mu2 > 0:
                assert by_z.estimate[0] == y[0] and by_z.ci_low[0] == by_z.ci_high[0] == y[0]


def test_log_link_fit_equals_statsmodels_weighted_poisson():
    """Σ w (y − exp(Z'γ)) Z = 0 is the score of a Poisson GLM with variance weights w."""
    import statsmodels.api as sm
    from models.shrinkage import log_link_fit

    rng = np.random.default_rng(4)
    Z = np.column_stack([np.ones(200), rng.uniform(3, 8, 200)])
    y = np.exp(Z @ [4.0, -0.6]) * rng.chisquare(1, 200)
    w = rng.uniform(0.5, 2.0, 200)
    reference = sm.GLM(y, Z, family=sm.families.Poisson(), var_weights=w).fit(tol=1e-14).params
    np.testing.assert_allclose(log_link_fit(y, Z, w), reference, rtol=1e-8)
    assert np.all(log_link_fit(-y, Z, w) == -np.inf)    # no positive μ₂ fits: floored downstream


def _size_design(rng: np.random.Generator, n_units: int):
    """n log-uniform on 30–3000, σ = 40/√n, SD(θ − 0.5) ∝ n^−0.45 with overall SD 7 (as the synthetic data)."""
    persons = np.sort(np.exp(rng.uniform(math.log(30), math.log(3000), n_units)))
    se = 40 / np.sqrt(persons)
    sd = persons**-0.45
    sd *= 7 / np.sqrt(np.mean(sd**2))
    return persons, se, sd


def test_monte_carlo_size_dependent_variance_covers_small_municipalities():
    """300 municipalities whose effects vary more when small (SD 10 among the smallest third, 2.6 among the
    largest). One μ₂ over-shrinks the small ones and its robust 90 % EBCI undercovers them; μ₂_j =
    exp(γ₀ + γ₁ ln n_j) covers 90 % overall and among the smallest third, and beats the raw MSE."""
    rng = np.random.default_rng(1212)
    n_units = 300
    persons, se, sd = _size_design(rng, n_units)
    X = np.column_stack([np.ones(n_units), np.log(persons)])
    smallest = np.arange(n_units) < n_units // 3
    covered = {"constant": [], "size": []}
    covered_small = {"constant": [], "size": []}
    squared = {"constant": [], "size": [], "raw": []}
    for _ in range(200):
        theta = 0.5 + sd * rng.standard_normal(n_units)
        y = theta + se * rng.standard_normal(n_units)
        squared["raw"].append(np.mean((y - theta) ** 2))
        for name, Z in (("constant", None), ("size", X)):
            result = empirical_bayes(y, se, X, alpha=0.1, variance_covariates=Z)
            inside = (result.ci_low <= theta) & (theta <= result.ci_high)
            covered[name].append(inside.mean())
            covered_small[name].append(inside[smallest].mean())
            squared[name].append(np.mean((result.estimate - theta) ** 2))
    coverage = {k: float(np.mean(v)) for k, v in covered.items()}
    coverage_small = {k: float(np.mean(v)) for k, v in covered_small.items()}
    mse = {k: float(np.mean(v)) for k, v in squared.items()}
    # 60,000 municipality-draws (20,000 among the smallest): Monte Carlo SE of a coverage about 0.002–0.004
    assert coverage["size"] >= 0.88, coverage
    assert coverage_small["size"] >= 0.85, coverage_small
    assert coverage_small["constant"] < coverage_small["size"] - 0.05, coverage_small   # the problem fixed
    assert mse["size"] <= mse["raw"], mse
    assert mse["size"] < mse["constant"], mse


def test_shrink_contributions_with_size_dependent_variance():
    """variance_by_size writes γ (μ₂_j = exp(γ_konstant + γ_ln_personer ln n)) and finite EB columns for the
    releasable municipalities only; False gives the one-μ₂ summary without γ."""
    rng = np.random.default_rng(9)
    n = 120
    persons = np.r_[np.exp(rng.uniform(math.log(30), math.log(3000), 100)).round(), rng.integers(1, 30, 20)]
    _, _, sd = _size_design(rng, n)
    frame = pd.DataFrame({
        "gruppe": "overforing", "kommnr_2020": [f"{1000 + i}" for i in range(n)],
        "estimate": sd * rng.standard_normal(n) + 40 / np.sqrt(persons) * rng.standard_normal(n),
        "std_error": 40 / np.sqrt(persons), "n_persons": persons, "n_person_years": persons * 4,
    })
    released = persons >= 30
    out, summary = shrink_contributions(frame, min_persons=30)
    assert {"gamma_konstant", "gamma_ln_personer"} <= set(summary.columns)
    assert np.isfinite(summary.loc[0, ["gamma_konstant", "gamma_ln_personer", "mu2", "kappa"]].astype(float)).all()
    columns = ["eb_estimate", "eb_std_error", "eb_ci_low", "eb_ci_high", "eb_shrinkage", "eb_prior_mean"]
    assert np.isfinite(out.loc[released, columns].to_numpy(dtype=float)).all()
    assert out.loc[~released, columns].isna().all().all()
    # shrinkage rises with size: the small municipalities' effects vary more
    shrink = out.loc[released, "eb_shrinkage"].to_numpy(dtype=float)
    assert np.corrcoef(np.log(persons[released]), shrink)[0, 1] > 0
    _, one = shrink_contributions(frame, min_persons=30, variance_by_size=False)
    assert "gamma_konstant" not in one.columns
    assert summary.loc[0, "delta_konstant"] == one.loc[0, "delta_konstant"]
