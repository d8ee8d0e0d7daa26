"""Caterpillar and funnel plots of the contributions (figures/contributions.py) and the funnel limits
(models/funnel.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from figures import contributions, style
from models.funnel import Z_95, Z_998, control_limits, funnel_parameters
from pipeline import disclosure, render
from pipeline.io import write_csv

MARKER = "prikket"
STATISTICS = ["estimate", "std_error", "eb_estimate", "eb_std_error", "eb_ci_low", "eb_ci_high", "rank",
              "rank_ci_low", "rank_ci_high"]


def kommunebidrag_frame(seed: int = 0) -> pd.DataFrame:
    """A kommunebidrag-like table: 40 municipalities per group, 8 of them with fewer than 30 persons."""
    rng = np.random.default_rng(seed)
    parts = []
    for gruppe in contributions.GROUPS:
        n = 40
        persons = np.r_[rng.integers(30, 600, 32), rng.integers(3, 30, 8)]
        estimate = rng.normal(0, 5, n)
        se = 45 / np.sqrt(persons)
        estimate[0], se[0] = 0.0, 0.0   # the reference municipality
        released = persons >= 30
        rank = np.full(n, np.nan)
        rank[released] = 1 + (estimate[released][None, :] > estimate[released][:, None]).sum(axis=1)
        parts.append(pd.DataFrame({
            "gruppe": gruppe, "kommnr_2020": [f"{1000 + i}" for i in range(n)], "estimate": estimate,
            "std_error": se, "n_persons": persons, "n_person_years": persons * 4,
            "eb_estimate": 0.6 * estimate, "eb_std_error": 0.8 * se, "eb_ci_low": 0.6 * estimate - 2 * se,
            "eb_ci_high": 0.6 * estimate + 2 * se, "rank": rank, "rank_ci_low": np.maximum(rank - 5, 1),
            "rank_ci_high": np.minimum(rank + 5, released.sum()),
        }))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture()
def releasable(tmp_path):
    out, _ = disclosure.suppress(kommunebidrag_frame(), stat_columns=STATISTICS, min_persons=30, marker=MARKER)
    path = write_csv(out, tmp_path / "kommunebidrag.csv")
    return render.read_releasable(path, contributions.NUMERIC_COLUMNS, marker=MARKER)


def test_caterpillar_draws_only_released_municipalities_in_rank_order(releasable):
    assert releasable["estimate"].isna().sum() == 4 * 8
    fig = contributions.caterpillar(releasable, gruppe="asyl")
    top, bottom = fig.axes[:2]
    raw = [line for line in top.get_lines() if line.get_label() == style.label("kommunebidrag.raw")][0]
    x, y = raw.get_data()
    released = releasable[(releasable.gruppe == "asyl") & releasable.estimate.notna()]
    assert len(x) == len(released) == 32
    assert list(y) == sorted(released["estimate"], reverse=True)
    assert top.get_title(loc="left") == "Asylsøkere"
    english = contributions.caterpillar(releasable, gruppe="asyl", language="en")
    assert english.axes[0].get_title(loc="left") == "Asylum refugees"
    assert english.axes[1].get_xlabel() == "Municipalities by rank (1 = largest contribution)"


def test_funnel_limits_and_points(releasable):
    fig = contributions.funnel(releasable, language="en")
    assert [ax.get_title(loc="left") for ax in fig.axes[:4]] == ["Asylum refugees", "Resettled refugees", "Family reunification",
                                                       "All refugees"]
    asyl = releasable[(releasable.gruppe == "asyl") & (releasable.std_error > 0)]
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert points == len(asyl) == 31   # released, without the reference municipality (SE 0)
    params = funnel_parameters(asyl["estimate"].to_numpy(), asyl["std_error"].to_numpy())
    lines = fig.axes[0].get_lines()
    # the last limit drawn is the adjusted 99.8 % upper limit θ₀ + 3.09·√(s² + τ²) at precision 1/s²
    precision, upper = lines[7].get_data()
    assert upper == pytest.approx(params.target + Z_998 * np.sqrt(1 / precision + params.tau2))


def test_figures_are_deterministic(releasable, tmp_path):
    first = style.save_figure(contributions.funnel(releasable), tmp_path / "a", formats=("png",))
    second = style.save_figure(contributions.funnel(releasable), tmp_path / "b", formats=("png",))
    assert first[0].read_bytes() == second[0].read_bytes()
    third = style.save_figure(contributions.caterpillar_familie(releasable, language="en"), tmp_path / "c",
                              formats=("png",))
    fourth = style.save_figure(contributions.caterpillar_familie(releasable, language="en"), tmp_path / "d",
                               formats=("png",))
    assert third[0].read_bytes() == fourth[0].read_bytes()


def test_a_group_without_released_contributions_gives_an_empty_panel():
    frame = kommunebidrag_frame()
    frame.loc[frame.gruppe == "overforing", STATISTICS] = np.nan
    fig = contributions.caterpillar(frame, gruppe="overforing")
    assert fig.axes[0].texts[0].get_text() == style.label("kommunebidrag.none")
    contributions.funnel(frame)
    # a table without the new columns still draws the raw estimates
    plain = contributions.caterpillar(frame[["gruppe", "kommnr_2020", "estimate", "std_error", "n_persons"]], gruppe="asyl")
    assert len(plain.axes[0].get_lines()[0].get_data()[0]) == 40


def test_funnel_parameters_by_hand():
    """y = (−2, 0, 2, 4), s = 1: θ₀ = 1, z = (−3, −1, 1, 3); with trim 0 φ = 20/4 = 5 and
    τ² = (4·5 − 3)/(4 − 4/4) = 17/3. With the default 10 % winsorisation the z-scores are pulled to
    their 10th/90th percentiles (±2.4), φ = (2·2.4² + 2)/4 = 3.38, τ² = (13.52 − 3)/3."""
    y, s = np.array([-2.0, 0.0, 2.0, 4.0]), np.ones(4)
    exact = funnel_parameters(y, s, trim=0.0)
    assert (exact.target, exact.phi, exact.tau2) == pytest.approx((1.0, 5.0, 17 / 3))
    trimmed = funnel_parameters(y, s)
    assert trimmed.phi == pytest.approx((2 * 2.4**2 + 2) / 4) and trimmed.tau2 == pytest.approx((4 * 3.38 - 3) / 3)
    # no overdispersion: nφ < n − 1 gives τ² = 0
    assert funnel_parameters(np.array([0.0, 0.1, -0.1, 0.05]), np.ones(4)).tau2 == 0.0
    low, high = control_limits(np.array([2.0]), target=1.0, z=Z_95, tau2=5.0)
    assert high[0] - 1.0 == pytest.approx(Z_95 * 3.0)   # √(s² + τ²) = √(4 + 5), not √(s + τ²)
    assert low[0] == pytest.approx(1.0 - Z_95 * 3.0)
