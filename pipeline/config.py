"""Every path and option of the pipeline, in one place.

Settings come from `config/default.toml`, then the user's TOML file (`--config`), then command-line
flags. Nothing else in the project holds a path literal.
"""
from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline.disclosure import Policy

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = PROJECT_ROOT / "sql"
REFERENCE_DATA_DIR = PROJECT_ROOT / "reference_data"
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"
PUBLISHED_NUMBERS = REFERENCE_DATA_DIR / "report_numbers.csv"
README = PROJECT_ROOT / "README.md"
REPORT_TEMPLATES_DIR = PROJECT_ROOT / "pipeline" / "report" / "templates"

Normalisation = Literal["reference", "mean"]
Clustering = Literal["person", "person+municipality"]
CLUSTERINGS = ("person", "person+municipality")
OUTCOMES = ("arbeid_utdanning", "sysselsatt", "i_utdanning")
CATEGORIES = ("overforing", "asyl", "familie")
CONTRACT_TABLES = (
    "personer", "bosted", "inntekt", "utdanning", "familie",
    "kommuneendringer", "kommuner_2020", "naering_2010", "grunnbelop",
)


@dataclass(frozen=True)
class Paths:
    """Input, work and output directories and every file the pipeline writes in them."""

    input: Path
    work: Path
    out: Path

    @property
    def database(self) -> Path:
        return self.work / "register.duckdb"

    @property
    def panel_dir(self) -> Path:
        return self.work / "panel"

    @property
    def person_year(self) -> Path:
        return self.panel_dir / "person_year.parquet"

    @property
    def refugees(self) -> Path:
        """One row per person of the study population (methods.md §1), with the characteristics at arrival."""
        return self.panel_dir / "refugees.parquet"

    @property
    def municipality_year(self) -> Path:
        return self.panel_dir / "municipality_year.parquet"

    @property
    def estimates_dir(self) -> Path:
        """Full-precision estimates kept for the figures stage (municipality level, not person level)."""
        return self.work / "estimates"

    @property
    def tables(self) -> Path:
        return self.out / "tables"

    @property
    def report_comparison_csv(self) -> Path:
        """This run beside the report's published numbers (compare-report)."""
        return self.tables / "report_comparison.csv"

    @property
    def report_comparison_md(self) -> Path:
        return self.tables / "report_comparison.md"

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    @property
    def sample_flow(self) -> Path:
        return self.out / "sample_flow.csv"

    def report(self, language: str) -> Path:
        """The self-contained HTML report: rapport.html (Norwegian) or report.html (English)."""
        return self.out / ("rapport.html" if language == "no" else "report.html")

    @property
    def cards(self) -> Path:
        """One HTML card per municipality, KOMMNR.html."""
        return self.out / "kommuner"

    def card(self, kommnr: str, directory: Path | None = None) -> Path:
        return (directory or self.cards) / f"{kommnr}.html"

    @property
    def manifest(self) -> Path:
        return self.out / "manifest.json"

    @property
    def run_log(self) -> Path:
        return self.out / "run_log.jsonl"


@dataclass(frozen=True)
class Settings:
    """Study options (methods.md) and how the user's extracts map onto the input contract."""

    paths: Paths
    first_year: int = 2010
    last_year: int = 2020
    min_age: int = 20
    max_age: int = 69
    max_botid_contributions: int = 9
    employment_threshold_g: float = 1.0
    min_persons: int = 30
    suppression_marker: str = "prikket"
    count_base: int = 5
    share_decimals: int = 0
    normalisation: Normalisation = "reference"
    reference_municipality: str = "0301"
    min_persons_municipality: int = 1
    outcome: str = "arbeid_utdanning"
    cluster: Clustering = "person"
    exclude_years: tuple[int, ...] = ()
    max_botid: int | None = None
    characteristics_year: int = 2017
    settlement_population_year: int = 2010
    bi_first_year: int = 2011
    bi_last_year: int = 2020
    duckdb_memory_limit: str = "3GB"
    duckdb_threads: int = 2
    categories: dict[str, list[str]] = field(default_factory=dict)
    refugee_background: list[str] = field(default_factory=list)
    splits: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    card_botid_bands: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 9))
    card_target: float | None = None
    card_targets: dict[str, float] = field(default_factory=dict)
    language: Literal["no", "en"] = "no"
    seed: int | None = None
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def contributions_max_botid(self) -> int:
        """Contributions use botid 0..max_botid_contributions, within the models' botid window."""
        if self.max_botid is None:
            return self.max_botid_contributions
        return min(self.max_botid, self.max_botid_contributions)

    @property
    def study_years(self) -> range:
        return range(self.first_year, self.last_year + 1)

    @property
    def disclosure(self) -> Policy:
        """The release-wide disclosure policy (pipeline/disclosure.py)."""
        return Policy(min_persons=self.min_persons, marker=self.suppression_marker, count_base=self.count_base,
                      share_decimals=self.share_decimals)

    def target_of(self, kommnr: str) -> float | None:
        """The card's target (percent in work or education): the municipality's own, else [card] target."""
        return self.card_targets.get(str(kommnr), self.card_target)

    def category_of_code(self) -> dict[str, str]:
        """innvandringsgrunn code -> category name."""
        return {code: cat for cat, codes in self.categories.items() for code in codes}


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def read_toml(path: Path) -> dict:
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _card_options(card: dict) -> dict[str, Any]:
    """[card]: botid bands as (lo, hi) pairs, a target for every card and per-municipality targets (percent)."""
    bands = tuple((int(lo), int(hi)) for lo, hi in card.get("botid_bands", ((0, 1), (2, 3), (4, 5), (6, 9))))
    targets = {str(k): float(v) for k, v in card.get("targets", {}).items()}
    target = card.get("target")
    for name, value in [("target", target), *((f"targets.{k}", v) for k, v in targets.items())]:
        if value is not None and not 0 <= float(value) <= 100:
            raise ValueError(f"[card] {name} = {value} must be a percentage from 0 to 100")
    return {"card_botid_bands": bands, "card_target": None if target is None else float(target),
            "card_targets": targets}


def load_settings(
    config: Path | None = None,
    *,
    input: Path | None = None,
    work: Path | None = None,
    out: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then the user's TOML, then flags (`None` flags are ignored)."""
    raw = read_toml(DEFAULT_CONFIG)
    user_paths: dict[str, str] = {}
    if config is not None:
        user = read_toml(Path(config))
        user_paths = user.get("paths", {})
        raw = _merge(raw, user)

    def resolve(flag: Path | None, key: str) -> Path:
        """A flag as given; a path from a TOML file relative to that file (the defaults: the project)."""
        if flag is not None:
            return Path(flag).resolve()
        base = Path(config).resolve().parent if key in user_paths else PROJECT_ROOT
        value = Path(raw["paths"][key])
        return value if value.is_absolute() else (base / value).resolve()

    paths = Paths(input=resolve(input, "input"), work=resolve(work, "work"), out=resolve(out, "out"))
    study, disc, est, mun, ddb = raw["study"], raw["disclosure"], raw["estimation"], raw["municipality"], raw["duckdb"]
    cats = dict(raw["categories"])
    refugee_background = [str(c) for c in cats.pop("refugee_background")]
    check_categories({k: [str(c) for c in v] for k, v in cats.items()}, refugee_background)
    values: dict[str, Any] = dict(
        paths=paths,
        first_year=int(study["first_year"]),
        last_year=int(study["last_year"]),
        min_age=int(study["min_age"]),
        max_age=int(study["max_age"]),
        max_botid_contributions=int(study["max_botid_contributions"]),
        employment_threshold_g=float(study["employment_threshold_g"]),
        min_persons=int(disc["min_persons"]),
        suppression_marker=str(disc["marker"]),
        count_base=int(disc["count_base"]),
        share_decimals=int(disc["share_decimals"]),
        normalisation=est["normalisation"],
        reference_municipality=str(est["reference_municipality"]),
        min_persons_municipality=int(est["min_persons_municipality"]),
        outcome=str(est["outcome"]),
        cluster=str(est["cluster"]),
        exclude_years=tuple(int(y) for y in est["exclude_years"]),
        max_botid=None if int(est["max_botid"]) < 0 else int(est["max_botid"]),
        characteristics_year=int(mun["characteristics_year"]),
        settlement_population_year=int(mun["settlement_population_year"]),
        bi_first_year=int(mun["bi_first_year"]),
        bi_last_year=int(mun["bi_last_year"]),
        duckdb_memory_limit=str(ddb["memory_limit"]),
        duckdb_threads=int(ddb["threads"]),
        categories={k: [str(c) for c in v] for k, v in cats.items()},
        refugee_background=refugee_background,
        splits={str(k): str(v) for k, v in raw.get("splits", {}).items()},
        files={k: str(v) for k, v in raw["files"].items()},
        columns={t: {k: str(v) for k, v in m.items()} for t, m in raw.get("columns", {}).items()},
        **_card_options(raw.get("card", {})),
        source=raw,
    )
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    if values["normalisation"] not in ("reference", "mean"):
        raise ValueError(f"normalisation must be 'reference' or 'mean', not {values['normalisation']!r}")
    if values["first_year"] > values["last_year"]:
        raise ValueError("first_year must not be after last_year")
    if values["outcome"] not in OUTCOMES:
        raise ValueError(f"[estimation] outcome must be one of {list(OUTCOMES)}, not {values['outcome']!r}")
    if values["cluster"] not in CLUSTERINGS:
        raise ValueError(f"[estimation] cluster must be one of {list(CLUSTERINGS)}, not {values['cluster']!r}")
    if values["employment_threshold_g"] <= 0:
        raise ValueError("[study] employment_threshold_g must be positive")
    if values["count_base"] < 1 or values["share_decimals"] < 0 or values["min_persons"] < 1:
        raise ValueError("[disclosure] needs min_persons >= 1, count_base >= 1 and share_decimals >= 0")
    return Settings(**values)


def check_categories(categories: dict[str, list[str]], refugee_background: list[str]) -> None:
    """Refuse a code map that would count a person twice or outside the refugee background.

    Each innvandringsgrunn code belongs to at most one category, once, and every category code is
    also a refugee-background code (methods.md §1, §5).
    """
    unknown = set(categories) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"[categories] has unknown category {sorted(unknown)}; allowed: {list(CATEGORIES)}")
    problems = []
    for name, codes in [*categories.items(), ("refugee_background", refugee_background)]:
        repeated = sorted({c for c in codes if codes.count(c) > 1})
        if repeated:
            problems.append(f"{name} lists {repeated} more than once")
    owners: dict[str, list[str]] = {}
    for name, codes in categories.items():
        for code in dict.fromkeys(codes):
            owners.setdefault(code, []).append(name)
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    if shared:
        problems.append("codes in more than one category: "
                        + ", ".join(f"{code} ({' and '.join(names)})" for code, names in sorted(shared.items())))
    outside = sorted(set(owners) - set(refugee_background))
    if outside:
        problems.append(f"category codes {outside} are missing from refugee_background")
    if problems:
        raise ValueError("[categories]: " + "; ".join(problems) + ". Each code must belong to one category, "
                         "once, and to refugee_background.")
