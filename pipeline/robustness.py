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

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_BLOCK_NAME, DesignCache
from models.second_stage import characteristics_frame, second_stage
from models.stability import contribution_stability
from pipeline import disclosure, estimate, memory, runlog
from pipeline.config import Settings
from pipeline.io import write_csv, write_text
from pipeline.registers.panel import OUTCOME_COLUMNS, redefine_outcomes

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
    return shared_sample_statistics([(variant, settings, person_year)], characteristics, municipalities)[variant]


# Options that leave a variant's person-years and regressors as the baseline's when its samples are
# the same rows: such variants are fitted together (shared_sample_statistics).
SHARED_SAMPLE_OPTIONS = ("outcome", "employment_threshold_g", "cluster")


def shared_sample_families(variants: list[tuple[str, Settings, pd.DataFrame]]) -> list[list[int]]:
    """Indices of `variants` (name, settings, panel) grouped into families that can share their designs:
    the same settings apart from SHARED_SAMPLE_OPTIONS, panels equal but for their outcome columns
    (pipeline/panel.redefine_outcomes keeps the rest), and the same rows (index labels, in order) in
    each of the three model samples."""
    families: list[tuple[Settings, pd.DataFrame, tuple[np.ndarray, ...], list[int]]] = []
    for i, (_, settings, panel) in enumerate(variants):
        neutral = dataclasses.replace(settings, **{o: getattr(variants[0][1], o) for o in SHARED_SAMPLE_OPTIONS})
        rows = tuple(panel.index.to_numpy()[mask] for mask in estimate.model_sample_rows(panel, settings)[:3])
        for family_settings, family_panel, family_rows, members in families:
            if family_settings == neutral and panel.index.is_unique and _same_regressors(panel, family_panel) and all(
                    len(a) == len(b) and np.array_equal(a, b) for a, b in zip(rows, family_rows)):
                members.append(i)
                break
        else:
            families.append((neutral, panel, rows, [i]))
    return [members for _, _, _, members in families]


def _same_regressors(panel: pd.DataFrame, other: pd.DataFrame) -> bool:
    """True when the two panels are equal apart from their outcome columns (labels included)."""
    return panel is other or panel.drop(columns=list(OUTCOME_COLUMNS)).equals(other.drop(columns=list(OUTCOME_COLUMNS)))


def _distinct(arrays: list[tuple[np.ndarray, ...]]) -> tuple[list[tuple[np.ndarray, ...]], list[int]]:
    """The distinct tuples of arrays (equal values) and, for each input, the index of its distinct one."""
    distinct: list[tuple[np.ndarray, ...]] = []
    which = []
    for item in arrays:
        match = next((j for j, d in enumerate(distinct) if all(np.array_equal(a, b) for a, b in zip(item, d))), None)
        if match is None:
            distinct.append(item)
            match = len(distinct) - 1
        which.append(match)
    return distinct, which


def shared_sample_statistics(variants: list[tuple[str, Settings, pd.DataFrame]], characteristics: pd.DataFrame,
                             municipalities: list[str]) -> dict[str, list[dict]]:
    """The statistics of variants (name, settings, panel) of one family (shared_sample_families), unreleased.

    The samples and designs are the first variant's; each variant brings its outcome (its definition,
    its panel) and its clustering. The models of the distinct outcomes are fitted together on one
    design (one within transformation, one factorisation, several right-hand sides), and variants with
    the same outcome values (e.g. another clustering) share the decomposition and the contributions.
    """
    _, settings, panel = variants[0]
    samples = estimate.model_samples(panel, settings)
    frames = (samples.models, samples.fixed_effects, samples.contributions)
    # each variant's outcome on the shared rows, from its own panel
    outcomes = [tuple((frame[s.outcome] if p is panel else p.loc[frame.index, s.outcome]).to_numpy(dtype=np.float64)
                      for frame in frames) for _, s, p in variants]
    distinct, which = _distinct(outcomes)
    designs = DesignCache()
    rows: dict[str, list[dict]] = {name: [] for name, _, _ in variants}

    # fig 3.15's full model, per clustering
    design = designs.build(samples.models, INDIVIDUAL_BLOCKS, outcome=settings.outcome)
    n_py, n_p = design.n_obs, design.n_clusters
    for clustering in dict.fromkeys(s.cluster for _, s, _ in variants):
        names = [name for name, s, _ in variants if s.cluster == clustering]
        if n_p >= max(settings.min_persons, 2):
            ys = [outcomes[[n for n, _, _ in variants].index(name)][0] for name in names]
            fits = estimate.successive_models_outcomes(
                design, ys, cluster=estimate.cluster_codes(design, samples.models, clustering=clustering),
                models=range(len(design.blocks), len(design.blocks) + 1))
            for name, (full_model,) in zip(names, fits):
                coef = dict(zip(full_model.terms, full_model.coef * estimate.PP))
                se = dict(zip(full_model.terms, full_model.std_errors * estimate.PP))
                rows[name] += [_row(name, statistic, "alle", coef.get(term, np.nan), se.get(term, np.nan), n_py, n_p)
                               for statistic, term in CATEGORY_TERMS.items()]
        else:
            for name in names:
                rows[name] += [_row(name, statistic, "alle", np.nan, np.nan, n_py, n_p) for statistic in CATEGORY_TERMS]

    # fig 3.16's decomposition of all refugees, per distinct outcome
    decompositions = estimate.r2_decomposition_frames(
        samples.fixed_effects, [ys[1] for ys in distinct], policy=settings.disclosure, botids=(None,),
        groups=("alle",), designs=designs)
    # the contributions with their shrinkage and second stage, per distinct outcome
    contributions = estimate.municipality_contributions_outcomes(
        samples.contributions, [ys[2] for ys in distinct], municipalities=municipalities,
        normalisation=settings.normalisation, reference=settings.reference_municipality,
        min_persons_municipality=settings.min_persons_municipality, min_persons=settings.min_persons,
        with_ranks=False, designs=designs)
    shared = [_decomposition_rows(decomposition, samples, settings) + _contribution_rows(full, summary, characteristics, settings)
              for decomposition, (full, summary, _) in zip(decompositions, contributions)]
    for (name, _, _), j in zip(variants, which):
        rows[name] += [{**row, "variant": name} for row in shared[j]]
    return rows


def _decomposition_rows(decomposition: pd.DataFrame, samples: estimate.ModelSamples, settings: Settings) -> list[dict]:
    """R² shares of botid and of the settlement municipality (all refugees), variant left blank."""
    decomposition = disclosure.to_numeric(decomposition, ["r2_share", "n_person_years", "n_persons"],
                                          marker=settings.suppression_marker)
    rows = []
    for statistic, block in (("r2_share_botid", "botid"), ("r2_share_municipality", MUNICIPALITY_BLOCK_NAME)):
        share = decomposition.loc[decomposition["block"] == block].iloc[0]
        rows.append(_row("", statistic, "alle", 100 * share["r2_share"], np.nan,
                         len(samples.fixed_effects), samples.fixed_effects["lopenr"].nunique()))
    return rows


def _contribution_rows(full: pd.DataFrame, summary: pd.DataFrame, characteristics: pd.DataFrame,
                       settings: Settings) -> list[dict]:
    """Per group: SD of the contributions (raw and shrunk) and the second-stage slopes, variant left blank."""
    full, _ = estimate.add_shrinkage(full, min_persons=settings.min_persons, intervals=False)   # SDs only
    used, _ = estimate.second_stage_municipalities(full, characteristics, min_persons=settings.min_persons)
    slopes = second_stage(used[["gruppe", "kommnr_2020", "estimate"]], characteristics,
                          names=SLOPES).set_index(["characteristic", "gruppe"])
    sizes = summary.set_index("gruppe") if len(summary) else pd.DataFrame(columns=["n_person_years", "n_persons"])
    rows = []
    for gruppe in estimate.GROUPS:
        n_py, n_p = (int(sizes.loc[gruppe, "n_person_years"]), int(sizes.loc[gruppe, "n_persons"])) \
            if gruppe in sizes.index else (0, 0)
        in_table = used.loc[used["gruppe"] == gruppe, "estimate"]
        releasable = full.loc[(full["gruppe"] == gruppe) & (full["n_persons"] >= settings.min_persons)]
        rows.append(_row("", "contribution_sd", gruppe, in_table.std(ddof=1) if len(in_table) > 2 else np.nan,
                         np.nan, n_py, n_p))
        shrunk = releasable["eb_estimate"].dropna()
        rows.append(_row("", "contribution_sd_shrunk", gruppe, shrunk.std(ddof=1) if len(shrunk) > 2 else np.nan,
                         np.nan, n_py, n_p))
        for characteristic in SLOPES:
            key = (characteristic, gruppe)
            coef, se = (slopes.loc[key, "coef"], slopes.loc[key, "std_error"]) if key in slopes.index else (np.nan, np.nan)
            rows.append(_row("", f"slope_{characteristic}", gruppe, coef, se, n_py, n_p))
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


@memory.keeps_freed_memory   # dozens of design-sized arrays come and go
def run(settings: Settings, meter: runlog.StageMeter | None = None) -> list[Path]:
    """Every variant, the cohort stability, written under settings.paths.tables; return the files.

    `meter` times the variants and the cohort stability (the bench command passes one)."""
    meter = meter or runlog.StageMeter()
    person_year = pd.read_parquet(settings.paths.person_year)
    municipality_year = pd.read_parquet(settings.paths.municipality_year)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    characteristics = characteristics_frame(municipality_year, year=settings.characteristics_year)
    with meter.stage("variants"):
        variants = []
        for variant in VARIANTS:
            overrides = variant_settings(settings, variant)
            panel = redefine_outcomes(person_year, overrides) if set(VARIANTS[variant]) & set(PANEL_OPTIONS) \
                else person_year
            variants.append((variant, overrides, panel))
        by_variant: dict[str, list[dict]] = {}
        for family in shared_sample_families(variants):
            by_variant.update(shared_sample_statistics([variants[i] for i in family], characteristics, municipalities))
        rows = [row for variant in VARIANTS for row in by_variant[variant]]
    statistics = pd.DataFrame(rows, columns=COLUMNS)
    released = release_statistics(statistics, policy=settings.disclosure)
    tables = settings.paths.tables
    written = [write_csv(released, tables / "robustness.csv"),
               write_text(markdown(released, marker=settings.suppression_marker), tables / "robustness.md")]
    with meter.stage("cohort_stability"):
        cohorts = cohort_contributions(person_year, municipalities, settings)
        stability = stability_table(cohorts, min_persons=settings.min_persons)
    written.append(write_csv(stability, tables / "contribution_stability.csv"))
    released_cohorts, n_suppressed = disclosure.release(
        cohorts[["gruppe", "kohort", "kommnr_2020", "estimate", "std_error", "n_persons", "n_person_years"]],
        policy=settings.disclosure, columns=disclosure.Columns(stats=("estimate", "std_error")))
    written.append(write_csv(released_cohorts, tables / "kommunebidrag_kohorter.csv"))
    runlog.record(settings.paths.run_log, STAGE, "suppressed", output="kommunebidrag_kohorter.csv",
                  cells=n_suppressed, rows=len(released_cohorts))
    return written
