"""Figures 3.15 (category coefficients across the nine successive models) and 3.16 (R² by block).

Both read tables written by the estimate stage (outputs.md): fig3_15_coefficients.csv and
fig3_16_r2_decomposition.csv.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnchoredOffsetbox, HPacker, TextArea
from matplotlib.patches import Patch

from figures import style

# Term names of the category dummies in fig3_15_coefficients.csv (asyl is the reference).
COEFFICIENT_TERMS = {"overforing": "kategori[overforing]", "familie": "kategori[familie]"}


def _model_label(name: object, language: str) -> str:
    text = str(name)
    return style.MODEL_LABELS[language].get(text.strip().lower().lstrip("+ ").strip(), text)


def fig3_15(frame: pd.DataFrame, *, language: str = "no", terms: dict[str, str] = COEFFICIENT_TERMS) -> Figure:
    """Figure 3.15: overforing and familie coefficients (pp) with 95% CI, models 1-9 left to right."""
    style.check_language(language)
    models = frame.drop_duplicates("model").assign(model=lambda f: f["model"].astype(int)).sort_values("model")
    with style.context():
        fig, (ax,) = style.new_figure(1, height=3.0)
        offsets = np.linspace(-0.12, 0.12, len(terms))
        for i, (category, term) in enumerate(terms.items()):
            rows = frame[frame["term"] == term].assign(model=lambda f: f["model"].astype(int)).sort_values("model")
            x = rows["model"].to_numpy() + offsets[i]
            y = rows["estimate"].to_numpy(dtype=float)
            err = np.vstack([y - rows["ci_low"].to_numpy(dtype=float), rows["ci_high"].to_numpy(dtype=float) - y])
            ax.errorbar(x, y, yerr=err, fmt=style.marker(i), color=style.CATEGORY_COLOURS[category], capsize=2,
                        elinewidth=0.9, markersize=4, label=style.label(f"kategori.{category}", language))
        ax.axhline(0, color="#555555", linewidth=0.8)
        ax.set_xticks(models["model"].to_numpy())
        names = models["model_name"] if "model_name" in models.columns else models["model"]
        ax.set_xticklabels([_model_label(n, language) for n in names], rotation=30, ha="right")
        ax.set_xlabel(style.label("fig3_15.x", language))
        ax.set_ylabel(style.label("fig3_15.y", language))
        ax.legend(loc="lower right")
    return fig


def r2_contributions(frame: pd.DataFrame) -> pd.Series:
    """Each block's contribution to R² (fraction of total variance).

    `r2_share` is read as a contribution when a sample's shares sum to its r2_total, and as a
    fraction of R² (then multiplied by r2_total) when they sum to 1.
    """
    out = frame["r2_share"].astype(float).copy()
    for _, rows in frame.groupby("sample", sort=False):
        total = float(rows["r2_total"].astype(float).iloc[0])
        share_sum = float(rows["r2_share"].astype(float).sum())
        if abs(share_sum - 1.0) < abs(share_sum - total):
            out.loc[rows.index] = rows["r2_share"].astype(float) * total
    return out


# Panels of fig 3.16 (one per group) and the colours of the botid samples within a panel.
R2_GROUPS = ("alle", "asyl", "overforing", "familie")
R2_BOTID_COLOURS = ("#999999", "#56B4E9", "#0072B2", "#882255")
_SAMPLE_NAME = re.compile(r"^(?P<gruppe>.+?)(?:_botid_?(?P<botid>\d+))?$")


def r2_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with text columns `gruppe` and `botid` ('alle' or the year) for each sample.

    Taken from the table's own `gruppe`/`botid` columns when present, else parsed from sample names
    such as 'asyl' (all botid) and 'asyl_botid6'.
    """
    names = frame["sample"].astype(str)
    parsed = names.str.extract(_SAMPLE_NAME)
    gruppe = frame["gruppe"].astype(str) if "gruppe" in frame.columns else parsed["gruppe"]
    botid = frame["botid"].astype(str) if "botid" in frame.columns else parsed["botid"].fillna("alle")
    return frame.assign(gruppe=gruppe.str.lower().to_numpy(), botid=botid.str.lower().to_numpy())


def _botid_order(levels: pd.Series) -> list[str]:
    unique = list(dict.fromkeys(levels))
    return sorted(unique, key=lambda b: (b != "alle", float(b) if b.replace(".", "", 1).isdigit() else np.inf, b))


def _botid_label(botid: str, language: str) -> str:
    if botid == "alle":
        return style.label("fig3_16.all_botid", language)
    return style.SAMPLE_LABELS[language].get(f"botid{botid}", f"botid {botid}")


def _percent(value: float, language: str) -> str:
    text = f"{value:.1f}"
    return (text.replace(".", ",") if language == "no" else text) + " %"


def _total_r2_line(ax, totals: list[tuple[str, float]], language: str) -> None:
    """'Total R²: ■ 19,2 %  ■ 27,9 % …' above the panel, each square in its bar colour."""
    parts = [TextArea(style.label("fig3_16.total", language) + ":", textprops={"fontsize": 6.5, "color": "#333333"})]
    for colour, total in totals:
        parts.append(TextArea("■", textprops={"fontsize": 7, "color": colour}))
        parts.append(TextArea(_percent(total, language), textprops={"fontsize": 6.5, "color": "#333333"}))
    line = HPacker(children=parts, align="baseline", pad=0, sep=2.5)
    box = AnchoredOffsetbox(loc="lower left", child=line, pad=0, borderpad=0, frameon=False,
                            bbox_to_anchor=(0.0, 1.01), bbox_transform=ax.transAxes)
    ax.add_artist(box)


def fig3_16(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.16: each block's contribution to R² (percent of variance), exact Shapley decomposition.

    One panel per group (alle, asyl, overforing, familie); in each, grouped horizontal bars per block
    for the samples 'all botid' and botid 3, 6, 9. Each panel's subtitle gives the samples' total R²
    (the sum of their bars). Suppressed (NaN) cells are not drawn.
    """
    style.check_language(language)
    data = r2_samples(frame).assign(contribution=r2_contributions(frame) * 100.0)
    present = list(dict.fromkeys(data["gruppe"]))
    groups = [g for g in R2_GROUPS if g in present] + [g for g in present if g not in R2_GROUPS]
    blocks = list(dict.fromkeys(data["block"]))
    levels = _botid_order(data["botid"])
    colour_of = {b: (R2_BOTID_COLOURS + style.PALETTE)[i] for i, b in enumerate(levels)}
    height = 0.8 / len(levels)
    offset_of = {b: (len(levels) - 1) / 2 * height - i * height for i, b in enumerate(levels)}
    y_of = {b: float(len(blocks) - 1 - i) for i, b in enumerate(blocks)}
    ncols = 2 if len(groups) > 1 else 1
    with style.context():
        fig, axes = style.new_figure(len(groups), ncols=ncols, height=0.26 * len(blocks) + 0.5)
        for ax in axes[1:]:
            ax.sharex(axes[0])
        for ax, group in zip(axes, groups):
            rows = data[data["gruppe"] == group]
            totals = []
            for botid in levels:
                sample = rows[(rows["botid"] == botid) & rows["contribution"].notna()]
                total = pd.to_numeric(rows.loc[rows["botid"] == botid, "r2_total"], errors="coerce").dropna()
                if len(total):
                    totals.append((colour_of[botid], 100.0 * float(total.iloc[0])))
                if sample.empty:
                    continue
                y = np.array([y_of[b] + offset_of[botid] for b in sample["block"]], dtype=float)
                ax.barh(y, sample["contribution"].to_numpy(dtype=float), height=height, color=colour_of[botid],
                        linewidth=0, label=_botid_label(botid, language))
            ax.set_title(style.SAMPLE_LABELS[language].get(group, group), loc="left", fontweight="bold", pad=12)
            if totals:
                _total_r2_line(ax, totals, language)
            ax.set_yticks(list(y_of.values()))
            ax.set_yticklabels([style.BLOCK_LABELS[language].get(str(b).lower(), str(b)) for b in blocks])
            ax.set_ylim(-0.6, len(blocks) - 0.4)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="x", visible=True)
            ax.grid(axis="y", visible=False)
        drawn = data["contribution"].dropna()
        axes[0].set_xlim(0, 1.04 * max(float(drawn.max()) if len(drawn) else 1.0, 1.0))
        handles = [Patch(color=colour_of[b], label=_botid_label(b, language)) for b in levels]
        fig.supxlabel(style.label("fig3_16.x", language), fontsize=style.RC["axes.labelsize"])
        fig.legend(handles=handles, loc="outside upper center", ncol=len(handles))
    return fig
