"""Robustness figures: each statistic across the definition variants, and the contributions of two
arrival cohorts against each other. Both read tables written by the robustness stage."""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from figures import style

# The statistics drawn (for all refugees together, and the two category contrasts), in panel order.
PANELS = (
    ("overforing_vs_asyl", "alle"), ("familie_vs_asyl", "alle"), ("r2_share_botid", "alle"),
    ("r2_share_municipality", "alle"), ("contribution_sd", "alle"), ("contribution_sd_shrunk", "alle"),
    ("slope_ln_befolkning", "alle"), ("slope_pst_sosialstonad_30_59", "alle"), ("slope_ln_sentralitetsindeks", "alle"),
)
Z95 = 1.959963984540054
GROUPS = ("asyl", "overforing", "familie", "alle")


def robustness(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """One panel per statistic: its value under each variant (rows) with a 95 % CI where it has an SE;
    the baseline's value is a vertical line and its point is filled."""
    style.check_language(language)
    variants = list(dict.fromkeys(frame["variant"]))
    with style.context():
        fig, axes = style.new_figure(len(PANELS), ncols=3, height=2.5, sharey=True)
        y = np.arange(len(variants))[::-1]
        for ax, (statistic, gruppe) in zip(axes, PANELS):
            rows = frame[(frame["statistic"] == statistic) & (frame["gruppe"] == gruppe)].set_index("variant")
            rows = rows.reindex(variants)
            value = rows["estimate"].to_numpy(dtype=float)
            half = Z95 * rows["std_error"].to_numpy(dtype=float)
            baseline = value[0] if len(value) else np.nan
            if np.isfinite(baseline):
                ax.axvline(baseline, color="#999999", linewidth=0.8, linestyle="--")
            ax.errorbar(value, y, xerr=np.where(np.isfinite(half), half, 0.0), fmt="o", color=style.PALETTE[0],
                        markersize=3.5, elinewidth=0.9, capsize=1.5, markerfacecolor="white")
            ax.plot(value[:1], y[:1], "o", color=style.PALETTE[0], markersize=3.5)
            ax.set_title(textwrap.fill(style.label(f"robustness.{statistic}", language), 24), loc="left", fontsize=7.5)
            ax.grid(axis="x", visible=True)
            ax.grid(axis="y", visible=False)
            if not np.isfinite(value).any():
                ax.set_xticks([])
                ax.text(0.5, 0.5, style.label("robustness.none", language), transform=ax.transAxes,
                        ha="center", va="center", color="#666666")
        axes[0].set_yticks(y)
        axes[0].set_yticklabels([style.label(f"robustness.variant.{v}", language) for v in variants])
    return fig


def cohort_stability(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Per group: a municipality's contribution for the arrivals of 2010–2014 (x) against 2015–2019 (y),
    the municipalities released for both cohorts; the dashed line is y = x."""
    style.check_language(language)
    cohorts = sorted(frame["kohort"].unique()) if len(frame) else ["2010_2014", "2015_2019"]
    with style.context():
        fig, axes = style.new_figure(len(GROUPS), ncols=2, height=2.6, sharey=False)
        for ax, gruppe in zip(axes, GROUPS):
            wide = frame[frame["gruppe"] == gruppe].pivot_table(index="kommnr_2020", columns="kohort",
                                                                values="estimate", aggfunc="first")
            wide = wide.reindex(columns=cohorts).dropna()
            ax.set_title(style.label(f"kommunebidrag.{gruppe}", language), loc="left")
            if wide.empty:
                ax.set_xticks([])
                ax.set_yticks([])
                ax.text(0.5, 0.5, style.label("kommunebidrag.none", language), transform=ax.transAxes,
                        ha="center", va="center", color="#666666")
                continue
            x, v = wide[cohorts[0]].to_numpy(dtype=float), wide[cohorts[1]].to_numpy(dtype=float)
            ax.scatter(x, v, s=9, color=style.CATEGORY_COLOURS.get(gruppe, style.PALETTE[7]), alpha=0.8,
                       linewidths=0)
            low, high = float(min(x.min(), v.min())), float(max(x.max(), v.max()))
            ax.plot([low, high], [low, high], linestyle="--", color="#777777", linewidth=0.8)
            ax.set_xlabel(style.label("stability.x", language))
            ax.set_ylabel(style.label("stability.y", language))
            ax.grid(axis="x", visible=True)
    return fig
