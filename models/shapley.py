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


def _explained_ss_batch(A: np.ndarray, c: np.ndarray, subsets: list[np.ndarray],
                        tol: float) -> tuple[np.ndarray, np.ndarray]:
    """_explained_ss for every column subset: the subsets of one size go through one stacked Cholesky and
    one stacked triangular solve (the same LAPACK call per matrix, so the same numbers); a subset whose
    fast path fails is redone alone."""
    ess = np.zeros(len(subsets))
    rank = np.zeros(len(subsets), dtype=np.int64)
    by_size: dict[int, list[int]] = {}
    for i, idx in enumerate(subsets):
        by_size.setdefault(idx.size, []).append(i)
    for size, members in by_size.items():
        if size == 0:
            continue
        idx = np.stack([subsets[i] for i in members])
        sub = A[idx[:, :, None], idx[:, None, :]]
        d = np.sqrt(np.diagonal(sub, axis1=1, axis2=2))
        scaled = sub / (d[:, :, None] * d[:, None, :])
        cs = c[idx] / d
        try:
            L = np.linalg.cholesky(scaled)
        except np.linalg.LinAlgError:
            L = None
        if L is not None:
            fast = np.min(np.diagonal(L, axis1=1, axis2=2), axis=1) ** 2 > tol
            z = np.linalg.solve(L[fast], cs[fast][:, :, None])[:, :, 0]
        else:
            fast = np.zeros(len(members), dtype=bool)
        for i, zi in zip(np.asarray(members)[fast], z if L is not None else []):
            ess[i], rank[i] = float(zi @ zi), size
        for i in np.asarray(members)[~fast]:
            ess[i], rank[i] = _explained_ss(A, c, subsets[i], tol)
    return ess, rank


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
    return r2_decompositions([y], X, column_block, block_names, fe=fe, fe_name=fe_name, collin_tol=collin_tol)[0]


def r2_decompositions(
    ys: list[np.ndarray],
    X: np.ndarray,
    column_block: np.ndarray,
    block_names: tuple[str, ...] | list[str],
    *,
    fe: np.ndarray | None = None,
    fe_name: str = "fe",
    collin_tol: float = COLLIN_TOL,
) -> list[Decomposition]:
    """r2_decomposition for several outcomes on the same regressors: one cross-product of [y_1..y_m, X]
    (each element is the same sum as in a separate fit), then each outcome's decomposition."""
    m = len(ys)
    X = np.asarray(X, dtype=np.float64).reshape(len(ys[0]), -1)
    n = X.shape[0]
    M = np.column_stack([*(np.asarray(y, dtype=np.float64) for y in ys), X])
    raw = np.einsum("ij,ij->j", M, M)
    Mc = M
    Mc -= M.mean(axis=0)   # centred in place: one copy of the data less
    Ac = Mc.T @ Mc
    mats = [Ac]
    n_fe = 0
    if fe is not None:
        # within cross-product: Σ (m − m̄_g)(m − m̄_g)' = Mc'Mc − Σ_g n_g m̄_g m̄_g' (m̄_g of centred M)
        n_fe = int(fe.max()) + 1
        counts = np.bincount(fe, minlength=n_fe).astype(np.float64)
        sums = group_sums(Mc, fe, n_fe)
        Aw = Ac - sums.T @ (sums / counts[:, None])
        mats.append((Aw + Aw.T) / 2)
    names = list(block_names) + ([fe_name] if fe is not None else [])
    n_players = len(names)
    n_blocks = len(block_names)
    coalitions = np.arange(1 << n_players)
    # per matrix: columns that carry variation (centring/demeaning can leave rounding noise)
    live = [np.flatnonzero(np.diag(A)[m:] > collin_tol * raw[m:]) for A in mats]
    with_fe = (coalitions >> n_blocks & 1).astype(bool) if fe is not None else np.zeros(coalitions.size, bool)
    # column j of X is in coalition S when bit column_block[j] of S is set
    subsets = [live[int(w)][(int(S) >> column_block[live[int(w)]]) & 1 == 1] for S, w in zip(coalitions, with_fe)]
    out = []
    for j in range(m):
        rows = np.r_[j, m:m + X.shape[1]]
        per_matrix = [A[np.ix_(rows, rows)] for A in mats]
        r2 = np.zeros(coalitions.size)
        k = np.ones(coalitions.size)
        for w, A in enumerate(per_matrix):
            chosen = np.flatnonzero(with_fe == bool(w))
            ess, rank = _explained_ss_batch(A[1:, 1:], A[0, 1:], [subsets[i] for i in chosen], collin_tol)
            tss = per_matrix[0][0, 0]
            if w:
                r2[chosen] = 1.0 - (A[0, 0] - ess) / tss
                k[chosen] = n_fe + rank
            else:
                r2[chosen] = ess / tss
                k[chosen] = 1 + rank
        out.append(_decomposition(names, r2, k, n))
    return out


def _decomposition(names: list[str], r2: np.ndarray, k: np.ndarray, n: int) -> Decomposition:
    n_players = len(names)
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
