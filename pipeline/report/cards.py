"""One card per municipality: "do we do better than our refugees' composition predicts?"

Built from released tables only: kommunebidrag.csv (raw contributions, and the shrunk ones, their
intervals and rank intervals when the run has them), kommune_observert_predikert.csv (observed against
predicted by botid band) and kommuner.csv (names, centrality class). A number the tables hold as the
marker is shown as the marker; a group without released numbers says so; a municipality without any
released group gets a card that says only that.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.report import fmt, svg
from pipeline.report.sources import Releasable, numbers
from pipeline.report.tables import Cell, HtmlTable, cell

GROUPS = ("alle", "asyl", "overforing", "familie")
TABLES = ("kommunebidrag", "kommune_observert_predikert", "kommuner")   # the released tables of the cards
EB_COLUMNS = ("eb_estimate", "eb_std_error", "eb_ci_low", "eb_ci_high")
RANK_COLUMNS = ("rank", "rank_ci_low", "rank_ci_high")
Z95 = 1.959963984540054


@dataclass(frozen=True)
class CardOptions:
    language: str
    marker: str
    min_persons: int
    max_botid: int
    normalisation: str = ""
    share_decimals: int = 0   # rates are published with this many decimals (pipeline/disclosure.py)


@dataclass
class CardContext:
    """Everything every card needs, read once and arranged as plain lookups (a card is dict look-ups)."""

    options: CardOptions
    words: dict
    text: dict[tuple[str, str], dict[str, str]]       # (gruppe, kommnr) -> kommunebidrag.csv row as text
    numeric: dict[tuple[str, str], dict[str, float]]  # the same row as numbers (NaN for the marker)
    cells: dict[tuple[str, str], dict[str, dict[str, str]]] | None  # (gruppe, kommnr) -> band -> row as text
    names: dict[str, tuple[str, str]]                  # kommnr -> (name, centrality class)
    bands: list[str]
    total_band: str
    means: dict[str, float]              # gruppe -> person-year-weighted mean of the released contributions
    n_ranked: dict[str, int]
    has_eb: bool
    has_rank: bool
    funnel_points: dict[str, list[tuple[str, float, float]]] = field(default_factory=dict)
    # centrality class -> (kommnr, name, contribution for all refugees) of its released municipalities
    peers_by_class: dict[str, list[tuple[str, str, float]]] = field(default_factory=dict)
    funnel: svg.FunnelDrawing | None = None   # the funnel as every card shares it (load_context draws it)

    @functools.cached_property
    def municipalities(self) -> list[str]:
        codes = set(self.names) | {k for _, k in self.text}
        if self.cells is not None:
            codes |= {k for _, k in self.cells}
        return sorted(codes)


def _rows(frame: pd.DataFrame) -> list[dict]:
    """The rows as dicts (column lists zipped: much faster than DataFrame.to_dict on text columns)."""
    columns = list(frame.columns)
    return [dict(zip(columns, values)) for values in zip(*(frame[c].tolist() for c in columns))]


def _records(frame: pd.DataFrame) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["gruppe"], r["kommnr_2020"]): r for r in _rows(frame)}


def load_context(releasable: Releasable, *, options: CardOptions, words: dict) -> CardContext:
    """Arrange the released tables for the cards (kommunebidrag.csv must exist)."""
    contributions = releasable.table("kommunebidrag")
    if contributions is None:
        raise FileNotFoundError("kommunebidrag.csv is not in the output directory: run estimate first")
    marker = options.marker
    numeric_frame = contributions[["gruppe", "kommnr_2020"]].copy()
    for column in ("estimate", "std_error", "n_persons", "n_person_years", *EB_COLUMNS, *RANK_COLUMNS):
        if column in contributions.columns:
            numeric_frame[column] = numbers(contributions[column], marker=marker)
    cells_frame = releasable.table("kommune_observert_predikert")
    cells = None
    total = f"0-{options.max_botid}"
    bands: list[str] = []
    means = {}
    if cells_frame is not None:
        cells = {}
        for row in _rows(cells_frame):
            cells.setdefault((row["gruppe"], row["kommnr_2020"]), {})[row["botid"]] = row
        bands = [b for b in dict.fromkeys(cells_frame["botid"]) if b != total]
        if "contribution_mean_pp" in cells_frame.columns:
            for gruppe, values in cells_frame.groupby("gruppe")["contribution_mean_pp"]:
                finite = numbers(values, marker=marker).dropna()
                if len(finite):
                    means[gruppe] = float(finite.iloc[0])
    for gruppe in GROUPS:
        released = numeric_frame.loc[numeric_frame["gruppe"] == gruppe].dropna(subset=["estimate", "n_person_years"])
        if gruppe not in means:
            means[gruppe] = float(np.average(released["estimate"], weights=released["n_person_years"])) \
                if len(released) and released["n_person_years"].sum() > 0 else math.nan
    names_table = releasable.table("kommuner")
    names = {} if names_table is None else {
        r["kommnr_2020"]: (r["kommunenavn"], str(r["sentralitetsklasse"])) for r in _rows(names_table)}
    numeric = _records(numeric_frame)
    funnel_points = {g: [(k, v["estimate"], v["std_error"]) for (gg, k), v in sorted(numeric.items())
                         if gg == g and _finite(v["estimate"]) and _finite(v["std_error"]) and v["std_error"] > 0]
                     for g in GROUPS}
    has_rank = all(c in numeric_frame.columns for c in RANK_COLUMNS)
    n_ranked = {g: int(numeric_frame.loc[numeric_frame["gruppe"] == g, "rank"].notna().sum()) if has_rank else 0
                for g in GROUPS}
    normalisation = contributions["normalisation"].iloc[0] if len(contributions) and \
        "normalisation" in contributions.columns else ""
    options = CardOptions(**{**options.__dict__, "normalisation": normalisation})
    ctx = CardContext(options=options, words=words, text=_records(contributions), numeric=numeric, cells=cells,
                      names=names, bands=bands, total_band=total, means=means, n_ranked=n_ranked,
                      has_eb=all(c in numeric_frame.columns for c in EB_COLUMNS), has_rank=has_rank,
                      funnel_points=funnel_points, peers_by_class=_peers_by_class(names, numeric))
    # drawn once for all cards, instead of once per card
    ctx.funnel = svg.funnel_drawing(funnel_panels(ctx), words=words, language=options.language)
    return ctx


def _peers_by_class(names: dict[str, tuple[str, str]],
                    numeric: dict[tuple[str, str], dict[str, float]]) -> dict[str, list[tuple[str, str, float]]]:
    """Centrality class -> (kommnr, name, contribution for all refugees) of its released municipalities."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for code, (name, klasse) in sorted(names.items()):
        estimate = numeric.get(("alle", code), {}).get("estimate", math.nan)
        if _finite(estimate):
            out.setdefault(klasse, []).append((code, name, estimate))
    return out


def _num_of(ctx: CardContext, key: tuple[str, str], column: str) -> float:
    return ctx.numeric.get(key, {}).get(column, math.nan)


def _text_of(ctx: CardContext, key: tuple[str, str], column: str) -> str | None:
    value = ctx.text.get(key, {}).get(column)
    return None if value is None else str(value)


def _group_label(ctx: CardContext, gruppe: str) -> str:
    return ctx.words[f"group_{gruppe}"]


def _band_cells(ctx: CardContext, kommnr: str, gruppe: str) -> dict[str, dict[str, str]] | None:
    return None if ctx.cells is None else ctx.cells.get((gruppe, kommnr))


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _num(value: object) -> float:
    return float(value) if _finite(value) else math.nan  # type: ignore[arg-type]


def _cell_number(rows: dict[str, dict[str, str]] | None, band: str, column: str) -> float:
    """A released number of the observed/predicted table (NaN for the marker or a missing cell)."""
    if rows is None or band not in rows:
        return math.nan
    return _num(rows[band].get(column))


def released_groups(ctx: CardContext, kommnr: str) -> list[str]:
    """Groups with any released number for the municipality."""
    out = []
    for gruppe in GROUPS:
        rows = _band_cells(ctx, kommnr, gruppe)
        observed = [_cell_number(rows, b, "observed_pct") for b in (rows or {})]
        if _finite(_num_of(ctx, (gruppe, kommnr), "estimate")) or any(_finite(v) for v in observed):
            out.append(gruppe)
    return out


def band_panels(ctx: CardContext, kommnr: str) -> list[svg.BandPanel]:
    panels = []
    for gruppe in GROUPS:
        rows = _band_cells(ctx, kommnr, gruppe)
        if rows is None:
            continue
        panels.append(svg.BandPanel(gruppe, _group_label(ctx, gruppe),
                                    [_cell_number(rows, b, "observed_pct") for b in ctx.bands],
                                    [_cell_number(rows, b, "predicted_pct") for b in ctx.bands],
                                    (_cell_number(rows, ctx.total_band, "observed_pct"),
                                     _cell_number(rows, ctx.total_band, "predicted_pct"))))
    return panels


def interval_rows(ctx: CardContext, kommnr: str) -> list[svg.IntervalRow]:
    rows = []
    for gruppe in GROUPS:
        key = (gruppe, kommnr)
        estimate, se = _num_of(ctx, key, "estimate"), _num_of(ctx, key, "std_error")
        raw = (estimate, estimate - Z95 * se, estimate + Z95 * se)
        shrunk = tuple(_num_of(ctx, key, c) for c in ("eb_estimate", "eb_ci_low", "eb_ci_high")) \
            if ctx.has_eb else None
        rows.append(svg.IntervalRow(gruppe, _group_label(ctx, gruppe), raw, shrunk, ctx.means.get(gruppe, math.nan)))
    return rows


def funnel_panels(ctx: CardContext) -> list[svg.FunnelPanel]:
    return [svg.FunnelPanel(g, _group_label(ctx, g), ctx.funnel_points[g], ctx.means.get(g, math.nan))
            for g in GROUPS]


def peers(ctx: CardContext, kommnr: str) -> list[tuple[str, str, float]]:
    """(kommnr, name, contribution for all refugees) of the released municipalities of the same class."""
    klasse = ctx.names.get(kommnr, ("", ""))[1]
    if not klasse:
        return []
    return list(ctx.peers_by_class.get(klasse, ()))


def _c(ctx: CardContext, value: object, decimals: int, count: str | None = None) -> Cell:
    """A number, or the marker for NaN / a missing value."""
    o = ctx.options
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Cell(o.marker, "marker", count)
    return cell(value, decimals=decimals, language=o.language, marker=o.marker, count=count)


def _interval(ctx: CardContext, lo: float, hi: float, decimals: int = 1) -> Cell:
    if not (_finite(lo) and _finite(hi)):
        return Cell(ctx.options.marker, "marker")
    lang = ctx.options.language
    return Cell(f"[{fmt.number(lo, decimals=decimals, language=lang)}; {fmt.number(hi, decimals=decimals, language=lang)}]",
                "num")


def group_table(ctx: CardContext, kommnr: str) -> HtmlTable:
    """Per group: persons, person-years, observed, predicted, gap, contribution with its interval, the
    contribution minus the national mean, shrunk with its interval and the rank interval."""
    w, o = ctx.words, ctx.options
    header = [w["group"], w["persons"], w["person_years"], w["observed"] + ", %", w["predicted_short"] + ", %",
              w["gap"], w["contribution"], w["contribution_ci"], w["contribution_vs_mean"]]
    if ctx.has_eb:
        header += [w["shrunk"], w["shrunk_ci"]]
    if ctx.has_rank:
        header += [w["rank"], w["rank_ci"]]
    rows = []
    for gruppe in GROUPS:
        key = (gruppe, kommnr)
        estimate, se = _num_of(ctx, key, "estimate"), _num_of(ctx, key, "std_error")
        band = _band_cells(ctx, kommnr, gruppe)
        row = [Cell(_group_label(ctx, gruppe)),
               _c(ctx, _text_of(ctx, key, "n_persons"), 0, "persons"),
               _c(ctx, _text_of(ctx, key, "n_person_years"), 0, "person_years"),
               *(_c(ctx, _cell_number(band, ctx.total_band, column), o.share_decimals)
                 for column in ("observed_pct", "predicted_pct")),
               _c(ctx, _cell_number(band, ctx.total_band, "gap_pp"), 1),
               _c(ctx, estimate, 1),
               _interval(ctx, estimate - Z95 * se, estimate + Z95 * se),
               _c(ctx, estimate - ctx.means.get(gruppe, math.nan), 1)]
        if ctx.has_eb:
            row += [_c(ctx, _num_of(ctx, key, "eb_estimate"), 1),
                    _interval(ctx, _num_of(ctx, key, "eb_ci_low"), _num_of(ctx, key, "eb_ci_high"))]
        if ctx.has_rank:
            rank = _num_of(ctx, key, "rank")
            row += [Cell(f"{fmt.number(rank, decimals=0, language=o.language)} {w['of']} {ctx.n_ranked[gruppe]}", "num")
                    if _finite(rank) else Cell(o.marker, "marker"),
                    _interval(ctx, _num_of(ctx, key, "rank_ci_low"), _num_of(ctx, key, "rank_ci_high"), decimals=0)]
        rows.append(row)
    return HtmlTable("groups", header, rows)


def peers_table(ctx: CardContext, kommnr: str, peer_list: list[tuple[str, str, float]]) -> HtmlTable:
    w = ctx.words
    rows, classes = [], []
    for code, name, estimate in sorted(peer_list, key=lambda t: (-t[2], t[0])):
        se = _num_of(ctx, ("alle", code), "std_error")
        rows.append([Cell(f"{name} ({code})"), _c(ctx, _text_of(ctx, ("alle", code), "n_persons"), 0, "persons"),
                     _c(ctx, estimate, 1), _interval(ctx, estimate - Z95 * se, estimate + Z95 * se)])
        classes.append("highlight" if code == kommnr else "")
    return HtmlTable("peers", [w["municipality"], w["persons"], w["contribution"], w["contribution_ci"]], rows,
                     row_classes=classes)


def normalisation_text(ctx: CardContext) -> str:
    label = ctx.options.normalisation
    if label.startswith("reference:"):
        return ctx.words["normalisation_reference"].format(kommnr=label.split(":", 1)[1])
    return ctx.words["normalisation_mean"]


def headline(ctx: CardContext, kommnr: str, name: str) -> tuple[str, str]:
    """(headline sentence for all refugees, the agreement check of gap and contribution − mean)."""
    w, o = ctx.words, ctx.options
    lang = o.language
    band = _band_cells(ctx, kommnr, "alle")
    observed, predicted, gap = (_cell_number(band, ctx.total_band, c) for c in ("observed_pct", "predicted_pct", "gap_pp"))
    if not _finite(observed):
        return w["headline_absent"].format(min_persons=o.min_persons), ""
    text = w["headline"].format(name=name, observed=fmt.number(observed, decimals=o.share_decimals, language=lang),
                                predicted=fmt.number(predicted, decimals=o.share_decimals, language=lang),
                                gap=fmt.signed(gap, decimals=1, language=lang), bands=ctx.total_band.replace("-", "–"))
    estimate = _num_of(ctx, ("alle", kommnr), "estimate")
    mean = ctx.means.get("alle", math.nan)
    if not (_finite(estimate) and _finite(mean)):
        return text, ""
    check = w["agree"].format(gap=fmt.signed(gap, decimals=2, language=lang),
                              contribution=fmt.number(estimate, decimals=2, language=lang),
                              mean=fmt.number(mean, decimals=2, language=lang) if mean >= 0 else
                              f"({fmt.number(mean, decimals=2, language=lang)})",
                              difference=fmt.signed(estimate - mean, decimals=2, language=lang))
    return text, check


def card(ctx: CardContext, kommnr: str, *, target: float | None) -> dict:
    """The template's data for one municipality's card."""
    w, o = ctx.words, ctx.options
    name, klasse = ctx.names.get(kommnr, (kommnr, ""))
    base = {"kommnr": kommnr, "name": name, "klasse": klasse, "words": w, "options": o,
            "title": w["card_title"].format(name=name, kommnr=kommnr)}
    groups = released_groups(ctx, kommnr)
    if not groups:
        return {**base, "releasable": False,
                "nothing": w["nothing_releasable"].format(name=name, min_persons=o.min_persons)}
    head, check = headline(ctx, kommnr, name)
    peer_list = peers(ctx, kommnr)
    peer_values = [v for _, _, v in peer_list]
    charts = chart_svgs(ctx, kommnr, target=target, peer_list=peer_list)
    return {**base, "releasable": True, "headline": head, "check": check, "target": target,
            "target_text": w["target_line"].format(target=fmt.number(target, decimals=0, language=o.language))
            if target is not None else "",
            "groups_table": group_table(ctx, kommnr), "charts": charts,
            "normalisation": normalisation_text(ctx), "bands_total": ctx.total_band.replace("-", "–"),
            "funnel_positions": funnel_positions(ctx, kommnr),
            "peers": peer_list, "peers_table": peers_table(ctx, kommnr, peer_list) if peer_list else None,
            "peers_median": fmt.number(float(np.median(peer_values)), decimals=1, language=o.language)
            if peer_values else "",
            "rank_absent": not ctx.has_rank, "eb_absent": not ctx.has_eb, "cells_absent": ctx.cells is None}


def funnel_positions(ctx: CardContext, kommnr: str) -> list[str]:
    out = []
    for gruppe in GROUPS:
        estimate, se = _num_of(ctx, (gruppe, kommnr), "estimate"), _num_of(ctx, (gruppe, kommnr), "std_error")
        mean = ctx.means.get(gruppe, math.nan)
        if _finite(estimate) and _finite(se) and se > 0 and _finite(mean):
            position = ctx.words[svg.funnel_position(estimate, se, mean)]
            out.append(ctx.words["funnel_position"].format(group=_group_label(ctx, gruppe), position=position))
    return out


def chart_svgs(ctx: CardContext, kommnr: str, *, target: float | None,
               peer_list: list[tuple[str, str, float]] | None = None) -> dict[str, str]:
    """Every inline SVG of the card, by name (the disclosure check draws them again to compare)."""
    o, w = ctx.options, ctx.words
    common = {"words": w, "language": o.language}
    charts = {}
    if ctx.cells is not None:
        charts["observed"] = svg.observed_predicted(band_panels(ctx, kommnr), bands=ctx.bands, target=target,
                                                    total_label=ctx.total_band,
                                                    marker=o.marker, min_persons=o.min_persons, **common)
    charts["intervals"] = svg.intervals(interval_rows(ctx, kommnr), marker=o.marker, min_persons=o.min_persons,
                                        **common)
    charts["funnel"] = svg.funnel(funnel_panels(ctx), highlight=kommnr, drawing=ctx.funnel, **common)
    peer_list = peers(ctx, kommnr) if peer_list is None else peer_list
    if peer_list:
        charts["peers"] = svg.peers_strip(peer_list, highlight=kommnr, **common)
    return charts
