"""Municipality contributions: a caterpillar plot per group and a funnel plot of the four groups.

Both read the releasable kommunebidrag table (gruppe, kommnr_2020, estimate, std_error, n_persons,
eb_estimate, eb_std_error, eb_ci_low, eb_ci_high, rank, rank_ci_low, rank_ci_high); suppressed rows
arrive as NaN and are not drawn. Intervals are 90 %: the raw estimate ± 1.645·SE, the robust EBCI, and
the marginal rank sets (models/shrinkage.py, models/ranks.py). Funnel limits: models/funnel.py.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy import stats

from figures import style
from models.funnel import Z_95, Z_998, control_limits, funnel_parameters

GROUPS = ("asyl", "overforing", "familie", "alle")
NUMERIC_COLUMNS = ("estimate", "std_error", "n_persons", "eb_estimate", "eb_std_error", "eb_ci_low",
                   "eb_ci_high", "rank", "rank_ci_low", "rank_ci_high")
Z_90 = float(stats.norm.ppf(0.95))
RAW_COLOUR = "#999999"
EB_COLOUR = style.PALETTE[0]
OUTSIDE_COLOUR = style.PALETTE[3]


def _group(frame: pd.DataFrame, gruppe: str) -> pd.DataFrame:
    """The group's released rows; a column the table lacks (e.g. no ranks) reads as missing."""
    rows = frame.loc[frame["gruppe"].astype(str) == gruppe]
    rows = rows.reindex(columns=list(dict.fromkeys([*rows.columns, *NUMERIC_COLUMNS])))
    return rows.loc[rows["estimate"].notna() & rows["std_error"].notna()]


def _empty(ax, language: str) -> None:
    ax.text(0.5, 0.5, style.label("kommunebidrag.none", language), transform=ax.transAxes, ha="center",
            va="center", color="#555555")


def caterpillar(frame: pd.DataFrame, *, gruppe: str, language: str = "no") -> Figure:
    """One group: top, contributions by rank (1 = largest) with the raw estimate and its 90 % CI (grey)
    and the empirical-Bayes estimate with its robust 90 % EBCI (blue); bottom, each rank's 90 % set."""
    style.check_language(language)
    rows = _group(frame, gruppe)
    order = rows.sort_values(["rank", "estimate"], ascending=[True, False], na_position="last")
    x = np.arange(1, len(order) + 1)
    with style.context():
        fig, (top, bottom) = style.new_figure(2, ncols=1, height=2.6, sharey=False)
        top.sharex(bottom)
        if order.empty:
            _empty(top, language)
        else:
            raw = order["estimate"].to_numpy(dtype=float)
            half = Z_90 * order["std_error"].to_numpy(dtype=float)
            top.vlines(x, raw - half, raw + half, color=RAW_COLOUR, linewidth=0.6, alpha=0.7)
            top.plot(x, raw, "o", color=RAW_COLOUR, markersize=1.8, label=style.label("kommunebidrag.raw", language))
            eb = order["eb_estimate"].to_numpy(dtype=float)
            if np.isfinite(eb).any():
                offset = 0.3
                top.vlines(x + offset, order["eb_ci_low"].to_numpy(dtype=float), order["eb_ci_high"].to_numpy(dtype=float),
                           color=EB_COLOUR, linewidth=0.6, alpha=0.8)
                top.plot(x + offset, eb, "o", color=EB_COLOUR, markersize=1.8,
                         label=style.label("kommunebidrag.eb", language))
            top.axhline(0, color="#333333", linewidth=0.7)
            top.legend(loc="upper right")
            ranks = order["rank"].to_numpy(dtype=float)
            low, high = order["rank_ci_low"].to_numpy(dtype=float), order["rank_ci_high"].to_numpy(dtype=float)
            drawn = np.isfinite(ranks)
            bottom.vlines(x[drawn], low[drawn], high[drawn], color=EB_COLOUR, linewidth=0.6, alpha=0.8)
            bottom.plot(x[drawn], ranks[drawn], "o", color="#333333", markersize=1.5)
            bottom.set_ylim(len(order) + 1, 0)
        top.set_ylabel(style.label("kommunebidrag.y", language))
        top.set_title(style.label(f"kommunebidrag.{gruppe}", language), loc="left", fontweight="bold")
        bottom.set_ylabel(style.label("kommunebidrag.rank_y", language))
        bottom.set_xlabel(style.label("kommunebidrag.rank_x", language))
        top.tick_params(labelbottom=False)
    return fig


def funnel(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Funnel plot per group (2 × 2): contribution against precision 1/SE², the target θ₀, 95 % and
    99.8 % limits θ₀ ± z·SE (grey) and the overdispersion-adjusted ones θ₀ ± z·√(SE² + τ²) (blue);
    municipalities outside the adjusted 99.8 % limits in red. The reference municipality (SE 0) is left out."""
    style.check_language(language)
    groups = [g for g in GROUPS if g in set(frame["gruppe"].astype(str))] or list(GROUPS)
    with style.context():
        fig, axes = style.new_figure(len(groups), ncols=2 if len(groups) > 1 else 1, height=2.7, sharey=True)
        for ax, gruppe in zip(axes, groups):
            rows = _group(frame, gruppe)
            rows = rows.loc[rows["std_error"] > 0]
            ax.set_title(style.label(f"kommunebidrag.{gruppe}", language), loc="left", fontweight="bold")
            if len(rows) < 2:
                _empty(ax, language)
                continue
            y = rows["estimate"].to_numpy(dtype=float)
            se = rows["std_error"].to_numpy(dtype=float)
            params = funnel_parameters(y, se)
            precision = 1.0 / se**2
            grid_precision = np.geomspace(precision.min() * 0.9, precision.max() * 1.1, 200)
            grid_se = 1.0 / np.sqrt(grid_precision)
            for z, style_ in ((Z_95, "--"), (Z_998, "-")):
                for tau2, colour in ((0.0, RAW_COLOUR), (params.tau2, EB_COLOUR)):
                    low, high = control_limits(grid_se, target=params.target, z=z, tau2=tau2)
                    ax.plot(grid_precision, low, style_, color=colour, linewidth=0.8)
                    ax.plot(grid_precision, high, style_, color=colour, linewidth=0.8)
            low, high = control_limits(se, target=params.target, z=Z_998, tau2=params.tau2)
            outside = (y < low) | (y > high)
            ax.scatter(precision[~outside], y[~outside], s=7, color="#333333", alpha=0.7, linewidths=0)
            ax.scatter(precision[outside], y[outside], s=9, color=OUTSIDE_COLOUR, linewidths=0)
            ax.axhline(params.target, color="#333333", linewidth=0.7)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _tick(v, language)))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.text(0.98, 0.04, f"τ² = {_number(params.tau2, language)}, φ = {_number(params.phi, language)}",
                    transform=ax.transAxes, ha="right", va="bottom", fontsize=6.5, color="#333333")
            ax.set_xlabel(style.label("kommunebidrag.precision", language))
            ax.grid(axis="x", visible=True)
        fig.supylabel(style.label("kommunebidrag.y", language), fontsize=style.RC["axes.labelsize"])
        handles = [Line2D([], [], color=RAW_COLOUR, linestyle="--", label=style.label("funnel.limits95", language)),
                   Line2D([], [], color=RAW_COLOUR, linestyle="-", label=style.label("funnel.limits998", language)),
                   Line2D([], [], color=EB_COLOUR, linestyle="-", label=style.label("funnel.overdispersion", language)),
                   Line2D([], [], color=OUTSIDE_COLOUR, marker="o", linestyle="", markersize=3,
                          label=style.label("funnel.outside", language))]
        fig.legend(handles=handles, loc="outside lower center", ncol=style.legend_columns(len(handles), 4))
    return fig


def _tick(value: float, language: str) -> str:
    text = f"{value:.4g}"
    return text.replace(".", ",") if language == "no" else text


def _number(value: float, language: str) -> str:
    text = f"{value:.2f}"
    return text.replace(".", ",") if language == "no" else text


def caterpillar_asyl(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Caterpillar plot of the asylum refugees' contributions."""
    return caterpillar(frame, gruppe="asyl", language=language)


def caterpillar_overforing(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Caterpillar plot of the resettled refugees' contributions."""
    return caterpillar(frame, gruppe="overforing", language=language)


def caterpillar_familie(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Caterpillar plot of the family-reunified refugees' contributions."""
    return caterpillar(frame, gruppe="familie", language=language)


def caterpillar_alle(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Caterpillar plot of all refugees' contributions."""
    return caterpillar(frame, gruppe="alle", language=language)
