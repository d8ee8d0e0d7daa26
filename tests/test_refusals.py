"""Every refusal of data-contract.md and the extra bad inputs: message, exit code, outputs untouched."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.errors import EXIT_CODES
from tests.extracts import tiny_extract, write_extract

runner = CliRunner()


def edit(table, change):
    def apply(tables):
        tables[table] = change(tables[table].copy())
        return tables
    return apply


def set_cell(table, column, index, value):
    def change(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[index, column] = value
        return frame
    return edit(table, change)


def append_copy_of_row(table, index):
    return edit(table, lambda f: pd.concat([f, f.iloc[[index]]], ignore_index=True))


def drop_file(name):
    def apply(tables):
        del tables[name]
        return tables
    return apply


CASES = {
    # kind, file, column: (change to the tables)
    "missing file": ("missing_file", "inntekt", None, drop_file("inntekt")),
    "missing column": ("missing_column", "bosted", "kommnr", edit("bosted", lambda f: f.drop(columns="kommnr"))),
    "wrong type": ("wrong_type", "personer", "foedselsaar", set_cell("personer", "foedselsaar", 0, "nitten")),
    "duplicate person": ("duplicate_key", "personer", "lopenr", append_copy_of_row("personer", 1)),
    "duplicate person-year": ("duplicate_key", "bosted", "lopenr, aar", append_copy_of_row("bosted", 3)),
    "unknown municipality": ("unknown_kommnr", "bosted", "kommnr", set_cell("bosted", "kommnr", 0, "9876")),
    "municipality of another year": ("kommnr_other_year", "bosted", "kommnr",
                                     set_cell("bosted", "kommnr", 0, "5001")),  # R1 2015: 5001 exists from 2018
    "person-year without person": ("unknown_person", "inntekt", "lopenr", set_cell("inntekt", "lopenr", 0, "GHOST")),
    "sex outside code list": ("code_outside_list", "personer", "kjonn", set_cell("personer", "kjonn", 0, 3)),
    "invkat outside code list": ("code_outside_list", "personer", "invkat", set_cell("personer", "invkat", 0, "X")),
    "immigration before birth": ("impossible_date", "personer", "innvandringsdato",
                                 set_cell("personer", "innvandringsdato", 0, "1970-01-01")),
    "immigration in the future": ("impossible_date", "personer", "innvandringsdato",
                                  set_cell("personer", "innvandringsdato", 0, "2999-01-01")),
    "missing required value": ("missing_value", "bosted", "kommnr", set_cell("bosted", "kommnr", 2, "")),
    "year no register can hold": ("year_outside_study", "inntekt", "aar", set_cell("inntekt", "aar", 0, 2999)),
}


def write_case(tmp_path: Path, change) -> Path:
    tables = change(tiny_extract())
    return write_extract(tmp_path / "in", tables)


def run_panel(tmp_path: Path, input_dir: Path):
    return runner.invoke(app, ["panel", "--input", str(input_dir), "--work", str(tmp_path / "work"),
                               "--out", str(tmp_path / "out")])


def digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", list(CASES))
def test_refusal_names_file_column_examples_and_exits_with_its_code(tmp_path, case):
    kind, table, column, change = CASES[case]
    result = run_panel(tmp_path, write_case(tmp_path, change))
    message = result.stderr
    assert result.exit_code == EXIT_CODES[kind], message
    assert f"Refused ({kind}" in message
    assert table in message
    if column:
        assert f"'{column}'" in message
    assert "Nothing was written" in message


def test_kommnr_of_another_year_lists_the_years_it_is_valid(tmp_path):
    result = run_panel(tmp_path, write_case(tmp_path, set_cell("bosted", "kommnr", 0, "5001")))
    assert "(R1, 2015, 5001, 2018/2019/2020)" in result.stderr


def test_exit_codes_are_distinct():
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)


def write_raw(tmp_path: Path, name: str, content: bytes) -> Path:
    directory = write_extract(tmp_path / "in", tiny_extract())
    (directory / f"{name}.csv").write_bytes(content)
    return directory


@pytest.mark.parametrize("name, content, kind", [
    ("bosted", b"", "empty_table"),
    ("bosted", b"lopenr;aar;kommnr\n", "empty_table"),
    ("bosted", b"lopenr;aar;kommnr\nR1;2015;0301\nR1;2016;0301;extra\n", "malformed_file"),
    ("bosted", b'lopenr;aar;kommnr\nR1;2015;"0301\nR1;2016;0301\n', "malformed_file"),
    ("personer", "lopenr;kjonn;foedselsaar;fodeland;landbakgrunn;invkat;innvandringsgrunn;innvandringsdato;"
                 "mor_lopenr;far_lopenr\nR\xf8;1;1980;000;000;A;;;;\n".encode("latin-1"), "encoding"),
])
def test_broken_files_are_refused(tmp_path, name, content, kind):
    result = run_panel(tmp_path, write_raw(tmp_path, name, content))
    assert result.exit_code == EXIT_CODES[kind], result.stderr
    assert f"{name}.csv" in result.stderr


def test_parquet_column_of_the_wrong_type_is_refused(tmp_path):
    tables = tiny_extract()
    tables["inntekt"]["yrkinnt"] = tables["inntekt"]["yrkinnt"].astype(str).radd("kr ")
    directory = write_extract(tmp_path / "in", tables, fmt="parquet")
    result = run_panel(tmp_path, directory)
    assert result.exit_code == EXIT_CODES["wrong_type"]
    assert "inntekt.parquet" in result.stderr and "'yrkinnt'" in result.stderr


def test_a_refusal_leaves_earlier_outputs_untouched(tmp_path):
    good = write_extract(tmp_path / "in", tiny_extract())
    assert run_panel(tmp_path, good).exit_code == 0
    before = {**digest(tmp_path / "work"), **{"out/" + k: v for k, v in digest(tmp_path / "out").items()}}
    bad = write_case(tmp_path, set_cell("personer", "kjonn", 0, 3))
    assert run_panel(tmp_path, bad).exit_code == EXIT_CODES["code_outside_list"]
    after = {**digest(tmp_path / "work"), **{"out/" + k: v for k, v in digest(tmp_path / "out").items()}}
    assert before == after


def test_validate_checks_without_writing_outputs(tmp_path):
    good = write_extract(tmp_path / "in", tiny_extract())
    result = runner.invoke(app, ["validate", "--input", str(good), "--work", str(tmp_path / "work"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "personer" in result.stdout
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "work" / "register.duckdb").exists()


@pytest.mark.parametrize("name", ["personer", "bosted", "inntekt", "kommuneendringer", "kommuner_2020",
                                  "naering_2010"])
def test_a_header_only_register_or_reference_table_is_refused(tmp_path, name):
    tables = tiny_extract()
    tables[name] = tables[name].iloc[:0]
    result = run_panel(tmp_path, write_extract(tmp_path / "in", tables))
    assert result.exit_code == EXIT_CODES["empty_table"], result.stderr
    assert f"{name}.csv" in result.stderr and "header only" in result.stderr


@pytest.mark.parametrize("fmt", ["sav", "xpt"])
@pytest.mark.parametrize("case", ["duplicate person-year", "sex outside code list", "missing required value",
                                  "person-year without person"])
def test_spss_and_sas_files_are_refused_like_csv(tmp_path, fmt, case):
    from tests.extracts import write_statistical

    kind, table, column, change = CASES[case]
    directory = write_statistical(tmp_path / "in", change(tiny_extract()), fmt=fmt)
    result = run_panel(tmp_path, directory)
    assert result.exit_code == EXIT_CODES[kind], result.stderr
    assert f"{table}.{fmt}" in result.stderr and f"'{column}'" in result.stderr


@pytest.mark.parametrize("fmt", ["sav", "xpt"])
def test_a_fraction_in_an_integer_column_of_a_spss_or_sas_file_is_refused(tmp_path, fmt):
    from tests.extracts import write_statistical

    tables = tiny_extract()
    tables["personer"]["foedselsaar"] = tables["personer"]["foedselsaar"].astype(float)
    tables["personer"].loc[0, "foedselsaar"] = 1980.5
    result = run_panel(tmp_path, write_statistical(tmp_path / "in", tables, fmt=fmt))
    assert result.exit_code == EXIT_CODES["wrong_type"], result.stderr
    assert f"personer.{fmt}" in result.stderr and "'foedselsaar'" in result.stderr and "(R1, 1980.5)" in result.stderr


def test_a_sas_data_set_that_cannot_be_read_is_refused(tmp_path):
    """Not SAS data under a .sas7bdat name: the SAS reader's error becomes a refusal naming the file."""
    directory = write_extract(tmp_path / "in", {k: v for k, v in tiny_extract().items() if k != "familie"})
    (directory / "familie.sas7bdat").write_bytes(b"this is no SAS data set\n" * 40)
    result = run_panel(tmp_path, directory)
    assert result.exit_code == EXIT_CODES["malformed_file"], result.stderr
    assert "familie.sas7bdat" in result.stderr and "Traceback" not in result.output
