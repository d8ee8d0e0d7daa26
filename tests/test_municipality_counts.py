"""The municipality shares of pipeline/registers/municipalities.py (array lookups by person index) against the same
definitions (methods.md §5) written independently as pandas merges of the extract files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_synthetic.generate import run as generate
from pipeline.config import load_settings
from pipeline.registers.db import country_regions
from pipeline.registers.stage import build_panel

YEARS = range(2010, 2021)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("municipality_counts")
    generate(root / "data", scale=0.01, seed=5)
    settings = load_settings(input=root / "data", work=root / "work", out=root / "out")
    build_panel(settings)
    return settings


def expected_shares(settings) -> pd.DataFrame:
    read = lambda name: pd.read_parquet(settings.paths.input / f"{name}.parquet")  # noqa: E731
    personer, crosswalk, g = read("personer"), read("kommuneendringer"), read("grunnbelop")
    bosted = read("bosted").query("aar >= 2010 and aar <= 2020").merge(crosswalk, on=["aar", "kommnr"])
    people = personer.assign(
        background=personer.invkat.isin(["B", "C"]), immigrant=personer.invkat.eq("B"),
        norwegian_born=personer.invkat.eq("C"),
        refugee=personer.innvandringsgrunn.isin(settings.refugee_background),
        region=personer.landbakgrunn.map(country_regions(list(personer.landbakgrunn.dropna().unique()))))
    rows = bosted.merge(people, on="lopenr")
    groups = ["kommnr_2020", "aar"]
    population = rows.assign(
        andel_flyktningbakgrunn=rows.refugee, andel_innvandrere=rows.immigrant,
        andel_norskfodte_innv_foreldre=rows.norwegian_born, andel_innvandringsbakgrunn=rows.background,
        andel_innvandringsbakgrunn_ikke_flukt=rows.background & ~rows.refugee,
        # a background without a known region is left out of the region shares (SQL's null)
        **{f"andel_bakgrunn_{r}": np.where(rows.background & rows.region.isna(), np.nan,
                                           (rows.background & rows.region.eq(r)).astype(float))
           for r in ("europa", "afrika", "asia", "nord_amerika", "latin_amerika", "oseania")},
    ).groupby(groups).agg(befolkning=("lopenr", "size"),
                          **{c: (c, "mean") for c in ["andel_flyktningbakgrunn", "andel_innvandrere",
                                                      "andel_norskfodte_innv_foreldre",
                                                      "andel_innvandringsbakgrunn",
                                                      "andel_innvandringsbakgrunn_ikke_flukt"]
                             + [f"andel_bakgrunn_{r}" for r in ("europa", "afrika", "asia", "nord_amerika",
                                                                "latin_amerika", "oseania")]})
    working = rows[(rows.aar - rows.foedselsaar).between(30, 59)]
    inntekt, utdanning = read("inntekt"), read("utdanning")
    working = working.merge(inntekt, on=["lopenr", "aar"], how="left").merge(
        utdanning, on=["lopenr", "aar"], how="left").merge(g, on="aar")
    income = working.yrkinnt.fillna(0)
    benefits = working[["sosialhjelp", "grunn_hjelpestonad", "bostotte"]].fillna(0).sum(axis=1)
    employed = income > working.g
    higher = working.nus_hoyeste.str[0].isin(["6", "7", "8"])
    working = working.assign(
        employed=employed, work_or_education=employed | working.nus_igang.notna(), higher=higher,
        welfare=(benefits > 0) & (benefits > income),
        high=np.where(working.background, ((income > 4 * working.g) | higher).astype(float), np.nan))
    working_age = working.groupby(groups).agg(
        befolkning_30_59=("lopenr", "size"), inntekt_30_59=("yrkinnt", "mean"),
        andel_sysselsatt_30_59=("employed", "mean"), andel_arbeid_utdanning_30_59=("work_or_education", "mean"),
        andel_hoyere_utdanning_30_59=("higher", "mean"), andel_sosialstonad_30_59=("welfare", "mean"),
        andel_innv_hoy_utd_inntekt_30_59=("high", "mean"))
    shares = population.join(working_age, how="outer")
    return shares.fillna({"befolkning_30_59": 0})  # municipality_year: no residents aged 30-59 is 0


def test_municipality_shares_equal_an_independent_pandas_computation(built):
    got = pd.read_parquet(built.paths.municipality_year).set_index(["kommnr_2020", "aar"])
    expected = expected_shares(built)
    assert len(expected) > 1000  # most municipality-years have residents at this scale
    got = got.loc[expected.index, expected.columns]
    pd.testing.assert_frame_equal(got.astype(float), expected.astype(float), rtol=1e-12, check_names=False,
                                  check_index_type=False)


def test_a_reader_left_early_frees_the_connection_and_a_failing_query_raises(tmp_path, monkeypatch):
    import duckdb

    from pipeline.registers import municipalities

    (tmp_path / "rows.sql").write_text("select range as pid from range(5000000)", encoding="utf-8")
    (tmp_path / "bad.sql").write_text("select 1 / 0 as x from no_such_table", encoding="utf-8")
    monkeypatch.setattr(municipalities, "SQL_DIR", tmp_path)
    con = duckdb.connect()
    first = next(municipalities.batches(con, "rows.sql"))
    assert first["pid"][0] == 0
    generator = municipalities.batches(con, "rows.sql")
    next(generator)
    generator.close()  # the reader thread finishes before the connection is used again
    assert con.execute("select 42").fetchall() == [(42,)]
    with pytest.raises(duckdb.Error):
        list(municipalities.batches(con, "bad.sql"))
