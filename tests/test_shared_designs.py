"""Shared designs give the separate fits' numbers: several outcomes on one design (models), one design
for samples that coincide (DesignCache), and the robustness variants fitted together
(robustness.shared_sample_statistics) against each variant fitted alone, on a small simulated panel."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, OUTCOMES, DesignCache, build_design
from models.fixed_effects import fit_absorbed, fit_absorbed_outcomes
from models.ols import fit_ols_subsets, fit_ols_subsets_outcomes
from models.second_stage import characteristics_frame
from models.shapley import r2_decomposition, r2_decompositions
from pipeline import estimate, robustness
from pipeline.config import load_settings
from pipeline.registers.panel import redefine_outcomes
from tests.panels import small_panel

TIGHT = dict(rtol=1e-12, atol=1e-15)


@pytest.fixture(scope="module")
def simulated():
    return small_panel()


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    return load_settings(input=root / "input", work=root / "work", out=root / "out")


@pytest.fixture(scope="module")
def design(simulated, settings):
    sample = estimate.model_samples(simulated[0], settings).fixed_effects
    return sample, build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)


def _outcomes(sample: pd.DataFrame) -> list[np.ndarray]:
    return [sample[o].to_numpy(dtype=np.float64) for o in OUTCOMES]


def test_design_cache_gives_build_design(simulated, settings):
    samples = estimate.model_samples(simulated[0], settings)
    cache = DesignCache()
    first = cache.build(samples.models, outcome="sysselsatt")
    for sample, fe_column, outcome in [(samples.models, None, "arbeid_utdanning"),
                                       (samples.fixed_effects, MUNICIPALITY_FE, "i_utdanning"),
                                       (samples.models.loc[samples.models["kategori"] == "asyl"], MUNICIPALITY_FE,
                                        "arbeid_utdanning")]:
        cached, built = cache.build(sample, fe_column=fe_column, outcome=outcome), \
            build_design(sample, fe_column=fe_column, outcome=outcome)
        for field in ("y", "X", "column_block", "cluster", "fe", "fe_levels"):
            a, b = getattr(cached, field), getattr(built, field)
            assert (a is None and b is None) or np.array_equal(a, b), field
        assert (cached.terms, cached.n_clusters, cached.references) == (built.terms, built.n_clusters, built.references)
    assert cache.build(samples.models).X is first.X   # the same rows: the same matrix, not a copy


def test_absorbed_fits_of_several_outcomes_equal_the_separate_fits(design):
    sample, d = design
    together = fit_absorbed_outcomes(_outcomes(sample), d.X, d.fe, terms=d.terms, cluster=d.cluster,
                                     n_clusters=d.n_clusters, vcov="CR1")
    for y, shared in zip(_outcomes(sample), together):
        alone = fit_absorbed(y, d.X, d.fe, terms=d.terms, cluster=d.cluster, n_clusters=d.n_clusters, vcov="CR1")
        assert shared.ols.terms == alone.ols.terms
        for a, b in [(shared.ols.coef, alone.ols.coef), (shared.ols.vcov, alone.ols.vcov),
                     (shared.fe_coef, alone.fe_coef), (shared.fe_vcov, alone.fe_vcov)]:
            np.testing.assert_allclose(a, b, **TIGHT)
        assert shared.ols.r2 == pytest.approx(alone.ols.r2, rel=1e-12)
        assert shared.r2_within == pytest.approx(alone.r2_within, rel=1e-12)


@pytest.mark.parametrize("vcov", ["CR1", "HC1", "iid"])
def test_ols_subsets_of_several_outcomes_equal_the_separate_fits(design, vcov):
    sample, d = design
    subsets = [d.columns_of([b.name for b in d.blocks[:m]]) for m in (1, 4, len(d.blocks))]
    together = fit_ols_subsets_outcomes(_outcomes(sample), d.X, subsets, terms=d.terms, cluster=d.cluster,
                                        n_clusters=d.n_clusters, vcov=vcov)
    for y, shared in zip(_outcomes(sample), together):
        alone = fit_ols_subsets(y, d.X, subsets, terms=d.terms, cluster=d.cluster, n_clusters=d.n_clusters, vcov=vcov)
        for s, a in zip(shared, alone):
            assert s.terms == a.terms
            np.testing.assert_allclose(s.coef, a.coef, **TIGHT)
            np.testing.assert_allclose(s.vcov, a.vcov, **TIGHT)
            assert s.r2 == pytest.approx(a.r2, rel=1e-12)


def test_decompositions_of_several_outcomes_equal_the_separate_ones(design):
    sample, d = design
    names = [b.name for b in d.blocks]
    together = r2_decompositions(_outcomes(sample), d.X, d.column_block, names, fe=d.fe)
    for y, shared in zip(_outcomes(sample), together):
        alone = r2_decomposition(y, d.X, d.column_block, names, fe=d.fe)
        np.testing.assert_allclose(shared.r2_share, alone.r2_share, **TIGHT)
        np.testing.assert_allclose(shared.adj_r2_share, alone.adj_r2_share, **TIGHT)
        assert (shared.r2_total, shared.n_params) == (pytest.approx(alone.r2_total, rel=1e-12), alone.n_params)


def test_the_decomposition_still_sums_to_r2(design):
    """Efficiency of the batched subsets: the shares add up to the full model's R²."""
    sample, d = design
    dec = r2_decomposition(d.y, d.X, d.column_block, [b.name for b in d.blocks], fe=d.fe)
    assert dec.r2_share.sum() == pytest.approx(dec.r2_total, rel=1e-10)


def test_redefined_outcomes_keep_the_panel_and_agree_with_the_reordered_path(simulated, settings):
    person_year = simulated[0].sort_values(["lopenr", "aar"], ignore_index=True)
    stricter = robustness.variant_settings(settings, "threshold_2g")
    aligned = redefine_outcomes(person_year, stricter)
    shuffled = redefine_outcomes(person_year.sample(frac=1.0, random_state=3), stricter)   # the full query
    assert aligned.drop(columns=list(OUTCOMES)).equals(person_year.drop(columns=list(OUTCOMES)))
    for column in ("sysselsatt", "i_utdanning", "arbeid_utdanning"):
        assert (aligned[column].to_numpy() == shuffled[column].to_numpy()).all()


def test_variants_fitted_together_equal_each_variant_fitted_alone(simulated, settings):
    person_year, municipality_year = simulated
    person_year = person_year.sort_values(["lopenr", "aar"], ignore_index=True)   # as the panel stage exports it
    characteristics = characteristics_frame(municipality_year, year=settings.characteristics_year)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    variants = []
    for variant in robustness.VARIANTS:
        overrides = robustness.variant_settings(settings, variant)
        panel = redefine_outcomes(person_year, overrides) if "employment_threshold_g" in robustness.VARIANTS[variant] \
            else person_year
        variants.append((variant, overrides, panel))
    families = [[variants[i][0] for i in family] for family in robustness.shared_sample_families(variants)]
    assert ["baseline", "employed_only", "education_only", "threshold_2g", "cluster_twoway"] in families
    shared = {}
    for family in robustness.shared_sample_families(variants):
        shared.update(robustness.shared_sample_statistics([variants[i] for i in family], characteristics,
                                                          municipalities))
    for variant, overrides, panel in variants:
        alone = pd.DataFrame(robustness.variant_statistics(variant, panel, characteristics, municipalities, overrides),
                             columns=robustness.COLUMNS)
        together = pd.DataFrame(shared[variant], columns=robustness.COLUMNS)
        pd.testing.assert_frame_equal(together, alone, check_exact=False, rtol=1e-12, atol=1e-12)
