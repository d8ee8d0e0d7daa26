"""What the report may read: the releasable files in OUT, nothing from WORK.

Tables are read as text so that the suppression marker survives; a column is turned into numbers only
by name (`numbers`), with the marker and blanks as NaN.
"""
from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import REPORT_TEMPLATES_DIR, Paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONTRIBUTION_FIGURE_KINDS = ("caterpillar", "funnel")


def read_table(path: Path) -> pd.DataFrame | None:
    """A releasable CSV as text (keys keep their leading zeros); None when the file is absent."""
    if not path.exists():
        return None
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def numbers(series: pd.Series, *, marker: str) -> pd.Series:
    """Numbers of a releasable column: the marker and blanks become NaN."""
    text = series.astype(str).str.strip()
    return pd.to_numeric(text.where((text != marker) & (text != ""), np.nan), errors="coerce")


def is_marker(value: object, *, marker: str) -> bool:
    return str(value).strip() == marker


def data_uri(path: Path) -> str:
    """The file as a data: URI (PNG or SVG), so the page needs no other file."""
    kind = {".png": "image/png", ".svg": "image/svg+xml"}[path.suffix]
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def load_text() -> dict:
    """Captions and words of templates/text.toml."""
    with open(REPORT_TEMPLATES_DIR / "text.toml", "rb") as fh:
        return tomllib.load(fh)


@dataclass
class Releasable:
    """Every releasable file the report and the cards use, read once."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    sample_flow: pd.DataFrame | None = None
    manifest: dict | None = None

    def table(self, stem: str) -> pd.DataFrame | None:
        return self.tables.get(stem)

    def contribution_figures(self) -> list[str]:
        """Stems of the contribution figures (caterpillar and funnel per group), in a stable order."""
        return sorted(s for s in self.figures if any(kind in s for kind in CONTRIBUTION_FIGURE_KINDS))


def read_releasable(paths: Paths, *, stems: tuple[str, ...] | None = None) -> Releasable:
    """Read OUT/tables/*.csv (only `stems`, when given), the PNG figures, the sample flow and the manifest."""
    tables = {p.stem: read_table(p) for p in sorted(paths.tables.glob("*.csv"))
              if stems is None or p.stem in stems} if paths.tables.exists() else {}
    figures = {p.stem: p for p in sorted(paths.figures.glob("*.png"))} if paths.figures.exists() else {}
    manifest = json.loads(paths.manifest.read_text(encoding="utf-8")) if paths.manifest.exists() else None
    return Releasable(tables=tables, figures=figures, sample_flow=read_table(paths.sample_flow), manifest=manifest)
