"""Numbers that shape the synthetic population: arrivals, composition, and the planted outcome model.

Counts are for scale 1.0 (the whole population of Norway). Composition anchors follow the report's
descriptions of figures 3.1-3.7 (chapter 3, Brekke et al. 2024); values between anchor years are
linearly interpolated. DGP.md explains each block.
"""
from __future__ import annotations

import csv
from functools import lru_cache

import numpy as np

from pipeline.config import PUBLISHED_NUMBERS

YEARS = tuple(range(2010, 2021))
CATEGORY_NAMES = ("overforing", "asyl", "familie")

# --- refugee arrivals per year (persons, scale 1) -------------------------------------------------
ARRIVALS: dict[str, tuple[int, ...]] = {
    #              2010  2011  2012  2013  2014  2015  2016  2017  2018  2019  2020
    "overforing": (1370, 1620, 1370, 1130, 1620, 3010, 4130, 3510, 3010, 3760, 2260),
    "asyl":       (4380, 3760, 4380, 4380, 5010, 6270, 11900, 6890, 2260, 1500, 1000),
    "familie":    (3140, 3380, 3510, 3510, 3760, 4010, 5260, 7520, 4510, 2760, 1620),
}
OTHER_FLIGHT_PER_YEAR = 300          # 713 / 71: refugee background, not a study category
NONREFUGEE_ARRIVALS = (36_000, 40_000, 39_000, 36_000, 34_000, 31_000, 26_000, 23_000, 22_000, 23_000, 19_000)
NONREFUGEE_REASONS = (("21", 0.55), ("31", 0.33), ("81", 0.12))   # work, family (non-refugee), education

# --- municipalities and the stock (population.py) ----------------------------------------------------
# latent municipality traits: zc = standardised centrality; *_zc the loading on it, *_sd the own noise
MUNICIPAL = {
    "employment_zc": 0.12, "employment_sd": 0.15,
    "income_zc": 0.045, "income_sd": 0.07,
    "higher_ed_mean": 0.31, "higher_ed_zc": 0.05, "higher_ed_sd": 0.065,
    "immigrant_mean": 0.055, "immigrant_zc": 0.012, "immigrant_spread": 0.02,
    "benefit_sd": 0.25,
    # immigrants of the 2010 stock with a refugee-related reason: logit-normal around this share
    "stock_refugee_share": 0.12, "stock_refugee_sd": 1.1,
}
NONREFUGEE_HIGHER_EDUCATION = 0.20            # share of non-refugee immigrants with higher education
# settlement of resettled and asylum refugees (and family migrants without an anchor): weight
# size^power * exp(propensity); a share of municipalities, smaller ones more often, settles none of a category
SETTLEMENT = {"power": {"overforing": 0.74, "asyl": 0.74, "familie": 0.74},
              "declines": {"overforing": 0.11, "asyl": 0.015, "familie": 0.10}, "decline_noise": 0.6}
FAMILIE_ANCHOR_MALE_WEIGHT = 1.5              # a male single refugee is this much likelier to be joined
FAMILIE_ANCHOR_YEARS = 2.0                    # ... and one who arrived y years ago by exp(-y / this)
NONREFUGEE_EMPLOYABILITY = -0.1               # shift of the persistent employment factor z of non-refugee immigrants
HEAD_AGE_GAMMA = {"overforing": (1.6, 6.3), "asyl": (1.6, 6.0)}   # age of household heads = 19 + gamma(shape, scale)

# --- countries --------------------------------------------------------------------------------------
# SSB 3-digit codes. The eight named groups of methods.md §2 first, then "other" countries.
COUNTRY_GROUPS = {"564": "syria", "456": "iran", "452": "irak", "404": "afghanistan", "356": "sudan",
                  "346": "somalia", "246": "etiopia", "241": "eritrea"}
REFUGEE_COUNTRIES = ("564", "456", "452", "404", "356", "346", "246", "241", "420", "279", "524", "140", "424")
#                     Syr    Iran   Irak   Afgh   Sud    Som    Etio   Erit   Myan   Kongo  Pal    Russ   SriL
REFUGEE_COUNTRY_WEIGHTS: dict[str, dict[int, tuple[float, ...]]] = {
    "asyl": {
        2010: (0.02, 0.07, 0.06, 0.13, 0.03, 0.30, 0.07, 0.24, 0.01, 0.01, 0.02, 0.03, 0.01),
        2012: (0.05, 0.06, 0.05, 0.12, 0.03, 0.31, 0.07, 0.24, 0.01, 0.01, 0.02, 0.02, 0.01),
        2013: (0.12, 0.05, 0.04, 0.10, 0.03, 0.26, 0.06, 0.26, 0.01, 0.01, 0.03, 0.02, 0.01),
        2014: (0.30, 0.04, 0.03, 0.07, 0.03, 0.12, 0.04, 0.30, 0.01, 0.01, 0.03, 0.01, 0.01),
        2016: (0.52, 0.05, 0.05, 0.12, 0.02, 0.03, 0.02, 0.13, 0.00, 0.01, 0.03, 0.01, 0.01),
        2018: (0.30, 0.09, 0.05, 0.10, 0.03, 0.04, 0.03, 0.22, 0.00, 0.02, 0.04, 0.04, 0.04),
        2020: (0.25, 0.10, 0.05, 0.10, 0.04, 0.04, 0.03, 0.22, 0.00, 0.03, 0.05, 0.05, 0.04),
    },
    "overforing": {
        2010: (0.04, 0.08, 0.10, 0.10, 0.05, 0.07, 0.06, 0.15, 0.20, 0.12, 0.02, 0.00, 0.01),
        2013: (0.18, 0.07, 0.07, 0.08, 0.05, 0.06, 0.05, 0.12, 0.15, 0.14, 0.02, 0.00, 0.01),
        2015: (0.80, 0.02, 0.02, 0.03, 0.02, 0.02, 0.01, 0.03, 0.01, 0.03, 0.01, 0.00, 0.00),
        2018: (0.72, 0.01, 0.02, 0.03, 0.04, 0.02, 0.01, 0.04, 0.00, 0.10, 0.01, 0.00, 0.00),
        2020: (0.55, 0.01, 0.02, 0.05, 0.05, 0.03, 0.01, 0.06, 0.00, 0.20, 0.02, 0.00, 0.00),
    },
}
STOCK_REFUGEE_COUNTRIES = (("346", 0.18), ("452", 0.15), ("456", 0.10), ("488", 0.10), ("154", 0.10), ("404", 0.08),
                           ("241", 0.06), ("424", 0.08), ("157", 0.06), ("725", 0.04), ("140", 0.05))
NONREFUGEE_COUNTRIES = (("131", 0.22), ("136", 0.09), ("106", 0.10), ("101", 0.04), ("144", 0.07), ("139", 0.04),
                        ("137", 0.03), ("141", 0.03), ("428", 0.07), ("468", 0.05), ("444", 0.03), ("464", 0.05),
                        ("484", 0.03), ("488", 0.03), ("143", 0.03), ("684", 0.03), ("705", 0.03), ("148", 0.03))

# --- composition of refugee households (anchors; interpolated) ----------------------------------------
# share female among adult singles/heads, partner share of adults, P(children | adult), mean extra children
HOUSEHOLDS: dict[str, dict[int, dict[str, float]]] = {
    "overforing": {
        2010: dict(female_single=0.55, partner=0.40, children=0.70, extra_children=1.2),
        2014: dict(female_single=0.55, partner=0.42, children=0.72, extra_children=1.4),
        2016: dict(female_single=0.45, partner=0.66, children=0.80, extra_children=1.9),
        2020: dict(female_single=0.45, partner=0.66, children=0.82, extra_children=2.1),
    },
    "asyl": {
        2010: dict(female_single=0.18, partner=0.16, children=0.16, extra_children=0.8),
        2013: dict(female_single=0.16, partner=0.18, children=0.18, extra_children=0.8),
        2014: dict(female_single=0.06, partner=0.18, children=0.20, extra_children=0.9),
        2015: dict(female_single=0.05, partner=0.26, children=0.30, extra_children=1.0),
        2016: dict(female_single=0.06, partner=0.30, children=0.34, extra_children=1.0),
        2017: dict(female_single=0.10, partner=0.38, children=0.42, extra_children=0.9),
        2019: dict(female_single=0.18, partner=0.48, children=0.52, extra_children=0.8),
    },
}
UNACCOMPANIED_MINORS = {2010: 0.08, 2014: 0.08, 2015: 0.14, 2016: 0.12, 2017: 0.05, 2020: 0.04}  # share of asyl persons
# familie: share of households that are spouse (+children) with an anchor, establishment (742), other (743)
FAMILIE = {
    2010: dict(reunion=0.70, establish=0.23, other=0.07, children=0.60, extra_children=1.1),
    2017: dict(reunion=0.74, establish=0.20, other=0.06, children=0.62, extra_children=1.2),
    2019: dict(reunion=0.62, establish=0.20, other=0.18, children=0.55, extra_children=1.0),
    2020: dict(reunion=0.62, establish=0.20, other=0.18, children=0.55, extra_children=1.0),
}
# share of adults (20+) whose education is registered by 1 October of the year after arrival
EDUCATION_KNOWN = {
    "overforing": {2010: 0.60, 2012: 0.45, 2013: 0.15, 2020: 0.12},
    "asyl": {2010: 0.82, 2014: 0.60, 2019: 0.22, 2020: 0.20},
    "familie": {2010: 0.70, 2012: 0.55, 2013: 0.30, 2020: 0.22},
}
# distribution of true NUS first digit 0..8 for adult refugees
EDUCATION_LEVELS = {
    "overforing": (0.10, 0.30, 0.25, 0.07, 0.12, 0.03, 0.08, 0.04, 0.01),
    "asyl":       (0.03, 0.14, 0.30, 0.08, 0.18, 0.04, 0.14, 0.08, 0.01),
    "familie":    (0.05, 0.17, 0.30, 0.08, 0.17, 0.04, 0.11, 0.07, 0.01),
}

# --- the planted outcome model (methods.md §6, fig 3.15; recorded in truth.json) -----------------------
# p = b0 + b_kategori + b_botid + b_country + b_innvandringsaar + b_age*a + b_age2*a^2 + b_sex + b_children
#     + b_partner + b_education + alpha[settlement municipality] + v_person, clipped to [P_MIN, P_MAX]
PLANTED = {
    "b0": 0.05,
    "b_kategori": {"asyl": 0.0, "overforing": 0.0, "familie": 0.085},
    "b_botid": {0: 0.0, 1: 0.25, 2: 0.42, 3: 0.53, 4: 0.59, 5: 0.63, 6: 0.65, 7: 0.665, 8: 0.675, 9: 0.68, 10: 0.685},
    "b_country": {"annet": 0.0, "syria": -0.05, "iran": 0.04, "irak": -0.07, "afghanistan": 0.03,
                  "sudan": 0.0, "somalia": -0.10, "etiopia": 0.05, "eritrea": 0.02},
    "b_innvandringsaar": {2010: 0.0, 2011: -0.02, 2012: -0.02, 2013: -0.01, 2014: 0.0, 2015: 0.02,
                          2016: 0.02, 2017: 0.0, 2018: -0.01, 2019: -0.01, 2020: 0.0},
    "b_age": 0.012,
    "b_age2": -0.00034,
    "b_sex": {1: 0.0, 2: -0.17},
    "b_children": {0: 0.0, 1: -0.05, 2: -0.09, 3: -0.18},
    "b_partner": {0: 0.0, 1: -0.05},
    "b_education": {0: 0.0, 1: 0.08, 2: 0.16, 3: 0.18, 4: 0.18, 5: 0.16, 99: 0.17},
    "sd_person": 0.03,
    "persistence": 0.65,    # correlation of the latent normals of one person's years (Gaussian copula)
}
P_MIN, P_MAX = 0.02, 0.98

# --- planted municipality effects (effects.py; DGP.md §4) ---------------------------------------------
# Per category: bivariate slopes of table 3.3 (read from the published numbers) on the characteristics of
# CHARACTERISTICS_YEAR; sd_u the SD (pp) of the residual, common_share its part shared by the categories;
# max_fitted_sd caps the SD (pp) of the part explained by the characteristics; the residual's scale in a
# municipality is proportional to population^(-size_power) (then rescaled to SD sd_u over municipalities).
CHARACTERISTICS_YEAR = 2017     # as [municipality] characteristics_year in config/default.toml
CONTRIBUTION_MAX_BOTID = 9      # as [study] max_botid_contributions
MUNICIPALITY_EFFECTS = {
    "sd_u": {"overforing": 7.8, "asyl": 8.9, "familie": 5.0},
    "common_share": 1.0,
    "size_power": 0.45,
    "person_bands": (10, 30, 100),   # u orthogonal to the characteristics within bands of persons per municipality
    "max_fitted_sd": {"overforing": 4.5, "asyl": 4.5, "familie": 2.5},
}

# --- general registers (registers.general_draws) --------------------------------------------------------
# employment index by age band (< 15, 15-19, 20-24, 25-29, 30-59, 60-66, 67-69; 70+ is -2)
EMPLOYMENT_INDEX_BY_AGE = (-9, -1.3, 0.45, 0.95, 1.40, 0.55, -1.1)
# income level of the employed in G by age band (< 20, 20-29, 30-59, 60+), before individual factors
INCOME_LEVEL_G = (1.3, 3.5, 4.8, 4.4)


@lru_cache(maxsize=1)
def published_slopes() -> dict[str, dict[str, tuple[float, float]]]:
    """Table 3.3 of the report per category: characteristic -> (slope, SE), from the published numbers."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    with open(PUBLISHED_NUMBERS, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["source"] != "table 3.3":
                continue
            key = dict(part.split("=", 1) for part in row["key"].split(";"))
            out.setdefault(key["gruppe"], {})[key["characteristic"]] = (float(row["published"]), float(row["published_se"]))
    return out


def interpolate(anchors: dict[int, object], year: int) -> np.ndarray:
    """Linear interpolation between anchor years (constant outside); values may be tuples or dicts."""
    keys = sorted(anchors)
    first = anchors[keys[0]]
    as_array = (lambda v: np.array(list(v.values()), float)) if isinstance(first, dict) else (lambda v: np.atleast_1d(np.array(v, float)))
    if year <= keys[0]:
        return as_array(anchors[keys[0]])
    if year >= keys[-1]:
        return as_array(anchors[keys[-1]])
    hi = next(k for k in keys if k >= year)
    lo = max(k for k in keys if k <= year)
    if hi == lo:
        return as_array(anchors[lo])
    w = (year - lo) / (hi - lo)
    return (1 - w) * as_array(anchors[lo]) + w * as_array(anchors[hi])


def interpolate_dict(anchors: dict[int, dict[str, float]], year: int) -> dict[str, float]:
    keys = list(anchors[min(anchors)])
    return dict(zip(keys, interpolate(anchors, year)))
