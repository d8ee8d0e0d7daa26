"""Calibration check of the synthetic data: tables 3.2 and 3.3 over every municipality with a contribution.

The report's tables 3.2 and 3.3 use every municipality with a contribution (344 / 311 / 330 / 349); the
released tables use only the releasable ones (pipeline/estimate.py explains why). To calibrate the
synthetic data against the report's spreads and counts, this check recomputes both tables from the work
directory's unsuppressed contributions (`WORK/estimates/kommunebidrag_full.parquet`) and compares them with
the published numbers. It reads confidential work files and writes under WORK: for synthetic data only,
never for release.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.second_stage import characteristic_levels, characteristics_frame
from pipeline import compare, estimate
from pipeline.config import PUBLISHED_NUMBERS, Settings
from pipeline.io import private_dir, write_csv, write_text

TABLES = ("table3_2.csv", "table3_3.csv")


def all_municipality_tables(full: pd.DataFrame, municipality_year: pd.DataFrame, *, year: int,
                            language: str) -> dict[str, pd.DataFrame]:
    """Tables 3.2 and 3.3 over every municipality with a contribution, as the pipeline computes them."""
    chars = characteristics_frame(municipality_year, year=year)
    levels = characteristic_levels(municipality_year, year=year)
    return {"table3_2.csv": estimate.table3_2(full, levels, language=language),
            "table3_3.csv": estimate.table3_3(full, chars)}


def run(settings: Settings, *, published_path: Path = PUBLISHED_NUMBERS) -> list[Path]:
    """Compare the all-municipality tables 3.2 and 3.3 with the published numbers; write under WORK."""
    paths = settings.paths
    published = compare.read_published(published_path)
    published = published.loc[published["output"].isin(TABLES)]
    full = pd.read_parquet(paths.estimates_dir / "kommunebidrag_full.parquet")
    municipality_year = pd.read_parquet(paths.municipality_year)
    tables = all_municipality_tables(full, municipality_year, year=settings.characteristics_year,
                                     language=settings.language)
    comparison = compare.compare(published, tables, marker=settings.suppression_marker)
    private_dir(paths.work)
    private_dir(paths.calibration_comparison_csv.parent)
    return [write_csv(comparison, paths.calibration_comparison_csv),
            write_text(compare.markdown(comparison, out_dir=f"{paths.work} (all municipalities, work files)"),
                       paths.calibration_comparison_md)]
