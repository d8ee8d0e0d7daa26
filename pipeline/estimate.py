"""Stage `estimate`: fig 3.15 models, fig 3.16 R² decomposition, municipality contributions,
tables 3.2 and 3.3 (methods.md §6). Reads the work panel, writes tables under settings.paths.tables
and the unsuppressed contributions under settings.paths.estimates_dir (confidential work dir).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from models import formatting as fmt
from models.design import (
    CLUSTER, INDIVIDUAL_BLOCKS, MODEL_NAMES, MUNICIPALITY_BLOCK_LABELS, MUNICIPALITY_BLOCK_NAME,
    MUNICIPALITY_FE, Design, build_design, regression_sample,
)
from models.fixed_effects import fit_absorbed, normalise_effects
from models.ols import OLSResult, fit_ols_subsets
from models.second_stage import CHARACTERISTICS, characteristic_levels, characteristics_frame, second_stage
from models.shapley import r2_decomposition
from models.vcov import group_sums
from pipeline.config import CATEGORIES, Settings
from pipeline.disclosure import suppress
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

def successive_models(design: Design) -> list[OLSResult]:
    """Model m = OLS of the outcome on blocks 1..m (methods.md §6, fig 3.15), CR1 by person."""
    subsets = [design.columns_of([b.name for b in design.blocks[:m]]) for m in range(1, len(design.blocks) + 1)]
    return fit_ols_subsets(design.y, design.X, subsets, terms=design.terms, cluster=design.cluster,
                           n_clusters=design.n_clusters, vcov="CR1")


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


def coefficient_frame(results: list[OLSResult], design: Design, *, min_persons: int, marker: str) -> pd.DataFrame:
    """fig3_15_coefficients.csv: one row per model × term, estimates in pp; dummies for levels held
    by fewer than `min_persons` persons are suppressed (estimate, SE, CI → marker). A block whose
    reference level is that small has all its dummies and the intercept suppressed: they are contrasts
    to, and the level of, a small group."""
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
            value_cols = ["estimate", "std_error", "ci_low", "ci_high"]
            table[value_cols] = table[value_cols].astype(object)
            table.loc[small, value_cols] = marker
        frames.append(table)
    # a sample of fewer than min_persons persons: every statistic and count of the model
    released, _ = suppress(pd.concat(frames, ignore_index=True), min_persons=min_persons, marker=marker,
                           stat_columns=["estimate", "std_error", "ci_low", "ci_high", "r2", "adj_r2"])
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

def decomposition_samples(sample: pd.DataFrame) -> list[tuple[str, str, str, np.ndarray]]:
    """(sample name, gruppe, botid label, row mask) for alle + each category × all botid, 3, 6, 9."""
    out = []
    kategori = sample["kategori"].to_numpy()
    botids = sample["botid"].to_numpy()
    for gruppe in ("alle", *CATEGORIES):
        in_group = np.ones(len(sample), dtype=bool) if gruppe == "alle" else kategori == gruppe
        for botid in DECOMPOSITION_BOTID:
            mask = in_group if botid is None else in_group & (botids == botid)
            name = gruppe if botid is None else f"{gruppe}_botid{botid}"
            out.append((name, gruppe, "alle" if botid is None else str(botid), mask))
    return out


def r2_decomposition_frame(sample: pd.DataFrame, *, min_persons: int, marker: str,
                           language: str = "no") -> pd.DataFrame:
    """fig3_16_r2_decomposition.csv: Shapley shares of R² over the ten blocks per sample.

    Samples with fewer than `min_persons` persons are not decomposed; their statistics and counts are
    written as the marker (pipeline/disclosure.suppress).
    """
    labels = {b.name: (b.label_no if language == "no" else b.label_en) for b in INDIVIDUAL_BLOCKS}
    labels[MUNICIPALITY_BLOCK_NAME] = MUNICIPALITY_BLOCK_LABELS[0 if language == "no" else 1]
    full = build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
    statistics = ["r2_share", "share_of_r2", "adj_r2_share", "r2_total", "adj_r2_total"]
    rows = []
    for name, gruppe, botid, mask in decomposition_samples(sample):
        common = {"sample": name, "gruppe": gruppe, "botid": botid}
        n_persons = int(np.unique(full.cluster[mask]).size)
        if n_persons < max(min_persons, 2):
            rows += [{**common, "block": block, "block_label": label, **dict.fromkeys(statistics, np.nan),
                      "n_person_years": int(mask.sum()), "n_persons": n_persons}
                     for block, label in labels.items()]
            continue
        design = full.rows(mask)
        dec = r2_decomposition(design.y, design.X, design.column_block, [b.name for b in design.blocks],
                               fe=design.fe, fe_name=MUNICIPALITY_BLOCK_NAME)
        for j, block in enumerate(dec.players):
            rows.append({**common, "block": block, "block_label": labels[block], "r2_share": dec.r2_share[j],
                         "share_of_r2": dec.r2_share[j] / dec.r2_total if dec.r2_total > 0 else np.nan,
                         "adj_r2_share": dec.adj_r2_share[j], "r2_total": dec.r2_total,
                         "adj_r2_total": dec.adj_r2_total, "n_person_years": dec.n_obs, "n_persons": n_persons})
    released, _ = suppress(pd.DataFrame(rows), stat_columns=statistics, min_persons=min_persons, marker=marker)
    return released


# --- municipality contributions -----------------------------------------------------------

def contribution_sample(sample: pd.DataFrame, gruppe: str, *, min_persons_municipality: int) -> pd.DataFrame:
    """Person-years of `gruppe` (or all) whose settlement municipality has enough persons in it."""
    rows = sample if gruppe == "alle" else sample.loc[sample["kategori"] == gruppe]
    persons = rows.groupby(MUNICIPALITY_FE, observed=True)[CLUSTER].nunique()
    keep = persons.index[persons >= min_persons_municipality]
    return rows.loc[rows[MUNICIPALITY_FE].isin(keep)]


def municipality_contributions(
    sample: pd.DataFrame, *, normalisation: str, reference: str, min_persons_municipality: int,
    min_persons: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Full model + settlement-municipality FE per group (methods.md §6); effects in pp.

    Under the "mean" normalisation the mean is taken over the municipalities with at least
    `min_persons` persons (the releasable ones), so that the released effects do not sum to minus
    the suppressed ones.

    Returns (kommunebidrag with gruppe, kommnr_2020, estimate, std_error, n_persons, n_person_years,
    normalisation; model summary per group with N, R², within R², seconds).
    """
    frames, summary = [], []
    for gruppe in GROUPS:
        part = contribution_sample(sample, gruppe, min_persons_municipality=min_persons_municipality)
        if part.empty:
            continue
        design = build_design(part, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
        with Timer() as timer:
            res = fit_absorbed(design.y, design.X, design.fe, terms=design.terms, fe_levels=design.fe_levels,
                               cluster=design.cluster, n_clusters=design.n_clusters, vcov="CR1")
        try:
            effects = normalise_effects(res, normalisation=normalisation, reference=reference,
                                        context=f"gruppe {gruppe!r} (botid 0..max)",
                                        mean_over=res.fe_n_clusters >= min_persons)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        frames.append(pd.DataFrame({
            "gruppe": gruppe, "kommnr_2020": effects["level"], "estimate": effects["estimate"] * PP,
            "std_error": effects["std_error"] * PP, "n_persons": effects["n_clusters"],
            "n_person_years": effects["n_obs"], "normalisation": _normalisation_label(normalisation, reference),
        }))
        summary.append({"gruppe": gruppe, "n_person_years": design.n_obs, "n_persons": design.n_clusters,
                        "n_municipalities": len(effects), "r2": res.ols.r2, "adj_r2": res.ols.adj_r2,
                        "r2_within": res.r2_within, "seconds": timer.seconds,
                        "dropped_terms": ";".join(res.ols.dropped)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(summary)


def _normalisation_label(normalisation: str, reference: str) -> str:
    return f"reference:{reference}" if normalisation == "reference" else "mean"


def suppress_contributions(full: pd.DataFrame, *, min_persons: int, marker: str) -> pd.DataFrame:
    """Releasable kommunebidrag: estimate, SE and counts → marker where fewer than `min_persons` persons."""
    out, _ = suppress(full, stat_columns=["estimate", "std_error"], min_persons=min_persons, marker=marker)
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


# --- the stage -------------------------------------------------------------------------------

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
    block_columns = [b.column for b in INDIVIDUAL_BLOCKS]

    # fig 3.15
    with meter.stage("fig3_15_models"):
        sample, dropped = regression_sample(person_year, min_age=settings.min_age, max_age=settings.max_age,
                                            categories=CATEGORIES, require=tuple(block_columns))
        design = build_design(sample, INDIVIDUAL_BLOCKS)
        results = successive_models(design)
        coefs = coefficient_frame(results, design, min_persons=settings.min_persons, marker=settings.suppression_marker)
    written.append(write_csv(coefs, tables / "fig3_15_coefficients.csv"))
    written.append(write_text(regression_table_text(coefs, kind="md", language=lang),
                              tables / "fig3_15_regression_table.md"))
    written.append(write_text(regression_table_text(coefs, kind="tex", language=lang),
                              tables / "fig3_15_regression_table.tex"))
    record(paths.run_log, STAGE, "fig3_15", seconds=round(meter.stages[-1]["seconds"], 3), n_person_years=design.n_obs,
           n_persons=design.n_clusters, rows_dropped_missing=dropped,
           suppressed_cells=int((coefs["estimate"] == settings.suppression_marker).sum()),
           dropped_collinear=sorted({t for r in results for t in r.dropped}))

    # fig 3.16
    with meter.stage("fig3_16_decomposition"):
        fe_sample, dropped_fe = regression_sample(person_year, min_age=settings.min_age, max_age=settings.max_age,
                                                  categories=CATEGORIES, require=(*block_columns, MUNICIPALITY_FE))
        decomposition = r2_decomposition_frame(fe_sample, min_persons=settings.min_persons,
                                               marker=settings.suppression_marker, language=lang)
    # 12 significant digits so that the written shares still add up to the written total
    written.append(write_csv(decomposition, tables / "fig3_16_r2_decomposition.csv", float_format="%.12g"))
    record(paths.run_log, STAGE, "fig3_16", seconds=round(meter.stages[-1]["seconds"], 3), n_samples=decomposition["sample"].nunique(),
           n_person_years=len(fe_sample), rows_dropped_missing=dropped_fe)

    # municipality contributions (botid 0..max_botid_contributions)
    with meter.stage("municipality_contributions"):
        contrib_rows, _ = regression_sample(fe_sample, min_age=settings.min_age, max_age=settings.max_age,
                                            max_botid=settings.max_botid_contributions)
        full, summary = municipality_contributions(
            contrib_rows, normalisation=settings.normalisation, reference=settings.reference_municipality,
            min_persons_municipality=settings.min_persons_municipality, min_persons=settings.min_persons)
    private_dir(paths.work)
    private_dir(paths.estimates_dir)
    written.append(write_parquet(full, paths.estimates_dir / "kommunebidrag_full.parquet", private=True))
    released = suppress_contributions(full, min_persons=settings.min_persons, marker=settings.suppression_marker)
    written.append(write_csv(released, tables / "kommunebidrag.csv"))
    record(paths.run_log, STAGE, "kommunebidrag", seconds=round(meter.stages[-1]["seconds"], 3),
           normalisation=_normalisation_label(settings.normalisation, settings.reference_municipality),
           suppressed_municipalities=int((full["n_persons"] < settings.min_persons).sum()),
           models=summary.to_dict(orient="records"))
    written += write_card_tables(settings, contrib_rows, full, municipality_year)

    # tables 3.2 and 3.3
    with meter.stage("second_stage"):
        chars = characteristics_frame(municipality_year, year=settings.characteristics_year)
        levels = characteristic_levels(municipality_year, year=settings.characteristics_year)
        # only releasable contributions: with the suppressed ones, tables 3.2 and 3.3 would give back
        # their sum, sum of squares and one linear equation per characteristic
        releasable = full.loc[full["n_persons"] >= settings.min_persons]
        t32 = table3_2(releasable, levels, language=lang)
        t33 = table3_3(releasable, chars)
    labels = {ch.name: (ch.label_no if lang == "no" else ch.label_en) for ch in CHARACTERISTICS}
    caption32 = "Tabell 3.2: kommunebidrag og kommunekjennetegn" if lang == "no" else \
        "Table 3.2: municipality contributions and characteristics"
    caption33 = "Tabell 3.3: kommunebidrag og kommunekjennetegn, bivariate regresjoner" if lang == "no" else \
        "Table 3.3: municipality contributions on characteristics, bivariate regressions"
    written.append(write_csv(t32, tables / "table3_2.csv"))
    written.append(write_text(fmt.summary_table(t32, kind="md", caption=caption32, language=lang), tables / "table3_2.md"))
    written.append(write_csv(t33, tables / "table3_3.csv"))
    for kind in ("md", "tex"):
        written.append(write_text(fmt.characteristic_table(t33, groups=list(GROUPS), group_labels=GROUP_LABELS[lang],
                                                           labels=labels, kind=kind, caption=caption33),
                                  tables / f"table3_3.{kind}"))
    record(paths.run_log, STAGE, "tables3_2_3_3", seconds=round(meter.stages[-1]["seconds"], 3),
           n_municipalities_characteristics=len(chars), year=settings.characteristics_year)
    return written


# --- observed against predicted per municipality and botid band (the municipality cards) ----------

def write_card_tables(settings: Settings, contrib_rows: pd.DataFrame, full: pd.DataFrame,
                      municipality_year: pd.DataFrame) -> list[Path]:
    """kommune_observert_predikert.csv (models/predicted.py) and kommuner.csv (names, centrality).

    Refits the kommunebidrag model of each group (the same sample and design) for β and the
    effects; the predicted rate adds the person-year-weighted mean effect over the municipalities
    whose contribution is released, so each released group total's gap equals its contribution
    minus that mean. Cells are released by predicted.suppressed_cells (primary and complementary).
    """
    from models import predicted

    bands = predicted.check_bands(settings.card_botid_bands, max_botid=settings.max_botid_contributions)
    labels = [predicted.band_label(lo, hi) for lo, hi in bands]
    total = predicted.band_label(0, settings.max_botid_contributions)
    municipalities = sorted(municipality_year["kommnr_2020"].astype(str).unique())
    frames, persons = [], {}
    for gruppe in GROUPS:
        part = contribution_sample(contrib_rows, gruppe, min_persons_municipality=settings.min_persons_municipality)
        if part.empty:
            continue
        design = build_design(part, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
        res = fit_absorbed(design.y, design.X, design.fe, terms=design.terms, fe_levels=design.fe_levels,
                           cluster=design.cluster, n_clusters=design.n_clusters, vcov="CR1")
        beta = pd.Series(res.ols.coef, index=list(res.ols.terms)).reindex(list(design.terms)).fillna(0.0)
        pred, alpha_bar = predicted.predicted_rates(design.X, beta.to_numpy(), alpha=res.fe_coef,
                                                    n_obs=res.fe_n_obs, mean_over=res.fe_n_clusters >= settings.min_persons)
        rows = pd.DataFrame({"kommnr_2020": design.fe_levels[design.fe].astype(str), "person": part[CLUSTER].to_numpy(),
                             "band": predicted.botid_band(part["botid"].to_numpy(), bands), "y": design.y,
                             "predicted": pred})
        cells, sets = predicted.gap_cells(rows, municipalities=municipalities, bands=labels, total_band=total)
        released = full.loc[(full["gruppe"] == gruppe) & (full["n_persons"] >= settings.min_persons)]
        mean_contribution = np.average(released["estimate"], weights=released["n_person_years"]) \
            if len(released) else np.nan
        cells.insert(0, "gruppe", gruppe)
        cells["contribution_mean_pp"] = mean_contribution
        frames.append(cells)
        persons.update({(gruppe, k, b): sets.get((k, b), frozenset()) for k in municipalities for b in [*labels, total]})
    table = pd.concat(frames, ignore_index=True)
    hidden = predicted.suppressed_cells(persons, bands=labels, total_band=total, min_persons=settings.min_persons)
    released_table = predicted.release_cells(table, hidden, marker=settings.suppression_marker)
    names = (municipality_year.sort_values("aar").groupby("kommnr_2020", as_index=False)
             [["kommunenavn", "sentralitetsklasse", "sentralitetsindeks"]].last())
    record(settings.paths.run_log, STAGE, "suppressed", output="kommune_observert_predikert.csv",
           cells=len(hidden))
    return [write_csv(released_table, settings.paths.tables / "kommune_observert_predikert.csv"),
            write_csv(names, settings.paths.tables / "kommuner.csv")]
