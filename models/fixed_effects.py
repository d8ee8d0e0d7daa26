"""One absorbed fixed effect (settlement municipality) and the effects themselves (methods.md §6).

Model y_i = x_i'β + α_{g(i)} + e_i. β comes from the within transformation (x − x̄_g, y − ȳ_g);
the effects are α_g = ȳ_g − x̄_g'β (the LSDV coefficients without an intercept). Their errors are
linear in the residuals û:

    α̂_g − α_g = Σ_i [1{g_i = g}/n_g − x̄_g' B ẍ_i] e_i,   B = (Ẍ'Ẍ)^{-1}, ẍ the within regressors,

so with cluster sums R_cg = Σ_{i∈c, g_i=g} û_i/n_g and S_c = Σ_{i∈c} ẍ_i û_i, the cluster-robust
covariance is c · (R − S B X̄')'(R − S B X̄') with the CR1 factor c of the β covariance; nothing of
size N × (number of municipalities) is formed. Under iid errors it is σ²(diag(1/n_g) + X̄ B X̄').
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models import vcov as vc
from models.ols import COLLIN_TOL, OLSResult, adjusted_r2, coefficient_vcov, factor_gram

Normalisation = Literal["reference", "mean"]
NORMALISATIONS: tuple[str, ...] = ("reference", "mean")


@dataclass(frozen=True)
class FixedEffectsResult:
    """β (in `ols`, no intercept), within R², and the raw effects α_g with their covariance."""

    ols: OLSResult
    r2_within: float
    fe_levels: np.ndarray
    fe_coef: np.ndarray
    fe_vcov: np.ndarray
    fe_n_obs: np.ndarray
    fe_n_clusters: np.ndarray
    fe_nested: bool


def demean(M: np.ndarray, codes: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(M − group mean of its row, group means, group sizes)."""
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    means = vc.group_sums(M, codes, n_groups) / counts.reshape((-1,) + (1,) * (M.ndim - 1))
    return M - means[codes], means, counts


def _fe_covariance(
    X_means: np.ndarray, bread: np.ndarray, score_sums: np.ndarray, resid: np.ndarray,
    fe: np.ndarray, counts: np.ndarray, cluster: np.ndarray, factor: float,
) -> np.ndarray:
    """factor · Ψ'Ψ with Ψ = R − S B X̄' (module docstring), R sparse (clusters × levels)."""
    n_clusters, n_fe = score_sums.shape[0], counts.shape[0]
    R = sp.csr_matrix((resid / counts[fe], (cluster, fe)), shape=(n_clusters, n_fe))
    XB = X_means @ bread                          # G_fe × K
    cross = np.asarray(R.T @ score_sums) @ XB.T   # R'S B X̄'
    Q = np.asarray((R.T @ R).todense()) - cross - cross.T + XB @ (score_sums.T @ score_sums) @ XB.T
    return factor * (Q + Q.T) / 2


def fit_absorbed(
    y: np.ndarray,
    X: np.ndarray,
    fe: np.ndarray,
    *,
    terms: tuple[str, ...] | list[str] | None = None,
    fe_levels: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    vcov: vc.VcovType = "CR1",
    collin_tol: float = COLLIN_TOL,
) -> FixedEffectsResult:
    """OLS of y on X with the fixed effect `fe` (codes 0..G−1) absorbed; CR1 / HC1 / iid.

    Small-sample K (models/vcov.py): CR1 counts the FE as one parameter when nested in the
    clusters, else all levels; HC1 and iid count all levels (as pyfixest).
    """
    return fit_absorbed_outcomes([y], X, fe, terms=terms, fe_levels=fe_levels, cluster=cluster,
                                 n_clusters=n_clusters, vcov=vcov, collin_tol=collin_tol)[0]


def fit_absorbed_outcomes(
    ys: list[np.ndarray],
    X: np.ndarray,
    fe: np.ndarray,
    *,
    terms: tuple[str, ...] | list[str] | None = None,
    fe_levels: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    n_clusters: int | None = None,
    vcov: vc.VcovType = "CR1",
    collin_tol: float = COLLIN_TOL,
) -> list[FixedEffectsResult]:
    """fit_absorbed for several outcomes on the same regressors: the within transformation of X, its
    Gram matrix, the collinearity check and the Cholesky factor are computed once; every outcome then
    goes through the same operations as a fit of its own."""
    vc.check_vcov_type(vcov)
    X = np.asarray(X, dtype=np.float64).reshape(len(ys[0]), -1)
    n, p = X.shape
    n_fe = int(fe.max()) + 1
    names = list(terms) if terms is not None else [f"x{j}" for j in range(p)]
    if cluster is not None and n_clusters is None:
        n_clusters = int(cluster.max()) + 1
    Xw, X_means, counts = demean(X, fe, n_fe)
    gram = factor_gram(Xw.T @ Xw, raw_diag=np.einsum("ij,ij->j", X, X), collin_tol=collin_tol)
    kept = np.flatnonzero(gram.kept)
    k = int(kept.size)
    nested = vcov == "CR1" and cluster is not None and vc.fe_nested_in_clusters(fe, cluster)
    df_k = vc.df_k(k, intercept=False, n_fe_levels=n_fe, fe_nested=nested)
    if cluster is not None:
        pairs = np.unique(cluster.astype(np.int64) * n_fe + fe)
        fe_n_clusters = np.bincount(pairs % n_fe, minlength=n_fe)
    else:
        fe_n_clusters = counts.astype(np.int64)
    Xm = X_means[:, kept]
    results = []
    for y in ys:
        y = np.asarray(y, dtype=np.float64)
        yw, y_means, _ = demean(y, fe, n_fe)
        coef = gram.solve(Xw.T @ yw)
        beta_full = np.zeros(p)
        beta_full[kept] = coef
        resid = yw - Xw @ beta_full
        rss = float(resid @ resid)
        fe_coef = y_means - Xm @ coef
        if vcov == "iid":
            v_beta = coefficient_vcov(Xw, kept, resid, gram.bread, vcov=vcov, cluster=cluster,
                                      n_clusters=n_clusters, df_k=df_k)
            sigma2 = rss / (n - df_k)
            fe_vcov = sigma2 * (np.diag(1.0 / counts) + Xm @ gram.bread @ Xm.T)
        else:
            if vcov == "HC1":
                ids, n_ids, factor = np.arange(n), n, n / (n - df_k)
                v_beta = coefficient_vcov(Xw, kept, resid, gram.bread, vcov=vcov, cluster=cluster,
                                          n_clusters=n_clusters, df_k=df_k)
                sums = vc.score_sums(Xw, resid, ids, n_ids)[:, kept]
            else:
                assert cluster is not None and n_clusters is not None
                ids, n_ids, factor = cluster, n_clusters, vc.cr1_factor(n, df_k, n_clusters)
                sums = vc.score_sums(Xw, resid, ids, n_ids)[:, kept]
                # the β covariance from the same cluster sums (coefficient_vcov would form them again)
                v_beta = vc.vcov_cr1(gram.bread, sums, n_obs=n, df_k=df_k)
            fe_vcov = _fe_covariance(Xm, gram.bread, sums, resid, fe, counts, ids, factor)

        tss = float(((y - y.mean()) ** 2).sum())
        r2 = 1.0 - rss / tss if tss > 0 else 0.0
        tss_within = float(yw @ yw)
        ols = OLSResult(
            terms=tuple(names[j] for j in kept), coef=coef, vcov=v_beta,
            vcov_type=vcov, n_obs=n, n_clusters=n_clusters if vcov == "CR1" else None, df_k=df_k,
            n_params=k + n_fe, r2=r2, adj_r2=adjusted_r2(r2, n, k + n_fe), rss=rss, tss=tss,
            dropped=tuple(nm for j, nm in enumerate(names) if not gram.kept[j]),
        )
        results.append(FixedEffectsResult(
            ols=ols,
            r2_within=1.0 - rss / tss_within if tss_within > 0 else 0.0,
            fe_levels=np.asarray(fe_levels if fe_levels is not None else np.arange(n_fe), dtype=object),
            fe_coef=fe_coef, fe_vcov=fe_vcov, fe_n_obs=counts.astype(np.int64),
            fe_n_clusters=fe_n_clusters.astype(np.int64), fe_nested=nested,
        ))
    return results


def normalise_effects(
    result: FixedEffectsResult,
    *,
    normalisation: str,
    reference: str | None = None,
    context: str = "",
    mean_over: np.ndarray | None = None,
) -> pd.DataFrame:
    """Effects under one normalisation, with SEs of the normalised quantity.

    "reference": θ_g = α_g − α_r, Var = Q_gg + Q_rr − 2 Q_gr (θ_r = 0, SE 0).
    "mean": θ_g = α_g − w'α with w = m / Σm, the unweighted mean over the levels in the boolean mask
    `mean_over` (default all), Var = Q_gg − 2 (Qw)_g + w'Qw.
    Columns: level, estimate, std_error, n_obs, n_clusters.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {list(NORMALISATIONS)}, not {normalisation!r}")
    alpha, Q = result.fe_coef, result.fe_vcov
    levels = [str(lv) for lv in result.fe_levels]
    if normalisation == "reference":
        if reference is None or str(reference) not in levels:
            where = f" in {context}" if context else ""
            raise ValueError(
                f"reference municipality {reference!r} has no observations{where}; set "
                f"[estimation] reference_municipality to a municipality present in every group, "
                f"or use normalisation = 'mean' (allowed: {list(NORMALISATIONS)})"
            )
        r = levels.index(str(reference))
        estimate = alpha - alpha[r]
        var = np.diag(Q) + Q[r, r] - 2 * Q[:, r]
        var[r] = 0.0
    else:
        mask = np.ones(len(alpha), dtype=bool) if mean_over is None else np.asarray(mean_over, dtype=bool)
        if not mask.any():
            mask = np.ones(len(alpha), dtype=bool)
        w = mask / mask.sum()
        estimate = alpha - w @ alpha
        var = np.diag(Q) - 2 * (Q @ w) + w @ Q @ w
    return pd.DataFrame({
        "level": levels,
        "estimate": estimate,
        "std_error": np.sqrt(np.clip(var, 0.0, None)),
        "n_obs": result.fe_n_obs,
        "n_clusters": result.fe_n_clusters,
    })
