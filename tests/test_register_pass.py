"""The one pass over the registers makes their load checks (pipeline/registers/municipalities.py, RowScreen): a
problem found in any batch, early or late, within a batch or across two, ends in the refusal the exact
queries give; rows of years outside the study are accepted, and checked by the exact queries."""
from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import EXIT_CODES
from pipeline.registers import municipalities
from tests.extracts import tiny_extract
from tests.test_person_index import numbered, run_panel


def duplicate(table: str, row: int, at_end: bool):
    """A copy of `row`, next to it (one batch) or at the end of the table (another batch)."""
    def change(tables):
        frame = tables[table]
        copy = frame.iloc[[row]]
        parts = [frame, copy] if at_end else [frame.iloc[:row + 1], copy, frame.iloc[row + 1:]]
        tables[table] = pd.concat(parts, ignore_index=True)
        return tables
    return change


def set_last(table: str, column: str, value):
    def change(tables):
        tables[table][column] = tables[table][column].astype(object)
        tables[table].loc[tables[table].index[-1], column] = value
        return tables
    return change


def append_year(table: str, row: int, year: int, copies: int = 1):
    def change(tables):
        extra = tables[table].iloc[[row] * copies].assign(aar=year)
        tables[table] = pd.concat([tables[table], extra], ignore_index=True)
        return tables
    return change


CASES = {
    "bosted duplicate in one batch": ("duplicate_key", "bosted", duplicate("bosted", 3, at_end=False)),
    "bosted duplicate in two batches": ("duplicate_key", "bosted", duplicate("bosted", 3, at_end=True)),
    "inntekt duplicate in two batches": ("duplicate_key", "inntekt", duplicate("inntekt", 0, at_end=True)),
    "utdanning duplicate in one batch": ("duplicate_key", "utdanning", duplicate("utdanning", 0, at_end=False)),
    "familie duplicate in two batches": ("duplicate_key", "familie", duplicate("familie", 0, at_end=True)),
    "missing value in the last batch": ("missing_value", "inntekt", set_last("inntekt", "yrkinnt", None)),
    "unknown person in the last batch": ("unknown_person", "utdanning", set_last("utdanning", "lopenr", "7777")),
    "unknown code in the last batch": ("unknown_kommnr", "bosted", set_last("bosted", "kommnr", "9876")),
    "duplicate of a year outside the study": ("duplicate_key", "inntekt", append_year("inntekt", 0, 2005, 2)),
    "impossible year": ("year_outside_study", "bosted", append_year("bosted", 0, 1700)),
}


@pytest.fixture(params=[2, 1 << 21], ids=["batches of 2 rows", "one batch"])
def batch_rows(request, monkeypatch):
    monkeypatch.setattr(municipalities, "BATCH_ROWS", request.param)
    return request.param


@pytest.mark.parametrize("case", list(CASES))
def test_the_pass_refuses_what_the_exact_checks_refuse(tmp_path, batch_rows, case):
    kind, table, change = CASES[case]
    tables, _ = numbered(tiny_extract())
    result = run_panel(tmp_path, change(tables))
    assert result.exit_code == EXIT_CODES[kind], result.stderr
    assert f"Refused ({kind}" in result.stderr and table in result.stderr
    assert not (tmp_path / "work" / "panel" / "person_year.parquet").exists()


def test_rows_of_years_outside_the_study_are_accepted_and_change_nothing(tmp_path, batch_rows):
    tables, _ = numbered(tiny_extract())
    assert run_panel(tmp_path / "plain", tables).exit_code == 0
    for name in ("bosted", "inntekt", "utdanning", "familie"):
        tables = append_year(name, 0, 2005)(tables)
    result = run_panel(tmp_path / "wider", tables)
    assert result.exit_code == 0, result.stderr
    for name in ("person_year", "refugees", "municipality_year"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"wider/work/panel/{name}.parquet"),
                                      pd.read_parquet(tmp_path / f"plain/work/panel/{name}.parquet"))


def test_the_pass_reads_every_yearly_table_of_the_contract():
    from pipeline.registers.contract import TABLES

    assert set(municipalities.REGISTERS) == {name for name, table in TABLES.items() if table.yearly}


def test_the_harmonisation_summary_counts_the_residence_rows_and_codes_of_the_study_years(tmp_path):
    from pipeline.config import load_settings
    from pipeline.registers.stage import build_panel
    from tests.extracts import write_extract

    tables, _ = numbered(tiny_extract())
    tables = append_year("bosted", 0, 2005)(tables)   # a row before the study: counted in, not harmonised
    write_extract(tmp_path / "in", tables, fmt="parquet")
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    summary = build_panel(settings)["harmonise"]

    bosted, crosswalk = tables["bosted"], tables["kommuneendringer"]
    study = bosted[bosted["aar"].between(settings.first_year, settings.last_year)]
    matched = study.astype({"aar": int, "kommnr": str}).merge(
        crosswalk.astype({"aar": int, "kommnr": str}), on=["aar", "kommnr"], how="left")
    assert matched["kommnr_2020"].notna().all()
    assert summary == {"bosted_rows": len(bosted), "rows_in_study_years": len(study),
                       "codes_used": study["kommnr"].nunique(),
                       "municipalities_2020": matched["kommnr_2020"].nunique()}
    assert len(study) < len(bosted)
