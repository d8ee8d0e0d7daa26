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
