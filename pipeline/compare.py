"""Stage `compare-report`: this run's numbers beside the report's published ones.

The published numbers are data (`reference_data/report_numbers.csv`): for each one its figure or table,
its line in the report text, the value, the tolerance, and where this run's value is found — an output
table of `OUT/tables`, a key that selects rows by column names (`model=1;term=kategori[familie]`; a
value `a|b` takes the first alternative present) and the column to read. The stage reads only those
releasable tables, never the work directory, so it is safe on real extracts. A missing table, a
missing row or a suppressed value makes that row `missing`; extra rows and columns are ignored.

Tolerance kinds: `abs` (|run − published| ≤ tolerance, in the unit), `rel` (≤ tolerance × |published|),
`se` (≤ tolerance × the report's standard error; a starred slope must also keep its sign), `above`
(run > published) and `info` (shown, not judged). Table 3.3 is also judged as a whole: at least
`SLOPE_SHARE_REQUIRED` of its slopes within two of the report's SEs, and every starred slope with its sign.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import PUBLISHED_NUMBERS, Settings
from pipeline.io import write_csv, write_text
from pipeline.runlog import record

STAGE = "compare-report"
TOLERANCE_KINDS = ("abs", "rel", "se", "above", "info")
SLOPE_SOURCE = "table 3.3"
SLOPE_SHARE_REQUIRED = 0.90
STATUSES = ("within", "outside", "missing", "info")
COMPARISON_COLUMNS = ("id", "source", "location", "description", "unit", "published", "published_se", "stars",
                      "this_run", "difference", "tolerance", "status", "note")


@dataclass(frozen=True)
class Measured:
    """This run's value of one published number, or why there is none (`value` NaN, `note` says why)."""

    value: float
    note: str = ""


def read_published(path: Path = PUBLISHED_NUMBERS) -> pd.DataFrame:
    """The published numbers (one row each); numeric columns parsed, unknown tolerance kinds refused."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("published", "tolerance", "published_se", "scale"):
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
    unknown = sorted(set(frame["tolerance_kind"]) - set(TOLERANCE_KINDS))
    if unknown:
        raise ValueError(f"{path}: tolerance_kind {unknown} unknown; allowed: {list(TOLERANCE_KINDS)}")
    if frame["id"].duplicated().any():
        raise ValueError(f"{path}: duplicated id {frame.loc[frame['id'].duplicated(), 'id'].tolist()}")
    return frame


def parse_key(key: str) -> list[tuple[str, list[str]]]:
    """`col=a;col2=b|c` → [(col, [a]), (col2, [b, c])]: row filters, alternatives in order of preference."""
    filters = []
    for part in filter(None, (p.strip() for p in key.split(";"))):
        column, _, value = part.partition("=")
        filters.append((column.strip(), [v.strip() for v in value.split("|")]))
    return filters


def _same(cells: pd.Series, value: str) -> pd.Series:
    """Cells equal to `value` as text, or as numbers when both are numbers (1 and 1.0 match)."""
    text = cells.astype(str).str.strip()
    equal = text == value
    try:
        number = float(value)
    except ValueError:
        return equal
    return equal | (pd.to_numeric(text, errors="coerce") == number)


def lookup(table: pd.DataFrame | None, *, key: str, column: str, marker: str, scale: float = 1.0) -> Measured:
    """The value of `column` in the rows of `table` that `key` selects (all rows must agree)."""
    if table is None:
        return Measured(math.nan, "table not in the output directory")
    if column not in table.columns:
        return Measured(math.nan, f"no column '{column}'")
    rows = table
    for name, alternatives in parse_key(key):
        if name not in rows.columns:
            return Measured(math.nan, f"no column '{name}'")
        for alternative in alternatives:
            chosen = rows.loc[_same(rows[name], alternative)]
            if len(chosen):
                break
        if not len(chosen):
            return Measured(math.nan, f"no row with {name} = {' or '.join(alternatives)}")
        rows = chosen
    values = rows[column].astype(str).str.strip().unique()
    if len(values) > 1:
        return Measured(math.nan, f"{len(rows)} rows with different values of '{column}'")
    if values[0] == marker:
        return Measured(math.nan, f"suppressed ({marker})")
    if values[0] == "":
        return Measured(math.nan, f"no value of '{column}'")
    number = pd.to_numeric(values[0], errors="coerce")
    if pd.isna(number):
        return Measured(math.nan, f"'{values[0]}' is not a number")
    chosen_note = " ".join(f"{name} = {rows[name].iloc[0]}" for name, alternatives in parse_key(key)
                           if len(alternatives) > 1)
    return Measured(float(number) * scale, f"compared with {chosen_note}" if chosen_note else "")


def judge(published: float, value: float, *, kind: str, tolerance: float, published_se: float = math.nan,
          stars: str = "") -> tuple[str, str]:
    """(status, reason) of one number: within / outside its tolerance, missing, or info."""
    if kind == "info":
        return "info", ""
    if not math.isfinite(value):
        return "missing", ""
    if kind == "above":
        return ("within", "") if value > published else ("outside", "")
    if kind == "abs":
        limit = tolerance
    elif kind == "rel":
        limit = tolerance * abs(published)
    elif kind == "se":
        limit = tolerance * published_se
    else:
        raise ValueError(f"tolerance kind {kind!r}; allowed: {list(TOLERANCE_KINDS)}")
    if kind == "se" and stars and np.sign(value) != np.sign(published):
        return "outside", "starred slope with the other sign"
    return ("within", "") if abs(value - published) <= limit + 1e-12 else ("outside", "")


def tolerance_text(kind: str, tolerance: float, published_se: float, unit: str) -> str:
    """Human-readable tolerance: ±2 pp, ±10 %, ±2 SE (0.88), > 0."""
    if kind == "abs":
        return f"±{tolerance:g} {'pp' if unit.startswith(('%', 'pp')) else unit}"
    if kind == "rel":
        return f"±{100 * tolerance:g} %"
    if kind == "se":
        return f"±{tolerance:g} SE ({tolerance * published_se:.3g})"
    if kind == "above":
        return "> published"
    return "not judged"


def compare(published: pd.DataFrame, tables: dict[str, pd.DataFrame | None], *, marker: str) -> pd.DataFrame:
    """One row per published number: this run's value, the difference, the tolerance and the status,
    then the two table 3.3 rules (share of slopes within two SEs; starred slopes with their sign)."""
    rows = []
    for spec in published.itertuples(index=False):
        scale = spec.scale if math.isfinite(spec.scale) else 1.0
        measured = lookup(tables.get(spec.output), key=spec.key, column=spec.column, marker=marker, scale=scale)
        status, reason = judge(spec.published, measured.value, kind=spec.tolerance_kind, tolerance=spec.tolerance,
                               published_se=spec.published_se, stars=spec.stars)
        note = "; ".join(filter(None, [f"{spec.output}: {measured.note}" if status == "missing" or
                                       measured.note.startswith("compared") else "", reason]))
        rows.append({
            "id": spec.id, "source": spec.source, "location": spec.location, "description": spec.description,
            "unit": spec.unit, "published": spec.published, "published_se": spec.published_se, "stars": spec.stars,
            "this_run": measured.value, "difference": measured.value - spec.published,
            "tolerance": tolerance_text(spec.tolerance_kind, spec.tolerance, spec.published_se, spec.unit),
            "status": status, "note": note,
        })
    frame = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    return pd.concat([frame, slope_rules(frame)], ignore_index=True)


SLOPE_RULE_IDS = ("table3_3.share_within_2se", "table3_3.starred_same_sign")


def slope_rules(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 3.3 as a whole: share of its slopes within two report SEs (a missing slope counts as
    outside), and the number of starred slopes that keep their sign."""
    slopes = frame.loc[frame["source"] == SLOPE_SOURCE]
    if slopes.empty:
        return pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    within_se = (slopes["this_run"] - slopes["published"]).abs() <= 2 * slopes["published_se"]
    share = 100 * within_se.sum() / len(slopes)
    starred = slopes.loc[slopes["stars"] != ""]
    same_sign = int((np.sign(starred["this_run"]) == np.sign(starred["published"])).sum())
    required = 100 * SLOPE_SHARE_REQUIRED
    return pd.DataFrame([
        {"id": SLOPE_RULE_IDS[0], "source": SLOPE_SOURCE, "location": "1246-1415",
         "description": f"share of the {len(slopes)} slopes within two of the report's SEs", "unit": "%",
         "published": required, "published_se": np.nan, "stars": "", "this_run": share,
         "difference": share - required, "tolerance": f"≥ {required:g} %",
         "status": "within" if share >= required else "outside", "note": f"{int(within_se.sum())} of {len(slopes)}"},
        {"id": SLOPE_RULE_IDS[1], "source": SLOPE_SOURCE, "location": "1246-1424",
         "description": "starred slopes with the report's sign", "unit": "slopes",
         "published": float(len(starred)), "published_se": np.nan, "stars": "", "this_run": float(same_sign),
         "difference": float(same_sign - len(starred)), "tolerance": "all",
         "status": "within" if same_sign == len(starred) else "outside", "note": ""},
    ], columns=list(COMPARISON_COLUMNS))


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}".rstrip("0").rstrip(".")


def markdown(comparison: pd.DataFrame) -> str:
    """The comparison as a Markdown report: counts by status, then one table row per number."""
    single_slope = (comparison["source"] == SLOPE_SOURCE) & ~comparison["id"].isin(SLOPE_RULE_IDS)
    counted = comparison.loc[~single_slope]   # the slopes count through the two table 3.3 rules
    counts = counted["status"].value_counts()
    judged = counted.loc[counted["status"] != "info"]
    slopes_outside = int((comparison.loc[single_slope, "status"] != "within").sum())
    lines = [
        "# This run beside the published report (Brekke et al. 2024, chapter 3)",
        "",
        "Published numbers: `reference_data/report_numbers.csv` (location = line in "
        "`../shared/spec/report/chapter3_and_appendix1.no.txt`).",
        "",
        f"{len(judged)} judged: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("within", "outside", "missing"))
        + f"; {counts.get('info', 0)} shown without a tolerance. The {int(single_slope.sum())} table 3.3 slopes are "
        f"judged together by its two rules (at least {100 * SLOPE_SHARE_REQUIRED:g} % within two of the report's SEs, "
        f"starred ones with their sign); {slopes_outside} of them on their own "
        "are outside two SEs.",
        "",
        "| source | id | line | published | this run | difference | tolerance | status | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison.itertuples(index=False):
        published = _number(row.published) + (row.stars or "")
        if math.isfinite(row.published_se):
            published += f" ({_number(row.published_se)})"
        lines.append(f"| {row.source} | {row.id} | {row.location} | {published} | {_number(row.this_run)} | "
                     f"{_number(row.difference)} | {row.tolerance} | {row.status} | {row.note} |")
    return "\n".join(lines) + "\n"


def read_tables(tables_dir: Path, names: list[str]) -> dict[str, pd.DataFrame | None]:
    """The named CSVs of the output directory as text (None for a missing or empty one)."""
    tables = {}
    for name in names:
        path = tables_dir / name
        try:
            tables[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (FileNotFoundError, pd.errors.EmptyDataError):
            tables[name] = None
    return tables


def run(settings: Settings, *, published_path: Path = PUBLISHED_NUMBERS) -> list[Path]:
    """Compare the releasable tables of settings.paths.out with the published numbers; write both files."""
    paths = settings.paths
    published = read_published(published_path)
    tables = read_tables(paths.tables, sorted(published["output"].unique()))
    comparison = compare(published, tables, marker=settings.suppression_marker)
    written = [write_csv(comparison, paths.report_comparison_csv, float_format="%.6g"),
               write_text(markdown(comparison), paths.report_comparison_md)]
    counts = comparison["status"].value_counts().to_dict()
    record(paths.run_log, STAGE, "done", **{status: int(counts.get(status, 0)) for status in STATUSES})
    return written
