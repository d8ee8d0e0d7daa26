"""Register rows per year (bosted, inntekt, utdanning, familie), personer, and the planted outcome.

All functions are pure given a random generator: they take the simulated population and return Arrow
tables in the exact types of the input contract (data-contract.md). Rows are ordered by `lopenr`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import special

from data_synthetic import parameters as P
from data_synthetic.geography import YEARS, Geography
from data_synthetic.population import COUNTRIES, INVKAT, NOT_LEFT, REASONS, REFUGEE_REASONS, Population

NUS_CODES = (  # a few NUS2000 codes per first digit; persons keep one variant
    ("000000", "001101", "002299", "000000"), ("101199", "102199", "103199", "101101"),
    ("201199", "211199", "241199", "201101"), ("311199", "331101", "351199", "371199"),
    ("411199", "431199", "441101", "461199"), ("511199", "531199", "561199", "541199"),
    ("611199", "631102", "651104", "671199"), ("711199", "731101", "741103", "761199"),
    ("811199", "831199", "851199", "871199"), ("999999", "999999", "999999", "999999"),
)
NUS_FLAT = pa.array([c for row in NUS_CODES for c in row], pa.string())
EDU_GROUP = np.array([0, 1, 2, 2, 3, 3, 4, 5, 5, 99])   # NUS first digit -> methods.md §2 group
GROUP_OF_COUNTRY = np.array([P.COUNTRY_GROUPS.get(c, "annet") for c in COUNTRIES])
IN_SAMPLE_AGE = (20, 69)


def lopenr_array(n: int, rng: np.random.Generator) -> tuple[pa.Array, np.ndarray]:
    """Pseudonymous 8-digit ids (a random permutation) and each person's rank in id order."""
    perm = rng.permutation(n).astype(np.int64) + 10_000_000
    digits = (perm[:, None] // 10 ** np.arange(7, -1, -1)) % 10 + 48
    data = digits.astype(np.uint8).ravel()
    offsets = np.arange(0, 8 * n + 1, 8, dtype=np.int32)
    ids = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
    rank = np.empty(n, np.int64)
    rank[np.argsort(perm, kind="stable")] = np.arange(n)
    return ids, rank


def _take(values: pa.Array, idx: np.ndarray) -> pa.Array:
    """values[idx] with null where idx < 0."""
    return pc.take(values, pa.array(idx, pa.int64(), mask=idx < 0))


@dataclass
class Context:
    geo: Geography
    pop: Population
    ids: pa.Array
    order: np.ndarray          # person indices in lopenr order
    g: dict[int, int]          # grunnbeløp per year
    covariates: dict[str, np.ndarray]
    eta: np.ndarray            # person-level normal behind the persistence of the planted outcome
    alpha: np.ndarray | None = None   # [category, 2020 municipality] planted effects (set after the characteristics)


def nus_level(pop: Population, t: int) -> np.ndarray:
    """Registered NUS first digit on 1 October t (9 = unknown code), -1 = no registered level."""
    c = pop.cols
    age = t - c["birth"].astype(np.int64)
    cap = np.select([age < 7, age < 13, age < 16, age < 19, age < 22, age < 25], [-1, 0, 1, 2, 4, 6], 8)
    level = np.minimum(c["edu"].astype(np.int64), cap)
    known = c["edu_known"] <= t
    foreign = c["innv_year"] >= 0
    # immigrants arriving as children: registered once in Norwegian school
    level = np.where(foreign & (age < 20) & (t > c["innv_year"]), cap, level)
    known = known | (foreign & (age < 20) & (t > c["innv_year"]))
    unknown_code = foreign & ~known & (np.arange(len(age)) % 10 < 3) & (t > c["innv_year"])
    out = np.where(known | ~foreign, level, -1)
    out = np.where(unknown_code & (out < 0) & (age >= 20), 9, out)
    return out


def arrival_covariates(pop: Population, geo: Geography) -> dict[str, np.ndarray]:
    """Characteristics fixed at arrival (methods.md §2), computed as the pipeline reads them."""
    c, n = pop.cols, pop.n
    y = c["innv_year"].astype(np.int64)
    study = c["category"] >= 0
    j = np.clip(y + 1 - 2010, 0, len(YEARS) - 1)
    observed = study & (y + 1 <= YEARS[-1])
    unit_next = np.where(observed, pop.unit[np.arange(n), j], -1)
    settlement = np.where(unit_next >= 0, geo.unit_muni[np.maximum(unit_next, 0)], -1)
    # partner on 1 January after arrival
    a, b, start = pop.couples[:, 0], pop.couples[:, 1], pop.couples[:, 2]
    partner = np.zeros(n, np.int8)
    for p, q in ((a, b), (b, a)):
        yy = y[p] + 1
        jj = np.clip(yy - 2010, 0, len(YEARS) - 1)
        ok = observed[p] & (start <= yy) & (pop.unit[p, jj] >= 0) & (pop.unit[q, jj] >= 0)
        partner[p[ok]] = 1
    # own children under 18 resident on 1 January after arrival
    children = np.zeros(n, np.int64)
    for parent in (c["mor"], c["far"]):
        kid = np.flatnonzero(parent >= 0)
        par = parent[kid]
        yy = y[par] + 1
        jj = np.clip(yy - 2010, 0, len(YEARS) - 1)
        ok = observed[par] & (pop.unit[kid, jj] >= 0) & (yy - c["birth"][kid] < 18)
        children += np.bincount(par[ok], minlength=n)
    # education registered on 1 October of the year after arrival
    edu_group = np.full(n, 99)
    for year in YEARS:
        who = np.flatnonzero(observed & (y + 1 == year))
        level = nus_level(pop, year)[who]
        has_row = (c["arrive"][who] <= year) & (c["leave"][who] > year)
        edu_group[who] = np.where(has_row & (level >= 0), EDU_GROUP[np.maximum(level, 0)], 99)
    return {
        "settlement": settlement, "partner": partner, "children": np.minimum(children, 3),
        "education": edu_group, "age_arrival": y - c["birth"], "country": GROUP_OF_COUNTRY[c["fodeland"]],
    }


def planted_index(cat: np.ndarray, botid: np.ndarray, country: np.ndarray, innv: np.ndarray, a: np.ndarray,
                  sex: np.ndarray, children: np.ndarray, partner: np.ndarray, education: np.ndarray,
                  alpha_settle: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Linear index of the planted LPM (before clipping): see PLANTED and DGP.md."""
    b = P.PLANTED
    lut = lambda block, keys: np.array([b[block][k] for k in keys])
    cats = lut("b_kategori", P.CATEGORY_NAMES)[cat]
    bot = lut("b_botid", range(11))[np.minimum(botid, 10)]
    countries = np.array(list(b["b_country"]))
    ctry = np.array(list(b["b_country"].values()))[_index_of(countries, country)]
    year = lut("b_innvandringsaar", YEARS)[innv - 2010]
    edu = np.where(education == 99, b["b_education"][99], lut("b_education", range(6))[np.minimum(education, 5)])
    return (b["b0"] + cats + bot + ctry + year + b["b_age"] * a + b["b_age2"] * a ** 2 + lut("b_sex", (1, 2))[sex - 1]
            + lut("b_children", range(4))[children] + lut("b_partner", (0, 1))[partner] + edu + alpha_settle + v)


def _index_of(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    order = np.argsort(keys)
    return order[np.searchsorted(keys[order], values)]


def _below_g(rng, k: int, g: int, zero_share: float) -> np.ndarray:
    """yrkinnt at or below 1 G: zeros, small amounts, some exactly G, a few business losses."""
    u = rng.random(k)
    amount = rng.integers(1, g, k)
    return np.select([u < zero_share, u < zero_share + 0.05, u < zero_share + 0.07],
                     [0, g, -rng.integers(1, 250_000, k)], amount).astype(np.int64)


@dataclass
class YearDraws:
    """Register values of year t for everyone with an income record, before the planted outcome.

    The planted outcome later overrides `yrk` and `igang` of the refugee person-years in the study
    sample; the benefits follow from `yrk` and the uniforms drawn here, so they stay consistent.
    """

    t: int
    endres: np.ndarray          # persons with an income record for t (resident at the end of t), lopenr order
    age: np.ndarray
    muni: np.ndarray            # 2020 municipality of residence (1 January t, or t+1 for new arrivals)
    refugee: np.ndarray         # refugee-related reason for immigration
    yrk: np.ndarray
    igang: np.ndarray           # NUS first digit of ongoing education on 1 October, -1 none
    benefit_u: np.ndarray       # [3, k] uniforms deciding each benefit
    benefit_amount: np.ndarray  # [3, k] amounts when received


# name, P(received | adult without work > 1 G), P(received | adult in work), amount range (NOK)
BENEFITS = (("sosialhjelp", 0.17, 0.012, 5_000, 160_000), ("grunn_hjelpestonad", 0.045, 0.005, 5_000, 40_000),
            ("bostotte", 0.11, 0.006, 5_000, 45_000))


def year_streams(seed: int, t: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators of year t for the general registers and for the planted outcome, so that
    a year's registers can be drawn twice identically (once for the municipality characteristics)."""
    general, outcome = np.random.SeedSequence([seed, t]).spawn(2)
    return np.random.default_rng(general), np.random.default_rng(outcome)


def general_draws(ctx: Context, t: int, rng: np.random.Generator) -> YearDraws:
    """Income, ongoing education and benefit draws of year t for everyone with an income record."""
    pop, c, geo = ctx.pop, ctx.pop.cols, ctx.geo
    j = t - YEARS[0]
    g = ctx.g[t]
    order = ctx.order
    endres = order[(c["arrive"][order] <= t) & (c["leave"][order] > t)]
    k = len(endres)
    age = t - c["birth"][endres].astype(np.int64)
    female = c["kjonn"][endres] == 2
    unit_now = np.where(pop.unit[endres, j] >= 0, pop.unit[endres, j], pop.unit[endres, min(j + 1, len(YEARS) - 1)])
    muni = geo.unit_muni[np.maximum(unit_now, 0)]
    mun = pop.municipal
    z = c["z"][endres]
    foreign = c["innv_year"][endres] >= 0
    arrival_year = c["innv_year"][endres] == t
    refugee = np.isin(c["reason"][endres], list(REFUGEE_REASONS))
    base = np.select([age < 15, age < 20, age < 25, age < 30, age < 60, age < 67, age < 70],
                     list(P.EMPLOYMENT_INDEX_BY_AGE), -2.0)
    idx = (base - 0.12 * female + mun.employment[muni] + 0.9 * z - 0.25 * (foreign & ~refugee)
           - 0.7 * refugee - 2.5 * arrival_year)
    employed = rng.random(k) < 1 / (1 + np.exp(-1.7 * idx))
    mu = np.select([age < 20, age < 30, age < 60], list(np.log(P.INCOME_LEVEL_G[:3])), np.log(P.INCOME_LEVEL_G[3]))
    level = g * mun.income[muni] * np.exp(mu + 0.12 * (1 - 2 * female) + 0.35 * z + 0.35 * rng.standard_normal(k))
    yrk = np.where(employed, np.maximum(level, g + 1), _below_g(rng, k, g, 0.55)).astype(np.int64)
    yrk = np.where(age < 13, 0, yrk)
    p_edu = np.select([age < 6, age < 16, age < 19, age < 25, age < 30, age < 60], [0, 1, 0.88, 0.38, 0.13, 0.035], 0.004)
    p_edu = np.where(foreign & (t <= c["innv_year"][endres]) & (age >= 16), 0, p_edu)
    in_edu = rng.random(k) < p_edu
    edu_level = np.select([age < 13, age < 16, age < 19], [1, 2, 4], np.where(rng.random(k) < 0.75, 6, 4))
    edu_level = np.where(age >= 30, np.where(rng.random(k) < 0.5, 6, 4), edu_level)
    igang = np.where(in_edu, edu_level, -1)
    benefit_u = rng.random((len(BENEFITS), k))
    benefit_amount = np.stack([rng.integers(lo, hi, k) for _, _, _, lo, hi in BENEFITS])
    return YearDraws(t=t, endres=endres, age=age, muni=muni, refugee=refugee, yrk=yrk, igang=igang,
                     benefit_u=benefit_u, benefit_amount=benefit_amount)


def benefit_amounts(ctx: Context, draws: YearDraws) -> dict[str, np.ndarray]:
    """Social assistance, basic/attendance benefit and housing allowance: mostly zero, more often for
    adults without work (> 1 G), refugees and in municipalities with a higher benefit propensity."""
    g = ctx.g[draws.t]
    adult = draws.age >= 18
    no_work = adult & (draws.yrk <= g)
    factor = np.where(draws.refugee, 2.5, 1.0) * ctx.pop.municipal.benefit[draws.muni]
    out = {}
    for i, (name, p_nowork, p_work, _, _) in enumerate(BENEFITS):
        prob = np.where(no_work, p_nowork, np.where(adult, p_work, 0.0)) * factor
        out[name] = np.where(draws.benefit_u[i] < np.minimum(prob, 0.9), draws.benefit_amount[i], 0).astype(np.int64)
    return out


def plant_outcome(ctx: Context, draws: YearDraws, rng: np.random.Generator, stats: dict) -> None:
    """Draw arbeid_utdanning of the refugee person-years in the study sample from the planted model
    (DGP.md §4) and write it into `draws`: y = 1 → employed (yrkinnt > G) and/or in education."""
    pop, c = ctx.pop, ctx.pop.cols
    t, endres, age = draws.t, draws.endres, draws.age
    g = ctx.g[t]
    j = t - YEARS[0]
    cov = ctx.covariates
    botid = t - c["innv_year"][endres].astype(np.int64) - 1
    sample = ((c["category"][endres] >= 0) & (pop.unit[endres, j] >= 0) & (botid >= 0)
              & (age >= IN_SAMPLE_AGE[0]) & (age <= IN_SAMPLE_AGE[1]))
    s = endres[sample]
    m = len(s)
    if not m:
        return
    category = c["category"][s].astype(np.int64)
    settle = cov["settlement"][s]
    alpha = np.where(settle >= 0, ctx.alpha[category, np.maximum(settle, 0)], 0.0)
    p_lin = planted_index(category, botid[sample], cov["country"][s], c["innv_year"][s].astype(np.int64),
                          cov["age_arrival"][s].astype(float), c["kjonn"][s].astype(np.int64), cov["children"][s],
                          cov["partner"][s].astype(np.int64), cov["education"][s], alpha, c["v"][s])
    p = np.clip(p_lin, P.P_MIN, P.P_MAX)
    stats["rows"] = stats.get("rows", 0) + m
    stats["clipped"] = stats.get("clipped", 0) + int(((p_lin < P.P_MIN) | (p_lin > P.P_MAX)).sum())
    stats["sum_p"] = stats.get("sum_p", 0.0) + float(p.sum())
    # persistent within person: a person-level normal shared by all the person's years (Gaussian copula),
    # so that P(y = 1) is exactly p in every year
    rho = P.PLANTED["persistence"]
    latent = np.sqrt(rho) * ctx.eta[s] + np.sqrt(1 - rho) * rng.standard_normal(m)
    y = special.ndtr(latent) < p
    q_edu = np.clip(0.55 - 0.07 * botid[sample], 0.12, 0.55) + 0.15 * (age[sample] < 25)
    edu_state = y & (rng.random(m) < q_edu)
    emp_state = y & (~edu_state | (rng.random(m) < 0.25))
    yrk_s = np.where(emp_state, g + np.maximum(1, g * np.exp(rng.normal(0.55, 0.75, m))), _below_g(rng, m, g, 0.6))
    draws.yrk[sample] = yrk_s.astype(np.int64)
    draws.igang[sample] = np.where(edu_state, rng.choice([2, 3, 4, 6], size=m, p=[0.35, 0.15, 0.3, 0.2]), -1)


def year_tables(ctx: Context, t: int, seed: int, stats: dict) -> dict[str, pa.Table]:
    """bosted, inntekt, utdanning and familie for year t."""
    pop, geo = ctx.pop, ctx.geo
    j = t - YEARS[0]
    order = ctx.order
    unit = pop.unit[order, j]
    out: dict[str, pa.Table] = {}
    # bosted: resident 1 January
    res = order[unit >= 0]
    code = pa.array(geo.code_by_year[:, j].astype(str))
    out["bosted"] = pa.table({
        "lopenr": pc.take(ctx.ids, res), "aar": pa.array(np.full(len(res), t, np.int32)),
        "kommnr": pc.take(code, pop.unit[res, j].astype(np.int64)),
    })
    general_rng, outcome_rng = year_streams(seed, t)
    draws = general_draws(ctx, t, general_rng)
    plant_outcome(ctx, draws, outcome_rng, stats)
    endres, k = draws.endres, len(draws.endres)
    out["inntekt"] = pa.table({
        "lopenr": pc.take(ctx.ids, endres), "aar": pa.array(np.full(k, t, np.int32)), "yrkinnt": pa.array(draws.yrk),
        **{name: pa.array(values) for name, values in benefit_amounts(ctx, draws).items()},
    })
    # utdanning: rows with a registered level or ongoing education on 1 October
    level = nus_level(pop, t)[endres]
    igang = draws.igang
    has = (level >= 0) | (igang >= 0)
    variant = (endres % 4)
    keep = np.flatnonzero(has)
    out["utdanning"] = pa.table({
        "lopenr": pc.take(ctx.ids, endres[keep]), "aar": pa.array(np.full(len(keep), t, np.int32)),
        "nus_hoyeste": _take(NUS_FLAT, np.where(level[keep] >= 0, level[keep] * 4 + variant[keep], -1)),
        "nus_igang": _take(NUS_FLAT, np.where(igang[keep] >= 0, igang[keep] * 4 + variant[keep], -1)),
    })
    # familie: couples together on 1 January t, both resident
    a, b, start = pop.couples[:, 0], pop.couples[:, 1], pop.couples[:, 2]
    on = (start <= t) & (pop.unit[a, j] >= 0) & (pop.unit[b, j] >= 0)
    who = np.concatenate([a[on], b[on]])
    partner = np.concatenate([b[on], a[on]])
    rank = np.argsort(ctx_rank(ctx)[who], kind="stable")
    out["familie"] = pa.table({
        "lopenr": pc.take(ctx.ids, who[rank]), "aar": pa.array(np.full(len(who), t, np.int32)),
        "partner_lopenr": pc.take(ctx.ids, partner[rank]),
    })
    return out


def ctx_rank(ctx: Context) -> np.ndarray:
    rank = np.empty(len(ctx.order), np.int64)
    rank[ctx.order] = np.arange(len(ctx.order))
    return rank


def personer_table(ctx: Context) -> pa.Table:
    """One row per person ever resident (or arrived with an income record) in the study years."""
    c, o = ctx.pop.cols, ctx.order
    innv = c["innv_year"][o].astype(np.int64)
    year_start = (np.maximum(innv, 1900) - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    epoch_days = year_start + c["innv_day"][o]
    dates = pa.array(np.where(innv >= 0, epoch_days, 0).astype(np.int32), pa.date32(), mask=innv < 0)
    return pa.table({
        "lopenr": pc.take(ctx.ids, o),
        "kjonn": pa.array(c["kjonn"][o].astype(np.int32)),
        "foedselsaar": pa.array(c["birth"][o].astype(np.int32)),
        "fodeland": _take(pa.array(list(COUNTRIES)), c["fodeland"][o].astype(np.int64)),
        "landbakgrunn": _take(pa.array(list(COUNTRIES)), c["landbakgrunn"][o].astype(np.int64)),
        "invkat": _take(pa.array(list(INVKAT)), c["invkat"][o].astype(np.int64)),
        "innvandringsgrunn": _take(pa.array(list(REASONS)), c["reason"][o].astype(np.int64)),
        "innvandringsdato": dates,
        "mor_lopenr": _take(ctx.ids, c["mor"][o].astype(np.int64)),
        "far_lopenr": _take(ctx.ids, c["far"][o].astype(np.int64)),
    })


def in_study_files(pop: Population) -> np.ndarray:
    """Persons resident on some 1 January or with an income record in the study years."""
    c = pop.cols
    resident = (pop.unit >= 0).any(axis=1)
    income = (c["arrive"] <= YEARS[-1]) & (c["leave"] > np.maximum(c["arrive"], YEARS[0]))
    return resident | income


__all__ = ["Context", "NOT_LEFT", "YearDraws", "arrival_covariates", "benefit_amounts", "general_draws", "lopenr_array",
           "personer_table", "plant_outcome", "planted_index", "year_streams", "year_tables"]
