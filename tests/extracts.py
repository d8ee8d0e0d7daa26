"""A tiny hand-made register extract (the input contract), for tests of every definition.

Each person exists to exercise one rule; the expected values in the tests are worked out by hand from
the rows below. G: 2014 88,370; 2015 90,068; 2016 92,576; 2017 93,634; 2018 96,883.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

YEARS = range(2010, 2021)

# 2020 structure: Oslo 0301, Halden 3001 (0101 until 2019), Trondheim 5001 (1601 until 2017),
# Inderøy 5053 (1756 until 2017; 5053 from 2018) with Mosvik 1723 merged into 1756 in 2012.
CROSSWALK = (
    [(y, "0301", "0301") for y in YEARS]
    + [(y, "0101", "3001") for y in YEARS if y < 2020] + [(2020, "3001", "3001")]
    + [(y, "1601", "5001") for y in YEARS if y < 2018] + [(y, "5001", "5001") for y in YEARS if y >= 2018]
    + [(y, "1723", "5053") for y in YEARS if y < 2012]
    + [(y, "1756", "5053") for y in YEARS if y < 2018] + [(y, "5053", "5053") for y in YEARS if y >= 2018]
)


def person(lopenr, kjonn, foedselsaar, fodeland="000", invkat="A", grunn=None, dato=None, mor=None, far=None):
    return dict(lopenr=lopenr, kjonn=kjonn, foedselsaar=foedselsaar, fodeland=fodeland,
                landbakgrunn=fodeland, invkat=invkat, innvandringsgrunn=grunn, innvandringsdato=dato,
                mor_lopenr=mor, far_lopenr=far)


def tiny_extract() -> dict[str, pd.DataFrame]:
    """The contract tables of the tiny world, as data frames of strings and ints."""
    personer = pd.DataFrame([
        # R1 asyl, Syria, arrives 2014; income exactly 1 G in 2015, 1 G + 1 in 2016
        person("R1", 1, 1980, "564", "B", "712", "2014-06-01"),
        # R2 overforing, Eritrea, arrives 2016 to Trondheim's old code 1601, partner R3, child C1
        person("R2", 2, 1995, "241", "B", "711", "2016-03-01"),
        # R3 familie, partner of R2, arrives 2016
        person("R3", 1, 1990, "241", "B", "741", "2016-09-15"),
        # C1 child of R2 (born 2010, resident 2017 -> under 18); C2 adult child of R2 (born 1990? no:
        # a child of 17 on 1 Jan 2017 counts, one aged 18 does not)
        person("C1", 1, 2010, "241", "B", "741", "2016-09-15", mor="R2"),
        person("C2", 2, 1999, "241", "B", "741", "2016-09-15", mor="R2"),
        # R4 immigrated 2009: before the study
        person("R4", 1, 1985, "404", "B", "712", "2009-05-05"),
        # R5 immigrated 2020: settlement on 1 Jan 2021 is after the study
        person("R5", 2, 1985, "404", "B", "712", "2020-02-02"),
        # R6 asyl 2012, lives 2013-2014, emigrates during 2014 (no income 2014)
        person("R6", 1, 1950, "346", "B", "712", "2012-01-10"),
        # R7 other flight (713): refugee background, not a category
        person("R7", 1, 1970, "452", "B", "713", "2013-04-04"),
        # R8 asyl 2011 who moved within 2011: first 1 January is in Mosvik's old code 1723 (-> 5053)
        person("R8", 2, 1992, "456", "B", "712", "2011-02-01"),
        # R9 asyl 2013, never resident on 1 Jan 2014 (left again)
        person("R9", 1, 1988, "564", "B", "712", "2013-03-03"),
        # R10 asyl 2013, abroad on 1 Jan 2014, resident in Halden from 2015: no settlement municipality
        person("R10", 2, 1984, "564", "B", "712", "2013-05-05"),
        # N1, N2 Norwegians
        person("N1", 1, 1975), person("N2", 2, 1960),
    ])
    bosted = (
        [("R1", y, "0301") for y in range(2015, 2021)]
        + [("R2", 2017, "1601")] + [("R2", y, "0301") for y in range(2018, 2021)]
        + [("R3", 2017, "1601")] + [("R3", y, "5001") for y in range(2018, 2021)]
        + [("C1", 2017, "1601"), ("C2", 2017, "1601")]
        + [("R4", y, "0101") for y in range(2010, 2020)] + [("R4", 2020, "3001")]
        + [("R6", 2013, "0301"), ("R6", 2014, "0301")]
        + [("R7", y, "0301") for y in range(2014, 2021)]
        + [("R8", 2012, "1756")] + [("R8", y, "1756") for y in range(2013, 2018)]
        + [("R8", y, "5053") for y in range(2018, 2021)]
        + [("R10", y, "0101") for y in (2015, 2016)]
        + [("N1", y, "0301") for y in YEARS] + [("N2", y, "0101") for y in YEARS if y < 2020]
        + [("N2", 2020, "3001")]
    )
    g = {2014: 88370, 2015: 90068, 2016: 92576, 2017: 93634, 2018: 96883}
    income = {
        ("R1", 2014): 0, ("R1", 2015): g[2015], ("R1", 2016): g[2016] + 1,
        ("R2", 2016): 0, ("R2", 2017): 50_000, ("R2", 2018): 400_000,
        ("R3", 2016): 0, ("R3", 2017): 0, ("R3", 2018): 0,
        ("R6", 2012): 10_000, ("R6", 2013): 200_000,
        ("R7", 2013): 0, ("R8", 2011): 0, ("R8", 2012): 0, ("R8", 2013): -5_000,
        ("R9", 2013): 0, ("R10", 2013): 0, ("R10", 2015): 300_000, ("R10", 2016): 0,
    }
    for (who, rows) in (("R1", range(2017, 2021)), ("R2", range(2019, 2021)), ("R3", range(2019, 2021)),
                        ("R4", YEARS), ("R7", range(2014, 2021)), ("R8", range(2014, 2021)),
                        ("N1", YEARS), ("N2", YEARS)):
        for y in rows:
            income.setdefault((who, y), 500_000)
    for y in (2016, 2017):
        income[("C1", y)] = 0
        income[("C2", y)] = 0
    inntekt = pd.DataFrame(
        [(k[0], k[1], v, 0, 0, 0) for k, v in sorted(income.items())],
        columns=["lopenr", "aar", "yrkinnt", "sosialhjelp", "grunn_hjelpestonad", "bostotte"])
    utdanning = pd.DataFrame([
        ("R1", 2015, "", ""),              # education at arrival missing (empty) -> 99
        ("R2", 2017, "700000", ""),        # long tertiary -> 5
        ("R2", 2018, "700000", "800000"),  # in education in 2018
        ("R3", 2017, "302000", ""),        # lower secondary / upper-secondary basic -> 2
        ("R3", 2018, "302000", "400000"),  # in education in 2018 with no income
        ("R8", 2012, "999999", ""),        # unknown (9) -> 99
        ("N1", 2015, "600000", ""),
    ], columns=["lopenr", "aar", "nus_hoyeste", "nus_igang"])
    familie = pd.DataFrame([("R2", 2017, "R3"), ("R3", 2017, "R2"), ("R2", 2018, "R3"), ("R3", 2018, "R2")],
                           columns=["lopenr", "aar", "partner_lopenr"])
    kommuneendringer = pd.DataFrame(CROSSWALK, columns=["aar", "kommnr", "kommnr_2020"])
    kommuner_2020 = pd.DataFrame([
        ("0301", "Oslo", 1000.0, 1, "0301", True), ("3001", "Halden", 700.0, 3, "3001", False),
        ("5001", "Trondheim", 900.0, 2, "5001", True), ("5053", "Inderøy", 500.0, 5, "5002", False),
    ], columns=["kommnr_2020", "kommunenavn", "sentralitetsindeks", "sentralitetsklasse",
                "okonomisk_region", "sykehus_i_region"])
    naering_2010 = pd.DataFrame(
        [(k, s, n) for k in ("0301", "3001", "5001", "5053") for s, n in (("A", 10), ("C", 30), ("G", 60))],
        columns=["kommnr_2020", "naering", "sysselsatte"])
    return {
        "personer": personer,
        "bosted": pd.DataFrame(bosted, columns=["lopenr", "aar", "kommnr"]),
        "inntekt": inntekt,
        "utdanning": utdanning,
        "familie": familie,
        "kommuneendringer": kommuneendringer,
        "kommuner_2020": kommuner_2020,
        "naering_2010": naering_2010,
    }


def write_extract(directory: Path, tables: dict[str, pd.DataFrame], *, fmt: str = "csv",
                  delimiter: str = ";") -> Path:
    """Write the tables as `NAME.csv` (with the given delimiter) or `NAME.parquet`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(directory / f"{name}.csv", index=False, sep=delimiter)
        else:
            frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory


def write_statistical(directory: Path, tables: dict[str, pd.DataFrame], *, fmt: str) -> Path:
    """Write the tables as SPSS (`sav`), Stata (`dta`) or SAS transport (`xpt`) files with pyreadstat:
    dates as date values, missing text as empty text (what these formats hold)."""
    import pyreadstat

    writers = {"sav": pyreadstat.write_sav, "dta": pyreadstat.write_dta,
               "xpt": lambda frame, path: pyreadstat.write_xport(frame, path, file_format_version=8)}
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame = frame.copy()
        for column in frame.columns:
            if column.endswith("dato"):
                frame[column] = pd.to_datetime(frame[column]).dt.date.astype(object)
            elif not pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
                frame[column] = frame[column].astype(object).where(frame[column].notna(), "")
        writers[fmt](frame, str(directory / f"{name}.{fmt}"))
    return directory
