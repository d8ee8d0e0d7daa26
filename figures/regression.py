"""Figures 3.15 (category coefficients across the nine successive models) and 3.16 (R² by block).

Both read tables written by the estimate stage (outputs.md): fig3_15_coefficients.csv and
fig3_16_r2_decomposition.csv.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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


def fig3_16(frame: pd.DataFrame, *, language: str = "no") -> Figure:
    """Figure 3.16: each block's contribution to R² (percent of variance).

    The first sample in the table (the report's full sample) is drawn as bars with their values;
    further samples (by category, by botid) as markers on the same rows. The legend gives total R².
    """
    style.check_language(language)
    data = frame.assign(contribution=r2_contributions(frame) * 100.0)
    samples = list(dict.fromkeys(data["sample"]))
    blocks = list(dict.fromkeys(data["block"]))
    y_of = {b: len(blocks) - 1 - i for i, b in enumerate(blocks)}
    with style.context():
        fig, (ax,) = style.new_figure(1, height=0.28 * len(blocks) + 1.2)
        handles: list = []
        for i, sample in enumerate(samples):
            rows = data[data["sample"] == sample]
            y = np.array([y_of[b] for b in rows["block"]], dtype=float)
            x = rows["contribution"].to_numpy(dtype=float)
            total = 100.0 * float(rows["r2_total"].astype(float).iloc[0])
            name = style.SAMPLE_LABELS[language].get(str(sample).lower(), str(sample))
            text = f"{name} ({style.label('fig3_16.total', language)} {total:.1f} %)"
            if i == 0:
                handles.append(ax.barh(y, x, color="#c6dbef", height=0.7, label=text))
                for xi, yi in zip(x, y) if len(samples) == 1 else ():
                    ax.text(xi, yi, f" {xi:.1f}", va="center", ha="left", fontsize=6.5)
            else:
                handles += ax.plot(x, y, linestyle="none", marker=style.marker(i - 1), color=style.colour(i - 1),
                                   markersize=4, label=text)
        ax.set_yticks(np.arange(len(blocks)))
        ax.set_yticklabels([style.BLOCK_LABELS[language].get(str(b).lower(), str(b)) for b in blocks[::-1]])
        ax.grid(axis="x", visible=True)
        ax.grid(axis="y", visible=False)
        ax.set_xlim(left=0)
        ax.set_xlabel(style.label("fig3_16.x", language))
        fig.legend(handles, [h.get_label() for h in handles], loc="outside lower center", ncol=2)
    return fig
