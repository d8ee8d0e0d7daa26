"""Descriptive numbers behind figures 3.1-3.14, 3.17-3.20 and table 3.1 (methods.md §1-2, §6).

Pure functions build long tidy tables (one row per cell: keys, statistic in percent, `n_persons`);
`run` reads the work panel, applies disclosure control (pipeline/disclosure.py) and writes the
releasable CSVs. Composition tables use one row per person of the study population (the refugees
table: characteristics fixed at arrival); by-botid tables use person-years with min_age <= alder <= max_age.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import disclosure, runlog
from pipeline.config import CATEGORIES, Settings
from pipeline.io import write_csv, write_text

STAGE = "describe"
OUTCOMES = ("arbeid_utdanning", "sysselsatt", "i_utdanning")
COUNTRY_GROUPS = ("syria", "iran", "irak", "afghanistan", "sudan", "somalia", "etiopia", "eritrea", "annet")
EDUCATION_GROUPS = (0, 1, 2, 3, 4, 5, 99)
AGE_BANDS = ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60+")
ADULT_AGE_AT_ARRIVAL = 20  # figs 3.5-3.7: "kun alder 20+ ved innvandring"

# Composition figures: figure id -> (group column, its levels, adults only?)
COMPOSITION = {
    "fig3_02": ("kjonn", (1, 2), False),
    "fig3_03": ("aldersgruppe", AGE_BANDS, False),
    "fig3_04": ("fodeland_gruppe", COUNTRY_GROUPS, False),
    "fig3_05": ("barn_innvandring", (0, 1, 2, 3), True),
    "fig3_06": ("partner_innvandring", (0, 1), True),
    "fig3_07": ("utdanning_innvandring", EDUCATION_GROUPS, True),
}
# By-botid figures: figure id -> group columns (lines within each category panel)
BY_BOTID = {
    "fig3_08": ("kjonn",),
    "fig3_09": ("fodeland_gruppe",),
    "fig3_10": ("innvandringsaar",),
    "fig3_11": ("kjonn", "partner_innvandring"),
    "fig3_12": ("aldersgruppe",),
    "fig3_13": ("utdanning_innvandring",),
    "fig3_14": ("barn_innvandring",),
}
# Fig 3.17 periods by immigration year; settlement year = immigration year + 1 (schema.py).
SETTLEMENT_PERIODS = {"2010-2015": (2010, 2015), "2016-2020": (2016, 2020)}
PER_INHABITANTS = 1000
# Figs 3.18-3.20 and the other BI characteristics: output name -> (column, transform).
# Shares (fractions in municipality_year) are reported in percent.
BI_CHARACTERISTICS = {
    "befolkning": ("befolkning", "level"),
    "inntekt_30_59": ("inntekt_30_59", "level"),
    "andel_uten_flyktningbakgrunn": ("andel_flyktningbakgrunn", "100_minus_pct"),
    "andel_flyktningbakgrunn": ("andel_flyktningbakgrunn", "pct"),
    "andel_innvandringsbakgrunn_ikke_flukt": ("andel_innvandringsbakgrunn_ikke_flukt", "pct"),
    "andel_sysselsatt_30_59": ("andel_sysselsatt_30_59", "pct"),
    "andel_arbeid_utdanning_30_59": ("andel_arbeid_utdanning_30_59", "pct"),
    "andel_hoyere_utdanning_30_59": ("andel_hoyere_utdanning_30_59", "pct"),
    "andel_sosialstonad_30_59": ("andel_sosialstonad_30_59", "pct"),
    "andel_innv_hoy_utd_inntekt_30_59": ("andel_innv_hoy_utd_inntekt_30_59", "pct"),
    "sentralitetsindeks": ("sentralitetsindeks", "level"),
    "andel_industri_2010": ("andel_industri_2010", "pct"),
    "andel_primaer_2010": ("andel_primaer_2010", "pct"),
}
BI_FIGURES = {"fig3_18": "befolkning", "fig3_19": "inntekt_30_59", "fig3_20": "andel_uten_flyktningbakgrunn"}
BI_ALL_CHARACTERISTICS = "fig3_18_20_characteristics"


# ---------------------------------------------------------------- person-level helpers (pure)

def age_band(age: pd.Series) -> pd.Series:
    """10-year bands of age at immigration (methods.md §2): 0-9, 10-19, ..., 50-59, 60+."""
    lower = (np.clip(age.to_numpy(dtype=float), 0, 60) // 10 * 10).astype(int)
    labels = {lo: (f"{lo}-{lo + 9}" if lo < 60 else "60+") for lo in range(0, 70, 10)}
    return pd.Series([labels[v] for v in lower], index=age.index, dtype=object)


def arrivals(refugees: pd.DataFrame) -> pd.DataFrame:
    """One row per person of the study population (WORK refugees table), with the age band at arrival.

    Everyone registered as settled counts, also a person who dies or emigrates before a person-year.
    """
    return refugees.reset_index(drop=True).assign(aldersgruppe=age_band(refugees["alder_innvandring"]))


# ---------------------------------------------------------------- composition (figs 3.1-3.7)

def settled_counts(persons: pd.DataFrame) -> pd.DataFrame:
    """Fig 3.1: number of persons per arrival year (innvandringsaar) and category."""
    counts = persons.groupby(["kategori", "innvandringsaar"], observed=True)["lopenr"].nunique()
    out = counts.rename("n_persons").reset_index()
    return _sort_categories(out, ["kategori", "innvandringsaar"])


def composition(persons: pd.DataFrame, group: str, levels: Sequence, *, adults_only: bool = False) -> pd.DataFrame:
    """Figs 3.2-3.7: share (%) of each `group` level among persons of an arrival year and category.

    share_pct = 100 * persons in level / persons in (kategori, innvandringsaar); n_persons is that
    denominator. Levels that do not occur get share 0. `adults_only` keeps alder_innvandring >= 20.
    """
    if adults_only:
        persons = persons[persons["alder_innvandring"] >= ADULT_AGE_AT_ARRIVAL]
    keys = ["kategori", "innvandringsaar"]
    totals = persons.groupby(keys, observed=True)["lopenr"].nunique().rename("n_persons")
    counts = persons.groupby([*keys, group], observed=True)["lopenr"].nunique().rename("count")
    grid = pd.MultiIndex.from_tuples(
        [(*k, level) for k in totals.index for level in levels], names=[*keys, group]
    )
    out = counts.reindex(grid, fill_value=0).reset_index()
    out = out.merge(totals.reset_index(), on=keys, how="left")
    out["share_pct"] = 100.0 * out["count"] / out["n_persons"]
    out = out[[*keys, group, "share_pct", "n_persons"]]
    out[group] = _ordered_levels(out[group], levels)
    return _sort_categories(out, [*keys, group]).assign(**{group: lambda f: f[group].astype(object)})


# ---------------------------------------------------------------- by botid (figs 3.8-3.14)

def working_age(person_year: pd.DataFrame, *, min_age: int, max_age: int) -> pd.DataFrame:
    """Person-years with min_age <= alder <= max_age (methods.md §1), with aldersgruppe added."""
    rows = person_year[(person_year["alder"] >= min_age) & (person_year["alder"] <= max_age)]
    return rows.assign(aldersgruppe=age_band(rows["alder_innvandring"]))


def share_by_botid(
    person_years: pd.DataFrame, groups: Sequence[str], *, outcomes: Sequence[str] = OUTCOMES
) -> pd.DataFrame:
    """Figs 3.8-3.14: share (%) with the outcome per category, botid and group.

    share_pct = 100 * mean(outcome) over the cell's person-years; n_persons = distinct lopenr,
    n_person_years = rows. One row per outcome x cell (`outcome` column), so the employment-only
    and education-only variants share this code path.
    """
    keys = ["kategori", "botid", *groups]
    grouped = person_years.groupby(keys, observed=True)   # the cells and their counts are the same for every outcome
    means, n_persons, n_person_years = grouped[list(outcomes)].mean(), grouped["lopenr"].nunique(), grouped.size()
    frames = []
    for outcome in outcomes:
        cell = pd.DataFrame({
            "share_pct": means[outcome] * 100.0,
            "n_persons": n_persons,
            "n_person_years": n_person_years,
        }).reset_index()
        cell.insert(0, "outcome", outcome)
        frames.append(cell)
    out = pd.concat(frames, ignore_index=True)
    out["outcome"] = pd.Categorical(out["outcome"], categories=list(outcomes), ordered=True)
    out = _sort_categories(out, ["outcome", *keys])
    out["outcome"] = out["outcome"].astype(str)
    return out


# ---------------------------------------------------------------- table 3.1

def summary_by_category(persons: pd.DataFrame) -> pd.DataFrame:
    """Table 3.1 in numbers: per category, arrivals over the whole period.

    Shares in percent of all persons (population `alle`) or of those aged 20+ at arrival
    (population `20+`); mean age in years; n_persons is the denominator of each row.
    """
    adults = persons[persons["alder_innvandring"] >= ADULT_AGE_AT_ARRIVAL]
    age = persons["alder_innvandring"]
    indicators: list[tuple[str, str, pd.DataFrame, pd.Series | None, str]] = [
        ("personer", "alle", persons, None, "count"),
        ("kvinner", "alle", persons, persons["kjonn"] == 2, "pct"),
        ("alder_0_17", "alle", persons, age < 18, "pct"),
        ("alder_18_29", "alle", persons, (age >= 18) & (age <= 29), "pct"),
        ("alder_30_49", "alle", persons, (age >= 30) & (age <= 49), "pct"),
        ("alder_50_pluss", "alle", persons, age >= 50, "pct"),
        ("alder_innvandring_snitt", "alle", persons, age.astype(float), "mean"),
    ]
    for country in COUNTRY_GROUPS:
        indicators.append((f"fodeland_{country}", "alle", persons, persons["fodeland_gruppe"] == country, "pct"))
    barn, utd = adults["barn_innvandring"], adults["utdanning_innvandring"]
    indicators += [
        ("uten_barn", "20+", adults, barn == 0, "pct"),
        ("barn_1_2", "20+", adults, barn.isin([1, 2]), "pct"),
        ("barn_3_pluss", "20+", adults, barn >= 3, "pct"),
        ("partner", "20+", adults, adults["partner_innvandring"] == 1, "pct"),
        ("utdanning_0_1", "20+", adults, utd.isin([0, 1]), "pct"),
        ("utdanning_2", "20+", adults, utd == 2, "pct"),
        ("utdanning_3", "20+", adults, utd == 3, "pct"),
        ("utdanning_4_5", "20+", adults, utd.isin([4, 5]), "pct"),
        ("utdanning_mangler", "20+", adults, utd == 99, "pct"),
    ]
    rows = []
    for name, population, frame, values, unit in indicators:
        for category in CATEGORIES:
            in_cat = (frame["kategori"] == category).to_numpy()
            n = int(frame.loc[in_cat, "lopenr"].nunique())
            if unit == "count":
                value = float(n)
            elif n == 0:
                value = np.nan
            elif unit == "pct":
                value = 100.0 * float(values.to_numpy()[in_cat].mean())
            else:
                value = float(values.to_numpy()[in_cat].mean())
            rows.append({"indicator": name, "population": population, "kategori": category,
                         "unit": "antall" if unit == "count" else ("prosent" if unit == "pct" else "aar"),
                         "value": value, "n_persons": n})
    return pd.DataFrame(rows)


def summary_markdown(table: pd.DataFrame, *, marker: str) -> str:
    """Table 3.1 as Markdown: one row per indicator, one column per category."""
    wide = table.pivot(index=["indicator", "population", "unit"], columns="kategori", values="value")
    order = list(dict.fromkeys(table["indicator"]))
    wide = wide.reindex(columns=list(CATEGORIES))
    wide = wide.reset_index().set_index("indicator").loc[order].reset_index()
    header = "| indikator | populasjon | enhet | " + " | ".join(CATEGORIES) + " |"
    lines = [header, "|" + "---|" * (3 + len(CATEGORIES))]
    for _, row in wide.iterrows():
        cells = [_format_cell(row[c], marker) for c in CATEGORIES]
        lines.append(f"| {row['indicator']} | {row['population']} | {row['unit']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- municipalities (figs 3.17-3.20)

def settlement_periods(
    municipality_year: pd.DataFrame, *, population_year: int, periods: dict[str, tuple[int, int]] = SETTLEMENT_PERIODS
) -> pd.DataFrame:
    """Fig 3.17: persons with a refugee-related reason (incl. 713, 71) settled per municipality and period.

    Periods are by immigration year; settlement year = immigration year + 1, so period (a, b) sums
    bosatt_flukt over aar in a+1..b+1 (years outside the panel are simply absent). Each period is
    labelled by the immigration years it holds (the report's "2016–2020" holds 2016–2019: arrivals of
    2020 settle after the data end). per_1000 = 1000 * settled / befolkning in `population_year`
    (report: 2010); the released value is computed from the rounded counts (`release_settlement`).
    """
    mun = municipality_year
    population = (mun[mun["aar"] == population_year].set_index("kommnr_2020")["befolkning"])
    names = mun.sort_values("aar").drop_duplicates("kommnr_2020", keep="last").set_index("kommnr_2020")["kommunenavn"]
    rows = []
    for label, (first, last) in periods.items():
        in_period = mun[(mun["aar"] >= first + 1) & (mun["aar"] <= last + 1)]
        settled = in_period.groupby("kommnr_2020")["bosatt_flukt"].sum()
        settled = settled.reindex(sorted(mun["kommnr_2020"].unique()), fill_value=0)
        years = sorted(in_period["aar"].unique())
        frame = pd.DataFrame({
            "kommnr_2020": settled.index.astype(str),
            "periode": f"{years[0] - 1}-{years[-1] - 1}" if years else label,
            "settlement_years": f"{years[0]}-{years[-1]}" if years else "",
            "n_persons": settled.to_numpy().astype(int),
        })
        pop = population.reindex(settled.index).to_numpy(dtype=float)
        frame["befolkning_ref"] = pop
        frame["befolkning_aar"] = population_year
        frame["per_1000"] = PER_INHABITANTS * frame["n_persons"] / pop
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    out.insert(1, "kommunenavn", out["kommnr_2020"].map(names).astype(object))
    return out.sort_values(["kommnr_2020", "periode"], kind="mergesort").reset_index(drop=True)


def bi_groups(intensity: pd.Series, *, method: str = "averaged_inverted_cdf") -> pd.Series:
    """Quintile group 1-5 by the report's boundary rule: BI <= P20 -> 1, P20 < BI <= P40 -> 2, ..., BI > P80 -> 5.

    Percentiles over municipalities with `numpy.percentile(method=...)`; the default
    (averaged inverted CDF) is Stata's `_pctile`/`xtile` definition.
    """
    values = intensity.to_numpy(dtype=float)
    cuts = np.percentile(values, [20, 40, 60, 80], method=method)
    groups = 1 + np.searchsorted(cuts, values, side="left")
    return pd.Series(groups.astype(int), index=intensity.index, name="bi_gruppe")


def settlement_intensity(municipality_year: pd.DataFrame, *, first_year: int, last_year: int) -> pd.DataFrame:
    """BI per municipality and category: sum of bosatt_<category> over first..last / mean befolkning over the same years."""
    mun = municipality_year[(municipality_year["aar"] >= first_year) & (municipality_year["aar"] <= last_year)]
    grouped = mun.groupby("kommnr_2020")
    out = pd.DataFrame({"befolkning_snitt": grouped["befolkning"].mean()})
    for category in CATEGORIES:
        out[f"bosatt_{category}"] = grouped[f"bosatt_{category}"].sum()
        out[f"bi_{category}"] = out[f"bosatt_{category}"] / out["befolkning_snitt"]
    return out


def bi_group_deviations(
    municipality_year: pd.DataFrame, *, first_year: int, last_year: int, method: str = "averaged_inverted_cdf"
) -> pd.DataFrame:
    """Figs 3.18-3.20: per category and BI group, group mean - all-municipality mean of each characteristic.

    Characteristics are municipality means over first..last (the report's population is the
    2011-2020 mean); shares in percent; deviation_pct = 100 * deviation / overall mean.
    n_persons = summed mean population of the group's municipalities (persons behind the means).
    """
    intensity = settlement_intensity(municipality_year, first_year=first_year, last_year=last_year)
    mun = municipality_year[(municipality_year["aar"] >= first_year) & (municipality_year["aar"] <= last_year)]
    means = mun.groupby("kommnr_2020")[sorted({c for c, _ in BI_CHARACTERISTICS.values()})].mean()
    values = pd.DataFrame(index=means.index)
    for name, (column, transform) in BI_CHARACTERISTICS.items():
        v = means[column].astype(float)
        values[name] = v if transform == "level" else (100.0 * v if transform == "pct" else 100.0 - 100.0 * v)
    values = values.reindex(intensity.index)
    rows = []
    for category in CATEGORIES:
        groups = bi_groups(intensity[f"bi_{category}"], method=method)
        overall = values.mean()
        for group in range(1, 6):
            members = groups.index[groups == group]
            group_mean = values.loc[members].mean()
            for name in BI_CHARACTERISTICS:
                deviation = group_mean[name] - overall[name]
                rows.append({
                    "kategori": category, "bi_gruppe": group, "characteristic": name,
                    "group_mean": group_mean[name], "overall_mean": overall[name],
                    "deviation": deviation,
                    "deviation_pct": 100.0 * deviation / overall[name] if overall[name] else np.nan,
                    "n_municipalities": len(members),
                    "n_persons": int(round(intensity.loc[members, "befolkning_snitt"].sum())),
                })
    out = pd.DataFrame(rows)
    for column in ("group_mean", "overall_mean", "deviation", "deviation_pct"):
        out[column] = out[column].astype(float).round(4)
    return out


# ---------------------------------------------------------------- stage

SHARES = disclosure.Columns(stats=("share_pct",), counts=("n_persons", "n_person_years"), shares=("share_pct",))
BI_STATISTICS = ("group_mean", "overall_mean", "deviation", "deviation_pct")


def build_tables(refugees: pd.DataFrame, person_year: pd.DataFrame, municipality_year: pd.DataFrame,
                 settings: Settings) -> dict[str, tuple[pd.DataFrame, disclosure.Columns]]:
    """Every descriptive table before disclosure control: name -> (frame, its columns by role)."""
    persons = arrivals(refugees)
    tables: dict[str, tuple[pd.DataFrame, disclosure.Columns]] = {
        "fig3_01": (settled_counts(persons), disclosure.Columns(counts=("n_persons",)))}
    for fig, (group, levels, adults) in COMPOSITION.items():
        tables[fig] = (composition(persons, group, levels, adults_only=adults), SHARES)
    ages = working_age(person_year, min_age=settings.min_age, max_age=settings.max_age)
    for fig, groups in BY_BOTID.items():
        tables[fig] = (share_by_botid(ages, groups), SHARES)
    tables["fig3_17"] = (settlement_periods(municipality_year, population_year=settings.settlement_population_year),
                         disclosure.Columns(stats=("per_1000",), counts=("n_persons",)))
    deviations = bi_group_deviations(municipality_year, first_year=settings.bi_first_year, last_year=settings.bi_last_year)
    bi_columns = disclosure.Columns(stats=BI_STATISTICS, counts=("n_persons",))
    for fig, characteristic in BI_FIGURES.items():
        tables[fig] = (deviations[deviations["characteristic"] == characteristic].reset_index(drop=True), bi_columns)
    tables[BI_ALL_CHARACTERISTICS] = (deviations, bi_columns)
    tables["table3_1"] = (summary_by_category(persons), disclosure.Columns(stats=("value",), counts=("n_persons",)))
    return tables


def release(tables: dict[str, tuple[pd.DataFrame, disclosure.Columns]],
            *, policy: disclosure.Policy) -> dict[str, tuple[pd.DataFrame, int]]:
    """Disclosure control of every table: name -> (releasable frame, suppressed cells)."""
    special = {"fig3_17": release_settlement, "table3_1": release_summary,
               **dict.fromkeys(BY_BOTID, release_by_botid)}
    return {name: special.get(name, _release_table)(frame, columns, policy=policy)
            for name, (frame, columns) in tables.items()}


def release_by_botid(frame: pd.DataFrame, columns: disclosure.Columns, *,
                     policy: disclosure.Policy) -> tuple[pd.DataFrame, int]:
    """Figs 3.8–3.14 split one (kategori, botid) population in seven ways (fig 3.11 splits fig 3.8's
    sexes): a split with one hidden cell would give it back by subtraction, so a second cell is hidden
    (pipeline/disclosure.complementary_cells)."""
    groups = [c for c in frame.columns if c not in ("outcome", "kategori", "botid", "share_pct", "n_persons",
                                                     "n_person_years")]
    margins = [["kategori", "botid", *groups[:-1]], ["kategori", "botid"]] if len(groups) > 1 else [["kategori", "botid"]]
    extra = disclosure.complementary_cells(frame, margins=margins, cell=["kategori", "botid", *groups],
                                           min_persons=policy.min_persons)
    return disclosure.release(frame, policy=policy, columns=columns, also_hide=extra)


def _release_table(frame: pd.DataFrame, columns: disclosure.Columns, *,
                   policy: disclosure.Policy) -> tuple[pd.DataFrame, int]:
    return disclosure.release(frame, policy=policy, columns=columns)


def release_settlement(frame: pd.DataFrame, columns: disclosure.Columns, *,
                       policy: disclosure.Policy) -> tuple[pd.DataFrame, int]:
    """Fig 3.17: counts and the population rounded; per 1 000 inhabitants from the rounded numbers."""
    population = disclosure.round_count(frame["befolkning_ref"], policy.count_base)
    rounded = disclosure.round_count(frame["n_persons"], policy.count_base)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_1000 = np.where(population > 0, PER_INHABITANTS * rounded / population, np.nan)
    derived = frame.assign(per_1000=np.round(per_1000, 2))
    out, n_suppressed = disclosure.release(derived, policy=policy, columns=columns)
    out["befolkning_ref"] = [int(v) if np.isfinite(v) else v for v in population]
    return out, n_suppressed


def release_summary(frame: pd.DataFrame, columns: disclosure.Columns, *,
                    policy: disclosure.Policy) -> tuple[pd.DataFrame, int]:
    """Table 3.1: `value` by its unit — a count rounded like every count, a share to the policy's decimals,
    a mean age to one decimal."""
    value = frame["value"].to_numpy(dtype=float)
    unit = frame["unit"].to_numpy()
    value = np.where(unit == "antall", disclosure.round_count(value, policy.count_base),
                     np.where(unit == "prosent", disclosure.round_share(value, policy.share_decimals),
                              disclosure.round_share(value, 1)))
    return disclosure.release(frame.assign(value=value), policy=policy, columns=columns)


def counted_by_code(frame: pd.DataFrame) -> pd.DataFrame:
    """lopenr as numeric codes: the tables only count distinct persons, and codes count the same as the
    text ids (a missing id stays missing), many times faster."""
    codes = pd.factorize(frame["lopenr"])[0]
    return frame.assign(lopenr=np.where(codes < 0, np.nan, codes))


def run(settings: Settings) -> list[Path]:
    """Read the work panel, build and release every descriptive table, write them to settings.paths.tables."""
    refugees = counted_by_code(pd.read_parquet(settings.paths.refugees))
    person_year = counted_by_code(pd.read_parquet(settings.paths.person_year))
    municipality_year = pd.read_parquet(settings.paths.municipality_year)
    municipality_year = municipality_year.assign(kommnr_2020=municipality_year["kommnr_2020"].astype(str))
    released = release(build_tables(refugees, person_year, municipality_year, settings), policy=settings.disclosure)
    written: list[Path] = []
    for name, (frame, n_suppressed) in released.items():
        written.append(write_csv(frame, settings.paths.tables / f"{name}.csv"))
        runlog.record(settings.paths.run_log, STAGE, "suppressed", output=f"{name}.csv", cells=n_suppressed, rows=len(frame))
    table31 = released["table3_1"][0]
    written.append(write_text(summary_markdown(table31, marker=settings.suppression_marker), settings.paths.tables / "table3_1.md"))
    return written


# ---------------------------------------------------------------- small helpers

def _sort_categories(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by `keys`, with kategori in CATEGORIES order (ordered categoricals sort by their levels)."""
    ranked = frame.assign(kategori=pd.Categorical(frame["kategori"], categories=list(CATEGORIES), ordered=True))
    out = ranked.sort_values(keys, kind="mergesort").reset_index(drop=True)
    out["kategori"] = out["kategori"].astype(str)
    return out


def _ordered_levels(values: pd.Series, levels: Sequence) -> pd.Categorical:
    return pd.Categorical(values, categories=list(levels), ordered=True)


def _format_cell(value: object, marker: str) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    number = float(value)
    return f"{number:,.0f}".replace(",", " ") if number.is_integer() else f"{number:.1f}"
