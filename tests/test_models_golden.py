"""Petersen (2009) golden values: coefficients and one-way clustered SEs (Stata / R sandwich CR1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.fixed_effects import fit_absorbed
from models.ols import fit_ols

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden" / "petersen" / "petersen.csv"
# Published values (README.md beside the data), rounded to 6 decimals.
COEF = (0.029680, 1.034833)
SE_IID = (0.028359, 0.028583)
SE_FIRM = (0.067013, 0.050596)
SE_YEAR = (0.023387, 0.033389)
SE_X_YEAR_FE_FIRM_CLUSTER = 0.050836
SE_TWO_WAY = (0.065064, 0.053558)


@pytest.fixture(scope="module")
def petersen() -> pd.DataFrame:
    if not GOLDEN.exists():
        pytest.skip(f"golden data not available at {GOLDEN}")
    return pd.read_csv(GOLDEN)


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values)[0].astype(np.int64)


def _close(actual, published):
    # published values carry 6 decimals: agree to half a unit in the last place
    np.testing.assert_allclose(actual, published, rtol=0, atol=5e-7)


def test_coefficients_and_conventional_se(petersen):
    res = fit_ols(petersen["y"].to_numpy(), petersen["x"].to_numpy(), terms=["x"], vcov="iid")
    _close(res.coef, COEF)
    _close(res.std_errors, SE_IID)


@pytest.mark.parametrize("by, expected", [("firm", SE_FIRM), ("year", SE_YEAR)])
def test_one_way_clustered_se(petersen, by, expected):
    res = fit_ols(petersen["y"].to_numpy(), petersen["x"].to_numpy(), terms=["x"],
                  cluster=_codes(petersen[by]), vcov="CR1")
    _close(res.coef, COEF)
    _close(res.std_errors, expected)


def test_year_fixed_effects_firm_clusters(petersen):
    res = fit_absorbed(petersen["y"].to_numpy(), petersen["x"].to_numpy(), _codes(petersen["year"]),
                       terms=["x"], cluster=_codes(petersen["firm"]), vcov="CR1")
    assert not res.fe_nested and res.ols.df_k == 1 + 10
    _close(res.ols.std_errors[0], SE_X_YEAR_FE_FIRM_CLUSTER)


def test_two_way_clustered_se_by_firm_and_year(petersen):
    """Cameron-Gelbach-Miller with a G/(G-1) correction per term: the published two-way values."""
    two_way = np.column_stack([_codes(petersen["firm"]), _codes(petersen["year"])])
    res = fit_ols(petersen["y"].to_numpy(), petersen["x"].to_numpy(), terms=["x"], cluster=two_way, vcov="CR1")
    _close(res.coef, COEF)
    _close(res.std_errors, SE_TWO_WAY)
    assert res.df_resid == 10 - 1   # min(G) - 1
