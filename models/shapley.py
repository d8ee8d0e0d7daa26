"""Exact Shapley decomposition of R² over blocks of regressors (methods.md §6, fig 3.16).

Players are blocks (groups of columns; optionally the absorbed municipality fixed effect). The
value of a coalition S is the R² of the OLS of y on the blocks in S (with an intercept), relative
to the total sum of squares TSS = Σ(y − ȳ)²:

    v(S) = ĉ_S' Â_SS^{-1} ĉ_S / TSS                 (S without the FE; Â, ĉ centred cross-products)
    v(S) = 1 − (ÿ'ÿ − c̈_S' Ä_SS^{-1} c̈_S) / TSS     (S with the FE; Ä, c̈ within-municipality)

so all 2^n subsets come from two (K+1)×(K+1) cross-product matrices, without refitting on the data
(Ä = Â − Σ_g n_g m̄_g m̄_g', m̄_g the municipality means of the centred [y, X]).
Shapley value: φ_j = Σ_{S ⊆ N∖{j}} |S|!(n−|S|−1)!/n! · (v(S ∪ {j}) − v(S)); Σ_j φ_j = v(N) − v(∅)
= R² of the full model (efficiency), to rounding. A block with no variation in the sample adds no
columns and gets φ = 0. Adjusted R² (K counting the intercept or every FE level) is decomposed the
same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.vcov import group_sums
from models.ols import COLLIN_TOL, independent_columns


def shapley_from_values(values: np.ndarray, n_players: int) -> np.ndarray:
    """φ_j from v over all 2^n coalitions (bit j of the index = player j is in)."""
    size = 1 << n_players
    if values.shape[0] != size:
        raise ValueError(f"need {size} coalition values, got {values.shape[0]}")
    masks = np.arange(size)
    popcount = np.array([bin(m).count("1") for m in range(size)])
    weight = np.array([math.factorial(s) * math.factorial(n_players - s - 1) / math.factorial(n_players)
                       for s in range(n_players)])
    phi = np.zeros(n_players)
    for j in range(n_players):
        without = masks[(masks >> j) & 1 == 0]
        phi[j] = np.sum(weight[popcount[without]] * (values[without | (1 << j)] - values[without]))
    return phi


def _explained_ss(A: np.ndarray, c: np.ndarray, idx: np.ndarray, tol: float) -> tuple[float, int]:
    """(c_S' A_SS^{-1} c_S, rank) on the columns idx, dropping collinear ones (fast path: Cholesky)."""
    if idx.size == 0:
        return 0.0, 0
    sub = A[np.ix_(idx, idx)]
    d = np.sqrt(np.diag(sub))
    scaled = sub / np.outer(d, d)
    cs = c[idx] / d
    try:
        L = np.linalg.cholesky(scaled)
        if np.min(np.diag(L)) ** 2 > tol:
            z = np.linalg.solve(L, cs)
            return float(z @ z), idx.size
    except np.linalg.LinAlgError:
        pass
    keep = independent_columns(scaled, tol=tol)
    if not keep.any():
        return 0.0, 0
    L = np.linalg.cholesky(scaled[np.ix_(keep, keep)])
    z = np.linalg.solve(L, cs[keep])
    return float(z @ z), int(keep.sum())


@dataclass(frozen=True)
class Decomposition:
    """Per-player Shapley shares of R² and adjusted R², with the totals."""

    players: tuple[str, ...]
    r2_share: np.ndarray
    adj_r2_share: np.ndarray
    r2_total: float
    adj_r2_total: float
    n_obs: int
    n_params: int


def r2_decomposition(
    y: np.ndarray,
    X: np.ndarray,
    column_block: np.ndarray,
    block_names: tuple[str, ...] | list[str],
    *,
    fe: np.ndarray | None = None,
    fe_name: str = "fe",
    collin_tol: float = COLLIN_TOL,
) -> Decomposition:
    """Shapley shares of R² over the column blocks (+ the absorbed `fe` as the last player)."""
    y = np.asarray(y, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64).reshape(len(y), -1)
    n = len(y)
    M = np.column_stack([y, X])
    raw = np.einsum("ij,ij->j", M, M)
    Mc = M - M.mean(axis=0)
    Ac = Mc.T @ Mc
    tss = Ac[0, 0]
    mats = [Ac]
    n_fe = 0
    if fe is not None:
        # within cross-product: Σ (m − m̄_g)(m − m̄_g)' = Mc'Mc − Σ_g n_g m̄_g m̄_g' (m̄_g of centred M)
        n_fe = int(fe.max()) + 1
        counts = np.bincount(fe, minlength=n_fe).astype(np.float64)
        sums = group_sums(Mc, fe, n_fe)
        Aw = Ac - sums.T @ (sums / counts[:, None])
        mats.append((Aw + Aw.T) / 2)
    # per matrix: columns that carry variation (centring/demeaning can leave rounding noise)
    live = [np.flatnonzero(np.diag(A)[1:] > collin_tol * raw[1:]) for A in mats]
    names = list(block_names) + ([fe_name] if fe is not None else [])
    n_players = len(names)
    n_blocks = len(block_names)
    r2 = np.zeros(1 << n_players)
    k = np.ones(1 << n_players)
    for mask in range(1 << n_players):
        in_blocks = [b for b in range(n_blocks) if mask >> b & 1]
        with_fe = fe is not None and bool(mask >> n_blocks & 1)
        A = mats[1] if with_fe else mats[0]
        cols = live[1] if with_fe else live[0]
        idx = cols[np.isin(column_block[cols], in_blocks)]
        ess, rank = _explained_ss(A[1:, 1:], A[0, 1:], idx, collin_tol)
        if with_fe:
            r2[mask] = 1.0 - (A[0, 0] - ess) / tss
            k[mask] = n_fe + rank
        else:
            r2[mask] = ess / tss
            k[mask] = 1 + rank
    with np.errstate(divide="ignore", invalid="ignore"):  # adjusted R² is undefined when n <= k
        adj = np.where(n > k, 1.0 - (1.0 - r2) * (n - 1) / (n - k), np.nan)
    full = (1 << n_players) - 1
    return Decomposition(
        players=tuple(names),
        r2_share=shapley_from_values(r2, n_players),
        adj_r2_share=shapley_from_values(adj, n_players),
        r2_total=float(r2[full]),
        adj_r2_total=float(adj[full]),
        n_obs=n,
        n_params=int(k[full]),
    )

