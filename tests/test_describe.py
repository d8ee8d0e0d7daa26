"""Descriptive tables: hand-computed cells on tiny panels, an independent SQL engine, BI quintiles, and the stage end to end."""
from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from pipeline import describe, runlog
from pipeline.config import load_settings
from pipeline.io import write_parquet
from pipeline.schema import MUNICIPALITY_YEAR, PERSON_YEAR
from tests.fixtures.simulated_panel import refugees_of, simulate_panel

DEFAULTS = dict(kategori="asyl", kjonn=1, fodeland_gruppe="syria", innvandringsaar=2015, alder_innvandring=30,
                bosettingskommune="0301", kommnr_2020="0301", partner_innvandring=0, barn_innvandring=0,
                utdanning_innvandring=99, yrkinnt=0, g=100_000, sysselsatt=0, i_utdanning=0, arbeid_utdanning=0)


def person_years(rows: list[dict]) -> pd.DataFrame:
    """Tiny panel: each row gives lopenr, aar and what differs from DEFAULTS; botid and alder follow."""
    frame = pd.DataFrame([{**DEFAULTS, **r} for r in rows])
    frame["botid"] = frame["aar"] - frame["innvandringsaar"] - 1
    frame["alder"] = frame["alder_innvandring"] + frame["aar"] - frame["innvandringsaar"]
    frame["arbeid_utdanning"] = (frame["sysselsatt"] | frame["i_utdanning"]).astype(int)
    return frame[list(PERSON_YEAR)]


def test_composition_shares_by_hand():
    # asyl 2015: persons A (man), B (woman), C (woman); each appears in two years (counted once)
    # familie 2016: D (woman)
    rows = []
    for pid, sex in [("A", 1), ("B", 2), ("C", 2)]:
        rows += [dict(lopenr=pid, aar=2016, kjonn=sex), dict(lopenr=pid, aar=2017, kjonn=sex)]
    rows.append(dict(lopenr="D", aar=2017, kategori="familie", innvandringsaar=2016, kjonn=2))
    persons = describe.arrivals(refugees_of(person_years(rows)))
    table = describe.composition(persons, "kjonn", (1, 2))
    asyl = table[table["kategori"] == "asyl"].set_index("kjonn")
    assert asyl.loc[1, "share_pct"] == pytest.approx(100 / 3, abs=1e-3)
    assert asyl.loc[2, "share_pct"] == pytest.approx(200 / 3, abs=1e-3)
    assert set(asyl["n_persons"]) == {3}
    familie = table[table["kategori"] == "familie"].set_index("kjonn")
    assert familie.loc[1, "share_pct"] == 0.0 and familie.loc[2, "share_pct"] == 100.0  # absent level shown as 0
    counts = describe.settled_counts(persons).set_index(["kategori", "innvandringsaar"])["n_persons"]
    assert counts[("asyl", 2015)] == 3 and counts[("familie", 2016)] == 1


def test_adults_only_and_age_bands():
    rows = [dict(lopenr="K", aar=2016, alder_innvandring=19, partner_innvandring=1),
            dict(lopenr="L", aar=2016, alder_innvandring=20, partner_innvandring=1),
            dict(lopenr="M", aar=2016, alder_innvandring=64, partner_innvandring=0)]
    persons = describe.arrivals(refugees_of(person_years(rows)))
    table = describe.composition(persons, "partner_innvandring", (0, 1), adults_only=True).set_index("partner_innvandring")
    assert table.loc[1, "share_pct"] == 50.0 and table.loc[0, "n_persons"] == 2  # K (19) left out
    bands = describe.age_band(pd.Series([0, 9, 10, 19, 20, 59, 60, 75]))
    assert bands.tolist() == ["0-9", "0-9", "10-19", "10-19", "20-29", "50-59", "60+", "60+"]


def test_share_by_botid_by_hand_and_age_window():
    rows = [
        # botid 0 (aar 2016), asyl men: P1 employed, P2 in education, P3 neither -> 2/3
        dict(lopenr="P1", aar=2016, sysselsatt=1), dict(lopenr="P2", aar=2016, i_utdanning=1),
        dict(lopenr="P3", aar=2016),
        # botid 1: P1 neither, P2 employed and in education -> 1/2; employment 1/2, education 1/2
        dict(lopenr="P1", aar=2017), dict(lopenr="P2", aar=2017, sysselsatt=1, i_utdanning=1),
        # age 19 and 70 in year t are outside 20-69; 20 and 69 inside
        dict(lopenr="Y", aar=2016, alder_innvandring=18, sysselsatt=1),   # alder 19
        dict(lopenr="Z", aar=2016, alder_innvandring=69, sysselsatt=1),   # alder 70
        dict(lopenr="E", aar=2016, kjonn=2, alder_innvandring=19, sysselsatt=1),  # alder 20
        dict(lopenr="F", aar=2016, kjonn=2, alder_innvandring=68),  # alder 69
    ]
    ages = describe.working_age(person_years(rows), min_age=20, max_age=69)
    assert set(ages["lopenr"]) == {"P1", "P2", "P3", "E", "F"}
    table = describe.share_by_botid(ages, ["kjonn"]).set_index(["outcome", "kategori", "botid", "kjonn"])
    assert table.loc[("arbeid_utdanning", "asyl", 0, 1), "share_pct"] == pytest.approx(200 / 3, abs=1e-3)
    assert table.loc[("arbeid_utdanning", "asyl", 0, 1), "n_persons"] == 3
    assert table.loc[("arbeid_utdanning", "asyl", 1, 1), "share_pct"] == 50.0
    assert table.loc[("sysselsatt", "asyl", 0, 1), "share_pct"] == pytest.approx(100 / 3, abs=1e-3)
    assert table.loc[("i_utdanning", "asyl", 1, 1), "share_pct"] == 50.0
    assert table.loc[("arbeid_utdanning", "asyl", 0, 2), "share_pct"] == 50.0  # E yes, F no
    assert list(dict.fromkeys(table.index.get_level_values("outcome"))) == list(describe.OUTCOMES)


def test_arrivals_count_persons_without_a_person_year():
    # T settled in 2016 but left before any person-year: counted as settled in figs 3.1-3.7
    refugees = refugees_of(person_years([dict(lopenr="S", aar=2016)]))
    refugees = pd.concat([refugees, refugees.assign(lopenr="T", bosettingskommune=None)], ignore_index=True)
    counts = describe.settled_counts(describe.arrivals(refugees)).set_index(["kategori", "innvandringsaar"])
    assert counts.loc[("asyl", 2015), "n_persons"] == 2


def test_share_by_botid_matches_duckdb():
    py, _ = simulate_panel(seed=3, n_persons=3000, n_municipalities=10)
    ages = describe.working_age(py, min_age=20, max_age=69)
    ours = describe.share_by_botid(ages, ["kjonn", "partner_innvandring"], outcomes=["arbeid_utdanning"])
    sql = duckdb.sql("""
        select kategori, botid, kjonn, partner_innvandring,
               100 * avg(arbeid_utdanning) as share_pct, count(distinct lopenr) as n_persons, count(*) as n_person_years
        from py where alder between 20 and 69
        group by all
    """).df()
    merged = ours.merge(sql, on=["kategori", "botid", "kjonn", "partner_innvandring"], suffixes=("", "_sql"))
    assert len(merged) == len(ours) == len(sql)
    np.testing.assert_allclose(merged["share_pct"], merged["share_pct_sql"], atol=1e-3)
    assert (merged["n_persons"] == merged["n_persons_sql"]).all()
    assert (merged["n_person_years"] == merged["n_person_years_sql"]).all()


def test_bi_groups_boundary_rule():
    # 10 distinct values: Stata/averaged-inverted-cdf P20 = (x2 + x3) / 2 = 2.5, P40 = 4.5, ...
    values = pd.Series(np.arange(1.0, 11.0))
    assert describe.bi_groups(values).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # 11 values: P20 = x3 = 3 exactly; "<= 20th percentile is group 1" puts 3 in group 1
    values = pd.Series(np.arange(1.0, 12.0))
    groups = describe.bi_groups(values)
    assert groups.iloc[2] == 1 and groups.iloc[3] == 2
    assert groups.tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # ties at the boundary all fall in the lower group; many zeros can leave group 2 empty
    tied = describe.bi_groups(pd.Series([0, 0, 0, 0, 0, 1, 2, 3, 4, 5], dtype=float))
    assert tied.tolist() == [1, 1, 1, 1, 1, 3, 4, 4, 5, 5]


def test_bi_groups_are_quintiles_on_many_municipalities():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.gamma(2.0, 1.0, 356))
    groups = describe.bi_groups(values)
    sizes = groups.value_counts().sort_index()
    assert list(sizes.index) == [1, 2, 3, 4, 5]
    assert sizes.between(71, 72).all()
    # every municipality in a higher group has a higher BI than all in a lower one
    for g in range(1, 5):
        assert values[groups == g].max() < values[groups == g + 1].min()


def tiny_municipalities() -> pd.DataFrame:
    """Five municipalities, years 2011-2012; municipality i settles i asyl persons per year."""
    rows = []
    for i in range(1, 6):
        for year in (2011, 2012):
            rows.append({c: 0 for c in MUNICIPALITY_YEAR} | {
                "kommnr_2020": f"{i:04d}", "aar": year, "kommunenavn": f"K{i}",
                "befolkning": 1000 * i + (100 if year == 2012 else 0),  # mean 1000 i + 50
                "andel_flyktningbakgrunn": 0.01 * i, "inntekt_30_59": 400_000 + 10_000 * i,
                "bosatt_asyl": 1 if i <= 3 else 3 * i, "bosatt_overforing": 6 - i, "bosatt_familie": 1,
                "bosatt_flukt": 10 * i,
            })
    return pd.DataFrame(rows)[list(MUNICIPALITY_YEAR)]


def test_bi_group_deviations_by_hand():
    table = describe.bi_group_deviations(tiny_municipalities(), first_year=2011, last_year=2012)
    pop = table[(table["characteristic"] == "befolkning") & (table["kategori"] == "overforing")].set_index("bi_gruppe")
    # overforing BI = 2 (6 - i) / (1000 i + 50): decreasing in i, so municipality 5 is group 1
    overall = np.mean([1000 * i + 50 for i in range(1, 6)])
    assert pop.loc[1, "group_mean"] == pytest.approx(5050) and pop.loc[1, "overall_mean"] == pytest.approx(overall)
    assert pop.loc[1, "deviation"] == pytest.approx(5050 - overall)
    assert pop.loc[5, "deviation"] == pytest.approx(1050 - overall)
    no_refugee = table[(table["characteristic"] == "andel_uten_flyktningbakgrunn") & (table["kategori"] == "overforing")]
    assert no_refugee.set_index("bi_gruppe").loc[1, "group_mean"] == pytest.approx(95.0)  # 100 - 5 %
    assert (table.groupby(["kategori", "characteristic"])["n_municipalities"].sum() == 5).all()


def test_settlement_periods_use_settlement_year():
    mun = tiny_municipalities()
    one_year = mun[mun["aar"] == 2011]
    mun = pd.concat([mun, one_year.assign(aar=2016), one_year.assign(aar=2017), one_year.assign(aar=2010)],
                    ignore_index=True)
    table = describe.settlement_periods(mun, population_year=2010).set_index(["kommnr_2020", "periode"])
    # immigration 2010-2015 -> settlement years 2011-2016: 2011, 2012, 2016 rows = 3 x 10 i
    assert table.loc[("0002", "2010-2015"), "n_persons"] == 60
    assert table.loc[("0002", "2016-2016"), "n_persons"] == 20  # settled 2017: arrived 2016
    assert table.loc[("0002", "2010-2015"), "per_1000"] == pytest.approx(1000 * 60 / 2000)
    assert table.loc[("0002", "2010-2015"), "settlement_years"] == "2011-2016"


def test_run_end_to_end(tmp_path):
    py, mun = simulate_panel(seed=5, n_persons=4000, n_municipalities=15)
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out")
    write_parquet(py, settings.paths.person_year)
    write_parquet(refugees_of(py), settings.paths.refugees)
    write_parquet(mun, settings.paths.municipality_year)
    written = describe.run(settings)
    names = {p.name for p in written}
    expected = {f"fig3_{i:02d}.csv" for i in [*range(1, 15), *range(17, 21)]} | {"table3_1.csv", "table3_1.md"}
    assert expected <= names
    log = {e["output"]: e["cells"] for e in runlog.read(settings.paths.run_log) if e["event"] == "suppressed"}
    ids = set(py["lopenr"])
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not any(pid in text for pid in list(ids)[:200]), path.name
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            assert "lopenr" not in frame.columns
            small = pd.to_numeric(frame["n_persons"], errors="coerce")
            n_marked = int((frame["n_persons"] == settings.suppression_marker).sum())
            assert log[path.name] == n_marked
            assert (small.dropna() >= settings.min_persons).all()
    fig12 = pd.read_csv(settings.paths.tables / "fig3_12.csv", dtype=str)
    assert log["fig3_12.csv"] > 0 and (fig12["share_pct"] == "prikket").sum() == log["fig3_12.csv"]
    assert json.loads(settings.paths.run_log.read_text().splitlines()[0])["stage"] == "describe"
