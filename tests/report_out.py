"""A hand-made releasable output directory for the report and card tests.

Four municipalities: Oslo 0301 (the reference, everything released), Vågå 3435 (all refugees and
asylum released, resettled and family suppressed: a small municipality), Nordre Land 3448 (all
refugees released) and Sel 3437 (nothing released). `extras=True` adds what later stages may add:
the shrunk contributions with rank intervals, the contribution figures and the comparison with the
published numbers.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.config import Settings, load_settings

MARKER = "prikket"
GROUPS = ("asyl", "overforing", "familie", "alle")
BANDS = ("0-1", "2-3", "4-5", "6-9")
NAMES = {"0301": ("Oslo", "1"), "3435": ("Vågå", "6"), "3437": ("Sel", "6"), "3448": ("Nordre Land", "6")}
# (gruppe, kommnr) -> (estimate, std_error, n_persons, n_person_years); None: suppressed. Counts are
# multiples of 5, as the release rounds them.
CONTRIBUTIONS = {
    ("asyl", "0301"): (0.0, 0.0, 400, 1900), ("asyl", "3435"): (4.2, 3.1, 30, 150), ("asyl", "3448"): (-2.0, 4.0, 35, 160),
    ("overforing", "0301"): (0.0, 0.0, 120, 600), ("familie", "0301"): (0.0, 0.0, 150, 700),
    ("alle", "0301"): (0.0, 0.0, 670, 3200), ("alle", "3435"): (6.5, 2.6, 45, 230), ("alle", "3448"): (-3.4, 2.9, 40, 200),
}


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _contributions(extras: bool) -> pd.DataFrame:
    rows = []
    for gruppe in GROUPS:
        released = [(k, v) for (g, k), v in CONTRIBUTIONS.items() if g == gruppe]
        ranked = sorted(released, key=lambda kv: -kv[1][0])
        for kommnr in NAMES:
            value = CONTRIBUTIONS.get((gruppe, kommnr))
            row = {"gruppe": gruppe, "kommnr_2020": kommnr}
            if value is None:
                row.update(dict.fromkeys(("estimate", "std_error", "n_persons", "n_person_years"), MARKER))
            else:
                row.update(estimate=value[0], std_error=value[1], n_persons=value[2], n_person_years=value[3])
            row["normalisation"] = "reference:0301"
            if extras:
                if value is None:
                    row.update(dict.fromkeys(("eb_estimate", "eb_std_error", "eb_ci_low", "eb_ci_high", "rank",
                                              "rank_ci_low", "rank_ci_high"), MARKER))
                else:
                    shrunk = value[0] * 0.6
                    rank = [k for k, _ in ranked].index(kommnr) + 1
                    row.update(eb_estimate=shrunk, eb_std_error=1.5, eb_ci_low=shrunk - 2.5, eb_ci_high=shrunk + 2.5,
                               rank=rank, rank_ci_low=1, rank_ci_high=len(ranked))
            rows.append(row)
    return pd.DataFrame(rows)


def weighted_mean(gruppe: str) -> float:
    released = [v for (g, _), v in CONTRIBUTIONS.items() if g == gruppe]
    return float(np.average([v[0] for v in released], weights=[v[3] for v in released]))


def _cells() -> pd.DataFrame:
    rows = []
    for gruppe in GROUPS:
        mean = weighted_mean(gruppe)
        for kommnr in NAMES:
            value = CONTRIBUTIONS.get((gruppe, kommnr))
            for i, band in enumerate((*BANDS, "0-9")):
                row = {"gruppe": gruppe, "kommnr_2020": kommnr, "botid": band}
                small_band = kommnr != "0301" and band in ("4-5", "6-9")
                if value is None or small_band:
                    row.update(dict.fromkeys(("observed_pct", "predicted_pct", "gap_pp", "n_persons",
                                              "n_person_years"), MARKER))
                else:
                    predicted = 20.0 + 12 * i if band != "0-9" else 40.0
                    gap = value[0] - mean if band == "0-9" else value[0] - mean + (i - 1)
                    observed = float(round(predicted + gap))   # rates are published in whole percent
                    row.update(observed_pct=observed, predicted_pct=predicted,
                               gap_pp=round(gap, 2) if band == "0-9" else observed - predicted,
                               n_persons=value[2] if band == "0-9" else max(30, value[2] - 5 * i),
                               n_person_years=value[3] if band == "0-9" else 5 * (value[3] // 15))
                row["contribution_mean_pp"] = mean
                rows.append(row)
    return pd.DataFrame(rows)


def make_out(root: Path, *, extras: bool = False, **overrides) -> Settings:
    """Write the releasable directory under root/out and return settings pointing at it."""
    settings = load_settings(input=root / "in", work=root / "work", out=root / "out", **overrides)
    tables, figures = settings.paths.tables, settings.paths.figures
    tables.mkdir(parents=True)
    figures.mkdir(parents=True)
    _contributions(extras).to_csv(tables / "kommunebidrag.csv", index=False)
    _cells().to_csv(tables / "kommune_observert_predikert.csv", index=False)
    pd.DataFrame([{"kommnr_2020": k, "kommunenavn": n, "sentralitetsklasse": c, "sentralitetsindeks": 500}
                  for k, (n, c) in NAMES.items()]).to_csv(tables / "kommuner.csv", index=False)
    pd.DataFrame({"indicator": ["personer", "personer", "kvinner", "kvinner"],
                  "population": ["alle"] * 4, "kategori": ["overforing", "asyl", "overforing", "asyl"],
                  "unit": ["antall", "antall", "prosent", "prosent"], "value": [1070, 2180, 51, MARKER],
                  "n_persons": [1070, 2180, 1070, MARKER]}).to_csv(tables / "table3_1.csv", index=False)
    pd.DataFrame({"step": [1, 2], "rule": ["a", "b"], "description": ["first rule", "second rule"],
                  "persons_in": [5000, 4000], "person_years_in": [20000, 16000], "persons_excluded": [1000, MARKER],
                  "person_years_excluded": [4000, MARKER], "persons_out": [4000, 3990],
                  "person_years_out": [16000, 15950]}).to_csv(settings.paths.sample_flow, index=False)
    (figures / "fig3_01.png").write_bytes(png((200, 30, 30)))
    (figures / "fig3_08.png").write_bytes(png((30, 30, 200)))
    if extras:
        (figures / "kommunebidrag_caterpillar_alle.png").write_bytes(png((30, 160, 30)))
        (figures / "kommunebidrag_funnel_alle.png").write_bytes(png((160, 160, 30)))
        pd.DataFrame({"item": ["fig 3.16 total R²"], "published": [29.0], "this_run": [27.5], "difference": [-1.5],
                      "tolerance": [3.0], "within": ["yes"]}).to_csv(tables / "report_comparison.csv", index=False)
    manifest = {"configuration": {k: v for k, v in settings.source.items() if k != "paths"},
                "inputs": {"personer": {"file": "personer.parquet", "rows": 6200000, "bytes": 12345678,
                                        "sha256": "ab" * 32}},
                "versions": {"python": "3.11", "pandas": "3.0"}, "git_commit": "0123abcd", "seed": 2024,
                "suppressed_cells": {"fig3_08.csv": 9}, "timings_seconds": {"panel": 1.23}}
    settings.paths.manifest.write_text(json.dumps(manifest), encoding="utf-8")
    return settings
