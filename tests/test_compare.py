"""compare-report: published numbers as data, and this run's values from a small hand-made output directory."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import compare
from pipeline.config import PUBLISHED_NUMBERS, load_settings

REPORT_TEXT = Path(__file__).resolve().parents[2] / "shared" / "spec" / "report" / "chapter3_and_appendix1.no.txt"
MARKER = "prikket"


def write_tables(tables: Path) -> None:
    """A tiny OUT/tables: fig 3.15 with two models, table 3.2 with a suppressed SD, no table 3.3."""
    tables.mkdir(parents=True)
    pd.DataFrame({
        "model": [1, 1, 1, 6, 6],
        "model_name": ["baseline"] * 3 + ["+ kjønn"] * 2,
        "term": ["Intercept", "kategori[familie]", "kategori[overforing]", "kategori[familie]", "kategori[overforing]"],
        "estimate": [50.0, -9.5, -17.0, 0.4, -7.2],
        "n_person_years": [330_000] * 5, "n_persons": [65_000] * 5,
        "extra_column_a_later_version_adds": ["x"] * 5,
    }).to_csv(tables / "fig3_15_coefficients.csv", index=False)
    pd.DataFrame({
        "kind": ["kommunebidrag", "kommunebidrag", "kjennetegn", "kjennetegn"],
        "variable": ["asyl", "alle", "andel_arbeid_utdanning_30_59", "befolkning"],
        "mean": [0.0, 1.0, 84.0, 15_000],
        "sd": [MARKER, 9.0, 3.5, 43_000],
        "n_municipalities": [340, 349, 356, 356],
    }).to_csv(tables / "table3_2.csv", index=False)


def published_rows() -> pd.DataFrame:
    rows = [
        # id, published, kind, tolerance, se, stars, output, key, column, scale
        ("persons", 68_834, "rel", 0.10, "", "", "fig3_15_coefficients.csv", "model=1", "n_persons", 1),
        ("ovf1", -14, "abs", 2, "", "", "fig3_15_coefficients.csv", "model=1;term=kategori[overforing]", "estimate", 1),
        ("fam1", -8, "abs", 2, "", "", "fig3_15_coefficients.csv", "model=1;term=kategori[familie]", "estimate", 1),
        ("fam6", 0, "above", "", "", "", "fig3_15_coefficients.csv", "model=6;term=kategori[familie]", "estimate", 1),
        ("asyl_sd", 10.09, "rel", 0.15, "", "", "table3_2.csv", "kind=kommunebidrag;variable=asyl", "sd", 1),
        ("asyl_mean", 2.15, "info", "", "", "", "table3_2.csv", "kind=kommunebidrag;variable=asyl", "mean", 1),
        ("employed", 82.39, "rel", 0.10, "", "", "table3_2.csv",
         "kind=kjennetegn;variable=andel_sysselsatt_30_59|andel_arbeid_utdanning_30_59", "mean", 1),
        ("no_row", 1, "abs", 1, "", "", "table3_2.csv", "kind=kjennetegn;variable=not_there", "mean", 1),
        ("slope", -1.471, "se", 2, 0.415, "***", "table3_3.csv", "characteristic=x;gruppe=asyl", "coef", 1),
    ]
    columns = ["id", "published", "tolerance_kind", "tolerance", "published_se", "stars", "output", "key", "column",
               "scale"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(1, "source", ["figure 3.15"] * 4 + ["table 3.2"] * 4 + ["table 3.3"])
    frame.insert(2, "location", "1")
    frame.insert(3, "description", frame["id"])
    frame.insert(5, "unit", "pp")
    return frame


@pytest.fixture
def out_dir(tmp_path) -> Path:
    write_tables(tmp_path / "out" / "tables")
    return tmp_path / "out"


@pytest.fixture
def published_csv(tmp_path) -> Path:
    path = tmp_path / "published.csv"
    published_rows().to_csv(path, index=False)
    return path


def test_within_outside_missing_suppressed_and_alternatives_on_a_hand_made_output(out_dir, published_csv, tmp_path):
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=out_dir)
    compare.run(settings, published_path=published_csv)
    result = pd.read_csv(settings.paths.report_comparison_csv, keep_default_na=False).set_index("id")
    status = result["status"].to_dict()
    assert status["persons"] == "within"             # 65,000 vs 68,834 ± 10 %: 5.6 % off
    assert status["ovf1"] == "outside"               # -17 vs -14 ± 2
    assert status["fam1"] == "within"                # -9.5 vs -8 ± 2
    assert status["fam6"] == "within"                # 0.4 > 0
    assert status["asyl_sd"] == "missing" and "suppressed (prikket)" in result.loc["asyl_sd", "note"]
    assert status["asyl_mean"] == "info"
    assert status["employed"] == "within"            # falls back to the work-or-education share
    assert "andel_arbeid_utdanning_30_59" in result.loc["employed", "note"]
    assert status["no_row"] == "missing" and "no row" in result.loc["no_row", "note"]
    assert status["slope"] == "missing" and "table not in the output directory" in result.loc["slope", "note"]
    assert float(result.loc["fam1", "difference"]) == pytest.approx(-1.5)
    # the table 3.3 rules count a missing slope as outside
    assert status["table3_3.share_within_2se"] == "outside"
    assert settings.paths.report_comparison_md.read_text(encoding="utf-8").count("\n| ") == len(result) + 1


def test_relative_tolerance_boundary_and_starred_sign():
    assert compare.judge(68_834, 65_000, kind="rel", tolerance=0.10) == ("within", "")
    assert compare.judge(68_834, 61_900, kind="rel", tolerance=0.10)[0] == "outside"
    assert compare.judge(-1.471, -0.70, kind="se", tolerance=2, published_se=0.415, stars="***")[0] == "within"
    assert compare.judge(-1.471, -2.40, kind="se", tolerance=2, published_se=0.415, stars="***")[0] == "outside"
    # within two SEs but with the other sign: a starred slope fails, an unstarred one passes
    assert compare.judge(0.254, -0.02, kind="se", tolerance=2, published_se=0.150, stars="*") == \
        ("outside", "starred slope with the other sign")
    assert compare.judge(0.0387, -0.02, kind="se", tolerance=2, published_se=0.195, stars="")[0] == "within"
    assert compare.judge(0, math.nan, kind="above", tolerance=math.nan)[0] == "missing"


def test_slope_rules_count_the_share_within_two_ses_and_the_signs():
    slopes = pd.DataFrame({
        "source": "table 3.3", "published": [1.0, 1.0, 1.0, -1.0], "published_se": [0.5] * 4,
        "stars": ["*", "", "", "**"], "this_run": [1.2, 2.5, math.nan, 0.2],
    })
    rules = compare.slope_rules(slopes).set_index("id")
    # within two SEs (1.0): only 1.2; 2.5 and 0.2 are 1.5 and 1.2 away, the missing one counts as outside
    assert rules.loc["table3_3.share_within_2se", "this_run"] == pytest.approx(25.0)
    assert rules.loc["table3_3.starred_same_sign", "this_run"] == 1.0
    assert rules.loc["table3_3.starred_same_sign", "status"] == "outside"


def test_the_shipped_numbers_on_an_output_directory_without_most_tables(out_dir, tmp_path):
    """Every published number gets a row and a status; absent tables are rows marked missing."""
    runner = CliRunner()
    result = runner.invoke(app, ["compare-report", "--out", str(out_dir), "--work", str(tmp_path / "w")])
    assert result.exit_code == 0, result.stderr
    comparison = pd.read_csv(out_dir / "tables" / "report_comparison.csv", keep_default_na=False)
    published = compare.read_published()
    assert comparison["id"].tolist()[: len(published)] == published["id"].tolist()
    by_id = comparison.set_index("id")
    assert (by_id.loc[[i for i in published["id"] if i.startswith("table3_3.")], "status"] == "missing").all()
    assert by_id.loc["fig3_16.alle.r2_total", "status"] == "missing"
    assert by_id.loc["fig3_15.model1.familie", "status"] == "within"
    assert set(comparison["status"]) <= set(compare.STATUSES)
    work = tmp_path / "w"   # locked like every stage's, never written to
    assert not work.exists() or not any(work.iterdir())


def norwegian(text: str) -> str:
    """A published number as the report prints it: decimal comma, thin thousands, en dash for minus."""
    sign = "–" if text.startswith("-") else ""
    digits = text.lstrip("-")
    whole, _, decimals = digits.partition(".")
    whole = f"{int(whole):,}".replace(",", " ")
    return sign + whole + ("," + decimals if decimals else "")


@pytest.mark.skipif(not REPORT_TEXT.exists(), reason="report text not available")
def test_every_published_number_is_printed_at_its_location_in_the_report():
    lines = REPORT_TEXT.read_text(encoding="utf-8").splitlines()
    raw = pd.read_csv(PUBLISHED_NUMBERS, dtype=str, keep_default_na=False)
    assert raw["id"].is_unique and len(raw) > 100
    for row in raw.itertuples(index=False):
        text = " ".join(
            " ".join(lines[int(a) - 1: int(b or a)])
            for a, _, b in (part.strip().partition("-") for part in row.location.split(";")))
        text = re.sub(r"\s+", " ", text)
        if row.tolerance_kind == "above":
            assert "positiv" in text or "høyere" in text, row.id
            continue
        wanted = norwegian(row.published if row.source.startswith("table") else row.published.lstrip("-"))
        found = wanted in text or (wanted == "1" and "én prosent" in text)
        assert found, (row.id, wanted, text[:200])
        if row.published_se:
            assert f"({norwegian(row.published_se)})" in text, (row.id, row.published_se)
        if row.stars:
            assert wanted + row.stars in text, (row.id, row.stars)
