"""A simulated panel written where the stages after `panel` read it, for tests of those stages."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.simulate import simulate_panel
from pipeline.config import Settings, load_settings


def small_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(person_year, municipality_year): 6,000 persons in 60 municipalities, seed 11."""
    return simulate_panel(6000, n_municipalities=60, seed=11)


def settings_with_panel(root: Path, person_year: pd.DataFrame, municipality_year: pd.DataFrame,
                        **overrides) -> Settings:
    """Settings with input, work and out under `root`, the two panel tables in WORK."""
    settings = load_settings(input=root / "input", work=root / "work", out=root / "out", **overrides)
    settings.paths.panel_dir.mkdir(parents=True, exist_ok=True)
    person_year.to_parquet(settings.paths.person_year, index=False)
    municipality_year.to_parquet(settings.paths.municipality_year, index=False)
    return settings
