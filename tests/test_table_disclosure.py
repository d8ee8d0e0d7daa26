"""Tables 3.2 and 3.3 on every municipality only when the published numbers cannot give back the
suppressed contributions (models/table_disclosure.py), checked by running the recovery attack."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from models.second_stage import CHARACTERISTICS, bivariate_fgls, bivariate_ols, characteristics_frame
from models.simulate import simulate_municipality_year
from models.table_disclosure import equation_count, identified_units, linear_equations, second_stage_sample

N_MUNICIPALITIES = 100
NAMES = [ch.name for ch in CHARACTERISTICS]


def synthetic_group(n_hidden: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Contributions of one group (the last n_hidden municipalities have fewer than 30 persons) and the
    synthetic municipality characteristics of models/simulate.py."""
    rng = np.random.default_rng(seed)
    codes = np.array([f"{1000 + i}" for i in range(N_MUNICIPALITIES)])
    chars = characteristics_frame(simulate_municipality_year(codes, rng.normal(size=N_MUNICIPALITIES)), year=2010)
    hidden = np.arange(N_MUNICIPALITIES) >= N_MUNICIPALITIES - n_hidden
    contributions = pd.DataFrame({
        "kommnr_2020": codes, "estimate": rng.normal(0, 8, N_MUNICIPALITIES),
        "std_error": np.where(hidden, rng.uniform(4, 10, N_MUNICIPALITIES), rng.uniform(1, 4, N_MUNICIPALITIES)),
        "n_persons": np.where(hidden, rng.integers(5, 30, N_MUNICIPALITIES), rng.integers(30, 900, N_MUNICIPALITIES)),
    })
    return contributions, chars


def published_numbers(y: np.ndarray, Z: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Every number tables 3.2, 3.3 and the weighted companion print about contributions y (n), given the
    characteristics Z (n × c) and FGLS weights W (c × n) taken as known: mean, SD, then per
    characteristic the OLS slopes, conventional SEs, HC3 SEs, FGLS slopes, FGLS SEs (vectorised; the
    test checks it against models/second_stage.py)."""
    n = len(y)
    zc = Z - Z.mean(axis=0)
    szz = np.sum(zc**2, axis=0)
    b = zc.T @ y / szz
    e = y[:, None] - (y.mean() - b * Z.mean(axis=0)) - b * Z
    se = np.sqrt(np.sum(e**2, axis=0) / (n - 2) / szz)
    leverage = 1 / n + zc**2 / szz
    se_hc3 = np.sqrt(np.sum(zc**2 * e**2 / (1 - leverage) ** 2, axis=0)) / szz
    zbar_w = np.sum(W.T * Z, axis=0) / W.sum(axis=1)
    zw = Z - zbar_w
    swzz = np.sum(W.T * zw**2, axis=0)
    bw = np.sum(W.T * zw * y[:, None], axis=0) / swzz
    aw = (W @ y) / W.sum(axis=1) - bw * zbar_w
    ew = y[:, None] - aw - bw * Z
    se_w = np.sqrt(np.sum(W.T * ew**2, axis=0) / (n - 2) / swzz)
    return np.concatenate([[y.mean(), y.std(ddof=1)], b, se, se_hc3, bw, se_w])


def attack(contributions: pd.DataFrame, chars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float]:
    """Solve for the suppressed contributions from the published numbers. The reader knows the
    characteristics, the released contributions, which municipalities are suppressed and (to be
    conservative) the FGLS weights. Linear equations (mean, slopes) first, by least squares; then all
    published numbers, quadratic ones included, by nonlinear least squares on the linear solutions.
    Returns (hidden values, the attack's solution, its largest relative misfit to the published numbers)."""
    y = contributions["estimate"].to_numpy()
    Z = chars.set_index("kommnr_2020").loc[contributions["kommnr_2020"], NAMES].to_numpy()
    omega = contributions["std_error"].to_numpy()
    hidden = contributions["n_persons"].to_numpy() < 30
    W = np.array([bivariate_fgls(y, Z[:, c], omega)["weights"] for c in range(Z.shape[1])])
    target = published_numbers(y, Z, W)               # what the tables print
    n, k = Z.shape

    def with_hidden(u: np.ndarray) -> np.ndarray:
        full = y.copy()
        full[hidden] = u
        return full

    # the linear statistics are A·y: solve A_S u = printed − A_R y_R
    linear = np.r_[0, np.arange(2, 2 + k), np.arange(2 + 3 * k, 2 + 4 * k)]
    A = np.array([published_numbers(np.eye(n)[i], Z, W)[linear] for i in range(n)]).T
    A[0] = 1.0 / n
    rhs = target[linear] - A[:, ~hidden] @ y[~hidden]
    u0, *_ = np.linalg.lstsq(A[:, hidden], rhs, rcond=None)
    null = np.linalg.svd(A[:, hidden])[2][np.linalg.matrix_rank(A[:, hidden]):].T
    scale = np.maximum(np.abs(target), 1e-3)

    def misfit(t: np.ndarray) -> np.ndarray:
        return (published_numbers(with_hidden(u0 + null @ t), Z, W) - target) / scale

    if null.shape[1] == 0:
        return y[hidden], u0, float(np.max(np.abs(misfit(np.zeros(0)))))
    fit = optimize.least_squares(misfit, np.zeros(null.shape[1]), method="trf", xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return y[hidden], u0 + null @ fit.x, float(np.max(np.abs(fit.fun)))


def test_the_attack_model_prints_what_the_second_stage_prints():
    contributions, chars = synthetic_group(n_hidden=5, seed=3)
    y = contributions["estimate"].to_numpy()
    Z = chars[NAMES].to_numpy()
    omega = contributions["std_error"].to_numpy()
    fgls = [bivariate_fgls(y, Z[:, c], omega) for c in range(len(NAMES))]
    printed = published_numbers(y, Z, np.array([f["weights"] for f in fgls]))
    k = len(NAMES)
    assert printed[2:2 + k] == pytest.approx([bivariate_ols(y, Z[:, c])["coef"] for c in range(k)], rel=1e-10)
    assert printed[2 + k:2 + 2 * k] == pytest.approx([bivariate_ols(y, Z[:, c])["std_error"] for c in range(k)])
    assert printed[2 + 2 * k:2 + 3 * k] == pytest.approx(
        [bivariate_ols(y, Z[:, c], se="HC3")["std_error"] for c in range(k)], rel=1e-10)
    assert printed[2 + 3 * k:2 + 4 * k] == pytest.approx([f["coef"] for f in fgls], rel=1e-10)
    assert printed[2 + 4 * k:] == pytest.approx([f["std_error"] for f in fgls], rel=1e-10)


def test_a_few_suppressed_municipalities_are_given_back_so_they_are_left_out():
    contributions, chars = synthetic_group(n_hidden=5, seed=1)
    decision = second_stage_sample(contributions, chars, min_persons=30)
    assert decision.n_suppressed == 5 and not decision.include_suppressed
    assert decision.n_linear == 5 and decision.n_identified == 5
    truth, solved, residual = attack(contributions, chars)
    assert residual < 1e-8
    assert np.max(np.abs(solved - truth)) < 1e-6       # the attack recovers every hidden value


def test_many_suppressed_municipalities_are_not_given_back_so_they_are_included():
    contributions, chars = synthetic_group(n_hidden=65, seed=2)
    decision = second_stage_sample(contributions, chars, min_persons=30)
    # 1 mean + 12 OLS + 12 FGLS slopes; SD + 12 HC3 + 12 FGLS SEs (the OLS SEs share the SD's sample)
    assert (decision.n_linear, decision.n_quadratic, decision.n_identified) == (25, 25, 0)
    assert decision.include_suppressed and "65 prikkede kommuner, 50 uavhengige likninger" in decision.note
    truth, solved, residual = attack(contributions, chars)
    assert residual < 1e-6                              # a solution consistent with every published number…
    errors = solved - truth
    assert np.sqrt(np.mean(errors**2)) > 0.5 * truth.std()  # …that is far from the hidden values
    assert np.mean(np.abs(errors) < 0.5) < 0.2          # few come within half a percentage point


def test_counting_by_hand():
    """Three municipalities, two hidden, one characteristic known everywhere: mean and OLS slope give
    rank 2 (z − z̄ is not constant on the hidden ones), so both are identified."""
    Z = np.array([[0.0], [1.0], [3.0]])
    hidden = np.array([False, True, True])
    rows = linear_equations(Z, hidden, published=("mean", "ols_slope"))
    assert rows == pytest.approx(np.array([[1.0, 1.0], [-1 / 3, 5 / 3]]))
    assert identified_units(rows).tolist() == [True, True]
    # with a characteristic missing for one hidden municipality: the mean alone, one equation
    Z_missing = np.array([[0.0], [1.0], [np.nan]])
    assert equation_count(Z_missing, hidden, published=("mean", "sd", "ols_slope", "ols_se")) == (2, 2, 2)
    assert equation_count(Z, hidden, published=("mean", "sd")) == (1, 1, 0)
    with pytest.raises(ValueError, match="published statistics must be among"):
        equation_count(Z, hidden, published=("median",))
