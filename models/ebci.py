"""Critical values of robust empirical-Bayes confidence intervals (Armstrong, Kolesár and
Plagborg-Møller 2022, "Robust empirical Bayes confidence intervals", Econometrica 90(6)).

Setting: an estimate Y_i ~ N(θ_i, σ_i²) is shrunk to θ̂_i = Xδ + w_i (Y_i − Xδ). Its normalised
bias b_i = (1/w_i − 1)(θ_i − Xδ)/σ_i is unknown, but its second moment m₂ = E b² and kurtosis
κ = E b⁴ / m₂² across units are estimable. θ̂_i ± cva_α(m₂, κ) · w_i σ_i then covers θ_i for at
least 1 − α of the units on average, whatever the distribution of θ − Xδ:

    r(t, χ) = Φ(−√t − χ) + Φ(√t − χ)           non-coverage of ± χ given b² = t
    ρ(m₂, κ, χ) = sup_F E_F r(b², χ)  s.t.  E b² = m₂, E b⁴ = κ m₂²
    cva_α(m₂, κ) = the χ with ρ(m₂, κ, χ) = α.

ρ is computed by the paper's dual (Proposition B.1): the concave envelope ρ₀ when the kurtosis bound
does not bind, else a one-dimensional minimisation over the least-favourable support points, and a
linear program on a grid as a check. A port of `R/cv.R` of the authors' R package `ebci`
(github.com/kolesarm/ebci, function names kept: r, r1, r2, r3, rt0, rho0, delta, delta1, lam, rho,
cvb, cva); R's `optimize` and `uniroot` are scipy's bounded Brent minimiser and brentq.
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

TOL = 1e-12
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_SQRT_2 = math.sqrt(2.0)


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT_2PI


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT_2)


def r(t: float, chi: float) -> float:
    """r₀(t, χ) = Φ(−√t − χ) + Φ(√t − χ), set to 1 when √t − χ > 5 (as the package)."""
    st = math.sqrt(t)
    return 1.0 if st - chi > 5 else _cdf(-st - chi) + _cdf(st - chi)


def r_grid(t: np.ndarray, chi: float) -> np.ndarray:
    """r on an array of t."""
    st = np.sqrt(np.asarray(t, dtype=np.float64))
    return np.where(st - chi > 5, 1.0, special.ndtr(-st - chi) + special.ndtr(st - chi))


def r1(t: float, chi: float) -> float:
    """∂r/∂t; at t < 1e-8 its limit χφ(χ) (L'Hospital)."""
    if t < 1e-8:
        return chi * _phi(chi)
    st = math.sqrt(t)
    return (_phi(st - chi) - _phi(st + chi)) / (2 * st)


def r2(t: float, chi: float) -> float:
    """∂²r/∂t²; at t < 2e-6 its limit φ(χ)χ(χ² − 3)/6."""
    if t < 2e-6:
        return _phi(chi) * chi * (chi**2 - 3) / 6
    st = math.sqrt(t)
    return (_phi(st + chi) * (chi * st + t + 1) + _phi(st - chi) * (chi * st - t - 1)) / (4 * t**1.5)


def r3(t: float, chi: float) -> float:
    """∂³r/∂t³; at t < 2e-4 its limit φ(χ)(χ⁵ − 10χ³ + 15χ)/60."""
    if t < 2e-4:
        return _phi(chi) * (chi**5 - 10 * chi**3 + 15 * chi) / 60
    st = math.sqrt(t)
    return (_phi(chi - st) * (t**2 - 2 * chi * t**1.5 + (2 + chi**2) * t - 3 * chi * st + 3)
            - _phi(chi + st) * (t**2 + 2 * chi * t**1.5 + (2 + chi**2) * t + 3 * chi * st + 3)) / (8 * t**2.5)


@functools.lru_cache(maxsize=4096)
def rt0(chi: float) -> tuple[float, float]:
    """(t₀, t₁): where the tangent from (0, r(0)) touches r(·, χ), and r's inflection point."""
    if chi**2 < 3:
        return 0.0, 0.0
    if abs(r2(chi**2 - 1.5, chi)) < TOL or (chi**2 - 3) - chi**2 == 0:
        ip = chi**2 - 1.5
    else:
        ip = optimize.brentq(lambda t: r2(t, chi), chi**2 - 3, chi**2, xtol=TOL)
    r0 = r(0.0, chi)

    def f0(t: float) -> float:
        return r(t, chi) - t * r1(t, chi) - r0

    up, lo = 2 * chi**2, ip
    while f0(up) < 0:
        lo, up = up, 2 * up
    t0 = lo
    if f0(lo) < 0:
        t0 = optimize.brentq(f0, lo, up, xtol=TOL)
    elif f0(lo) > TOL:
        warnings.warn(f"failed to solve for t0 at chi={chi}", RuntimeWarning, stacklevel=2)
    return float(t0), float(ip)


def rho0(t: float, chi: float) -> float:
    """Concave envelope of r(·, χ): the maximal non-coverage under the second-moment bound alone."""
    t0 = rt0(chi)[0]
    return r(t, chi) if t >= t0 else r(t0, chi) + (t - t0) * r1(t0, chi)


def delta(x: float, x0: float, chi: float) -> float:
    """δ(x; x₀) = [r(x) − r(x₀) − r₁(x₀)(x − x₀)] / (x − x₀)², r₂(x₀)/2 near x₀."""
    d = x - x0
    if abs(d) < 1e-4:
        return r2(x0, chi) / 2
    return (r(x, chi) - r(x0, chi) - r1(x0, chi) * d) / d**2


def delta1(x: float, x0: float, chi: float) -> float:
    """∂δ(x; x₀)/∂x, r₃(x₀)/6 near x₀."""
    d = x - x0
    if abs(d) < 1e-3:
        return r3(x0, chi) / 6
    return ((r1(x, chi) + r1(x0, chi)) - 2 * (r(x, chi) - r(x0, chi)) / d) / d**2


def _minimise(f, lo: float, hi: float, tol: float) -> tuple[float, float]:
    """(argmin, min) of f on [lo, hi] by Brent's (1973) golden-section/parabolic search, the
    algorithm of R's optimize (netlib fmin), in plain Python for speed."""
    if hi <= lo:
        return lo, f(lo)
    c = 0.5 * (3.0 - math.sqrt(5.0))
    eps = math.sqrt(2.220446049250313e-16)
    a, b = lo, hi
    v = w = x = a + c * (b - a)
    fv = fw = fx = f(x)
    d = e = 0.0
    tol3 = tol / 3.0
    while True:
        xm = 0.5 * (a + b)
        tol1 = eps * abs(x) + tol3
        t2 = 2.0 * tol1
        if abs(x - xm) <= t2 - 0.5 * (b - a):
            return x, fx
        p = q = rr = 0.0
        if abs(e) > tol1:   # parabola through x, v, w
            rr = (x - w) * (fx - fv)
            q = (x - v) * (fx - fw)
            p = (x - v) * q - (x - w) * rr
            q = 2.0 * (q - rr)
            if q > 0:
                p = -p
            else:
                q = -q
            rr, e = e, d
        if abs(p) >= abs(0.5 * q * rr) or p <= q * (a - x) or p >= q * (b - x):
            e = (b - x) if x < xm else (a - x)   # golden section
            d = c * e
        else:
            d = p / q
            u = x + d
            if u - a < t2 or b - u < t2:
                d = tol1 if x < xm else -tol1
        u = x + (d if abs(d) >= tol1 else (tol1 if d > 0 else -tol1))
        fu = f(u)
        if fu <= fx:
            if u < x:
                b = x
            else:
                a = x
            v, fv, w, fw, x, fx = w, fw, x, fx, u, fu
        else:
            if u < x:
                a = u
            else:
                b = u
            if fu <= fw or w == x:
                v, fv, w, fw = w, fw, u, fu
            elif fu <= fv or v == x or v == w:
                v, fv = u, fu


@functools.lru_cache(maxsize=65536)
def lam(x0: float, chi: float) -> tuple[float, float]:
    """(max_x δ(x; x₀), its argmax); δ is unimodal on the relevant range."""
    ts = sorted(rt0(chi))
    if x0 >= ts[0]:
        xs = [0.0, ts[0]]
    else:
        xs = list(dict.fromkeys([0.0, x0, *ts]))
    r_x0, r1_x0, r2_x0 = r(x0, chi), r1(x0, chi), r2(x0, chi)

    def delta_x0(x: float) -> float:   # delta(x, x0, chi) with r(x0), r1(x0) computed once
        d = x - x0
        return r2_x0 / 2 if abs(d) < 1e-4 else (r(x, chi) - r_x0 - r1_x0 * d) / (d * d)

    der = np.array([delta1(x, x0, chi) for x in xs])
    val = np.array([delta_x0(x) for x in xs])
    opt0 = (float(val[0]), 0.0)
    nonneg = der >= 0
    if np.all(der <= 0) and int(np.argmax(val)) == 0:
        return opt0
    if np.all(np.diff(nonneg.astype(int)) <= 0) and der[-1] <= 0:
        idx = max(int(np.argmin(nonneg)), 1)   # first negative derivative (0-based), at least the second point
        lo, hi = xs[idx - 1], xs[idx]
    elif np.min(np.abs(der)) < 1e-6:
        best = int(np.argmax(val))
        lo, hi = xs[max(best - 1, 0)], xs[min(best + 1, len(xs) - 1)]
    else:
        raise ArithmeticError(f"multiple optima in delta(x, x0={x0}, chi={chi})")
    arg, neg = _minimise(lambda x: -delta_x0(x), float(lo), float(hi), TOL)
    if -neg > opt0[0]:
        return -neg, arg
    if -neg <= opt0[0] - 1e3 * TOL:
        warnings.warn(f"optimum may be wrong for lam(x0={x0}, chi={chi})", RuntimeWarning, stacklevel=2)
    return opt0


@dataclass(frozen=True)
class NonCoverage:
    """Maximal non-coverage ρ and a least-favourable distribution of b² (support x, probabilities p)."""

    alpha: float
    x: tuple[float, ...]
    p: tuple[float, ...]


def rho(m2: float, kappa: float, chi: float, *, check: bool = True, grid: int = 5000) -> NonCoverage:
    """ρ(m₂, κ, χ): maximal non-coverage of ± χ over distributions of b with E b² = m₂, E b⁴ ≤ κ m₂²."""
    r0 = rho0(m2, chi)
    t0 = rt0(chi)[0]
    if kappa == 1:
        return NonCoverage(r(m2, chi), (0.0, m2), (0.0, 1.0))
    if m2 >= t0:
        return NonCoverage(r0, (0.0, m2), (0.0, 1.0))
    if math.isinf(kappa) or m2 * kappa >= t0:
        return NonCoverage(r0, (0.0, t0), (1 - m2 / t0, m2 / t0))
    tbar = lam(0.0, chi)[1]

    def lammax(x0: float) -> float:
        return delta(0.0, x0, chi) if x0 >= tbar else max(lam(x0, chi)[0], 0.0)

    def objective(x0: float) -> float:
        return (r(x0, chi) + r1(x0, chi) * (m2 - x0)
                + lammax(x0) * (kappa * m2**2 - 2 * x0 * m2 + x0**2))

    below = _minimise(objective, 0.0, tbar, 1e3 * TOL) if tbar > 0 else (0.0, objective(0.0))
    above = _minimise(objective, tbar, t0, 1e3 * TOL)
    arg, value = below if below[1] < above[1] else above
    xs0 = sorted((arg, lam(arg, chi)[1]))
    p = (m2 - xs0[1]) / (xs0[0] - xs0[1]) if xs0[0] != xs0[1] else 1.0
    ps0 = (p, 1 - p)
    mean_x = xs0[0] * ps0[0] + xs0[1] * ps0[1]
    primal = (r(xs0[0], chi) * ps0[0] + r(xs0[1], chi) * ps0[1], mean_x,
              (xs0[0] ** 2 * ps0[0] + xs0[1] ** 2 * ps0[1]) / mean_x**2 if mean_x > 0 else np.inf)
    if check and max(abs(primal[0] - value), abs(primal[1] - m2), abs(primal[2] - kappa)) > 1e-4:
        value_lp = _rho_linear_program(m2, kappa, chi, t0, xs0, grid)
        if value_lp is None or abs(value - value_lp) >= 1e-4:
            warnings.warn(f"linear program finds rejection {value_lp}, direct approach {value} "
                          f"(chi={chi}, m2={m2}, kappa={kappa})", RuntimeWarning, stacklevel=2)
            return NonCoverage(np.nan, (np.nan,), (np.nan,))
    return NonCoverage(value, tuple(xs0), ps0)


def _rho_linear_program(m2: float, kappa: float, chi: float, t0: float, xs0: list[float],
                        grid: int) -> float | None:
    """max Σ r(x)p over p ≥ 0 on a grid of [0, t₀]: Σp = 1, Σxp = m₂, Σx²p ≤ κm₂² (the primal)."""
    xs = np.unique(np.concatenate([[m2], xs0, np.linspace(0.0, t0, grid)]))
    res = optimize.linprog(-r_grid(xs, chi), A_ub=[xs**2], b_ub=[kappa * m2**2], A_eq=np.vstack([np.ones_like(xs), xs]),
                           b_eq=[1.0, m2], bounds=(0, None), method="highs")
    return float(-res.fun) if res.status == 0 else None


def cvb(b: float, alpha: float = 0.05) -> float:
    """Critical value under a known normalised bias |b| = B: √(χ²₁,₁₋α(B²)); B + z₁₋α for B ≥ 10."""
    if b >= 10:
        return float(b + stats.norm.ppf(1 - alpha))
    if b == 0:
        return float(stats.norm.ppf(1 - alpha / 2))
    return float(np.sqrt(stats.ncx2.ppf(1 - alpha, df=1, nc=b**2)))


@dataclass(frozen=True)
class CriticalValue:
    """cva_α(m₂, κ) with the non-coverage it attains and the least-favourable distribution."""

    cv: float
    alpha: float
    x: tuple[float, ...]
    p: tuple[float, ...]


def cva(m2: float, *, kappa: float = math.inf, alpha: float = 0.05, check: bool = True) -> CriticalValue:
    """cva_α(m₂, κ): the robust EBCI critical value for a normalised bias with E b² = m₂ (not √m₂)
    and kurtosis at most κ. m₂ = 0 or κ = 1 give cvb(√m₂); m₂ = ∞ gives NaN."""
    if m2 < 0 or kappa < 1 or not 0 < alpha < 1:
        raise ValueError(f"need m2 >= 0, kappa >= 1 and 0 < alpha < 1 (got m2={m2}, kappa={kappa}, alpha={alpha})")
    if math.isinf(m2):
        return CriticalValue(np.nan, alpha, (0.0, m2), (0.0, 1.0))
    if kappa == 1 or m2 == 0:
        return CriticalValue(cvb(math.sqrt(m2), alpha), alpha, (0.0, m2), (0.0, 1.0))
    if 1 / m2 < TOL and not math.isinf(kappa):
        return cva(m2, kappa=math.inf, alpha=alpha, check=False)
    lo = cvb(math.sqrt(m2), alpha) - 0.01
    up = math.sqrt((1 + m2) / alpha)
    if abs(rho0(m2, up) - alpha) < 9e-6:
        hi = up
    else:
        hi = optimize.brentq(lambda chi: rho0(m2, chi) - alpha, lo, up, xtol=TOL)
    if rho(m2, kappa, hi).alpha - alpha < -1e-5:
        cv = optimize.brentq(lambda chi: rho(m2, kappa, chi, check=False).alpha - alpha, lo, hi, xtol=TOL)
    else:
        cv = hi
    worst = rho(m2, kappa, cv, check=check)
    return CriticalValue(float(cv), worst.alpha, worst.x, worst.p)
