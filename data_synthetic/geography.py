"""Synthetic municipality structure 2010-2020: 356 municipalities of 2020 and their history.

The geography is fixed (drawn from `GEOGRAPHY_SEED`, independent of the person-level seed), so every
synthetic data set shares the same municipalities, codes, names and reference tables. Persons live in
*base units*: the municipalities of 2010 (the finest units). A base unit belongs to one 2020
municipality and has one code per study year (`code_by_year`); merged units share the code of the
merged municipality from the merge year on. Split units (Tysfjord/Snillfjord style) exist until 2019;
their residents are redistributed over two 2020 municipalities on 1 January 2020, while the crosswalk
assigns the whole old unit to one of them (methods.md §4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GEOGRAPHY_SEED = 20200101
YEARS = tuple(range(2010, 2021))

# 2020 county -> number of municipalities (the real 2020 counts) and the pre-reform county prefixes.
COUNTIES_2020: dict[str, int] = {
    "03": 1, "11": 23, "15": 26, "18": 41, "30": 51, "34": 46,
    "38": 23, "42": 25, "46": 43, "50": 38, "54": 39,
}
OLD_COUNTIES: dict[str, tuple[str, ...]] = {
    "03": ("03",), "11": ("11",), "15": ("15",), "18": ("18",), "30": ("01", "02", "06"),
    "34": ("04", "05"), "38": ("07", "08"), "42": ("09", "10"), "46": ("12", "14"),
    "50": ("16", "17"), "54": ("19", "20"),
}
# Year from which the county's municipalities carry the new county prefix (Trøndelag merged in 2018).
RENUMBER_YEAR: dict[str, int] = {"30": 2020, "34": 2020, "38": 2020, "42": 2020, "46": 2020, "50": 2018, "54": 2020}

# Large places (2010 population at scale 1, 2020 structure): Oslo and the three next cities first.
CITIES: tuple[tuple[str, int], ...] = (
    ("03", 590_000), ("46", 262_000), ("50", 178_000), ("11", 132_000), ("30", 113_000),
    ("42", 100_000), ("30", 92_000), ("30", 83_000), ("30", 76_000), ("11", 72_000),
    ("54", 68_000), ("38", 58_000), ("30", 55_000), ("15", 45_000), ("18", 47_000),
)
TOTAL_2010 = 4_900_000

SN2007_SECTIONS = tuple("ABCDEFGHIJKLMNOPQRSTU")
_SECTION_BASE = np.array([
    0.07, 0.012, 0.106, 0.007, 0.007, 0.08, 0.14, 0.05, 0.03, 0.03, 0.02, 0.012, 0.045, 0.04,
    0.06, 0.08, 0.20, 0.02, 0.016, 0.001, 0.0005,
])

_NAME_HEADS = (
    "Aur", "Bjørk", "Dal", "Fjell", "Fos", "Gran", "Hol", "Lund", "Mo", "Nes", "Os", "Sand", "Skog",
    "Stor", "Ul", "Vik", "Øy", "Ås", "Berg", "Bø", "Eid", "Fro", "Hå", "Kval", "Lei", "Løn", "Mel",
    "Nord", "Rå", "Sel", "Sol", "Stav", "Tinn", "Ven", "Ørs", "Ask", "Bremn", "Fla", "Gjer", "Hjart",
    "Kvin", "Lyng", "Mal", "Rind", "Sau", "Sveio", "Tved", "Vang", "Åm", "Hemn", "Rød", "Sirn",
)
_NAME_TAILS = (
    "dal", "nes", "vik", "berg", "øy", "fjord", "stad", "by", "heim", "land", "sund", "vær", "bygd",
    "haug", "voll", "rud", "ås", "strand", "holm", "lia", "anger", "å", "ness", "fold", "mark",
)


@dataclass(frozen=True)
class Geography:
    """Municipalities of 2020, base units and their codes per year (all arrays aligned)."""

    kommuner_2020: pd.DataFrame      # kommnr_2020, kommunenavn, sentralitetsindeks, ..., pop_weight
    unit_muni: np.ndarray            # base unit -> row in kommuner_2020
    unit_weight: np.ndarray          # 2010 population share of the unit (sums to 1)
    code_by_year: np.ndarray         # [unit, year index] code string, "" when the unit does not exist
    split_targets: dict[int, list[tuple[int, float]]]  # split unit -> [(2020 muni row, share)]
    naering_2010: pd.DataFrame

    @property
    def n_units(self) -> int:
        return len(self.unit_muni)

    def unit_exists(self, year: int) -> np.ndarray:
        return self.code_by_year[:, YEARS.index(year)] != ""

    def kommuneendringer(self) -> pd.DataFrame:
        """One row per (aar, kommnr valid that year) -> kommnr_2020."""
        codes_2020 = self.kommuner_2020["kommnr_2020"].to_numpy()
        rows = []
        for j, year in enumerate(YEARS):
            code = self.code_by_year[:, j]
            keep = code != ""
            rows.append(pd.DataFrame({"aar": year, "kommnr": code[keep], "kommnr_2020": codes_2020[self.unit_muni[keep]]}))
        frame = pd.concat(rows).drop_duplicates().sort_values(["aar", "kommnr"]).reset_index(drop=True)
        if frame.duplicated(["aar", "kommnr"]).any():
            raise AssertionError("a code maps to two 2020 municipalities in the same year")
        return frame


def _names(rng: np.random.Generator, n: int) -> list[str]:
    heads = np.array(_NAME_HEADS)[:, None]
    tails = np.array(_NAME_TAILS)[None, :]
    pool = np.char.add(heads, tails).ravel()
    pool = np.array([p.replace("aa", "a") for p in pool])
    return list(rng.choice(np.unique(pool), size=n, replace=False))


class _CodePool:
    """Never-reused 2-digit numbers per county prefix, so no code means two things in the study."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: dict[str, set[int]] = {}

    def reserve(self, code: str) -> str:
        self.used.setdefault(code[:2], set()).add(int(code[2:]))
        return code

    def take(self, prefix: str) -> str:
        used = self.used.setdefault(prefix, set())
        free = [k for k in range(1, 100) if k not in used]
        k = int(self.rng.choice(free[: max(8, len(free) // 2)]))
        used.add(k)
        return f"{prefix}{k:02d}"


def build_geography() -> Geography:
    """Draw the fixed synthetic geography (deterministic; see module docstring)."""
    rng = np.random.default_rng(GEOGRAPHY_SEED)
    counties = np.repeat(list(COUNTIES_2020), list(COUNTIES_2020.values()))
    n = len(counties)  # 356
    # sizes: cities first within their county, the rest lognormal (median about 5k)
    size = np.exp(rng.normal(np.log(4_700), 1.05, n)).clip(200, 45_000)
    is_city = np.zeros(n, bool)
    taken: set[int] = set()
    for county, pop in CITIES:
        idx = next(i for i in np.flatnonzero(counties == county) if i not in taken)
        taken.add(idx)
        size[idx] = pop
        is_city[idx] = True
    rest = ~is_city
    size[rest] *= (TOTAL_2010 - size[is_city].sum()) / size[rest].sum()

    # centrality index: rises with log size, county noise; Oslo 1000
    z = (np.log(size) - np.log(size).mean()) / np.log(size).std()
    index = 650 + 105 * z + rng.normal(0, 85, n)
    index = np.round(index.clip(295, 985), 0)
    index[counties == "03"] = 1000
    klasse = np.digitize(index, [500, 600, 700, 800, 900])  # 0..5, larger = more central
    klasse = 6 - klasse

    # merges: about 60 municipalities formed 2017-2020 from 2-4 older ones
    n_units = np.ones(n, int)
    merge_year = np.zeros(n, int)
    candidates = np.flatnonzero((counties != "03") & ~is_city)
    merged = rng.choice(candidates, size=60, replace=False)
    n_units[merged] = rng.choice([2, 3, 4], size=60, p=[0.70, 0.22, 0.08])
    merge_year[merged] = rng.choice([2017, 2018, 2020], size=60, p=[0.12, 0.10, 0.78])
    # Trøndelag merges happen in 2018 or 2020 (county code already 50 in 2018)
    trond = merged[counties[merged] == "50"]
    merge_year[trond] = np.where(merge_year[trond] == 2017, 2020, merge_year[trond])

    pool = _CodePool(rng)
    pool.reserve("0301")
    # planted municipalities matching the default [splits] of config/default.toml
    sandefjord = np.flatnonzero((counties == "38") & (n_units == 1))[0]
    narvik = np.flatnonzero((counties == "18") & (n_units == 1) & ~is_city)[0]
    hamaroy = np.flatnonzero((counties == "18") & (n_units == 1) & ~is_city)[1]
    orkland = np.flatnonzero((counties == "50") & (n_units == 1) & ~is_city)[0]
    hitra = np.flatnonzero((counties == "50") & (n_units == 1) & ~is_city)[1]
    n_units[sandefjord], merge_year[sandefjord] = 3, 2017
    n_units[[narvik, hamaroy, orkland]] = [2, 1, 3]
    merge_year[[narvik, hamaroy, orkland]] = 2020
    code_2020 = np.full(n, "", dtype=object)
    for muni, code in ((sandefjord, "3804"), (narvik, "1806"), (hamaroy, "1875"), (orkland, "5059")):
        code_2020[muni] = pool.reserve(code)
    for code in ("0710", "0720", "1850", "1613", "5012"):
        pool.reserve(code)

    old_county = np.array([rng.choice(OLD_COUNTIES[c]) for c in counties])
    old_county[sandefjord], old_county[orkland], old_county[hitra] = "07", "16", "16"

    unit_muni: list[int] = []
    unit_weight: list[float] = []
    unit_codes: list[list[str]] = []
    split_targets: dict[int, list[tuple[int, float]]] = {}

    def add_unit(muni: int, weight: float, codes: list[str]) -> int:
        unit_muni.append(muni)
        unit_weight.append(weight)
        unit_codes.append(codes)
        return len(unit_muni) - 1

    for m in range(n):
        county = counties[m]
        renumber = RENUMBER_YEAR.get(county, 9999)
        if not code_2020[m]:
            code_2020[m] = "0301" if county == "03" else pool.take(county)
        shares = rng.dirichlet(np.full(n_units[m], 2.0)) if n_units[m] > 1 else np.ones(1)
        my = merge_year[m] if n_units[m] > 1 else 9999
        # code of the merged municipality between the merge and the county renumbering
        if my < 2020 and my < renumber < 9999:  # merged 2017/2018, renumbered again in 2020
            mid_code = "0710" if m == sandefjord else pool.take(old_county[m])
        else:
            mid_code = code_2020[m]
        for k, share in enumerate(shares):
            pre_prefix = old_county[m]
            if m == sandefjord and k == 0:
                pre_code = "0720"
            elif m == orkland and k == 0:
                pre_code = "1613"
            else:
                pre_code = pool.take(pre_prefix) if pre_prefix != county or n_units[m] > 1 else code_2020[m]
            # the code the unit carries after the Trøndelag 2018 renumbering, before a 2020 merge
            if county == "50" and my >= 2020:
                trond_code = "5012" if (m == orkland and k == 0) else (code_2020[m] if n_units[m] == 1 else pool.take("50"))
            else:
                trond_code = ""
            codes = []
            for year in YEARS:
                if year >= my:
                    codes.append(code_2020[m] if year >= 2020 else mid_code)
                elif year >= renumber:
                    codes.append(trond_code or code_2020[m])
                else:
                    codes.append(pre_code)
            add_unit(m, size[m] * share, codes)

    # the two split municipalities: exist until 2019, crosswalk to one 2020 municipality
    for muni, other, code_pre, w in ((narvik, hamaroy, "1850", 2_000.0), (orkland, hitra, "1613", 0.0)):
        if muni == orkland:  # Snillfjord is unit 0 of Orkland already; make it a split unit
            unit = next(u for u in range(len(unit_muni)) if unit_muni[u] == orkland and unit_codes[u][0] == "1613")
        else:
            unit = add_unit(muni, w, [code_pre] * 10 + [""])
        unit_codes[unit][-1] = ""
        split_targets[unit] = [(muni, 0.6), (other, 0.4)]

    weight = np.array(unit_weight)
    weight /= weight.sum()
    codes = np.array(unit_codes, dtype=object)
    kommuner = pd.DataFrame({
        "kommnr_2020": code_2020.astype(str),
        "kommunenavn": ["Oslo" if c == "03" else nm for c, nm in zip(counties, _names(rng, n))],
        "sentralitetsindeks": index.astype(float),
        "sentralitetsklasse": klasse.astype(np.int32),
    })
    kommuner["okonomisk_region"], kommuner["sykehus_i_region"] = _regions(rng, counties, size)
    naering = _naering(rng, kommuner["kommnr_2020"].to_numpy(), size, z)
    kommuner["pop_weight"] = np.bincount(np.array(unit_muni), weights=weight, minlength=n)
    order = np.argsort(kommuner["kommnr_2020"].to_numpy(), kind="stable")
    remap = np.empty(n, int)
    remap[order] = np.arange(n)
    kommuner = kommuner.iloc[order].reset_index(drop=True)
    split_targets = {u: [(int(remap[m]), s) for m, s in t] for u, t in split_targets.items()}
    geo = Geography(
        kommuner_2020=kommuner,
        unit_muni=remap[np.array(unit_muni)],
        unit_weight=weight,
        code_by_year=codes,
        split_targets=split_targets,
        naering_2010=naering.sort_values(["kommnr_2020", "naering"]).reset_index(drop=True),
    )
    geo.kommuneendringer()  # raises if a code is ambiguous
    return geo


def _regions(rng: np.random.Generator, counties: np.ndarray, size: np.ndarray) -> tuple[list[str], list[bool]]:
    """About 80 economic regions: consecutive chunks of 4-5 municipalities within a county."""
    region = np.empty(len(counties), dtype=object)
    hospital_region: dict[str, bool] = {}
    for county in COUNTIES_2020:
        idx = np.flatnonzero(counties == county)
        idx = idx[rng.permutation(len(idx))]
        n_regions = max(1, round(len(idx) / 4.5))
        for j, chunk in enumerate(np.array_split(idx, n_regions)):
            code = f"{county}{j + 1:02d}"
            region[chunk] = code
            hospital_region[code] = bool(size[chunk].max() > 40_000 or rng.random() < 0.2)
    return list(region), [hospital_region[r] for r in region]


def _naering(rng: np.random.Generator, codes: np.ndarray, size: np.ndarray, z: np.ndarray) -> pd.DataFrame:
    """Employment 2010 by SN2007 section (scale 1): primary higher in rural places, manufacturing noisy."""
    n = len(codes)
    shares = rng.gamma(20, 1 / 20, (n, len(_SECTION_BASE))) * _SECTION_BASE
    primary = (0.07 - 0.04 * z + rng.normal(0, 0.045, n)).clip(0.003, 0.30)
    manufacturing = (0.106 + rng.gamma(1.5, 0.05, n) - 0.075).clip(0.01, 0.40)
    rest = shares.copy()
    rest[:, [0, 2]] = 0
    rest *= ((1 - primary - manufacturing) / rest.sum(axis=1))[:, None]
    rest[:, 0], rest[:, 2] = primary, manufacturing
    employed = np.round(size * 0.5)
    counts = np.round(rest * employed[:, None]).astype(np.int64)
    return pd.DataFrame({
        "kommnr_2020": np.repeat(codes, len(SN2007_SECTIONS)).astype(str),
        "naering": np.tile(list(SN2007_SECTIONS), n),
        "sysselsatte": counts.ravel(),
    })
