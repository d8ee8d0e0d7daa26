"""The `bench` command: generate synthetic data once, time every stage, compare the models with pyfixest.

Every step of `all` (pipeline/run_all.py) runs in this process under a `StageMeter` (wall time, and peak
resident memory reset before each stage). The comparisons fit the same design with the project's
estimators and with pyfixest.feols.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import CATEGORIES, Settings, load_settings
from pipeline.runlog import StageMeter

SHAPLEY_SUBSETS_TIMED = 6


def best_of(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return float(best)


def pyfixest_comparison(settings: Settings, *, repeat: int = 3) -> dict[str, float]:
    """Seconds for the fig 3.15 full model, the FE model and the R² decomposition, ours and pyfixest's."""
    import warnings

    import pyfixest as pf

    warnings.filterwarnings("ignore", module="pyfixest")

    from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, build_design, regression_sample
    from models.fixed_effects import fit_absorbed
    from models.ols import fit_ols
    from pipeline.estimate import r2_decomposition_frame

    person_year = pd.read_parquet(settings.paths.person_year)
    blocks = tuple(b.column for b in INDIVIDUAL_BLOCKS)
    sample, _ = regression_sample(person_year, min_age=settings.min_age, max_age=settings.max_age,
                                  categories=CATEGORIES, require=(*blocks, MUNICIPALITY_FE))
    design = build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE)
    frame = pd.DataFrame(design.X, columns=[f"x{j}" for j in range(design.X.shape[1])])
    frame["y"], frame["person"], frame["kommune"] = design.y, design.cluster, design.fe
    regressors = " + ".join(frame.columns[: design.X.shape[1]])
    out: dict[str, float] = {"n_person_years": design.n_obs, "n_persons": design.n_clusters,
                             "n_columns": design.X.shape[1]}

    out["full_model_ours"] = best_of(lambda: fit_ols(
        design.y, design.X, terms=design.terms, cluster=design.cluster, n_clusters=design.n_clusters,
        vcov="CR1").std_errors, repeat)
    out["full_model_pyfixest"] = best_of(
        lambda: pf.feols(f"y ~ {regressors}", data=frame, vcov={"CRV1": "person"}).se(), repeat)
    out["fe_model_ours"] = best_of(lambda: fit_absorbed(
        design.y, design.X, design.fe, terms=design.terms, fe_levels=design.fe_levels, cluster=design.cluster,
        n_clusters=design.n_clusters, vcov="CR1"), repeat)
    out["fe_model_pyfixest"] = best_of(
        lambda: pf.feols(f"y ~ {regressors} | kommune", data=frame, vcov={"CRV1": "person"},
                         fixef_rm="none").se(), repeat)

    # decomposition: ours over 16 samples x 1,024 subsets, against refitting subsets with pyfixest
    out["decomposition_ours"] = best_of(lambda: r2_decomposition_frame(sample, policy=settings.disclosure), 1)
    rng = np.random.default_rng(0)
    n_blocks = len(design.blocks)
    per_fit = []
    for _ in range(SHAPLEY_SUBSETS_TIMED):
        chosen = [b for b in range(n_blocks) if rng.random() < 0.5] or [0]
        cols = design.columns_of([design.blocks[b].name for b in chosen])
        formula = "y ~ " + " + ".join(f"x{j}" for j in cols) + (" | kommune" if rng.random() < 0.5 else "")
        start = time.perf_counter()
        pf.feols(formula, data=frame, vcov="iid", fixef_rm="none")
        per_fit.append(time.perf_counter() - start)
    n_fits = 16 * 2 ** (n_blocks + 1)   # 16 samples, 2^10 subsets of ten blocks (FE is the tenth)
    out["decomposition_pyfixest_extrapolated"] = float(np.median(per_fit) * n_fits)
    out["decomposition_pyfixest_fits"] = n_fits
    return out


def print_table(stages: list[dict], comparison: dict[str, float], header: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Steps of `all`, scale {header['scale']} ({header['cores']} cores, {header['machine']})")
    for column in ("step", "seconds", "peak MiB"):
        table.add_column(column, justify="right" if column != "step" else "left")
    for row in stages:
        name = "  " * row["depth"] + row["stage"].rsplit("/", 1)[-1]
        table.add_row(name, f"{row['seconds']:.2f}", f"{row['peak_mib']:.0f}" if row["peak_mib"] else "-")
    table.add_row("all, after generation", f"{header['all_seconds']:.2f}", f"{header['all_peak_mib']:.0f}")
    table.add_row("worker processes (largest)", "", f"{header['workers_peak_mib']:.0f}")
    console.print(table)
    if comparison:
        models = Table(title=f"Models against pyfixest ({comparison['n_person_years']:,} person-years, "
                             f"{comparison['n_columns']} columns)")
        for column in ("model", "ours s", "pyfixest s", "pyfixest / ours"):
            models.add_column(column, justify="right" if column != "model" else "left")
        for name, label in (("full_model", "fig 3.15 model 9 (CR1)"), ("fe_model", "municipality FE (CR1)"),
                            ("decomposition", "fig 3.16, 16 samples x 1,024 subsets")):
            ours = comparison[f"{name}_ours"]
            theirs = comparison.get(f"{name}_pyfixest", comparison.get(f"{name}_pyfixest_extrapolated"))
            models.add_row(label, f"{ours:.3f}", f"{theirs:.3f}", f"{theirs / ours:.1f}x")
        console.print(models)


def in_run_order(stages: list[dict], prefix: str = "", depth: int = 0) -> list[dict]:
    """Stages as they started: each step followed by its sub-steps (the meter lists them as they end)."""
    ordered = []
    for row in stages:
        if row["depth"] == depth and row["stage"].startswith(prefix):
            ordered += [row, *in_run_order(stages, row["stage"] + "/", depth + 1)]
    return ordered


def children_peak_mib() -> float:
    """Peak resident memory of the largest finished child process, in MiB: the workers forked by figures,
    report and disclosure-check (pipeline/background.py), the pages they share with this process included."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run(*, scale: float, seed: int, root: Path, json_path: Path | None = None, compare: bool = True,
        command: str = "bench", notify=lambda message: None) -> dict:
    """Generate (once per scale and seed), run every step of `all` under a meter, compare, print, return.

    The steps come from pipeline/run_all.py, the list `all` runs. The data, work and output directories
    under `root` are locked for the whole run.
    """
    from data_synthetic.generate import run as generate
    from pipeline import run_all
    from pipeline.lock import LockedDirectory, hold, stage_directories

    root = Path(root).resolve()
    data = root / f"data_scale{scale}_seed{seed}"
    settings = load_settings(input=data, work=root / "work", out=root / "out")
    directories = [LockedDirectory("bench data", data), *stage_directories(settings.paths)]
    with hold(directories, command=command, notify=notify):
        generation = StageMeter()
        if not (data / "truth.json").exists():
            with generation.stage("synth"):
                generate(data, scale=scale, seed=seed)
        meter = StageMeter(settings.paths.run_log)
        start = time.perf_counter()
        results = run_all.run(settings, meter=meter)
        all_seconds = time.perf_counter() - start
        comparison = pyfixest_comparison(settings) if compare else {}
    steps = [row for row in meter.stages if row["depth"] == 0]
    header = {"scale": scale, "seed": seed, "cores": os.cpu_count(), "machine": platform.machine(),
              "python": platform.python_version(), "load_average": os.getloadavg(),
              "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
              "all_seconds": all_seconds, "all_peak_mib": max((r["peak_mib"] or 0) for r in steps),
              "workers_peak_mib": children_peak_mib()}
    result = {**header, "generation": generation.stages, "stages": meter.stages,
              "disclosure_problems": results["disclosure-check"], "comparison": comparison}
    print_table(in_run_order(meter.stages), comparison, header)
    text = json.dumps(result, indent=2, default=float)
    print(text)
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    return result
