"""Cross-engine checks on a simulated panel shaped like ours: statsmodels, pyfixest and linearmodels agree
with models/ on coefficients (1e-8) and SEs (1e-6, relative), and the Shapley decomposition equals
brute-force Shapley over refits of every subset with numpy lstsq."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, build_design, regression_sample
from models.fixed_effects import fit_absorbed, normalise_effects
from models.ols import fit_ols_subsets
from models.shapley import r2_decomposition
from models.simulate import simulate_panel

COEF_TOL = 1e-8
SE_RTOL = 1e-6


@pytest.fixture(scope="module")
def design():
    person_year, _ = simulate_panel(4000, n_municipalities=50, seed=7)
    sample, _ = regression_sample(person_year, min_age=20, max_age=69)
    return build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)


def _model_columns(design, m):
    return design.columns_of([b.name for b in design.blocks[:m]])


@pytest.mark.parametrize("m", [1, 2, 6, 9])
def test_successive_models_match_statsmodels(design, m):
    cols = _model_columns(design, m)
    ours = fit_ols_subsets(design.y, design.X, [cols], terms=design.terms, cluster=design.cluster)[0]
    exog = sm.add_constant(design.X[:, cols], has_constant="add")
    ref = sm.OLS(design.y, exog).fit(cov_type="cluster", cov_kwds={"groups": design.cluster})
    np.testing.assert_allclose(ours.coef, ref.params, rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(ours.std_errors, ref.bse, rtol=SE_RTOL)
    assert ours.r2 == pytest.approx(ref.rsquared, abs=1e-12)
    assert ours.adj_r2 == pytest.approx(ref.rsquared_adj, abs=1e-12)


def _pyfixest_frame(design):
    names = [f"x{j}" for j in range(design.X.shape[1])]
    frame = pd.DataFrame(design.X, columns=names)
    frame["y"], frame["person"], frame["kommune"] = design.y, design.cluster, design.fe
    return frame, names


@pytest.mark.parametrize("m", [2, 9])
def test_successive_models_match_pyfixest(design, m):
    pf = pytest.importorskip("pyfixest")
    frame, names = _pyfixest_frame(design)
    cols = _model_columns(design, m)
    ours = fit_ols_subsets(design.y, design.X, [cols], cluster=design.cluster)[0]
    ref = pf.feols("y ~ " + " + ".join(names[c] for c in cols), data=frame, vcov={"CRV1": "person"})
    np.testing.assert_allclose(ours.coef, ref.coef().to_numpy(), rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(ours.std_errors, ref.se().to_numpy(), rtol=SE_RTOL)


def test_two_way_clustering_by_person_and_municipality_matches_pyfixest(design):
    pf = pytest.importorskip("pyfixest")
    frame, names = _pyfixest_frame(design)
    cols = _model_columns(design, 9)
    two_way = np.column_stack([design.cluster, design.fe])
    ours = fit_ols_subsets(design.y, design.X, [cols], cluster=two_way)[0]
    ref = pf.feols("y ~ " + " + ".join(names[c] for c in cols), data=frame, vcov={"CRV1": "person + kommune"})
    np.testing.assert_allclose(ours.coef, ref.coef().to_numpy(), rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(ours.std_errors, ref.se().to_numpy(), rtol=SE_RTOL)
    assert ours.df_resid == ref._df_t == len(np.unique(design.fe)) - 1


def test_fixed_effects_model_matches_pyfixest(design):
    pf = pytest.importorskip("pyfixest")
    frame, names = _pyfixest_frame(design)
    ours = fit_absorbed(design.y, design.X, design.fe, cluster=design.cluster, n_clusters=design.n_clusters)
    ref = pf.feols("y ~ " + " + ".join(names) + " | kommune", data=frame, vcov={"CRV1": "person"},
                   fixef_rm="none")
    assert ours.ols.df_k == ref._df_k  # K = coefficients + all municipality levels (not nested)
    np.testing.assert_allclose(ours.ols.coef, ref.coef().to_numpy(), rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(ours.ols.std_errors, ref.se().to_numpy(), rtol=SE_RTOL)
    # pyfixest recovers the effects iteratively (sparse LSMR, ~1e-5); the exact check is against LSDV below
    alpha = ref.fixef()["C(kommune)"]
    np.testing.assert_allclose(ours.fe_coef, [alpha[str(g)] for g in range(len(ours.fe_coef))],
                               rtol=0, atol=1e-4)


def test_fixed_effects_model_matches_linearmodels_absorbing_ls(design):
    """A third engine: linearmodels' AbsorbingLS absorbs the municipalities by its own method; clustered CR1
    with debiased=True counts the absorbed levels in K, as we do (not nested in person clusters)."""
    from linearmodels.iv.absorbing import AbsorbingLS

    ours = fit_absorbed(design.y, design.X, design.fe, cluster=design.cluster, n_clusters=design.n_clusters)
    exog = pd.DataFrame(design.X, columns=[f"x{j}" for j in range(design.X.shape[1])])
    exog.insert(0, "const", 1.0)
    absorb = pd.DataFrame({"kommune": pd.Categorical(design.fe)})
    ref = AbsorbingLS(pd.Series(design.y), exog, absorb=absorb).fit(
        cov_type="clustered", clusters=pd.Series(design.cluster), debiased=True)
    assert ref.df_model == ours.ols.df_k
    np.testing.assert_allclose(ours.ols.coef, ref.params.to_numpy()[1:], rtol=0, atol=COEF_TOL)
    np.testing.assert_allclose(ours.ols.std_errors, ref.std_errors.to_numpy()[1:], rtol=SE_RTOL)


@pytest.mark.parametrize("normalisation", ["reference", "mean", "mean_over_half"])
def test_municipality_effects_and_ses_match_lsdv(design, normalisation):
    """Dummy-variable regression (statsmodels, CR1 with K = all parameters) gives the same effects."""
    ours = fit_absorbed(design.y, design.X, design.fe, fe_levels=design.fe_levels, cluster=design.cluster)
    reference = str(design.fe_levels[0])
    n_fe = len(design.fe_levels)
    mask = np.arange(n_fe) % 2 == 1 if normalisation == "mean_over_half" else np.ones(n_fe, dtype=bool)
    table = normalise_effects(ours, normalisation=normalisation.removesuffix("_over_half"), reference=reference,
                              mean_over=mask)
    dummies = (design.fe[:, None] == np.arange(1, len(design.fe_levels))[None, :]).astype(float)
    exog = np.column_stack([np.ones(design.n_obs), dummies, design.X])
    lsdv = sm.OLS(design.y, exog).fit(cov_type="cluster", cov_kwds={"groups": design.cluster})
    # θ_g = α_g − α_0 are the dummy coefficients; "mean" subtracts the mean of θ over the masked levels
    contrast = np.zeros((n_fe, exog.shape[1]))
    contrast[1:, 1:n_fe] = np.eye(n_fe - 1)
    if normalisation != "reference":
        contrast = contrast - contrast[mask].mean(axis=0)
    est = contrast @ lsdv.params
    se = np.sqrt(np.diag(contrast @ lsdv.cov_params() @ contrast.T))
    np.testing.assert_allclose(table["estimate"], est, rtol=0, atol=COEF_TOL)
    if normalisation == "reference":
        assert table["std_error"].iloc[0] == 0.0
        np.testing.assert_allclose(table["std_error"].iloc[1:], se[1:], rtol=SE_RTOL)
    else:
        np.testing.assert_allclose(table["std_error"], se, rtol=SE_RTOL)
    assert (table["n_obs"].sum(), table["n_clusters"].sum()) == (design.n_obs, design.n_clusters)


def _brute_force_shapley(y, blocks_cols, fe_dummies):
    """Shapley of R² by refitting OLS (numpy lstsq) on every subset of the players."""
    players = [*blocks_cols, fe_dummies]
    n = len(players)
    tss = float(((y - y.mean()) ** 2).sum())
    cache = {}

    def r2(subset):
        if subset not in cache:
            Z = np.column_stack([np.ones(len(y)), *[players[j] for j in subset]]) if subset else np.ones((len(y), 1))
            beta = np.linalg.lstsq(Z, y, rcond=None)[0]
            e = y - Z @ beta
            cache[subset] = 1.0 - float(e @ e) / tss
        return cache[subset]

    phi = np.zeros(n)
    for j in range(n):
        others = [i for i in range(n) if i != j]
        for size in range(n):
            w = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for s in itertools.combinations(others, size):
                phi[j] += w * (r2(tuple(sorted(s + (j,)))) - r2(s))
    return phi, r2(tuple(range(n)))


@pytest.mark.parametrize("restrict", [None, ("asyl", 3)])
def test_shapley_equals_brute_force(restrict):
    person_year, _ = simulate_panel(500, n_municipalities=12, seed=3)
    sample, _ = regression_sample(person_year, min_age=20, max_age=69)
    if restrict is not None:  # one category and one botid: two blocks are constant → share 0
        sample = sample.loc[(sample["kategori"] == restrict[0]) & (sample["botid"] == restrict[1])]
    d = build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
    dec = r2_decomposition(d.y, d.X, d.column_block, [b.name for b in d.blocks], fe=d.fe)
    blocks_cols = [d.X[:, d.column_block == b] for b in range(len(d.blocks))]
    fe_dummies = (d.fe[:, None] == np.arange(1, d.fe.max() + 1)[None, :]).astype(float)
    phi, total = _brute_force_shapley(d.y, blocks_cols, fe_dummies)
    np.testing.assert_allclose(dec.r2_share, phi, rtol=0, atol=1e-10)
    assert dec.r2_total == pytest.approx(total, abs=1e-10)
    assert dec.r2_share.sum() == pytest.approx(dec.r2_total, abs=1e-13)
    if restrict is not None:
        assert dec.r2_share[0] == 0.0 and dec.r2_share[1] == 0.0
