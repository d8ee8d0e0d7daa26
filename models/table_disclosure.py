"""How much tables 3.2 and 3.3 say about suppressed contributions, and whether to include them.

Report N: tables 3.2 and 3.3 over every municipality with a contribution. A reader who knows the
characteristics (public) and the released contributions y_R sees, about the m suppressed ones u:

    mean (table 3.2)            Σ_S u_i = N·mean − Σ_R y_i                          linear
    OLS slope on z (table 3.3)  Σ_S (z_i − z̄) u_i = b·S_zz − Σ_R (z_i − z̄) y_i        linear, one per z
    FGLS slope on z             Σ_S w_i (z_i − z̄_w) u_i = …  (weights taken as known)  linear, one per z
    SD (table 3.2)              Σ_S u_i² = …                                           quadratic
    OLS SE / R² on a sample other than the full one                                    quadratic, one each
    HC3 SE, FGLS SE on z        weighted sums of squared residuals                      quadratic, one per z

(z̄ and S_zz over the municipalities where z is known; a statistic whose sample holds no suppressed
municipality says nothing about u.) With r the rank of the linear equations and q the number of
quadratic ones, u is determined (generically) when m ≤ r + q. The suppressed contributions are
included only when m > r + q and no single u_i is fixed by the linear equations alone (e_i in their
row space); otherwise the tables use the releasable municipalities only. Counting every quadratic as
independent and the weights as known errs on the side of suppression.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from models.second_stage import bivariate_fgls

PublishedStatistic = Literal["mean", "sd", "ols_slope", "ols_se", "hc3_se", "fgls_slope", "fgls_se"]
PUBLISHED_STATISTICS: tuple[str, ...] = ("mean", "sd", "ols_slope", "ols_se", "hc3_se", "fgls_slope", "fgls_se")


@dataclass(frozen=True)
class SampleDecision:
    """The equations the published tables give about the suppressed contributions, and the decision."""

    n_released: int
    n_suppressed: int
    n_linear: int
    n_quadratic: int
    n_identified: int
    include_suppressed: bool

    @property
    def n_equations(self) -> int:
        return self.n_linear + self.n_quadratic

    @property
    def note(self) -> str:
        """One line for the table and the run log."""
        if self.n_suppressed == 0:
            return "ingen prikkede kommuner / no suppressed municipalities"
        counts = (f"{self.n_suppressed} prikkede kommuner, {self.n_equations} uavhengige likninger "
                  f"({self.n_linear} lineære, {self.n_quadratic} kvadratiske)")
        if self.include_suppressed:
            return f"{counts}: alle kommuner med bidrag tatt med / all municipalities with a contribution included"
        return f"{counts}: bare kommuner med publiserte bidrag / releasable municipalities only"


def linear_equations(
    characteristics: np.ndarray,
    hidden: np.ndarray,
    *,
    published: tuple[str, ...] = PUBLISHED_STATISTICS,
    fgls_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Coefficient rows (equations × hidden units) of the linear equations in the hidden values.

    `characteristics` n × c (NaN where unknown), `hidden` boolean (n,), `fgls_weights` c × n (the
    FGLS weights per characteristic; needed when "fgls_slope" is published).
    """
    Z = np.asarray(characteristics, dtype=np.float64).reshape(len(hidden), -1)
    hidden = np.asarray(hidden, dtype=bool)
    rows = []
    if "mean" in published:
        rows.append(np.ones(int(hidden.sum())))
    for c in range(Z.shape[1]):
        known = np.isfinite(Z[:, c])
        if not (known & hidden).any():
            continue
        z = Z[:, c]
        if "ols_slope" in published:
            row = np.where(known, z - z[known].mean(), 0.0)
            rows.append(row[hidden])
        if "fgls_slope" in published:
            if fgls_weights is None:
                raise ValueError("fgls_weights are needed when 'fgls_slope' is published")
            w = np.where(known, np.asarray(fgls_weights, dtype=np.float64)[c], 0.0)
            w = np.where(np.isfinite(w), w, 0.0)
            if np.sum(w[known]) <= 0:   # the weighted slope is undefined, so nothing is published
                continue
            centre = float(np.sum(w[known] * z[known]) / np.sum(w[known]))
            rows.append(np.where(known, w * (z - centre), 0.0)[hidden])
    return np.array(rows).reshape(len(rows), int(hidden.sum()))


def quadratic_equation_count(characteristics: np.ndarray, hidden: np.ndarray, *,
                             published: tuple[str, ...] = PUBLISHED_STATISTICS) -> int:
    """Quadratic equations in the hidden values, each counted as independent (module docstring)."""
    Z = np.asarray(characteristics, dtype=np.float64).reshape(len(hidden), -1)
    hidden = np.asarray(hidden, dtype=bool)
    if not hidden.any():
        return 0
    samples: set[bytes] = set()
    full = np.ones(len(hidden), dtype=bool)
    if "sd" in published:
        samples.add(full.tobytes())
    count = 0
    for c in range(Z.shape[1]):
        known = np.isfinite(Z[:, c])
        if not (known & hidden).any():
            continue
        if "ols_se" in published:
            samples.add(known.tobytes())
        count += int("hc3_se" in published) + int("fgls_se" in published)
    return count + len(samples)


def identified_units(rows: np.ndarray, *, tol: float = 1e-8) -> np.ndarray:
    """Boolean per hidden unit: fixed by the linear equations alone (its unit vector in their row space)."""
    m = rows.shape[1]
    if rows.size == 0:
        return np.zeros(m, dtype=bool)
    _, singular, vt = np.linalg.svd(rows, full_matrices=False)
    rank = int(np.sum(singular > tol * max(1.0, singular[0])))
    projection_diagonal = np.sum(vt[:rank] ** 2, axis=0)
    return projection_diagonal > 1 - 1e-6


def equation_count(
    characteristics: np.ndarray,
    hidden: np.ndarray,
    *,
    published: tuple[str, ...] = PUBLISHED_STATISTICS,
    fgls_weights: np.ndarray | None = None,
) -> tuple[int, int, int]:
    """(rank of the linear equations, number of quadratic ones, hidden units fixed by the linear ones)."""
    unknown = [s for s in published if s not in PUBLISHED_STATISTICS]
    if unknown:
        raise ValueError(f"published statistics must be among {list(PUBLISHED_STATISTICS)}, not {unknown}")
    rows = linear_equations(characteristics, hidden, published=published, fgls_weights=fgls_weights)
    rank = int(np.linalg.matrix_rank(rows)) if rows.size else 0
    return (rank, quadratic_equation_count(characteristics, hidden, published=published),
            int(identified_units(rows).sum()))


def second_stage_sample(
    contributions: pd.DataFrame,
    characteristics: pd.DataFrame,
    *,
    min_persons: int,
    published: tuple[str, ...] = PUBLISHED_STATISTICS,
) -> SampleDecision:
    """Decide, for one group, whether tables 3.2 and 3.3 may use every municipality with a contribution.

    `contributions`: kommnr_2020, estimate, std_error, n_persons for all municipalities of the group
    (confidential values: the FGLS weights are computed from them, as the published FGLS would be).
    `characteristics`: kommnr_2020 and table 3.3's regressors (characteristics_frame, form
    "regressor"). Use the result's `include_suppressed` to choose the sample and its `note` in the
    table and the run log.
    """
    merged = contributions[["kommnr_2020", "estimate", "std_error", "n_persons"]].merge(
        characteristics, on="kommnr_2020", how="left", validate="one_to_one")
    names = [c for c in characteristics.columns if c != "kommnr_2020"]
    Z = merged[names].to_numpy(dtype=np.float64)
    hidden = merged["n_persons"].to_numpy(dtype=np.float64) < min_persons
    weights = None
    if "fgls_slope" in published:
        y = merged["estimate"].to_numpy(dtype=np.float64)
        omega = merged["std_error"].to_numpy(dtype=np.float64)
        weights = np.full(Z.T.shape, np.nan)
        for c in range(Z.shape[1]):
            known = np.isfinite(Z[:, c]) & np.isfinite(y) & np.isfinite(omega)
            weights[c, known] = bivariate_fgls(y[known], Z[known, c], omega[known])["weights"]
    rank, quadratic, identified = equation_count(Z, hidden, published=published, fgls_weights=weights)
    m = int(hidden.sum())
    return SampleDecision(n_released=int((~hidden).sum()), n_suppressed=m, n_linear=rank, n_quadratic=quadratic,
                          n_identified=identified, include_suppressed=m > rank + quadratic and identified == 0)
