"""Stage 1, part of load: a dense integer index `pid` in [0, size) for every lopenr of personer.

At national scale the registers hold some 55 million person-years each. Keyed by a dense integer, the
pass over the registers (pipeline/registers/municipalities.py) looks persons and person-years up in arrays: a
person's attributes, whether personer has them, a person-year seen before; no hash table of 55 million
keys and no join of registers.

When every lopenr of personer is a canonical decimal integer (no sign, no leading zero) of at most 16
digits in a compact range, pid is that number less the smallest; otherwise pid comes from a dictionary
table, `person_ids`. A lopenr of another table that is not canonical cannot equal a personer lopenr, so it
counts as an unknown person. The registers' lopenr are read as numbers by `canonical_numbers`, eight digits
at a time, in the thread that counts them: in DuckDB, parsing and checking them took a fifth of the pass.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The integer index is used when it wastes at most this: size <= 2 * persons + SPARE_IDS.
SPARE_IDS = 1_000_000
MAX_DIGITS = 16   # canonical_numbers reads two words of eight digits


def canonical_number(lopenr: str) -> str:
    """SQL: the number a lopenr expression writes canonically (digits, no plus sign, no leading zero; a minus
    sign if negative), else null. try_cast alone also reads '+7', ' 7', '007', '1e2', '1_000' and '0x10'."""
    number = f"try_cast({lopenr} as bigint)"
    return f"case when cast({number} as varchar) = {lopenr} then {number} end"


@dataclass(frozen=True)
class PersonIndex:
    size: int                  # pid runs over [0, size)
    offset: int | None         # pid = lopenr - offset; None: pid from the dictionary table person_ids

    def flagged(self, relation: str) -> str:
        """A query of `relation` (staged rows, each with the flag __refused of its failed checks) for the pass
        over the registers: first `person`, which `pids` turns into the pid (null for a row that fails a
        check), then the columns. (One column, not a second one of flags: the pass reads 55 million rows a
        register.)"""
        if self.offset is None:
            return (f"select case when rows.__refused then null else person_ids.pid end as person, "
                    f"rows.* exclude (__refused) from {relation} as rows "
                    f"left join person_ids on person_ids.id_lopenr = rows.lopenr")
        return f"select case when __refused then null else lopenr end as person, * exclude (__refused) from {relation}"

    def pids(self, person: pa.Array) -> np.ndarray:
        """The pid of each value of a `person` column of `flagged`: -1 for null, or a lopenr that cannot be
        one of personer."""
        if self.offset is None:
            return pc.fill_null(person, -1).to_numpy()
        pid = canonical_numbers(person) - self.offset
        return np.where((pid >= 0) & (pid < self.size), pid, -1)

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
    if (persons and not not_canonical and 0 <= low and high < 10 ** MAX_DIGITS
            and high - low + 1 <= 2 * persons + SPARE_IDS):
        index = PersonIndex(size=high - low + 1, offset=low)
    else:
        index = PersonIndex(size=persons, offset=None)
        con.execute("create or replace temp table person_ids as select lopenr as id_lopenr, "
                    "(row_number() over () - 1)::bigint as pid from stg_personer")
    con.execute(f"set variable person_index_size = {index.size}")
    con.execute(f"create or replace temp view keyed_personer as {index.keyed('stg_personer')}")
    return index


# Eight ASCII bytes in a little-endian word (the first character the lowest byte), a byte at a time.
ZEROS, SIXES = np.uint64(0x3030303030303030), np.uint64(0x0606060606060606)
HIGH_NIBBLES, THREES = np.uint64(0xF0F0F0F0F0F0F0F0), np.uint64(0x3333333333333333)


def canonical_numbers(text: pa.Array) -> np.ndarray:
    """The number each value of a string array writes canonically (ASCII digits only, no leading zero, at
    most MAX_DIGITS), else -1 (null too): the values of canonical_number, without SQL.

    Each value is right-aligned in a row of 8 or 16 bytes padded with '0', read as words of eight digits."""
    if text.type != pa.string():   # 32-bit offsets, as DuckDB hands them
        text = text.cast(pa.string())
    n = len(text)
    _, offset_buffer, data_buffer = text.buffers()
    offsets = np.frombuffer(offset_buffer, np.int32, n + 1, text.offset * 4)
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    width = 8 if n == 0 or lengths.max() <= 8 else MAX_DIGITS
    if n and (lengths == width).all():   # fixed-width ids: the rows are the data as it is
        rows = data[offsets[0]:offsets[0] + n * width].reshape(n, width)
        lead = rows[:, 0]
    else:
        columns = np.arange(width)
        filled = columns >= (width - lengths)[:, None]
        rows = np.full((n, width), ord("0"), np.uint8)
        rows[filled] = data[((offsets[:-1] + lengths - width)[:, None] + columns)[filled]]
        lead = rows[np.arange(n), np.clip(width - lengths, 0, width - 1)]
    words = np.ascontiguousarray(rows).view("<u8")
    # a byte is a digit (0x30-0x39) if its high nibble is 3, and still 3 after adding 6
    digits = ((words & HIGH_NIBBLES) | (((words + SIXES) & HIGH_NIBBLES) >> np.uint64(4))) == THREES
    canonical = digits.all(axis=1) & (lengths >= 1) & (lengths <= width) & ((lead != ord("0")) | (lengths == 1))
    if text.null_count:
        canonical &= text.is_valid().to_numpy(zero_copy_only=False)
    values = words - ZEROS   # then pairs, fours and eights of digits, each in the low bits of its lane
    values = (values * np.uint64(10) + (values >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    values = (values * np.uint64(100) + (values >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    values = ((values * np.uint64(10000) + (values >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.int64)
    number = values[:, 0] if width == 8 else values[:, 0] * 100_000_000 + values[:, 1]
    return np.where(canonical, number, -1)
