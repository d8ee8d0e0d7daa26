"""Figures 3.17 (settled 2010-2015 against 2016-2019 arrivals) and 3.18-3.20 (BI-group deviations)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from figures import style
from pipeline.config import CATEGORIES


def fig3_17(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.17: per municipality, settled in the first period (x) against the second (y).

    Left: number of persons; right: per 1 000 inhabitants. Municipalities with a suppressed value
    in either period are left out; the dashed line is y = x.
    """
    periods = list(dict.fromkeys(frame["periode"]))[:2]
    with style.context():
        fig, axes = style.new_figure(2, height=3.0, sharey=False)
        for ax, column, title in zip(axes, ("n_persons", "per_1000"), ("fig3_17.abs", "fig3_17.rate")):
            wide = frame.pivot_table(index="kommnr_2020", columns="periode", values=column, aggfunc="first",
                                     dropna=False).reindex(columns=periods).dropna()
            x, y = wide[periods[0]].to_numpy(dtype=float), wide[periods[1]].to_numpy(dtype=float)
            ax.scatter(x, y, s=9, color=style.PALETTE[0], alpha=0.75, linewidths=0)
            top = float(max(x.max(initial=0), y.max(initial=0))) * 1.05 or 1.0
            ax.plot([0, top], [0, top], linestyle="--", color="#777777", linewidth=0.8)
            ax.set_xlim(0, top)
            ax.set_ylim(0, top)
            suffix = ""
            if column == "per_1000" and "befolkning_aar" in frame.columns and len(frame):
                suffix = f" ({style.label('fig3_17.population', language)} {frame['befolkning_aar'].iloc[0]})"
            ax.set_title(style.label(title, language) + suffix)
            ax.xaxis.set_major_formatter(style.thousands(language))
            ax.yaxis.set_major_formatter(style.thousands(language))
            ax.set_xlabel(_period_label(frame, periods[0], language))
            ax.set_ylabel(_period_label(frame, periods[1], language))
            ax.grid(axis="x", visible=True)
    return fig


def _period_label(frame: pd.DataFrame, period: str, language: str) -> str:
    """Axis label naming the immigration years a period holds and the 1 Januarys they settled on."""
    settled = frame.loc[frame["periode"] == period, "settlement_years"].iloc[0] if "settlement_years" in frame else ""
    return style.label("fig3_17.axis", language).format(years=str(period).replace("-", "–"),
                                                         settled=str(settled).replace("-", "–"))


def bi_figure(frame: pd.DataFrame, characteristic: str, *, language: str = "no") -> Figure:
    """Figures 3.18-3.20: deviation of each BI group's mean from the all-municipality mean.

    BI group 1 (fewest settled per inhabitant) at the bottom to 5 at the top; one bar per category.
    """
    rows = frame[frame["characteristic"] == characteristic]
    with style.context():
        fig, (ax,) = style.new_figure(1, height=3.0)
        height = 0.26
        for i, category in enumerate(CATEGORIES):
            cat = rows[rows["kategori"] == category].assign(bi_gruppe=lambda f: f["bi_gruppe"].astype(int))
            cat = cat.sort_values("bi_gruppe")
            y = cat["bi_gruppe"].to_numpy() + (1 - i) * height
            ax.barh(y, cat["deviation"].to_numpy(dtype=float), height=height, color=style.CATEGORY_COLOURS[category],
                    label=style.label(f"kategori.{category}", language))
        ax.axvline(0, color="#333333", linewidth=0.8)
        ax.xaxis.set_major_formatter(style.thousands(language))
        ax.set_yticks(np.arange(1, 6))
        ax.set_yticklabels([style.label("bi.group1", language), "2", "3", "4", style.label("bi.group5", language)])
        ax.set_ylabel(style.label("bi.y", language))
        key = f"bi.{characteristic}"
        ax.set_xlabel(style.label(key, language) if key in style.LABELS[language] else style.label("bi.other", language))
        ax.grid(axis="x", visible=True)
        ax.grid(axis="y", visible=False)
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=3)
    return fig


def fig3_18(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.18: population (mean over the BI years)."""
    return bi_figure(frame, "befolkning", language=language)


def fig3_19(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.19: mean earnings (yrkesinntekt) per inhabitant aged 30-59."""
    return bi_figure(frame, "inntekt_30_59", language=language)


def fig3_20(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.20: share without refugee background (100 - % refugee background)."""
    return bi_figure(frame, "andel_uten_flyktningbakgrunn", language=language)
