"""KLASS 131 -> kommuneendringer / kommuner_2020: hand-made JSON fixtures and SSB's real files."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from pipeline import reference as ref
from pipeline.config import load_settings

SHARED_KLASS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "klass131"
SHARED_POPULATION = SHARED_KLASS.parent / "population_1jan_by_kommune_ssb07459.csv"
REPORT_SPLITS = {"0720": "3804", "1850": "1806", "5012": "5059"}


# ---------------------------------------------------------------------------------------------------
# Hand-made KLASS directories


def change(old: str, old_name: str, new: str, new_name: str, year: int) -> dict:
    return {"oldCode": old, "oldName": old_name, "oldShortName": "", "newCode": new, "newName": new_name,
            "newShortName": "", "changeOccurred": f"{year}-01-01"}


def write_klass(
    directory: Path,
    versions: dict[int, dict[str, str]],
    changes: list[dict],
    *,
    change_name: str = "changes.json",
    listing: list[tuple[str, int, int | None]] | None = None,
) -> Path:
    """Version files Kommuneinndeling_YYYY.json without validity fields (so file names or 131.json decide)."""
    directory.mkdir(parents=True, exist_ok=True)
    for year, items in versions.items():
        body = {"name": f"Kommuneinndeling {year}", "classificationItems": [
            {"code": c, "parentCode": "", "level": "1", "name": n, "shortName": None, "notes": ""}
            for c, n in items.items()
        ]}
        (directory / f"Kommuneinndeling_{year}.json").write_text(json.dumps(body), encoding="utf-8")
    (directory / change_name).write_text(json.dumps({"codeChanges": changes}), encoding="utf-8")
    if listing is not None:
        body = {"versions": [
            {"name": name, "validFrom": f"{start}-01-01", **({"validTo": f"{end}-01-01"} if end else {})}
            for name, start, end in listing
        ]}
        (directory / "131.json").write_text(json.dumps(body), encoding="utf-8")
    return directory


def crosswalk_dict(frame: pd.DataFrame) -> dict[tuple[int, str], str]:
    return {(int(a), k): v for a, k, v in frame[["aar", "kommnr", "kommnr_2020"]].itertuples(index=False)}


def test_chain_renumbering_and_name_change(tmp_path):
    # 1723 -> 1756 (2012) -> 5053 (2018); 0101 renumbered 3001 in 2020; 1849 only renamed in 2012.
    versions = {
        2010: {"1723": "Mosvik", "1729": "Inderøy", "0101": "Halden", "1849": "Hamarøy", "9999": "Uoppgitt"},
        2012: {"1756": "Inderøy", "0101": "Halden", "1849": "Hábmer - Hamarøy", "9999": "Uoppgitt"},
        2018: {"5053": "Inderøy", "0101": "Halden", "1849": "Hábmer - Hamarøy", "9999": "Uoppgitt"},
        2020: {"5053": "Inderøy", "3001": "Halden", "1849": "Hábmer - Hamarøy", "9999": "Uoppgitt"},
    }
    changes = [
        change("1723", "Mosvik", "1756", "Inderøy", 2012),
        change("1729", "Inderøy", "1756", "Inderøy", 2012),
        change("1849", "Hamarøy", "1849", "Hábmer - Hamarøy", 2012),
        change("1756", "Inderøy", "5053", "Inderøy", 2018),
        change("0101", "Halden", "3001", "Halden", 2020),
    ]
    klass = write_klass(tmp_path / "k", versions, changes)
    crosswalk, municipalities, report = ref.build_reference_tables(klass, first_year=2010, last_year=2020, splits={})
    got = crosswalk_dict(crosswalk)
    # File names only: 2010 covers 2010-2011, 2012 covers 2012-2017, 2018 covers 2018-2019.
    expected = {}
    for year in (2010, 2011):
        expected |= {(year, "1723"): "5053", (year, "1729"): "5053", (year, "0101"): "3001", (year, "1849"): "1849"}
    for year in range(2012, 2018):
        expected |= {(year, "1756"): "5053", (year, "0101"): "3001", (year, "1849"): "1849"}
    for year in (2018, 2019):
        expected |= {(year, "5053"): "5053", (year, "0101"): "3001", (year, "1849"): "1849"}
    expected |= {(2020, "5053"): "5053", (2020, "3001"): "3001", (2020, "1849"): "1849"}
    assert got == expected
    assert list(crosswalk.columns) == ["aar", "kommnr", "kommnr_2020"]
    assert municipalities["kommnr_2020"].tolist() == ["1849", "3001", "5053"]
    assert municipalities["kommunenavn"].tolist() == ["Hábmer - Hamarøy", "Halden", "Inderøy"]
    assert report["versions"][2011] == "Kommuneinndeling 2010"
    assert report["splits_applied"] == []


def test_reused_code_is_followed_by_date(tmp_path):
    # In 2012 old 0001 merges into 0005 while 0002 takes over the number 0001.
    versions = {2010: {"0001": "Gamle", "0002": "Andre"}, 2012: {"0001": "Andre", "0005": "Nye"}}
    changes = [change("0001", "Gamle", "0005", "Nye", 2012), change("0002", "Andre", "0001", "Andre", 2012)]
    klass = write_klass(tmp_path / "k", versions, changes)
    crosswalk, _, _ = ref.build_reference_tables(klass, first_year=2010, last_year=2012, splits={})
    assert crosswalk_dict(crosswalk) == {
        (2010, "0001"): "0005", (2010, "0002"): "0001", (2011, "0001"): "0005", (2011, "0002"): "0001",
        (2012, "0001"): "0001", (2012, "0005"): "0005",
    }


def test_overlapping_versions_are_an_error(tmp_path):
    versions = {2019: {"0301": "Oslo"}, 2020: {"0301": "Oslo"}}
    listing = [("Kommuneinndeling 2019", 2019, 2021), ("Kommuneinndeling 2020", 2020, None)]
    klass = write_klass(tmp_path / "k", versions, [], listing=listing)
    with pytest.raises(ref.KlassError, match="several versions are valid on 2020-01-01"):
        ref.build_reference_tables(klass, first_year=2019, last_year=2020, splits={})


def test_unknown_code_9999_is_excluded(tmp_path):
    versions = {2019: {"0301": "Oslo", "9999": "Uoppgitt"}, 2020: {"0301": "Oslo", "9999": "Uoppgitt"}}
    klass = write_klass(tmp_path / "k", versions, [])
    crosswalk, municipalities, report = ref.build_reference_tables(klass, first_year=2019, last_year=2020, splits={})
    assert "9999" not in set(crosswalk["kommnr"]) | set(crosswalk["kommnr_2020"])
    assert municipalities["kommnr_2020"].tolist() == ["0301"]
    assert report["municipalities_2020"] == 1


STOKKE_VERSIONS = {
    2016: {"0704": "Tønsberg", "0706": "Sandefjord", "0719": "Andebu", "0720": "Stokke"},
    2017: {"0704": "Tønsberg", "0710": "Sandefjord"},
    2020: {"3803": "Tønsberg", "3804": "Sandefjord"},
}
STOKKE_CHANGES = [
    change("0704", "Tønsberg", "0704", "Tønsberg", 2017),
    change("0720", "Stokke", "0704", "Tønsberg", 2017),
    change("0706", "Sandefjord", "0710", "Sandefjord", 2017),
    change("0719", "Andebu", "0710", "Sandefjord", 2017),
    change("0720", "Stokke", "0710", "Sandefjord", 2017),
    change("0704", "Tønsberg", "3803", "Tønsberg", 2020),
    change("0710", "Sandefjord", "3804", "Sandefjord", 2020),
]


def test_split_with_rule_goes_whole_to_the_rule_target(tmp_path):
    klass = write_klass(tmp_path / "k", STOKKE_VERSIONS, STOKKE_CHANGES, change_name="changetables.json")
    crosswalk, _, report = ref.build_reference_tables(
        klass, first_year=2016, last_year=2020, splits={"0720": "3804", "1850": "1806"},
    )
    got = crosswalk_dict(crosswalk)
    assert got[(2016, "0720")] == "3804"
    assert got[(2016, "0704")] == "3803"
    assert got[(2016, "0706")] == got[(2016, "0719")] == "3804"
    assert got[(2017, "0710")] == "3804"
    assert (crosswalk["kommnr"] == "0720").sum() == 1  # one row: no weights, no duplicate
    [applied] = report["splits_applied"]
    assert applied["kommnr"] == "0720" and applied["kommnr_2020"] == "3804"
    assert applied["parts_end_in"] == ["3803", "3804"] and applied["years"] == [2016]
    assert report["split_rules_unused"] == ["1850"]


def test_split_without_rule_fails_naming_it(tmp_path):
    klass = write_klass(tmp_path / "k", STOKKE_VERSIONS, STOKKE_CHANGES)
    with pytest.raises(ref.KlassError) as err:
        ref.build_reference_tables(klass, first_year=2016, last_year=2020, splits={"1850": "1806"})
    message = str(err.value)
    assert "0720 Stokke" in message and "3803" in message and "3804" in message and "[splits]" in message


def test_split_rule_must_point_at_one_of_the_parts(tmp_path):
    versions = {**STOKKE_VERSIONS, 2020: {**STOKKE_VERSIONS[2020], "3805": "Larvik"}}
    klass = write_klass(tmp_path / "k", versions, STOKKE_CHANGES)
    with pytest.raises(ref.KlassError, match="split rule 0720 -> 3805"):
        ref.build_reference_tables(klass, first_year=2016, last_year=2020, splits={"0720": "3805"})
    with pytest.raises(ref.KlassError, match="split rule 0720 -> 4444"):
        ref.build_reference_tables(klass, first_year=2016, last_year=2020, splits={"0720": "4444"})


def test_changes_after_the_target_year_are_ignored(tmp_path):
    versions = {2019: {"1507": "Ålesund"}, 2020: {"1507": "Ålesund"}}
    changes = [change("1507", "Ålesund", "1508", "Ålesund", 2024), change("1507", "Ålesund", "1580", "Haram", 2024)]
    klass = write_klass(tmp_path / "k", versions, changes)
    crosswalk, _, _ = ref.build_reference_tables(klass, first_year=2019, last_year=2020, splits={})
    assert crosswalk_dict(crosswalk) == {(2019, "1507"): "1507", (2020, "1507"): "1507"}


def test_code_that_vanishes_without_a_change_is_an_error(tmp_path):
    versions = {2019: {"0301": "Oslo", "1234": "Borte"}, 2020: {"0301": "Oslo"}}
    klass = write_klass(tmp_path / "k", versions, [])
    with pytest.raises(ref.KlassError, match="1234 Borte"):
        ref.build_reference_tables(klass, first_year=2019, last_year=2020, splits={})


def test_validity_from_131_json_wins_over_file_names(tmp_path):
    # By file names 2008 would cover 2008-2011; 131.json says it ends 2011 and lists a 2011 version
    # whose file is absent, so 2011 has no version.
    versions = {2008: {"0301": "Oslo"}, 2012: {"0301": "Oslo"}}
    listing = [("Kommuneinndeling 2008", 2008, 2011), ("Kommuneinndeling 2011", 2011, 2012),
               ("Kommuneinndeling 2012", 2012, None)]
    klass = write_klass(tmp_path / "k", versions, [], listing=listing)
    crosswalk, _, report = ref.build_reference_tables(klass, first_year=2010, last_year=2010, splits={})
    assert report["versions"] == {2010: "Kommuneinndeling 2008"}
    with pytest.raises(ref.KlassError, match="2011-01-01"):
        ref.build_reference_tables(klass, first_year=2010, last_year=2012, splits={})
    (tmp_path / "k" / "131.json").unlink()
    _, _, report = ref.build_reference_tables(klass, first_year=2010, last_year=2012, splits={})
    assert report["versions"][2011] == "Kommuneinndeling 2008"


def test_target_year_without_version_names_2020(tmp_path):
    klass = write_klass(tmp_path / "k", {2019: {"0301": "Oslo"}, 2020: {"0301": "Oslo"}}, [])
    with pytest.raises(ref.KlassError, match="normally 2020; last_year is 2022"):
        ref.build_reference_tables(klass, first_year=2019, last_year=2022, splits={})


def test_change_file_names(tmp_path):
    klass = write_klass(tmp_path / "k", {2020: {"0301": "Oslo"}}, [])
    assert ref.change_file(klass).name == "changes.json"
    (klass / "changetables.json").write_text('{"codeChanges": []}', encoding="utf-8")
    with pytest.raises(ref.KlassError, match="keep one"):
        ref.change_file(klass)
    (klass / "changes.json").unlink()
    (klass / "changetables.json").unlink()
    with pytest.raises(ref.KlassError, match="changes.json"):
        ref.change_file(klass)


# ---------------------------------------------------------------------------------------------------
# The stage: files written, never the network unless asked


def settings_for(tmp_path: Path, **overrides):
    return load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out", **overrides)


def no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_run_writes_contract_csvs_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    klass = write_klass(tmp_path / "k", STOKKE_VERSIONS, STOKKE_CHANGES)
    settings = settings_for(tmp_path, first_year=2016, last_year=2020, splits={"0720": "3804"})
    written = ref.run(settings, klass, tmp_path / "in")
    assert [p.name for p in written] == ["kommuneendringer.csv", "kommuner_2020.csv"]
    crosswalk = pd.read_csv(written[0], dtype=str, keep_default_na=False)
    assert crosswalk.columns.tolist() == ["aar", "kommnr", "kommnr_2020"]
    assert ("2016", "0720", "3804") in set(crosswalk.itertuples(index=False, name=None))
    text = written[1].read_text(encoding="utf-8").splitlines()
    assert text[0] == "kommnr_2020,kommunenavn,sentralitetsindeks,sentralitetsklasse,okonomisk_region,sykehus_i_region"
    assert text[1:] == ["3803,Tønsberg,,,,", "3804,Sandefjord,,,,"]
    out = capsys.readouterr().out
    assert "0720 Stokke" in out and "sentralitetsindeks (2 empty)" in out
    assert not (tmp_path / "out").exists() and not (tmp_path / "work").exists()


def test_run_keeps_a_filled_kommuner_2020(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    klass = write_klass(tmp_path / "k", STOKKE_VERSIONS, STOKKE_CHANGES)
    settings = settings_for(tmp_path, first_year=2016, last_year=2020, splits={"0720": "3804"})
    target = tmp_path / "in" / "kommuner_2020.csv"
    target.parent.mkdir(parents=True)
    filled = "kommnr_2020;kommunenavn;sentralitetsindeks\n3803;Tønsberg;850.5\n3804;Sandefjord;\n"
    target.write_text(filled, encoding="utf-8")
    written = ref.run(settings, klass, tmp_path / "in")
    assert [p.name for p in written] == ["kommuneendringer.csv"]
    assert target.read_text(encoding="utf-8") == filled


def test_download_saves_what_offline_reading_needs(tmp_path):
    base = f"{ref.KLASS_API}/classifications/131"
    listing = {"versions": [
        {"name": "Kommuneinndeling 2017", "id": 7, "validFrom": "2017-01-01", "validTo": "2020-01-01",
         "_links": {"self": {"href": f"{ref.KLASS_API}/versions/7"}}},
        {"name": "Kommuneinndeling 2020", "id": 20, "validFrom": "2020-01-01",
         "_links": {"self": {"href": f"{ref.KLASS_API}/versions/20"}}},
        {"name": "Kommuneinndeling 2005", "id": 5, "validFrom": "2005-01-01", "validTo": "2017-01-01",
         "_links": {"self": {"href": f"{ref.KLASS_API}/versions/5"}}},
    ]}

    def version(name: str, items: dict[str, str]) -> dict:
        return {"name": name, "classificationItems": [{"code": c, "level": "1", "name": n} for c, n in items.items()]}

    served = {
        f"{base}?language=nb": listing,
        f"{base}/changes?from=0001-01-01&language=nb": {"codeChanges": [change("0710", "Sandefjord", "3804", "Sandefjord", 2020)]},
        f"{ref.KLASS_API}/versions/7?language=nb": version("Kommuneinndeling 2017", {"0710": "Sandefjord"}),
        f"{ref.KLASS_API}/versions/20?language=nb": version("Kommuneinndeling 2020", {"3804": "Sandefjord"}),
    }
    asked: list[str] = []

    def fetch(url: str) -> bytes:
        asked.append(url)
        return json.dumps(served[url]).encode("utf-8")

    klass = tmp_path / "k"
    written = ref.download_klass(klass, first_year=2018, last_year=2020, fetch=fetch)
    assert sorted(p.name for p in written) == sorted(
        ["131.json", "changes.json", "Kommuneinndeling_2017.json", "Kommuneinndeling_2020.json"]
    )
    assert f"{ref.KLASS_API}/versions/5?language=nb" not in asked  # outside the study years
    crosswalk, _, _ = ref.build_reference_tables(klass, first_year=2018, last_year=2020, splits={})
    assert crosswalk_dict(crosswalk) == {(2018, "0710"): "3804", (2019, "0710"): "3804", (2020, "3804"): "3804"}


# ---------------------------------------------------------------------------------------------------
# SSB's real KLASS 131 files (skipped when the shared copy is absent)

needs_shared = pytest.mark.skipif(not SHARED_KLASS.is_dir(), reason="shared KLASS 131 copy absent")


@pytest.fixture(scope="module")
def real_tables():
    if not SHARED_KLASS.is_dir():
        pytest.skip("shared KLASS 131 copy absent")
    return ref.build_reference_tables(SHARED_KLASS, first_year=2010, last_year=2020, splits=REPORT_SPLITS)


def version_codes(year: int) -> set[str]:
    items = json.loads((SHARED_KLASS / f"Kommuneinndeling_{year}.json").read_text(encoding="utf-8"))
    return {item["code"] for item in items["classificationItems"]} - {"9999"}


@needs_shared
def test_real_every_code_of_2010_2019_maps_to_one_2020_municipality(real_tables):
    crosswalk, municipalities, report = real_tables
    assert len(municipalities) == 356 and "9999" not in set(municipalities["kommnr_2020"])
    assert municipalities["kommnr_2020"].is_unique
    assert not crosswalk.duplicated(["aar", "kommnr"]).any()
    assert set(crosswalk["kommnr_2020"]) <= set(municipalities["kommnr_2020"])
    # Versions valid on 1 January (shared README: 2008 covers 2008-2010, 2013 2013-2014, 2015 2015-2016).
    file_of_year = {2010: 2008, 2011: 2011, 2012: 2012, 2013: 2013, 2014: 2013, 2015: 2015, 2016: 2015,
                    2017: 2017, 2018: 2018, 2019: 2019, 2020: 2020}
    for year, file_year in file_of_year.items():
        assert set(crosswalk.loc[crosswalk["aar"] == year, "kommnr"]) == version_codes(file_year), year
    # Municipality counts on 1 January (SSB): 430 in 2010, 428 in 2013, 422 in 2018.
    assert report["codes_per_year"][2010] == 430
    assert report["codes_per_year"][2013] == 428
    assert report["codes_per_year"][2018] == 422
    assert all(n == 356 for n in report["municipalities_reached_per_year"].values())
    assert list(report["missing_columns"]) == list(ref.EXTERNAL_COLUMNS)


@needs_shared
def test_real_spot_checks(real_tables):
    got = crosswalk_dict(real_tables[0])
    assert got[(2010, "1601")] == "5001"  # Trondheim
    assert got[(2010, "1723")] == got[(2011, "1723")] == "5053"  # Mosvik -> Inderøy 1756 -> 5053
    assert got[(2012, "1756")] == "5053"
    assert got[(2010, "1901")] == got[(2012, "1901")] == "5402"  # Harstad 1901 -> 1903 -> 5402
    assert got[(2013, "1903")] == "5402"
    for code in ("0706", "0719", "0720"):  # Sandefjord, Andebu, Stokke
        assert got[(2016, code)] == "3804"
    assert got[(2017, "0710")] == "3804"
    assert got[(2010, "0101")] == got[(2019, "0101")] == "3001"  # Halden
    assert got[(2019, "1850")] == "1806"  # Tysfjord -> Narvik
    assert got[(2019, "5012")] == "5059"  # Snillfjord -> Orkland
    assert got[(2017, "1613")] == "5059"  # Snillfjord before 2018's renumbering
    assert got[(2018, "1567")] == "5061"  # Rindal changed county in 2019
    applied = {s["kommnr"]: s["kommnr_2020"] for s in real_tables[2]["splits_applied"]}
    assert applied == REPORT_SPLITS


@needs_shared
def test_real_without_split_rules_names_all_three(tmp_path):
    with pytest.raises(ref.KlassError) as err:
        ref.build_reference_tables(SHARED_KLASS, first_year=2010, last_year=2020, splits={"0720": "3804"})
    assert "1850" in str(err.value) and "5012" in str(err.value) and "0720 Stokke" not in str(err.value)


@pytest.mark.skipif(not SHARED_POPULATION.is_file(), reason="shared population table absent")
def test_real_population_agrees_across_2019_2020(real_tables):
    """Independent check: SSB population 1 Jan 2019 summed through the crosswalk vs 1 Jan 2020.

    A wrong mapping moves whole municipalities and breaks the ratio; only municipalities receiving a
    piece of a split (Narvik, Hamarøy, Heim, Hitra, Orkland) may differ by more than 10 %.
    """
    crosswalk = real_tables[0]
    population = pd.read_csv(SHARED_POPULATION, dtype={"code": str})
    y2019 = population[population["year"] == 2019].merge(
        crosswalk[crosswalk["aar"] == 2019], left_on="code", right_on="kommnr", validate="one_to_one",
    )
    assert len(y2019) == (population["year"] == 2019).sum()
    mapped = y2019.groupby("kommnr_2020")["population"].sum()
    actual = population[population["year"] == 2020].set_index("code")["population"]
    ratio = (actual / mapped).drop(["1806", "1875", "5055", "5056", "5059"])
    assert ratio.notna().all() and len(ratio) == 351
    assert ratio.between(0.9, 1.1).all(), ratio[~ratio.between(0.9, 1.1)]


def test_filled_kommuner_2020_of_other_municipalities_refuses_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    klass = write_klass(tmp_path / "k", STOKKE_VERSIONS, STOKKE_CHANGES)
    settings = settings_for(tmp_path, first_year=2016, last_year=2020, splits={"0720": "3804"})
    target = tmp_path / "in" / "kommuner_2020.csv"
    target.parent.mkdir(parents=True)
    target.write_text("kommnr_2020,kommunenavn,sentralitetsklasse\n0301,Oslo,1\n", encoding="utf-8")
    with pytest.raises(ref.KlassError, match="not the same municipalities"):
        ref.run(settings, klass, tmp_path / "in")
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["kommuner_2020.csv"]


def test_download_failure_is_a_clear_refusal(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ref.KlassError, match="run without --download"):
        ref._fetch_url(f"{ref.KLASS_API}/classifications/131")
