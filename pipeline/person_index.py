"""Stage 1, part of load: a dense integer index `pid` in [0, size) for every lopenr of personer.

At national scale the registers hold some 55 million person-years each. Keyed by a dense integer, a set of
persons or person-years is a bitmap: the duplicate-key and unknown-person checks become one bit per row in
the scan that checks the types (no hash table of 55 million keys), and the municipality stage looks
persons up in arrays instead of joining registers.

When every lopenr of personer is a canonical decimal integer (no sign, no leading zero) in a compact range,
pid is that number less the smallest; otherwise pid comes from a dictionary table, `person_ids`. A lopenr of
another table that is not canonical cannot equal a personer lopenr, so it counts as an unknown person.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

# The integer index is used when it wastes at most this: size <= 2 * persons + SPARE_IDS.
SPARE_IDS = 1_000_000


@dataclass(frozen=True)
class PersonIndex:
    size: int                  # pid runs over [0, size)
    offset: int | None         # pid = lopenr - offset; None: pid from the dictionary table person_ids
    persons: int               # rows of personer

    def attach(self, relation: str, lopenr: str) -> str:
        """`relation` with a column __pid, the pid of the raw lopenr expression `lopenr` (null where it
        cannot be a lopenr of personer), as a table expression."""
        if self.offset is None:
            return (f"(select raw.*, person_ids.pid as __pid from {relation} as raw "
                    f"left join person_ids on person_ids.id_lopenr = {lopenr})")
        number = f"try_cast({lopenr} as bigint)"
        pid = (f"case when cast({number} as varchar) = {lopenr} and {number} - {self.offset} "
               f"between 0 and {self.size - 1} then {number} - {self.offset} end")
        return f"(select *, {pid} as __pid from {relation})"

    def flagged(self, relation: str) -> str:
        """A query of `relation` (staged rows, each with the flag __refused of its failed checks) for the pass
        over the registers: pid first (-1 where the lopenr cannot be one of personer), the columns, and
        `refused`, true for a row that fails a check or whose lopenr cannot be one of personer."""
        return (f"select coalesce(__pid, -1) as pid, * exclude (__pid, __refused), "
                f"__refused or __pid is null as refused from {self.attach(relation, 'lopenr')}")

    def keyed(self, relation: str) -> str:
        """A query of `relation` (checked rows, every lopenr in personer) with its pid first."""
        if self.offset is None:
            return (f"select person_ids.pid, rows.* from {relation} as rows "
                    f"join person_ids on person_ids.id_lopenr = rows.lopenr")
        return f"select cast(lopenr as bigint) - {self.offset} as pid, * from {relation}"


def build(con: duckdb.DuckDBPyConnection) -> PersonIndex:
    """Index stg_personer (keys already checked unique); create person_ids or person_bitmap."""
    persons, not_canonical, low, high = con.execute(
        "select count(*), count(*) filter (where cast(try_cast(lopenr as bigint) as varchar) is distinct from lopenr), "
        "min(try_cast(lopenr as bigint)), max(try_cast(lopenr as bigint)) from stg_personer").fetchall()[0]
    if persons and not not_canonical and high - low + 1 <= 2 * persons + SPARE_IDS:
        index = PersonIndex(size=high - low + 1, offset=low, persons=persons)
        con.execute(f"create or replace temp table person_bitmap as select bitstring_agg("
                    f"cast(lopenr as bigint) - {low}, 0, {index.size - 1}) as bits from stg_personer")
    else:
        index = PersonIndex(size=persons, offset=None, persons=persons)
        con.execute("create or replace temp table person_ids as select lopenr as id_lopenr, "
                    "(row_number() over () - 1)::bigint as pid from stg_personer")
    con.execute(f"set variable person_index_size = {index.size}")
    con.execute(f"create or replace temp view keyed_personer as {index.keyed('stg_personer')}")
    return index


def key_screens(index: PersonIndex, lopenr: str, aar: str, first_year: int) -> dict[str, str]:
    """Aggregates over `index.attach(...)` rows of a table keyed by (lopenr, aar), by name: rows whose
    lopenr cannot be in personer, distinct in-range ids missing from personer, rows with a year outside
    first_year..today, and duplicate keys among the remaining rows (a bitmap of person-years).

    The last is exact only where the first three are zero; otherwise the caller runs the exact queries.
    """
    years = dt.date.today().year - first_year + 1
    key = (f"case when __pid is not null and {aar} between {first_year} and {first_year + years - 1} "
           f"then __pid * {years} + ({aar} - {first_year}) end")
    unknown_ids = "0"
    if index.offset is not None:
        unknown_ids = (f"coalesce(bit_count(bitstring_agg(__pid, 0, {index.size - 1}) "
                       f"| (select bits from person_bitmap)), {index.persons}) - {index.persons}")
    return {
        "unknown_rows": f"count(*) filter (where __pid is null and {lopenr} is not null)",
        "unknown_ids": unknown_ids,
        "outside_years": f"count(*) filter (where {aar} not between {first_year} and {first_year + years - 1})",
        "duplicates": f"count({key}) - coalesce(bit_count(bitstring_agg({key}, 0, {index.size * years - 1})), 0)",
    }
