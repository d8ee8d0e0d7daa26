"""Demographic simulation: the whole population 2010-2020, year by year, fully vectorised.

Persons enter through the 1 January 2010 stock, births and immigration, and leave through death and
emigration. Timing follows the input contract: a person who arrives (is born or immigrates) in year t
is resident on 1 January from t+1; a person who leaves during t is resident on 1 January t but has no
income record for t. Households (couples and their minor children) move and emigrate together.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from data_synthetic import parameters as P
from data_synthetic.geography import YEARS, Geography

NOT_LEFT = 9999
INVKAT = ("A", "B", "C", "E", "F", "G")
REASONS = ("711", "712", "713", "71", "741", "742", "743", "21", "31", "81")
REFUGEE_REASONS = {0, 1, 2, 3, 4, 5, 6}
CATEGORY_LUT = np.array([0, 1, -1, -1, 2, 2, 2, -1, -1, -1], np.int8)  # reason index -> overforing/asyl/familie
STOCK_SIZE = 4_900_000


def _country_list() -> tuple[str, ...]:
    codes = set(P.REFUGEE_COUNTRIES) | {c for c, _ in P.STOCK_REFUGEE_COUNTRIES} | {c for c, _ in P.NONREFUGEE_COUNTRIES}
    return ("000", *sorted(codes))


COUNTRIES = _country_list()
COUNTRY_INDEX = {c: i for i, c in enumerate(COUNTRIES)}

FIELDS = {  # name -> (dtype, default for new persons)
    "kjonn": (np.int8, 1), "birth": (np.int16, 0), "arrive": (np.int16, 0), "innv_year": (np.int16, -1),
    "innv_day": (np.int16, 0), "leave": (np.int16, NOT_LEFT), "fodeland": (np.int16, 0), "landbakgrunn": (np.int16, 0),
    "invkat": (np.int8, 0), "reason": (np.int8, -1), "category": (np.int8, -1), "mor": (np.int32, -1),
    "far": (np.int32, -1), "z": (np.float32, 0.0), "edu": (np.int8, 4), "edu_known": (np.int16, 0),
    "v": (np.float32, 0.0),
}


@dataclass
class Municipal:
    """Latent municipality traits (2020 structure) that drive realistic variation across places."""

    zc: np.ndarray            # standardised centrality
    employment: np.ndarray    # shift of the employment index
    income: np.ndarray        # multiplicative income factor
    higher_ed: np.ndarray     # share with higher education among adults
    immigrant: np.ndarray     # share invkat B in the 2010 stock
    benefit: np.ndarray       # multiplicative propensity to receive social benefits
    refugee_share: np.ndarray # share of the 2010 stock's immigrants with a refugee-related reason
    settle_u: np.ndarray      # [3 categories, municipalities] settlement propensity
    declines: np.ndarray      # [3 categories, municipalities] never settles the category (smaller ones more often)


@dataclass
class Population:
    """Every person ever resident, their residence per 1 January and their couples."""

    cols: dict[str, np.ndarray]
    unit: np.ndarray                      # [person, year index] base unit on 1 January, -1 if not resident
    couples: np.ndarray                   # [k, 3] (person a, person b, first 1 January together)
    municipal: Municipal
    n_households_settled: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.cols["kjonn"])

    def __getattr__(self, name: str) -> np.ndarray:
        cols = self.__dict__.get("cols", {})
        if name in cols:
            return cols[name]
        raise AttributeError(name)


def _new_block(n: int, **values) -> dict[str, np.ndarray]:
    block = {k: np.full(n, d, dtype=t) for k, (t, d) in FIELDS.items()}
    for k, v in values.items():
        block[k] = np.asarray(v).astype(FIELDS[k][0]) if np.ndim(v) else np.full(n, v, dtype=FIELDS[k][0])
    return block


def _draw_codes(rng, pairs, n) -> np.ndarray:
    codes, w = zip(*pairs)
    w = np.array(w) / np.sum(w)
    return np.array([COUNTRY_INDEX[c] for c in codes], np.int16)[rng.choice(len(codes), size=n, p=w)]


def _round_random(rng, x: float) -> int:
    """Integer with expectation x (keeps tiny scales unbiased)."""
    base = int(np.floor(x))
    return base + int(rng.random() < x - base)


def _mortality(age: np.ndarray) -> np.ndarray:
    """Gompertz death probability per year (about 0.8 % of the population)."""
    return np.minimum(0.5, np.exp(-10.75 + 0.094 * age)) + np.where(age == 0, 0.002, 0.0)


def _fertility(age: np.ndarray) -> np.ndarray:
    return 0.175 * np.exp(-(((age - 30.5) / 5.8) ** 2))


def _age_pyramid() -> np.ndarray:
    """Relative size of each age 0..104 on 1 January 2010."""
    age = np.arange(105)
    w = np.interp(age, [0, 20, 30, 40, 47, 60, 66, 75, 85, 95, 104], [61, 62, 64, 70, 73, 62, 55, 38, 22, 4, 0.1])
    return w / w.sum()


def _allocate(total: int, weight: np.ndarray, minimum: int) -> np.ndarray:
    """Largest-remainder allocation of `total` over `weight`, each at least `minimum`."""
    raw = weight / weight.sum() * max(total - minimum * len(weight), 0)
    counts = np.floor(raw).astype(np.int64)
    short = max(total - minimum * len(weight), 0) - counts.sum()
    counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts + minimum


def _pair(rng, female: np.ndarray, male: np.ndarray, group: np.ndarray, age: np.ndarray, share: float) -> np.ndarray:
    """Match women and men within a group by age rank; about `share` of the smaller side is paired."""
    def ranked(idx):
        key = age[idx] + rng.normal(0, 2.5, len(idx))
        idx = idx[np.lexsort((key, group[idx]))]
        g = group[idx]
        start = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
        rank = np.arange(len(idx)) - np.repeat(start, np.diff(np.r_[start, len(idx)]))
        return idx, g.astype(np.int64) * 10_000_000 + rank
    female = female[rng.random(len(female)) < share]
    male = male[rng.random(len(male)) < share]
    if len(female) == 0 or len(male) == 0:
        return np.empty((0, 2), np.int64)
    f_idx, f_key = ranked(female)
    m_idx, m_key = ranked(male)
    pos = np.searchsorted(m_key, f_key)
    ok = pos < len(m_key)
    ok[ok] = m_key[pos[ok]] == f_key[ok]
    return np.column_stack([f_idx[ok], m_idx[pos[ok]]])


class _Simulation:
    def __init__(self, geo: Geography, scale: float, rng: np.random.Generator) -> None:
        self.geo, self.scale, self.rng = geo, scale, rng
        self.blocks: list[dict[str, np.ndarray]] = []
        self.cols: dict[str, np.ndarray] = {}
        self.unit_hist: list[np.ndarray] = []     # per year: array of unit for persons existing then
        self.couples: list[np.ndarray] = []
        self.cur = np.empty(0, np.int16)          # unit on the coming 1 January, -1 if not resident
        self.n_muni = len(geo.kommuner_2020)
        self.municipal = self._municipal()

    # -- bookkeeping -------------------------------------------------------------------------------
    def add(self, block: dict[str, np.ndarray], unit: np.ndarray) -> np.ndarray:
        n0 = len(self.cur)
        for k, v in block.items():
            self.cols[k] = np.concatenate([self.cols[k], v]) if k in self.cols else v
        self.cur = np.concatenate([self.cur, unit.astype(np.int16)])
        return np.arange(n0, n0 + len(unit))

    def _municipal(self) -> Municipal:
        rng, k = self.rng, self.geo.kommuner_2020
        zc = ((k["sentralitetsindeks"] - k["sentralitetsindeks"].mean()) / k["sentralitetsindeks"].std()).to_numpy()
        n = len(zc)
        common = rng.normal(0, 0.45, n)
        settle = np.stack([common + rng.normal(0, 0.35, n) - 0.15 * zc,
                           common + rng.normal(0, 0.35, n) - 0.30 * zc,
                           common + rng.normal(0, 0.35, n)])
        m = P.MUNICIPAL
        size = np.log(k["pop_weight"].to_numpy())
        small = -(size - size.mean()) / size.std()
        declines = np.zeros((3, n), bool)
        for i, category in enumerate(P.CATEGORY_NAMES):
            score = small + rng.normal(0, P.SETTLEMENT["decline_noise"], n)
            declines[i, np.argsort(-score)[: round(P.SETTLEMENT["declines"][category] * n)]] = True
        return Municipal(
            zc=zc,
            employment=m["employment_zc"] * zc + rng.normal(0, m["employment_sd"], n),
            income=np.exp(m["income_zc"] * zc + rng.normal(0, m["income_sd"], n)),
            higher_ed=(m["higher_ed_mean"] + m["higher_ed_zc"] * zc + rng.normal(0, m["higher_ed_sd"], n)).clip(0.12, 0.6),
            immigrant=(m["immigrant_mean"] + m["immigrant_zc"] * zc + rng.gamma(2, m["immigrant_spread"], n)
                       - 2 * m["immigrant_spread"]).clip(0.012, 0.30),
            benefit=np.exp(rng.normal(0, m["benefit_sd"], n)),
            refugee_share=1 / (1 + np.exp(-(np.log(m["stock_refugee_share"] / (1 - m["stock_refugee_share"]))
                                            + rng.normal(0, m["stock_refugee_sd"], n)))),
            settle_u=settle,
            declines=declines,
        )

    def unit_probs(self, year: int, power: float, muni_factor: np.ndarray | None = None) -> np.ndarray:
        """Probability of each base unit existing on 1 January `year` as a destination."""
        w = self.geo.unit_weight ** power * self.geo.unit_exists(year)
        if muni_factor is not None:
            w = w * muni_factor[self.geo.unit_muni]
        return w / w.sum()

    def edu_levels(self, n: int, muni: np.ndarray) -> np.ndarray:
        """Final NUS first digit for persons growing up / living in `muni` (higher education share by place)."""
        rng = self.rng
        he = self.municipal.higher_ed[muni]
        u = rng.random(n)
        lower = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.02, 0.36, 0.06, 0.52, 0.04])
        upper = rng.choice([6, 7, 8], size=n, p=[0.68, 0.29, 0.03])
        return np.where(u < he, upper, lower).astype(np.int8)

    # -- the 1 January 2010 stock ----------------------------------------------------------------
    def stock(self) -> None:
        rng, geo = self.rng, self.geo
        n = int(round(STOCK_SIZE * self.scale))
        per_unit = _allocate(n, geo.unit_weight, minimum=2)
        unit = np.repeat(np.arange(geo.n_units), per_unit)
        n = len(unit)
        muni = geo.unit_muni[unit]
        age = rng.choice(105, size=n, p=_age_pyramid())
        birth = 2009 - age
        kjonn = np.where(rng.random(n) < 0.5 + 0.15 * (age > 75), 2, 1)
        # background: B (immigrants), C (their Norway-born children), E/F/G rare
        share = self.municipal.immigrant[muni]
        p_b = share * np.where(age < 18, 0.45, np.where(age > 67, 0.35, 1.25))
        p_c = share * np.where(age < 18, 0.75, np.where(age < 30, 0.25, 0.0))
        u = rng.random(n)
        invkat = np.select([u < p_b, u < p_b + p_c, u < p_b + p_c + 0.004, u < p_b + p_c + 0.013,
                            u < p_b + p_c + 0.014], [1, 2, 3, 4, 5], 0)
        is_b = invkat == 1
        refugee_bg = is_b & (rng.random(n) < self.municipal.refugee_share[muni])
        fodeland = np.zeros(n, np.int16)
        fodeland[refugee_bg] = _draw_codes(rng, P.STOCK_REFUGEE_COUNTRIES, refugee_bg.sum())
        other_b = is_b & ~refugee_bg
        fodeland[other_b] = _draw_codes(rng, P.NONREFUGEE_COUNTRIES, other_b.sum())
        foreign_born = np.isin(invkat, [3, 5])
        fodeland[foreign_born] = _draw_codes(rng, P.NONREFUGEE_COUNTRIES, foreign_born.sum())
        landbakgrunn = fodeland.copy()
        is_c = invkat == 2
        mix = P.STOCK_REFUGEE_COUNTRIES + P.NONREFUGEE_COUNTRIES
        landbakgrunn[is_c] = _draw_codes(rng, mix, is_c.sum())
        # immigration year for the foreign-born: recent years more common, never before birth
        immigrant = is_b | foreign_born
        years_ago = np.floor(rng.exponential(11, n)).astype(int)
        innv_year = np.where(immigrant, np.maximum(2009 - years_ago, np.maximum(birth, 1955)), -1)
        reason = np.full(n, -1, np.int8)
        ref_reason = rng.choice([0, 1, 4, 5, 6, 2, 3], size=n, p=[0.12, 0.42, 0.20, 0.10, 0.04, 0.08, 0.04])
        other_reason = rng.choice([7, 8, 9], size=n, p=[0.45, 0.45, 0.10])
        known = innv_year >= 1990
        reason[refugee_bg & known] = ref_reason[refugee_bg & known]
        reason[other_b & known] = other_reason[other_b & known]
        block = _new_block(
            n, kjonn=kjonn, birth=birth, arrive=np.where(immigrant, innv_year, birth), innv_year=innv_year,
            innv_day=rng.integers(0, 365, n), fodeland=fodeland, landbakgrunn=landbakgrunn, invkat=invkat,
            reason=reason, z=rng.standard_normal(n), edu=self.edu_levels(n, muni),
            edu_known=np.where(immigrant & (rng.random(n) < 0.3), NOT_LEFT, 0),
        )
        idx = self.add(block, unit)
        adult = idx[(age >= 21) & (age <= 90)]
        share = np.interp(age[adult], [21, 26, 32, 45, 65, 75, 90], [0.15, 0.45, 0.70, 0.74, 0.70, 0.55, 0.25])
        adult = adult[rng.random(len(adult)) < share]
        pairs = _pair(rng, adult[kjonn[adult] == 2], adult[kjonn[adult] == 1], unit, age.astype(float), share=1.0)
        self.couples.append(np.column_stack([pairs, np.full(len(pairs), 2010)]))

    # -- yearly events -------------------------------------------------------------------------------
    def run(self) -> Population:
        self.stock()
        for t in YEARS:
            self.year(t)
        cols = self.cols
        n = len(cols["kjonn"])
        unit = np.full((n, len(YEARS)), -1, np.int16)
        for j, u in enumerate(self.unit_hist):
            unit[: len(u), j] = u
        couples = np.concatenate(self.couples).astype(np.int64)
        return Population(cols=cols, unit=unit, couples=couples, municipal=self.municipal)

    def leader(self, stay: np.ndarray, t: int) -> np.ndarray:
        """Household leader of each person staying through t: couples share one, minors follow a parent."""
        c = self.cols
        n = len(stay)
        lead = np.arange(n)
        cp = np.concatenate(self.couples)
        active = (cp[:, 2] <= t + 1) & stay[cp[:, 0]] & stay[cp[:, 1]]
        a, b = cp[active, 0], cp[active, 1]
        lo = np.minimum(a, b)
        lead[a], lead[b] = lo, lo
        minor = stay & (t - c["birth"] < 18)
        mor, far = c["mor"], c["far"]
        with_mor = minor & (mor >= 0)
        with_mor[with_mor] = stay[mor[with_mor]]
        with_far = minor & ~with_mor & (far >= 0)
        with_far[with_far] = stay[far[with_far]]
        lead[with_mor] = lead[mor[with_mor]]
        lead[with_far] = lead[far[with_far]]
        return lead

    def year(self, t: int) -> None:
        rng, c, geo = self.rng, self.cols, self.geo
        self.unit_hist.append(self.cur.copy())
        n = len(self.cur)
        res = self.cur >= 0
        age = t - c["birth"].astype(np.int64)
        # deaths and emigration during t
        dead = res & (rng.random(n) < _mortality(age))
        c["leave"][dead] = t
        alive = res & ~dead
        lead = self.leader(alive, t)
        since = t - c["innv_year"]
        is_imm = c["innv_year"] >= 0
        refugee = np.isin(c["reason"], list(REFUGEE_REASONS))
        p_emig = np.where(~is_imm, 0.0022, np.where(refugee, 0.008, np.where(since <= 3, 0.09, 0.03)))
        emig_lead = rng.random(n) < p_emig
        emig = alive & emig_lead[lead]
        c["leave"][emig] = t
        stay = alive & ~emig
        lead = self.leader(stay, t)
        # internal moves (households), refugees towards larger places
        nxt = np.where(stay, self.cur, -1).astype(np.int16)
        is_lead = stay & (lead == np.arange(n))
        p_move = np.where(refugee & (since <= 2), 0.075, np.where(refugee & (since <= 5), 0.045,
                          np.where(refugee, 0.03, np.where((age >= 18) & (age <= 34), 0.055, 0.02))))
        move = is_lead & (rng.random(n) < p_move)
        gone = (nxt >= 0) & ~geo.unit_exists(t + 1)[np.maximum(nxt, 0)] if t + 1 in YEARS else np.zeros(n, bool)
        move_ref = np.flatnonzero(move & refugee)
        move_oth = np.flatnonzero(move & ~refugee)
        if t + 1 in YEARS:
            nxt[move_ref] = rng.choice(geo.n_units, size=len(move_ref), p=self.unit_probs(t + 1, 1.3))
            nxt[move_oth] = rng.choice(geo.n_units, size=len(move_oth), p=self.unit_probs(t + 1, 1.02))
            split_lead = np.flatnonzero(gone & is_lead)
            for unit_id, targets in geo.split_targets.items():
                here = split_lead[nxt[split_lead] == unit_id]
                if len(here) == 0:
                    continue
                munis, shares = zip(*targets)
                target = np.array(munis)[rng.choice(len(munis), size=len(here), p=np.array(shares) / sum(shares))]
                w = geo.unit_weight * geo.unit_exists(t + 1)
                for m in set(target.tolist()):
                    cand = np.flatnonzero(geo.unit_muni == m)
                    pw = w[cand] / w[cand].sum()
                    sel = here[target == m]
                    nxt[sel] = cand[rng.choice(len(cand), size=len(sel), p=pw)]
            nxt[stay] = nxt[lead[stay]]
        # births during t to women staying
        women = np.flatnonzero(stay & (c["kjonn"] == 2) & (age >= 16) & (age <= 46))
        mult = np.where(refugee[women], 1.7, np.where(is_imm[women], 1.15, 1.0))
        mothers = women[rng.random(len(women)) < _fertility(age[women]) * mult]
        self.births(t, mothers, nxt)
        # immigration during t (settled on 1 January t+1)
        self.immigrants(t, stay, nxt)
        self.refugees(t, stay, nxt, age)
        # new couples among singles (start 1 January t+1)
        self.new_couples(t)
        self.cur = np.concatenate([nxt, self.cur[n:]]) if t + 1 in YEARS else np.full(len(self.cur), -1, np.int16)

    def births(self, t: int, mothers: np.ndarray, nxt: np.ndarray) -> None:
        rng, c = self.rng, self.cols
        k = len(mothers)
        cp = np.concatenate(self.couples)
        partner = np.full(len(self.cur), -1, np.int64)
        active = cp[:, 2] <= t + 1
        partner[cp[active, 0]] = cp[active, 1]
        partner[cp[active, 1]] = cp[active, 0]
        father = partner[mothers]
        father = np.where((father >= 0) & (c["leave"][np.maximum(father, 0)] > t), father, -1)
        mor_b = c["invkat"][mothers] == 1
        far_b = np.where(father >= 0, c["invkat"][np.maximum(father, 0)] == 1, False)
        far_known = father >= 0
        invkat = np.where(mor_b & (far_b | ~far_known), 2, np.where(mor_b | far_b, 4, 0))
        landb = np.where(invkat == 2, c["fodeland"][mothers], 0)
        unit = nxt[mothers]
        block = _new_block(
            k, kjonn=np.where(rng.random(k) < 0.487, 2, 1), birth=t, arrive=t, landbakgrunn=landb, invkat=invkat,
            mor=mothers, far=father, z=rng.standard_normal(k),
            edu=self.edu_levels(k, self.geo.unit_muni[np.maximum(unit, 0)]),
        )
        self.add(block, unit if t + 1 in YEARS else np.full(k, -1))

    def settle(self, t: int, k: int, category: int | None) -> np.ndarray:
        """Settlement units for k households: rising with population, dispersed over municipalities."""
        if t + 1 not in YEARS:
            return np.full(k, -1)
        if category is None:
            # non-refugee immigrants follow the municipality's existing immigrant share (labour demand)
            factor = np.exp(0.15 * self.municipal.zc) * self.municipal.immigrant / self.municipal.immigrant.mean()
            return self.rng.choice(self.geo.n_units, size=k, p=self.unit_probs(t + 1, 1.05, factor))
        w_muni = np.exp(self.municipal.settle_u[category]) * ~self.municipal.declines[category]
        # municipality weight pop^power, spread over its units by population
        pop = self.geo.kommuner_2020["pop_weight"].to_numpy()
        muni_w = pop ** P.SETTLEMENT["power"][P.CATEGORY_NAMES[category]] * w_muni
        exists = self.geo.unit_exists(t + 1)
        uw = self.geo.unit_weight * exists
        within = uw / np.bincount(self.geo.unit_muni, weights=uw, minlength=self.n_muni)[self.geo.unit_muni]
        p = muni_w[self.geo.unit_muni] * within
        return self.rng.choice(self.geo.n_units, size=k, p=p / p.sum())

    def immigrants(self, t: int, stay: np.ndarray, nxt: np.ndarray) -> None:
        """Non-refugee immigrants (work, family, education) and 713/71 arrivals."""
        rng = self.rng
        k = _round_random(rng, P.NONREFUGEE_ARRIVALS[t - 2010] * self.scale)
        codes, w = zip(*P.NONREFUGEE_REASONS)
        reason = np.array([REASONS.index(x) for x in codes])[rng.choice(len(codes), size=k, p=w)]
        child = rng.random(k) < 0.13
        age = np.where(child, rng.integers(0, 18, k), 19 + rng.gamma(2.2, 5.0, k).astype(int)).clip(0, 75)
        kjonn = np.where(rng.random(k) < np.where(reason == REASONS.index("31"), 0.65, 0.42), 2, 1)
        country = _draw_codes(rng, P.NONREFUGEE_COUNTRIES, k)
        unit = self.settle(t, k, None)
        edu = np.where(rng.random(k) < P.NONREFUGEE_HIGHER_EDUCATION, rng.choice([6, 7], size=k),
                       rng.choice([2, 4], size=k)).astype(np.int8)
        block = _new_block(
            k, kjonn=kjonn, birth=t - age, arrive=t, innv_year=t, innv_day=rng.integers(0, 365, k), fodeland=country,
            landbakgrunn=country, invkat=1, reason=reason, z=rng.standard_normal(k) + P.NONREFUGEE_EMPLOYABILITY, edu=edu,
            edu_known=np.where(rng.random(k) < 0.6, t + 1, NOT_LEFT),
        )
        idx = self.add(block, unit)
        adults = idx[~child]
        pairs = _pair(rng, adults[kjonn[~child] == 2], adults[kjonn[~child] == 1], np.zeros(self_n(self), np.int64),
                      (t - self.cols["birth"]).astype(float), share=0.5)
        if len(pairs):
            self.cols_unit_join(pairs)
            self.couples.append(np.column_stack([pairs, np.full(len(pairs), t + 1)]))
        # other flight (713, 71): single adults, refugee background only
        k = _round_random(rng, P.OTHER_FLIGHT_PER_YEAR * self.scale)
        if k:
            country = self._refugee_country("asyl", t, k)
            block = _new_block(
                k, kjonn=np.where(rng.random(k) < 0.3, 2, 1), birth=t - 18 - rng.gamma(2, 6, k).astype(int), arrive=t,
                innv_year=t, innv_day=rng.integers(0, 365, k), fodeland=country, landbakgrunn=country, invkat=1,
                reason=np.where(rng.random(k) < 0.7, 2, 3), z=rng.standard_normal(k),
                edu=rng.choice(9, size=k, p=P.EDUCATION_LEVELS["asyl"]), edu_known=NOT_LEFT,
            )
            self.add(block, self.settle(t, k, 1))

    def cols_unit_join(self, pairs: np.ndarray) -> None:
        """Couples that arrive together live together: the woman moves to the man's unit."""
        self.cur[pairs[:, 0]] = self.cur[pairs[:, 1]]

    def _refugee_country(self, category: str, t: int, k: int) -> np.ndarray:
        w = P.interpolate(P.REFUGEE_COUNTRY_WEIGHTS[category], t)
        codes = np.array([COUNTRY_INDEX[x] for x in P.REFUGEE_COUNTRIES], np.int16)
        return codes[self.rng.choice(len(codes), size=k, p=w / w.sum())]

    def _education(self, category: str, t: int, age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True NUS level and the year from which it is registered (methods.md §2, fig 3.7)."""
        rng = self.rng
        k = len(age)
        level = rng.choice(9, size=k, p=P.EDUCATION_LEVELS[category]).astype(np.int8)
        level = np.where(age < 16, np.minimum(level, 1), level)
        known_at_arrival = rng.random(k) < float(P.interpolate(P.EDUCATION_KNOWN[category], t)[0])
        later = t + 2 + np.floor(rng.exponential(8, k)).astype(int)
        return level, np.where(known_at_arrival, t + 1, later)

    def _household_block(self, category: str, t: int, heads_age, head_female, partner, n_children, reason_idx,
                         country=None):
        """Persons of refugee households: head, optional partner, children linked to their parents."""
        rng = self.rng
        h = len(heads_age)
        if country is None:
            country = self._refugee_country(category, t, h)
        partner_age = np.maximum(18, heads_age - rng.integers(-2, 9, h))
        # persons: heads, partners, children
        p_idx = np.flatnonzero(partner)
        kids_of = np.repeat(np.arange(h), n_children)
        k = len(kids_of)
        hh = np.concatenate([np.arange(h), p_idx, kids_of])
        role = np.concatenate([np.zeros(h, int), np.ones(len(p_idx), int), np.full(k, 2)])
        mother_age = np.where(head_female, heads_age, np.where(partner, partner_age, heads_age))
        kid_age = np.minimum(rng.integers(0, 18, k), np.maximum(mother_age[kids_of] - 17, 0))
        age = np.concatenate([heads_age, partner_age[p_idx], kid_age])
        female = np.concatenate([head_female, ~head_female[p_idx], rng.random(k) < 0.49])
        return hh, role, age, female, country[hh], reason_idx if np.ndim(reason_idx) == 0 else reason_idx[hh]

    def _add_households(self, t, category, hh, role, age, female, country, reason, units, extra_parent=None):
        """Add household members; link children to parents; couples start 1 January t+1."""
        rng = self.rng
        k = len(hh)
        level, known = self._education(category, t, age)
        reason = np.broadcast_to(np.asarray(reason), (k,))
        block = _new_block(
            k, kjonn=np.where(female, 2, 1), birth=t - age, arrive=t, innv_year=t, innv_day=rng.integers(0, 365, k),
            fodeland=country, landbakgrunn=country, invkat=1, reason=reason, category=CATEGORY_LUT[reason],
            z=rng.standard_normal(k), edu=level, edu_known=known,
            v=rng.normal(0, P.PLANTED["sd_person"], k),
        )
        idx = self.add(block, units[hh])
        n_h = hh.max() + 1 if k else 0
        head = np.full(n_h, -1)
        part = np.full(n_h, -1)
        head[hh[role == 0]] = idx[role == 0]
        part[hh[role == 1]] = idx[role == 1]
        both = (head >= 0) & (part >= 0)
        if both.any():
            self.couples.append(np.column_stack([head[both], part[both], np.full(both.sum(), t + 1)]))
        if extra_parent is not None:  # the anchor in Norway acts as the (other) parent
            part = np.where(part >= 0, part, extra_parent)
        kids = idx[role == 2]
        kh = hh[role == 2]
        parents = np.column_stack([head[kh], part[kh]])
        is_f = np.where(parents >= 0, self.cols["kjonn"][np.maximum(parents, 0)] == 2, False)
        mor = np.where(is_f[:, 0], parents[:, 0], np.where(is_f[:, 1], parents[:, 1], -1))
        far = np.where((parents[:, 0] >= 0) & ~is_f[:, 0], parents[:, 0],
                       np.where((parents[:, 1] >= 0) & ~is_f[:, 1], parents[:, 1], -1))
        self.cols["mor"][kids] = mor
        self.cols["far"][kids] = far
        return idx

    def refugees(self, t: int, stay: np.ndarray, nxt: np.ndarray, age_now: np.ndarray) -> None:
        rng = self.rng
        for ci, category in enumerate(("overforing", "asyl")):
            n_persons = P.ARRIVALS[category][t - 2010] * self.scale
            par = P.interpolate_dict(P.HOUSEHOLDS[category], t)
            if category == "asyl":
                um = _round_random(rng, n_persons * float(P.interpolate(P.UNACCOMPANIED_MINORS, t)[0]))
                n_persons -= um
                if um:
                    hh_age = rng.integers(14, 18, um)
                    female = rng.random(um) < 0.15
                    hh, role, age, fem, country, reason = self._household_block(
                        category, t, hh_age, female, np.zeros(um, bool), np.zeros(um, int), 1)
                    self._add_households(t, category, hh, role, age, fem, country, reason, self.settle(t, um, ci))
            size = 1 + par["partner"] + par["children"] * (1 + par["extra_children"])
            h = _round_random(rng, n_persons / size)
            if h == 0:
                continue
            partner = rng.random(h) < par["partner"]
            shape, scl = P.HEAD_AGE_GAMMA[category]
            heads_age = (19 + rng.gamma(shape, scl, h)).astype(int).clip(18, 80)
            heads_age = np.where(partner, np.maximum(heads_age, 22), heads_age)
            female = ~partner & (rng.random(h) < par["female_single"])
            has_kids = rng.random(h) < par["children"] * np.where(heads_age < 23, 0.3, 1.0)
            n_children = np.where(has_kids, 1 + rng.poisson(par["extra_children"], h), 0)
            hh, role, age, fem, country, reason = self._household_block(category, t, heads_age, female, partner,
                                                                        n_children, 0 if ci == 0 else 1)
            self._add_households(t, category, hh, role, age, fem, country, reason, self.settle(t, h, ci))
        self.familie(t, stay, nxt, age_now)

    def familie(self, t: int, stay: np.ndarray, nxt: np.ndarray, age_now: np.ndarray) -> None:
        """Family reunification (741), establishment (742) and other (743) with refugees already here."""
        rng, c = self.rng, self.cols
        n_persons = P.ARRIVALS["familie"][t - 2010] * self.scale
        par = P.interpolate_dict(P.FAMILIE, t)
        size = par["reunion"] * (1 + par["children"] * (1 + par["extra_children"])) + par["establish"] + par["other"] * 1.5
        h = _round_random(rng, n_persons / size)
        if h == 0:
            return
        kind = rng.choice(3, size=h, p=np.array([par["reunion"], par["establish"], par["other"]]) / (
            par["reunion"] + par["establish"] + par["other"]))
        # anchors: single adult refugees (overforing/asyl) here before t, staying
        n = len(stay)
        cp = np.concatenate(self.couples)
        coupled = np.zeros(len(self.cur), bool)
        coupled[cp[:, 0]] = coupled[cp[:, 1]] = True
        # resettled and asylum refugees of the study and of the stock (reasons 711, 712)
        # ... living (on the coming 1 January) in a municipality that settles family migrants
        settles = ~self.municipal.declines[2][self.geo.unit_muni[np.maximum(nxt[:n], 0)]]
        eligible = np.flatnonzero(stay[:n] & np.isin(c["reason"][:n], [0, 1]) & (c["innv_year"][:n] < t)
                                  & (age_now[:n] >= 20) & (age_now[:n] <= 55) & ~coupled[:n] & settles)
        need = np.flatnonzero(kind < 2)
        anchor = np.full(h, -1)
        if len(eligible) and len(need):
            # recent arrivals and men are joined more often
            w = (np.where(c["kjonn"][eligible] == 1, P.FAMILIE_ANCHOR_MALE_WEIGHT, 1.0)
                 * np.exp(-(t - c["innv_year"][eligible]) / P.FAMILIE_ANCHOR_YEARS))
            take = min(len(need), len(eligible))
            chosen = rng.choice(eligible, size=take, replace=False, p=w / w.sum())
            anchor[need[:take]] = chosen
        has_anchor = anchor >= 0
        anchor_male = np.where(has_anchor, c["kjonn"][np.maximum(anchor, 0)] == 1, rng.random(h) < 0.8)
        anchor_age = np.where(has_anchor, age_now[np.maximum(anchor, 0)], 30)
        spouse_age = np.where(kind == 0, anchor_age - rng.integers(-1, 8, h), 20 + rng.gamma(2, 3.5, h).astype(int))
        spouse_age = np.where(kind == 2, rng.integers(18, 62, h), spouse_age).clip(18, 75)
        female = np.where(kind == 2, rng.random(h) < 0.5, anchor_male)
        kids = (kind == 0) & (rng.random(h) < par["children"])
        n_children = np.where(kids, 1 + rng.poisson(par["extra_children"], h), 0)
        n_children = np.where(kind == 2, (rng.random(h) < 0.5).astype(int), n_children)
        country = np.where(has_anchor, c["fodeland"][np.maximum(anchor, 0)], self._refugee_country("asyl", max(t - 2, 2010), h))
        country = np.where((kind == 1) & (rng.random(h) < 0.15), self._refugee_country("asyl", t, h), country)
        reason_h = np.array([4, 5, 6])[kind]
        hh, role, age, fem, ctry, reason = self._household_block("familie", t, spouse_age, female, np.zeros(h, bool),
                                                                 n_children, reason_h, country=country)
        units = np.where(has_anchor, nxt[np.maximum(anchor, 0)], -1)
        draw = ~has_anchor | (units < 0)
        units[draw] = self.settle(t, int(draw.sum()), 2)
        idx = self._add_households(t, "familie", hh, role, age, fem, ctry, reason, units,
                                   extra_parent=np.where(kind == 0, anchor, -1))
        spouses = idx[role == 0]
        linked = has_anchor & (kind < 2)
        if linked.any():
            self.couples.append(np.column_stack([spouses[linked], anchor[linked], np.full(linked.sum(), t + 1)]))

    def new_couples(self, t: int) -> None:
        if t + 1 not in YEARS:
            return
        rng, c = self.rng, self.cols
        n = len(self.cur)
        nxt = self.cur
        cp = np.concatenate(self.couples)
        coupled = np.zeros(n, bool)
        coupled[cp[:, 0]] = coupled[cp[:, 1]] = True
        age = (t - c["birth"]).astype(float)
        single = (nxt >= 0) & ~coupled & (age >= 21) & (age <= 45) & (c["arrive"] < t)
        cand = np.flatnonzero(single & (rng.random(n) < 0.09))
        pairs = _pair(rng, cand[c["kjonn"][cand] == 2], cand[c["kjonn"][cand] == 1], nxt.astype(np.int64), age, 1.0)
        if len(pairs):
            self.couples.append(np.column_stack([pairs, np.full(len(pairs), t + 1)]))


def self_n(sim: _Simulation) -> int:
    return len(sim.cur)


def simulate(geo: Geography, *, scale: float, rng: np.random.Generator) -> Population:
    """Simulate the population 2010-2020 on the given geography."""
    return _Simulation(geo, scale, rng).run()
