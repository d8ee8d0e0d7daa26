"""Render every figure it has a releasable table for (figures/), as PNG + PDF in settings.paths.figures.

Figures are drawn only from the releasable CSVs in settings.paths.tables, so a suppressed cell (the
marker) can only ever be a missing point.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from figures import contributions, descriptive, fonts, municipal, regression, robustness, style
from pipeline import background, disclosure, runlog
from pipeline.config import Settings

STAGE = "figures"
# figure id -> (source table stem, figure function, numeric columns of the table)
FIGURES: dict[str, tuple[str, Callable[..., Figure], tuple[str, ...]]] = {
    "fig3_01": ("fig3_01", descriptive.fig3_01, ("n_persons",)),
    **{f"fig3_{i:02d}": (f"fig3_{i:02d}", getattr(descriptive, f"fig3_{i:02d}"), ("share_pct", "n_persons"))
       for i in range(2, 8)},
    **{f"fig3_{i:02d}": (f"fig3_{i:02d}", getattr(descriptive, f"fig3_{i:02d}"),
                         ("share_pct", "n_persons", "n_person_years")) for i in range(8, 15)},
    "fig3_15": ("fig3_15_coefficients", regression.fig3_15, ("estimate", "std_error", "ci_low", "ci_high")),
    "fig3_16": ("fig3_16_r2_decomposition", regression.fig3_16, ("r2_share", "r2_total")),
    "fig3_17": ("fig3_17", municipal.fig3_17, ("n_persons", "per_1000", "befolkning_ref")),
    **{f"fig3_{i}": (f"fig3_{i}", getattr(municipal, f"fig3_{i}"),
                     ("group_mean", "overall_mean", "deviation", "deviation_pct")) for i in (18, 19, 20)},
    **{f"kommunebidrag_caterpillar_{g}": ("kommunebidrag", getattr(contributions, f"caterpillar_{g}"),
                                          contributions.NUMERIC_COLUMNS) for g in contributions.GROUPS},
    "kommunebidrag_funnel": ("kommunebidrag", contributions.funnel, contributions.NUMERIC_COLUMNS),
    "robustness": ("robustness", robustness.robustness, ("estimate", "std_error", "n_person_years", "n_persons")),
    "kommunebidrag_kohorter": ("kommunebidrag_kohorter", robustness.cohort_stability,
                               ("estimate", "std_error", "n_persons", "n_person_years")),
}


def read_releasable(path: Path, numeric: tuple[str, ...], *, marker: str) -> pd.DataFrame:
    """Read a releasable CSV: keys as text (leading zeros kept), `numeric` columns as float with NaN for the marker."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = frame.replace({"": pd.NA}) if len(frame) else frame
    return disclosure.to_numeric(frame, numeric, marker=marker)


def render_figure(figure_id: str, frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Build one figure from its releasable table."""
    _, function, _ = FIGURES[figure_id]
    return function(frame, language=language)


# The slowest figures (about three times the others at scale 1.0), drawn first so that the two
# processes drawing the figures end together.
SLOWEST_FIRST = ("kommunebidrag_funnel", "robustness", "fig3_16")


def render_one(figure_id: str, source: Path, target: Path, marker: str, language: str) -> list[Path]:
    """Read one releasable table, draw its figure, save PNG + PDF; an error names the figure."""
    _, function, numeric = FIGURES[figure_id]
    try:
        frame = read_releasable(source, numeric, marker=marker)
        return style.save_figure(function(frame, language=language), target)
    except Exception as exc:
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise RuntimeError(f"figure {figure_id} (from {source}) could not be drawn: {type(exc).__name__}: {exc} "
                           f"({Path(where.filename).name}, line {where.lineno})") from exc


def drawing_order(figure_ids: list[str]) -> list[str]:
    """The slowest figures first, then the others in the order of FIGURES."""
    return sorted(figure_ids, key=lambda f: SLOWEST_FIRST.index(f) if f in SLOWEST_FIRST else len(SLOWEST_FIRST))


def run(settings: Settings) -> list[Path]:
    """Render each figure whose table exists in settings.paths.tables; return the files written, in the
    order of FIGURES. The figures are independent: this process and a forked one draw them together."""
    style.check_language(settings.language)
    jobs = {}
    for figure_id, (stem, _, _) in FIGURES.items():
        source = settings.paths.tables / f"{stem}.csv"
        if not source.exists():
            runlog.record(settings.paths.run_log, STAGE, "skipped", output=figure_id, reason="no table")
            continue
        jobs[figure_id] = (figure_id, source, settings.paths.figures / figure_id, settings.suppression_marker,
                           settings.language)
    order = drawing_order(list(jobs))
    fonts.family()   # the figures' font is cut (once) and registered before the drawing process forks
    _, drawn = background.share(lambda figure_id: render_one(*jobs[figure_id]), order, name="figures",
                                processes=settings.duckdb_threads)
    written = dict(zip(order, drawn))
    return [path for figure_id in jobs for path in written[figure_id]]
