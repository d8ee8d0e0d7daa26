"""Numbers that shape the synthetic population: arrivals, composition, and the planted outcome model.

Counts are for scale 1.0 (the whole population of Norway). Composition anchors follow the report's
descriptions of figures 3.1-3.7 (chapter 3, Brekke et al. 2024); values between anchor years are
linearly interpolated. DGP.md explains each block.
"""
from __future__ import annotations

import numpy as np

YEARS = tuple(range(2010, 2021))
CATEGORY_NAMES = ("overforing", "asyl", "familie")

# --- refugee arrivals per year (persons, scale 1) -------------------------------------------------
ARRIVALS: dict[str, tuple[int, ...]] = {
    #              2010  2011  2012  2013  2014  2015  2016  2017  2018  2019  2020
    "overforing": (1260, 1490, 1260, 1040, 1490, 2760, 3790, 3220, 2760, 3450, 2070),
    "asyl":       (4020, 3450, 4020, 4020, 4600, 5750, 10920, 6320, 2070, 1380, 920),
    "familie":    (2880, 3100, 3220, 3220, 3450, 3680, 4830, 6900, 4140, 2530, 1490),
}
OTHER_FLIGHT_PER_YEAR = 300          # 713 / 71: refugee background, not a study category
NONREFUGEE_ARRIVALS = (52_000, 58_000, 57_000, 53_000, 50_000, 45_000, 38_000, 34_000, 32_000, 35_000, 28_000)
NONREFUGEE_REASONS = (("21", 0.55), ("31", 0.33), ("81", 0.12))   # work, family (non-refugee), education

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
        2010: dict(female_single=0.70, partner=0.50, children=0.70, extra_children=1.2),
        2014: dict(female_single=0.66, partner=0.52, children=0.72, extra_children=1.4),
        2016: dict(female_single=0.50, partner=0.66, children=0.80, extra_children=1.9),
        2020: dict(female_single=0.50, partner=0.66, children=0.82, extra_children=2.1),
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
    "b0": 0.125,
    "b_kategori": {"asyl": 0.0, "overforing": -0.02, "familie": 0.06},
    "b_botid": {0: 0.0, 1: 0.08, 2: 0.21, 3: 0.31, 4: 0.38, 5: 0.42, 6: 0.44, 7: 0.45, 8: 0.46, 9: 0.465, 10: 0.47},
    "b_country": {"annet": 0.0, "syria": -0.04, "iran": 0.03, "irak": -0.06, "afghanistan": 0.02,
                  "sudan": -0.02, "somalia": -0.10, "etiopia": 0.03, "eritrea": 0.02},
    "b_innvandringsaar": {2010: 0.0, 2011: -0.02, 2012: -0.02, 2013: -0.01, 2014: 0.0, 2015: 0.02,
                          2016: 0.02, 2017: 0.0, 2018: -0.01, 2019: -0.01, 2020: 0.0},
    "b_age": 0.010,
    "b_age2": -0.00026,
    "b_sex": {1: 0.0, 2: -0.14},
    "b_children": {0: 0.0, 1: -0.03, 2: -0.06, 3: -0.10},
    "b_partner": {0: 0.0, 1: -0.04},
    "b_education": {0: 0.0, 1: 0.05, 2: 0.12, 3: 0.14, 4: 0.15, 5: 0.13, 99: 0.12},
    "g_lnpop": -0.006,
    "g_cent": -0.015,
    "sd_u": 0.05,
    "sd_person": 0.03,
}
P_MIN, P_MAX = 0.02, 0.98


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
