"""Stage `robustness`: do the report's conclusions survive reasonable changes of definition?

Every variant is a configuration override (`VARIANTS`) that re-runs the estimate stage's own code
(model samples, fig 3.15's full model, fig 3.16's decomposition, the contributions with their
shrinkage, table 3.2's sample rule, table 3.3's second stage) on the panel that exists. A variant
that changes a definition of the panel (the employment threshold) first re-runs the panel's outcome
step, sql/33_person_year.sql, on the exported panel (pipeline/panel.redefine_outcomes).

Writes OUT/tables/robustness.csv and .md (long: variant, statistic, gruppe, estimate, std_error,
n_person_years, n_persons), OUT/tables/contribution_stability.csv (per group: contributions of the
arrivals of 2010–2014 against 2015–2019, their correlation corrected for sampling error,
models/stability.py) and OUT/tables/kommunebidrag_kohorter.csv (the released cohort contributions the
scatter figure draws). Everything goes through pipeline/disclosure.release.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_BLOCK_NAME, build_design
from models.second_stage import characteristics_frame, second_stage
from models.stability import contribution_stability
from pipeline import disclosure, estimate, runlog
from pipeline.config import Settings
from pipeline.io import write_csv, write_text
from pipeline.panel import redefine_outcomes

STAGE = "robustness"
VARIANTS: dict[str, dict[str, object]] = {
    "baseline": {},
    "employed_only": {"outcome": "sysselsatt"},
    "education_only": {"outcome": "i_utdanning"},
    "threshold_2g": {"employment_threshold_g": 2.0},
    "without_2020": {"exclude_years": (2020,)},
    "botid_0_5": {"max_botid": 5},
    "ages_25_55": {"min_age": 25, "max_age": 55},
    "cluster_twoway": {"cluster": "person+municipality"},
}
PANEL_OPTIONS = ("employment_threshold_g",)   # overrides that change a definition of the panel
SLOPES = ("ln_befolkning", "pst_sosialstonad_30_59", "ln_sentralitetsindeks")
CATEGORY_TERMS = {"overforing_vs_asyl": "kategori[overforing]", "familie_vs_asyl": "kategori[familie]"}
COHORTS = {"2010_2014": (2010, 2014), "2015_2019": (2015, 2019)}
COLUMNS = ["variant", "statistic", "gruppe", "estimate", "std_error", "n_person_years", "n_persons"]


def variant_settings(settings: Settings, variant: str) -> Settings:
    """The settings of one variant: the run's settings with the variant's overrides."""
    return dataclasses.replace(settings, **VARIANTS[variant])


def _row(variant: str, statistic: str, gruppe: str, estimate_value: float, std_error: float,
         n_person_years: int, n_persons: int) -> dict:
    return dict(zip(COLUMNS, (variant, statistic, gruppe, estimate_value, std_error, n_person_years, n_persons)))


def variant_statistics(variant: str, person_year: pd.DataFrame, characteristics: pd.DataFrame,
                       municipalities: list[str], settings: Settings) -> list[dict]:
    """The statistics of one variant (settings already overridden), unreleased."""
    samples = estimate.model_samples(person_year, settings)
    rows = []
    design = build_design(samples.models, INDIVIDUAL_BLOCKS, outcome=settings.outcome)
    n_py, n_p = design.n_obs, design.n_clusters
    if n_p >= max(settings.min_persons, 2):
        full_model = estimate.successive_models(
            design, cluster=estimate.cluster_codes(design, samples.models, clustering=settings.cluster),
            models=range(len(design.blocks), len(design.blocks) + 1))[0]
        coef = dict(zip(full_model.terms, full_model.coef * estimate.PP))
        se = dict(zip(full_model.terms, full_model.std_errors * estimate.PP))
        for statistic, term in CATEGORY_TERMS.items():
            rows.append(_row(variant, statistic, "alle", coef.get(term, np.nan), se.get(term, np.nan), n_py, n_p))
    else:
        rows += [_row(variant, statistic, "alle", np.nan, np.nan, n_py, n_p) for statistic in CATEGORY_TERMS]
    decomposition = disclosure.to_numeric(
        estimate.r2_decomposition_frame(samples.fixed_effects, policy=settings.disclosure, botids=(None,),
                                        groups=("alle",), outcome=settings.outcome),
        ["r2_share", "n_person_years", "n_persons"], marker=settings.suppression_marker)
    for statistic, block in (("r2_share_botid", "botid"), ("r2_share_municipality", MUNICIPALITY_BLOCK_NAME)):
        share = decomposition.loc[decomposition["block"] == block].iloc[0]
        rows.append(_row(variant, statistic, "alle", 100 * share["r2_share"], np.nan,
                         len(samples.fixed_effects), samples.fixed_effects["lopenr"].nunique()))
    full, summary, _ = estimate.municipality_contributions(
        samples.contributions, municipalities=municipalities, normalisation=settings.normalisation,
        reference=settings.reference_municipality, min_persons_municipality=settings.min_persons_municipality,
        min_persons=settings.min_persons, outcome=settings.outcome, with_ranks=False)
    full, _ = estimate.add_shrinkage(full, min_persons=settings.min_persons, intervals=False)   # SDs only
    used, _ = estimate.second_stage_municipalities(full, characteristics, min_persons=settings.min_persons)
    slopes = second_stage(used[["gruppe", "kommnr_2020", "estimate"]], characteristics,
                          names=SLOPES).set_index(["characteristic", "gruppe"])
    sizes = summary.set_index("gruppe") if len(summary) else pd.DataFrame(columns=["n_person_years", "n_persons"])
    for gruppe in estimate.GROUPS:
        n_py, n_p = (int(sizes.loc[gruppe, "n_person_years"]), int(sizes.loc[gruppe, "n_persons"])) \
            if gruppe in sizes.index else (0, 0)
        in_table = used.loc[used["gruppe"] == gruppe, "estimate"]
        releasable = full.loc[(full["gruppe"] == gruppe) & (full["n_persons"] >= settings.min_persons)]
        rows.append(_row(variant, "contribution_sd", gruppe, in_table.std(ddof=1) if len(in_table) > 2 else np.nan,
                         np.nan, n_py, n_p))
        shrunk = releasable["eb_estimate"].dropna()
        rows.append(_row(variant, "contribution_sd_shrunk", gruppe, shrunk.std(ddof=1) if len(shrunk) > 2 else np.nan,
                         np.nan, n_py, n_p))
        for characteristic in SLOPES:
            key = (characteristic, gruppe)
            coef, se = (slopes.loc[key, "coef"], slopes.loc[key, "std_error"]) if key in slopes.index else (np.nan, np.nan)
            rows.append(_row(variant, f"slope_{characteristic}", gruppe, coef, se, n_py, n_p))
    return rows


def cohort_contributions(person_year: pd.DataFrame, municipalities: list[str], settings: Settings) -> pd.DataFrame:
    """Contributions estimated separately on each arrival cohort (the same contribution code)."""
    contributions = estimate.model_samples(person_year, settings).contributions
    frames = []
    for cohort, (first, last) in COHORTS.items():
        rows = contributions.loc[contributions["innvandringsaar"].between(first, last)]
        full, _, _ = estimate.municipality_contributions(
            rows, municipalities=municipalities, normalisation=settings.normalisation,
            reference=settings.reference_municipality, min_persons_municipality=settings.min_persons_municipality,
            min_persons=settings.min_persons, with_ranks=False)
        frames.append(full.assign(kohort=cohort))
    return pd.concat(frames, ignore_index=True)


def stability_table(cohorts: pd.DataFrame, *, min_persons: int) -> pd.DataFrame:
    """Per group: the contributions of the two cohorts, over the municipalities releasable in both.

    Reliabilities use the SE of each contribution relative to the reference municipality (`std_error`),
    not of the raw effect: the raw effect's SE carries the error of the common level (the slopes and
    the intercept), which moves every municipality together and adds no spread across them; it would
    understate the reliabilities and push the corrected correlation above 1. The reference's own
    error, also common to all, remains (small where the reference is large)."""
    first, second = COHORTS
    rows = []
    for gruppe in estimate.GROUPS:
        a = cohorts.loc[(cohorts["gruppe"] == gruppe) & (cohorts["kohort"] == first)].set_index("kommnr_2020")
        b = cohorts.loc[(cohorts["gruppe"] == gruppe) & (cohorts["kohort"] == second)].set_index("kommnr_2020")
        both = a.index[(a["n_persons"] >= min_persons)].intersection(b.index[b["n_persons"] >= min_persons])
        result = contribution_stability(a.loc[both, "estimate"], a.loc[both, "std_error"],
                                        b.loc[both, "estimate"], b.loc[both, "std_error"])
        rows.append({"gruppe": gruppe, "n_municipalities": result.n_municipalities,
                     "correlation": result.correlation, f"reliability_{first}": result.reliability_first,
                     f"reliability_{second}": result.reliability_second, "corrected": result.corrected,
                     "ci_low": result.ci_low, "ci_high": result.ci_high, "level": 0.90})
    return pd.DataFrame(rows)


def release_statistics(frame: pd.DataFrame, *, policy: disclosure.Policy) -> pd.DataFrame:
    """robustness.csv as released: a variant sample under min_persons persons has every statistic and
    count suppressed; counts rounded."""
    out, _ = disclosure.release(frame[COLUMNS], policy=policy,
                                columns=disclosure.Columns(stats=("estimate", "std_error")))
    return out


def markdown(frame: pd.DataFrame, *, marker: str) -> str:
    """robustness.md: one row per statistic and group, one column per variant (estimate (SE))."""
    lines = ["| statistic | gruppe | " + " | ".join(VARIANTS) + " |", "|---|---|" + "---:|" * len(VARIANTS)]
    for (statistic, gruppe), rows in frame.groupby(["statistic", "gruppe"], sort=False):
        by_variant = rows.set_index("variant")
        cells = []
        for variant in VARIANTS:
            if variant not in by_variant.index:
                cells.append("")
                continue
            value, se = by_variant.loc[variant, "estimate"], by_variant.loc[variant, "std_error"]
            cells.append(_number(value, marker) + (f" ({_number(se, marker)})" if _number(se, marker) else ""))
        lines.append(f"| {statistic} | {gruppe} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: object, marker: str) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None or not np.isfinite(value) else f"{value:.2f}"


def run(settings: Settings) -> list[Path]:
    """Every variant, the cohort stability, written under settings.paths.tables; return the files."""
    person_year = pd.read_parquet(settings.paths.person_year)
    municipality_year = pd.read_parquet(settings.paths.municipality_year)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    characteristics = characteristics_frame(municipality_year, year=settings.characteristics_year)
    rows = []
    for variant in VARIANTS:
        overrides = variant_settings(settings, variant)
        panel = redefine_outcomes(person_year, overrides) if set(VARIANTS[variant]) & set(PANEL_OPTIONS) \
            else person_year
        rows += variant_statistics(variant, panel, characteristics, municipalities, overrides)
    statistics = pd.DataFrame(rows, columns=COLUMNS)
    released = release_statistics(statistics, policy=settings.disclosure)
    tables = settings.paths.tables
    written = [write_csv(released, tables / "robustness.csv"),
               write_text(markdown(released, marker=settings.suppression_marker), tables / "robustness.md")]
    cohorts = cohort_contributions(person_year, municipalities, settings)
    written.append(write_csv(stability_table(cohorts, min_persons=settings.min_persons),
                             tables / "contribution_stability.csv"))
    released_cohorts, n_suppressed = disclosure.release(
        cohorts[["gruppe", "kohort", "kommnr_2020", "estimate", "std_error", "n_persons", "n_person_years"]],
        policy=settings.disclosure, columns=disclosure.Columns(stats=("estimate", "std_error")))
    written.append(write_csv(released_cohorts, tables / "kommunebidrag_kohorter.csv"))
    runlog.record(settings.paths.run_log, STAGE, "suppressed", output="kommunebidrag_kohorter.csv",
                  cells=n_suppressed, rows=len(released_cohorts))
    return written
