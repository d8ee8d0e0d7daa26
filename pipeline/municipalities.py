"""Stage 4, municipality characteristics per 2020 municipality and study year (methods.md §5).

The population and working-age (30-59) shares count everyone resident on 1 January: some 55 million
person-years at national scale, each with their person's attributes, and those aged 30-59 with that year's
income and education. In SQL those are hash joins of registers of that size. Here each register is read
once, a batch at a time, by the dense person index pid (pipeline/person_index.py): a person's attributes
are an array lookup, and a resident's income and education are found through a slot per person-year.
sql/40-43 select what is read; sql/44 assembles municipality_year.
"""
from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.config import SQL_DIR, Settings
from pipeline.db import run_sql

BATCH_ROWS = 1 << 21
WORKING_AGE = (30, 59)
REGIONS = ("europa", "afrika", "asia", "nord_amerika", "latin_amerika", "oseania")


def run(con: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, int]:
    """Build `municipality_year` from the whole population; return its size."""
    con.execute("create or replace temp table municipality_index as select kommnr_2020, "
                "(row_number() over (order by kommnr_2020) - 1)::integer as municipality_index "
                "from stg_kommuner_2020")
    municipalities = [r[0] for r in con.execute(
        "select kommnr_2020 from municipality_index order by municipality_index").fetchall()]
    years = np.arange(settings.first_year, settings.last_year + 1)
    con.execute(f"set variable study_year_count = {len(years)}")
    size = con.execute("select getvariable('person_index_size')").fetchall()[0][0]
    counts = resident_counts(con, size, len(municipalities), years)
    population, working_age = characteristics_frames(*counts, municipalities, years)
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


def person_codes(con: duckdb.DuckDBPyConnection, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Birth year and background code of every pid."""
    birth_year, code = np.zeros(size, np.int16), np.zeros(size, np.uint8)
    for batch in batches(con, "40_municipality_persons.sql"):
        pid = batch["pid"]
        birth_year[pid] = batch["foedselsaar"]
        region = pd.Categorical(batch["region"], categories=REGIONS).codes.astype(np.int64) + 1  # -1: none
        flags = sum(batch[flag].astype(np.int64) * bit for flag, bit in PERSON_FLAGS.items())
        code[pid] = (flags | (region << 4)).astype(np.uint8)
    return birth_year, code


def resident_counts(con: duckdb.DuckDBPyConnection, size: int, n_municipalities: int,
                    years: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residents per group (municipality index * years + year index) and background code; residents aged
    30-59 per group and working-age code; and the sum of their incomes per group."""
    n_years, n_groups = len(years), n_municipalities * len(years)
    birth_year, code = person_codes(con, size)
    by_code = np.zeros(n_groups * 128, np.int64)
    # each resident aged 30-59 gets a row; slot[person-year key] is that row
    slot = np.full(size * n_years, -1, np.int32)
    working_groups, working_codes = [], []
    n_working = 0
    for batch in batches(con, "41_municipality_residents.sql"):
        pid, groups = batch["pid"], batch["group_index"]
        codes = code[pid]
        by_code += np.bincount(groups * 128 + codes, minlength=n_groups * 128)
        age = years[batch["year_index"]] - birth_year[pid]
        working = (age >= WORKING_AGE[0]) & (age <= WORKING_AGE[1])
        n_new = int(working.sum())
        slot[batch["person_year"][working]] = np.arange(n_working, n_working + n_new, dtype=np.int32)
        working_groups.append(groups[working].astype(np.int32))
        working_codes.append((codes[working] & IMMIGRANT_BACKGROUND).astype(np.uint8))
        n_working += n_new
    working_group = np.concatenate(working_groups) if working_groups else np.zeros(0, np.int32)
    status = np.concatenate(working_codes) if working_codes else np.zeros(0, np.uint8)
    del working_groups, working_codes

    income_sum = np.zeros(n_groups)
    for batch in batches(con, "42_municipality_income.sql"):
        row = slot[batch["person_year"]]
        hit = row >= 0
        row = row[hit]
        status[row] |= (INCOME_RECORD | batch["employed"][hit] * EMPLOYED
                        | batch["income_over_4g"][hit] * INCOME_OVER_4G
                        | batch["benefits_over_income"][hit] * BENEFITS_OVER_INCOME).astype(np.uint8)
        income_sum += np.bincount(working_group[row], weights=batch["yrkinnt"][hit].astype(np.float64),
                                  minlength=n_groups)
    for batch in batches(con, "43_municipality_education.sql"):
        row = slot[batch["person_year"]]
        hit = row >= 0
        status[row[hit]] |= (batch["in_education"][hit] * IN_EDUCATION
                             | batch["higher_education"][hit] * HIGHER_EDUCATION).astype(np.uint8)
    working_by_code = np.bincount(working_group.astype(np.int64) * 128 + status, minlength=n_groups * 128)
    return by_code.reshape(n_groups, 128), working_by_code.reshape(n_groups, 128), income_sum


def characteristics_frames(by_code: np.ndarray, working_by_code: np.ndarray, income_sum: np.ndarray,
                           municipalities: list[str], years: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The population and working-age shares per municipality and year from resident_counts, for groups
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
