"""Stage 4, municipality characteristics per 2020 municipality and study year (methods.md §5).

The population and working-age (30-59) shares count everyone resident on 1 January: some 55 million
person-years at national scale, each with their person's attributes, and those aged 30-59 with that year's
income and education. In SQL those are hash joins of registers of that size. Here each register is read
once, a batch at a time, by the dense person index pid (pipeline/person_index.py): a person's attributes
are an array lookup, and a resident's income and education are found through a slot per person-year.
The same pass keeps the rows of the persons the panel looks up (sql/28, sql/29), so that the panel
stage reads no whole register. sql/40-43 select what is read; sql/44 assembles municipality_year.
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

from pipeline import harmonise
from pipeline.config import SQL_DIR, Settings
from pipeline.db import run_sql
from pipeline.load import RowChecks

BATCH_ROWS = 1 << 21
REGISTERS = ("bosted", "inntekt", "utdanning")   # read once, by the pass, which makes their load checks
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


def batches(con: duckdb.DuckDBPyConnection, name: str) -> Iterator[dict[str, np.ndarray]]:
    """The rows of the query in sql/<name>, a batch of numpy arrays at a time. DuckDB reads the next
    batches in a thread of its own while the caller counts this one."""
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
            yield {field.name: column.to_numpy(zero_copy_only=False)
                   for field, column in zip(batch.schema, batch.columns)}
    finally:  # a caller that stops early: let the reader finish before the connection is used again
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.1)
        thread.join()


def person_codes(con: duckdb.DuckDBPyConnection, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth year and background code of every pid, and whether the pid is one of personer."""
    birth_year, code, exists = np.zeros(size, np.int16), np.zeros(size, np.uint8), np.zeros(size, bool)
    for batch in batches(con, "40_municipality_persons.sql"):
        pid = batch["pid"]
        birth_year[pid] = batch["foedselsaar"]
        region = pd.Categorical(batch["region"], categories=REGIONS).codes.astype(np.int64) + 1  # -1: none
        flags = sum(batch[flag].astype(np.int64) * bit for flag, bit in PERSON_FLAGS.items())
        code[pid] = (flags | (region << 4)).astype(np.uint8)
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
    """The load checks of one register (load.RowChecks), made batch by batch in the pass: a row flagged
    `refused`, a pid that personer lacks, a study person-year seen twice. Rows of other years are counted;
    the exact queries check them after the pass."""
    checks: RowChecks
    exists: np.ndarray      # by pid: one of personer
    first_year: int
    n_years: int
    rows_outside: int = 0

    def study_rows(self, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The batch's rows of the study years, and their year index; raise Refused for a refused row."""
        if batch["refused"].any() or not self.exists[batch["pid"]].all():
            raise Refused
        year_index = batch["aar"].astype(np.int64) - self.first_year
        inside = (year_index >= 0) & (year_index < self.n_years)
        self.rows_outside += len(inside) - int(np.count_nonzero(inside))
        return inside, year_index

    @staticmethod
    def mark(marks: np.ndarray, person_year: np.ndarray, values: np.ndarray) -> None:
        """Write `values` (distinct, none -1) at `person_year` in `marks` (-1: not seen); raise Refused
        for a person-year seen in an earlier batch or twice in this one."""
        if (marks[person_year] != -1).any():
            raise Refused
        marks[person_year] = values
        if (marks[person_year] != values).any():   # of two rows with one key, one value was overwritten
            raise Refused


def read_register(con: duckdb.DuckDBPyConnection, name: str, screen: RowScreen, count) -> None:
    """Pass the study-year rows of sql/<name> to `count(batch, inside, year_index)`, batch by batch, under
    `screen`; on a refused row stop reading and raise the refusal the exact queries give."""
    try:
        with contextlib.closing(batches(con, name)) as stream:
            for batch in stream:
                count(batch, *screen.study_rows(batch))
    except Refused as refused:
        (refused.refuse or screen.checks.refuse)(con)
    if screen.rows_outside:
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
    """One pass over residence, income and education: make their load checks (`row_checks`), count the
    municipality characteristics, and keep the rows of the persons in related_persons (sql/28) as tables
    for the panel (sql/29)."""
    years = np.arange(settings.first_year, settings.last_year + 1)
    con.execute(f"set variable study_year_count = {len(years)}")
    size = con.execute("select getvariable('person_index_size')").fetchall()[0][0]
    crosswalk = con.execute("select municipality_index from crosswalk order by crosswalk_row").fetchnumpy()
    g = dict(con.execute("select aar, g from stg_grunnbelop").fetchall())
    related = np.zeros(size, bool)
    related[con.execute("select pid from related_persons").fetchnumpy()["pid"]] = True
    counts, related_rows = count_residents(con, size, crosswalk["municipality_index"].astype(np.int64), years,
                                           np.array([g[y] for y in years], np.int64), related, row_checks)
    for name, columns in related_rows.items():
        con.register("rows_view", pa.table(columns))
        con.execute(f"create or replace temp table related_{name}_rows as select * from rows_view")
        con.unregister("rows_view")
    return counts


def count_residents(con: duckdb.DuckDBPyConnection, size: int, crosswalk_municipality: np.ndarray,
                    years: np.ndarray, g: np.ndarray, related: np.ndarray, row_checks: dict[str, RowChecks],
                    ) -> tuple[RegisterCounts, dict[str, dict[str, np.ndarray]]]:
    """The counts of RegisterCounts, and the rows (pid, year index, values) of the `related` pids.

    `crosswalk_municipality`: the municipality index of each crosswalk row; `g`: G of each study year."""
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
            "education": [ids | {"in_education": np.zeros(0, bool), "nus_level": np.zeros(0, np.uint8)}]}
    # slot[person-year key]: a resident aged 30-59's row (>= 0); any other resident: -2 - their row number
    slot = np.full(size * n_years, -1, np.int32)
    working_groups, working_codes = [], []
    n_working = n_residents = 0

    def residents(batch: dict[str, np.ndarray], inside: np.ndarray, year_index: np.ndarray) -> None:
        nonlocal n_working, n_residents
        pid, crosswalk_row, year_index = batch["pid"][inside], batch["crosswalk_row"][inside], year_index[inside]
        if (crosswalk_row < 0).any():
            raise Refused(lambda con: harmonise.refuse_unmatched(con, row_checks["bosted"].path))
        crosswalk_used[crosswalk_row] = True
        groups = crosswalk_municipality[crosswalk_row] * n_years + year_index
        codes = code[pid]
        by_code[:] += np.bincount(groups * 128 + codes, minlength=n_groups * 128)
        age = years[year_index] - birth_year[pid]
        working = (age >= WORKING_AGE[0]) & (age <= WORKING_AGE[1])
        n_new = int(working.sum())
        rows = np.arange(n_residents, n_residents + len(pid), dtype=np.int64)
        values = np.where(working, np.cumsum(working) - 1 + n_working, -2 - rows).astype(np.int32)
        RowScreen.mark(slot, pid * n_years + year_index, values)
        working_groups.append(groups[working].astype(np.int32))
        working_codes.append((codes[working] & IMMIGRANT_BACKGROUND).astype(np.uint8))
        n_working += n_new
        n_residents += len(pid)
        keep = related[pid]
        kept["residence"].append({"pid": pid[keep], "year_index": year_index[keep].astype(np.int16),
                                  "municipality_index": (groups[keep] // n_years).astype(np.int32)})

    read_register(con, "41_municipality_residents.sql", screen("bosted"), residents)
    working_group = np.concatenate(working_groups) if working_groups else np.zeros(0, np.int32)
    status = np.concatenate(working_codes) if working_codes else np.zeros(0, np.uint8)
    working_groups.clear(), working_codes.clear()

    seen = np.full(size * n_years, -1, np.int32)   # the person-years of income, then of education
    n_rows = 0

    def rows_of(batch_pid: np.ndarray) -> np.ndarray:
        nonlocal n_rows
        n_rows += len(batch_pid)
        return np.arange(n_rows - len(batch_pid), n_rows, dtype=np.int32)

    income_sum = np.zeros(n_groups)

    def income(batch: dict[str, np.ndarray], inside: np.ndarray, year_index: np.ndarray) -> None:
        pid, year_index, yrkinnt = batch["pid"][inside], year_index[inside], batch["yrkinnt"][inside]
        person_year = pid * n_years + year_index
        RowScreen.mark(seen, person_year, rows_of(pid))
        row = slot[person_year]
        hit = row >= 0
        row, g_year, earned = row[hit], g[year_index[hit]], yrkinnt[hit]
        benefits = batch["benefits"][inside][hit]
        status[row] |= (INCOME_RECORD | (earned > g_year) * EMPLOYED | (earned > 4 * g_year) * INCOME_OVER_4G
                        | ((benefits > 0) & (benefits > earned)) * BENEFITS_OVER_INCOME).astype(np.uint8)
        income_sum[:] += np.bincount(working_group[row], weights=earned.astype(np.float64), minlength=n_groups)
        keep = related[pid]
        kept["income"].append({"pid": pid[keep], "year_index": year_index[keep].astype(np.int16),
                               "yrkinnt": yrkinnt[keep]})

    def education(batch: dict[str, np.ndarray], inside: np.ndarray, year_index: np.ndarray) -> None:
        pid, year_index = batch["pid"][inside], year_index[inside]
        level, in_education = batch["nus_level"][inside], batch["in_education"][inside]
        person_year = pid * n_years + year_index
        RowScreen.mark(seen, person_year, rows_of(pid))
        row = slot[person_year]
        hit = row >= 0
        higher = (level[hit] >= 6) & (level[hit] <= 8)
        status[row[hit]] |= (in_education[hit] * IN_EDUCATION | higher * HIGHER_EDUCATION).astype(np.uint8)
        keep = related[pid]
        kept["education"].append({"pid": pid[keep], "year_index": year_index[keep].astype(np.int16),
                                  "in_education": in_education[keep], "nus_level": level[keep]})

    read_register(con, "42_municipality_income.sql", screen("inntekt"), income)
    seen.fill(-1)
    n_rows = 0
    read_register(con, "43_municipality_education.sql", screen("utdanning"), education)
    working_by_code = np.bincount(working_group.astype(np.int64) * 128 + status, minlength=n_groups * 128)
    counts = RegisterCounts(by_code.reshape(n_groups, 128), working_by_code.reshape(n_groups, 128), income_sum,
                            n_residents, crosswalk_used)
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
