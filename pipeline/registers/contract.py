"""The input contract (data-contract.md) as data: tables, column types, keys and code lists."""
from __future__ import annotations

import csv
from dataclasses import dataclass

from pipeline.config import REFERENCE_DATA_DIR

# DuckDB types of the contract's column types.
STRING, INT, BIGINT, DATE, FLOAT, BOOL = "VARCHAR", "INTEGER", "BIGINT", "DATE", "DOUBLE", "BOOLEAN"


@dataclass(frozen=True)
class Table:
    name: str
    columns: dict[str, str]          # contract column -> DuckDB type
    key: tuple[str, ...] = ()        # must be unique
    required: bool = True
    yearly: bool = False             # has `aar` and references `personer`
    nullable: tuple[str, ...] = ()   # columns where missing values are allowed
    may_be_empty: bool = False       # an event table: on a small extract nobody may have the event


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "personer",
            {
                "lopenr": STRING, "kjonn": INT, "foedselsaar": INT, "fodeland": STRING,
                "landbakgrunn": STRING, "invkat": STRING, "innvandringsgrunn": STRING,
                "innvandringsdato": DATE, "mor_lopenr": STRING, "far_lopenr": STRING,
            },
            key=("lopenr",),
            nullable=("fodeland", "landbakgrunn", "innvandringsgrunn", "innvandringsdato",
                      "mor_lopenr", "far_lopenr"),
        ),
        Table("bosted", {"lopenr": STRING, "aar": INT, "kommnr": STRING},
              key=("lopenr", "aar"), yearly=True),
        Table(
            "inntekt",
            {"lopenr": STRING, "aar": INT, "yrkinnt": BIGINT, "sosialhjelp": BIGINT,
             "grunn_hjelpestonad": BIGINT, "bostotte": BIGINT},
            key=("lopenr", "aar"), yearly=True,
            nullable=("sosialhjelp", "grunn_hjelpestonad", "bostotte"),
        ),
        Table("utdanning", {"lopenr": STRING, "aar": INT, "nus_hoyeste": STRING, "nus_igang": STRING},
              key=("lopenr", "aar"), yearly=True, nullable=("nus_hoyeste", "nus_igang"), may_be_empty=True),
        Table("familie", {"lopenr": STRING, "aar": INT, "partner_lopenr": STRING},
              key=("lopenr", "aar"), yearly=True, may_be_empty=True),
        Table("kommuneendringer", {"aar": INT, "kommnr": STRING, "kommnr_2020": STRING},
              key=("aar", "kommnr")),
        Table(
            "kommuner_2020",
            {"kommnr_2020": STRING, "kommunenavn": STRING, "sentralitetsindeks": FLOAT,
             "sentralitetsklasse": INT, "okonomisk_region": STRING, "sykehus_i_region": BOOL},
            key=("kommnr_2020",),
            nullable=("sentralitetsindeks", "sentralitetsklasse", "okonomisk_region", "sykehus_i_region"),
        ),
        Table("naering_2010", {"kommnr_2020": STRING, "naering": STRING, "sysselsatte": BIGINT},
              key=("kommnr_2020", "naering")),
        Table("grunnbelop", {"aar": INT, "g": BIGINT}, key=("aar",), required=False),
    )
}

def _invkat_codes() -> tuple[str, ...]:
    """SSB's immigrant categories, from the shipped code list reference_data/invkat.csv."""
    with open(REFERENCE_DATA_DIR / "invkat.csv", newline="", encoding="utf-8") as fh:
        return tuple(row["invkat"] for row in csv.DictReader(fh))


CODE_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("personer", "kjonn"): ("1", "2"),
    ("personer", "invkat"): _invkat_codes(),
}

# Parquet and CSV are read by DuckDB; Stata, SPSS and SAS (data set or transport file) by pyreadstat.
FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".dta", ".sav", ".sas7bdat", ".xpt")
