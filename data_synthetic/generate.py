"""Write a synthetic register extract following data-contract.md, plus truth.json with the planted DGP.

`run(out_dir, scale=..., seed=...)` is the entry point the CLI's `synth` command calls. Same seed and
scale give byte-identical files (pyarrow writer, no timestamps, fixed row order by lopenr then year).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_synthetic import parameters as P
from data_synthetic.geography import YEARS, build_geography
from data_synthetic.population import simulate
from data_synthetic.effects import SECOND_STAGE, characteristics, contribution_persons, municipality_effects
from data_synthetic.registers import (Context, arrival_covariates, general_draws, lopenr_array, personer_table,
                                      year_streams, year_tables)
from pipeline.config import REFERENCE_DATA_DIR
from pipeline.io import atomic_path, write_json

YEARLY_TABLES = ("bosted", "inntekt", "utdanning", "familie")


def grunnbelop(first_year: int, last_year: int) -> dict[int, int]:
    """G per year from the shipped official series (reference_data/grunnbelop.csv)."""
    with open(REFERENCE_DATA_DIR / "grunnbelop.csv", encoding="utf-8") as fh:
        rows = {int(r["aar"]): int(r["g"]) for r in csv.DictReader(fh)}
    return {y: rows[y] for y in range(first_year, last_year + 1)}


def _write_parquet(table: pa.Table, path: Path) -> Path:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def run(out_dir: Path, *, scale: float = 0.05, seed: int = 2024, first_year: int = 2010, last_year: int = 2020) -> list[Path]:
    """Generate the whole synthetic extract into `out_dir`; return the files written."""
    if (first_year, last_year) != (YEARS[0], YEARS[-1]):
        raise ValueError(f"the synthetic generator covers {YEARS[0]}-{YEARS[-1]}; got {first_year}-{last_year}")
    if not 0 < scale <= 5:
        raise ValueError(f"scale must be in (0, 5], got {scale}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    geo = build_geography()
    pop = simulate(geo, scale=scale, rng=rng)
    ids, rank = lopenr_array(pop.n, rng)
    order = np.argsort(rank, kind="stable")
    g = grunnbelop(first_year, last_year)
    ctx = Context(geo=geo, pop=pop, ids=ids, order=order, g=g, covariates=arrival_covariates(pop, geo),
                  eta=rng.standard_normal(pop.n))
    # the characteristics year's registers are drawn here and again (identically) when written
    chars = characteristics(ctx, general_draws(ctx, P.CHARACTERISTICS_YEAR, year_streams(seed, P.CHARACTERISTICS_YEAR)[0]))
    effects = municipality_effects(chars, contribution_persons(ctx, max_botid=P.CONTRIBUTION_MAX_BOTID), rng)
    ctx.alpha = effects["alpha"]

    written = [_write_parquet(personer_table(ctx), out_dir / "personer.parquet")]
    stats: dict = {}
    row_counts: dict[str, int] = {}
    with _YearlyWriters(out_dir) as writers:
        for t in YEARS:
            for name, table in year_tables(ctx, t, seed, stats).items():
                writers.write(name, table)
                row_counts[name] = row_counts.get(name, 0) + table.num_rows
        written += writers.paths()
    written += _reference_tables(geo, g, out_dir)
    truth = _truth(ctx, effects, chars, stats, scale=scale, seed=seed)
    truth["row_counts"] = {"personer": pop.n, **row_counts}
    written.append(write_json(truth, out_dir / "truth.json"))
    return written


class _YearlyWriters:
    """One Parquet file per yearly table, one row group per year, renamed into place on success."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.contexts: dict[str, object] = {}
        self.tmp: dict[str, Path] = {}

    def __enter__(self) -> "_YearlyWriters":
        return self

    def write(self, name: str, table: pa.Table) -> None:
        if name not in self.writers:
            ctx = atomic_path(self.out_dir / f"{name}.parquet")
            self.contexts[name] = ctx
            self.tmp[name] = ctx.__enter__()
            self.writers[name] = pq.ParquetWriter(self.tmp[name], table.schema, compression="zstd")
        self.writers[name].write_table(table)

    def paths(self) -> list[Path]:
        return [self.out_dir / f"{name}.parquet" for name in self.writers]

    def __exit__(self, *exc) -> None:
        for name, writer in self.writers.items():
            writer.close()
            self.contexts[name].__exit__(*exc)


def _reference_tables(geo, g: dict[int, int], out_dir: Path) -> list[Path]:
    k = geo.kommuner_2020
    ke = geo.kommuneendringer()
    ne = geo.naering_2010
    tables = {
        "kommuneendringer": pa.table({
            "aar": pa.array(ke["aar"].to_numpy(np.int32)), "kommnr": pa.array(ke["kommnr"].astype(object).tolist(), pa.string()),
            "kommnr_2020": pa.array(ke["kommnr_2020"].astype(object).tolist(), pa.string())}),
        "kommuner_2020": pa.table({
            "kommnr_2020": pa.array(k["kommnr_2020"].astype(object).tolist(), pa.string()),
            "kommunenavn": pa.array(k["kommunenavn"].astype(object).tolist(), pa.string()),
            "sentralitetsindeks": pa.array(k["sentralitetsindeks"].to_numpy(np.float64)),
            "sentralitetsklasse": pa.array(k["sentralitetsklasse"].to_numpy(np.int32)),
            "okonomisk_region": pa.array(k["okonomisk_region"].astype(object).tolist(), pa.string()),
            "sykehus_i_region": pa.array(k["sykehus_i_region"].to_numpy(bool))}),
        "naering_2010": pa.table({
            "kommnr_2020": pa.array(ne["kommnr_2020"].astype(object).tolist(), pa.string()),
            "naering": pa.array(ne["naering"].astype(object).tolist(), pa.string()),
            "sysselsatte": pa.array(ne["sysselsatte"].to_numpy(np.int64))}),
        "grunnbelop": pa.table({"aar": pa.array(np.array(list(g), np.int32)), "g": pa.array(np.array(list(g.values()), np.int64))}),
    }
    return [_write_parquet(tab, out_dir / f"{name}.parquet") for name, tab in tables.items()]


def _truth(ctx: Context, effects: dict, chars, stats: dict, *, scale: float, seed: int) -> dict:
    b = P.PLANTED
    codes = ctx.geo.kommuner_2020["kommnr_2020"].tolist()
    ref = codes.index("0301")
    c = ctx.pop.cols
    arrivals = {
        cat: np.bincount(c["innv_year"][c["category"] == i] - YEARS[0], minlength=len(YEARS)).tolist()
        for i, cat in enumerate(P.CATEGORY_NAMES)
    }
    by_code = lambda values: {code: float(v) for code, v in zip(codes, values)}
    alpha = effects["alpha"]
    spec = P.MUNICIPALITY_EFFECTS
    return {
        "description": "Planted parameters of the synthetic data (data_synthetic/DGP.md). Outcome scale: probability (0-1); "
                       "multiply by 100 for percentage points.",
        "seed": seed, "scale": scale,
        "model": "p = b0 + b_kategori + b_botid[botid] + b_country + b_innvandringsaar + b_age*a + b_age2*a^2 + b_sex "
                 "+ b_children + b_partner + b_education + alpha[kategori][bosettingskommune] + v_person; "
                 f"clipped to [{P.P_MIN}, {P.P_MAX}]; a = innvandringsaar - foedselsaar; reference levels have 0; "
                 "alpha = 0 without a settlement municipality",
        "sample": "refugee person-years (711, 712, 741-743 arriving 2010+), resident 1 January t with an income record for t, "
                  "botid = t - innvandringsaar - 1 >= 0, age t - foedselsaar in 20-69",
        "b0": b["b0"],
        "b_kategori": b["b_kategori"],
        "b_botid": {str(k): v for k, v in b["b_botid"].items()},
        "botid_note": "botid 10 (only 2010 arrivals in 2020) has its own level",
        "b_country": b["b_country"],
        "b_innvandringsaar": {str(k): v for k, v in b["b_innvandringsaar"].items()},
        "b_age": b["b_age"], "b_age2": b["b_age2"],
        "b_sex": {"1": b["b_sex"][1], "2": b["b_sex"][2]},
        "b_children": {"0": 0.0, "1": b["b_children"][1], "2": b["b_children"][2], "3+": b["b_children"][3]},
        "b_partner": {str(k): v for k, v in b["b_partner"].items()},
        "b_education": {str(k): v for k, v in b["b_education"].items()},
        "sd_person": b["sd_person"],
        "sd_person_note": "v_person ~ N(0, sd_person), independent of every regressor: a person-level random effect",
        "persistence": b["persistence"],
        "persistence_note": "y = 1 when Phi(sqrt(rho) eta_person + sqrt(1 - rho) e_year) < p: P(y = 1) = p each year, "
                            "one person's years correlated (rho = persistence)",
        "municipality_effects": {
            "formula": "alpha[c][m] = (sum_k gamma[c][k] (z_mk - mean_k) + u[c][m]) / 100, z the table 3.3 characteristics "
                       "of the characteristics year as the pipeline computes them; u orthogonal to z",
            "characteristics_year": P.CHARACTERISTICS_YEAR,
            "characteristics": {name: by_code(chars[name]) for name in SECOND_STAGE},
            "target_slopes_pp": {cat: {name: P.published_slopes()[cat][name][0] for name in SECOND_STAGE}
                                 for cat in P.CATEGORY_NAMES},
            "planted_slopes_pp": effects["slopes_planted"],
            "planted_over_municipalities": effects["municipalities"],
            "planted_over_note": "slopes planted (and u orthogonal to z) over the settlement municipalities with a person-year "
                                 f"of the category at botid 0-{P.CONTRIBUTION_MAX_BOTID} in the study sample",
            "gamma_pp": effects["gamma"], "ridge": effects["ridge"],
            "sd_u_pp": spec["sd_u"], "common_share": spec["common_share"], "max_fitted_sd_pp": spec["max_fitted_sd"],
            "alpha": {cat: by_code(alpha[i]) for i, cat in enumerate(P.CATEGORY_NAMES)},
            "alpha_mean_zero": {cat: by_code(alpha[i] - alpha[i].mean()) for i, cat in enumerate(P.CATEGORY_NAMES)},
            "alpha_reference_0301": {cat: by_code(alpha[i] - alpha[i][ref]) for i, cat in enumerate(P.CATEGORY_NAMES)},
            "u_pp": {cat: by_code(effects["u"][i]) for i, cat in enumerate(P.CATEGORY_NAMES)},
            "sd_alpha": {cat: float(alpha[i].std()) for i, cat in enumerate(P.CATEGORY_NAMES)},
        },
        "clipping": {"rows": stats.get("rows", 0), "clipped_rows": stats.get("clipped", 0),
                     "clipped_share": stats.get("clipped", 0) / max(stats.get("rows", 0), 1),
                     "mean_p": stats.get("sum_p", 0.0) / max(stats.get("rows", 0), 1)},
        "arrivals_by_year": {"years": list(YEARS), **arrivals},
        "realisation": "arbeid_utdanning = 1: employed (yrkinnt > G), in education (nus_igang) or both; "
                       "0: yrkinnt <= G (some 0, some exactly G, a few negative) and no ongoing education",
    }
