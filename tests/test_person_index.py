"""The dense person index (pipeline/registers/person_index.py): both encodings give the same panel, and the checks
made with the integer one in the pass over the registers catch every unknown person and duplicate that
the exact joins would."""
from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
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
    for ids in (["R1", "R2"], ["010", "011"], ["+5", "6"], ["1", str(10 ** 12)], ["-1", "0"],
                [str(10 ** 16), str(10 ** 16 + 1)]):
        assert index_of(ids).offset is None, ids


def test_canonical_numbers_by_hand():
    values = ["0", "7", "10", "7001", "12345678", "123456789", "1234567890123456", None, "", "007", "+7", "-7",
              " 7", "7 ", "1e2", "1_000", "0x10", "7.0", "１２", "12345678901234567", "1234567a", "a2345678"]
    expected = [0, 7, 10, 7001, 12345678, 123456789, 1234567890123456] + [-1] * 15
    got = person_index.canonical_numbers(pa.array(values, pa.string()))
    assert got.tolist() == expected
    # a slice of an array (its offsets start inside the data), and a batch of one width
    assert person_index.canonical_numbers(pa.array(values, pa.string()).slice(3, 3)).tolist() == [7001, 12345678,
                                                                                                123456789]
    assert person_index.canonical_numbers(pa.array(["87654321", "08765432", "8765432b"])).tolist() == [87654321, -1, -1]
    assert person_index.canonical_numbers(pa.array([None, None], pa.string())).tolist() == [-1, -1]
    assert person_index.canonical_numbers(pa.array([], pa.string())).tolist() == []


def test_canonical_numbers_equal_sql_canonical_number_on_random_text():
    """Against DuckDB's reading (canonical_number) of 20,000 values: numbers of 1-18 digits, some with a
    leading zero, a sign, a blank, a letter, a dot or an underscore in them, and nulls."""
    rng = np.random.default_rng(14)
    values = []
    for _ in range(20_000):
        text = "".join(rng.choice(list("0123456789"), size=rng.integers(1, 19)))
        kind = rng.integers(0, 8)
        if kind == 1:
            text = "0" + text
        elif kind == 2:
            position = rng.integers(0, len(text) + 1)
            text = text[:position] + str(rng.choice(list("+- ae._x"))) + text[position:]
        values.append(None if kind == 3 and rng.random() < 0.2 else text)
    con = duckdb.connect()
    con.execute("create table t as select unnest(?) as lopenr, generate_subscripts(?, 1) as i", [values, values])
    sql = con.execute(f"select {person_index.canonical_number('lopenr')} from t order by i").fetchnumpy()
    # negative numbers and those of more than MAX_DIGITS digits are left to the dictionary index
    limit = 10 ** person_index.MAX_DIGITS
    expected = [-1 if v is None or not 0 <= v < limit else int(v) for v in sql[next(iter(sql))].tolist()]
    assert sum(e >= 0 for e in expected) > 5_000
    for batch in (pa.array(values, pa.string()), pa.array(values, pa.large_string())):
        assert person_index.canonical_numbers(batch).tolist() == expected


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
