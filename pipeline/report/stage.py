"""Stage `report`: read the releasable files in OUT, fill the Jinja2 templates, write the report and
the municipality cards. Nothing here reads WORK; the same OUT gives the same bytes."""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt

from pipeline import background, runlog
from pipeline.config import README, REPORT_TEMPLATES_DIR, Settings
from pipeline.io import atomic_path
from pipeline.report import cards, tables
from pipeline.report.sources import Releasable, data_uri, load_text, read_releasable

STAGE = "report"
# (section, items): an item is a figure or table id in the report's order
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("section_sample", ("sample_flow",)),
    ("section_describe", ("fig3_01", "fig3_02", "fig3_03", "fig3_04", "fig3_05", "fig3_06", "fig3_07", "table3_1")),
    ("section_botid", tuple(f"fig3_{i:02d}" for i in range(8, 15))),
    ("section_models", ("fig3_15", "fig3_15_table", "fig3_16")),
    ("section_settlement", ("fig3_17", "fig3_18", "fig3_19", "fig3_20")),
    ("section_second", ("table3_2", "table3_3")),
)
README_SECTIONS = ("## Definitions and documented choices", "## Privacy by construction", "## Municipality cards")


@dataclass(frozen=True)
class PageOptions:
    language: str
    marker: str
    min_persons: int


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(REPORT_TEMPLATES_DIR),
                              autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2")),
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


# --- the report ------------------------------------------------------------------------------------

def number_label(item: str, words: dict) -> str:
    """'Figur 3.1', 'Tabell 3.2' or '' for the sample flow."""
    if item.startswith("fig3_"):
        return f"{words['figure']} 3.{int(item[5:7])}"
    if item.startswith("table3_"):
        return f"{words['table']} 3.{item[-1]}"
    return ""


def page_item(item_id: str, caption: str, *, label: str = "", image: str | None = None,
              table: tables.HtmlTable | None = None, absent: str = "") -> dict:
    """One figure or table of the page, as the template's `item` macro reads it."""
    return {"id": item_id, "label": label, "caption": caption, "image": image, "table": table, "absent": absent}


def report_item(rel: Releasable, item: str, *, text: dict, options: PageOptions, years: dict) -> dict:
    """One figure (embedded PNG) or table (HTML) with its number and caption; `absent` when not in OUT."""
    lang, marker = options.language, options.marker
    words = text["words"][lang]
    caption = text["captions"][lang][item].format(**years)
    label = "" if item == "fig3_15_table" else number_label(item, words)
    base = page_item(item, caption, label=label)
    if item.startswith("fig3_") and item != "fig3_15_table":
        if item in rel.figures:
            return {**base, "image": data_uri(rel.figures[item])}
        return {**base, "absent": words["absent_figure"]}
    builders = {"sample_flow": (lambda: rel.sample_flow, tables.sample_flow),
                "table3_1": (lambda: rel.table("table3_1"), tables.table3_1),
                "table3_2": (lambda: rel.table("table3_2"), tables.table3_2),
                "table3_3": (lambda: rel.table("table3_3"), tables.table3_3),
                "fig3_15_table": (lambda: rel.table("fig3_15_coefficients"), tables.regression_table)}
    source, build = builders[item]
    if item == "table3_3":
        build = functools.partial(tables.table3_3, labels=text["characteristics"][lang])
    frame = source()
    if frame is None:
        return {**base, "absent": words["absent_table"]}
    if frame.empty:  # the table exists but every row is suppressed or there is nothing to estimate
        return {**base, "table": tables.HtmlTable(item, list(frame.columns), [], words["empty_table"])}
    return {**base, "table": build(frame, words=words, language=lang, marker=marker)}


def contribution_items(rel: Releasable, *, words: dict) -> list[dict]:
    """The contribution figures present in OUT (caterpillar and funnel per group), with a caption."""
    items = []
    for stem in rel.contribution_figures():
        kind = "caterpillar" if "caterpillar" in stem else "funnel"
        group = next((g for g in ("overforing", "asyl", "familie", "alle") if g in stem), "")
        caption = words[f"contribution_{kind}"] + (f" – {words[f'group_{group}']}" if group else "")
        items.append(page_item(stem, caption, image=data_uri(rel.figures[stem])))
    return items


def robustness_items(rel: Releasable, *, words: dict, options: PageOptions) -> list[dict]:
    """The robustness figure, the cohort scatter and the stability table, those present in OUT."""
    items = []
    for stem, key in (("robustness", "robustness_figure"), ("kommunebidrag_kohorter", "robustness_cohorts")):
        if stem in rel.figures:
            items.append(page_item(stem, words[key], image=data_uri(rel.figures[stem])))
    stability = rel.table("contribution_stability")
    if stability is not None:
        items.append(page_item("contribution_stability", words["robustness_stability"],
                               table=tables.frame_table(stability, table_id="contribution_stability",
                                                        language=options.language, marker=options.marker)))
    return items


def released_counts(rel: Releasable, *, words: dict, marker: str) -> list[str]:
    frame = rel.table("kommunebidrag")
    if frame is None:
        return []
    out = []
    for gruppe in ("asyl", "overforing", "familie", "alle"):
        n = int((frame.loc[frame["gruppe"] == gruppe, "estimate"].str.strip() != marker).sum())
        out.append(words["released_municipalities"].format(n=n, group=words[f"group_{gruppe}"].lower()))
    return out


def readme_notes(readme: str) -> str:
    """The README's sections on definitions, choices and privacy, as HTML (headings one level down)."""
    lines, keep = [], False
    for line in readme.splitlines():
        if line.startswith("## "):
            keep = line.strip() in README_SECTIONS
        if keep:
            lines.append("#" + line if line.startswith("#") else line)
    return MarkdownIt("commonmark").enable("table").render("\n".join(lines))


def choices(configuration: dict, *, words: dict) -> list[tuple[str, str]]:
    """What each choice of this run was, read from the configuration the manifest recorded."""
    study = configuration.get("study", {})
    est = configuration.get("estimation", {})
    disc = configuration.get("disclosure", {})
    mun = configuration.get("municipality", {})
    cats = configuration.get("categories", {})
    card = configuration.get("card", {})
    normalisation = est.get("normalisation", "")
    if normalisation == "reference":
        normalisation += f" ({est.get('reference_municipality', '')} = 0)"
    rows = [
        ("[study] first_year–last_year", f"{study.get('first_year')}–{study.get('last_year')}"),
        ("[study] min_age–max_age", f"{study.get('min_age')}–{study.get('max_age')}"),
        ("[study] max_botid_contributions", f"0–{study.get('max_botid_contributions')}"),
        *((f"[categories] {k}", ", ".join(map(str, v))) for k, v in cats.items()),
        ("[estimation] normalisation", normalisation),
        ("[estimation] min_persons_municipality", str(est.get("min_persons_municipality", ""))),
        ("standard errors", "CR1, clustered by person"),
        ("[disclosure] min_persons / marker", f"{disc.get('min_persons')} / {disc.get('marker')}"),
        ("[municipality] characteristics_year", str(mun.get("characteristics_year", ""))),
        ("[municipality] bi_first_year–bi_last_year", f"{mun.get('bi_first_year')}–{mun.get('bi_last_year')}"),
        ("[card] botid_bands", ", ".join(f"{lo}–{hi}" for lo, hi in card.get("botid_bands", []))),
        ("[card] target", str(card.get("target", words["none"]))),
        ("[card.targets]", ", ".join(f"{k}: {v}" for k, v in sorted(card.get("targets", {}).items())) or words["none"]),
    ]
    return rows


def manifest_summary(manifest: dict, *, options: PageOptions) -> dict:
    """Inputs with hashes, versions, commit, seed and suppression counts (no timings: same inputs, same page)."""
    from pipeline.report import fmt

    lang = options.language
    inputs = [(name, info.get("file", ""), fmt.number(info["rows"], decimals=0, language=lang)
               if info.get("rows") is not None else "", fmt.number(info.get("bytes", 0) / 1e6, decimals=1,
                                                                    language=lang) + " MB", info.get("sha256", ""))
              for name, info in sorted(manifest.get("inputs", {}).items())]
    versions = sorted((k, str(v)) for k, v in manifest.get("versions", {}).items())
    suppressed = sorted((k, fmt.number(v, decimals=0, language=lang))
                        for k, v in manifest.get("suppressed_cells", {}).items())
    return {"inputs": inputs, "versions": versions, "commit": manifest.get("git_commit") or "",
            "seed": manifest.get("seed"), "suppressed": suppressed}


def report_page(rel: Releasable, *, options: PageOptions, configuration: dict, readme: str) -> dict:
    """The template's data for the whole report."""
    text = load_text()
    words = text["words"][options.language]
    study = configuration.get("study", {})
    years = {"first_year": study.get("first_year", ""), "last_year": study.get("last_year", "")}
    sections = [{"id": key, "title": words[key],
                 "entries": [report_item(rel, item, text=text, options=options, years=years) for item in items]}
                for key, items in SECTIONS]
    comparison = rel.table("report_comparison")
    seed = rel.manifest.get("seed") if rel.manifest else None
    return {
        "words": words, "options": options, "sections": sections,
        "intro": words["report_intro"].format(min_persons=options.min_persons, marker=options.marker),
        "synthetic": words["synthetic_note"].format(seed=seed) if seed is not None else "",
        "contributions": contribution_items(rel, words=words),
        "released_counts": released_counts(rel, words=words, marker=options.marker),
        "cards_present": True,
        "robustness": robustness_items(rel, words=words, options=options),
        "comparison": tables.frame_table(comparison, table_id="report_comparison", language=options.language,
                                         marker=options.marker) if comparison is not None else None,
        "choices": choices(configuration, words=words),
        "readme": readme_notes(readme),
        "manifest": manifest_summary(rel.manifest, options=options) if rel.manifest else None,
    }


# --- writing ---------------------------------------------------------------------------------------

def page_options(settings: Settings) -> PageOptions:
    return PageOptions(language=settings.language, marker=settings.suppression_marker,
                       min_persons=settings.min_persons)


def render_report(settings: Settings, rel: Releasable | None = None) -> str:
    rel = rel or read_releasable(settings.paths)
    configuration = rel.manifest["configuration"] if rel.manifest else \
        {k: v for k, v in settings.source.items() if k != "paths"}
    page = report_page(rel, options=page_options(settings), configuration=configuration,
                       readme=README.read_text(encoding="utf-8"))
    return environment().get_template("report.html.j2").render(**page)


def card_context(settings: Settings, rel: Releasable | None = None, *, language: str | None = None) -> cards.CardContext:
    rel = rel or read_releasable(settings.paths)
    options = cards.CardOptions(language=language or settings.language, marker=settings.suppression_marker,
                                min_persons=settings.min_persons, max_botid=settings.contributions_max_botid,
                                share_decimals=settings.share_decimals)
    return cards.load_context(rel, options=options, words=load_text()["words"][options.language])


def render_card(settings: Settings, ctx: cards.CardContext, kommnr: str, *,
                template: jinja2.Template | None = None) -> str:
    template = template or environment().get_template("card.html.j2")
    return template.render(**cards.card(ctx, kommnr, target=settings.target_of(kommnr)))


def _write(text: str, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_cards(settings: Settings, *, kommnr: list[str] | None = None, directory: Path | None = None,
                rel: Releasable | None = None) -> list[Path]:
    """Cards for `kommnr` (default: every municipality) in `directory` (default OUT/kommuner).

    One card replaces its file atomically; every card (kommnr None) is written to a temporary folder
    that then replaces the whole folder, so no card of an earlier run is left behind.
    """
    ctx = card_context(settings, rel)
    codes = ctx.municipalities if kommnr is None else kommnr
    unknown = sorted(set(codes) - set(ctx.municipalities))
    if unknown:
        raise ValueError(f"no municipality {unknown[:5]} in the released tables (2020 codes, e.g. 0301)")
    template = environment().get_template("card.html.j2")
    target = directory or settings.paths.cards
    if kommnr is not None:
        return [_write(render_card(settings, ctx, code, template=template), settings.paths.card(code, target))
                for code in codes]
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))

    def write_card(code: str) -> None:
        settings.paths.card(code, building).write_text(render_card(settings, ctx, code, template=template),
                                                       encoding="utf-8")

    try:
        background.share(write_card, codes, name="municipality cards", processes=settings.duckdb_threads)
        os.chmod(building, 0o755)
        old = target.with_name(f".{target.name}.old")
        if target.exists():
            os.replace(target, old)
        os.replace(building, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return [settings.paths.card(code, target) for code in codes]


def run(settings: Settings) -> list[Path]:
    """Write the report and every card; return the files written (the report first)."""
    rel = read_releasable(settings.paths)
    written = [_write(render_report(settings, rel), settings.paths.report(settings.language))]
    if rel.table("kommunebidrag") is not None:
        written += write_cards(settings, rel=rel)
    runlog.record(settings.paths.run_log, STAGE, "written", report=written[0].name, cards=len(written) - 1)
    return written
