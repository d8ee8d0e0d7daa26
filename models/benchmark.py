"""Timings of the estimators on a simulated panel of the report's size (methods.md §1: ~350k
person-years, ~69k persons, 356 municipalities). Used by the `bench` command; no I/O."""
from __future__ import annotations

import time

import numpy as np

from models.design import INDIVIDUAL_BLOCKS, MUNICIPALITY_FE, build_design, regression_sample
from models.fixed_effects import fit_absorbed, normalise_effects
from models.ols import fit_ols, fit_ols_subsets
from models.simulate import simulate_panel


def _seconds(fn, repeat: int) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def run_benchmark(*, n_persons: int = 82_000, seed: int = 1, repeat: int = 3,
                  compare_pyfixest: bool = True) -> dict[str, float]:
    """Best-of-`repeat` wall seconds per step; keys name the step."""
    from pipeline.estimate import r2_decomposition_frame  # the stage composes the decomposition

    person_year, _ = simulate_panel(n_persons, seed=seed)
    sample, _ = regression_sample(person_year, min_age=20, max_age=69)
    timings: dict[str, float] = {"n_person_years": float(len(sample)), "n_persons": float(sample["lopenr"].nunique())}
    timings["build_design"], design = _seconds(lambda: build_design(sample, INDIVIDUAL_BLOCKS, fe_column=MUNICIPALITY_FE), 1)
    timings["n_columns"] = float(design.X.shape[1])
    subsets = [design.columns_of([b.name for b in design.blocks[:m]]) for m in range(1, 10)]
    for m, cols in enumerate(subsets, start=1):
        timings[f"fig3_15_model{m}"], _ = _seconds(
            lambda cols=cols: fit_ols(design.y, design.X[:, cols], cluster=design.cluster, n_clusters=design.n_clusters),
            repeat)
    timings["fig3_15_all_nine_shared_gram"], _ = _seconds(
        lambda: fit_ols_subsets(design.y, design.X, subsets, cluster=design.cluster, n_clusters=design.n_clusters),
        repeat)
    timings["fe_model_with_effects"], _ = _seconds(lambda: normalise_effects(
        fit_absorbed(design.y, design.X, design.fe, fe_levels=design.fe_levels, cluster=design.cluster,
                     n_clusters=design.n_clusters), normalisation="reference", reference="0301"), repeat)
    timings["fig3_16_decomposition_16_samples"], _ = _seconds(
        lambda: r2_decomposition_frame(sample, min_persons=30, marker="x"), 1)
    if compare_pyfixest:
        try:
            import pandas as pd
            import pyfixest as pf
        except ImportError:  # pragma: no cover
            return timings
        frame = pd.DataFrame(design.X, columns=[f"x{j}" for j in range(design.X.shape[1])])
        frame["y"], frame["person"], frame["kommune"] = design.y, design.cluster, design.fe
        formula = "y ~ " + " + ".join(f"x{j}" for j in range(design.X.shape[1])) + " | kommune"
        timings["pyfixest_feols_same_design"], _ = _seconds(
            lambda: pf.feols(formula, data=frame, vcov={"CRV1": "person"}, fixef_rm="none").se(), repeat)
    return timings
