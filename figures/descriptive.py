"""Figures 3.1-3.14: arrivals, composition by arrival year, and outcome shares by botid.

Each function takes the releasable table (suppressed cells already NaN) and returns a Figure.
Suppressed cells are left out: a composition bar with any suppressed share is not drawn, and a
by-botid line has a gap where a point is suppressed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from figures import style
from pipeline.config import CATEGORIES

COMPOSITION_LEVELS = {
    "kjonn": ("1", "2"),
    "aldersgruppe": ("0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60+"),
    "fodeland_gruppe": ("syria", "iran", "irak", "afghanistan", "sudan", "somalia", "etiopia", "eritrea", "annet"),
    "barn_innvandring": ("0", "1", "2", "3"),
    "partner_innvandring": ("0", "1"),
    "utdanning_innvandring": ("0", "1", "2", "3", "4", "5", "99"),
}
LEGEND_COLUMNS = {"utdanning_innvandring": 3, "aldersgruppe": 4, "fodeland_gruppe": 5}
# The education colours run light to dark with grey for missing, as a reading aid.
EDUCATION_COLOURS = ("#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#08306b", "#bdbdbd")


def _key(value: object) -> str:
    return style._key(value)


def _levels(frame: pd.DataFrame, column: str) -> list[str]:
    present = list(dict.fromkeys(_key(v) for v in frame[column]))
    known = COMPOSITION_LEVELS.get(column)
    if known is None:
        return sorted(present, key=lambda v: (len(v), v))
    return [v for v in known if v in present] + [v for v in present if v not in known]


def _year_ticks(ax, years) -> None:
    """Even years as ticks (2010, 2012, ...), as in the report."""
    years = [int(y) for y in years]
    if years:
        ax.set_xticks([y for y in range(min(years), max(years) + 1) if y % 2 == 0])


def _line_label(groups: Sequence[str], values: Sequence[str], language: str) -> str:
    """Legend text of a line: level labels joined, later parts starting in lower case (e.g. 'Menn, ikke partner')."""
    parts = [style.level_label(g, v, language) for g, v in zip(groups, values)]
    parts = parts[:1] + [p[:1].lower() + p[1:] if g == "partner_innvandring" else p for g, p in zip(groups[1:], parts[1:])]
    return style.label("and", language).join(parts)


def _category_panels(fig: Figure, axes: Sequence, language: str) -> None:
    for ax, category in zip(axes, CATEGORIES):
        ax.set_title(style.label(f"kategori.{category}", language))


def fig3_01(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.1: persons settled per arrival year, one line per category."""
    with style.context():
        fig, (ax,) = style.new_figure(1, height=2.8)
        for i, category in enumerate(CATEGORIES):
            rows = frame[frame["kategori"] == category].sort_values("innvandringsaar")
            ax.plot(rows["innvandringsaar"].astype(int), rows["n_persons"].astype(float), marker=style.marker(i),
                    color=style.CATEGORY_COLOURS[category], label=style.label(f"kategori.{category}", language))
        ax.set_xlabel(style.label("innvandringsaar", language))
        ax.set_ylabel(style.label("antall_personer", language))
        ax.yaxis.set_major_formatter(style.thousands(language))
        _year_ticks(ax, frame["innvandringsaar"])
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left")
    return fig


def composition_figure(frame: pd.DataFrame, group: str, *, language: str = "no", adults_only: bool = False) -> Figure:
    """Figures 3.2-3.7: stacked shares (%) of `group` per arrival year, one panel per category."""
    levels = _levels(frame, group)
    keys = frame.assign(_level=frame[group].map(_key))
    with style.context():
        fig, axes = style.new_figure(3)
        for ax, category in zip(axes, CATEGORIES):
            rows = keys[keys["kategori"] == category]
            wide = rows.pivot_table(index="innvandringsaar", columns="_level", values="share_pct", aggfunc="first",
                                    dropna=False).reindex(columns=levels)
            wide.index = wide.index.astype(int)
            complete = wide.notna().all(axis=1)  # a bar with a suppressed share is left out
            wide = wide[complete].sort_index()
            bottom = np.zeros(len(wide))
            for i, level in enumerate(levels):
                colour = EDUCATION_COLOURS[i % len(EDUCATION_COLOURS)] if group == "utdanning_innvandring" else style.colour(i)
                ax.bar(wide.index, wide[level].to_numpy(), bottom=bottom, width=0.8, color=colour,
                       label=style.level_label(group, level, language), linewidth=0)
                bottom += wide[level].to_numpy()
            ax.set_ylim(0, 100)
            _year_ticks(ax, wide.index)
            ax.set_xlabel(style.label("innvandringsaar", language))
        _category_panels(fig, axes, language)
        if adults_only:
            fig.suptitle(style.label("adults_only", language), fontsize=7, color="#444444")
        axes[0].set_ylabel(style.label(f"composition.{group}", language))
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=style.legend_columns(len(levels), LEGEND_COLUMNS.get(group, 5)))
    return fig


def botid_figure(frame: pd.DataFrame, groups: Sequence[str], *, language: str = "no",
                 outcome: str = "arbeid_utdanning") -> Figure:
    """Figures 3.8-3.14: share (%) with `outcome` by botid, one panel per category, one line per group."""
    rows = frame[frame["outcome"] == outcome] if "outcome" in frame.columns else frame
    keys = rows.assign(_line=rows[list(groups)].apply(lambda r: tuple(_key(v) for v in r), axis=1))
    level_orders = [_levels(rows, g) for g in groups]
    lines = sorted(set(keys["_line"]), key=lambda t: tuple(level_orders[i].index(v) for i, v in enumerate(t)))
    with style.context():
        fig, axes = style.new_figure(3)
        for ax, category in zip(axes, CATEGORIES):
            in_cat = keys[keys["kategori"] == category]
            for i, line in enumerate(lines):
                points = in_cat[in_cat["_line"] == line].assign(botid=lambda f: f["botid"].astype(int))
                points = points.set_index("botid")["share_pct"].sort_index()
                if points.empty:
                    continue
                full = points.reindex(range(int(points.index.min()), int(points.index.max()) + 1))
                label = _line_label(groups, line, language)
                ax.plot(full.index, full.to_numpy(dtype=float), color=style.colour(i), marker=style.marker(i),
                        label=label)
            ax.set_ylim(0, 100)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(style.label("botid", language))
        _category_panels(fig, axes, language)
        axes[0].set_ylabel(style.label(f"outcome.{outcome}", language))
        handles, labels = [], []
        for ax in axes:  # a line may be absent (suppressed) in some panels
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        order = {_line_label(groups, line, language): k for k, line in enumerate(lines)}
        pairs = sorted(zip(handles, labels), key=lambda p: order.get(p[1], 0))
        fig.legend([p[0] for p in pairs], [p[1] for p in pairs], loc="outside lower center",
                   ncol=style.legend_columns(len(pairs)))
    return fig


def fig3_02(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.2: composition by sex."""
    return composition_figure(frame, "kjonn", language=language)


def fig3_03(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.3: composition by age band at immigration."""
    return composition_figure(frame, "aldersgruppe", language=language)


def fig3_04(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.4: composition by country of birth group."""
    return composition_figure(frame, "fodeland_gruppe", language=language)


def fig3_05(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.5: ages 20+ at arrival, by own children under 18."""
    return composition_figure(frame, "barn_innvandring", language=language, adults_only=True)


def fig3_06(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.6: ages 20+ at arrival, by partner status."""
    return composition_figure(frame, "partner_innvandring", language=language, adults_only=True)


def fig3_07(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.7: ages 20+ at arrival, by education level (incl. missing)."""
    return composition_figure(frame, "utdanning_innvandring", language=language, adults_only=True)


def fig3_08(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.8: by sex."""
    return botid_figure(frame, ("kjonn",), language=language, outcome=outcome)


def fig3_09(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.9: by country of birth group."""
    return botid_figure(frame, ("fodeland_gruppe",), language=language, outcome=outcome)


def fig3_10(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.10: by immigration year."""
    return botid_figure(frame, ("innvandringsaar",), language=language, outcome=outcome)


def fig3_11(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.11: by partner status, split by sex."""
    return botid_figure(frame, ("kjonn", "partner_innvandring"), language=language, outcome=outcome)


def fig3_12(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.12: by age band at immigration."""
    return botid_figure(frame, ("aldersgruppe",), language=language, outcome=outcome)


def fig3_13(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.13: by education level at arrival."""
    return botid_figure(frame, ("utdanning_innvandring",), language=language, outcome=outcome)


def fig3_14(frame: pd.DataFrame, *, language: str = "no", outcome: str = "arbeid_utdanning") -> Figure:
    """Figure 3.14: by number of children at arrival."""
    return botid_figure(frame, ("barn_innvandring",), language=language, outcome=outcome)
