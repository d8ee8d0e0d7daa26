"""Planted municipality effects (data_synthetic/effects.py): the report's table 3.3 slopes are planted exactly
over the municipalities where a category is present, the residual is unrelated to the characteristics, and
the spread and the person-weighted mean are as documented."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_synthetic import parameters as P
from data_synthetic.effects import SECOND_STAGE, municipality_effects, person_bands, planted_coefficients

# SDs of the characteristics over municipalities, as in the report's table 3.2 (ln and 0/1 ones approximate)
SD = np.array([1.2, 0.1, 3.6, 1.3, 0.22, 6.1, 5.6, 3.3, 1.4, 6.9, 7.6, 0.5])


def characteristics(rng: np.random.Generator, n: int = 356) -> pd.DataFrame:
    """Correlated characteristics: a common factor plus own noise, scaled to the report's SDs."""
    factor = rng.standard_normal(n)
    z = (0.3 * factor[:, None] + 0.95 * rng.standard_normal((n, len(SECOND_STAGE)))) * SD
    frame = pd.DataFrame(z + 10, columns=list(SECOND_STAGE))
    frame.insert(0, "kommnr_2020", [f"{i:04d}" for i in range(n)])
    return frame


def slope(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.cov(y, x)[0, 1] / np.var(x, ddof=1))


def test_unpenalised_coefficients_give_the_target_slopes_and_a_cap_binds_the_fitted_spread():
    rng = np.random.default_rng(1)
    z = characteristics(rng)[list(SECOND_STAGE)].to_numpy()
    z = z - z.mean(axis=0)
    targets = rng.normal(0, 1, len(SECOND_STAGE)) / SD
    std_errors = np.full(len(SECOND_STAGE), 0.5) / SD
    gamma, ridge = planted_coefficients(z, targets, std_errors, max_sd=1e6)
    assert ridge == 0.0
    assert [slope(z @ gamma, z[:, k]) for k in range(z.shape[1])] == pytest.approx(targets, rel=1e-8)
    capped, ridge = planted_coefficients(z, targets, std_errors, max_sd=0.5 * np.std(z @ gamma, ddof=1))
    assert ridge > 0
    assert np.std(z @ capped, ddof=1) == pytest.approx(0.5 * np.std(z @ gamma, ddof=1), rel=1e-6)


def test_municipality_effects_plant_the_report_slopes_where_each_category_is_present():
    rng = np.random.default_rng(2)
    chars = characteristics(rng)
    n = len(chars)
    persons = rng.poisson(rng.lognormal(2.5, 1.3, (3, n))).astype(np.int64)
    persons[:, :20] = 0                                    # twenty municipalities without refugees
    effects = municipality_effects(chars, persons, np.random.default_rng(3))
    z = chars[list(SECOND_STAGE)].to_numpy()
    for i, category in enumerate(P.CATEGORY_NAMES):
        own = persons[i] > 0
        alpha = 100 * effects["alpha"][i]
        assert effects["ridge"][category] == 0.0           # uncorrelated enough: no cap needed
        for k, name in enumerate(SECOND_STAGE):
            assert slope(alpha[own], z[own, k]) == pytest.approx(P.published_slopes()[category][name][0], abs=1e-8)
        u = effects["u"][i]
        assert np.std(u[own]) == pytest.approx(P.MUNICIPALITY_EFFECTS["sd_u"][category])
        # u is unrelated to the characteristics within each band of persons, so also over the larger ones alone
        band = person_bands(persons[i], own, min_size=2 * (len(SECOND_STAGE) + 1))
        assert len(np.unique(band[own])) >= 2
        for b in np.unique(band[own]):
            rows = own & (band == b)
            assert rows.sum() >= 2 * (len(SECOND_STAGE) + 1)
            assert np.abs((z[rows] - z[rows].mean(axis=0)).T @ u[rows]).max() < 1e-6 * np.abs(u).sum()
        assert np.average(alpha, weights=persons[i]) == pytest.approx(0.0, abs=1e-9)
