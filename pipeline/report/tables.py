"""Releasable tables as HTML table models (header, rows of cells) in the report's language.

A cell is text, a number or the suppression marker; count cells carry the kind of count they hold
(`persons` / `person_years`), which the page writes as a data attribute so the disclosure check can
find every published count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline.report import fmt

PERSONS_COLUMN = re.compile(r"^(n_persons|persons(_in|_out|_excluded)?)$")
PERSON_YEARS_COLUMN = re.compile(r"^(n_person_years|person_years(_in|_out|_excluded)?)$")
GROUPS = ("asyl", "overforing", "familie", "alle")


@dataclass(frozen=True)
class Cell:
    text: str
    kind: str = "text"          # text | num | marker
    count: str | None = None    # persons | person_years for a published count


@dataclass(frozen=True)
class HtmlTable:
    id: str
    header: list[str]
    rows: list[list[Cell]]
    note: str = ""
    row_classes: list[str] = field(default_factory=list)


def count_kind(column: str) -> str | None:
    if PERSONS_COLUMN.match(column):
        return "persons"
    if PERSON_YEARS_COLUMN.match(column):
        return "person_years"
    return None


def cell(value: object, *, decimals: int | None, language: str, marker: str, count: str | None = None,
         stars: str = "") -> Cell:
    """One cell: the marker stays the marker; a number is formatted; anything else is text."""
    text = "" if value is None else str(value).strip()
    if text == marker:
        return Cell(marker, "marker", count)
    if decimals is None or text == "":
        return Cell(text, "text", count)
    try:
        number = float(text)
    except ValueError:
        return Cell(text, "text", count)
    return Cell(fmt.number(number, decimals=decimals, language=language) + stars, "num", count)


def decimals_of(column: str) -> int | None:
    """Decimals by column name: counts 0, shares and means 1, estimates 2, R² and p-values 3."""
    if count_kind(column) or column.startswith("n_") or column in ("step", "model"):
        return 0
    if column in ("r2", "adj_r2", "p_value", "r2_total", "r2_share"):
        return 3
    if column in ("estimate", "std_error", "ci_low", "ci_high", "coef", "difference", "tolerance",
                  "published", "value_run", "this_run", "published_value", "run_value"):
        return 2
    if column.endswith("_pct") or column in ("value", "mean", "sd", "deviation", "per_1000"):
        return 1
    return None


def frame_table(frame: pd.DataFrame, *, table_id: str, columns: list[str] | None = None,
                headers: list[str] | None = None, language: str, marker: str, note: str = "") -> HtmlTable:
    """Any releasable table, column by column (numbers formatted by column name)."""
    columns = columns or list(frame.columns)
    rows = [[cell(row[c], decimals=decimals_of(c), language=language, marker=marker, count=count_kind(c))
             for c in columns] for _, row in frame.iterrows()]
    return HtmlTable(table_id, headers or columns, rows, note)


def sample_flow(frame: pd.DataFrame, *, words: dict, language: str, marker: str) -> HtmlTable:
    columns = ["step", "description", "persons_in", "person_years_in", "persons_excluded",
               "person_years_excluded", "persons_out", "person_years_out"]
    headers = [words["step"], words["rule"], *(words[c] for c in columns[2:])]
    return frame_table(frame, table_id="sample_flow", columns=columns, headers=headers, language=language,
                       marker=marker)


def table3_1(frame: pd.DataFrame, *, words: dict, language: str, marker: str) -> HtmlTable:
    """Indicator rows, one column per category (the report's layout)."""
    keys = list(dict.fromkeys(zip(frame["indicator"], frame["population"], frame["unit"])))
    present = [g for g in GROUPS if g in set(frame["kategori"])]
    lookup = {(r.indicator, r.population, r.unit, r.kategori): r.value for r in frame.itertuples()}
    rows = []
    for indicator, population, unit in keys:
        decimals = 0 if unit == "antall" else 1
        count = "persons" if indicator == "personer" and unit == "antall" else None
        rows.append([Cell(indicator), Cell(population), Cell(unit)] +
                    [cell(lookup.get((indicator, population, unit, g), ""), decimals=decimals, language=language,
                          marker=marker, count=count) for g in present])
    header = [words["indicator"], words["population"], words["unit"], *(words[f"group_{g}"] for g in present)]
    return HtmlTable("table3_1", header, rows)


def table3_2(frame: pd.DataFrame, *, words: dict, language: str, marker: str) -> HtmlTable:
    rows = []
    for _, row in frame.iterrows():
        kind = words["kind_contribution"] if row["kind"] == "kommunebidrag" else words["kind_characteristic"]
        rows.append([Cell(kind), Cell(row["label"]),
                     cell(row["mean"], decimals=_decimals_32(row), language=language, marker=marker),
                     cell(row["sd"], decimals=_decimals_32(row), language=language, marker=marker),
                     cell(row["n_municipalities"], decimals=0, language=language, marker=marker)])
    header = ["", words["characteristic"], words["mean"], words["sd"], words["n_municipalities"]]
    return HtmlTable("table3_2", header, rows)


def _decimals_32(row: pd.Series) -> int:
    return 0 if row["variable"] in ("befolkning", "inntekt_30_59") else 2


def table3_3(frame: pd.DataFrame, *, words: dict, language: str, marker: str,
             labels: dict[str, str] | None = None) -> HtmlTable:
    """Characteristic rows: coefficient with stars, (SE) below, R² below that; one column per group."""
    labels = labels or {}
    present = [g for g in GROUPS if g in set(frame["gruppe"])]
    by_key = {(r["characteristic"], r["gruppe"]): r for _, r in frame.iterrows()}
    rows, classes = [], []
    for characteristic in dict.fromkeys(frame["characteristic"]):
        cells = [by_key.get((characteristic, g)) for g in present]
        rows.append([Cell(labels.get(characteristic, characteristic))] +
                    [cell(r["coef"], decimals=2, language=language, marker=marker, stars=str(r["stars"]))
                     if r is not None else Cell("") for r in cells])
        se = [cell(r["std_error"], decimals=2, language=language, marker=marker) if r is not None else Cell("")
              for r in cells]
        rows.append([Cell("")] + [Cell(f"({c.text})", c.kind) if c.kind == "num" else c for c in se])
        rows.append([Cell("R²")] + [cell(r["r2"], decimals=3, language=language, marker=marker)
                                    if r is not None else Cell("") for r in cells])
        classes += ["coef", "se", "r2"]
    n_row = [Cell("N")] + [cell(by_key[(frame["characteristic"].iloc[0], g)]["n"], decimals=0, language=language,
                                marker=marker) for g in present]
    rows.append(n_row)
    classes.append("n")
    header = [words["characteristic"], *(words[f"group_{g}"] for g in present)]
    return HtmlTable("table3_3", header, rows, words["stars_note"], classes)


def regression_table(frame: pd.DataFrame, *, words: dict, language: str, marker: str) -> HtmlTable:
    """Fig 3.15's models side by side: coefficient over (SE), then persons, person-years and R²."""
    models = sorted(frame["model"].unique(), key=int)
    terms = list(dict.fromkeys(frame["term"]))
    by_key = {(r["term"], r["model"]): r for _, r in frame.iterrows()}
    rows, classes = [], []
    for term in terms:
        found = [by_key.get((term, m)) for m in models]
        rows.append([Cell(term)] + [cell(r["estimate"], decimals=2, language=language, marker=marker)
                                    if r is not None else Cell("") for r in found])
        se = [cell(r["std_error"], decimals=2, language=language, marker=marker) if r is not None else Cell("")
              for r in found]
        rows.append([Cell("")] + [Cell(f"({c.text})", c.kind) if c.kind == "num" else c for c in se])
        classes += ["coef", "se"]
    firsts = {m: frame.loc[frame["model"] == m].iloc[0] for m in models}
    for column, label, decimals in (("n_persons", words["persons"], 0), ("n_person_years", words["person_years"], 0),
                                    ("r2", "R²", 3)):
        rows.append([Cell(label)] + [cell(firsts[m][column], decimals=decimals, language=language, marker=marker,
                                          count=count_kind(column)) for m in models])
        classes.append("footer")
    header = [words["term"], *(f"({m})" for m in models)]
    return HtmlTable("fig3_15_table", header, rows, row_classes=classes)

