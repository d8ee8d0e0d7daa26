"""The `panel` and `validate` commands: load + validate, harmonise, panel, municipality table.

The DuckDB database is built under a temporary name and renamed into place only when every step has
succeeded, as are the exported Parquet files; a refusal or a kill leaves the previous outputs intact.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.config import Settings
from pipeline.io import PRIVATE_FILE_MODE, atomic_path, private_dir, write_csv
from pipeline.registers import harmonise, load, municipalities, panel
from pipeline.registers.db import connect, create_reference_tables
from pipeline.runlog import StageMeter, record


def remove_database(path: Path) -> None:
    """Delete a DuckDB file and its write-ahead log, if present."""
    for file in (path, path.with_name(path.name + ".wal")):
        file.unlink(missing_ok=True)


@contextlib.contextmanager
def scratch_database(path: Path, settings: Settings, *,
                     spill: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh database file at `path`, removed again if the block fails."""
    remove_database(path)
    con = connect(path, settings, spill=spill)
    try:
        yield con
    except BaseException:
        con.close()
        remove_database(path)
        raise
    con.close()


def export_parquet(con: duckdb.DuckDBPyConnection, table: str, order: str, path: Path) -> Path:
    """Write a work table to Parquet (owner-only), atomically."""
    with atomic_path(path, private=True) as tmp:
        con.execute(f"copy (select * from {table} order by {order}) to '{tmp}' "
                    f"(format parquet, compression zstd)")
    return path


def validate(settings: Settings) -> dict[str, dict]:
    """Load and check every extract; write nothing but a scratch directory of its own that is removed.
    The registers are checked in the pass that reads them, as in `build_panel` (at scale 1.0, 28 s).

    The scratch directory (database and spill files) is this run's alone, so `validate` needs no lock and
    may run beside a `panel` on the same work directory.
    """
    private_dir(settings.paths.work)
    scratch = Path(tempfile.mkdtemp(prefix=".validate-", dir=settings.paths.work))
    try:
        with scratch_database(scratch / "validate.duckdb", settings, spill=scratch / "duckdb_tmp") as con:
            tables, _, _ = read_extracts(con, settings, StageMeter())
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tables


def read_extracts(con: duckdb.DuckDBPyConnection, settings: Settings,
                  meter: StageMeter) -> tuple[dict[str, dict], municipalities.RegisterCounts, dict[str, int]]:
    """Load and check every extract (stages 1-2): the tables' rows, and what the one pass over the registers
    counted (their checks are made in it) with the harmonisation's summary."""
    with meter.stage("load_validate"):
        tables, row_checks = load.run(con, settings)
        create_reference_tables(con, settings)
        harmonise.prepare(con)
    with meter.stage("registers"):  # one pass over each register: its checks, harmonisation and counts
        panel.find_related_persons(con)
        counts = municipalities.read_registers(con, settings, row_checks)
        harmonised = harmonise.summary(con, tables["bosted"]["rows"], counts.residence_rows,
                                       counts.crosswalk_rows_used)
    return tables, counts, harmonised


def build_panel(settings: Settings, meter: StageMeter | None = None) -> dict:
    """Run stages 1-4 and export the panel, the municipality table and the sample flow."""
    paths = settings.paths
    meter = meter or StageMeter(paths.run_log)
    private_dir(paths.work)
    private_dir(paths.panel_dir)
    building = paths.work / ".register.duckdb.building"
    with scratch_database(building, settings) as con:
        tables, counts, harmonised = read_extracts(con, settings, meter)
        empty = tuple(name for name, info in tables.items() if info["rows"] == 0)
        with meter.stage("panel"):
            flow = panel.run(con, settings, empty_tables=empty)
        with meter.stage("municipalities"):
            municipal = municipalities.run(con, settings, counts)
        with meter.stage("export"):  # only now, when every table is built, replace the old outputs
            export_parquet(con, "refugees", "lopenr", paths.refugees)
            export_parquet(con, "person_year", "lopenr, aar", paths.person_year)
            export_parquet(con, "municipality_year", "kommnr_2020, aar", paths.municipality_year)
    os.chmod(building, PRIVATE_FILE_MODE)
    os.replace(building, paths.database)
    write_csv(flow, paths.work / "sample_flow_full.csv")
    write_csv(releasable_flow(flow, settings), paths.sample_flow)
    for name, info in tables.items():
        record(paths.run_log, "load", "rows", table=name, rows=info["rows"])
    for name in empty:
        record(paths.run_log, "load", "empty_table", table=name, note=panel.EMPTY_TABLE_NOTES[name])
    return {"tables": tables, "harmonise": harmonised, "municipalities": municipal, "flow": flow}


def releasable_flow(flow: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The sample flow for the output directory: counts of 1 to min_persons-1 suppressed, the rest rounded
    (pipeline/disclosure.py); the exact flow stays in WORK/sample_flow_full.csv."""
    from pipeline.disclosure import suppress_small_counts

    count_columns = [c for c in flow.columns if c.startswith(("persons", "person_years"))]
    return suppress_small_counts(flow, count_columns, policy=settings.disclosure)

