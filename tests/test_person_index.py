"""The dense person index (pipeline/registers/person_index.py): both encodings give the same panel, and the checks
made with the integer one in the pass over the registers catch every unknown person and duplicate that
the exact joins would."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.errors import EXIT_CODES
from pipeline.registers import person_index
from tests.extracts import tiny_extract, write_extract

runner = CliRunner()
ID_COLUMNS = {"personer": ("lopenr", "mor_lopenr", "far_lopenr"), "familie": ("lopenr", "partner_lopenr"),
              "bosted": ("lopenr",), "inntekt": ("lopenr",), "utdanning": ("lopenr",)}


def numbered(tables: dict[str, pd.DataFrame]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The tiny extract with its lopenr ("R1", "N2", ...) replaced by canonical numbers from 7001 on."""
    numbers = {lopenr: str(7001 + i) for i, lopenr in enumerate(tables["personer"]["lopenr"])}
    out = {}
    for name, frame in tables.items():
        frame = frame.copy()
        for column in ID_COLUMNS.get(name, ()):
            frame[column] = frame[column].map(lambda v: numbers.get(v, v))
        out[name] = frame
    return out, numbers


def run_panel(base: Path, tables: dict[str, pd.DataFrame]):
    write_extract(base / "in", tables, fmt="parquet")
    return runner.invoke(app, ["panel", "--input", str(base / "in"), "--work", str(base / "work"),
                               "--out", str(base / "out")])


def index_of(lopenr: list[str]) -> person_index.PersonIndex:
    con = duckdb.connect()
    con.execute("create table stg_personer as select unnest(?) as lopenr", [lopenr])
    return person_index.build(con)


def test_canonical_compact_numbers_are_their_own_index_and_anything_else_a_dictionary():
    assert index_of(["12", "10", "11"]) == person_index.PersonIndex(size=3, offset=10)
    for ids in (["R1", "R2"], ["010", "011"], ["+5", "6"], ["1", str(10 ** 12)]):
        assert index_of(ids).offset is None, ids


def test_integer_and_dictionary_indexes_give_the_same_panel_and_municipality_table(tmp_path):
    tables = tiny_extract()
    numeric, numbers = numbered(tables)
    assert index_of(list(tables["personer"]["lopenr"])).offset is None
    assert index_of(list(numbers.values())).offset == 7001
    for base, extract in (("text", tables), ("numbers", numeric)):
        result = run_panel(tmp_path / base, extract)
        assert result.exit_code == 0, result.stderr
    text, numbered_panel = (tmp_path / "text/work/panel", tmp_path / "numbers/work/panel")
    for name in ("person_year", "refugees"):
        expected = pd.read_parquet(text / f"{name}.parquet")
        expected["lopenr"] = expected["lopenr"].map(numbers)
        got = pd.read_parquet(numbered_panel / f"{name}.parquet")
        pd.testing.assert_frame_equal(got.sort_values(["lopenr"] + (["aar"] if "aar" in got else []))
                                      .reset_index(drop=True),
                                      expected.sort_values(["lopenr"] + (["aar"] if "aar" in got else []))
                                      .reset_index(drop=True))
    pd.testing.assert_frame_equal(pd.read_parquet(numbered_panel / "municipality_year.parquet"),
                                  pd.read_parquet(text / "municipality_year.parquet"))


def set_lopenr(table: str, row: int, value: str):
    def change(tables):
        tables[table].loc[row, "lopenr"] = value
        return tables
    return change


def append_row(table: str, row: int):
    def change(tables):
        tables[table] = pd.concat([tables[table], tables[table].iloc[[row]]], ignore_index=True)
        return tables
    return change


INTEGER_CASES = {
    # lopenr 7001 is a person; 7001 written otherwise, ids between or beyond personer's are not
    "leading zero": ("unknown_person", "inntekt", set_lopenr("inntekt", 0, "07001")),
    "sign": ("unknown_person", "bosted", set_lopenr("bosted", 0, "+7001")),
    "gap inside the range": ("unknown_person", "utdanning", None),
    "beyond the range": ("unknown_person", "familie", set_lopenr("familie", 0, "99999999999")),
    "duplicate person-year": ("duplicate_key", "bosted", append_row("bosted", 3)),
    "duplicate with a year no register holds": ("duplicate_key", "inntekt", None),
}


@pytest.mark.parametrize("case", list(INTEGER_CASES))
def test_the_integer_index_refuses_what_the_exact_checks_refuse(tmp_path, case):
    kind, table, change = INTEGER_CASES[case]
    tables, numbers = numbered(tiny_extract())
    if case == "gap inside the range":  # drop a person in the middle of the range from personer only
        gone = numbers["N1"]
        tables = {n: f[~f["lopenr"].eq(gone)] if n in ID_COLUMNS else f for n, f in tables.items()}
        tables["utdanning"] = pd.concat([tables["utdanning"], tables["utdanning"].iloc[[0]].assign(lopenr=gone)],
                                        ignore_index=True)
    elif case == "duplicate with a year no register holds":  # outside the study years: the exact check after the pass
        row = tables["inntekt"].iloc[[0]].assign(aar=1700)
        tables["inntekt"] = pd.concat([tables["inntekt"], row, row], ignore_index=True)
    else:
        tables = change(tables)
    result = run_panel(tmp_path, tables)
    assert result.exit_code == EXIT_CODES[kind], result.stderr
    assert f"Refused ({kind}" in result.stderr and table in result.stderr
