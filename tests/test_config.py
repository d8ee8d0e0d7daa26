"""Settings: defaults, the user's TOML, flags; and the shipped code lists agree with the defaults."""
from __future__ import annotations

import csv

import pytest

from pipeline.config import DEFAULT_CONFIG, PROJECT_ROOT, REFERENCE_DATA_DIR, load_settings, read_toml


def test_flags_win_over_the_file_and_the_file_over_the_defaults(tmp_path):
    config = tmp_path / "mine.toml"
    config.write_text('[paths]\ninput = "extracts"\n[disclosure]\nmin_persons = 50\n'
                      '[estimation]\nnormalisation = "mean"\n', encoding="utf-8")
    settings = load_settings(config, out=tmp_path / "released", normalisation="reference")
    assert settings.paths.input == (tmp_path / "extracts").resolve()   # relative to the TOML file
    assert settings.paths.out == (tmp_path / "released").resolve()     # the flag
    assert settings.min_persons == 50                                   # the file
    assert settings.normalisation == "reference"                        # flag over file
    assert settings.max_age == 69 and settings.paths.work == (PROJECT_ROOT / "work").resolve()  # defaults


def test_bad_options_are_refused_with_the_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="'reference' or 'mean'"):
        load_settings(normalisation="median")
    config = tmp_path / "bad.toml"
    config.write_text('[categories]\nflyktning = ["711"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown category.*flyktning"):
        load_settings(config)


def test_default_categories_match_the_shipped_code_list():
    with open(REFERENCE_DATA_DIR / "innvandringsgrunn.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    categories = read_toml(DEFAULT_CONFIG)["categories"]
    for category in ("overforing", "asyl", "familie"):
        assert sorted(categories[category]) == sorted(r["kode"] for r in rows if r["kategori"] == category)
    assert sorted(categories["refugee_background"]) == sorted(r["kode"] for r in rows)


@pytest.mark.parametrize("categories, message", [
    ('asyl = ["712", "712"]', r"asyl lists \['712'\] more than once"),
    ('asyl = ["712", "711"]', r"711 \(overforing and asyl\)"),
    ('asyl = ["712", "799"]', r"\['799'\] are missing from refugee_background"),
    ('refugee_background = ["711", "711", "712", "713", "71", "741", "742", "743"]', "refugee_background lists"),
])
def test_a_code_map_that_double_counts_is_refused_with_exit_24(tmp_path, categories, message):
    from typer.testing import CliRunner

    from cli import app

    config = tmp_path / "codes.toml"
    config.write_text(f"[categories]\n{categories}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_settings(config)
    result = CliRunner().invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 24 and "Configuration error: [categories]" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_disclosure_options_are_read_and_checked(tmp_path):
    settings = load_settings()
    assert (settings.disclosure.count_base, settings.disclosure.share_decimals) == (5, 0)
    assert settings.disclosure.count_interval(35) == (33, 37) and settings.disclosure.count_interval(0) == (0, 2)
    config = tmp_path / "round.toml"
    config.write_text("[disclosure]\ncount_base = 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="count_base >= 1"):
        load_settings(config)


def test_world_regions_follow_ssb_country_codes_with_central_america_in_latin_america():
    from pipeline.registers.db import country_regions

    regions = country_regions(["612", "684", "606", "676", "652", "620", "636", "668", "685", "705", "775",
                               "143", "500", "564", "241", "102", "805", "000", "999"])
    assert {code for code, region in regions.items() if region == "nord_amerika"} == {"612", "684", "606", "676"}
    assert {code for code, region in regions.items() if region == "latin_amerika"} == {
        "652", "620", "636", "668", "685", "705", "775"}     # Mexico, Cuba, Haiti, Panama, Puerto Rico, 7xx
    assert (regions["143"], regions["500"], regions["564"], regions["241"], regions["102"], regions["805"]) == (
        "asia", "europa", "asia", "afrika", "europa", "oseania")
    assert "000" not in regions and "999" not in regions   # Norway and unknown: no world region
