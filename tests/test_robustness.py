"""The robustness stage: its baseline is the estimate stage, its variants agree with an independent
engine on the variant's own sample, a variant too small to publish is suppressed (not dropped), and the
cohort stability goes through the stage."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import statsmodels.formula.api as smf

from models.simulate import simulate_panel
from models.design import INDIVIDUAL_BLOCKS, build_design
from models.second_stage import characteristics_frame
from pipeline import estimate, robustness
from pipeline.disclosure_check import run as disclosure_check
from tests.panels import settings_with_panel, small_panel


@pytest.fixture(scope="module")
def simulated():
    return small_panel()


@pytest.fixture(scope="module")
def staged(simulated, tmp_path_factory):
    settings = settings_with_panel(tmp_path_factory.mktemp("robustness"), *simulated)
    estimate.run(settings)
    robustness.run(settings)
    table = pd.read_csv(settings.paths.tables / "robustness.csv", dtype={"estimate": str, "std_error": str})
    return settings, table


@pytest.fixture(scope="module")
def unreleased(staged, simulated):
    """Three variants' statistics at full precision, before release."""
    settings, _ = staged
    person_year, municipality_year = simulated
    characteristics = characteristics_frame(municipality_year, year=settings.characteristics_year)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    rows = []
    for variant in ("baseline", "employed_only", "without_2020"):
        rows += robustness.variant_statistics(variant, person_year, characteristics, municipalities,
                                              robustness.variant_settings(settings, variant))
    return pd.DataFrame(rows, columns=robustness.COLUMNS)


def _value(table: pd.DataFrame, variant: str, statistic: str, gruppe: str = "alle", column: str = "estimate") -> float:
    row = table.loc[(table["variant"] == variant) & (table["statistic"] == statistic) & (table["gruppe"] == gruppe)]
    assert len(row) == 1, (variant, statistic, gruppe)
    return float(row.iloc[0][column])


def test_every_variant_and_statistic_is_a_row(staged):
    _, table = staged
    assert set(table["variant"]) == set(robustness.VARIANTS)
    per_variant = table.groupby("variant").size()
    assert per_variant.nunique() == 1, per_variant      # the same statistics for every variant
    assert (table.loc[table["variant"] == "employed_only", "n_person_years"].astype(float)
            == table.loc[table["variant"] == "baseline", "n_person_years"].astype(float).to_numpy()).all()


def test_baseline_is_the_estimate_stage(staged):
    """The released tables carry six significant digits, hence rel=1e-5."""
    settings, table = staged
    fig3_15 = pd.read_csv(settings.paths.tables / "fig3_15_coefficients.csv")
    full_model = fig3_15.loc[fig3_15["model"] == fig3_15["model"].max()].set_index("term")
    for statistic, term in robustness.CATEGORY_TERMS.items():
        assert _value(table, "baseline", statistic) == pytest.approx(full_model.loc[term, "estimate"], rel=1e-5)
        assert _value(table, "baseline", statistic, column="std_error") == pytest.approx(
            full_model.loc[term, "std_error"], rel=1e-5)
    table3_2 = pd.read_csv(settings.paths.tables / "table3_2.csv").query("kind == 'kommunebidrag'").set_index("variable")
    for gruppe in estimate.GROUPS:
        assert _value(table, "baseline", "contribution_sd", gruppe) == pytest.approx(table3_2.loc[gruppe, "sd"], rel=1e-5)
    fig3_16 = pd.read_csv(settings.paths.tables / "fig3_16_r2_decomposition.csv", dtype=str)
    whole = fig3_16.loc[(fig3_16["sample"] == "alle") & (fig3_16["gruppe"] == "alle") & (fig3_16["botid"] == "alle")]
    for statistic, block in (("r2_share_botid", "botid"), ("r2_share_municipality", "bosettingskommune")):
        share = float(whole.loc[whole["block"] == block, "r2_share"].iloc[0])
        assert _value(table, "baseline", statistic) == pytest.approx(100 * share, rel=1e-5)


def test_baseline_equals_model_9_of_fig_3_15_to_1e_10(staged, simulated, unreleased):
    settings, _ = staged
    models = estimate.model_samples(simulated[0], settings).models
    design = build_design(models, INDIVIDUAL_BLOCKS, outcome=settings.outcome)
    model_9 = estimate.successive_models(design, cluster=estimate.cluster_codes(design, models, clustering="person"))[-1]
    coef, se = dict(zip(model_9.terms, model_9.coef)), dict(zip(model_9.terms, model_9.std_errors))
    for statistic, term in robustness.CATEGORY_TERMS.items():
        assert _value(unreleased, "baseline", statistic) == pytest.approx(100 * coef[term], abs=1e-10)
        assert _value(unreleased, "baseline", statistic, column="std_error") == pytest.approx(100 * se[term], abs=1e-10)


@pytest.mark.parametrize("variant, outcome, keep", [
    ("employed_only", "sysselsatt", lambda frame: frame),
    ("without_2020", "arbeid_utdanning", lambda frame: frame.loc[frame["aar"] != 2020]),
])
def test_a_variant_agrees_with_statsmodels_on_its_own_sample(staged, simulated, unreleased, variant, outcome, keep):
    settings, table = staged
    # the reference sample is filtered here, not by the variant's own options
    models = estimate.model_samples(keep(simulated[0]), dataclasses.replace(settings, outcome=outcome)).models
    formula = (f"{outcome} ~ C(kategori, Treatment('asyl')) + C(botid) + C(fodeland_gruppe) + C(innvandringsaar)"
               " + alder_innvandring + I(alder_innvandring ** 2) + C(kjonn) + C(barn_innvandring)"
               " + C(partner_innvandring) + C(utdanning_innvandring)")
    fit = smf.ols(formula, data=models).fit(cov_type="cluster", cov_kwds={"groups": models["lopenr"]})
    for statistic, level in (("overforing_vs_asyl", "overforing"), ("familie_vs_asyl", "familie")):
        name = f"C(kategori, Treatment('asyl'))[T.{level}]"
        assert _value(unreleased, variant, statistic) / 100 == pytest.approx(fit.params[name], abs=1e-8)
        assert _value(unreleased, variant, statistic, column="std_error") / 100 == pytest.approx(fit.bse[name], rel=1e-6)
        assert _value(table, variant, statistic) == pytest.approx(100 * fit.params[name], rel=1e-5)   # as released
    assert _value(table, variant, "overforing_vs_asyl", column="n_person_years") == pytest.approx(len(models), abs=5)


def test_two_way_clustering_agrees_with_pyfixest(staged, simulated):
    pf = pytest.importorskip("pyfixest")
    settings, table = staged
    models = estimate.model_samples(simulated[0], settings).models.copy()
    models["kommune"] = models["kommnr_2020"].astype("category").cat.codes
    formula = ("arbeid_utdanning ~ C(kategori, contr.treatment(base='asyl')) + C(botid) + C(fodeland_gruppe)"
               " + C(innvandringsaar) + alder_innvandring + I(alder_innvandring ** 2) + C(kjonn)"
               " + C(barn_innvandring) + C(partner_innvandring) + C(utdanning_innvandring)")
    fit = pf.feols(formula, data=models, vcov={"CRV1": "lopenr + kommune"})
    ses = fit.se()
    for statistic, level in (("overforing_vs_asyl", "overforing"), ("familie_vs_asyl", "familie")):
        name = next(term for term in ses.index if "kategori" in term and level in term)
        assert _value(table, "cluster_twoway", statistic, column="std_error") == pytest.approx(100 * ses[name], rel=1e-5)
        assert _value(table, "cluster_twoway", statistic) == pytest.approx(_value(table, "baseline", statistic), rel=1e-12)


def test_threshold_2g_redefines_employment_from_income(staged, simulated):
    settings, table = staged
    assert _value(table, "threshold_2g", "overforing_vs_asyl", column="n_person_years") == pytest.approx(
        _value(table, "baseline", "overforing_vs_asyl", column="n_person_years"))
    stricter = robustness.variant_settings(settings, "threshold_2g")
    person_year = simulated[0]
    redefined = robustness.redefine_outcomes(person_year, stricter).set_index(["lopenr", "aar"]).sort_index()
    expected = (person_year["yrkinnt"] > 2.0 * person_year["g"]).astype(int)
    expected.index = pd.MultiIndex.from_frame(person_year[["lopenr", "aar"]])
    assert (redefined["sysselsatt"] == expected.sort_index()).all()
    assert redefined["sysselsatt"].mean() < person_year["sysselsatt"].mean()


def test_a_variant_below_the_threshold_is_suppressed_not_dropped(staged):
    settings, _ = staged
    person_year, municipality_year = simulate_panel(150, n_municipalities=8, seed=3)
    narrow = dataclasses.replace(settings, min_age=40, max_age=40)     # a handful of persons
    characteristics = characteristics_frame(municipality_year, year=settings.characteristics_year)
    rows = robustness.variant_statistics("age_40", person_year, characteristics,
                                         sorted(municipality_year["kommnr_2020"].unique()), narrow)
    statistics = pd.DataFrame(rows, columns=robustness.COLUMNS)
    released = robustness.release_statistics(statistics, policy=settings.disclosure)
    assert len(released) == len(statistics) == len(robustness.CATEGORY_TERMS) + 2 + len(estimate.GROUPS) * (
        2 + len(robustness.SLOPES))
    small = statistics["n_persons"] < settings.min_persons
    assert small.all()
    assert (released["n_persons"] == settings.suppression_marker).all()
    assert (released["estimate"] == settings.suppression_marker).all()


def test_the_stage_output_passes_the_release_check(staged):
    settings, table = staged
    assert disclosure_check(settings) == []
    stability = pd.read_csv(settings.paths.tables / "contribution_stability.csv")
    assert list(stability["gruppe"]) == list(estimate.GROUPS)
    assert ((stability["ci_low"] <= stability["corrected"]) | stability["corrected"].isna()).all()
    cohorts = pd.read_csv(settings.paths.tables / "kommunebidrag_kohorter.csv", dtype=str)
    assert set(cohorts["kohort"]) == set(robustness.COHORTS)
    small = cohorts["n_persons"] == settings.suppression_marker
    assert small.any() and (cohorts.loc[small, "estimate"] == settings.suppression_marker).all()
