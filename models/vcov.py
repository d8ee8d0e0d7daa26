"""Covariance matrices of OLS coefficients as small pure functions.

Notation: Z is the (partialled) N×K design, u the residuals, B = (Z'Z)^{-1} the bread.
Cluster-robust CR1 (Stata `vce(cluster)`, fixest/pyfixest default "nonnested" small-sample rule):

    V = c · B (Σ_g s_g s_g') B,   s_g = Σ_{i∈g} z_i u_i,
    c = G/(G−1) · (N−1)/(N−K),

where K counts the estimated coefficients plus the absorbed fixed effects that are *not* nested in
the clusters; a fixed effect nested in the clusters counts as one parameter (pyfixest
utils.get_ssc: df_k = k + k_fe − k_fe_nested + n_fe_fully_nested; fixest issue #554). "Nested"
means each FE level falls within one cluster (pyfixest numba/nested_fixef_nb.py). Settlement-
municipality FE with person clusters are therefore not nested and count all their levels.

Two-way clustering (Cameron, Gelbach and Miller 2011), as fixest and pyfixest's default "conventional"
G_df: V = c_1 B S_1'S_1 B + c_2 B S_2'S_2 B − c_12 B S_12'S_12 B, each summand with its own
c_j = G_j/(G_j−1) · (N−1)/(N−K), S_12 the sums over the intersections of the two clusterings; t
degrees of freedom min(G_1, G_2) − 1.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

VcovType = Literal["CR1", "HC1", "iid"]
VCOV_TYPES: tuple[str, ...] = ("CR1", "HC1", "iid")


def check_vcov_type(vcov: str) -> None:
    if vcov not in VCOV_TYPES:
        raise ValueError(f"vcov must be one of {list(VCOV_TYPES)}, not {vcov!r}")


def indicator(codes: np.ndarray, n_groups: int) -> sp.csr_matrix:
    """Sparse G×N matrix with a 1 at (codes[i], i): `indicator @ M` sums the rows of M by group."""
    n = codes.shape[0]
    return sp.csr_matrix((np.ones(n), (codes, np.arange(n))), shape=(n_groups, n))


def group_sums(M: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ_{i: codes_i = g} M_i for g = 0..n_groups−1 (sparse indicator product, any row order)."""
    M2 = M.reshape(M.shape[0], -1)
    out = np.asarray(indicator(codes, n_groups) @ M2)
    return out.reshape((n_groups,) + M.shape[1:])


def score_sums(Z: np.ndarray, resid: np.ndarray, cluster: np.ndarray, n_clusters: int) -> np.ndarray:
    """s_g = Σ_{i∈g} z_i u_i for every cluster g (G×K), without forming the N×K scores."""
    n = resid.shape[0]
    weighted = sp.csr_matrix((resid, (cluster, np.arange(n))), shape=(n_clusters, n))
    return np.asarray(weighted @ Z)


def cluster_columns(cluster: np.ndarray) -> list[np.ndarray]:
    """One or two clusterings as a list of code vectors (0..G−1), from an (N,) or (N, 2) array."""
    cluster = np.asarray(cluster)
    if cluster.ndim == 1:
        return [cluster.astype(np.int64)]
    if cluster.ndim == 2 and cluster.shape[1] == 2:
        return [cluster[:, j].astype(np.int64) for j in range(2)]
    raise ValueError(f"cluster must be one code per row or two (N x 2), not shape {cluster.shape}")


def intersection_codes(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Codes 0..G_12−1 of the (first, second) pairs that occur."""
    pairs = first.astype(np.int64) * (int(second.max()) + 1) + second
    return np.unique(pairs, return_inverse=True)[1].astype(np.int64)


def min_clusters(cluster: np.ndarray) -> int:
    """G of a one-way clustering; the smaller G of a two-way one (its t degrees of freedom + 1)."""
    return min(int(codes.max()) + 1 for codes in cluster_columns(cluster))


def vcov_cr1_clusters(bread: np.ndarray, Z: np.ndarray, resid: np.ndarray, cluster: np.ndarray, *,
                      n_obs: int, df_k: int) -> np.ndarray:
    """CR1 with one clustering, or the two-way CGM sum of the module docstring with two."""
    columns = cluster_columns(cluster)
    if len(columns) == 1:
        codes = columns[0]
        return vcov_cr1(bread, score_sums(Z, resid, codes, int(codes.max()) + 1), n_obs=n_obs, df_k=df_k)
    terms = [(columns[0], 1.0), (columns[1], 1.0), (intersection_codes(*columns), -1.0)]
    return sum(sign * vcov_cr1(bread, score_sums(Z, resid, codes, int(codes.max()) + 1), n_obs=n_obs, df_k=df_k)
               for codes, sign in terms)


def cr1_factor(n_obs: int, df_k: int, n_clusters: int) -> float:
    """G/(G−1) · (N−1)/(N−K); NaN when undefined (one cluster, or no residual degrees of freedom)."""
    if n_clusters <= 1 or n_obs <= df_k:
        return float("nan")
    return n_clusters / (n_clusters - 1) * (n_obs - 1) / (n_obs - df_k)


def fe_nested_in_clusters(fe: np.ndarray, cluster: np.ndarray) -> bool:
    """True when every fixed-effect level lies within a single cluster (fixest/pyfixest meaning:
    e.g. person FE with clusters of firms). Municipality FE with person clusters are *not* nested:
    a municipality holds many persons, even though each person has one settlement municipality."""
    n_fe = int(fe.max()) + 1
    pairs = np.unique(cluster.astype(np.int64) * n_fe + fe)
    return np.unique(pairs % n_fe).shape[0] == pairs.shape[0]


def df_k(n_coef: int, *, intercept: bool, n_fe_levels: int = 0, fe_nested: bool = False) -> int:
    """K of the small-sample factor: coefficients (+1 for an intercept) plus non-nested FE levels.

    A single absorbed FE nested in the clusters counts as 1 (it replaces the intercept); a
    non-nested one counts all its levels (pyfixest get_ssc, k_fixef="nonnested").
    """
    if n_fe_levels == 0:
        return n_coef + int(intercept)
    return n_coef + (1 if fe_nested else n_fe_levels)


def sandwich(bread: np.ndarray, meat: np.ndarray) -> np.ndarray:
    """B M B, symmetrised."""
    v = bread @ meat @ bread
    return (v + v.T) / 2


def vcov_cr1(bread: np.ndarray, sums: np.ndarray, *, n_obs: int, df_k: int) -> np.ndarray:
    """CR1: c · B (Σ_g s_g s_g') B, `sums` the G×K cluster sums s_g of the scores z_i u_i."""
    return cr1_factor(n_obs, df_k, sums.shape[0]) * sandwich(bread, sums.T @ sums)


def vcov_hc1(bread: np.ndarray, scores: np.ndarray, *, n_obs: int, df_k: int) -> np.ndarray:
    """HC1: N/(N−K) · B (Σ_i u_i² z_i z_i') B."""
    return n_obs / (n_obs - df_k) * sandwich(bread, scores.T @ scores)


def vcov_iid(bread: np.ndarray, rss: float, *, n_obs: int, df_k: int) -> np.ndarray:
    """Conventional: σ² B with σ² = RSS/(N−K)."""
    return rss / (n_obs - df_k) * bread
