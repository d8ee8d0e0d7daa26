"""OLS from cross-products with a rank check, and its result object (methods.md §6, fig 3.15).

With an intercept, the design is centred first (Z = [1, X − x̄]); then Z'Z is block diagonal, the
slopes are β = (Xc'Xc)^{-1} Xc'y and the intercept is ȳ − x̄'β (reparametrised back with
T = [[1, −x̄'], [0, I]], V = T V_c T'). Collinear columns are dropped in design order when their
squared residual norm after projection on the earlier kept columns is below `collin_tol` times
their own norm (the rule of fixest/pyfixest, collin_tol = 1e-10), and listed in `dropped`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy import stats

from models import vcov as vc

COLLIN_TOL = 1e-10
INTERCEPT = "Intercept"


@dataclass(frozen=True)
class OLSResult:
    """Estimates of one linear model. `r2` is relative to the total (grand-mean) sum of squares."""

    terms: tuple[str, ...]
    coef: np.ndarray
    vcov: np.ndarray
    vcov_type: str
    n_obs: int
    n_clusters: int | None
    df_k: int
    n_params: int
    r2: float
    adj_r2: float
    rss: float
    tss: float
    dropped: tuple[str, ...] = field(default_factory=tuple)

    @property
    def std_errors(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))

    @property
    def df_resid(self) -> int:
        """t degrees of freedom: G−1 for CR1 (as Stata and fixest), N−K otherwise."""
        if self.vcov_type == "CR1" and self.n_clusters is not None:
            return self.n_clusters - 1
        return self.n_obs - self.df_k

    def conf_int(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        q = stats.t.ppf(0.5 + level / 2, self.df_resid)
        se = self.std_errors
        return self.coef - q * se, self.coef + q * se

    def table(self, *, scale: float = 1.0, level: float = 0.95) -> pd.DataFrame:
        """term, estimate, std_error, ci_low, ci_high (all multiplied by `scale`)."""
        low, high = self.conf_int(level)
        return pd.DataFrame({
            "term": list(self.terms),
            "estimate": self.coef * scale,
            "std_error": self.std_errors * scale,
            "ci_low": low * scale,
            "ci_high": high * scale,
        })


def independent_columns(A: np.ndarray, *, tol: float = COLLIN_TOL,
                        raw_diag: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of columns kept by a sequential (pivot-free) Cholesky on the Gram matrix A.

    Column j is kept when A_jj − a_j' A_kk^{-1} a_j > tol · A_jj, with k the earlier kept columns.
    `raw_diag` (sums of squares before centring/demeaning) drops columns the partialling turned
    into rounding noise: A_jj <= tol · raw_diag_j.
    """
    k = A.shape[0]
    keep = np.zeros(k, dtype=bool)
    diag = np.diag(A).copy()
    if raw_diag is not None:
        diag[diag <= tol * np.asarray(raw_diag)] = 0.0
    scale = np.sqrt(np.where(diag > 0, diag, 1.0))
    As = A / np.outer(scale, scale)
    L = np.zeros((k, k))
    kept: list[int] = []
    for j in range(k):
        if diag[j] <= 0:
            continue
        if kept:
            r = la.solve_triangular(L[: len(kept), : len(kept)], As[kept, j], lower=True)
            d = As[j, j] - r @ r
        else:
            r, d = np.empty(0), As[j, j]
        if d > tol:
            m = len(kept)
            L[m, :m] = r
            L[m, m] = np.sqrt(d)
            kept.append(j)
            keep[j] = True
    return keep


@dataclass(frozen=True)
class GramSolution:
    """Solution of the normal equations on the kept columns: coefficients and bread (Z'Z)^{-1}."""

    kept: np.ndarray
    coef: np.ndarray
    bread: np.ndarray


@dataclass(frozen=True)
class GramFactor:
    """Z'Z on its independent columns, factorised once: solves for any right-hand side Z'y."""

    kept: np.ndarray
    scale: np.ndarray          # √diag of the kept block (the Cholesky is of the rescaled matrix)
    factor: tuple
    bread: np.ndarray

    def solve(self, c: np.ndarray) -> np.ndarray:
        """β on the kept columns from c = Z'y (all columns)."""
        return la.cho_solve(self.factor, c[self.kept] / self.scale) / self.scale


def factor_gram(A: np.ndarray, *, raw_diag: np.ndarray | None = None, collin_tol: float = COLLIN_TOL) -> GramFactor:
    """Cholesky of D^{-1/2} A D^{-1/2} on the independent columns of A = Z'Z, and the bread (Z'Z)^{-1}."""
    kept = independent_columns(A, tol=collin_tol, raw_diag=raw_diag)
    Ak = A[np.ix_(kept, kept)]
    d = np.sqrt(np.diag(Ak))
    factor = la.cho_factor(Ak / np.outer(d, d), lower=True)
    bread = la.cho_solve(factor, np.eye(len(d))) / np.outer(d, d)
    return GramFactor(kept=kept, scale=d, factor=factor, bread=(bread + bread.T) / 2)


def solve_gram(A: np.ndarray, c: np.ndarray, *, raw_diag: np.ndarray | None = None,
               collin_tol: float = COLLIN_TOL) -> GramSolution:
    """β = A^{-1} c on the independent columns of A = Z'Z (c = Z'y), via Cholesky of D^{-1/2} A D^{-1/2}."""
    gram = factor_gram(A, raw_diag=raw_diag, collin_tol=collin_tol)
    return GramSolution(kept=gram.kept, coef=gram.solve(c), bread=gram.bread)


def coefficient_vcov(
    Z: np.ndarray, kept: np.ndarray, resid: np.ndarray, bread: np.ndarray, *, vcov: str,
    cluster: np.ndarray | None, n_clusters: int | None, df_k: int,
) -> np.ndarray:
    """Covariance of the coefficients of the kept columns of Z for `vcov` in CR1 / HC1 / iid."""
    n = Z.shape[0]
    if vcov == "iid":
        return vc.vcov_iid(bread, float(resid @ resid), n_obs=n, df_k=df_k)
    if vcov == "HC1":
        scores = Z[:, kept] * resid[:, None]
        return vc.vcov_hc1(bread, scores, n_obs=n, df_k=df_k)
    if cluster is None or n_clusters is None:
        raise ValueError("vcov='CR1' needs cluster codes")
    if np.asarray(cluster).ndim == 2:   # two-way (models/vcov.py)
        return vc.vcov_cr1_clusters(bread, Z[:, kept], resid, cluster, n_obs=n, df_k=df_k)
    sums = vc.score_sums(Z, resid, cluster, n_clusters)[:, kept]
    return vc.vcov_cr1(bread, sums, n_obs=n, df_k=df_k)


def adjusted_r2(r2: float, n_obs: int, n_params: int) -> float:
    """1 − (1 − R²)(N − 1)/(N − K), K counting the intercept and every fixed-effect level; NaN if N <= K."""
    if n_obs <= n_params:
        return float("nan")
    return 1.0 - (1.0 - r2) * (n_obs - 1) / (n_obs - n_params)


def fit_ols_subsets(
    y: np.ndarray,
    X: np.ndarray,
    subsets: list[np.ndarray] | list[list[int]],
    *,
    terms: tuple[str, ...] | list[str] | None = None,
    cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    vcov: vc.VcovType = "CR1",
    collin_tol: float = COLLIN_TOL,
) -> list[OLSResult]:
    """OLS of y on [1, X[:, s]] for each column subset s, sharing one centred Gram matrix.

    `cluster` holds one code per row, or two (an N x 2 array) for two-way clustering (models/vcov.py).
    """
    return fit_ols_subsets_outcomes([y], X, subsets, terms=terms, cluster=cluster, n_clusters=n_clusters,
                                    vcov=vcov, collin_tol=collin_tol)[0]


def fit_ols_subsets_outcomes(
    ys: list[np.ndarray],
    X: np.ndarray,
    subsets: list[np.ndarray] | list[list[int]],
    *,
    terms: tuple[str, ...] | list[str] | None = None,
    cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    vcov: vc.VcovType = "CR1",
    collin_tol: float = COLLIN_TOL,
) -> list[list[OLSResult]]:
    """fit_ols_subsets for several outcomes on the same regressors (one list of results per outcome):
    the centred design, its Gram matrix and each subset's Cholesky factor are computed once."""
    vc.check_vcov_type(vcov)
    X = np.asarray(X, dtype=np.float64).reshape(len(ys[0]), -1)
    n, p = X.shape
    names = [INTERCEPT, *(terms if terms is not None else [f"x{j}" for j in range(p)])]
    if cluster is not None and (n_clusters is None or np.asarray(cluster).ndim == 2):
        n_clusters = vc.min_clusters(cluster)
    x_mean = X.mean(axis=0)
    Z = np.empty((n, p + 1))
    Z[:, 0] = 1.0
    np.subtract(X, x_mean, out=Z[:, 1:])
    A = Z.T @ Z
    raw_diag = np.r_[float(n), np.einsum("ij,ij->j", X, X)]
    ys = [np.asarray(y, dtype=np.float64) for y in ys]
    cs = [Z.T @ y for y in ys]
    tss = [float(((y - y.mean()) ** 2).sum()) for y in ys]
    results: list[list[OLSResult]] = [[] for _ in ys]
    for subset in subsets:
        cols = np.r_[0, np.asarray(subset, dtype=np.int64) + 1]
        gram = factor_gram(A[np.ix_(cols, cols)], raw_diag=raw_diag[cols], collin_tol=collin_tol)
        if not gram.kept[0]:
            raise ValueError("the intercept is not identified (no observations?)")
        used = cols[gram.kept]
        k = int(used.size)
        # back to the uncentred parametrisation: intercept = ȳ − x̄'β
        T = np.eye(k)
        T[0, 1:] = -x_mean[used[1:] - 1]
        for y, c, tss_y, out in zip(ys, cs, tss, results):
            coef = gram.solve(c[cols])
            beta_full = np.zeros(p + 1)
            beta_full[used] = coef
            resid = y - Z @ beta_full
            rss = float(resid @ resid)
            v_c = coefficient_vcov(Z, used, resid, gram.bread, vcov=vcov, cluster=cluster,
                                   n_clusters=n_clusters, df_k=k)
            r2 = 1.0 - rss / tss_y if tss_y > 0 else 0.0
            out.append(OLSResult(
                terms=tuple(names[j] for j in used), coef=T @ coef, vcov=T @ v_c @ T.T, vcov_type=vcov,
                n_obs=n, n_clusters=n_clusters if vcov == "CR1" else None, df_k=k, n_params=k, r2=r2,
                adj_r2=adjusted_r2(r2, n, k), rss=rss, tss=tss_y,
                dropped=tuple(names[j] for j in cols[~gram.kept]),
            ))
    return results


def fit_ols(
    y: np.ndarray,
    X: np.ndarray,
    *,
    terms: tuple[str, ...] | list[str] | None = None,
    cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    vcov: vc.VcovType = "CR1",
    collin_tol: float = COLLIN_TOL,
) -> OLSResult:
    """OLS of y on [1, X] (intercept first in the result) with CR1 / HC1 / iid covariance."""
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    return fit_ols_subsets(y, X, [np.arange(X.shape[1])], terms=terms, cluster=cluster,
                           n_clusters=n_clusters, vcov=vcov, collin_tol=collin_tol)[0]
