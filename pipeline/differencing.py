"""Differencing attacks on a whole released output directory (methods.md §7, pipeline/disclosure.py).

A reader who holds only the released tables knows every published count as an interval of integers:
a rounded count c stands for the counts that round to c (Policy.count_interval); a suppressed count
for [1, ∞) (or [0, ∞) where a row is written for nobody too: a cell may be hidden to protect another,
so the marker does not say "fewer than min_persons"); a count the release never
publishes — the population of a by-botid cell, the persons without a settlement municipality, a yes
count behind a share — for [0, ∞). Tables that share a margin tie these together by sums:
total = Σ parts. Propagating the interval bounds through every sum until nothing changes gives what
this attack can learn; a suppressed or unpublished count whose bounds meet at one value from 1 to
min_persons − 1 has come back exactly, and the release must not leave.

A share s published with d decimals beside a count interval [lo, hi] narrows both: n must admit a
numerator k with |100·k/n − s| <= half a unit of the last digit (for every share published with that
n), and the numerator lies in [lo·(s − h)/100, hi·(s + h)/100].

The relations (`build`) cover the tables that share a margin: the by-botid splits of figs 3.8–3.14
(fig 3.11 nested in fig 3.8), fig 3.1 and figs 3.2–3.7 against table 3.1, fig 3.16's groups against
`alle` and against the by-botid populations, fig 3.15's sample, the sample flow (in − excluded = out,
and its last step against fig 3.16), kommunebidrag's categories against `alle` per municipality, and the
municipality cards' table (bands against their total, categories against `alle`, totals against
kommunebidrag), and the two arrival cohorts' contributions against kommunebidrag.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import CATEGORIES
from pipeline.disclosure import Policy

INF = math.inf
BY_BOTID_SPLITS = {
    "fig3_08": ("kjonn",), "fig3_09": ("fodeland_gruppe",), "fig3_10": ("innvandringsaar",),
    "fig3_11": ("kjonn", "partner_innvandring"), "fig3_12": ("aldersgruppe",),
    "fig3_13": ("utdanning_innvandring",), "fig3_14": ("barn_innvandring",),
}
COMPOSITION_SPLITS = {  # figure -> (level column, adults only)
    "fig3_02": ("kjonn", False), "fig3_03": ("aldersgruppe", False), "fig3_04": ("fodeland_gruppe", False),
    "fig3_05": ("barn_innvandring", True), "fig3_06": ("partner_innvandring", True),
    "fig3_07": ("utdanning_innvandring", True),
}
# table 3.1 share rows as sums of composition levels: indicator -> (figure, levels)
SUMMARY_LEVELS = {
    "kvinner": ("fig3_02", ("2",)), "uten_barn": ("fig3_05", ("0",)), "barn_1_2": ("fig3_05", ("1", "2")),
    "barn_3_pluss": ("fig3_05", ("3",)), "partner": ("fig3_06", ("1",)),
    "utdanning_0_1": ("fig3_07", ("0", "1")), "utdanning_2": ("fig3_07", ("2",)),
    "utdanning_3": ("fig3_07", ("3",)), "utdanning_4_5": ("fig3_07", ("4", "5")),
    "utdanning_mangler": ("fig3_07", ("99",)),
}
COUNTRY_GROUPS = ("syria", "iran", "irak", "afghanistan", "sudan", "somalia", "etiopia", "eritrea", "annet")


@dataclass
class Ledger:
    """Counts a reader can bound, the sums that tie them, and which of them must stay hidden."""

    policy: Policy
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    protected: list[bool] = field(default_factory=list)
    index: dict[Hashable, int] = field(default_factory=dict)
    relations: list[tuple[int, list[int]]] = field(default_factory=list)

    def quantity(self, key: Hashable, label: str, *, low: float = 0, high: float = INF,
                 protected: bool = False) -> int:
        """The count named `key`, narrowed to [low, high]; one entry per key however often it is seen."""
        if key not in self.index:
            self.index[key] = len(self.low)
            self.low.append(0.0)
            self.high.append(INF)
            self.label.append(label)
            self.protected.append(False)
        i = self.index[key]
        self.low[i] = max(self.low[i], low)
        self.high[i] = min(self.high[i], high)
        self.protected[i] = self.protected[i] or protected
        return i

    def published(self, key: Hashable, label: str, value: object, *, suppressed_low: int = 1) -> int:
        """A count as a table shows it: a rounded number, or the marker (then protected). A reader cannot
        tell a small cell from one hidden to protect another, so the marker bounds a count only below."""
        number = _number(value, self.policy.marker)
        if number is None:
            return self.quantity(key, label, low=suppressed_low, protected=True)
        low, high = self.policy.count_interval(int(round(number)))
        return self.quantity(key, label, low=low, high=high)

    def sum(self, total: int, parts: Iterable[int]) -> None:
        parts = list(parts)
        if parts:
            self.relations.append((total, parts))


@dataclass(frozen=True)
class Leak:
    label: str
    value: int


def _number(value: object, marker: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if text in ("", marker):
        return None
    return float(text)


def share_numerator(ledger: Ledger, n: int, shares: list[float]) -> None:
    """Narrow the count n to the values that admit a numerator for every published share (percent)."""
    h = ledger.policy.share_half_width()
    low, high = ledger.low[n], ledger.high[n]
    if not math.isfinite(high) or high - low > 10_000:
        return
    feasible = [m for m in range(int(math.ceil(low)), int(high) + 1)
                if m > 0 and all(math.floor(m * (s + h) / 100 + 1e-9) >= math.ceil(m * (s - h) / 100 - 1e-9)
                                 for s in shares)]
    if feasible:
        ledger.low[n], ledger.high[n] = max(low, feasible[0]), min(high, feasible[-1])


def printed_half_width(value: object) -> float:
    """Half a unit of the last digit a number is printed with (a rate written as 41.2375 → 0.00005)."""
    text = str(value).strip().lower()
    if "e" in text:
        mantissa, exponent = text.split("e")
        digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
        return 0.5 * 10.0 ** (int(exponent) - digits)
    return 0.5 * 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


def numerator(ledger: Ledger, key: Hashable, label: str, n: int, share: object, *, protected: bool,
              half_width: float | None = None) -> int:
    """The count behind a share (percent) of the cell n (unknown in [0, n] when the share is suppressed);
    the share is known to ± `half_width` (default: the policy's share precision)."""
    s = _number(share, ledger.policy.marker)
    if s is None:
        return ledger.quantity(key, label, high=ledger.high[n], protected=protected)
    h = ledger.policy.share_half_width() if half_width is None else half_width
    low = max(0.0, math.ceil(ledger.low[n] * (s - h) / 100 - 1e-9))
    high = math.floor(ledger.high[n] * (s + h) / 100 + 1e-9) if math.isfinite(ledger.high[n]) else INF
    return ledger.quantity(key, label, low=low, high=high, protected=protected)


def propagate(ledger: Ledger, *, max_rounds: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of every count after interval propagation through all sums to a fixed point."""
    low = np.array(ledger.low, dtype=float)
    high = np.array(ledger.high, dtype=float)
    if not ledger.relations:
        return low, high
    totals = np.array([t for t, _ in ledger.relations])
    rel = np.concatenate([np.full(len(p), r) for r, (_, p) in enumerate(ledger.relations)])
    cell = np.concatenate([np.asarray(p) for _, p in ledger.relations])
    n_rel = len(ledger.relations)
    for _ in range(max_rounds):
        before_low, before_high = low.copy(), high.copy()
        sum_low = np.bincount(rel, low[cell], minlength=n_rel)
        infinite = np.isinf(high[cell])
        sum_high_finite = np.bincount(rel, np.where(infinite, 0.0, high[cell]), minlength=n_rel)
        n_infinite = np.bincount(rel, infinite, minlength=n_rel)
        sum_high = np.where(n_infinite > 0, INF, sum_high_finite)
        np.maximum.at(low, totals, sum_low)
        np.minimum.at(high, totals, sum_high)
        # each part: total minus the other parts
        others_high = np.where(n_infinite[rel] - infinite > 0, INF, sum_high_finite[rel] - np.where(infinite, 0.0, high[cell]))
        part_low = low[totals[rel]] - others_high
        np.maximum.at(low, cell, np.where(np.isfinite(part_low), np.ceil(part_low - 1e-9), -INF))
        part_high = high[totals[rel]] - (sum_low[rel] - low[cell])
        np.minimum.at(high, cell, np.where(np.isfinite(part_high), np.floor(part_high + 1e-9), INF))
        if np.array_equal(low, before_low) and np.array_equal(high, before_high):
            break
    return low, high


def leaks(ledger: Ledger) -> list[Leak]:
    """Protected counts that the release pins to one value from 1 to min_persons − 1 (a count the
    threshold alone already pins, with min_persons = 2, is the policy's choice, not a leak)."""
    start_low, start_high = np.array(ledger.low), np.array(ledger.high)
    low, high = propagate(ledger)
    out = []
    for i in np.flatnonzero(np.asarray(ledger.protected)):
        narrowed = start_high[i] > start_low[i]
        if narrowed and low[i] == high[i] and 1 <= low[i] < ledger.policy.min_persons:
            out.append(Leak(ledger.label[i], int(low[i])))
    return out


# ------------------------------------------------------------------------ relations of the release

Row = dict[str, str]


def _rows(directory: Path, name: str) -> list[Row] | None:
    """A released CSV as a list of rows of text (None when the file is absent)."""
    path = directory / f"{name}.csv"
    if not path.exists():
        return None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = list(frame.columns)   # zipped column lists: the records of to_dict("records"), much faster
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def _group(rows: list[Row], keys: Iterable[str]) -> dict[tuple, list[Row]]:
    """Rows by the values of `keys`, in first-seen order."""
    keys = tuple(keys)
    out: dict[tuple, list[Row]] = {}
    for row in rows:
        out.setdefault(tuple(row[k] for k in keys), []).append(row)
    return out


def by_botid_relations(ledger: Ledger, tables: Path) -> None:
    """Figs 3.8–3.14 split the same (kategori, botid) population; fig 3.11 splits fig 3.8's sexes.

    In a by-botid cell every person has one person-year, so n_persons and n_person_years are one count.
    """
    marker = ledger.policy.marker
    by_sex: dict[tuple, list[int]] = {}
    for figure, groups in BY_BOTID_SPLITS.items():
        rows = _rows(tables, figure)
        for (kategori, botid), cells in _group(rows or [], ("kategori", "botid")).items():
            population = ledger.quantity(("population", kategori, botid),
                                         f"persons of {kategori}, botid {botid} (figs 3.8-3.14)", protected=True)
            parts, yes_parts = [], {}
            for levels, cell in _group(cells, groups).items():
                where = f"{figure}.csv ({kategori}, botid {botid}, {', '.join(levels)})"
                first = cell[0]
                suppressed = _number(first["n_persons"], marker) is None
                n = ledger.published((figure, kategori, botid, levels), f"n_persons of {where}", first["n_persons"])
                ledger.published((figure, kategori, botid, levels), f"n_persons of {where}", first["n_person_years"])
                shares = [s for s in (_number(r["share_pct"], marker) for r in cell) if s is not None]
                if shares:
                    share_numerator(ledger, n, shares)
                parts.append(n)
                for row in cell:
                    yes_parts.setdefault(row["outcome"], []).append(numerator(
                        ledger, ("yes", figure, row["outcome"], kategori, botid, levels),
                        f"{row['outcome']} count of {where}", n, row["share_pct"], protected=suppressed))
                if figure == "fig3_11":
                    by_sex.setdefault((kategori, botid, levels[0]), []).append(n)
            ledger.sum(population, parts)
            for outcome, ys in yes_parts.items():
                ledger.sum(ledger.quantity(("yes_total", outcome, kategori, botid),
                                           f"{outcome} count of {kategori}, botid {botid}"), ys)
    for (kategori, botid, sex), parts in by_sex.items():   # fig 3.8's sex = fig 3.11's partner cells of it
        ledger.sum(ledger.quantity(("fig3_08", kategori, botid, (sex,)),
                                   f"n_persons of fig3_08.csv ({kategori}, botid {botid}, {sex})"), parts)


def arrival_relations(ledger: Ledger, tables: Path) -> None:
    """Fig 3.1's (kategori, year) counts are figs 3.2–3.4's denominators and sum to table 3.1's
    `personer`; figs 3.5–3.7's adult denominators sum to table 3.1's 20+ denominators; the level
    counts behind each composition share sum to the denominator and, over years, to table 3.1's
    corresponding share × total."""
    marker = ledger.policy.marker
    for row in _rows(tables, "fig3_01") or []:
        ledger.published(("arrivals", row["kategori"], row["innvandringsaar"]),
                         f"n_persons of fig3_01.csv ({row['kategori']}, {row['innvandringsaar']})", row["n_persons"])
    levels_by_year: dict[tuple, list[int]] = {}
    for figure, (level_column, adults) in COMPOSITION_SPLITS.items():
        population = "adults" if adults else "arrivals"
        for (kategori, year), cell in _group(_rows(tables, figure) or [], ("kategori", "innvandringsaar")).items():
            where = f"{figure}.csv ({kategori}, {year})"
            suppressed = _number(cell[0]["n_persons"], marker) is None
            n = ledger.published((population, kategori, year), f"n_persons of {where}", cell[0]["n_persons"])
            shares = [s for s in (_number(r["share_pct"], marker) for r in cell) if s is not None]
            if shares:
                share_numerator(ledger, n, shares)
            counts = []
            for row in cell:
                level = row[level_column]
                k = numerator(ledger, ("level", figure, kategori, year, level), f"{level} count of {where}", n,
                              row["share_pct"], protected=suppressed)
                counts.append(k)
                levels_by_year.setdefault((figure, kategori, level), []).append(k)
            ledger.sum(n, counts)
    years: dict[tuple, list[int]] = {}
    for key, i in ledger.index.items():
        if isinstance(key, tuple) and len(key) == 3 and key[0] in ("arrivals", "adults"):
            years.setdefault((key[0], key[1]), []).append(i)
    for row in _rows(tables, "table3_1") or []:
        kategori, indicator = row["kategori"], row["indicator"]
        population = "arrivals" if row["population"] == "alle" else "adults"
        total = ledger.published(("total", population, kategori),
                                 f"n_persons of table3_1.csv ({kategori}, {row['population']})", row["n_persons"])
        ledger.sum(total, years.pop((population, kategori), []))
        if indicator == "personer":
            ledger.published(("total", "arrivals", kategori), f"personer of table3_1.csv ({kategori})", row["value"])
            continue
        figure, levels = SUMMARY_LEVELS.get(indicator, (None, ()))
        if indicator.startswith("fodeland_"):
            figure, levels = "fig3_04", (indicator.removeprefix("fodeland_"),)
        if figure is None or row["unit"] != "prosent":
            continue
        k_total = numerator(ledger, ("summary", indicator, kategori),
                            f"{indicator} count of table3_1.csv ({kategori})", total, row["value"], protected=False)
        ledger.sum(k_total, [i for level in levels for i in levels_by_year.get((figure, kategori, level), [])])


def model_sample_relations(ledger: Ledger, tables: Path, out: Path) -> None:
    """Fig 3.16: each group's sample is its by-botid population less the persons without a settlement
    municipality (or with a missing characteristic); `alle` is the sum of the groups; fig 3.15's
    sample and the sample flow's last steps hold the same persons."""
    by_key: dict[tuple, int] = {}
    for row in (_rows(tables, "fig3_16_r2_decomposition") or []):
        for unit in ("n_persons", "n_person_years"):
            by_key[(row["gruppe"], row["botid"], unit)] = ledger.published(
                ("fig3_16", row["gruppe"], row["botid"], unit),
                f"{unit} of fig3_16_r2_decomposition.csv ({row['sample']})", row[unit])
    for (gruppe, botid, unit), i in list(by_key.items()):
        if gruppe == "alle":
            ledger.sum(i, [by_key[(c, botid, unit)] for c in CATEGORIES if (c, botid, unit) in by_key])
        elif botid != "alle" and ("population", gruppe, botid) in ledger.index:
            unsettled = ledger.quantity(("unsettled", gruppe, botid, unit),
                                        f"persons of {gruppe}, botid {botid} outside fig 3.16's sample", protected=True)
            ledger.sum(ledger.index[("population", gruppe, botid)], [i, unsettled])
    populations: dict[str, list[int]] = {}
    for key, i in ledger.index.items():
        if isinstance(key, tuple) and len(key) == 3 and key[0] == "population":
            populations.setdefault(key[1], []).append(i)
    for kategori, parts in populations.items():   # person-years add up over botid
        if (kategori, "alle", "n_person_years") in by_key:
            all_years = ledger.quantity(("population_years", kategori), f"person-years of {kategori} (figs 3.8-3.14)")
            ledger.sum(all_years, parts)
            unsettled = ledger.quantity(("unsettled_years", kategori),
                                        f"person-years of {kategori} outside fig 3.16's sample", protected=True)
            ledger.sum(all_years, [by_key[(kategori, "alle", "n_person_years")], unsettled])
    fe = {unit: by_key.get(("alle", "alle", unit)) for unit in ("n_persons", "n_person_years")}
    models: dict[str, int] = {}
    coefficients = _rows(tables, "fig3_15_coefficients") or []
    for unit in ("n_persons", "n_person_years") if coefficients else ():
        models[unit] = ledger.published(("fig3_15", unit), f"{unit} of fig3_15_coefficients.csv", coefficients[0][unit])
        if fe[unit] is not None:
            gap = ledger.quantity(("fig3_15_gap", unit), f"{unit} in fig 3.15 but not in fig 3.16", protected=True)
            ledger.sum(models[unit], [fe[unit], gap])
    previous_out: dict[str, int] = {}
    age_out: dict[str, int] = {}
    for row in _rows(out, "sample_flow") or []:
        for unit in ("persons", "person_years"):
            where = f"sample_flow.csv step {row['step']} ({row['rule']})"
            n_in, n_excluded, n_out = (
                ledger.published(("flow", row["step"], unit, part), f"{unit}_{part} of {where}", row[f"{unit}_{part}"])
                for part in ("in", "excluded", "out"))
            ledger.sum(n_in, [n_excluded, n_out])
            if unit in previous_out:
                ledger.sum(n_in, [previous_out[unit]])
            previous_out[unit] = n_out
            if row["rule"] == "age_outside_window":
                age_out[unit] = n_out
    for unit, flow_unit in (("n_persons", "persons"), ("n_person_years", "person_years")):
        for total, part, name in ((age_out.get(flow_unit), models.get(unit), "fig 3.15's sample"),
                                  (previous_out.get(flow_unit), fe[unit], "fig 3.16's sample")):
            if total is not None and part is not None:
                missing = ledger.quantity(("flow_gap", name, unit), f"{unit} of the sample flow outside {name}",
                                          protected=True)
                ledger.sum(total, [part, missing])


def contribution_relations(ledger: Ledger, tables: Path) -> None:
    """kommunebidrag: per municipality, `alle` is the sum of the three categories (persons, person-years).
    A suppressed row stands for none or a few: [0, min_persons − 1]."""
    for kommnr, rows in _group(_rows(tables, "kommunebidrag") or [], ("kommnr_2020",)).items():
        for unit in ("n_persons", "n_person_years"):
            cells = {row["gruppe"]: ledger.published(("kommunebidrag", kommnr, row["gruppe"], unit),
                                                      f"{unit} of kommunebidrag.csv ({row['gruppe']}, {kommnr[0]})",
                                                      row[unit], suppressed_low=0)
                     for row in rows}
            if "alle" in cells:
                ledger.sum(cells["alle"], [cells[c] for c in CATEGORIES if c in cells])


def card_relations(ledger: Ledger, tables: Path) -> None:
    """kommune_observert_predikert (the municipality cards): per group and municipality the botid bands'
    person-years and yes counts add up to the total band; per municipality and band the categories add
    up to `alle` (persons too); the total band is kommunebidrag's sample. Rates are read at the precision
    they are printed with."""
    rows = _rows(tables, "kommune_observert_predikert")
    if not rows:
        return
    marker = ledger.policy.marker
    total_band = max({r["botid"] for r in rows}, key=lambda b: (b.count("-"), len(b)))  # "0-9"
    cells: dict[tuple, tuple[int, int, int]] = {}
    for row in rows:
        key = (row["gruppe"], row["kommnr_2020"], row["botid"])
        where = f"kommune_observert_predikert.csv ({', '.join(key)})"
        suppressed = _number(row["n_persons"], marker) is None
        persons = ledger.published(("card", *key, "n_persons"), f"n_persons of {where}", row["n_persons"],
                                   suppressed_low=0)
        years = ledger.published(("card", *key, "n_person_years"), f"n_person_years of {where}",
                                 row["n_person_years"], suppressed_low=0)
        rate = row["observed_pct"]
        yes = numerator(ledger, ("card", *key, "yes"), f"work-or-education count of {where}", years, rate,
                        protected=suppressed,
                        half_width=None if _number(rate, marker) is None else printed_half_width(rate))
        cells[key] = (persons, years, yes)
        if row["botid"] == total_band:
            for unit, i in (("n_persons", persons), ("n_person_years", years)):
                same = ledger.index.get(("kommunebidrag", (row["kommnr_2020"],), row["gruppe"], unit))
                if same is not None:
                    ledger.sum(same, [i])
    bands: dict[tuple, list[tuple[int, int, int]]] = {}
    for (gruppe, kommnr, band), cell in cells.items():
        if band != total_band:
            bands.setdefault((gruppe, kommnr), []).append(cell)
    for (gruppe, kommnr), inner in bands.items():
        _, years, yes = cells[(gruppe, kommnr, total_band)]
        ledger.sum(years, [c[1] for c in inner])
        ledger.sum(yes, [c[2] for c in inner])
    for (gruppe, kommnr, band), total in cells.items():
        if gruppe != "alle":
            continue
        parts = [cells[(c, kommnr, band)] for c in CATEGORIES if (c, kommnr, band) in cells]
        for unit in range(3):
            ledger.sum(total[unit], [part[unit] for part in parts])


def cohort_relations(ledger: Ledger, tables: Path) -> None:
    """kommunebidrag_kohorter (robustness): per group and municipality the two arrival cohorts add up to
    kommunebidrag's persons and person-years (they split its sample by immigration year)."""
    by_cell: dict[tuple, list[Row]] = _group(_rows(tables, "kommunebidrag_kohorter") or [], ("gruppe", "kommnr_2020"))
    for (gruppe, kommnr), rows in by_cell.items():
        for unit in ("n_persons", "n_person_years"):
            total = ledger.index.get(("kommunebidrag", (kommnr,), gruppe, unit))
            if total is None:
                continue
            ledger.sum(total, [ledger.published(("kohort", gruppe, kommnr, row["kohort"], unit),
                                                f"{unit} of kommunebidrag_kohorter.csv ({gruppe}, {kommnr}, "
                                                f"{row['kohort']})", row[unit], suppressed_low=0)
                               for row in rows])


def build(out: Path, policy: Policy) -> Ledger:
    """Every relation the released tables in `out` give a reader."""
    ledger = Ledger(policy)
    tables = out / "tables"
    by_botid_relations(ledger, tables)
    arrival_relations(ledger, tables)
    model_sample_relations(ledger, tables, out)
    contribution_relations(ledger, tables)
    card_relations(ledger, tables)
    cohort_relations(ledger, tables)
    return ledger


def attack(out: Path, policy: Policy) -> list[str]:
    """Problems for disclosure-check: each suppressed or unpublished count the release gives back exactly."""
    found = leaks(build(out, policy))
    return [f"{leak.label}: a count below {policy.min_persons} comes back exactly ({leak.value}) by adding and "
            f"subtracting released tables" for leak in found]
