"""Stage 4, municipality characteristics per 2020 municipality and study year (methods.md §5), and the one
pass over the registers that feeds it and the panel.

The population and working-age (30-59) shares count everyone resident on 1 January: some 55 million
person-years at national scale, each with their person's attributes, and those aged 30-59 with that year's
income and education. In SQL those are hash joins of registers of that size. Here each register (bosted,
inntekt, utdanning, familie) is read once, a batch at a time, by the dense person index pid
(pipeline/registers/person_index.py): a person's attributes are an array lookup, and a resident's income and
education are found through a slot per person-year. The same scan makes the register's load checks
(load.RowChecks, RowScreen), matches residence to the crosswalk (pipeline/registers/harmonise.py) and keeps the rows
of the persons the panel looks up (sql/28, sql/29), so that no stage reads a whole register again.
sql/40-43 and sql/45 select what is read; sql/44 assembles municipality_year.
"""
from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.config import SQL_DIR, Settings
from pipeline.registers import harmonise
from pipeline.registers.db import run_sql
from pipeline.registers.load import RowChecks
from pipeline.registers.person_index import PersonIndex

# 256k rows: a batch's arrays (2 MB each) stay in cache across the count's passes over them; batches of
# 2M rows took about 7% more CPU (more of it in the kernel, mapping and unmapping the larger arrays)
BATCH_ROWS = 1 << 18
REGISTERS = ("bosted", "inntekt", "utdanning", "familie")   # the yearly tables: read once, by the pass
WORKING_AGE = (30, 59)
REGIONS = ("europa", "afrika", "asia", "nord_amerika", "latin_amerika", "oseania")
# A person's background in one byte: the flags below and, in bits 4-6, the region (0: none, else 1 + its index
# in REGIONS). The residents of a group are counted by code in one bincount; each share sums some codes.
IMMIGRANT_BACKGROUND, IMMIGRANT, NORWEGIAN_BORN_TO_IMMIGRANTS, REFUGEE_BACKGROUND = 1, 2, 4, 8
PERSON_FLAGS = {"immigrant_background": IMMIGRANT_BACKGROUND, "immigrant": IMMIGRANT,
                "norwegian_born_to_immigrants": NORWEGIAN_BORN_TO_IMMIGRANTS,
                "refugee_background": REFUGEE_BACKGROUND}
# A resident aged 30-59 in one byte: their background and that year's income and education.
WORKING_IMMIGRANT_BACKGROUND, EMPLOYED, INCOME_OVER_4G, BENEFITS_OVER_INCOME = 1, 2, 4, 8
IN_EDUCATION, HIGHER_EDUCATION, INCOME_RECORD = 16, 32, 64
CODES = np.arange(128)


def run(con: duckdb.DuckDBPyConnection, settings: Settings, counts: RegisterCounts) -> dict[str, int]:
    """Build `municipality_year` from the counts of read_registers and the panel's tables; return its size."""
    municipalities = [r[0] for r in con.execute(
        "select kommnr_2020 from municipality_index order by municipality_index").fetchall()]
    years = np.arange(settings.first_year, settings.last_year + 1)
    population, working_age = characteristics_frames(counts, municipalities, years)
    for name, frame in (("municipality_population", population), ("municipality_working_age", working_age)):
        con.register("frame_view", pa.Table.from_pandas(frame, preserve_index=False))
        con.execute(f"create or replace temp table {name} as select * from frame_view")
        con.unregister("frame_view")
    run_sql(con, "44_municipality_year.sql")
    rows, n_municipalities = con.execute(
        "select count(*), count(distinct kommnr_2020) from municipality_year").fetchall()[0]
    return {"rows": rows, "municipalities": n_municipalities}


def batches(con: duckdb.DuckDBPyConnection, name: str,
            persons: PersonIndex | None = None) -> Iterator[dict[str, np.ndarray]]:
    """The rows of the query in sql/<name>, a batch of numpy arrays at a time. DuckDB reads the next
    batches in a thread of its own while the caller counts this one. With `persons`, the query's column
    `person` (PersonIndex.flagged) comes as `pid`."""
    reader = con.sql((SQL_DIR / name).read_text(encoding="utf-8")).to_arrow_reader(BATCH_ROWS)
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in reader:
                if stop.is_set():
                    break
                ready.put(batch)
            ready.put(None)
        except BaseException as exc:  # raised again in the caller's thread
            ready.put(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        while (batch := ready.get()) is not None:
            if isinstance(batch, BaseException):
                raise batch
            yield numpy_columns(batch, persons)
    finally:  # a caller that stops early: let the reader finish before the connection is used again
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        thread.join()


def numpy_columns(batch: pa.RecordBatch, persons: PersonIndex | None) -> dict[str, np.ndarray]:
    """A batch's columns as numpy arrays; with `persons`, its `person` as `pid`."""
    columns = {}
    for field, column in zip(batch.schema, batch.columns):
        if persons is not None and field.name == "person":
            columns["pid"] = persons.pids(column)
        else:
            columns[field.name] = column.to_numpy(zero_copy_only=False)
    return columns


def person_codes(con: duckdb.DuckDBPyConnection, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth year and background code of every pid, and whether the pid is one of personer."""
    birth_year, code, exists = np.zeros(size, np.int16), np.zeros(size, np.uint8), np.zeros(size, bool)
    con.execute(f"set variable regions = {list(REGIONS)}")
    for batch in batches(con, "40_municipality_persons.sql"):
        pid = batch["pid"]
        birth_year[pid] = batch["foedselsaar"]
        flags = sum(batch[flag].astype(np.int64) * bit for flag, bit in PERSON_FLAGS.items())
        code[pid] = (flags | (batch["region"].astype(np.int64) << 4)).astype(np.uint8)
        exists[pid] = True
    return birth_year, code, exists


class Refused(Exception):
    """A row of a register that the checks refuse: once the pass has stopped reading, `refuse(con)` (by
    default the register's load checks) names it with the exact queries."""

    def __init__(self, refuse: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> None:
        super().__init__()
        self.refuse = refuse


@dataclass
class RowScreen:
    """The load checks of one register (load.RowChecks), made in the pass: a row whose pid is -1 (it
    fails a check, or its lopenr cannot be one of personer) or one that personer lacks, batch by batch; a
    person-year of two rows, once the register is read, as fewer person-years marked (each study row
    marks its own) than rows. Rows of years outside the study are counted; the exact queries check them
    after the pass."""
    checks: RowChecks
    exists: np.ndarray      # by pid: one of personer
    first_year: int
    n_years: int
    study_rows: int = 0
    other_rows: int = 0

    def study_year_rows(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch's rows of the study years, with their year index and person-year key (pid * years +
        year index); raise Refused for a refused row."""
        pid = batch["pid"]
        if (pid < 0).any() or not self.exists[pid].all():
            raise Refused
        year_index = batch["aar"] - self.first_year
        inside = (year_index >= 0) & (year_index < self.n_years)
        n_inside = int(np.count_nonzero(inside))
        self.study_rows += n_inside
        self.other_rows += len(inside) - n_inside
        rows = batch | {"year_index": year_index}
        if n_inside < len(inside):
            rows = {column: values[inside] for column, values in rows.items()}
        return rows | {"person_year": rows["pid"].astype(np.int64) * self.n_years + rows["year_index"]}


def read_register(con: duckdb.DuckDBPyConnection, name: str, screen: RowScreen,
                  count: Callable[[dict[str, np.ndarray]], None], marks: np.ndarray, free: object) -> None:
    """Pass the study-year rows of sql/<name> to `count`, batch by batch, under `screen`; `count` marks each
    row's person-year in `marks` (`free`: not marked). On a refused row stop reading and raise the refusal
    the exact queries give."""
    try:
        with contextlib.closing(batches(con, name, screen.checks.persons)) as stream:
            for batch in stream:
                count(screen.study_year_rows(batch))
    except Refused as refused:
        (refused.refuse or screen.checks.refuse)(con)
    if np.count_nonzero(marks != free) != screen.study_rows:   # a person-year of two rows is marked once
        screen.checks.refuse(con)
    if screen.other_rows:
        screen.checks.refuse_outside_study(con)


@dataclass(frozen=True)
class RegisterCounts:
    """Residents per group (municipality index * years + year index) and background code; residents aged
    30-59 per group and working-age code; the sum of their incomes per group. Residence rows of the study
    years, and the crosswalk rows they matched."""
    by_code: np.ndarray
    working_by_code: np.ndarray
    income_sum: np.ndarray
    residence_rows: int
    crosswalk_rows_used: np.ndarray


def read_registers(con: duckdb.DuckDBPyConnection, settings: Settings,
                   row_checks: dict[str, RowChecks]) -> RegisterCounts:
    """One pass over the registers (REGISTERS): make their load checks (`row_checks`), match residence to
    the crosswalk, count the municipality characteristics, and keep the rows of the persons in
    related_persons (sql/28) as tables for the panel (sql/29)."""
    if set(row_checks) != set(REGISTERS):   # a register this pass does not read would go unchecked
        raise RuntimeError(f"the pass reads {REGISTERS}, the load checks are left for {tuple(row_checks)}")
    years = np.arange(settings.first_year, settings.last_year + 1)
    size = con.execute("select getvariable('person_index_size')").fetchall()[0][0]
    crosswalk = con.execute("select municipality_index from crosswalk order by crosswalk_row").fetchnumpy()
    crosswalk_of_code = harmonise.crosswalk_rows_by_code(con, years)
    g = dict(con.execute("select aar, g from stg_grunnbelop").fetchall())
    related = np.zeros(size, bool)
    related[con.execute("select pid from related_persons").fetchnumpy()["pid"]] = True
    counts, related_rows = count_residents(con, size, crosswalk["municipality_index"].astype(np.int64),
                                           crosswalk_of_code, years, np.array([g[y] for y in years], np.int64),
                                           related, row_checks)
    for name, columns in related_rows.items():
        con.register("rows_view", pa.table(columns))
        con.execute(f"create or replace temp table related_{name}_rows as select * from rows_view")
        con.unregister("rows_view")
    return counts


def count_residents(con: duckdb.DuckDBPyConnection, size: int, crosswalk_municipality: np.ndarray,
                    crosswalk_of_code: np.ndarray, years: np.ndarray, g: np.ndarray, related: np.ndarray,
                    row_checks: dict[str, RowChecks]) -> tuple[RegisterCounts, dict[str, dict[str, np.ndarray]]]:
    """The counts of RegisterCounts, and the rows (pid, year index, values) of the `related` pids.

    `crosswalk_municipality`: the municipality index of each crosswalk row; `crosswalk_of_code`: the crosswalk
    row of each year index and code (harmonise.crosswalk_rows_by_code); `g`: G of each study year."""
    n_municipalities = con.execute("select count(*) from municipality_index").fetchall()[0][0]
    n_years, n_groups = len(years), n_municipalities * len(years)
    birth_year, code, exists = person_codes(con, size)

    def screen(name: str) -> RowScreen:
        return RowScreen(row_checks[name], exists, int(years[0]), n_years)

    by_code = np.zeros(n_groups * 128, np.int64)
    crosswalk_used = np.zeros(len(crosswalk_municipality), bool)
    ids = {"pid": np.zeros(0, np.int64), "year_index": np.zeros(0, np.int16)}
    kept = {"residence": [ids | {"municipality_index": np.zeros(0, np.int32)}],  # the columns, if no rows
            "income": [ids | {"yrkinnt": np.zeros(0, np.int64)}],
            "education": [ids | {"in_education": np.zeros(0, bool), "nus_level": np.zeros(0, np.uint8)}],
            "partner": [ids]}
    # slot[person-year key]: a resident aged 30-59's row; -2 for another resident; -1 for none
    slot = np.full(size * n_years, -1, np.int32)
    working_groups, working_codes = [], []
    n_working = 0

    def keep_related(name: str, rows: dict[str, np.ndarray], **columns: np.ndarray) -> None:
        keep = np.flatnonzero(related[rows["pid"]])   # indices: faster than a mask for several columns
        kept[name].append({"pid": rows["pid"][keep], "year_index": rows["year_index"][keep].astype(np.int16),
                           **{column: values[keep] for column, values in columns.items()}})

    def residents(rows: dict[str, np.ndarray]) -> None:
        nonlocal n_working
        pid, year_index = rows["pid"], rows["year_index"]
        crosswalk_row = crosswalk_of_code[year_index, rows["kommnr_code"]]
        if (crosswalk_row < 0).any():
            raise Refused(lambda con: harmonise.refuse_unmatched(con, row_checks["bosted"].path))
        crosswalk_used[crosswalk_row] = True
        groups = crosswalk_municipality[crosswalk_row] * n_years + year_index
        codes = code[pid]
        by_code[:] += np.bincount(groups * 128 + codes, minlength=n_groups * 128)
        age = years[year_index] - birth_year[pid]
        working = np.flatnonzero((age >= WORKING_AGE[0]) & (age <= WORKING_AGE[1]))
        n_new = len(working)
        values = np.full(len(pid), -2, np.int32)
        values[working] = np.arange(n_working, n_working + n_new, dtype=np.int32)
        slot[rows["person_year"]] = values
        working_groups.append(groups[working].astype(np.int32))
        working_codes.append((codes[working] & IMMIGRANT_BACKGROUND).astype(np.uint8))
        n_working += n_new
        keep_related("residence", rows, municipality_index=(groups // n_years).astype(np.int32))

    residence = screen("bosted")
    read_register(con, "41_municipality_residents.sql", residence, residents, slot, -1)
    working_group = np.concatenate(working_groups) if working_groups else np.zeros(0, np.int32)
    status = np.concatenate(working_codes) if working_codes else np.zeros(0, np.uint8)
    working_groups.clear()
    working_codes.clear()

    seen = np.zeros(size * n_years, bool)   # the person-years of income, then of education, then of familie
    income_sum = np.zeros(n_groups)

    def income(rows: dict[str, np.ndarray]) -> None:
        person_year, yrkinnt = rows["person_year"], rows["yrkinnt"]
        seen[person_year] = True
        row = slot[person_year]
        hit = np.flatnonzero(row >= 0)
        row, g_year, earned, benefits = row[hit], g[rows["year_index"][hit]], yrkinnt[hit], rows["benefits"][hit]
        status[row] |= (INCOME_RECORD | (earned > g_year) * EMPLOYED | (earned > 4 * g_year) * INCOME_OVER_4G
                        | ((benefits > 0) & (benefits > earned)) * BENEFITS_OVER_INCOME).astype(np.uint8)
        income_sum[:] += np.bincount(working_group[row], weights=earned.astype(np.float64), minlength=n_groups)
        keep_related("income", rows, yrkinnt=yrkinnt)

    def education(rows: dict[str, np.ndarray]) -> None:
        person_year, level, in_education = rows["person_year"], rows["nus_level"], rows["in_education"]
        seen[person_year] = True
        row = slot[person_year]
        hit = np.flatnonzero(row >= 0)
        higher = (level[hit] >= 6) & (level[hit] <= 8)
        status[row[hit]] |= (in_education[hit] * IN_EDUCATION | higher * HIGHER_EDUCATION).astype(np.uint8)
        keep_related("education", rows, in_education=in_education, nus_level=level)

    read_register(con, "42_municipality_income.sql", screen("inntekt"), income, seen, False)
    seen.fill(False)
    read_register(con, "43_municipality_education.sql", screen("utdanning"), education, seen, False)

    def partners(rows: dict[str, np.ndarray]) -> None:
        seen[rows["person_year"]] = True
        keep_related("partner", rows)

    seen.fill(False)
    read_register(con, "45_partners.sql", screen("familie"), partners, seen, False)
    working_by_code = np.bincount(working_group.astype(np.int64) * 128 + status, minlength=n_groups * 128)
    counts = RegisterCounts(by_code.reshape(n_groups, 128), working_by_code.reshape(n_groups, 128), income_sum,
                            residence.study_rows, crosswalk_used)
    return counts, {name: concatenate(parts) for name, parts in kept.items()}


def concatenate(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}


def characteristics_frames(counts: RegisterCounts, municipalities: list[str],
                           years: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The population and working-age shares per municipality and year from the counts, for groups
    with residents (as SQL's group by: a municipality-year without residents has no row); NaN where SQL's
    avg is null."""
    n_years = len(years)
    groups = np.arange(len(municipalities) * n_years)
    keys = pd.DataFrame({"kommnr_2020": np.asarray(municipalities, dtype=object)[groups // n_years],
                         "aar": years[groups % n_years].astype(np.int32)})

    def count(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
        return table[:, codes].sum(axis=1)

    def share(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bottom > 0, top / bottom, np.nan)

    def has(bits: int) -> np.ndarray:
        return (CODES & bits) > 0

    by_code, working_by_code, income_sum = counts.by_code, counts.working_by_code, counts.income_sum
    residents = by_code.sum(axis=1)
    background, region = has(IMMIGRANT_BACKGROUND), CODES >> 4
    # SQL's avg of (background and region = r) leaves out a background without a region (null, not false)
    region_known = count(by_code, ~background | (region > 0))
    population = keys.assign(
        befolkning=residents,
        andel_flyktningbakgrunn=share(count(by_code, has(REFUGEE_BACKGROUND)), residents),
        andel_innvandrere=share(count(by_code, has(IMMIGRANT)), residents),
        andel_norskfodte_innv_foreldre=share(count(by_code, has(NORWEGIAN_BORN_TO_IMMIGRANTS)), residents),
        andel_innvandringsbakgrunn=share(count(by_code, background), residents),
        andel_innvandringsbakgrunn_ikke_flukt=share(
            count(by_code, background & ~has(REFUGEE_BACKGROUND)), residents),
        **{f"andel_bakgrunn_{name}": share(count(by_code, background & (region == i + 1)), region_known)
           for i, name in enumerate(REGIONS)},
    )[residents > 0]
    working = working_by_code.sum(axis=1)
    immigrant = has(WORKING_IMMIGRANT_BACKGROUND)
    working_age = keys.assign(
        befolkning_30_59=working,
        inntekt_30_59=share(income_sum, count(working_by_code, has(INCOME_RECORD))),
        andel_sysselsatt_30_59=share(count(working_by_code, has(EMPLOYED)), working),
        andel_arbeid_utdanning_30_59=share(count(working_by_code, has(EMPLOYED | IN_EDUCATION)), working),
        andel_hoyere_utdanning_30_59=share(count(working_by_code, has(HIGHER_EDUCATION)), working),
        andel_sosialstonad_30_59=share(count(working_by_code, has(BENEFITS_OVER_INCOME)), working),
        andel_innv_hoy_utd_inntekt_30_59=share(
            count(working_by_code, immigrant & has(INCOME_OVER_4G | HIGHER_EDUCATION)),
            count(working_by_code, immigrant)),
    )[working > 0]
    return population.reset_index(drop=True), working_age.reset_index(drop=True)
