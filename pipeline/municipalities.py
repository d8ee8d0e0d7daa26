"""Stage 4, municipality characteristics per 2020 municipality and year (methods.md §5)."""
from __future__ import annotations

import duckdb

from pipeline.config import Settings
from pipeline.db import run_sql


def run(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Build `municipality_year` from the whole population; return its size."""
    run_sql(con, "40_municipality_year.sql")
    rows, municipalities = con.execute(
        "select count(*), count(distinct kommnr_2020) from municipality_year").fetchall()[0]
    return {"rows": rows, "municipalities": municipalities}
