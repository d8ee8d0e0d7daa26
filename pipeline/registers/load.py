"""Stage 1, load and validate: read every extract into DuckDB staging tables `stg_<table>`.

Staging only renames (the configuration's column map) and casts (the contract's types). Anything that
breaks the contract raises `ContractError`, before any output is written. The large registers are checked
in the scan that reads them for the panel (RowChecks, pipeline/registers/municipalities.py), not in one of their own.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import duckdb

from pipeline.config import REFERENCE_DATA_DIR, Settings
from pipeline.errors import ContractError
from pipeline.registers import person_index
from pipeline.registers.contract import (
    BIGINT, BOOL, CODE_LISTS, DATE, FILE_SUFFIXES, INT, STRING, TABLES, Table,
)

# Codes with a fixed width: numeric source columns are left-padded with zeros.
CODE_WIDTHS = {"kommnr": 4, "kommnr_2020": 4, "fodeland": 3, "landbakgrunn": 3}
FIRST_PLAUSIBLE_YEAR = 1890


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def locate(settings: Settings, table: str) -> Path | None:
    """The extract file of a contract table, by the configured file name and a known suffix."""
    stem = settings.files.get(table, table)
    for suffix in FILE_SUFFIXES:
        path = settings.paths.input / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def open_binary(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def check_utf8(path: Path, chunk: int = 1 << 24) -> None:
    """Refuse a text file that is not UTF-8, naming the first bad line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open_binary(path) as fh:
        while block := fh.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                bad_line = line + block[: exc.start].count(b"\n")
                raise ContractError("encoding", file=path, column=None, count=None,
                                    examples=[f"line {bad_line}"],
                                    detail=f"is not UTF-8 (byte {block[exc.start]:#x}); re-export it as UTF-8") from exc
            line += block.count(b"\n")


def csv_header(path: Path) -> tuple[str, list[str]]:
    """Delimiter (',' or ';', whichever the header holds more of) and the column names."""
    check_utf8(path)
    with open_binary(path) as fh:
        header = fh.readline().decode("utf-8-sig").rstrip("\r\n")
    if not header.strip():
        raise ContractError("empty_table", file=path, column=None, count=None,
                            detail="is empty (no header line, no rows)")
    delimiter = ";" if header.count(";") > header.count(",") else ","
    names = next(csv.reader([header], delimiter=delimiter))
    return delimiter, [n.strip() for n in names]


def file_relation(path: Path) -> str:
    """A DuckDB table expression reading the file as it is (CSV: every column as text, strictly)."""
    p = sql_string(str(path))
    if path.suffix == ".parquet":
        return f"read_parquet({p})"
    if path.name.endswith((".csv", ".csv.gz")):
        delimiter, names = csv_header(path)
        columns = ", ".join(f"{sql_string(n)}: 'VARCHAR'" for n in names)
        return (f"read_csv({p}, delim={sql_string(delimiter)}, header=true, auto_detect=false, "
                f"columns={{{columns}}}, quote='\"', escape='\"', strict_mode=true, null_padding=false)")
    raise ValueError(f"unsupported file type: {path}")


# pyreadstat's reader of each format. SAS transport (.xpt) shares the SAS conversions: every number a
# double, text padded with blanks; it is also the SAS format that tests can write (pyreadstat writes no
# .sas7bdat), so the tests exercise load_statistical_file through it.
STATISTICAL_FORMATS = {".dta": "read_dta", ".sav": "read_sav", ".sas7bdat": "read_sas7bdat", ".xpt": "read_xport"}
STATISTICAL_CHUNK_ROWS = 1_000_000


def load_statistical_file(con: duckdb.DuckDBPyConnection, path: Path, relation: str) -> None:
    """Copy a Stata, SPSS or SAS file into table `relation`, a chunk at a time (value labels not applied)."""
    import pyreadstat

    reader = getattr(pyreadstat, STATISTICAL_FORMATS[path.suffix])
    try:
        chunks = pyreadstat.read_file_in_chunks(reader, str(path), chunksize=STATISTICAL_CHUNK_ROWS,
                                                dates_as_pandas_datetime=True)
        statement = f"create or replace temp table {relation} as select * from chunk_view"
        for chunk, _ in chunks:
            con.register("chunk_view", chunk)
            con.execute(statement)
            con.unregister("chunk_view")
            statement = f"insert into {relation} by name select * from chunk_view"
        if statement.startswith("create"):  # no rows: the columns alone
            header, _ = reader(str(path), metadataonly=True)
            con.register("chunk_view", header)
            con.execute(statement)
            con.unregister("chunk_view")
    except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError) as exc:
        raise ContractError("malformed_file", file=path, column=None, count=None,
                            detail=f"cannot be read as a {path.suffix} file ({str(exc)[:200]})") from exc


def register_raw(
    con: duckdb.DuckDBPyConnection, settings: Settings, table: Table
) -> tuple[Path, dict[str, str]] | None:
    """Create view raw_<table> over the file with contract column names.

    Returns the file and each contract column's type in the file, or None for an absent optional table.
    """
    path = locate(settings, table.name)
    if path is None:
        if table.required:
            tried = ", ".join(f"{settings.files.get(table.name, table.name)}{s}" for s in FILE_SUFFIXES)
            raise ContractError("missing_file", file=settings.paths.input / table.name, column=None,
                                count=None, detail=f"is missing: no {tried} in {settings.paths.input}")
        return None
    if path.suffix in STATISTICAL_FORMATS:
        relation = f"file_{table.name}"
        load_statistical_file(con, path, relation)
    else:
        relation = file_relation(path)
    try:
        described = con.execute(f"describe select * from {relation}").fetchall()
    except duckdb.Error as exc:
        raise _read_error(path, exc) from exc
    source_types = {row[0]: row[1] for row in described}
    mapping = settings.columns.get(table.name, {})
    selects, types = [], {}
    for column in table.columns:
        source = mapping.get(column, column)
        if source not in source_types:
            raise ContractError(
                "missing_column", file=path, column=source, count=None,
                examples=[f"columns present: {', '.join(list(source_types)[:12])}"],
                detail=f"lacks column '{source}' (contract column '{column}'; map other names in "
                       f"[columns.{table.name}] of the configuration)")
        selects.append(f"{quote(source)} as {quote(column)}")
        types[column] = source_types[source].upper()
    con.execute(f"create or replace temp view raw_{table.name} as select {', '.join(selects)} from {relation}")
    return path, types


def _read_error(path: Path, exc: duckdb.Error) -> ContractError:
    """A parse error of DuckDB's CSV reader as a refusal: its line, reason and original text."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    where = next((line[line.index("CSV Error on Line"):] for line in lines if "CSV Error on Line" in line), None)
    original = next((line for line in lines if line.startswith("Original Line")), None)
    reason = next((line for line in lines if line.startswith(("Expected Number", "Value with"))), None)
    parts = [p for p in (where, reason) if p] or lines[:1]
    return ContractError("malformed_file", file=path, column=None, count=None,
                         examples=[original[:200]] if original else [],
                         detail=f"cannot be read as a clean table ({'; '.join(parts)[:300]})")


INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def missing_text(column: str, *, trim: bool) -> str:
    """A raw text value with empty (and, in CSV files, blank) text as missing."""
    return f"nullif(trim({quote(column)}), '')" if trim else f"nullif({quote(column)}, '')"


def is_fractional(source_type: str) -> bool:
    """A number type with fractions: SAS and SPSS store every number this way."""
    return source_type in ("FLOAT", "DOUBLE", "REAL") or source_type.startswith("DECIMAL")


def cast_expression(column: str, target: str, source_type: str, *, trim: bool = True) -> str:
    """try_cast of a raw column to its contract type; empty text is missing.

    A number with a fraction is no integer and no code: it becomes missing, which the checks refuse.
    """
    col = quote(column)
    is_text = source_type.startswith("VARCHAR")
    value = missing_text(column, trim=trim) if is_text else col
    whole = f"case when {col} = round({col}) then try_cast({col} as bigint) end"
    if target == STRING:
        if source_type in INTEGER_TYPES or is_fractional(source_type):
            text = f"cast({col if source_type in INTEGER_TYPES else whole} as varchar)"
            return f"lpad({text}, {CODE_WIDTHS[column]}, '0')" if column in CODE_WIDTHS else text
        return f"cast({value} as varchar)"
    if target == DATE:
        if is_text:
            return (f"coalesce(try_cast({value} as date), try_strptime({value}, '%Y%m%d')::date, "
                    f"try_strptime({value}, '%d.%m.%Y')::date)")
        return f"try_cast({col} as date)"
    if target in (INT, BIGINT) and is_text:
        # integers written as 2015.0 are accepted; 2015.5 is not
        return (f"case when try_cast({value} as double) = round(try_cast({value} as double)) "
                f"then try_cast(try_cast({value} as double) as {target}) end")
    if target in (INT, BIGINT) and is_fractional(source_type):
        return f"case when {col} = round({col}) then try_cast({col} as {target}) end"
    if target == BOOL and is_text:
        return (f"case lower({value}) when '1' then true when 'true' then true when 'ja' then true "
                f"when 'j' then true when 't' then true when '0' then false when 'false' then false "
                f"when 'nei' then false when 'n' then false when 'f' then false end")
    return f"try_cast({value} as {target})"


def stage_table(con: duckdb.DuckDBPyConnection, table: Table, path: Path, source_types: dict[str, str],
                persons: person_index.PersonIndex | None = None) -> dict:
    """Create stg_<table> by renaming and casting; refuse wrong types, missing values, empty tables and
    duplicate keys. Return its rows.

    A yearly table (a register) is not scanned here: its checks are made in the one scan of the pass over
    the registers (pipeline/registers/municipalities.py), from keyed_<table> (whose person is null for a row
    that fails one) and with the person index `persons`; the returned RowChecks finds and raises the
    refusal behind such a row."""
    try:
        n_rows = con.execute(f"select count(*) from raw_{table.name}").fetchall()[0][0]
    except duckdb.Error as exc:
        raise _read_error(path, exc) from exc
    if n_rows == 0 and not table.may_be_empty:
        raise ContractError("empty_table", file=path, column=None, count=None,
                            detail="holds no data rows (a header only)")
    trim = not path.suffix == ".parquet"  # text from CSV may carry blanks around values
    casts = {c: cast_expression(c, t, source_types[c], trim=trim) for c, t in table.columns.items()}
    # (kind, column, condition on a raw row): counted here in one scan, or for a register a flag per row
    checks = []
    for column, expr in casts.items():
        is_text = source_types[column].startswith("VARCHAR")
        raw = missing_text(column, trim=trim) if is_text else quote(column)
        if source_types[column] != table.columns[column]:
            checks.append(("wrong_type", column, f"{raw} is not null and ({expr}) is null"))
        if column not in table.nullable:
            checks.append(("missing_value", column, f"{raw} is null"))
    # Parquet is read again where it is used (fast, columnar); text formats are parsed once into a table
    kind = "temp view" if path.suffix == ".parquet" else "table"
    select = ", ".join(f"{expr} as {quote(c)}" for c, expr in casts.items())
    if table.yearly:
        flag = " or ".join(f"({condition})" for *_, condition in checks) or "false"
        con.execute(f"create or replace {kind} stg_{table.name} as select {select}, {flag} as __refused "
                    f"from raw_{table.name}")
        con.execute(f"create or replace temp view keyed_{table.name} as "
                    f"{persons.flagged(f'stg_{table.name}')}")
        return {"rows": n_rows, "row_checks": RowChecks(table, path, tuple(checks), persons)}
    aggregates = [f"count(*) filter (where {cond})" for *_, cond in checks]
    if table.key:  # a screen on 64-bit key hashes; a possible duplicate runs the exact query
        aggregates.append(f"count(*) - count(distinct hash({', '.join(quote(k) for k in table.key)}))")
    counts = con.execute(f"select {', '.join(aggregates)} from raw_{table.name}").fetchall()[0] \
        if aggregates else ()
    counts = [count or 0 for count in counts]  # aggregates of no rows are null
    refuse_failed_checks(con, table, path, [check for check, count in zip(checks, counts) if count],
                         counts=[count for count in counts[:len(checks)] if count])
    con.execute(f"create or replace {kind} stg_{table.name} as select {select} from raw_{table.name}")
    if table.key and counts[-1]:
        refuse_duplicates(con, table, path)
    return {"rows": n_rows}


def refuse_failed_checks(con: duckdb.DuckDBPyConnection, table: Table, path: Path,
                         checks: Sequence[tuple[str, str, str]], counts: Sequence[int] | None = None) -> None:
    """Raise the refusal of the first of `checks` (kind, column, condition on a raw row) that some row
    fails, with up to five of them; `counts`, if known, are the rows failing each."""
    key_cols = ", ".join(quote(k) for k in (table.key or tuple(table.columns)[:1]))
    for i, (kind, column, condition) in enumerate(checks):
        count = counts[i] if counts is not None else \
            con.execute(f"select count(*) from raw_{table.name} where {condition}").fetchall()[0][0]
        if count:
            examples = con.execute(f"select {key_cols}, {quote(column)} from raw_{table.name} "
                                   f"where {condition} limit 5").fetchall()
            detail = (f"are not of type {table.columns[column]} as the contract requires"
                      if kind == "wrong_type" else "have no value where the contract requires one")
            raise ContractError(kind, file=path, column=column, count=count,
                                examples=[_row(e) for e in examples], detail=detail)


@dataclass(frozen=True)
class RowChecks:
    """The row checks of a register that the pass over the registers makes in its own scan."""
    table: Table
    path: Path
    checks: tuple[tuple[str, str, str], ...]   # (kind, column, condition on a raw row)
    persons: person_index.PersonIndex          # keys the rows of keyed_<table>

    def refuse(self, con: duckdb.DuckDBPyConnection) -> NoReturn:
        """Raise the refusal behind a flagged row, an unknown person or a duplicate key that the pass found,
        as the exact queries name it: types and missing values, then persons, then keys."""
        refuse_failed_checks(con, self.table, self.path, self.checks)
        refuse_unknown_persons(con, self.table.name, self.path)
        refuse_duplicates(con, self.table, self.path)
        raise RuntimeError(f"the pass over the registers flagged a row of {self.path} that no exact check refuses")

    def refuse_outside_study(self, con: duckdb.DuckDBPyConnection) -> None:
        """For rows of years outside the study, which the pass does not key: duplicates, then impossible years."""
        refuse_duplicates(con, self.table, self.path)
        refuse_years_outside(con, self.table.name, self.path)


def refuse_duplicates(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> None:
    keys = ", ".join(table.key)
    refuse_if_any(
        con, f"select {keys}, count(*) as n from stg_{table.name} group by {keys} having count(*) > 1 "
             f"order by {keys}",
        kind="duplicate_key", file=path, column=keys,
        detail=f"share a key ({keys}) that must be unique; shown as (key, copies)")


def _row(values: tuple) -> str:
    return "(" + ", ".join("" if v is None else str(v) for v in values) + ")"


def refuse_if_any(con, sql: str, *, kind: str, file: Path, column: str, detail: str) -> None:
    """Run a query returning offending rows (first column: a printable key); refuse if it returns any."""
    count = con.execute(f"select count(*) from ({sql})").fetchall()[0][0]
    if count:
        examples = [_row(r) for r in con.execute(f"{sql} limit 5").fetchall()]
        raise ContractError(kind, file=file, column=column, count=count, examples=examples, detail=detail)


def refuse_years_outside(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    today = dt.date.today()
    refuse_if_any(
        con, f"select aar, count(*) from stg_{name} where aar < {FIRST_PLAUSIBLE_YEAR} "
             f"or aar > {today.year} group by aar order by aar",
        kind="year_outside_study", file=path, column="aar",
        detail=f"have a year that no register can hold (outside {FIRST_PLAUSIBLE_YEAR}-{today.year}); "
               f"shown as (aar, rows)")


def refuse_unknown_persons(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    refuse_if_any(
        con, f"select t.lopenr, t.aar from stg_{name} t anti join stg_personer p using (lopenr) "
             f"order by t.lopenr, t.aar",
        kind="unknown_person", file=path, column="lopenr",
        detail="belong to a lopenr that is not in personer")


def check_integrity(con: duckdb.DuckDBPyConnection, settings: Settings, files: dict[str, Path]) -> None:
    """The contract's refusal list beyond types: keys, code lists, dates, references, municipality codes.

    The registers (yearly tables) are checked for years and persons in the pass over them (RowChecks)."""
    for (name, column), allowed in CODE_LISTS.items():
        listed = ", ".join(sql_string(a) for a in allowed)
        refuse_if_any(
            con, f"select lopenr, cast({column} as varchar) from stg_{name} "
                 f"where cast({column} as varchar) not in ({listed}) order by lopenr",
            kind="code_outside_list", file=files[name], column=column,
            detail=f"hold codes outside the code list ({', '.join(allowed)})")
    today = dt.date.today()
    refuse_if_any(
        con, "select lopenr, innvandringsdato, foedselsaar from stg_personer "
             "where year(innvandringsdato) < foedselsaar order by lopenr",
        kind="impossible_date", file=files["personer"], column="innvandringsdato",
        detail="immigrated before their birth year; shown as (lopenr, innvandringsdato, foedselsaar)")
    refuse_if_any(
        con, f"select lopenr, innvandringsdato from stg_personer where innvandringsdato > date '{today}' "
             f"order by lopenr",
        kind="impossible_date", file=files["personer"], column="innvandringsdato",
        detail=f"have an immigration date in the future (after {today})")
    refuse_if_any(
        con, f"select lopenr, foedselsaar from stg_personer where foedselsaar < {FIRST_PLAUSIBLE_YEAR} "
             f"or foedselsaar > {today.year} order by lopenr",
        kind="impossible_date", file=files["personer"], column="foedselsaar",
        detail=f"have a birth year outside {FIRST_PLAUSIBLE_YEAR}-{today.year}")
    for name, path in files.items():
        if "aar" in TABLES[name].columns and not TABLES[name].yearly:
            refuse_years_outside(con, name, path)
    refuse_if_any(
        con, "select k.aar, k.kommnr, k.kommnr_2020 from stg_kommuneendringer k "
             "anti join stg_kommuner_2020 m using (kommnr_2020) order by k.aar, k.kommnr",
        kind="unknown_kommnr", file=files["kommuneendringer"], column="kommnr_2020",
        detail="map to a 2020 municipality that kommuner_2020 does not list")


def load_grunnbelop(con: duckdb.DuckDBPyConnection, settings: Settings, files: dict[str, Path]) -> None:
    """Use the delivered G series if there is one, else the shipped official series; refuse gaps."""
    if "grunnbelop" not in files:
        shipped = sql_string(str(REFERENCE_DATA_DIR / "grunnbelop.csv"))
        con.execute(f"create or replace table stg_grunnbelop as select cast(aar as integer) as aar, "
                    f"cast(g as bigint) as g from read_csv({shipped}, header=true)")
    missing = [y for y in settings.study_years
               if not con.execute("select count(*) from stg_grunnbelop where aar = ?", [y]).fetchall()[0][0]]
    if missing:
        where = files.get("grunnbelop", REFERENCE_DATA_DIR / "grunnbelop.csv")
        raise ContractError("year_outside_study", file=where, column="aar", count=len(missing),
                            examples=missing, detail="of the study years have no grunnbeløp")


def run(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[dict[str, dict], dict[str, RowChecks]]:
    """Load and validate every table; return per-table file path and row count (for the manifest), and the
    row checks of the registers, which the pass over them makes (pipeline/registers/municipalities.py).

    Municipality codes are checked against the crosswalk in the same pass.
    """
    files: dict[str, Path] = {}
    rows: dict[str, dict] = {}
    row_checks: dict[str, RowChecks] = {}
    persons = None  # personer comes first; the registers are keyed by its index
    for table in TABLES.values():
        found = register_raw(con, settings, table)
        if found is None:
            continue
        path, source_types = found
        files[table.name] = path
        staged = stage_table(con, table, path, source_types, persons)
        rows[table.name] = {"file": str(path), "rows": staged["rows"]}
        if "row_checks" in staged:
            row_checks[table.name] = staged["row_checks"]
        if table.name == "personer":
            persons = person_index.build(con)
    load_grunnbelop(con, settings, files)
    check_integrity(con, settings, files)
    return rows, row_checks
