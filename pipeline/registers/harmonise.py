"""Stage 2, harmonise: residence codes to the 2020 municipality structure (methods.md §4).

The residence rows are matched to the crosswalk in the pass over the registers
(pipeline/registers/municipalities.py), which reads each register once; this module builds the crosswalk it looks
rows up in, refuses what it cannot match and summarises what it matched.
"""
from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import duckdb
import numpy as np

from pipeline.registers.db import run_sql
from pipeline.registers.load import refuse_if_any


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Create `municipality_index`, `crosswalk` and the view `harmonised_bosted` (sql/20)."""
    run_sql(con, "20_harmonised_bosted.sql")


def crosswalk_rows_by_code(con: duckdb.DuckDBPyConnection, years: np.ndarray) -> np.ndarray:
    """The crosswalk row of each study year (row: year index) and code (column: its place in the type
    kommnr_code of sql/20), -1 for none. The last column is all -1, so that code -1 (a code the crosswalk
    lacks) finds no row."""
    rows = con.execute("select crosswalk_row, aar, enum_code(kommnr::kommnr_code) as code from crosswalk"
                       ).fetchnumpy()
    n_codes = con.execute("select len(enum_range(null::kommnr_code))").fetchall()[0][0]
    by_code = np.full((len(years), n_codes + 1), -1, np.int32)
    study = (rows["aar"] >= years[0]) & (rows["aar"] <= years[-1])
    by_code[rows["aar"][study] - years[0], rows["code"][study].astype(np.int64)] = rows["crosswalk_row"][study]
    return by_code


def summary(con: duckdb.DuckDBPyConnection, bosted_rows: int, study_rows: int,
            crosswalk_rows_used: np.ndarray) -> dict[str, int]:
    """Row and code counts of the harmonisation, from the pass: `study_rows` residence rows of the study
    years, matched to the crosswalk rows marked in `crosswalk_rows_used`."""
    used = np.flatnonzero(crosswalk_rows_used).tolist()
    codes, municipalities = con.execute(
        "select count(distinct kommnr), count(distinct kommnr_2020) from crosswalk "
        "where crosswalk_row in (select unnest(?::integer[]))", [used]).fetchall()[0]
    con.execute(f"set variable harmonised_rows = {int(study_rows)}")
    return {"bosted_rows": bosted_rows, "rows_in_study_years": study_rows,
            "codes_used": codes, "municipalities_2020": municipalities}


def refuse_unmatched(con: duckdb.DuckDBPyConnection, bosted_file: Path) -> NoReturn:
    """Refuse residence codes without a crosswalk row for their year, saying whether any year knows them."""
    unmatched = "select lopenr, aar, kommnr from harmonised_bosted where kommnr_2020 is null"
    refuse_if_any(
        con, f"select lopenr, aar, kommnr from ({unmatched}) as b "
             f"anti join stg_kommuneendringer using (kommnr) order by lopenr, aar",
        kind="unknown_kommnr", file=bosted_file, column="kommnr",
        detail="have a municipality code that kommuneendringer does not know in any year")
    refuse_if_any(
        con, f"select b.lopenr, b.aar, b.kommnr, string_agg(distinct k.aar::varchar, '/' order by k.aar::varchar) "
             f"from ({unmatched}) as b join stg_kommuneendringer as k using (kommnr) "
             f"group by b.lopenr, b.aar, b.kommnr order by b.lopenr, b.aar",
        kind="kommnr_other_year", file=bosted_file, column="kommnr",
        detail="have a municipality code that is valid only in other years (shown with the years "
               "kommuneendringer lists it for)")
    raise RuntimeError(f"the pass over the registers found a residence code of {bosted_file} without a "
                       f"crosswalk row, which the exact query does not find")
