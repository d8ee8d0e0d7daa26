"""The estimate stage end to end on a simulated panel written into tmp_path, plus planted-truth recovery."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, build_design, regression_sample
from models.fixed_effects import fit_absorbed, normalise_effects
from models.second_stage import bivariate_ols
from models.simulate import MUNICIPALITY_SLOPE, PLANTED, simulate_panel
from pipeline import estimate
from pipeline.disclosure_check import run as disclosure_check
from pipeline.disclosure import Policy
from pipeline.schema import MUNICIPALITY_YEAR, PERSON_YEAR
from tests.panels import settings_with_panel, small_panel


@pytest.fixture(scope="module")
def simulated():
    return small_panel()


@pytest.fixture(scope="module")
def stage_run(simulated, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("estimate")
    settings = settings_with_panel(tmp, *simulated)
    return settings, estimate.run(settings)


def test_simulated_tables_follow_schema(simulated):
    person_year, municipality_year = simulated
    assert list(person_year.columns) == list(PERSON_YEAR)
    assert list(municipality_year.columns) == list(MUNICIPALITY_YEAR)


def test_writes_the_contracted_files(stage_run):
    settings, written = stage_run
    names = {p.name for p in written}
    assert names == {
        "fig3_15_coefficients.csv", "fig3_15_regression_table.md", "fig3_15_regression_table.tex",
        "fig3_16_r2_decomposition.csv", "kommunebidrag.csv", "kommunebidrag_full.parquet",
        "table3_2.csv", "table3_2.md", "table3_3.csv", "table3_3.md", "table3_3.tex",
        "table3_3_weighted.csv", "kommunebidrag_prior.csv", "kommune_observert_predikert.csv", "kommuner.csv"}
    assert all(p.exists() for p in written)
    released = [p for p in written if p.is_relative_to(settings.paths.out)]
    assert all(p.suffix != ".parquet" for p in released)
    # the disclosure check finds no person id, person-level column or small count in what is released
    assert disclosure_check(settings) == []


def test_fig3_15_baseline_equals_difference_in_means(stage_run, simulated):
    settings, _ = stage_run
    coefs = pd.read_csv(settings.paths.tables / "fig3_15_coefficients.csv")
    assert {"model", "model_name", "term", "estimate", "std_error", "ci_low", "ci_high",
            "n_person_years", "n_persons", "r2"} <= set(coefs.columns)
    assert sorted(coefs["model"].unique()) == list(range(1, 10))
    person_year = simulated[0]
    sample = person_year.loc[person_year["alder"].between(20, 69)]
    means = sample.groupby("kategori")["arbeid_utdanning"].mean() * 100
    baseline = coefs.loc[coefs["model"] == 1].set_index("term")["estimate"].astype(float)
    assert baseline["kategori[overforing]"] == pytest.approx(means["overforing"] - means["asyl"], abs=1e-4)
    assert baseline["kategori[familie]"] == pytest.approx(means["familie"] - means["asyl"], abs=1e-4)
    assert baseline["Intercept"] == pytest.approx(means["asyl"], abs=1e-4)
    first = coefs.groupby("model").first()
    # counts are published rounded to the base: the true count lies in the published value's interval
    for column, true in (("n_person_years", len(sample)), ("n_persons", sample["lopenr"].nunique())):
        assert (first[column] % 5 == 0).all() and (first[column] - true).abs().max() <= 2
    assert np.all(np.diff(first["r2"].to_numpy()) >= -1e-12)  # nested models: R² never falls
    assert "N person" in (settings.paths.tables / "fig3_15_regression_table.md").read_text().replace("N personer", "N person")
    assert r"\begin{tabular}" in (settings.paths.tables / "fig3_15_regression_table.tex").read_text()


def test_fig3_16_shares_sum_to_total(stage_run):
    settings, _ = stage_run
    dec = pd.read_csv(settings.paths.tables / "fig3_16_r2_decomposition.csv")
    assert {"sample", "block", "r2_share", "r2_total", "adj_r2_total", "n_person_years"} <= set(dec.columns)
    assert dec["sample"].nunique() == 16
    assert set(dec["block"]) == {b.name for b in INDIVIDUAL_BLOCKS} | {"bosettingskommune"}
    numeric = dec.loc[dec["r2_total"].astype(str) != "prikket"].copy()
    for col in ("r2_share", "r2_total", "adj_r2_total"):
        numeric[col] = numeric[col].astype(float)
    sums = numeric.groupby("sample").agg(share=("r2_share", "sum"), total=("r2_total", "first"))
    np.testing.assert_allclose(sums["share"], sums["total"], atol=1e-10)  # written with 12 significant digits
    within_category = numeric.loc[(numeric["gruppe"] != "alle") & (numeric["block"] == "kategori")]
    assert (within_category["r2_share"] == 0).all()
    within_botid = numeric.loc[(numeric["botid"] != "alle") & (numeric["block"] == "botid")]
    assert (within_botid["r2_share"] == 0).all()


def test_kommunebidrag_release_and_full(stage_run):
    settings, _ = stage_run
    released = pd.read_csv(settings.paths.tables / "kommunebidrag.csv", dtype={"kommnr_2020": str})
    full = pd.read_parquet(settings.paths.estimates_dir / "kommunebidrag_full.parquet")
    assert list(released.columns) == ["gruppe", "kommnr_2020", "estimate", "std_error", "n_persons",
                                      "n_person_years", "normalisation", "eb_estimate", "eb_std_error",
                                      "eb_ci_low", "eb_ci_high", "rank", "rank_ci_low", "rank_ci_high"]
    assert set(released["gruppe"]) == {"asyl", "overforing", "familie", "alle"}
    assert (released["normalisation"] == "reference:0301").all()
    # every municipality x group row, the same marker for none and for a few
    municipalities = set(pd.read_parquet(settings.paths.municipality_year)["kommnr_2020"].astype(str))
    assert len(released) == 4 * len(municipalities)
    for gruppe, rows in released.groupby("gruppe"):
        assert set(rows["kommnr_2020"]) == municipalities, gruppe
    shown = released["n_persons"] != settings.suppression_marker
    assert (released.loc[shown, "n_persons"].astype(int) % 5 == 0).all()
    counts = full.set_index(["gruppe", "kommnr_2020"])["n_persons"]
    small = np.asarray(released.set_index(["gruppe", "kommnr_2020"]).index.map(counts) < settings.min_persons)
    assert small.any() and (~small).any()
    for column in ("estimate", "std_error", "n_persons", "n_person_years", "eb_estimate", "rank", "rank_ci_high"):
        assert (released.loc[small, column] == settings.suppression_marker).all()
    reference = full.loc[full["kommnr_2020"] == "0301"]
    assert len(reference) == 4 and (reference["estimate"] == 0).all() and (reference["std_error"] == 0).all()
    merged = released.loc[~small].merge(full, on=["gruppe", "kommnr_2020"], suffixes=("", "_full"))
    np.testing.assert_allclose(merged["estimate"].astype(float), merged["estimate_full"], rtol=1e-5, atol=1e-9)


def test_tables_3_2_and_3_3(stage_run):
    settings, _ = stage_run
    t32 = pd.read_csv(settings.paths.tables / "table3_2.csv")
    full = pd.read_parquet(settings.paths.estimates_dir / "kommunebidrag_full.parquet")
    asyl = t32.loc[(t32["kind"] == "kommunebidrag") & (t32["variable"] == "asyl")].iloc[0]
    asyl_rows = full.loc[full["gruppe"] == "asyl"]
    assert (asyl_rows["n_persons"] < settings.min_persons).any()
    # 60 municipalities: too few suppressed ones to hide them from the published equations
    assert asyl["sample"] == "releasable_only"
    values = asyl_rows.loc[asyl_rows["n_persons"] >= settings.min_persons, "estimate"]  # releasable only
    assert asyl["mean"] == pytest.approx(values.mean(), rel=1e-5)
    assert asyl["sd"] == pytest.approx(values.std(), rel=1e-5)
    assert asyl["n_municipalities"] == len(values)
    t33 = pd.read_csv(settings.paths.tables / "table3_3.csv")
    assert list(t33.columns) == ["characteristic", "gruppe", "coef", "std_error", "p_value", "stars", "r2", "n",
                                 "sample"]
    assert len(t33) == 12 * 4
    assert (t33.loc[t33["gruppe"] == "asyl", "n"] <= len(values)).all()
    assert (settings.paths.tables / "table3_3.tex").read_text().count("R$^2$ &") == 12


def test_mean_normalisation_and_missing_reference(simulated, tmp_path):
    settings = settings_with_panel(tmp_path / "mean", *simulated, normalisation="mean")
    estimate.run(settings)
    full = pd.read_parquet(settings.paths.estimates_dir / "kommunebidrag_full.parquet")
    assert (full["normalisation"] == "mean").all()
    releasable = full[full["n_persons"] >= settings.min_persons]
    assert (full["n_persons"] < settings.min_persons).any()
    # mean zero over the released municipalities, so the suppressed ones cannot be summed back
    np.testing.assert_allclose(releasable.groupby("gruppe")["estimate"].mean(), 0.0, atol=1e-9)
    bad = settings_with_panel(tmp_path / "bad", *simulated, reference_municipality="9999")
    with pytest.raises(ValueError, match="'9999'.*reference_municipality.*mean"):
        estimate.run(bad)


def test_a_small_reference_municipality_falls_back_to_the_mean_normalisation(simulated, tmp_path):
    from pipeline import runlog

    person_year, municipality_year = simulated
    persons = person_year.groupby(["kategori", "bosettingskommune"])["lopenr"].nunique()
    small = persons.loc["overforing"]
    reference = str(small[small.between(1, 29)].index[0])   # few resettled refugees there, more of the others
    settings = settings_with_panel(tmp_path, person_year, municipality_year, reference_municipality=reference)
    estimate.run(settings)
    full = pd.read_parquet(settings.paths.estimates_dir / "kommunebidrag_full.parquet")
    used = full.groupby("gruppe")["normalisation"].first()
    assert used["overforing"] == f"mean (reference {reference} under 30 persons)"
    releasable = full[(full["gruppe"] == "overforing") & (full["n_persons"] >= 30)]
    assert releasable["estimate"].mean() == pytest.approx(0.0, abs=1e-9)
    at_reference = full[full["kommnr_2020"] == reference].set_index("gruppe")["n_persons"]
    for gruppe, n in at_reference.items():   # each group by its own count at the reference
        assert (used[gruppe] == f"reference:{reference}") == (n >= 30), gruppe
    assert (at_reference >= 30).any()
    events = [e for e in runlog.read(settings.paths.run_log) if e["event"] == "normalisation_fallback"]
    assert any(e["gruppe"] == "overforing" for e in events)


def test_planted_parameters_are_recovered():
    """Correctly specified LPM: FE model recovers planted coefficients; the second stage the slope."""
    person_year, municipality_year = simulate_panel(40_000, n_municipalities=40, seed=5)
    sample, _ = regression_sample(person_year, min_age=0, max_age=200, max_botid=9)
    d = build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
    res = fit_absorbed(d.y, d.X, d.fe, terms=d.terms, fe_levels=d.fe_levels, cluster=d.cluster)
    coef = dict(zip(res.ols.terms, res.ols.coef))
    se = dict(zip(res.ols.terms, res.ols.std_errors))
    for term in ("kjonn[2]", "kategori[overforing]", "barn_innvandring[3]", "utdanning_innvandring[5]"):
        assert abs(coef[term] - PLANTED[term]) < 4 * se[term], term
    effects = normalise_effects(res, normalisation="mean")
    chars = municipality_year.loc[municipality_year["aar"] == 2010, ["kommnr_2020", "andel_arbeid_utdanning_30_59"]]
    merged = effects.merge(chars, left_on="level", right_on="kommnr_2020")
    second = bivariate_ols(100 * merged["estimate"], 100 * merged["andel_arbeid_utdanning_30_59"])
    planted_slope = 100 * MUNICIPALITY_SLOPE / 3.0  # pp per percentage point (share = 0.85 + 0.03 z)
    assert abs(second["coef"] - planted_slope) < 4 * second["std_error"]
    assert second["n"] == 40


def test_a_small_reference_level_suppresses_its_block_and_the_intercept(simulated):
    """The first immigration year is the reference: with fewer than 30 persons in it, its contrasts
    and the intercept describe a small group and are written as the marker."""
    person_year, _ = simulated
    sample, _ = regression_sample(person_year, min_age=20, max_age=69)
    first_year = sample["innvandringsaar"].min()
    keep = sample["lopenr"].isin(sample.loc[sample["innvandringsaar"] == first_year, "lopenr"].unique()[:10])
    sample = sample[(sample["innvandringsaar"] != first_year) | keep]
    design = build_design(sample, INDIVIDUAL_BLOCKS)
    frame = estimate.coefficient_frame(estimate.successive_models(design), design, policy=Policy(marker="x"))
    year_terms = frame["term"].str.startswith("innvandringsaar[")
    assert year_terms.any() and (frame.loc[year_terms, "estimate"] == "x").all()
    intercept = frame[frame["term"] == "Intercept"].set_index("model")["estimate"]
    assert (intercept.loc[4:] == "x").all() and (intercept.loc[:3] != "x").all()
    assert (frame.loc[frame["term"] == "kategori[familie]", "estimate"] != "x").all()


def test_card_gaps_equal_the_contributions_minus_their_mean(stage_run):
    """kommune_observert_predikert.csv: observed − predicted over botid 0-9 is the released contribution
    minus its person-year-weighted mean over the released municipalities (models/predicted.py)."""
    settings, _ = stage_run
    cells = pd.read_csv(settings.paths.tables / "kommune_observert_predikert.csv", dtype=str)
    contributions = pd.read_csv(settings.paths.tables / "kommunebidrag.csv", dtype=str)
    totals = cells.loc[(cells.botid == "0-9") & (cells.gap_pp != "prikket")].merge(
        contributions.loc[contributions.estimate != "prikket"], on=["gruppe", "kommnr_2020"])
    assert len(totals) >= 10 and set(totals.gruppe) == {"asyl", "overforing", "familie", "alle"}
    gap = totals.gap_pp.astype(float)
    # the total's gap is published to two decimals, the rates in whole percent (pipeline/disclosure.py)
    assert (gap - (totals.estimate.astype(float) - totals.contribution_mean_pp.astype(float))).abs().max() < 0.0051
    assert (totals.observed_pct.astype(float) - totals.predicted_pct.astype(float) - gap).abs().max() <= 1.0
    # a suppressed contribution never has released rates; a released one may have them suppressed to
    # protect a small category of the same municipality (all refugees = the three categories)
    released_totals = cells.loc[(cells.botid == "0-9") & (cells.gap_pp != "prikket")]
    assert len(released_totals) == len(totals)
    hidden = contributions.loc[contributions.estimate != "prikket"].merge(
        cells.loc[(cells.botid == "0-9") & (cells.gap_pp == "prikket")], on=["gruppe", "kommnr_2020"])
    assert 0 < len(hidden) < len(totals) / 4
