"""Stage 2, harmonise: residence codes to the 2020 municipality structure (methods.md §4)."""
from __future__ import annotations

import duckdb

from pipeline.config import Settings
from pipeline.db import run_sql


def run(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Build `harmonised_bosted`; return row counts in and out of the study years."""
    run_sql(con, "20_harmonised_bosted.sql")
    rows_in = con.execute("select count(*) from stg_bosted").fetchall()[0][0]
    rows_out = con.execute("select count(*) from harmonised_bosted").fetchall()[0][0]
    codes = con.execute("select count(distinct kommnr), count(distinct kommnr_2020) from harmonised_bosted").fetchall()[0]
    return {"bosted_rows": rows_in, "rows_in_study_years": rows_out,
            "codes_used": codes[0], "municipalities_2020": codes[1]}
