"""Empirical-Bayes municipality contributions with robust confidence intervals (issue 12).

Each municipality j has an estimate Y_j of its contribution θ_j (pp) with standard error σ_j.
Prior: θ_j ~ (X_j'δ, μ₂), X_j = (1, ln persons_j [, characteristics]), so that a small
municipality is shrunk toward what municipalities of its size achieve, not toward the grand mean.

1. Weights and δ (Morris 1983, JASA 78: 47–55, eq. 4.1–4.3, the heteroskedastic moment estimator):
   iterate w_j = 1/(σ_j² + τ²), δ = (X'WX)⁻¹X'WY, e = Y − Xδ,
   τ² = max{0, Σ w_j [k/(k−r) e_j² − σ_j²] / Σ w_j}   (k units, r columns of X)
   to its fixed point. (It solves Σ w_j e_j² = k − r: the Paule–Mandel estimator of meta-analysis.)
2. μ₂ and κ of θ − Xδ by the moment formulas of Armstrong, Kolesár and Plagborg-Møller (2022,
   Econometrica 90: 2567–2602; R package `ebci`, `moments`), with those weights:
   μ̃₂ = Σw(e² − σ²)/Σw,  μ̃₄ = Σw(e⁴ − 6σ²e² + 3σ⁴)/Σw,
   μ₂ = max(μ̃₂, 2Σw²σ⁴/(Σw·Σwσ²)),  κ = max(μ̃₄/μ₂², 1 + 32Σw²σ⁸/(Σw·Σwσ⁴)/μ₂²)   ("PMT" floors).
   The floors keep μ₂ > 0: when τ² is estimated at 0 the estimates are shrunk strongly toward Xδ
   but not all the way, and the robust interval widens to cover the bias that allows.
3. Posterior: w_j = μ₂/(μ₂ + σ_j²), θ̂_j = X_j'δ + w_j (Y_j − X_j'δ), posterior SD √w_j σ_j.
4. Robust EBCI: θ̂_j ± cva_α(σ_j²/μ₂, κ) · w_j σ_j (models/ebci.py), which covers 1 − α of the
   municipalities on average for any distribution of θ − Xδ with those two moments. The parametric
   interval θ̂_j ± z_{1−α/2} √w_j σ_j is reported with its worst-case non-coverage
   ρ(σ_j²/μ₂, κ, z √(1 + σ_j²/μ₂)), as `ebci` does.
5. Size-dependent μ₂ (optional `variance_covariates` Z with a constant column, e.g. (1, ln persons)):
   moment independence (one μ₂ whatever σ_j) is relaxed, as the paper allows, by letting the moment
   condition E[e² − σ²] = μ₂ hold given Z, fitted with the weights of step 2:
   log link (default): Σ w_j (e_j² − σ_j² − exp(Z_j'γ)) Z_j = 0 (pseudo-Poisson; μ̃₂_j = exp(Z_j'γ) > 0,
   and with ln persons a power law in size, as the spread of the effects falls with size);
   identity link: μ̃₂_j = Z_j'γ, γ = (Z'WZ)⁻¹Z'W(e² − σ²) (can turn negative for the largest units).
   PMT floor per unit: μ₂_j = max(μ̃₂_j, V_j/σ̄²), V_j = Z_j'(Z'WZ)⁻¹[Σ w_i² 2σ_i⁴ Z_iZ_i'](Z'WZ)⁻¹Z_j
   (the variance of the linear fit at Z_j when μ₂ = 0), σ̄² = Σwσ²/Σw; with Z = 1 the constant floor.
   κ is one constant: step 2 on the standardised e_j/√μ₂_j, σ_j/√μ₂_j (whose μ₂ is 1):
   κ = max(Σw(e⁴ − 6σ²e² + 3σ⁴)/μ₂_j² / Σw, 1 + 32Σw²σ⁸/μ₂_j⁴ / (Σw·Σwσ⁴/μ₂_j²)).
   Steps 3–4 use μ₂_j. δ and W stay Morris's (constant τ²), so Z = 1 gives the constant-μ₂ results.

The unit with σ_j = 0 (the reference municipality under reference normalisation, 0 by definition)
does not enter δ, μ₂, κ and keeps its estimate with a zero-width interval.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.interpolate import PchipInterpolator

from models import ebci

FsCorrection = Literal["PMT", "none"]
FS_CORRECTIONS: tuple[str, ...] = ("PMT", "none")
PriorWeights = Literal["morris", "equal"]
PRIOR_WEIGHTS: tuple[str, ...] = ("morris", "equal")
KNOTS_PER_DECADE = 16   # cva on a log grid of σ²/μ₂, interpolated (relative error < 1e-4)
MAX_EXACT = 24          # up to this many distinct σ²/μ₂ values, cva is computed for each


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, not {value!r}")


def weighted_fit(y: np.ndarray, X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """δ = (X'WX)⁻¹X'Wy (least squares on √w-scaled rows, so a rank-deficient X still solves)."""
    sw = np.sqrt(w)
    return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]


def morris_prior(y: np.ndarray, se: np.ndarray, X: np.ndarray, *, max_iter: int = 500,
                 tol: float = 1e-12) -> tuple[np.ndarray, float, np.ndarray]:
    """(δ, τ², weights 1/(σ² + τ²)) at the fixed point of Morris's (1983) iteration (module doc)."""
    k, n_cols = X.shape
    if k <= n_cols:
        raise ValueError(f"need more units ({k}) than prior covariates ({n_cols})")
    factor = k / (k - n_cols)
    delta = weighted_fit(y, X, np.ones(k))
    tau2 = max(float(np.mean((y - X @ delta) ** 2 - se**2)), 0.0)
    for _ in range(max_iter):
        w = 1.0 / (se**2 + tau2)
        delta = weighted_fit(y, X, w)
        e = y - X @ delta
        new = max(float(np.sum(w * (factor * e**2 - se**2)) / np.sum(w)), 0.0)
        if abs(new - tau2) <= tol * max(1.0, tau2):
            tau2 = new
            break
        tau2 = new
    w = 1.0 / (se**2 + tau2)
    return weighted_fit(y, X, w), tau2, w


@dataclass(frozen=True)
class Moments:
    """μ₂ and κ of θ − Xδ after the finite-sample floor, and before it (ebci's `moments`)."""

    mu2: float
    kappa: float
    mu2_uncorrected: float
    kappa_uncorrected: float


def moments(residual: np.ndarray, se: np.ndarray, weights: np.ndarray, *,
            fs_correction: FsCorrection = "PMT", kappa: float | None = None) -> Moments:
    """Weighted moment estimates of μ₂ and κ with the "PMT" (posterior mean truncation) or no floor."""
    _check(fs_correction, FS_CORRECTIONS, "fs_correction")
    w = weights / weights.sum()
    sum_w = float(weights.sum())
    m2_raw = float(np.sum(w * (residual**2 - se**2)))
    m4_raw = float(np.sum(w * (residual**4 - 6 * se**2 * residual**2 + 3 * se**4)))
    floor2 = 2 * float(np.sum(weights**2 * se**4)) / (sum_w * float(np.sum(weights * se**2)))
    floor4 = 32 * float(np.sum(weights**2 * se**8)) / (sum_w * float(np.sum(weights * se**4)))
    if fs_correction == "none":
        mu2 = max(m2_raw, 0.0)
        kap = kappa if kappa is not None else (max(m4_raw / mu2**2, 1.0) if mu2 > 0 else math.inf)
    else:
        mu2 = max(m2_raw, floor2)
        kap = kappa if kappa is not None else max(m4_raw / mu2**2, 1.0 + floor4 / mu2**2)
    return Moments(mu2=mu2, kappa=kap, mu2_uncorrected=m2_raw,
                   kappa_uncorrected=m4_raw / m2_raw**2 if m2_raw != 0 else math.nan)


VarianceLink = Literal["log", "identity"]
VARIANCE_LINKS: tuple[str, ...] = ("log", "identity")


@dataclass(frozen=True)
class CovariateMoments:
    """μ₂(z) = exp(z'γ) or z'γ, floored per unit, and one κ (module doc, step 5)."""

    gamma: np.ndarray
    link: str
    fs_correction: str
    floor_form: np.ndarray   # F: the PMT floor at z is z'Fz = V(z)/σ̄²
    summary: Moments         # weighted means over the fitted units of μ₂_j (floored, raw); κ

    def mu2(self, Z: np.ndarray) -> np.ndarray:
        """Floored μ₂ at the rows of Z."""
        return _floored(_linked(Z, self.gamma, self.link), Z, self.floor_form, self.fs_correction)


def _linked(Z: np.ndarray, gamma: np.ndarray, link: str) -> np.ndarray:
    if link == "identity":
        return Z @ gamma
    return np.exp(Z @ gamma) if np.isfinite(gamma).all() else np.zeros(len(Z))


def _floored(raw: np.ndarray, Z: np.ndarray, floor_form: np.ndarray, fs_correction: str) -> np.ndarray:
    if fs_correction == "none":
        return np.maximum(raw, 0.0)
    return np.maximum(raw, np.einsum("ij,jk,ik->i", Z, floor_form, Z))


def log_link_fit(y: np.ndarray, Z: np.ndarray, w: np.ndarray, *, max_iter: int = 100,
                 tol: float = 1e-12) -> np.ndarray:
    """γ solving Σ w_j (y_j − exp(Z_j'γ)) Z_j = 0 (weighted pseudo-Poisson regression; y may be negative):
    Newton steps, halved until they raise the concave Σ w (y Z'γ − exp(Z'γ)). Without a solution
    (the weighted mean of y ≤ 0) every element is −inf: μ₂ = 0 before the floor."""
    mean = float(np.sum(w * y) / np.sum(w))
    if mean <= 0:
        return np.full(Z.shape[1], -np.inf)

    def objective(g: np.ndarray) -> float:
        eta = Z @ g
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(np.sum(w * (y * eta - np.exp(eta))))
        return value if np.isfinite(value) else -math.inf

    gamma = weighted_fit(np.full(len(y), math.log(mean)), Z, w)   # the constant μ₂ (exact if Z has a constant)
    value = objective(gamma)
    for _ in range(max_iter):
        mu = np.exp(Z @ gamma)
        step = np.linalg.lstsq((Z * (w * mu)[:, None]).T @ Z, Z.T @ (w * (y - mu)), rcond=None)[0]
        t = 1.0
        while objective(gamma + t * step) < value and t > 1e-10:
            t /= 2
        gamma = gamma + t * step
        new = objective(gamma)
        if abs(new - value) <= tol * max(1.0, abs(value)):
            break
        value = new
    return gamma


def covariate_moments(residual: np.ndarray, se: np.ndarray, weights: np.ndarray, Z: np.ndarray, *,
                      link: VarianceLink = "log", fs_correction: FsCorrection = "PMT",
                      kappa: float | None = None) -> CovariateMoments:
    """μ₂_j = exp(Z_j'γ) (or Z_j'γ) fitted to e² − σ² with `weights`, floored per unit, and one κ from the
    standardised fourth moments (module doc, step 5). With Z a constant column this is `moments`."""
    _check(link, VARIANCE_LINKS, "variance_link")
    _check(fs_correction, FS_CORRECTIONS, "fs_correction")
    sum_w = float(weights.sum())
    y = residual**2 - se**2
    gamma = weighted_fit(y, Z, weights) if link == "identity" else log_link_fit(y, Z, weights)
    bread = np.linalg.pinv((Z * weights[:, None]).T @ Z)
    meat = (Z * (2 * weights**2 * se**4)[:, None]).T @ Z
    floor_form = bread @ meat @ bread / (float(np.sum(weights * se**2)) / sum_w)
    raw = _linked(Z, gamma, link)
    mu2 = _floored(raw, Z, floor_form, fs_correction)
    m4 = residual**4 - 6 * se**2 * residual**2 + 3 * se**4
    kappa_raw = float(np.sum(weights * m4 / raw**2) / sum_w) if np.all(raw != 0) else math.nan
    positive = mu2 > 0
    if kappa is not None:
        kap = kappa
    elif not positive.any():
        kap = math.inf
    else:   # step 2's formulas on the standardised residuals (μ₂ = 1)
        w, v = weights[positive], mu2[positive]
        m4_std = float(np.sum(w * m4[positive] / v**2) / w.sum())
        s2 = se[positive] ** 2 / v
        floor4 = 32 * float(np.sum(w**2 * s2**4)) / (float(w.sum()) * float(np.sum(w * s2**2)))
        kap = max(m4_std, 1.0) if fs_correction == "none" else max(m4_std, 1.0 + floor4)
    # raw μ₂: the weighted mean of e² − σ², which is that of μ̃₂_j when Z has a constant column
    summary = Moments(mu2=float(np.sum(weights * mu2) / sum_w), kappa=kap,
                      mu2_uncorrected=float(np.sum(weights * y) / sum_w), kappa_uncorrected=kappa_raw)
    return CovariateMoments(gamma, link, fs_correction, floor_form, summary)


def _on_grid(function, m2: np.ndarray) -> np.ndarray:
    """function(m) for each m in m2 (≥ 0): exactly for few distinct values, else PCHIP in log m
    through knots 1/16 decade apart (m = 0 exactly)."""
    out = np.full(m2.shape, np.nan)
    positive = m2 > 0
    if (~positive).any():
        out[~positive] = function(0.0)
    values = np.unique(m2[positive])
    if values.size <= MAX_EXACT:
        exact = {v: function(float(v)) for v in values}
        out[positive] = [exact[v] for v in m2[positive]]
        return out
    lo, hi = np.log10(values[0]), np.log10(values[-1])
    n_knots = max(8, int(math.ceil((hi - lo) * KNOTS_PER_DECADE)) + 1)
    knots = np.linspace(lo, hi, n_knots)
    at_knots = np.array([function(float(10**k)) for k in knots])
    out[positive] = PchipInterpolator(knots, at_knots)(np.log10(m2[positive]))
    return out


def critical_values(m2: np.ndarray, *, kappa: float, alpha: float) -> np.ndarray:
    """cva_α(m₂, κ) for each element of m2 (models/ebci.cva)."""
    return _on_grid(lambda m: ebci.cva(m, kappa=kappa, alpha=alpha).cv, np.asarray(m2, dtype=np.float64))


def parametric_noncoverage(m2: np.ndarray, *, kappa: float, alpha: float) -> np.ndarray:
    """Worst-case non-coverage of the parametric EBCI: ρ(m₂, κ, z_{1−α/2}√(1 + m₂))."""
    z = stats.norm.ppf(1 - alpha / 2)
    return _on_grid(lambda m: ebci.rho(m, kappa, z * math.sqrt(1 + m)).alpha, np.asarray(m2, dtype=np.float64))


@dataclass(frozen=True)
class EmpiricalBayes:
    """Posterior means, SDs and robust 1 − α intervals per unit (NaN for units not used), and the prior."""

    estimate: np.ndarray
    std_error: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    shrinkage: np.ndarray
    prior_mean: np.ndarray
    parametric_half_length: np.ndarray
    parametric_noncoverage: np.ndarray
    delta: np.ndarray
    tau2: float
    moments: Moments
    alpha: float
    n_used: int
    prior_variance: np.ndarray | None = None   # μ₂_j per unit (NaN for units not used)
    gamma: np.ndarray | None = None            # μ₂(z) = z'γ before the floor (variance_covariates only)


def empirical_bayes(
    estimate: np.ndarray,
    std_error: np.ndarray,
    covariates: np.ndarray,
    *,
    use: np.ndarray | None = None,
    alpha: float = 0.10,
    prior_weights: PriorWeights = "morris",
    fs_correction: FsCorrection = "PMT",
    kappa: float | None = None,
    variance_covariates: np.ndarray | None = None,
    variance_link: VarianceLink = "log",
    intervals: bool = True,
) -> EmpiricalBayes:
    """Shrink `estimate` (σ = `std_error`) toward covariates'δ; module docstring for the formulas.

    `covariates` is the prior's design X (include a constant column). `use` (boolean) selects the
    units that estimate the prior and get posterior values (default: all with finite values);
    units with σ = 0 are kept at their estimate. `prior_weights` "equal" weights every unit equally
    in δ, μ₂ and κ (ebci's default) instead of Morris's 1/(σ² + τ²). `variance_covariates` Z (with a
    constant column) lets μ₂ depend on the unit, μ₂_j = exp(Z_j'γ) (`variance_link` "log") or Z_j'γ
    ("identity"), floored (module doc, step 5); None: one μ₂ for all.
    """
    _check(prior_weights, PRIOR_WEIGHTS, "prior_weights")
    _check(fs_correction, FS_CORRECTIONS, "fs_correction")
    _check(variance_link, VARIANCE_LINKS, "variance_link")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), not {alpha}")
    y = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(std_error, dtype=np.float64)
    X = np.asarray(covariates, dtype=np.float64).reshape(len(y), -1)
    finite = np.isfinite(y) & np.isfinite(se) & np.isfinite(X).all(axis=1)
    Z = None
    if variance_covariates is not None:
        Z = np.asarray(variance_covariates, dtype=np.float64).reshape(len(y), -1)
        finite &= np.isfinite(Z).all(axis=1)
    used = finite if use is None else finite & np.asarray(use, dtype=bool)
    fit = used & (se > 0)
    nan = np.full(len(y), np.nan)
    n_cols = max(X.shape[1], 0 if Z is None else Z.shape[1])
    if fit.sum() <= n_cols + 1:
        raise ValueError(f"empirical Bayes needs more than {n_cols + 1} units with a standard error > 0, "
                         f"got {int(fit.sum())}")
    yf, sf, Xf = y[fit], se[fit], X[fit]
    if prior_weights == "morris":
        delta, tau2, w = morris_prior(yf, sf, Xf)
    else:
        w = np.ones(len(yf))
        delta = weighted_fit(yf, Xf, w)
        tau2 = math.nan
    gamma = None
    if Z is None:
        mom = moments(yf - Xf @ delta, sf, w, fs_correction=fs_correction, kappa=kappa)
        mu2 = np.where(used, mom.mu2, np.nan)
    else:
        by_z = covariate_moments(yf - Xf @ delta, sf, w, Z[fit], link=variance_link,
                                  fs_correction=fs_correction, kappa=kappa)
        mom, gamma = by_z.summary, by_z.gamma
        mu2 = nan.copy()
        mu2[used] = by_z.mu2(Z[used])

    prior_mean = np.where(used, X @ delta, np.nan)
    s = np.where(used, se, np.nan)
    pooled = used & (mu2 <= 0)   # μ₂ = 0 (only without a floor): complete pooling, no finite robust interval
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(pooled, 0.0, mu2 / (mu2 + s**2))
        m2 = np.where(pooled, np.inf, np.where(used, s**2 / mu2, np.nan))
    post = prior_mean + shrink * (y - prior_mean)
    post_sd = np.sqrt(shrink) * s
    half = nan.copy()
    ncov = nan.copy()
    finite_m2 = used & np.isfinite(m2)
    if intervals and finite_m2.any():   # intervals=False: point estimates only (robust CIs NaN)
        half[finite_m2] = critical_values(m2[finite_m2], kappa=mom.kappa, alpha=alpha) * shrink[finite_m2] * s[finite_m2]
        ncov[finite_m2] = parametric_noncoverage(m2[finite_m2], kappa=mom.kappa, alpha=alpha)
    z = stats.norm.ppf(1 - alpha / 2)
    return EmpiricalBayes(
        estimate=post, std_error=post_sd, ci_low=post - half, ci_high=post + half, shrinkage=shrink,
        prior_mean=prior_mean, parametric_half_length=z * post_sd, parametric_noncoverage=ncov,
        delta=delta, tau2=tau2, moments=mom, alpha=alpha, n_used=int(fit.sum()), prior_variance=mu2, gamma=gamma,
    )


def pooled_standard_errors(std_error: np.ndarray, n_persons: np.ndarray, n_person_years: np.ndarray, *,
                           use: np.ndarray | None = None) -> tuple[np.ndarray, float, float]:
    """Standard errors from one within-variance model for all municipalities: (σ̃, s², ρ).

    With P_j persons, N_j person-years, T̄_j = N_j/P_j and person-equicorrelated errors (variance s²,
    within-person correlation ρ), Var(θ̂_j) ≈ s² [1 + (T̄_j − 1) ρ] / N_j. The two constants come from
    the weighted (by P_j) least squares of N_j σ̂_j² = a + b (T̄_j − 1) over the units in `use`
    (s² = a, ρ = b/a, both floored at 0). σ̃_j no longer depends on the municipality's own residuals,
    so, unlike its cluster-robust σ̂_j, it is not noisy for 30–60 persons nor correlated with the
    estimate (a linear probability model's residual variance is p(1 − p)). Units with σ̂ = 0 keep 0.
    """
    se = np.asarray(std_error, dtype=np.float64)
    persons = np.asarray(n_persons, dtype=np.float64)
    years = np.asarray(n_person_years, dtype=np.float64)
    ok = np.isfinite(se) & (se > 0) & (persons > 0) & (years >= persons)
    if use is not None:
        ok &= np.asarray(use, dtype=bool)
    if ok.sum() < 3:
        raise ValueError(f"pooled standard errors need at least 3 municipalities with an SE, got {int(ok.sum())}")
    excess = years / np.where(persons > 0, persons, 1.0) - 1.0
    design = np.column_stack([np.ones(ok.sum()), excess[ok]])
    a, b = weighted_fit(years[ok] * se[ok] ** 2, design, persons[ok])
    if b < 0:   # no positive within-person correlation: a constant per-person-year variance
        a, b = float(np.sum(persons[ok] * years[ok] * se[ok] ** 2) / persons[ok].sum()), 0.0
    a = max(float(a), np.finfo(float).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.sqrt((a + b * excess) / years)
    pooled = np.where(se > 0, pooled, np.where(se == 0, 0.0, np.nan))
    return pooled, a, float(b) / a


StandardErrorChoice = Literal["pooled", "cluster"]
STANDARD_ERROR_CHOICES: tuple[str, ...] = ("pooled", "cluster")
EB_COLUMNS = ("eb_estimate", "eb_std_error", "eb_ci_low", "eb_ci_high")
MIN_UNITS = 30   # fewer releasable municipalities than this: no prior is estimated (columns NaN)


def shrink_contributions(
    contributions: pd.DataFrame,
    *,
    min_persons: int,
    standard_errors: StandardErrorChoice = "pooled",
    characteristics: pd.DataFrame | None = None,
    alpha: float = 0.10,
    variance_by_size: bool = True,
    intervals: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Empirical-Bayes columns for kommunebidrag, per `gruppe`, from the releasable municipalities only.

    `contributions`: gruppe, kommnr_2020, estimate, std_error (pp), n_persons, n_person_years (all
    municipalities). Prior design X = (1, ln n_persons [, every column of `characteristics` except
    kommnr_2020]). Only municipalities with n_persons >= `min_persons` estimate the prior and get
    values; the others get NaN, so the prior says nothing about a suppressed contribution.
    `standard_errors` "pooled" (default) uses pooled_standard_errors for σ_j, "cluster" the CR1 SEs.
    `variance_by_size` lets the prior variance depend on size, μ₂_j = exp(γ₀ + γ₁ ln n_persons_j) floored
    (small municipalities' effects vary more; module doc, step 5), False: one μ₂ for all.

    Returns (frame: gruppe, kommnr_2020, eb_estimate, eb_std_error, eb_ci_low, eb_ci_high,
    eb_shrinkage, eb_prior_mean, eb_se_used, in the input's row order; summary: one row per gruppe with
    the prior's δ, τ² (Morris), μ₂, κ (floored and raw; with `variance_by_size` μ₂ is the weighted mean of
    μ₂_j and γ is in gamma_konstant, gamma_ln_personer), the SE choice and the largest worst-case
    non-coverage of the parametric interval).
    """
    _check(standard_errors, STANDARD_ERROR_CHOICES, "standard_errors")
    names: list[str] = []
    frame = contributions.reset_index(drop=True)
    if characteristics is not None:
        names = [c for c in characteristics.columns if c != "kommnr_2020"]
        frame = frame.merge(characteristics, on="kommnr_2020", how="left", validate="many_to_one")
    out = pd.DataFrame({"gruppe": frame["gruppe"], "kommnr_2020": frame["kommnr_2020"]})
    for column in (*EB_COLUMNS, "eb_shrinkage", "eb_prior_mean", "eb_se_used"):
        out[column] = np.nan
    summary = []
    for gruppe, part in frame.groupby("gruppe", sort=False):
        rows = part.index.to_numpy()
        persons = part["n_persons"].to_numpy(dtype=np.float64)
        released = persons >= min_persons
        se = part["std_error"].to_numpy(dtype=np.float64)
        n_fit = int((released & (se > 0)).sum())
        if n_fit < MIN_UNITS:
            summary.append({"gruppe": gruppe, "n_municipalities": n_fit, "standard_errors": standard_errors,
                            "note": f"fewer than {MIN_UNITS} releasable municipalities: no empirical Bayes"})
            continue
        if standard_errors == "pooled":
            se, s2, rho = pooled_standard_errors(se, persons, part["n_person_years"].to_numpy(dtype=np.float64),
                                                 use=released)
        else:
            s2 = rho = np.nan
        ln_persons = np.log(np.where(persons > 0, persons, np.nan))   # nobody: no contribution, no row of X used
        X = np.column_stack([np.ones(len(part)), ln_persons, *(part[c].to_numpy(dtype=np.float64) for c in names)])
        Z = X[:, :2] if variance_by_size else None
        result = empirical_bayes(part["estimate"].to_numpy(dtype=np.float64), se, X, use=released, alpha=alpha,
                                 variance_covariates=Z, intervals=intervals)
        out.loc[rows, "eb_estimate"] = result.estimate
        out.loc[rows, "eb_std_error"] = result.std_error
        out.loc[rows, "eb_ci_low"] = result.ci_low
        out.loc[rows, "eb_ci_high"] = result.ci_high
        out.loc[rows, "eb_shrinkage"] = result.shrinkage
        out.loc[rows, "eb_prior_mean"] = result.prior_mean
        out.loc[rows, "eb_se_used"] = np.where(released, se, np.nan)
        coefficient_names = ["konstant", "ln_personer", *names]
        summary.append({
            "gruppe": gruppe, "n_municipalities": result.n_used, "standard_errors": standard_errors,
            **{f"delta_{n}": d for n, d in zip(coefficient_names, result.delta)},
            "tau2_morris": result.tau2,
            **({} if result.gamma is None else {f"gamma_{n}": g for n, g in zip(coefficient_names, result.gamma)}),
            "mu2": result.moments.mu2, "mu2_uncorrected": result.moments.mu2_uncorrected,
            "kappa": result.moments.kappa, "kappa_uncorrected": result.moments.kappa_uncorrected,
            "pooled_variance": s2, "pooled_within_person_correlation": rho,
            "max_parametric_noncoverage": float(np.nanmax(result.parametric_noncoverage)) if intervals else np.nan,
            "alpha": alpha, "note": "",
        })
    return out, pd.DataFrame(summary)
