"""The `panel` stage runs on a crosswalk built from SSB's KLASS 131 files, with extracts that use old codes."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_settings
from pipeline.reference import build_reference_tables
from pipeline.registers.stage import build_panel
from tests.extracts import tiny_extract, write_extract

KLASS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "klass131"


@pytest.mark.skipif(not KLASS.exists(), reason="../shared/reference/klass131 is not present")
def test_panel_runs_on_the_klass_crosswalk_with_old_codes(tmp_path):
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    crosswalk, municipalities, _ = build_reference_tables(
        KLASS, first_year=settings.first_year, last_year=settings.last_year, splits=settings.splits)
    tables = tiny_extract()
    # the tiny extract's residences use 1601 (Trondheim to 2017), 1756 (Inderøy to 2017), 0101 (Halden to 2019)
    assert {"1601", "1756", "0101"} <= set(tables["bosted"].kommnr)
    tables["kommuneendringer"] = crosswalk
    tables["kommuner_2020"] = municipalities
    write_extract(settings.paths.input, tables)
    build_panel(settings)
    panel = pd.read_parquet(settings.paths.person_year)
    assert set(panel.loc[panel.lopenr == "R8", "kommnr_2020"]) == {"5053"}
    assert panel.loc[panel.lopenr == "R2", "bosettingskommune"].unique().tolist() == ["5001"]
    table = pd.read_parquet(settings.paths.municipality_year)
    assert table.kommnr_2020.nunique() == 356
    assert table.loc[(table.kommnr_2020 == "3001") & (table.aar == 2015), "befolkning"].item() == 3  # R4, R10, N2
