"""A simulated work panel with planted parameters, for tests and benchmarks of the estimators.

Persons arrive 2010–2019 (botid = t − innvandringsaar − 1, observed to 2020 with attrition), settle
in one of `n_municipalities` municipalities of skewed size ("0301" the largest), and have the
characteristics of pipeline/schema.py PERSON_YEAR. The outcome is Bernoulli with a probability that
is *linear* in the design (so the LPM is correctly specified and recovers the planted values):
p = 0.42 + Σ planted effects + α_m, with α_m = 0.015 · z_m + noise, z_m a standardised municipality
characteristic (`andel_arbeid_utdanning_30_59` in the municipality table is built from it).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COUNTRIES = ("syria", "iran", "irak", "afghanistan", "sudan", "somalia", "etiopia", "eritrea", "annet")
PLANTED = {
    "kategori[familie]": 0.03, "kategori[overforing]": -0.04,
    "kjonn[2]": -0.12, "partner_innvandring[1]": 0.02, "barn_innvandring[1]": -0.02,
    "barn_innvandring[2]": -0.04, "barn_innvandring[3]": -0.06,
    "utdanning_innvandring[3]": 0.04, "utdanning_innvandring[5]": 0.08, "utdanning_innvandring[99]": -0.02,
    "botid_slope": 0.04, "age_slope": -0.004,
}
MUNICIPALITY_SLOPE = 0.015  # α_m = MUNICIPALITY_SLOPE · z_m + N(0, 0.01²)
BASELINE = 0.42


def municipality_codes(n: int) -> list[str]:
    codes = ["0301"] + [f"{1000 + 7 * i:04d}" for i in range(n - 1)]
    return codes


def simulate_panel(n_persons: int = 82_000, *, n_municipalities: int = 356, seed: int = 1,
                   last_year: int = 2020, cohort_correlation: float | None = None,
                   size_exponent: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(person_year, municipality_year) with the columns of pipeline/schema.py.

    With `cohort_correlation` ρ, persons arriving from 2015 meet effects α'_m = ρ α_m + √(1 − ρ²) u_m
    (u_m independent, with α's spread), so the true effects of the two cohorts correlate ρ across
    municipalities. `size_exponent` sets how skewed municipality sizes are (1/rank^exponent).
    """
    rng = np.random.default_rng(seed)
    codes = np.array(municipality_codes(n_municipalities))
    size = 1.0 / np.arange(1, n_municipalities + 1) ** size_exponent
    muni = rng.choice(n_municipalities, n_persons, p=size / size.sum())
    z = rng.normal(size=n_municipalities)
    alpha = MUNICIPALITY_SLOPE * z + rng.normal(scale=0.01, size=n_municipalities)
    late = np.zeros(n_persons, dtype=bool)

    kategori = rng.choice(["asyl", "overforing", "familie"], n_persons, p=[0.5, 0.2, 0.3])
    kjonn = np.where(rng.random(n_persons) < np.where(kategori == "asyl", 0.3, 0.55), 2, 1)
    country = rng.choice(COUNTRIES, n_persons, p=[.3, .05, .05, .1, .03, .07, .05, .15, .2])
    innv = rng.integers(2010, last_year, n_persons)
    alpha_of = np.tile(alpha, (2, 1))
    if cohort_correlation is not None:
        centred = alpha - alpha.mean()
        fresh = rng.normal(scale=centred.std(), size=n_municipalities)
        alpha_of[1] = alpha.mean() + cohort_correlation * centred + np.sqrt(1 - cohort_correlation ** 2) * fresh
        late = innv >= 2015
    age_in = rng.integers(16, 60, n_persons)
    partner = (rng.random(n_persons) < 0.45).astype(np.int64)
    barn = rng.choice([0, 1, 2, 3], n_persons, p=[.45, .2, .15, .2])
    utd = rng.choice([0, 1, 2, 3, 4, 5, 99], n_persons, p=[.08, .15, .2, .2, .1, .07, .2])
    years_obs = last_year - innv  # botid 0 .. last_year - innv - 1
    stay = np.minimum(years_obs, rng.geometric(0.08, n_persons))

    person = np.repeat(np.arange(n_persons), stay)
    botid = np.concatenate([np.arange(s) for s in stay]) if stay.sum() else np.empty(0, int)
    aar = innv[person] + 1 + botid
    p = (BASELINE + PLANTED["botid_slope"] * np.minimum(botid, 6) + PLANTED["age_slope"] * (age_in[person] - 35)
         + alpha_of[late[person].astype(int), muni[person]])
    for term, value in PLANTED.items():
        if "[" not in term:
            continue
        col, level = term[:-1].split("[")
        source = {"kategori": kategori, "kjonn": kjonn, "partner_innvandring": partner,
                  "barn_innvandring": barn, "utdanning_innvandring": utd}[col]
        p = p + value * (source[person].astype(str) == level)
    p = np.clip(p, 0.0, 1.0)
    outcome = (rng.random(p.shape[0]) < p).astype(np.int64)
    in_edu = ((outcome == 1) & (rng.random(p.shape[0]) < 0.3)).astype(np.int64)
    g = 100_000
    employed = outcome - in_edu
    lopenr = np.char.add("p", np.arange(n_persons).astype(str))
    person_year = pd.DataFrame({
        "lopenr": lopenr[person], "aar": aar, "kategori": kategori[person], "botid": botid,
        "alder": aar - (innv[person] - age_in[person]), "kjonn": kjonn[person],
        "fodeland_gruppe": country[person], "innvandringsaar": innv[person],
        "alder_innvandring": age_in[person], "bosettingskommune": codes[muni[person]],
        "kommnr_2020": codes[muni[person]], "partner_innvandring": partner[person],
        "barn_innvandring": barn[person], "utdanning_innvandring": utd[person],
        "yrkinnt": np.where(employed == 1, 2 * g, 0), "g": g, "sysselsatt": employed,
        "i_utdanning": in_edu, "arbeid_utdanning": outcome,
    })
    return person_year, simulate_municipality_year(codes, z, seed=seed + 1)


def simulate_municipality_year(codes: np.ndarray, z: np.ndarray, *, seed: int = 2,
                               years: range = range(2010, 2021)) -> pd.DataFrame:
    """MUNICIPALITY_YEAR rows; andel_arbeid_utdanning_30_59 = 0.85 + 0.03·z (z as in simulate_panel)."""
    rng = np.random.default_rng(seed)
    n = len(codes)
    pop = np.round(200_000 / np.arange(1, n + 1) ** 0.9 + 500).astype(np.int64)
    rows = []
    for year in years:
        share = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
        rows.append(pd.DataFrame({
            "kommnr_2020": codes, "aar": year, "kommunenavn": [f"Kommune {c}" for c in codes],
            "befolkning": pop, "andel_flyktningbakgrunn": share(0.01, 0.06),
            "andel_innvandrere": share(0.05, 0.2), "andel_norskfodte_innv_foreldre": share(0.0, 0.05),
            "andel_innvandringsbakgrunn": share(0.05, 0.25), "andel_innvandringsbakgrunn_ikke_flukt": share(0.03, 0.15),
            "andel_bakgrunn_europa": share(0, .1), "andel_bakgrunn_afrika": share(0, .05),
            "andel_bakgrunn_asia": share(0, .08), "andel_bakgrunn_nord_amerika": share(0, .01),
            "andel_bakgrunn_latin_amerika": share(0, .01), "andel_bakgrunn_oseania": share(0, .002),
            "befolkning_30_59": (pop * 0.4).astype(np.int64), "inntekt_30_59": rng.normal(450_000, 45_000, n),
            "andel_sysselsatt_30_59": share(0.75, 0.85), "andel_arbeid_utdanning_30_59": 0.85 + 0.03 * z,
            "andel_hoyere_utdanning_30_59": share(0.2, 0.45), "andel_sosialstonad_30_59": share(0.02, 0.07),
            "andel_innv_hoy_utd_inntekt_30_59": share(0.4, 0.7), "bosatt_overforing": rng.poisson(3, n),
            "bosatt_asyl": rng.poisson(5, n), "bosatt_familie": rng.poisson(4, n), "bosatt_flukt": rng.poisson(13, n),
            "sentralitetsindeks": rng.uniform(400, 1000, n), "sentralitetsklasse": rng.integers(1, 7, n),
            "okonomisk_region": [f"R{int(c) % 40:02d}" for c in codes], "sykehus_i_region": rng.integers(0, 2, n),
            "andel_industri_2010": share(0.02, 0.25), "andel_primaer_2010": share(0.0, 0.2),
        }))
    return pd.concat(rows, ignore_index=True)
