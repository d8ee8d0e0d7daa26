"""Ranks of municipality contributions with confidence sets (Mogstad, Romano, Shaikh and Wilhelm
2024, "Inference for ranks with applications to mobility across neighbourhoods and academic
achievement across countries", Review of Economic Studies 91: 476–518; R package `csranks`,
`R/ranks.R` and `R/diffmeans.R`).

Rank 1 is the largest: rank_j = 1 + #{k : θ̂_k > θ̂_j}. A confidence set for rank_j follows from
simultaneous one-sided tests of θ_j > θ_k and θ_k > θ_j over the pairs P involving j:

    reject "θ_i ≤ θ_k" when (θ̂_i − θ̂_k) / σ_ik > c,  σ_ik² = Σ_ii + Σ_kk − 2Σ_ik,
    c = the 1 − α quantile over draws Z ~ N(0, Σ) of max_{(i,k)∈P} (Z_i − Z_k)/σ_ik,

repeated on the pairs not yet rejected until no new rejection (stepdown). With N⁻_j the number of
municipalities significantly above j and N⁺_j the number significantly below, the marginal set is
{N⁻_j + 1, …, p − N⁺_j}: it covers j's true rank with probability ≥ 1 − α. The simultaneous
version takes P = all pairs, so the sets cover all ranks at once.

Differences only: any normalisation of the effects (θ − c'θ·1) gives the same sets. The draws are
taken once (seeded) and reused in every step, so the result is deterministic; `csranks` draws anew
in each step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

RankSetType = Literal["marginal", "simultaneous"]
RANK_SET_TYPES: tuple[str, ...] = ("marginal", "simultaneous")
DRAW_CHUNK = 16   # draws per block when all pairs are scanned (memory: chunk × p² floats)


def ranks_descending(values: np.ndarray) -> np.ndarray:
    """1 + number of strictly larger values (ties share the best rank), as csranks' irank."""
    v = np.asarray(values, dtype=np.float64)
    return 1 + (v[None, :] > v[:, None]).sum(axis=1)


@dataclass(frozen=True)
class RankSets:
    """Estimated ranks and confidence sets [lower, upper] for each unit (1 = largest)."""

    rank: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kind: str
    coverage: float
    draws: int
    seed: int


def contrast_draws(covariance: np.ndarray, *, draws: int, seed: int) -> np.ndarray:
    """Draws (draws × p) of Z − Z₁ with Z ~ N(0, Σ): the differences' law, whatever the normalisation."""
    S = np.asarray(covariance, dtype=np.float64)
    p = S.shape[0]
    # covariance of θ_j − θ_1 (j ≥ 2): identical for θ and θ − c'θ·1
    C = S[1:, 1:] - S[1:, :1] - S[:1, 1:] + S[0, 0]
    C = (C + C.T) / 2
    rng = np.random.default_rng(seed)
    normal = rng.standard_normal((draws, p - 1))
    try:
        root = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        eigval, eigvec = np.linalg.eigh(C)
        root = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    out = np.zeros((draws, p))
    out[:, 1:] = normal @ root.T
    return out


def difference_sds(covariance: np.ndarray) -> np.ndarray:
    """σ_ik = √(Σ_ii + Σ_kk − 2Σ_ik)."""
    S = np.asarray(covariance, dtype=np.float64)
    d = np.diag(S)
    return np.sqrt(np.clip(d[:, None] + d[None, :] - 2 * S, 0.0, None))


def _check_inputs(estimate: np.ndarray, covariance: np.ndarray, coverage: float) -> None:
    p = estimate.shape[0]
    if covariance.shape != (p, p):
        raise ValueError(f"covariance must be {p} × {p}, got {covariance.shape}")
    if not np.isfinite(estimate).all() or not np.isfinite(covariance).all():
        raise ValueError("estimates and covariance must be finite (pass only the released municipalities)")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1), not {coverage}")


def _column_extreme(reduce, T: np.ndarray, rows: np.ndarray, initial: float) -> np.ndarray:
    """Per column, np.max or np.min of T over the rows in the boolean mask; a plain (fast) reduction
    when every row is in: an extreme is exact, so both ways give the same numbers."""
    if rows.all():
        return reduce(T, axis=0, initial=initial)
    return reduce(T, axis=0, where=rows[:, None], initial=initial)


def _differences(ZT: np.ndarray, j: int, valid: np.ndarray, buffer: np.ndarray) -> np.ndarray:
    """ZT[j] − ZT[k] for the valid k, in `buffer`; when only k = j is invalid (the usual case) without
    a boolean-indexed copy."""
    n = int(valid.sum())
    if n == len(valid) - 1 and not valid[j]:
        np.subtract(ZT[j], ZT[:j], out=buffer[:j])
        np.subtract(ZT[j], ZT[j + 1:], out=buffer[j:n])
        return buffer[:n]
    return np.subtract(ZT[j], ZT[valid], out=buffer[:n])


def _marginal(theta: np.ndarray, sd: np.ndarray, Z: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    p = theta.size
    lower = np.ones(p, dtype=np.int64)
    upper = np.full(p, p, dtype=np.int64)
    ZT = np.ascontiguousarray(Z.T)                              # units × draws
    buffer = np.empty_like(ZT)
    for j in range(p):
        valid = sd[j] > 0                                       # every k ≠ j with a defined difference
        inv = 1.0 / sd[j, valid]
        t_obs = (theta[j] - theta[valid]) * inv                 # pair (j, k): j above k
        T = _differences(ZT, j, valid, buffer)                  # draws of the same statistics
        T *= inv[:, None]
        above = np.ones(len(inv), dtype=bool)                   # pairs (j, k) still tested
        below = above.copy()                                    # pairs (k, j) still tested
        n_above = n_below = 0                                   # rejections: j above k, k above j
        while above.any() or below.any():
            stat = np.maximum(_column_extreme(np.max, T, above, -np.inf),
                              -_column_extreme(np.min, T, below, np.inf))
            c = np.quantile(stat, coverage)
            new_above = above & (t_obs > c)
            new_below = below & (-t_obs > c)
            if not new_above.any() and not new_below.any():
                break
            n_above += int(new_above.sum())
            n_below += int(new_below.sum())
            above &= ~new_above
            below &= ~new_below
            keep = above | below                                # drop rows with nothing left to test
            T, t_obs, above, below = T[keep], t_obs[keep], above[keep], below[keep]
        lower[j] = 1 + n_below
        upper[j] = p - n_above
    return lower, upper


def _simultaneous(theta: np.ndarray, sd: np.ndarray, Z: np.ndarray, coverage: float) -> tuple[np.ndarray, np.ndarray]:
    p = theta.size
    with np.errstate(divide="ignore", invalid="ignore"):
        t_obs = np.where(sd > 0, (theta[:, None] - theta[None, :]) / sd, -np.inf)   # row i above column k
        inv_sd = np.where(sd > 0, 1.0 / sd, 0.0)
    active = (sd > 0) & ~np.eye(p, dtype=bool)
    rejected = np.zeros((p, p), dtype=bool)
    while active.any():
        stat = np.empty(Z.shape[0])
        for start in range(0, Z.shape[0], DRAW_CHUNK):
            block = Z[start:start + DRAW_CHUNK]
            T = (block[:, :, None] - block[:, None, :]) * inv_sd
            stat[start:start + DRAW_CHUNK] = np.where(active, T, -np.inf).reshape(len(block), -1).max(axis=1)
        c = np.quantile(stat, coverage)
        new = active & (t_obs > c)
        if not new.any():
            break
        rejected |= new
        active &= ~new
    return 1 + rejected.sum(axis=0), p - rejected.sum(axis=1)


def rank_confidence_sets(
    estimate: np.ndarray,
    covariance: np.ndarray,
    *,
    coverage: float = 0.90,
    kind: RankSetType = "marginal",
    draws: int = 1000,
    seed: int = 20240601,
) -> RankSets:
    """Ranks (1 = largest) and their `kind` confidence sets at `coverage` (module docstring).

    `estimate` (p,) and `covariance` (p × p) of the units to be ranked — only the municipalities
    whose contribution is released. Deterministic for a given `seed`.
    """
    if kind not in RANK_SET_TYPES:
        raise ValueError(f"kind must be one of {list(RANK_SET_TYPES)}, not {kind!r}")
    theta = np.asarray(estimate, dtype=np.float64)
    S = np.asarray(covariance, dtype=np.float64)
    _check_inputs(theta, S, coverage)
    p = theta.size
    rank = ranks_descending(theta)
    if p < 2:
        return RankSets(rank, rank.copy(), rank.copy(), kind, coverage, draws, seed)
    Z = contrast_draws(S, draws=draws, seed=seed)
    sd = difference_sds(S)
    lower, upper = (_marginal if kind == "marginal" else _simultaneous)(theta, sd, Z, coverage)
    return RankSets(rank, np.asarray(lower, dtype=np.int64), np.asarray(upper, dtype=np.int64), kind, coverage,
                    draws, seed)


RANK_COLUMNS = ("rank", "rank_ci_low", "rank_ci_high")


def rank_table(
    levels: np.ndarray,
    estimate: np.ndarray,
    covariance: np.ndarray,
    *,
    use: np.ndarray,
    coverage: float = 0.90,
    draws: int = 1000,
    seed: int = 20240601,
    simultaneous: bool = False,
) -> pd.DataFrame:
    """kommunebidrag's rank columns for one group: kommnr_2020, rank, rank_ci_low, rank_ci_high
    (marginal sets; with `simultaneous` also rank_simultaneous_low/_high), for every level.

    Only the units in `use` (the released contributions) are ranked; the others get missing values.
    `estimate` and `covariance` may be raw or normalised effects (same result).
    """
    mask = np.asarray(use, dtype=bool)
    S = np.asarray(covariance, dtype=np.float64)[np.ix_(mask, mask)]
    theta = np.asarray(estimate, dtype=np.float64)[mask]
    out = pd.DataFrame({"kommnr_2020": np.asarray(levels).astype(str)})
    for column in RANK_COLUMNS + (("rank_simultaneous_low", "rank_simultaneous_high") if simultaneous else ()):
        out[column] = pd.array([pd.NA] * len(out), dtype="Int64")
    if mask.sum() == 0:
        return out
    sets = rank_confidence_sets(theta, S, coverage=coverage, kind="marginal", draws=draws, seed=seed)
    out.loc[mask, "rank"] = sets.rank
    out.loc[mask, "rank_ci_low"] = sets.lower
    out.loc[mask, "rank_ci_high"] = sets.upper
    if simultaneous:
        joint = rank_confidence_sets(theta, S, coverage=coverage, kind="simultaneous", draws=draws, seed=seed)
        out.loc[mask, "rank_simultaneous_low"] = joint.lower
        out.loc[mask, "rank_simultaneous_high"] = joint.upper
    return out
