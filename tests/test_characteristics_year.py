"""Which year do the report's table 3.2 characteristics describe? Its population row (mean 14,987, SD 43,017
over 350 municipalities) checked against SSB's real populations (table 07459) mapped to the 2020 structure
with the KLASS 131 crosswalk (README, "The year of the municipality characteristics")."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.config import load_settings
from pipeline.reference import build_reference_tables

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
POPULATION = SHARED / "population_1jan_by_kommune_ssb07459.csv"
REPORT_MEAN, REPORT_SD, REPORT_N = 14_987, 43_017, 350

pytestmark = pytest.mark.skipif(not POPULATION.exists() or not (SHARED / "klass131").exists(),
                                reason="SSB reference files not available")


@pytest.fixture(scope="module")
def population_2020_structure() -> pd.DataFrame:
    """Population on 1 January by 2020 municipality (rows) and year 2010-2020 (columns). The file lacks a few
    pre-2017 codes (Sandefjord, Andebu, Stokke, Mosvik, Inderøy, Harstad, Bjarkøy); their 2020 municipality
    is carried back from its first complete year with the growth of the rest of the country."""
    crosswalk, _, _ = build_reference_tables(SHARED / "klass131", first_year=2010, last_year=2020,
                                             splits=load_settings().splits)
    population = pd.read_csv(POPULATION, dtype={"code": str})
    merged = crosswalk.merge(population, left_on=["aar", "kommnr"], right_on=["year", "code"], how="left")
    incomplete = merged.loc[merged["population"].isna()].groupby("kommnr_2020")["aar"].max()
    table = merged.groupby(["kommnr_2020", "aar"])["population"].sum().unstack()
    rest = table.drop(index=incomplete.index).sum()
    for code, last_missing in incomplete.items():
        first = last_missing + 1
        for year in range(2010, first):
            table.loc[code, year] = table.loc[code, first] * rest[year] / rest[first]
    return table


def test_2010_cannot_be_the_year_of_table_3_2(population_2020_structure):
    population = population_2020_structure
    assert len(population) == 356
    assert population[2010].sum() < 0.93 * REPORT_MEAN * REPORT_N          # 4.86 M, not 5.25 M
    assert population[2010].mean() < 0.92 * REPORT_MEAN


def test_1_january_2017_is_the_only_year_where_350_municipalities_match_mean_and_sd(population_2020_structure):
    """350 municipalities with mean 14,987 hold 5,245,450 residents. Before 2017 even the 350 largest hold
    fewer; in 2017 leaving out municipalities of 12,867 residents in all (e.g. the six smallest) gives the
    SD within 0.2 %; from 2018 any six left out with the right total leave an SD at least 1 % too large."""
    target_total = REPORT_MEAN * REPORT_N
    fits = {}
    for year in range(2010, 2021):
        sizes = np.sort(population_2020_structure[year].to_numpy(float))
        if sizes[-REPORT_N:].sum() < target_total:
            continue
        removed = sizes.sum() - target_total
        # the largest possible SD after removing six municipalities of `removed` residents: equal sizes
        remaining_squares = (sizes ** 2).sum() - 6 * (removed / 6) ** 2
        largest_sd = np.sqrt((remaining_squares - REPORT_N * REPORT_MEAN ** 2) / (REPORT_N - 1))
        smallest_five = sizes[:5]
        lowest_sd = np.sqrt(((sizes ** 2).sum() - (smallest_five ** 2).sum() - (removed - smallest_five.sum()) ** 2
                             - REPORT_N * REPORT_MEAN ** 2) / (REPORT_N - 1))
        fits[year] = (lowest_sd / REPORT_SD - 1, largest_sd / REPORT_SD - 1)
    assert min(fits) == 2017
    assert all(abs(deviation) < 0.002 for deviation in fits[2017])
    assert all(low > 0.01 for year, (low, _) in fits.items() if year > 2017)
    assert load_settings().characteristics_year == 2017
