"""Stage `estimate`: fig 3.15 models, fig 3.16 R² decomposition, municipality contributions,
tables 3.2 and 3.3 (methods.md §6). Reads the work panel, writes tables under settings.paths.tables
and the unsuppressed contributions under settings.paths.estimates_dir (confidential work dir).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models import formatting as fmt
import dataclasses
from dataclasses import dataclass

from models.design import (
    CLUSTER, INDIVIDUAL_BLOCKS, MODEL_NAMES, MUNICIPALITY_BLOCK_LABELS, MUNICIPALITY_BLOCK_NAME,
    MUNICIPALITY_FE, OUTCOME, Design, DesignCache, regression_rows,
)
from models.fixed_effects import FixedEffectsResult, fit_absorbed_outcomes, normalise_effects
from models.ols import OLSResult, fit_ols_subsets_outcomes
from models.ranks import RANK_COLUMNS, rank_table
from models.second_stage import CHARACTERISTICS, characteristics_frame, second_stage, second_stage_weighted
from models.shrinkage import EB_COLUMNS, shrink_contributions
from models.table_disclosure import SampleDecision, second_stage_sample
from models.shapley import r2_decompositions
from models.vcov import group_sums
from pipeline import disclosure, memory
from pipeline.config import CATEGORIES, Settings
from pipeline.errors import ConfigurationError
from pipeline.io import private_dir, write_csv, write_parquet, write_text
from pipeline.runlog import StageMeter, Timer, record

PP = 100.0  # outcome 0/1 → percentage points
GROUPS = ("asyl", "overforing", "familie", "alle")
GROUP_LABELS = {"no": ["Asyl", "Overføring", "Familie", "Alle flyktninger"],
                "en": ["Asylum", "Resettled", "Family", "All refugees"]}
DECOMPOSITION_BOTID = (None, 3, 6, 9)
STAGE = "estimate"


def _persons_per_column(design: Design) -> np.ndarray:
    """Number of persons with a non-zero value in each regressor column (dummy level counts)."""
    per_person = group_sums((design.X != 0).astype(np.float64), design.cluster, design.n_clusters)
    return (per_person > 0).sum(axis=0)


# --- fig 3.15 -------------------------------------------------------------------------------

def successive_models(design: Design, *, cluster: np.ndarray | None = None,
                      models: range | None = None) -> list[OLSResult]:
    """Model m = OLS of the outcome on blocks 1..m (methods.md §6, fig 3.15), CR1 by person (or by the
    codes in `cluster`, two columns for two-way clustering); `models` selects m (default all nine)."""
    return successive_models_outcomes(design, [design.y], cluster=cluster, models=models)[0]


def successive_models_outcomes(design: Design, ys: list[np.ndarray], *, cluster: np.ndarray | None = None,
                               models: range | None = None) -> list[list[OLSResult]]:
    """successive_models for several outcomes `ys` on the design's regressors (one list per outcome)."""
    models = models or range(1, len(design.blocks) + 1)
    subsets = [design.columns_of([b.name for b in design.blocks[:m]]) for m in models]
    codes = design.cluster if cluster is None else cluster
    return fit_ols_subsets_outcomes(ys, design.X, subsets, terms=design.terms, cluster=codes,
                                    n_clusters=design.n_clusters if cluster is None else None, vcov="CR1")


def cluster_codes(design: Design, sample: pd.DataFrame, *, clustering: str) -> np.ndarray:
    """Person codes, or (person, settlement municipality) codes for two-way clustering; a person with no
    settlement municipality is a municipality cluster of their own, so the sample stays the same."""
    if clustering == "person":
        return design.cluster
    municipality = sample[MUNICIPALITY_FE].astype(object).to_numpy()
    own = "person:" + sample[CLUSTER].astype(str).to_numpy().astype(object)
    codes = pd.factorize(np.where(pd.isna(municipality), own, municipality))[0]
    return np.column_stack([design.cluster, codes.astype(np.int64)])


def _small_reference_blocks(design: Design, min_persons: int) -> list[int]:
    """Categorical blocks whose reference level (all the block's dummies 0) has fewer than min_persons persons."""
    small = []
    for index, block in enumerate(design.blocks):
        cols = np.flatnonzero(design.column_block == index)
        if block.kind != "categorical" or cols.size == 0:
            continue
        at_reference = ~(design.X[:, cols] != 0).any(axis=1)
        if np.unique(design.cluster[at_reference]).size < min_persons:
            small.append(index)
    return small


COEFFICIENT_STATISTICS = ("estimate", "std_error", "ci_low", "ci_high")


def coefficient_frame(results: list[OLSResult], design: Design, *, policy: disclosure.Policy) -> pd.DataFrame:
    """fig3_15_coefficients.csv: one row per model × term, estimates in pp; dummies for levels held
    by fewer than `min_persons` persons are suppressed (estimate, SE, CI → marker). A block whose
    reference level is that small has all its dummies and the intercept suppressed: they are contrasts
    to, and the level of, a small group. Sample counts are rounded (pipeline/disclosure.py)."""
    min_persons, marker = policy.min_persons, policy.marker
    persons = dict(zip(design.terms, _persons_per_column(design)))
    small_reference = _small_reference_blocks(design, min_persons)
    for index in small_reference:
        persons.update({design.terms[j]: 0 for j in np.flatnonzero(design.column_block == index)})
    frames = []
    for m, res in enumerate(results, start=1):
        if any(index < m for index in small_reference):
            persons["Intercept"] = 0
        table = res.table(scale=PP)
        table.insert(0, "model_name", MODEL_NAMES[m - 1])
        table.insert(0, "model", m)
        table["n_person_years"] = res.n_obs
        table["n_persons"] = design.n_clusters
        table["r2"] = res.r2
        table["adj_r2"] = res.adj_r2
        small = table["term"].map(lambda t: persons.get(t, min_persons) < min_persons).to_numpy(dtype=bool)
        if small.any():
            value_cols = list(COEFFICIENT_STATISTICS)
            table[value_cols] = table[value_cols].astype(object)
            table.loc[small, value_cols] = marker
        frames.append(table)
    # a sample of fewer than min_persons persons: every statistic and count of the model
    released, _ = disclosure.release(pd.concat(frames, ignore_index=True), policy=policy, columns=disclosure.Columns(
        stats=(*COEFFICIENT_STATISTICS, "r2", "adj_r2")))
    return released


def regression_table_text(coefs: pd.DataFrame, *, kind: str, language: str) -> str:
    """Fig 3.15 regression table: coefficient (pp) over (SE), with N persons, N person-years, R²."""
    models = sorted(coefs["model"].unique())
    firsts = coefs.groupby("model").first()
    frame = coefs.rename(columns={"model": "column"})
    footer = {
        "N persons" if language == "en" else "N personer": [fmt.number(firsts.loc[m, "n_persons"], ".0f")
                                                            for m in models],
        "N person-years" if language == "en" else "N personår": [fmt.number(firsts.loc[m, "n_person_years"], ".0f")
                                                                for m in models],
        "R²": [fmt.number(firsts.loc[m, "r2"], ".3f") for m in models],
    }
    caption = ("Fig 3.15: linear probability models, work or education (percentage points), SE clustered by person"
               if language == "en" else
               "Figur 3.15: lineære sannsynlighetsmodeller, arbeid eller utdanning (prosentpoeng), standardfeil klynget på person")
    return fmt.regression_table(frame, columns=models, column_labels=[f"({m})" for m in models], footer=footer,
                                kind=kind, caption=caption)


# --- fig 3.16 -------------------------------------------------------------------------------

def decomposition_samples(sample: pd.DataFrame, botids: tuple[int | None, ...] = DECOMPOSITION_BOTID,
                          groups: tuple[str, ...] = GROUPS) -> list[tuple[str, str, str, np.ndarray]]:
    """(sample name, gruppe, botid label, row mask) for alle + each category × all botid (None), 3, 6, 9."""
    out = []
    kategori = sample["kategori"].to_numpy()
    sample_botid = sample["botid"].to_numpy()
    for gruppe in ("alle", *CATEGORIES):
        if gruppe not in groups:
            continue
        in_group = np.ones(len(sample), dtype=bool) if gruppe == "alle" else kategori == gruppe
        for botid in botids:
            mask = in_group if botid is None else in_group & (sample_botid == botid)
            name = gruppe if botid is None else f"{gruppe}_botid{botid}"
            out.append((name, gruppe, "alle" if botid is None else str(botid), mask))
    return out


def r2_decomposition_frame(sample: pd.DataFrame, *, policy: disclosure.Policy, language: str = "no",
                           botids: tuple[int | None, ...] = DECOMPOSITION_BOTID, groups: tuple[str, ...] = GROUPS,
                           outcome: str = OUTCOME, designs: DesignCache | None = None) -> pd.DataFrame:
    """fig3_16_r2_decomposition.csv: Shapley shares of R² over the ten blocks per sample.

    Samples with fewer than `min_persons` persons are not decomposed; their statistics and counts are
    written as the marker, and every count is rounded (pipeline/disclosure.release).
    """
    return r2_decomposition_frames(sample, [sample[outcome].to_numpy(dtype=np.float64)], policy=policy,
                                   language=language, botids=botids, groups=groups, designs=designs)[0]


def r2_decomposition_frames(sample: pd.DataFrame, ys: list[np.ndarray], *, policy: disclosure.Policy,
                            language: str = "no", botids: tuple[int | None, ...] = DECOMPOSITION_BOTID,
                            groups: tuple[str, ...] = GROUPS, designs: DesignCache | None = None) -> list[pd.DataFrame]:
    """r2_decomposition_frame for several outcomes `ys` (one value per row of `sample`) on the same
    person-years: one design, one cross-product per decomposed sample (models/shapley.r2_decompositions)."""
    min_persons = policy.min_persons
    labels = {b.name: (b.label_no if language == "no" else b.label_en) for b in INDIVIDUAL_BLOCKS}
    labels[MUNICIPALITY_BLOCK_NAME] = MUNICIPALITY_BLOCK_LABELS[0 if language == "no" else 1]
    full = (designs or DesignCache()).build(sample, fe_column=MUNICIPALITY_FE)
    statistics = ["r2_share", "share_of_r2", "adj_r2_share", "r2_total", "adj_r2_total"]
    rows: list[list[dict]] = [[] for _ in ys]
    for name, gruppe, botid, mask in decomposition_samples(sample, botids, groups):
        common = {"sample": name, "gruppe": gruppe, "botid": botid}
        n_persons = int(np.unique(full.cluster[mask]).size)
        if n_persons < max(min_persons, 2):
            for out in rows:
                out += [{**common, "block": block, "block_label": label, **dict.fromkeys(statistics, np.nan),
                         "n_person_years": int(mask.sum()), "n_persons": n_persons}
                        for block, label in labels.items()]
            continue
        design = full.rows(mask)
        decompositions = r2_decompositions([y[mask] for y in ys], design.X, design.column_block,
                                           [b.name for b in design.blocks], fe=design.fe,
                                           fe_name=MUNICIPALITY_BLOCK_NAME)
        for dec, out in zip(decompositions, rows):
            for j, block in enumerate(dec.players):
                out.append({**common, "block": block, "block_label": labels[block], "r2_share": dec.r2_share[j],
                            "share_of_r2": dec.r2_share[j] / dec.r2_total if dec.r2_total > 0 else np.nan,
                            "adj_r2_share": dec.adj_r2_share[j], "r2_total": dec.r2_total,
                            "adj_r2_total": dec.adj_r2_total, "n_person_years": dec.n_obs, "n_persons": n_persons})
    return [disclosure.release(pd.DataFrame(out), policy=policy, columns=disclosure.Columns(stats=tuple(statistics)))[0]
            for out in rows]


# --- municipality contributions -----------------------------------------------------------

def contribution_rows(sample: pd.DataFrame, gruppe: str, *, min_persons_municipality: int) -> np.ndarray:
    """Mask of the person-years of `gruppe` (or all) whose settlement municipality has enough persons in it."""
    in_group = np.ones(len(sample), dtype=bool) if gruppe == "alle" else (sample["kategori"] == gruppe).to_numpy()
    if min_persons_municipality <= 1 and sample[CLUSTER].notna().all():
        return in_group   # every municipality with a person-year has a person
    rows = sample.loc[in_group]
    persons = rows.groupby(MUNICIPALITY_FE, observed=True)[CLUSTER].nunique()
    keep = persons.index[persons >= min_persons_municipality]
    return in_group & sample[MUNICIPALITY_FE].isin(keep).to_numpy()


def contribution_sample(sample: pd.DataFrame, gruppe: str, *, min_persons_municipality: int) -> pd.DataFrame:
    """Person-years of `gruppe` (or all) whose settlement municipality has enough persons in it."""
    return sample.loc[contribution_rows(sample, gruppe, min_persons_municipality=min_persons_municipality)]


def municipality_contributions(
    sample: pd.DataFrame, *, municipalities: list[str], normalisation: str, reference: str,
    min_persons_municipality: int, min_persons: int = 1, outcome: str = OUTCOME, with_ranks: bool = True,
    designs: DesignCache | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, GroupFit]]:
    """Full model + settlement-municipality FE per group (methods.md §6); effects in pp.

    One row per group and municipality of `municipalities` (the 2020 structure), also where the group
    has nobody (estimate missing, 0 persons), so a released table shows the same marker for none and
    for a few. Under the "mean" normalisation the mean is taken over the municipalities with at least
    `min_persons` persons (the releasable ones), so that the released effects do not sum to minus the
    suppressed ones. A group whose reference municipality has fewer than `min_persons` persons falls
    back to that mean normalisation: contrasts to a small group would be its statistics. `with_ranks=False`
    leaves the rank sets out (missing), for callers that only need the effects.

    Returns (kommunebidrag with gruppe, kommnr_2020, estimate, std_error, n_persons, n_person_years,
    normalisation, ranks; model summary per group with N, R², within R², normalisation, seconds; each
    group's sample, design and fit, for the tables that reuse them).
    """
    return municipality_contributions_outcomes(
        sample, [sample[outcome].to_numpy(dtype=np.float64)], municipalities=municipalities,
        normalisation=normalisation, reference=reference, min_persons_municipality=min_persons_municipality,
        min_persons=min_persons, with_ranks=with_ranks, designs=designs)[0]


def municipality_contributions_outcomes(
    sample: pd.DataFrame, ys: list[np.ndarray], *, municipalities: list[str], normalisation: str, reference: str,
    min_persons_municipality: int, min_persons: int = 1, with_ranks: bool = True,
    designs: DesignCache | None = None,
) -> list[tuple[pd.DataFrame, pd.DataFrame, dict[str, GroupFit]]]:
    """municipality_contributions for several outcomes `ys` (one value per row of `sample`) on the same
    person-years: per group one design and one within transformation (models/fixed_effects.fit_absorbed_outcomes)."""
    if normalisation == "reference" and str(reference) not in set(municipalities):
        raise ConfigurationError(
            f"reference municipality {reference!r} is not a 2020 municipality of kommuner_2020; set "
            f"[estimation] reference_municipality to one of its codes, or use normalisation = 'mean'")
    designs = designs or DesignCache()
    out: list[tuple[list, list, dict]] = [([], [], {}) for _ in ys]
    for gruppe in GROUPS:
        in_part = contribution_rows(sample, gruppe, min_persons_municipality=min_persons_municipality)
        if not in_part.any():
            continue
        part = sample if in_part.all() else sample.loc[in_part]
        design = designs.build(part, fe_column=MUNICIPALITY_FE)
        with Timer() as timer:
            results = fit_absorbed_outcomes([y[in_part] for y in ys], design.X, design.fe, terms=design.terms,
                                            fe_levels=design.fe_levels, cluster=design.cluster,
                                            n_clusters=design.n_clusters, vcov="CR1")
        for y, res, (frames, summary, fits) in zip(ys, results, out):
            frame, row = _group_contributions(gruppe, res, design, municipalities=municipalities,
                                              normalisation=normalisation, reference=reference,
                                              min_persons=min_persons, with_ranks=with_ranks)
            frames.append(frame)
            fits[gruppe] = GroupFit(part, dataclasses.replace(design, y=y[in_part]), res)
            summary.append({**row, "seconds": timer.seconds / len(ys)})   # the shared fit, split evenly
    return [(pd.concat(frames, ignore_index=True), pd.DataFrame(summary), fits) for frames, summary, fits in out]


def _group_contributions(gruppe: str, res: FixedEffectsResult, design: Design, *, municipalities: list[str],
                         normalisation: str, reference: str, min_persons: int,
                         with_ranks: bool) -> tuple[pd.DataFrame, dict]:
    """One group's kommunebidrag rows (every municipality of `municipalities`) and its model summary."""
    releasable = res.fe_n_clusters >= min_persons
    used = group_normalisation(res, normalisation=normalisation, reference=reference, min_persons=min_persons)
    effects = normalise_effects(res, normalisation="reference" if used.startswith("reference") else "mean",
                                reference=reference, mean_over=releasable)
    ranks = (rank_table(effects["level"], effects["estimate"] * PP, res.fe_vcov * PP ** 2, use=releasable)
             if with_ranks else pd.DataFrame({c: np.full(len(effects), np.nan) for c in RANK_COLUMNS}))
    frame = pd.DataFrame({
        "gruppe": gruppe, "kommnr_2020": effects["level"], "estimate": effects["estimate"] * PP,
        "std_error": effects["std_error"] * PP, "n_persons": effects["n_clusters"],
        "n_person_years": effects["n_obs"], **{c: ranks[c].to_numpy() for c in RANK_COLUMNS},
        "std_error_raw": np.sqrt(np.clip(np.diag(res.fe_vcov), 0.0, None)) * PP})
    frame = frame.set_index("kommnr_2020").reindex(sorted(municipalities))
    frame = frame.fillna({"gruppe": gruppe, "n_persons": 0, "n_person_years": 0})
    frame = frame.astype({"n_persons": np.int64, "n_person_years": np.int64}).reset_index()
    frame = frame.assign(normalisation=used)[CONTRIBUTION_COLUMNS]
    return frame, {"gruppe": gruppe, "n_person_years": design.n_obs, "n_persons": design.n_clusters,
                   "n_municipalities": len(effects), "r2": res.ols.r2, "adj_r2": res.ols.adj_r2,
                   "r2_within": res.r2_within, "normalisation": used, "seconds": np.nan,
                   "dropped_terms": ";".join(res.ols.dropped)}


@dataclass(frozen=True)
class GroupFit:
    """One group's kommunebidrag model: its person-years, design and absorbed fit."""

    sample: pd.DataFrame
    design: Design
    fit: FixedEffectsResult


CONTRIBUTION_COLUMNS = ["gruppe", "kommnr_2020", "estimate", "std_error", "n_persons", "n_person_years",
                        "normalisation", *RANK_COLUMNS, "std_error_raw"]
RELEASED_CONTRIBUTION_COLUMNS = ["gruppe", "kommnr_2020", "estimate", "std_error", "n_persons", "n_person_years",
                                 "normalisation", *EB_COLUMNS, *RANK_COLUMNS]


def add_shrinkage(full: pd.DataFrame, *, min_persons: int, intervals: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """kommunebidrag with the empirical-Bayes columns (models/shrinkage.py, prior from the releasable
    municipalities only) and the prior's parameters per group; `intervals=False` leaves the robust
    intervals out (NaN), for callers that use the point estimates only."""
    eb, summary = shrink_contributions(full, min_persons=min_persons, intervals=intervals)
    out = full.reset_index(drop=True)
    for column in (*EB_COLUMNS, "eb_shrinkage", "eb_prior_mean", "eb_se_used"):
        out[column] = eb[column].to_numpy()
    return out, summary


def group_normalisation(result, *, normalisation: str, reference: str, min_persons: int) -> str:
    """The normalisation a group's effects are published under, as written in the `normalisation` column:
    "reference:0301", "mean", or "mean (reference 0301 under 30 persons)" when the configured reference
    municipality has fewer than `min_persons` persons in the group."""
    if normalisation == "mean":
        return "mean"
    levels = [str(level) for level in result.fe_levels]
    persons = int(result.fe_n_clusters[levels.index(str(reference))]) if str(reference) in levels else 0
    if persons < min_persons:
        return f"mean (reference {reference} under {min_persons} persons)"
    return f"reference:{reference}"


def release_contributions(full: pd.DataFrame, *, policy: disclosure.Policy) -> pd.DataFrame:
    """Releasable kommunebidrag: every statistic and count → marker where fewer than `min_persons` persons
    (none and a few alike); counts rounded."""
    out, _ = disclosure.release(full[RELEASED_CONTRIBUTION_COLUMNS], policy=policy, columns=disclosure.Columns(
        stats=("estimate", "std_error", *EB_COLUMNS, *RANK_COLUMNS), whole=RANK_COLUMNS))
    return out


# --- tables 3.2 and 3.3 --------------------------------------------------------------------

def table3_2(contributions: pd.DataFrame, levels: pd.DataFrame, *, language: str) -> pd.DataFrame:
    """Mean, SD (n−1) and number of municipalities of the contributions and the characteristics."""
    labels = dict(zip(GROUPS, GROUP_LABELS[language]))
    rows = []
    for gruppe in GROUPS:
        values = contributions.loc[contributions["gruppe"] == gruppe, "estimate"].astype(float)
        rows.append({"kind": "kommunebidrag", "variable": gruppe, "label": labels[gruppe],
                     "mean": values.mean(), "sd": values.std(ddof=1), "n_municipalities": int(values.notna().sum())})
    for ch in CHARACTERISTICS:
        values = levels[ch.column].astype(float)
        label = ch.label_no if language == "no" else ch.label_en
        rows.append({"kind": "kjennetegn", "variable": ch.column, "label": label.replace("Ln (", "").rstrip(")")
                     if ch.transform == "log" else label,
                     "mean": values.mean(), "sd": values.std(ddof=1), "n_municipalities": int(values.notna().sum())})
    return pd.DataFrame(rows)


def table3_3(contributions: pd.DataFrame, characteristics: pd.DataFrame) -> pd.DataFrame:
    """Bivariate second stage (models/second_stage.py), groups in report order."""
    return second_stage(contributions[["gruppe", "kommnr_2020", "estimate"]], characteristics,
                        names=tuple(ch.name for ch in CHARACTERISTICS))


def second_stage_municipalities(full: pd.DataFrame, characteristics: pd.DataFrame, *,
                                min_persons: int) -> tuple[pd.DataFrame, dict[str, SampleDecision]]:
    """The municipalities tables 3.2 and 3.3 (and the weighted companion) use, per group: every one with
    a contribution, as the report, when the published tables cannot give a suppressed one back
    (models/table_disclosure.py), else the releasable ones only.

    The weighted second stage's ω is the SE of each raw effect (`std_error_raw`): the slope does not
    depend on the normalisation, and a contrast would give the reference municipality an exact zero.
    """
    parts, decisions = [], {}
    for gruppe, part in full.loc[full["estimate"].notna()].groupby("gruppe", sort=False):
        decision = second_stage_sample(part.assign(std_error=part["std_error_raw"]), characteristics,
                                       min_persons=min_persons)
        decisions[gruppe] = decision
        parts.append(part if decision.include_suppressed else part.loc[part["n_persons"] >= min_persons])
    return (pd.concat(parts, ignore_index=True) if parts else full.iloc[:0]), decisions


def sample_notes(decisions: dict[str, SampleDecision], *, language: str) -> list[str]:
    labels = dict(zip(GROUPS, GROUP_LABELS[language]))
    return [f"{labels[g]}: {decisions[g].note}" for g in GROUPS if g in decisions]


# --- the stage -------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSamples:
    """The person-years each model family uses (settings: ages, botid window, years, outcome)."""

    models: pd.DataFrame             # fig 3.15
    fixed_effects: pd.DataFrame      # fig 3.16: also needs a settlement municipality
    contributions: pd.DataFrame      # kommunebidrag: botid 0..contributions_max_botid
    dropped_missing: int
    dropped_missing_fe: int


def model_samples(person_year: pd.DataFrame, settings: Settings) -> ModelSamples:
    """Regression samples of methods.md §1 and §6 under the settings (the robustness variants override them)."""
    models, fixed_effects, contributions, dropped, dropped_fe = model_sample_rows(person_year, settings)
    fixed_effects_sample = person_year.loc[fixed_effects]
    contributions_sample = fixed_effects_sample.loc[contributions[fixed_effects]]
    return ModelSamples(person_year.loc[models], fixed_effects_sample, contributions_sample, dropped, dropped_fe)


def model_sample_rows(person_year: pd.DataFrame,
                      settings: Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """model_samples as boolean masks over `person_year` (models, fixed effects, contributions) and
    the two counts of rows dropped for missing values, without copying any rows."""
    blocks = tuple(b.column for b in INDIVIDUAL_BLOCKS)
    common = dict(min_age=settings.min_age, max_age=settings.max_age, categories=CATEGORIES,
                  outcome=settings.outcome, exclude_years=settings.exclude_years, max_botid=settings.max_botid)
    models, dropped = regression_rows(person_year, require=blocks, **common)
    fixed_effects, dropped_fe = regression_rows(person_year, require=(*blocks, MUNICIPALITY_FE), **common)
    contributions = fixed_effects & (person_year["botid"] <= settings.contributions_max_botid).to_numpy()
    return models, fixed_effects, contributions, dropped, dropped_fe


@memory.keeps_freed_memory   # dozens of design-sized arrays come and go
def run(settings: Settings, meter: StageMeter | None = None) -> list[Path]:
    """Read the work panel and municipality table, estimate everything, write tables; return paths.

    `meter` times each model family (the bench command passes one).
    """
    meter = meter or StageMeter()
    paths = settings.paths
    tables = paths.tables
    lang = settings.language
    written: list[Path] = []
    person_year = pd.read_parquet(paths.person_year)
    municipality_year = pd.read_parquet(paths.municipality_year)
    record(paths.run_log, STAGE, "start", person_years_in=len(person_year))
    samples = model_samples(person_year, settings)
    designs = DesignCache()   # the three model families share one design where their samples coincide

    # fig 3.15
    with meter.stage("fig3_15_models"):
        design = designs.build(samples.models, INDIVIDUAL_BLOCKS, outcome=settings.outcome)
        results = successive_models(design, cluster=cluster_codes(design, samples.models,
                                                                  clustering=settings.cluster))
        coefs = coefficient_frame(results, design, policy=settings.disclosure)
    written.append(write_csv(coefs, tables / "fig3_15_coefficients.csv"))
    written.append(write_text(regression_table_text(coefs, kind="md", language=lang),
                              tables / "fig3_15_regression_table.md"))
    written.append(write_text(regression_table_text(coefs, kind="tex", language=lang),
                              tables / "fig3_15_regression_table.tex"))
    record(paths.run_log, STAGE, "fig3_15", seconds=round(meter.stages[-1]["seconds"], 3), n_person_years=design.n_obs,
           n_persons=design.n_clusters, rows_dropped_missing=samples.dropped_missing,
           suppressed_cells=int((coefs["estimate"] == settings.suppression_marker).sum()),
           dropped_collinear=sorted({t for r in results for t in r.dropped}))

    # fig 3.16
    with meter.stage("fig3_16_decomposition"):
        decomposition = r2_decomposition_frame(samples.fixed_effects, policy=settings.disclosure, language=lang,
                                               outcome=settings.outcome, designs=designs)
    # 12 significant digits so that the written shares still add up to the written total
    written.append(write_csv(decomposition, tables / "fig3_16_r2_decomposition.csv", float_format="%.12g"))
    record(paths.run_log, STAGE, "fig3_16", seconds=round(meter.stages[-1]["seconds"], 3), n_samples=decomposition["sample"].nunique(),
           n_person_years=len(samples.fixed_effects), rows_dropped_missing=samples.dropped_missing_fe)

    # municipality contributions (botid 0..max_botid_contributions)
    with meter.stage("municipality_contributions"):
        full, summary, fits = municipality_contributions(
            samples.contributions, municipalities=sorted(municipality_year["kommnr_2020"].astype(str).unique()),
            normalisation=settings.normalisation, reference=settings.reference_municipality,
            min_persons_municipality=settings.min_persons_municipality, min_persons=settings.min_persons,
            outcome=settings.outcome, designs=designs)
        full, shrinkage = add_shrinkage(full, min_persons=settings.min_persons)
    private_dir(paths.work)
    private_dir(paths.estimates_dir)
    written.append(write_parquet(full, paths.estimates_dir / "kommunebidrag_full.parquet", private=True))
    released = release_contributions(full, policy=settings.disclosure)
    written.append(write_csv(released, tables / "kommunebidrag.csv"))
    written.append(write_csv(shrinkage, tables / "kommunebidrag_prior.csv"))
    record(paths.run_log, STAGE, "kommunebidrag", seconds=round(meter.stages[-1]["seconds"], 3),
           normalisation=sorted(set(summary["normalisation"])) if len(summary) else [],
           suppressed_municipalities=int((full["n_persons"] < settings.min_persons).sum()),
           models=summary.to_dict(orient="records"))
    for row in summary.itertuples():
        if row.normalisation.startswith("mean (reference"):
            record(paths.run_log, STAGE, "normalisation_fallback", gruppe=row.gruppe, normalisation=row.normalisation)
    with meter.stage("card_tables"):
        written += write_card_tables(settings, fits, full, municipality_year)

    # tables 3.2 and 3.3
    with meter.stage("second_stage"):
        chars = characteristics_frame(municipality_year, year=settings.characteristics_year)
        levels = characteristics_frame(municipality_year, year=settings.characteristics_year, form="level")
        used, decisions = second_stage_municipalities(full, chars, min_persons=settings.min_persons)
        t32 = table3_2(used, levels, language=lang)
        t33 = table3_3(used, chars)
        t33_weighted = second_stage_weighted(used.assign(std_error=used["std_error_raw"]), chars,
                                             names=tuple(ch.name for ch in CHARACTERISTICS))
    notes = sample_notes(decisions, language=lang)
    sample_of = {g: "all_with_contribution" if d.include_suppressed else "releasable_only" for g, d in decisions.items()}
    t32["sample"] = t32["variable"].map(sample_of)
    for frame in (t33, t33_weighted):
        frame["sample"] = frame["gruppe"].map(sample_of)
    labels = {ch.name: (ch.label_no if lang == "no" else ch.label_en) for ch in CHARACTERISTICS}
    caption32 = "Tabell 3.2: kommunebidrag og kommunekjennetegn" if lang == "no" else \
        "Table 3.2: municipality contributions and characteristics"
    caption33 = "Tabell 3.3: kommunebidrag og kommunekjennetegn, bivariate regresjoner" if lang == "no" else \
        "Table 3.3: municipality contributions on characteristics, bivariate regressions"
    written.append(write_csv(t32, tables / "table3_2.csv"))
    written.append(write_text(fmt.summary_table(t32, kind="md", caption=caption32, language=lang, notes=notes),
                              tables / "table3_2.md"))
    written.append(write_csv(t33, tables / "table3_3.csv"))
    for kind in ("md", "tex"):
        written.append(write_text(fmt.characteristic_table(t33, groups=list(GROUPS), group_labels=GROUP_LABELS[lang],
                                                           labels=labels, kind=kind, caption=caption33, notes=notes),
                                  tables / f"table3_3.{kind}"))
    written.append(write_csv(t33_weighted, tables / "table3_3_weighted.csv"))
    for gruppe, decision in decisions.items():
        record(paths.run_log, STAGE, "second_stage_sample", gruppe=gruppe, n_suppressed=decision.n_suppressed,
               n_equations=decision.n_equations, include_suppressed=decision.include_suppressed, note=decision.note)
    record(paths.run_log, STAGE, "tables3_2_3_3", seconds=round(meter.stages[-1]["seconds"], 3),
           n_municipalities_characteristics=len(chars), year=settings.characteristics_year)
    return written


# --- observed against predicted per municipality and botid band (the municipality cards) ----------

def write_card_tables(settings: Settings, fits: dict[str, GroupFit], full: pd.DataFrame,
                      municipality_year: pd.DataFrame) -> list[Path]:
    """kommune_observert_predikert.csv (models/predicted.py) and kommuner.csv (names, centrality).

    From each group's kommunebidrag fit: the predicted rate adds the person-year-weighted mean effect
    over the municipalities whose contribution is released, so each released group total's gap equals
    its contribution minus that mean. Cells are suppressed by predicted.suppressed_cells (primary and
    complementary), then counts rounded like every count (pipeline/disclosure.py).
    """
    from models import predicted

    bands = predicted.check_bands(settings.card_botid_bands, max_botid=settings.contributions_max_botid)
    labels = [predicted.band_label(lo, hi) for lo, hi in bands]
    total = predicted.band_label(0, settings.contributions_max_botid)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    frames, persons = [], {}
    for gruppe, group in fits.items():
        design, res = group.design, group.fit
        beta = pd.Series(res.ols.coef, index=list(res.ols.terms)).reindex(list(design.terms)).fillna(0.0)
        pred, _ = predicted.predicted_rates(design.X, beta.to_numpy(), alpha=res.fe_coef, n_obs=res.fe_n_obs,
                                            mean_over=res.fe_n_clusters >= settings.min_persons)
        rows = pd.DataFrame({"kommnr_2020": design.fe_levels[design.fe].astype(str),
                             "person": group.sample[CLUSTER].to_numpy(),
                             "band": predicted.botid_band(group.sample["botid"].to_numpy(), bands), "y": design.y,
                             "predicted": pred})
        cells, sets = predicted.gap_cells(rows, municipalities=municipalities, bands=labels, total_band=total)
        released = full.loc[(full["gruppe"] == gruppe) & (full["n_persons"] >= settings.min_persons)]
        mean_contribution = np.average(released["estimate"], weights=released["n_person_years"]) \
            if len(released) else np.nan
        cells.insert(0, "gruppe", gruppe)
        cells["contribution_mean_pp"] = mean_contribution
        frames.append(cells)
        persons.update({(gruppe, k, b): sets.get((k, b), frozenset()) for k in municipalities for b in [*labels, total]})
    table = published_rates(pd.concat(frames, ignore_index=True), total_band=total,
                            decimals=settings.share_decimals)
    hidden = predicted.suppressed_cells(persons, bands=labels, total_band=total, min_persons=settings.min_persons)
    keys = list(zip(table["gruppe"], table["kommnr_2020"], table["botid"]))
    released_table, _ = disclosure.release(table, policy=settings.disclosure, columns=disclosure.Columns(
        stats=predicted.STAT_COLUMNS), also_hide=np.array([key in hidden for key in keys]))
    names = (municipality_year.sort_values("aar").groupby("kommnr_2020", as_index=False)
             [["kommunenavn", "sentralitetsklasse", "sentralitetsindeks"]].last())
    record(settings.paths.run_log, STAGE, "suppressed", output="kommune_observert_predikert.csv",
           cells=len(hidden))
    return [write_csv(released_table, settings.paths.tables / "kommune_observert_predikert.csv"),
            write_csv(names, settings.paths.tables / "kommuner.csv")]


def published_rates(cells: pd.DataFrame, *, total_band: str, decimals: int) -> pd.DataFrame:
    """Observed and predicted rates as shares are published (`share_decimals`), a band's gap from the two
    published rates; the total band's gap keeps two decimals: it is the published contribution minus
    the published mean (models/predicted.py), so it tells a reader nothing new."""
    observed = disclosure.round_share(cells["observed_pct"], decimals)
    predicted_rate = disclosure.round_share(cells["predicted_pct"], decimals)
    total = (cells["botid"] == total_band).to_numpy()
    gap = np.where(total, np.round(cells["gap_pp"].to_numpy(dtype=float), 2), observed - predicted_rate)
    return cells.assign(observed_pct=observed, predicted_pct=predicted_rate, gap_pp=gap)
