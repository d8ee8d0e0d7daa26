"""Synthetic generator: contract columns and types, keys, crosswalk, determinism, composition, truth."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_synthetic.effects import SECOND_STAGE
from data_synthetic.generate import run
from pipeline.config import CONTRACT_TABLES

SCALE = 0.01
CONTRACT = {
    "personer": {"lopenr": pa.string(), "kjonn": "int", "foedselsaar": "int", "fodeland": pa.string(),
                 "landbakgrunn": pa.string(), "invkat": pa.string(), "innvandringsgrunn": pa.string(),
                 "innvandringsdato": pa.date32(), "mor_lopenr": pa.string(), "far_lopenr": pa.string()},
    "bosted": {"lopenr": pa.string(), "aar": "int", "kommnr": pa.string()},
    "inntekt": {"lopenr": pa.string(), "aar": "int", "yrkinnt": "int", "sosialhjelp": "int",
                "grunn_hjelpestonad": "int", "bostotte": "int"},
    "utdanning": {"lopenr": pa.string(), "aar": "int", "nus_hoyeste": pa.string(), "nus_igang": pa.string()},
    "familie": {"lopenr": pa.string(), "aar": "int", "partner_lopenr": pa.string()},
    "kommuneendringer": {"aar": "int", "kommnr": pa.string(), "kommnr_2020": pa.string()},
    "kommuner_2020": {"kommnr_2020": pa.string(), "kommunenavn": pa.string(), "sentralitetsindeks": "float",
                      "sentralitetsklasse": "int", "okonomisk_region": pa.string(), "sykehus_i_region": pa.bool_()},
    "naering_2010": {"kommnr_2020": pa.string(), "naering": pa.string(), "sysselsatte": "int"},
    "grunnbelop": {"aar": "int", "g": "int"},
}


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    run(out, scale=SCALE, seed=7)
    return out


@pytest.fixture(scope="module")
def con(synth):
    db = duckdb.connect()
    for name in CONTRACT_TABLES:
        db.execute(f"create view {name} as select * from read_parquet('{synth / (name + '.parquet')}')")
    return db


def test_same_seed_same_bytes_other_seed_differs(synth, tmp_path):
    run(tmp_path / "b", scale=SCALE, seed=7)
    run(tmp_path / "c", scale=SCALE, seed=8)
    assert _digest(synth) == _digest(tmp_path / "b")
    other = _digest(tmp_path / "c")
    assert other["personer.parquet"] != _digest(synth)["personer.parquet"]
    assert other["truth.json"] != _digest(synth)["truth.json"]
    # the geography is fixed, independent of the person-level seed
    assert other["kommuner_2020.parquet"] == _digest(synth)["kommuner_2020.parquet"]


def test_every_contract_table_has_exactly_the_contract_columns_and_types(synth):
    for name, columns in CONTRACT.items():
        schema = pq.read_schema(synth / f"{name}.parquet")
        assert schema.names == list(columns), name
        for col, expected in columns.items():
            typ = schema.field(col).type
            if expected == "int":
                assert pa.types.is_integer(typ), (name, col, typ)
            elif expected == "float":
                assert pa.types.is_floating(typ), (name, col, typ)
            else:
                assert typ == expected, (name, col, typ)


def test_keys_are_unique_and_person_years_belong_to_persons(con):
    assert con.execute("select count(*) - count(distinct lopenr) from personer").fetchone()[0] == 0
    for table in ("bosted", "inntekt", "utdanning", "familie"):
        dup, orphans = con.execute(f"""
            select (select count(*) - count(distinct (lopenr, aar)) from {table}),
                   (select count(*) from {table} t anti join personer p using (lopenr))""").fetchone()
        assert dup == 0 and orphans == 0, table
    assert con.execute("select count(*) from familie f anti join personer p on p.lopenr = f.partner_lopenr").fetchone()[0] == 0
    for col in ("mor_lopenr", "far_lopenr"):
        assert con.execute(f"select count(*) from personer c anti join personer p on p.lopenr = c.{col} "
                           f"where c.{col} is not null").fetchone()[0] == 0


def test_partners_point_to_each_other(con):
    asymmetric = con.execute("""
        select count(*) from familie a anti join familie b
        on a.partner_lopenr = b.lopenr and b.partner_lopenr = a.lopenr and a.aar = b.aar""").fetchone()[0]
    assert asymmetric == 0


def test_every_residence_code_maps_to_one_of_356_municipalities(con):
    unmapped = con.execute("select count(*) from bosted b anti join kommuneendringer k using (aar, kommnr)").fetchone()[0]
    assert unmapped == 0
    assert con.execute("select count(distinct kommnr_2020) from kommuneendringer").fetchone()[0] == 356
    assert con.execute("select count(*) from kommuneendringer k anti join kommuner_2020 m using (kommnr_2020)").fetchone()[0] == 0
    assert con.execute("select count(*) - count(distinct (aar, kommnr)) from kommuneendringer").fetchone()[0] == 0
    # 2020 codes are valid in 2020 and carry the 2020 county prefixes; history has merges and renumbering
    prefixes = {r[0] for r in con.execute("select distinct left(kommnr_2020, 2) from kommuner_2020").fetchall()}
    assert prefixes == {"03", "11", "15", "18", "30", "34", "38", "42", "46", "50", "54"}
    n_2010, n_2020 = con.execute("select count(*) filter (where aar = 2010), count(*) filter (where aar = 2020) "
                                 "from kommuneendringer").fetchone()
    assert n_2020 == 356 and 400 < n_2010 < 480
    chain = con.execute("select kommnr from kommuneendringer where kommnr_2020 = '3804' order by aar").fetchall()
    assert [c[0] for c in chain][0] != "3804" and "0720" in {c[0] for c in chain}


def test_codes_within_code_lists_and_dates_possible(con):
    assert {r[0] for r in con.execute("select distinct kjonn from personer").fetchall()} == {1, 2}
    assert {r[0] for r in con.execute("select distinct invkat from personer").fetchall()} <= set("ABCEFG")
    assert con.execute("select count(*) from personer where length(fodeland) <> 3 or length(landbakgrunn) <> 3").fetchone()[0] == 0
    before_birth, future, born_here_with_date = con.execute("""
        select count(*) filter (where year(innvandringsdato) < foedselsaar),
               count(*) filter (where innvandringsdato > date '2020-12-31'),
               count(*) filter (where fodeland = '000' and innvandringsdato is not null) from personer""").fetchone()
    assert before_birth == 0 and future == 0 and born_here_with_date == 0
    bad_nus = con.execute("""select count(*) from utdanning where (nus_hoyeste is not null and not regexp_full_match(nus_hoyeste, '[0-9]{6}'))
                             or (nus_igang is not null and not regexp_full_match(nus_igang, '[0-9]{6}'))""").fetchone()[0]
    assert bad_nus == 0
    assert con.execute("select count(*) from personer where invkat = 'A' and innvandringsgrunn is not null").fetchone()[0] == 0


def test_timing_rules_of_the_contract(con):
    # immigrants of year y appear in bosted from y+1 and have an income row for y
    early = con.execute("""select count(*) from bosted b join personer p using (lopenr)
                           where b.aar <= year(p.innvandringsdato)""").fetchone()[0]
    assert early == 0
    missing_income = con.execute("""select count(*) from personer p anti join inntekt i
                                    on i.lopenr = p.lopenr and i.aar = year(p.innvandringsdato)
                                    where year(p.innvandringsdato) between 2010 and 2020""").fetchone()[0]
    assert missing_income == 0
    born_too_early = con.execute("select count(*) from bosted b join personer p using (lopenr) where b.aar <= p.foedselsaar").fetchone()[0]
    assert born_too_early == 0


def test_refugee_counts_scale_and_asylum_peaks_2015_2016(con, synth):
    truth = json.loads((synth / "truth.json").read_text())
    counts = dict(con.execute("""select innvandringsgrunn, count(*) from personer
                                 where year(innvandringsdato) >= 2010 group by 1""").fetchall())
    from data_synthetic.parameters import ARRIVALS
    for code, cat in (("711", "overforing"), ("712", "asyl")):
        expected = sum(ARRIVALS[cat]) * SCALE
        assert abs(counts[code] - expected) < 0.25 * expected + 15, (code, counts[code], expected)
    familie = counts.get("741", 0) + counts.get("742", 0) + counts.get("743", 0)
    assert abs(familie - sum(ARRIVALS["familie"]) * SCALE) < 0.25 * sum(ARRIVALS["familie"]) * SCALE + 15
    by_year = dict(con.execute("""select year(innvandringsdato), count(*) from personer
                                  where innvandringsgrunn = '712' and year(innvandringsdato) >= 2010 group by 1""").fetchall())
    peak = max(by_year, key=by_year.get)
    assert peak in (2015, 2016)
    assert truth["arrivals_by_year"]["asyl"] == [by_year.get(y, 0) for y in range(2010, 2021)]


def test_composition_follows_the_report(con):
    adult_male_asyl, female_familie, child_overforing = con.execute("""
        select avg((kjonn = 1)::int) filter (where innvandringsgrunn = '712' and year(innvandringsdato) between 2014 and 2017),
               avg((kjonn = 2)::int) filter (where innvandringsgrunn like '74_'),
               avg((year(innvandringsdato) - foedselsaar < 18)::int) filter (where innvandringsgrunn = '711')
        from personer where year(innvandringsdato) >= 2010""").fetchone()
    assert adult_male_asyl > 0.62
    assert 0.5 < female_familie < 0.8
    assert 0.35 < child_overforing < 0.7
    syria_late, syria_early = con.execute("""
        select avg((fodeland = '564')::int) filter (where year(innvandringsdato) between 2015 and 2018),
               avg((fodeland = '564')::int) filter (where year(innvandringsdato) between 2010 and 2012)
        from personer where innvandringsgrunn = '711'""").fetchone()
    assert syria_late > 0.5 and syria_early < 0.2
    # most children of refugee families are linked to a parent who is in the table
    linked = con.execute("""select avg((mor_lopenr is not null or far_lopenr is not null)::int) from personer
                            where innvandringsgrunn in ('711', '712') and year(innvandringsdato) >= 2010
                            and year(innvandringsdato) - foedselsaar < 10""").fetchone()[0]
    assert linked > 0.8


def test_truth_has_every_parameter_block_and_all_municipalities(synth, con):
    truth = json.loads((synth / "truth.json").read_text())
    for key in ("b0", "b_kategori", "b_botid", "b_country", "b_innvandringsaar", "b_age", "b_age2", "b_sex",
                "b_children", "b_partner", "b_education", "persistence", "municipality_effects", "clipping"):
        assert key in truth, key
    me = truth["municipality_effects"]
    codes = {r[0] for r in con.execute("select kommnr_2020 from kommuner_2020").fetchall()}
    for block in ("alpha", "alpha_mean_zero", "alpha_reference_0301", "u_pp"):
        assert set(me[block]) == {"overforing", "asyl", "familie"}, block
        for category, values in me[block].items():
            assert set(values) == codes, (block, category)
            if block == "alpha_mean_zero":
                assert abs(np.mean(list(values.values()))) < 1e-12
    assert all(me["alpha_reference_0301"][c]["0301"] == 0.0 for c in me["alpha"])
    assert set(me["characteristics"]) == set(SECOND_STAGE)
    # the planted characteristics are what the pipeline recomputes: population from bosted through the crosswalk
    year = me["characteristics_year"]
    pop = dict(con.execute(f"""select k.kommnr_2020, count(*) from bosted b join kommuneendringer k using (aar, kommnr)
                               where b.aar = {year} group by 1""").fetchall())
    assert all(np.exp(v) == pytest.approx(pop[code]) for code, v in me["characteristics"]["ln_befolkning"].items())
    cent = dict(con.execute("select kommnr_2020, sentralitetsindeks from kommuner_2020").fetchall())
    assert all(v == pytest.approx(np.log(cent[code])) for code, v in me["characteristics"]["ln_sentralitetsindeks"].items())
    # alpha is the planted linear function of the characteristics plus u (pp / 100), up to a constant
    for category, gamma in me["gamma_pp"].items():
        fitted = sum(g * pd.Series(me["characteristics"][k]) for k, g in gamma.items())
        rest = pd.Series(me["alpha"][category]) * 100 - pd.Series(me["u_pp"][category]) - fitted
        assert rest.max() - rest.min() < 1e-9, category
    assert truth["clipping"]["clipped_share"] < 0.12


def test_generator_constants_follow_the_pipeline_defaults():
    """The generator plants on the characteristics the pipeline's second stage uses, in its default year,
    over its contribution sample (botid 0..max_botid_contributions)."""
    from data_synthetic import parameters as P
    from models.second_stage import CHARACTERISTICS
    from pipeline.config import load_settings

    settings = load_settings()
    assert SECOND_STAGE == tuple(c.name for c in CHARACTERISTICS)
    assert P.CHARACTERISTICS_YEAR == settings.characteristics_year
    assert P.CONTRIBUTION_MAX_BOTID == settings.max_botid_contributions
    assert set(P.published_slopes()) == {"asyl", "overforing", "familie", "alle"}
    assert all(len(v) == len(SECOND_STAGE) for v in P.published_slopes().values())


def test_outcome_indicators_are_consistent_with_realised_registers(con, synth):
    """The botid profile of arbeid_utdanning, computed from the files, rises as planted."""
    profile = dict(con.execute("""
        with ref as (select lopenr, year(innvandringsdato) y, foedselsaar from personer
                     where innvandringsgrunn in ('711', '712', '741', '742', '743') and year(innvandringsdato) >= 2010)
        select b.aar - r.y - 1 as botid,
               avg(greatest((i.yrkinnt > g.g)::int, (u.nus_igang is not null)::int))
        from ref r join bosted b using (lopenr) join inntekt i on i.lopenr = b.lopenr and i.aar = b.aar
        join grunnbelop g on g.aar = b.aar left join utdanning u on u.lopenr = b.lopenr and u.aar = b.aar
        where b.aar - r.y - 1 >= 0 and b.aar - r.foedselsaar between 20 and 69 group by 1""").fetchall())
    assert profile[0] < 0.3 and profile[5] > profile[0] + 0.25
    exact_g, negative = con.execute("""select count(*) filter (where i.yrkinnt = g.g), count(*) filter (where i.yrkinnt < 0)
                                       from inntekt i join grunnbelop g using (aar)""").fetchone()
    assert exact_g > 0 and negative > 0
