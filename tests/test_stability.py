"""Stability of contributions across cohorts: a hand case, a Monte Carlo, and a planted correlation
recovered through the fixed-effects estimator on a simulated panel."""
from __future__ import annotations

import numpy as np
import pytest

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, build_design, regression_sample
from models.fixed_effects import fit_absorbed, normalise_effects
from models.simulate import simulate_panel
from models.stability import contribution_stability


def test_hand_case():
    a, b = np.array([1.0, 2, 3, 4]), np.array([2.0, 1, 4, 3])
    exact = contribution_stability(a, np.zeros(4), b, np.zeros(4), draws=200)
    # cov = 1, var = 5/3 each: r = 0.6; no sampling error, so nothing to correct
    assert exact.correlation == pytest.approx(0.6) and exact.corrected == pytest.approx(0.6)
    assert exact.reliability_first == pytest.approx(1.0) and exact.n_municipalities == 4
    noisy = contribution_stability(a, np.ones(4), b, np.full(4, 0.5), draws=200)
    # signal variances 5/3 - 1 = 2/3 and 5/3 - 1/4 = 17/12: corrected = 1 / sqrt(2/3 * 17/12)
    assert noisy.reliability_first == pytest.approx(0.4) and noisy.reliability_second == pytest.approx(0.85)
    assert noisy.corrected == pytest.approx(1 / np.sqrt(2 / 3 * 17 / 12))
    assert np.isnan(contribution_stability(a, np.full(4, 2.0), b, np.zeros(4), draws=200).corrected)


def test_monte_carlo_corrected_correlation_is_centred_on_the_truth_and_its_interval_covers():
    rng = np.random.default_rng(5)
    rho, tau, m = 0.6, 5.0, 250
    corrected, raw, covered = [], [], 0
    for draw in range(120):
        first = rng.normal(scale=tau, size=m)
        second = rho * first + np.sqrt(1 - rho ** 2) * rng.normal(scale=tau, size=m)
        se1, se2 = rng.uniform(2, 6, m), rng.uniform(2, 6, m)
        result = contribution_stability(first + rng.normal(scale=se1), se1, second + rng.normal(scale=se2), se2,
                                        draws=400, seed=draw)
        corrected.append(result.corrected)
        raw.append(result.correlation)
        covered += result.ci_low <= rho <= result.ci_high
    assert abs(np.mean(corrected) - rho) < 0.03          # centred on the truth
    assert np.mean(raw) < rho - 0.15                       # the raw correlation is attenuated
    assert 0.82 <= covered / 120 <= 0.97                   # nominal 90 %


def test_a_planted_change_between_cohorts_is_recovered_through_the_estimator():
    """Effects of the 2015-2019 arrivals correlate 0.5 with those of 2010-2014 across 100 municipalities."""
    planted = 0.5
    person_year, _ = simulate_panel(100_000, n_municipalities=100, seed=21, cohort_correlation=planted,
                                    size_exponent=0.3)
    effects = []
    for cohort in ((2010, 2014), (2015, 2019)):
        rows = person_year[person_year.innvandringsaar.between(*cohort)]
        sample, _ = regression_sample(rows, min_age=20, max_age=69)
        design = build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
        fit = fit_absorbed(design.y, design.X, design.fe, cluster=design.cluster, fe_levels=design.fe_levels)
        effects.append(normalise_effects(fit, normalisation="mean").set_index("level"))
    first, second = effects[0].align(effects[1], join="inner", axis=0)
    result = contribution_stability(first.estimate, first.std_error, second.estimate, second.std_error,
                                    level=0.95, seed=1)
    assert result.n_municipalities == 100
    assert result.ci_low <= planted <= result.ci_high, result
    assert result.correlation < planted - 0.1                           # sampling error attenuates it
    assert abs(result.corrected - planted) < 0.1, result
