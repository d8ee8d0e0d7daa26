"""Rank confidence sets (models/ranks.py): hand cases, invariance, coverage by Monte Carlo."""
from __future__ import annotations

import numpy as np
import pytest

from models.ranks import contrast_draws, rank_confidence_sets, rank_table, ranks_descending


def test_ranks_are_descending_with_ties_sharing_the_best_rank():
    assert ranks_descending(np.array([3.0, 8.0, -4.0, 10.0, 2.0])).tolist() == [3, 2, 5, 1, 4]
    assert ranks_descending(np.array([1.0, 5.0, 5.0, 0.0])).tolist() == [3, 1, 1, 4]


def test_precise_estimates_give_point_sets_and_noise_gives_the_whole_range():
    theta = np.array([10.0, 0.0, 20.0, -5.0, 5.0])
    precise = rank_confidence_sets(theta, np.eye(5) * 1e-4)
    assert precise.rank.tolist() == [2, 4, 1, 5, 3]
    assert precise.lower.tolist() == precise.rank.tolist() == precise.upper.tolist()
    noisy = rank_confidence_sets(theta, np.eye(5) * 1e6)
    assert noisy.lower.tolist() == [1] * 5 and noisy.upper.tolist() == [5] * 5


def test_two_units_by_hand():
    """Two units, Var(θ̂₁ − θ̂₂) = 2: the max over the pairs (1,2), (2,1) of a one-sided statistic is
    |Z₁ − Z₂|/√2, whose 90 % quantile is z₀.₉₅ = 1.645. Difference 2.5 (t = 1.77) separates the ranks,
    difference 2.2 (t = 1.56) does not."""
    S = np.eye(2)
    apart = rank_confidence_sets(np.array([2.5, 0.0]), S, draws=20000, seed=1)
    assert apart.lower.tolist() == [1, 2] and apart.upper.tolist() == [1, 2]
    close = rank_confidence_sets(np.array([2.2, 0.0]), S, draws=20000, seed=1)
    assert close.lower.tolist() == [1, 1] and close.upper.tolist() == [2, 2]


def test_sets_do_not_depend_on_the_normalisation_and_are_seeded():
    rng = np.random.default_rng(2)
    p = 12
    A = rng.normal(size=(p, p))
    raw = A @ A.T / p + np.eye(p)
    alpha = rng.normal(0, 2, p)
    # reference normalisation: θ = α − α₀, Σ_ref = MΣM' with M = I − 1e₀'
    M = np.eye(p) - np.outer(np.ones(p), np.eye(p)[0])
    ref = rank_confidence_sets(alpha - alpha[0], M @ raw @ M.T, seed=4)
    plain = rank_confidence_sets(alpha, raw, seed=4)
    assert ref.lower.tolist() == plain.lower.tolist() and ref.upper.tolist() == plain.upper.tolist()
    draws = contrast_draws(raw, draws=50000, seed=9)
    diff = draws[:, 3] - draws[:, 7]
    assert diff.var() == pytest.approx(raw[3, 3] + raw[7, 7] - 2 * raw[3, 7], rel=0.03)


def test_simultaneous_sets_contain_the_marginal_ones():
    rng = np.random.default_rng(6)
    p = 25
    se = rng.uniform(0.5, 2.0, p)
    theta = np.linspace(0, 8, p) + rng.normal(size=p) * se
    marginal = rank_confidence_sets(theta, np.diag(se**2), seed=3)
    joint = rank_confidence_sets(theta, np.diag(se**2), kind="simultaneous", seed=3)
    assert (joint.lower <= marginal.lower).all() and (joint.upper >= marginal.upper).all()
    assert (marginal.lower <= marginal.rank).all() and (marginal.rank <= marginal.upper).all()
    with pytest.raises(ValueError, match="'marginal', 'simultaneous'"):
        rank_confidence_sets(theta, np.diag(se**2), kind="bonferroni")


def test_monte_carlo_coverage_at_least_nominal():
    """200 draws of 15 units with correlated errors: the marginal 90 % sets cover each unit's true rank
    in at least 90 % of draws on average, the simultaneous ones all ranks at once in at least 90 %."""
    rng = np.random.default_rng(11)
    p = 15
    theta = np.linspace(0, 5, p)
    se = rng.uniform(0.5, 1.5, p)
    S = np.diag(se**2) + 0.2 * np.outer(se, se)
    root = np.linalg.cholesky(S)
    true = ranks_descending(theta)
    marginal, joint = [], []
    for draw in range(200):
        estimate = theta + root @ rng.standard_normal(p)
        m = rank_confidence_sets(estimate, S, draws=400, seed=draw)
        s = rank_confidence_sets(estimate, S, kind="simultaneous", draws=400, seed=draw)
        marginal.append(((m.lower <= true) & (true <= m.upper)).mean())
        joint.append(((s.lower <= true) & (true <= s.upper)).all())
    assert np.mean(marginal) >= 0.90 and np.mean(joint) >= 0.90, (np.mean(marginal), np.mean(joint))
    assert np.mean(marginal) < 1.0  # the sets are informative, not the whole range


def test_rank_table_ranks_only_the_released_units():
    levels = np.array(["0301", "1001", "1002", "1003"])
    table = rank_table(levels, np.array([0.0, 5.0, 99.0, -3.0]), np.eye(4) * 0.01,
                       use=np.array([True, True, False, True]), simultaneous=True)
    assert table["rank"].tolist()[:2] == [2, 1] and table["rank"].isna().tolist() == [False, False, True, False]
    assert table.loc[3, "rank_ci_high"] == 3
