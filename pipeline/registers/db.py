"""The DuckDB connection, the study's parameter tables, and running the SQL files in `sql/`."""
from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import REFERENCE_DATA_DIR, SQL_DIR, Settings
from pipeline.io import private_dir


def connect(path: Path | str, settings: Settings, *, spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A connection with the configured memory limit and threads, spilling to `spill` (WORK/duckdb_tmp)."""
    con = duckdb.connect(str(path))
    spill = private_dir(spill or settings.paths.work / "duckdb_tmp")
    con.execute(f"set memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"set threads = {int(settings.duckdb_threads)}")
    con.execute(f"set temp_directory = '{spill}'")
    # tables are built and exported in an explicit order; keeping the scan order only costs memory
    con.execute("set preserve_insertion_order = false")
    set_study_variables(con, settings)
    return con


def set_study_variables(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    for name in ("first_year", "last_year", "min_age", "max_age"):
        con.execute(f"set variable {name} = {int(getattr(settings, name))}")
    con.execute(f"set variable employment_threshold_g = {float(settings.employment_threshold_g)!r}")


def country_regions(codes: list[str]) -> dict[str, str]:
    """World region of each 3-digit country code: the narrowest range in verdensregioner.csv wins."""
    with open(REFERENCE_DATA_DIR / "verdensregioner.csv", newline="", encoding="utf-8") as fh:
        ranges = [(int(r["landkode_fra"]), int(r["landkode_til"]), r["region"]) for r in csv.DictReader(fh)]
    out = {}
    for code in codes:
        if not (code and code.isdigit()):
            continue
        value = int(code)
        hits = [(hi - lo, region) for lo, hi, region in ranges if lo <= value <= hi]
        if hits:
            out[code] = min(hits)[1]
    return out


def create_reference_tables(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Small tables the SQL joins to: categories, code groups, world regions, study years."""
    category = pd.DataFrame(
        [(code, cat) for cat, codes in settings.categories.items() for code in codes],
        columns=["kode", "kategori"])
    refugee = pd.DataFrame({"kode": settings.refugee_background})
    country = pd.read_csv(REFERENCE_DATA_DIR / "fodeland_grupper.csv", dtype=str)[["landkode", "fodeland_gruppe"]]
    nus = pd.read_csv(REFERENCE_DATA_DIR / "nus_grupper.csv", dtype={"nus_forste_siffer": str})
    nus = nus[["nus_forste_siffer", "utdanning_gruppe"]]
    years = pd.DataFrame({"aar": list(settings.study_years)})
    tables = {"ref_category": category, "ref_refugee_code": refugee, "ref_country_group": country,
              "ref_nus_group": nus, "study_years": years}
    for name, frame in tables.items():
        con.register("frame_view", frame)
        con.execute(f"create or replace table {name} as select * from frame_view")
        con.unregister("frame_view")
    codes = [r[0] for r in con.execute("select distinct landbakgrunn from stg_personer").fetchall()]
    regions = pd.DataFrame(sorted(country_regions(codes).items()), columns=["landkode", "region"])
    con.register("frame_view", regions)
    con.execute("create or replace table ref_country_region as select * from frame_view")
    con.unregister("frame_view")


def run_sql(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Execute one file of `sql/` (it may hold several statements)."""
    con.execute((SQL_DIR / name).read_text(encoding="utf-8"))


def query_sql(con: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    return con.execute((SQL_DIR / name).read_text(encoding="utf-8")).df()
