"""Stability of municipality contributions across arrival cohorts, corrected for sampling error.

Two sets of contributions θ̂_1m, θ̂_2m (same municipalities m = 1..M, estimated on different persons,
so their sampling errors e_km with standard errors s_km are independent) are θ_km + e_km. The raw
correlation across municipalities understates the correlation of the true contributions θ_1, θ_2 by
the reliabilities

    λ_k = Var(θ_k) / Var(θ̂_k) = (Var(θ̂_k) − mean(s_k²)) / Var(θ̂_k),

so the corrected correlation (Spearman's disattenuation) is

    ρ̂ = corr(θ̂_1, θ̂_2) / √(λ_1 λ_2) = Cov(θ̂_1, θ̂_2) / √((Var θ̂_1 − mean s_1²)(Var θ̂_2 − mean s_2²)).

It is not clipped to [−1, 1]: a value outside says the reliabilities are estimated with error too.
The interval is a percentile bootstrap over municipalities (seeded, so deterministic); undefined
(NaN) when a reliability is estimated at or below zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stability:
    n_municipalities: int
    correlation: float
    reliability_first: float
    reliability_second: float
    corrected: float
    ci_low: float
    ci_high: float


def _moments(a: np.ndarray, b: np.ndarray, sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, ...]:
    """Along the last axis: Cov(a, b), Var a − mean sa², Var b − mean sb², Var a, Var b (n − 1 divisor)."""
    n = a.shape[-1]
    ac = a - a.mean(axis=-1, keepdims=True)
    bc = b - b.mean(axis=-1, keepdims=True)
    var_a = (ac * ac).sum(axis=-1) / (n - 1)
    var_b = (bc * bc).sum(axis=-1) / (n - 1)
    cov = (ac * bc).sum(axis=-1) / (n - 1)
    return cov, var_a - (sa * sa).mean(axis=-1), var_b - (sb * sb).mean(axis=-1), var_a, var_b


def _corrected(cov: np.ndarray, signal_a: np.ndarray, signal_b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((signal_a > 0) & (signal_b > 0), cov / np.sqrt(signal_a * signal_b), np.nan)


def contribution_stability(first: np.ndarray, first_se: np.ndarray, second: np.ndarray, second_se: np.ndarray, *,
                           level: float = 0.90, draws: int = 2000, seed: int = 0) -> Stability:
    """Raw and corrected correlation of two sets of contributions (module docstring), with the interval."""
    a, b, sa, sb = (np.asarray(v, dtype=float) for v in (first, second, first_se, second_se))
    ok = np.isfinite(a) & np.isfinite(b) & np.isfinite(sa) & np.isfinite(sb)
    a, b, sa, sb = a[ok], b[ok], sa[ok], sb[ok]
    n = a.size
    if n < 3:
        return Stability(n, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan)
    cov, signal_a, signal_b, var_a, var_b = _moments(a, b, sa, sb)
    correlation = float(cov / np.sqrt(var_a * var_b)) if var_a > 0 and var_b > 0 else np.nan
    corrected = float(_corrected(cov, signal_a, signal_b))
    rows = np.random.default_rng(seed).integers(0, n, size=(draws, n))
    boot = _corrected(*_moments(a[rows], b[rows], sa[rows], sb[rows])[:3])
    boot = boot[np.isfinite(boot)]
    tail = (1 - level) / 2
    low, high = (np.quantile(boot, [tail, 1 - tail]) if boot.size >= draws / 2 else (np.nan, np.nan))
    return Stability(n, correlation, float(signal_a / var_a) if var_a > 0 else np.nan,
                     float(signal_b / var_b) if var_b > 0 else np.nan, corrected, float(low), float(high))
