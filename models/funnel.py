"""Funnel-plot control limits for contributions (Spiegelhalter 2005, "Funnel plots for comparing
institutional performance", Statistics in Medicine 24: 1185–1202; and "Handling over-dispersion of
performance indicators", Quality and Safety in Health Care 14: 347–351).

Target θ₀: the precision-weighted mean Σ y_j/s_j² / Σ 1/s_j². Control limits at precision 1/s²:
θ₀ ± z·s with z = 1.96 (95 %) and 3.09 (99.8 %). Overdispersion: z-scores z_j = (y_j − θ₀)/s_j,
winsorised at their 10th and 90th percentiles (R's type-7 quantiles), φ = mean(z_w²), and the
additive between-municipality variance (DerSimonian–Laird form, as NHS-R FunnelPlotR's
`R/od_adjustment.R: tau_func`)

    τ² = max{0, (nφ − (n − 1)) / (Σw − Σw²/Σw)},  w = 1/s²   (0 when nφ < n − 1),

with adjusted limits θ₀ ± z·√(s² + τ²): τ² adds to the variance s², not to the SE s.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

Z_95 = float(stats.norm.ppf(0.975))    # 1.96
Z_998 = float(stats.norm.ppf(0.999))   # 3.09


@dataclass(frozen=True)
class FunnelParameters:
    """Target, dispersion ratio φ and between-unit variance τ² of one set of estimates."""

    target: float
    phi: float
    tau2: float
    n: int


def funnel_parameters(estimate: np.ndarray, std_error: np.ndarray, *, trim: float = 0.1) -> FunnelParameters:
    """θ₀, φ and τ² (module docstring) over the units with a finite estimate and s > 0."""
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5), not {trim}")
    y = np.asarray(estimate, dtype=np.float64)
    s = np.asarray(std_error, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(s) & (s > 0)
    y, s = y[ok], s[ok]
    n = int(y.size)
    if n < 2:
        return FunnelParameters(float(y[0]) if n else np.nan, np.nan, 0.0, n)
    w = 1.0 / s**2
    target = float(np.sum(w * y) / np.sum(w))
    z = (y - target) / s
    low, high = np.quantile(z, [trim, 1 - trim])
    phi = float(np.mean(np.clip(z, low, high) ** 2))
    if n * phi < n - 1:
        tau2 = 0.0
    else:
        tau2 = max(0.0, (n * phi - (n - 1)) / (float(w.sum()) - float(np.sum(w**2)) / float(w.sum())))
    return FunnelParameters(target, phi, tau2, n)


def control_limits(std_error: np.ndarray, *, target: float, z: float, tau2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) = θ₀ ∓ z·√(s² + τ²) at each standard error s."""
    half = z * np.sqrt(np.asarray(std_error, dtype=np.float64) ** 2 + tau2)
    return target - half, target + half
