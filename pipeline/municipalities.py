"""Stage 4, municipality characteristics per 2020 municipality and year (methods.md §5)."""
from __future__ import annotations

import duckdb

from pipeline.config import SQL_DIR, Settings
from pipeline.db import run_sql


def run(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Build `municipality_year` from the whole population; return its size.

    The working-age shares are computed one study year at a time (sql/41), so that their joins need a
    year's memory, not the whole period's."""
    run_sql(con, "40_municipality_year.sql")
    working_age = (SQL_DIR / "41_municipality_working_age.sql").read_text(encoding="utf-8")
    for i, year in enumerate(range(settings.first_year, settings.last_year + 1)):
        con.execute(f"set variable characteristics_loop_year = {int(year)}")
        into = "create or replace temp table municipality_working_age as" if i == 0 \
            else "insert into municipality_working_age"
        con.execute(f"{into}\n{working_age}")
    run_sql(con, "42_municipality_year.sql")
    rows, municipalities = con.execute(
        "select count(*), count(distinct kommnr_2020) from municipality_year").fetchall()[0]
    return {"rows": rows, "municipalities": municipalities}
