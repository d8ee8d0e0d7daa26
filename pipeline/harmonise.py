"""Stage 2, harmonise: residence codes to the 2020 municipality structure (methods.md §4)."""
from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.config import Settings
from pipeline.db import run_sql
from pipeline.load import refuse_if_any


def run(con: duckdb.DuckDBPyConnection, settings: Settings, bosted_file: Path) -> dict[str, int]:
    """Define `harmonised_bosted`; refuse codes the crosswalk lacks for their year; return row counts."""
    run_sql(con, "20_harmonised_bosted.sql")
    rows_out, unmatched_rows, codes, municipalities = con.execute(
        "select count(*), count(*) filter (where kommnr_2020 is null), count(distinct kommnr), "
        "count(distinct kommnr_2020) from harmonised_bosted").fetchall()[0]
    if unmatched_rows:
        refuse_unmatched(con, bosted_file)
    rows_in = con.execute("select count(*) from stg_bosted").fetchall()[0][0]
    con.execute(f"set variable harmonised_rows = {int(rows_out)}")
    return {"bosted_rows": rows_in, "rows_in_study_years": rows_out,
            "codes_used": codes, "municipalities_2020": municipalities}


def refuse_unmatched(con: duckdb.DuckDBPyConnection, bosted_file: Path) -> None:
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
