"""Every panel definition (methods.md §1-4) on the tiny hand-made extract in tests/extracts.py."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_settings
from pipeline.registers.stage import build_panel
from tests.extracts import tiny_extract, write_extract


def build(tmp_path, tables=None, fmt="csv", delimiter=";"):
    tables = tiny_extract() if tables is None else tables
    write_extract(tmp_path / "in", tables, fmt=fmt, delimiter=delimiter)
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    result = build_panel(settings)
    panel = pd.read_parquet(settings.paths.person_year)
    return settings, result, panel


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build(tmp_path_factory.mktemp("tiny"))


def row(panel, lopenr, aar):
    hit = panel[(panel.lopenr == lopenr) & (panel.aar == aar)]
    assert len(hit) == 1, f"expected one row for {lopenr} {aar}, got {len(hit)}"
    return hit.iloc[0]


def test_exactly_one_g_is_not_employed_and_one_krone_more_is(tiny):
    _, _, panel = tiny
    at_g = row(panel, "R1", 2015)
    assert (at_g.yrkinnt, at_g.g, at_g.sysselsatt) == (90068, 90068, 0)
    above = row(panel, "R1", 2016)
    assert (above.yrkinnt, above.g, above.sysselsatt, above.arbeid_utdanning) == (92577, 92576, 1, 1)


def test_botid_counts_years_since_immigration_from_the_first_january_after(tiny):
    _, _, panel = tiny
    r1 = panel[panel.lopenr == "R1"].sort_values("aar")
    assert r1.aar.tolist() == [2015, 2016, 2017, 2018, 2019, 2020]
    assert r1.botid.tolist() == [0, 1, 2, 3, 4, 5]
    assert (panel.botid >= 0).all()


def test_age_is_year_minus_birth_year_and_the_window_is_20_to_69(tiny):
    settings, result, panel = tiny
    assert row(panel, "R8", 2012).alder == 20  # turns 20 in 2012: inside
    assert row(panel, "C2", 2017).alder == 18  # outside
    flow = result["flow"].set_index("rule")
    window = panel[panel.alder.between(settings.min_age, settings.max_age)]
    assert flow.loc["age_outside_window", "person_years_out"] == len(window) == len(panel) - 2
    assert flow.loc["age_outside_window", "persons_excluded"] == 2  # C1 and C2 never 20-69


def test_settlement_municipality_is_the_first_january_after_arrival_and_stays_after_a_move(tiny):
    _, _, panel = tiny
    r2 = panel[panel.lopenr == "R2"].set_index("aar")
    assert (r2.bosettingskommune == "5001").all()         # 1601 on 1 Jan 2017 = Trondheim 5001
    assert r2.loc[2017, "kommnr_2020"] == "5001"
    assert (r2.loc[2018:, "kommnr_2020"] == "0301").all()  # moved to Oslo, settlement unchanged


def test_codes_of_merged_municipalities_map_to_2020(tiny):
    _, _, panel = tiny
    r8 = panel[panel.lopenr == "R8"]
    assert set(r8.kommnr_2020) == {"5053"}                # 1756 until 2017, 5053 from 2018
    r3 = panel[panel.lopenr == "R3"].set_index("aar")
    assert set(r3.kommnr_2020) == {"5001"}                # 1601 in 2017, 5001 from 2018


def test_partner_and_own_children_under_18_at_arrival(tiny):
    _, _, panel = tiny
    r2, r3, r1 = row(panel, "R2", 2017), row(panel, "R3", 2017), row(panel, "R1", 2015)
    assert (r2.partner_innvandring, r2.barn_innvandring) == (1, 1)  # C1 (7) counts, C2 (18) does not
    assert (r3.partner_innvandring, r3.barn_innvandring) == (1, 0)
    assert (r1.partner_innvandring, r1.barn_innvandring) == (0, 0)


def test_education_groups_at_arrival_including_missing(tiny):
    _, _, panel = tiny
    assert row(panel, "R2", 2017).utdanning_innvandring == 5   # 700000
    assert row(panel, "R3", 2017).utdanning_innvandring == 2   # 302000
    assert row(panel, "R1", 2015).utdanning_innvandring == 99  # empty nus_hoyeste
    assert row(panel, "R8", 2012).utdanning_innvandring == 99  # 999999 unknown
    assert row(panel, "R6", 2013).utdanning_innvandring == 99  # no record at all


def test_every_nus_first_digit_maps_to_its_group(tmp_path):
    tables = tiny_extract()
    expected = {"0": 0, "1": 1, "2": 2, "3": 2, "4": 3, "5": 3, "6": 4, "7": 5, "8": 5, "9": 99}
    people, bosted, income, education = [], [], [], []
    for digit in expected:
        who = f"E{digit}"
        people.append(dict(lopenr=who, kjonn=1, foedselsaar=1980, fodeland="564", landbakgrunn="564",
                           invkat="B", innvandringsgrunn="712", innvandringsdato="2015-05-05",
                           mor_lopenr=None, far_lopenr=None))
        bosted.append((who, 2016, "0301"))
        income.append((who, 2016, 0, 0, 0, 0))
        education.append((who, 2016, f"{digit}00000", ""))
    tables["personer"] = pd.concat([tables["personer"], pd.DataFrame(people)], ignore_index=True)
    tables["bosted"] = pd.concat([tables["bosted"], pd.DataFrame(bosted, columns=tables["bosted"].columns)])
    tables["inntekt"] = pd.concat([tables["inntekt"], pd.DataFrame(income, columns=tables["inntekt"].columns)])
    tables["utdanning"] = pd.concat([tables["utdanning"],
                                     pd.DataFrame(education, columns=tables["utdanning"].columns)])
    _, _, panel = build(tmp_path, tables)
    for digit, group in expected.items():
        assert row(panel, f"E{digit}", 2016).utdanning_innvandring == group, digit


def test_in_education_and_work_or_education(tiny):
    _, _, panel = tiny
    r3 = row(panel, "R3", 2018)                 # no income, ongoing education on 1 October
    assert (r3.sysselsatt, r3.i_utdanning, r3.arbeid_utdanning) == (0, 1, 1)
    r2 = row(panel, "R2", 2017)                 # 50,000 < G, no ongoing education
    assert (r2.sysselsatt, r2.i_utdanning, r2.arbeid_utdanning) == (0, 0, 0)
    assert row(panel, "R8", 2013).sysselsatt == 0  # negative income


def test_persons_leaving_by_death_or_emigration_drop_out_that_year(tiny):
    _, result, panel = tiny
    assert panel[panel.lopenr == "R6"].aar.tolist() == [2013]  # resident 1 Jan 2014, no income 2014
    flow = result["flow"].set_index("rule")
    assert flow.loc["no_income_record", "person_years_excluded"] == 1


def test_sample_flow_excludes_by_each_rule_and_balances(tiny):
    _, result, panel = tiny
    flow = result["flow"]
    by_rule = flow.set_index("rule")
    assert by_rule.loc["not_refugee_category", "persons_excluded"] == 3      # N1, N2, R7 (713)
    assert by_rule.loc["immigrated_before_study", "persons_excluded"] == 1   # R4
    assert by_rule.loc["settlement_after_study", "persons_excluded"] == 1    # R5
    assert by_rule.loc["no_residence_after_arrival", "persons_excluded"] == 1  # R9: no person-year
    for column in ("persons", "person_years"):
        assert (flow[f"{column}_in"] - flow[f"{column}_excluded"] == flow[f"{column}_out"]).all()
        assert (flow[f"{column}_in"].iloc[1:].to_numpy() == flow[f"{column}_out"].iloc[:-1].to_numpy()).all()
    assert flow.persons_in.iloc[0] == len(tiny_extract()["personer"])
    before_age = by_rule.loc["no_income_record"]
    assert (before_age.persons_out, before_age.person_years_out) == (panel.lopenr.nunique(), len(panel))


def test_a_person_abroad_on_the_settlement_date_stays_without_a_settlement_municipality(tiny):
    settings, result, panel = tiny
    r10 = panel[panel.lopenr == "R10"]
    assert r10.aar.tolist() == [2015, 2016] and r10.botid.tolist() == [1, 2]
    assert r10.bosettingskommune.isna().all() and r10.kommnr_2020.tolist() == ["3001", "3001"]
    refugees = pd.read_parquet(settings.paths.refugees).set_index("lopenr")
    assert {"R9", "R10"} <= set(refugees.index) and refugees.bosettingskommune.isna().sum() == 2
    flow = result["flow"].set_index("rule")
    assert (flow.loc["no_settlement_municipality", "persons_excluded"],
            flow.loc["no_settlement_municipality", "person_years_excluded"]) == (1, 2)


def test_panel_has_the_output_contract_columns_and_one_row_per_person_year(tiny):
    from pipeline.schema import PERSON_YEAR

    _, _, panel = tiny
    assert list(panel.columns) == list(PERSON_YEAR)
    assert not panel.duplicated(["lopenr", "aar"]).any()
    assert set(panel.kategori) <= {"overforing", "asyl", "familie"}


def test_municipality_characteristics_by_hand(tiny):
    settings, _, _ = tiny
    table = pd.read_parquet(settings.paths.municipality_year).set_index(["kommnr_2020", "aar"])
    oslo = table.loc[("0301", 2017)]
    # residents 1 Jan 2017 in Oslo: R1 (712), R7 (713), N1 -> refugee background 2 of 3
    assert oslo.befolkning == 3
    assert oslo.andel_flyktningbakgrunn == pytest.approx(2 / 3)
    assert oslo.befolkning_30_59 == 3 and oslo.inntekt_30_59 == pytest.approx(500_000)
    trondheim = table.loc[("5001", 2017)]
    assert (trondheim.bosatt_overforing, trondheim.bosatt_familie, trondheim.bosatt_flukt) == (1, 3, 4)
    assert table.loc[("0301", 2014)].bosatt_flukt == 1   # R7 (713) counts as refugee-related
    assert table.loc[("0301", 2014)].bosatt_asyl == 0
    assert table.loc[("0301", 2015)].bosatt_asyl == 1    # R1
    assert len(table) == 4 * 11


def test_parquet_and_comma_csv_give_the_same_panel(tiny, tmp_path):
    _, _, expected = tiny
    _, _, from_parquet = build(tmp_path / "pq", fmt="parquet")
    _, _, from_comma = build(tmp_path / "comma", delimiter=",")
    pd.testing.assert_frame_equal(from_parquet, expected)
    pd.testing.assert_frame_equal(from_comma, expected)


def test_column_names_are_mapped_from_the_configuration(tmp_path):
    tables = tiny_extract()
    tables["personer"] = tables["personer"].rename(columns={"lopenr": "LOPENR_K", "foedselsaar": "FODAAR"})
    write_extract(tmp_path / "in", tables)
    config = tmp_path / "mine.toml"
    config.write_text('[columns.personer]\nlopenr = "LOPENR_K"\nfoedselsaar = "FODAAR"\n', encoding="utf-8")
    settings = load_settings(config, input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    build_panel(settings)
    assert set(pd.read_parquet(settings.paths.person_year).lopenr) >= {"R1", "R2", "R3"}


def test_a_stata_file_gives_the_same_panel(tiny, tmp_path):
    _, _, expected = tiny
    tables = tiny_extract()
    write_extract(tmp_path / "in", {name: frame for name, frame in tables.items() if name != "personer"})
    stata = tables["personer"].fillna("").astype({"kjonn": "int32", "foedselsaar": "int32"})
    stata.to_stata(tmp_path / "in" / "personer.dta", write_index=False)
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    build_panel(settings)
    pd.testing.assert_frame_equal(pd.read_parquet(settings.paths.person_year), expected)


@pytest.mark.parametrize("fmt", ["sav", "dta", "xpt"])
def test_spss_stata_and_sas_files_give_the_same_panel(tiny, tmp_path, fmt):
    """Every table in the format; in SPSS and SAS every number is a double and codes lose no zeros.
    SAS transport (.xpt) stands in for .sas7bdat, which pyreadstat cannot write: both go through the same
    reader function, load.load_statistical_file."""
    from tests.extracts import write_statistical

    _, _, expected = tiny
    write_statistical(tmp_path / "in", tiny_extract(), fmt=fmt)
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    result = build_panel(settings)
    pd.testing.assert_frame_equal(pd.read_parquet(settings.paths.person_year), expected)
    assert {Path(info["file"]).suffix for info in result["tables"].values()} == {f".{fmt}"}


@pytest.mark.parametrize("table", ["familie", "utdanning"])
def test_a_header_only_event_table_is_accepted_and_noted(tiny, tmp_path, table):

    tables = tiny_extract()
    tables[table] = tables[table].iloc[:0]
    settings, result, panel = build(tmp_path, tables)
    _, _, full = tiny
    assert len(panel) == len(full)
    column = "partner_innvandring" if table == "familie" else "utdanning_innvandring"
    assert set(panel[column]) == ({0} if table == "familie" else {99})
    flow = result["flow"]
    assert flow.rule.iloc[0] == f"empty_{table}" and flow.persons_excluded.iloc[0] == 0
    assert flow.persons_in.iloc[0] == flow.persons_out.iloc[0] == len(tables["personer"])
    assert f"empty_{table}" in settings.paths.sample_flow.read_text(encoding="utf-8")
    events = [json.loads(line) for line in settings.paths.run_log.read_text(encoding="utf-8").splitlines()]
    assert any(e["event"] == "empty_table" and e["table"] == table for e in events)


def test_the_outcome_step_run_again_on_the_exported_panel_gives_it_back_and_moves_the_threshold(tiny):
    from dataclasses import replace

    from pipeline.registers.panel import redefine_outcomes

    settings, _, panel = tiny
    pd.testing.assert_frame_equal(redefine_outcomes(panel, settings), panel, check_dtype=False)
    two_g = redefine_outcomes(panel, replace(settings, employment_threshold_g=2.0))
    assert (two_g.sysselsatt == (two_g.yrkinnt > 2 * two_g.g)).all()
    assert (two_g.sysselsatt <= panel.sysselsatt).all() and (two_g.sysselsatt < panel.sysselsatt).any()
    assert (two_g.arbeid_utdanning == (two_g.sysselsatt | two_g.i_utdanning)).all()
