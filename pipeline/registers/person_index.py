"""Stage 1, part of load: a dense integer index `pid` in [0, size) for every lopenr of personer.

At national scale the registers hold some 55 million person-years each. Keyed by a dense integer, the
pass over the registers (pipeline/registers/municipalities.py) looks persons and person-years up in arrays: a
person's attributes, whether personer has them, a person-year seen before; no hash table of 55 million
keys and no join of registers.

When every lopenr of personer is a canonical decimal integer (no sign, no leading zero) in a compact range,
pid is that number less the smallest; otherwise pid comes from a dictionary table, `person_ids`. A lopenr of
another table that is not canonical cannot equal a personer lopenr, so it counts as an unknown person.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

# The integer index is used when it wastes at most this: size <= 2 * persons + SPARE_IDS.
SPARE_IDS = 1_000_000


def canonical_number(lopenr: str) -> str:
    """SQL: the number a lopenr expression writes canonically (digits, no sign, no leading zero), else null.
    try_cast alone also reads '+7', ' 7', '007', '1e2', '1_000' and '0x10'."""
    number = f"try_cast({lopenr} as bigint)"
    return f"case when cast({number} as varchar) = {lopenr} then {number} end"


@dataclass(frozen=True)
class PersonIndex:
    size: int                  # pid runs over [0, size)
    offset: int | None         # pid = lopenr - offset; None: pid from the dictionary table person_ids

    def flagged(self, relation: str) -> str:
        """A query of `relation` (staged rows, each with the flag __refused of its failed checks) for the pass
        over the registers: pid first, -1 for a row that fails a check or whose lopenr cannot be one of
        personer, then the columns. (One integer column, not a second one of flags: the pass reads 55
        million rows a register.)"""
        if self.offset is None:
            attached = (f"select rows.*, person_ids.pid as __pid from {relation} as rows "
                        f"left join person_ids on person_ids.id_lopenr = rows.lopenr")
        else:
            pid = f"{canonical_number('lopenr')} - {self.offset}"
            attached = (f"select *, case when {pid} between 0 and {self.size - 1} then {pid} end as __pid "
                        f"from {relation}")
        return (f"select case when __refused then -1 else coalesce(__pid, -1) end as pid, "
                f"* exclude (__pid, __refused) from ({attached})")

    def keyed(self, relation: str) -> str:
        """A query of `relation` (checked rows, every lopenr in personer) with its pid first."""
        if self.offset is None:
            return (f"select person_ids.pid, rows.* from {relation} as rows "
                    f"join person_ids on person_ids.id_lopenr = rows.lopenr")
        return f"select cast(lopenr as bigint) - {self.offset} as pid, * from {relation}"


def build(con: duckdb.DuckDBPyConnection) -> PersonIndex:
    """Index stg_personer (keys already checked unique); create person_ids if it is a dictionary."""
    number = canonical_number("lopenr")
    persons, not_canonical, low, high = con.execute(
        f"select count(*), count(*) filter (where {number} is null), min({number}), max({number}) "
        f"from stg_personer").fetchall()[0]
    if persons and not not_canonical and high - low + 1 <= 2 * persons + SPARE_IDS:
        index = PersonIndex(size=high - low + 1, offset=low)
    else:
        index = PersonIndex(size=persons, offset=None)
        con.execute("create or replace temp table person_ids as select lopenr as id_lopenr, "
                    "(row_number() over () - 1)::bigint as pid from stg_personer")
    con.execute(f"set variable person_index_size = {index.size}")
    con.execute(f"create or replace temp view keyed_personer as {index.keyed('stg_personer')}")
    return index
