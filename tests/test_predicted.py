"""models/predicted.py: the predicted rate and its exact identity with the contributions (by hand and
against a direct dummy-variable regression), the cells, and the release rule with planted small cells."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from models import predicted
from models.fixed_effects import fit_absorbed


def test_hand_case_two_municipalities():
    # A: (x, y) = (0, 0), (1, 1); B: (0, 1), (1, 1). Within: β = 0.5; α_A = 0.5 − 0.25, α_B = 1 − 0.25.
    X = np.array([[0.0], [1.0], [0.0], [1.0]])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    fe = np.array([0, 0, 1, 1])
    res = fit_absorbed(y, X, fe, vcov="iid")
    assert res.ols.coef == pytest.approx([0.5])
    assert res.fe_coef == pytest.approx([0.25, 0.75])
    pred, alpha_bar = predicted.predicted_rates(X, res.ols.coef, alpha=res.fe_coef, n_obs=res.fe_n_obs,
                                                mean_over=np.array([True, True]))
    assert alpha_bar == pytest.approx(0.5)
    assert pred == pytest.approx([0.5, 1.0, 0.5, 1.0])
    # gap of A = 0.5 − 0.75 = α_A − ᾱ; of B = 1 − 0.75
    assert y[:2].mean() - pred[:2].mean() == pytest.approx(-0.25)
    assert y[2:].mean() - pred[2:].mean() == pytest.approx(0.25)
    # the mean over the released municipalities only (A): ᾱ = α_A, A's gap 0, B's 0.5
    pred_a, alpha_a = predicted.predicted_rates(X, res.ols.coef, alpha=res.fe_coef, n_obs=res.fe_n_obs,
                                                mean_over=np.array([True, False]))
    assert alpha_a == pytest.approx(0.25)
    assert y[2:].mean() - pred_a[2:].mean() == pytest.approx(0.5)


def test_identity_against_a_direct_dummy_variable_regression():
    rng = np.random.default_rng(3)
    n, g = 600, 7
    fe = rng.integers(0, g, n)
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n), rng.integers(0, 3, n) == 1]).astype(float)
    y = (rng.random(n) < 0.3 + 0.2 * X[:, 0] + 0.05 * fe / g).astype(float)
    res = fit_absorbed(y, X, fe, vcov="iid")
    # direct: OLS of y on X and one dummy per municipality (no intercept)
    dummies = (fe[:, None] == np.arange(g)[None, :]).astype(float)
    direct = sm.OLS(y, np.hstack([X, dummies])).fit()
    beta, alpha = direct.params[:3], direct.params[3:]
    assert res.ols.coef == pytest.approx(beta, abs=1e-10)
    assert res.fe_coef == pytest.approx(alpha, abs=1e-10)
    released = np.array([True, True, False, True, True, False, True])
    n_obs = np.bincount(fe, minlength=g)
    pred, alpha_bar = predicted.predicted_rates(X, res.ols.coef, alpha=res.fe_coef, n_obs=res.fe_n_obs,
                                                mean_over=released)
    assert alpha_bar == pytest.approx((n_obs * released) @ alpha / (n_obs * released).sum(), abs=1e-12)
    assert pred == pytest.approx(X @ beta + alpha_bar, abs=1e-10)
    for level in range(g):
        rows = fe == level
        gap = y[rows].mean() - pred[rows].mean()
        assert gap == pytest.approx(alpha[level] - alpha_bar, abs=1e-10)
    # any normalisation θ = α − c gives the same gap as θ − θ̄ (reference municipality 0 here)
    theta = alpha - alpha[0]
    theta_bar = (n_obs * released) @ theta / (n_obs * released).sum()
    assert y[fe == 4].mean() - pred[fe == 4].mean() == pytest.approx(theta[4] - theta_bar, abs=1e-10)


def test_bands_and_cells():
    bands = predicted.check_bands([[0, 1], [2, 3], [4, 5], [6, 9]], max_botid=9)
    assert predicted.botid_band([0, 1, 2, 5, 6, 9], bands).tolist() == ["0-1", "0-1", "2-3", "4-5", "6-9", "6-9"]
    with pytest.raises(ValueError, match="cover 0..9"):
        predicted.check_bands([[0, 1], [3, 9]], max_botid=9)
    rows = pd.DataFrame({"kommnr_2020": ["A", "A", "A", "B"], "person": [1, 1, 2, 3], "band": ["0-1", "2-3", "0-1", "0-1"],
                         "y": [1.0, 0.0, 0.0, 1.0], "predicted": [0.5, 0.5, 0.25, 0.75]})
    cells, persons = predicted.gap_cells(rows, municipalities=["A", "B", "C"], bands=["0-1", "2-3"])
    a = cells.set_index(["kommnr_2020", "botid"])
    assert a.loc[("A", "0-1"), "n_persons"] == 2 and a.loc[("A", "0-1"), "n_person_years"] == 2
    assert a.loc[("A", "0-1"), "observed_pct"] == pytest.approx(50.0)
    assert a.loc[("A", "0-1"), "predicted_pct"] == pytest.approx(37.5)
    assert a.loc[("A", "0-9"), "n_persons"] == 2 and a.loc[("A", "0-9"), "n_person_years"] == 3
    assert a.loc[("A", "0-9"), "gap_pp"] == pytest.approx(100 * (1 / 3 - 1.25 / 3))
    assert a.loc[("C", "0-9"), "n_persons"] == 0 and np.isnan(a.loc[("C", "0-9"), "observed_pct"])
    assert persons[("A", "0-9")] == {1, 2}


def _people(start: int, n: int) -> frozenset:
    return frozenset(range(start, start + n))


BANDS = ["0-1", "2-3"]


def test_a_single_small_band_is_protected_by_a_second_suppression():
    # row line: total 80 persons released (its contribution is published); band 2-3 has 10 persons
    persons = {("asyl", "A", "0-1"): _people(0, 75), ("asyl", "A", "2-3"): _people(70, 10),
               ("asyl", "A", "0-9"): _people(0, 80)}
    hidden = predicted.suppressed_cells(persons, bands=BANDS, min_persons=30)
    assert hidden == {("asyl", "A", "2-3"), ("asyl", "A", "0-1")}


def test_two_small_bands_that_together_reach_the_threshold_need_nothing_more():
    bands = ["0-1", "2-3", "4-5"]
    persons = {("asyl", "A", "0-1"): _people(0, 60), ("asyl", "A", "2-3"): _people(100, 20),
               ("asyl", "A", "4-5"): _people(200, 15), ("asyl", "A", "0-9"): _people(0, 300) - _people(60, 40)}
    hidden = predicted.suppressed_cells(persons, bands=bands, min_persons=30)
    assert hidden == {("asyl", "A", "2-3"), ("asyl", "A", "4-5")}


def test_a_small_category_is_protected_against_all_refugees_minus_the_others():
    # column line (one band): alle = asyl + overforing + familie; overforing has 12 persons
    persons = {}
    sizes = {"asyl": 50, "overforing": 12, "familie": 40}
    start = 0
    for gruppe, n in sizes.items():
        for band in (*BANDS, "0-9"):
            persons[(gruppe, "A", band)] = _people(start, n)
        start += 1000
    for band in (*BANDS, "0-9"):
        persons[("alle", "A", band)] = frozenset().union(*(persons[(g, "A", band)] for g in sizes))
    hidden = predicted.suppressed_cells(persons, bands=BANDS, min_persons=30)
    # every overforing cell is small; in each column familie, the smallest released category, is hidden too
    for band in (*BANDS, "0-9"):
        assert ("overforing", "A", band) in hidden
        assert ("familie", "A", band) in hidden
        assert ("asyl", "A", band) not in hidden and ("alle", "A", band) not in hidden


def test_released_tables_leave_no_line_with_one_recoverable_small_cell():
    """Random municipalities: after release, every line whose margin is published has its suppressed inner
    cells holding 0 or at least min_persons persons, so no small cell is a difference of released ones."""
    rng = np.random.default_rng(11)
    bands = ["0-1", "2-3", "4-5", "6-9"]
    persons, next_id = {}, 0
    for m in range(40):
        for gruppe in ("asyl", "overforing", "familie"):
            members = [frozenset() for _ in bands]
            n = int(rng.integers(0, 90))
            for _ in range(n):
                first = int(rng.integers(0, len(bands)))
                last = int(rng.integers(first, len(bands)))
                for b in range(first, last + 1):
                    members[b] = members[b] | {next_id}
                next_id += 1
            for band, who in zip(bands, members):
                persons[(gruppe, m, band)] = who
            persons[(gruppe, m, "0-9")] = frozenset().union(*members)
        for band in (*bands, "0-9"):
            persons[("alle", m, band)] = frozenset().union(*(persons[(g, m, band)]
                                                             for g in ("asyl", "overforing", "familie")))
    hidden = predicted.suppressed_cells(persons, bands=bands, min_persons=30)
    assert all(k in hidden for k, v in persons.items() if len(v) < 30)
    checked = 0
    for margin, inner in predicted._lines(set(persons), bands=bands, total_band="0-9"):
        if len(persons[margin]) < 30 or all(c in hidden for c in inner):
            continue
        small = [c for c in inner if c in hidden and persons[c]]
        if small:
            checked += 1
            assert len(frozenset().union(*(persons[c] for c in small))) >= 30, (margin, small)
        if margin in hidden:
            assert any(c in hidden for c in inner), margin
    assert checked > 20


def test_release_writes_the_marker_in_statistics_and_counts_and_rounds_the_rest():
    from pipeline import disclosure

    cells = pd.DataFrame({"gruppe": ["asyl", "asyl", "asyl"], "kommnr_2020": ["A", "A", "A"],
                          "botid": ["0-1", "2-3", "0-9"], "observed_pct": [50.0, 47.0, 40.0],
                          "predicted_pct": [45.0, 46.0, 41.0], "gap_pp": [5.0, 1.0, -1.0],
                          "n_persons": [12, 35, 42], "n_person_years": [20, 61, 92]})
    also = np.array([False, True, False])   # complementary: hidden to protect the small band
    out, n = disclosure.release(cells, policy=disclosure.Policy(), also_hide=also,
                                columns=disclosure.Columns(stats=predicted.STAT_COLUMNS))
    assert n == 2
    for row in (0, 1):
        assert out.iloc[row][["observed_pct", "predicted_pct", "gap_pp", "n_persons", "n_person_years"]].eq(
            "prikket").all()
    assert out.iloc[2]["observed_pct"] == 40.0 and (out.iloc[2]["n_persons"], out.iloc[2]["n_person_years"]) == (40, 90)
