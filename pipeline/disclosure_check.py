"""The `disclosure-check` command: scan an output directory before anything leaves the secure room.

One table at a time it fails on (1) any file type that is not a table, text or figure, (2) a column
that holds person-level variables, (3) any cell value equal to a person id of the panel, (4) a table
with as many rows as a person-level extract would have, (5) a persons count from 1 to min_persons − 1
left unsuppressed, (6) a count not rounded to the `[disclosure] count_base` or a share with more
decimals than `share_decimals`, and (7) kommunebidrag without a row for every municipality and
group. Over the whole release it runs the differencing attacks of pipeline/differencing.py and fails
when a suppressed or unpublished count below min_persons comes back exactly.
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import background, differencing
from pipeline.config import Settings
from pipeline.disclosure import Policy

RELEASABLE_SUFFIXES = {".csv", ".md", ".tex", ".png", ".pdf", ".svg", ".json", ".jsonl", ".txt", ".html"}
PERSON_LEVEL_COLUMNS = {"lopenr", "mor_lopenr", "far_lopenr", "partner_lopenr", "foedselsaar",
                        "innvandringsdato", "yrkinnt", "fodselsnummer", "fnr"}
PERSONS_COLUMN = re.compile(r"^(n_persons|persons(_in|_out|_excluded)?|n_personer|antall_personer)$")
COUNT_COLUMN = re.compile(r"^(n_persons|n_person_years|(persons|person_years)(_in|_out|_excluded)?|befolkning_ref)$")
SHARE_COLUMN = re.compile(r"^share_pct$")
MAX_AGGREGATE_ROWS = 50_000


def person_ids(settings: Settings) -> frozenset[str]:
    """Ids of the study population (WORK), read once: what a leaked id would look like."""
    for path, column in ((settings.paths.refugees, "lopenr"), (settings.paths.person_year, "lopenr")):
        if path.exists():
            return frozenset(pd.read_parquet(path, columns=[column])[column].astype(str).unique().tolist())
    return frozenset()


TOKEN = re.compile(r"[A-Za-z0-9_]+")
WORD_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def id_finder(ids: Collection[str]) -> Callable[[str], set[str]]:
    """A function giving the person ids among a text's tokens (runs of [A-Za-z0-9_]).

    When every id is a number of at least L digits (the register's lopenr), only the runs of L or more
    digits can be ids: a regex finds those without cutting the whole text into tokens (same hits, faster).
    """
    ids = ids if isinstance(ids, (set, frozenset)) else frozenset(ids)
    every = "".join(ids)
    if not ids or not (every.isascii() and every.isdigit()):
        return lambda text: set(TOKEN.findall(text)) & ids
    digits = re.compile(f"[0-9][0-9]{{{min(map(len, ids)) - 1},}}")   # first [0-9] alone: a faster search

    def find(text: str) -> set[str]:
        # a maximal digit run is a whole token unless a letter or _ touches it
        runs = (m for m in digits.finditer(text)
                if (m.start() == 0 or text[m.start() - 1] not in WORD_CHARACTERS)
                and (m.end() == len(text) or text[m.end()] not in WORD_CHARACTERS))
        return {m.group() for m in runs} & ids

    return find


def _numbers(text: pd.Series, marker: str) -> pd.Series:
    return pd.to_numeric(text.where(text != marker), errors="coerce")


def rows(mask: np.ndarray) -> str:
    """The first offending lines of a CSV file (line 1 is the header)."""
    return ", ".join(str(i + 2) for i in np.flatnonzero(mask)[:5])


def check_table(path: Path, frame: pd.DataFrame, ids: frozenset[str], policy: Policy) -> list[str]:
    """Problems of one CSV table read as text (pure apart from the arguments)."""
    name = str(path)
    problems = []
    person_columns = sorted(PERSON_LEVEL_COLUMNS & {c.lower() for c in frame.columns})
    if person_columns:
        problems.append(f"{name}: person-level column(s) {person_columns}")
    if len(frame) > MAX_AGGREGATE_ROWS:
        problems.append(f"{name}: {len(frame):,} rows looks like a row-level table (limit {MAX_AGGREGATE_ROWS:,})")
    for column in frame.columns:
        values = frame[column]
        hit_values = ids.intersection(values.unique().tolist()) if ids else ()
        if hit_values:
            hits = values.isin(hit_values)
            numeric = _numbers(values, policy.marker).notna() | (values == policy.marker)
            # a number that happens to equal a numeric id is only a leak when the column is mostly ids
            if hits[~numeric].any() or hits.sum() > 0.5 * max(len(values), 1):
                problems.append(f"{name}: column '{column}' has {int(hits.sum())} cell(s) equal to a person id "
                                f"of the panel")
        if not (PERSONS_COLUMN.match(str(column)) or COUNT_COLUMN.match(str(column)) or SHARE_COLUMN.match(str(column))):
            continue   # the checks below read counts and shares only
        numbers = _numbers(values, policy.marker)
        if PERSONS_COLUMN.match(str(column)):
            small = ((numbers > 0) & (numbers < policy.min_persons)).to_numpy()
            if small.any():
                problems.append(f"{name}: column '{column}' has {int(small.sum())} unsuppressed count(s) below "
                                f"{policy.min_persons} (rows {rows(small)})")
        if COUNT_COLUMN.match(str(column)) and policy.count_base > 1:
            unrounded = (numbers.notna() & (numbers % policy.count_base != 0)).to_numpy()
            if unrounded.any():
                problems.append(f"{name}: column '{column}' has {int(unrounded.sum())} count(s) not rounded to "
                                f"a multiple of {policy.count_base} (rows {rows(unrounded)})")
        if SHARE_COLUMN.match(str(column)):
            scale = 10.0 ** policy.share_decimals
            precise = (numbers.notna() & ((numbers * scale - (numbers * scale).round()).abs() > 1e-6)).to_numpy()
            if precise.any():
                problems.append(f"{name}: column '{column}' has {int(precise.sum())} share(s) with more than "
                                f"{policy.share_decimals} decimal(s) (rows {rows(precise)})")
    return problems


def check_contribution_rows(path: Path, frame: pd.DataFrame) -> list[str]:
    """kommunebidrag must hold every municipality in every group: a missing row tells 'none' from 'few'."""
    if not {"gruppe", "kommnr_2020"} <= set(frame.columns):
        return []
    sets = frame.groupby("gruppe")["kommnr_2020"].agg(frozenset)
    every = frozenset().union(*sets) if len(sets) else frozenset()
    short = {gruppe: len(every - codes) for gruppe, codes in sets.items() if codes != every}
    if short:
        return [f"{path}: groups {sorted(short)} lack rows for some municipalities ({short}); write every "
                f"municipality x group row, with the marker for none and for few alike"]
    return []


def run(settings: Settings) -> list[str]:
    """All problems found in settings.paths.out (empty list: the directory may be released)."""
    out = settings.paths.out
    if not out.exists():
        return [f"{out}: output directory does not exist"]
    policy = settings.disclosure
    ids = person_ids(settings)
    find_ids = id_finder(ids)
    pages = read_pages(settings)
    # the tables and the differencing attacks here while a second process starts on the pages
    (problems, attacks), page_problems = background.share(
        page_checker(settings, pages, ids, find_ids=find_ids), pages.texts, name="disclosure check of the HTML pages",
        processes=settings.duckdb_threads,
        first=lambda: (check_files(settings, ids, find_ids), differencing.attack(out, policy)))
    return problems + [problem for found in page_problems for problem in found] + attacks


def check_files(settings: Settings, ids: frozenset[str], find_ids: Callable[[str], set[str]]) -> list[str]:
    """Problems of every file in OUT but the HTML pages: file types, tables, and person ids in text files."""
    policy = settings.disclosure
    problems = []
    for path in sorted(p for p in settings.paths.out.rglob("*") if p.is_file()):
        if path.name.startswith("."):
            problems.append(f"{path}: leftover temporary file")
            continue
        if path.suffix not in RELEASABLE_SUFFIXES:
            problems.append(f"{path}: file type {path.suffix or '(none)'} is not releasable")
            continue
        if path.suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            problems += check_table(path, frame, ids, policy)
            if path.name == "kommunebidrag.csv":
                problems += check_contribution_rows(path, frame)
        elif path.suffix in {".md", ".tex", ".json", ".jsonl", ".txt"} and ids:
            leaked = find_ids(path.read_text(encoding="utf-8", errors="replace"))
            if leaked:
                problems.append(f"{path}: {len(leaked)} person id(s) in the text")
    return problems


# --- HTML pages: the report and the municipality cards ---------------------------------------------
# (6) a person id in the text, (7) a persons count from 1 to min_persons-1 in a table, (8) an embedded
# image that is not byte-identical to a figure in OUT/figures, an external reference, or an inline SVG
# that the card code does not draw from the releasable tables in OUT.

HTML_PERSONS_HEADER = re.compile(r"^(n_persons|persons(_in|_out|_excluded)?|personer|persons|antall personer|"
                                 r"personer (inn|ut|ekskludert)|persons (in|out|excluded))$", re.IGNORECASE)
DATA_URI = re.compile(r"data:(image/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=\s]+)")
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)
# EXTERNAL read backwards from the "//" that ends every match of it (see has_external_reference)
EXTERNAL_REVERSED = re.compile(r"""//(?::s?ptth)?\s*["']?\s*=\s*(?:crs|ferh)|//(?::s?ptth)?["']?\s*\(lru""",
                               re.IGNORECASE)
NOT_EMBEDDED = re.compile(r"""<img\b[^>]*\bsrc\s*=\s*["'](?!data:)([^"']*)""", re.IGNORECASE)
INLINE_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
HTML_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL | re.IGNORECASE)
# a row's class (the card's own municipality among its peers) is not read by the table parser
ROW_CLASS = re.compile(r'<tr class="[^"<>&]*">')


class _HtmlTables(HTMLParser):
    """Cells of every <table>: (header text of the column, data-count attribute, cell text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[tuple[str, str | None, str]] = []
        self._header: list[str] = []
        self._row: list[tuple[str, str | None, str]] = []
        self._cell: tuple[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._header = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = (tag, dict(attrs).get("data-count"))
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._row.append((self._cell[0], self._cell[1], "".join(self._text).strip()))
            self._cell = None
        elif tag == "tr":
            if self._row and all(kind == "th" for kind, _, _ in self._row):
                self._header = [text for _, _, text in self._row]
            else:
                for i, (_, count, text) in enumerate(self._row):
                    header = self._header[i] if i < len(self._header) else ""
                    self.cells.append((header, count, text))
            self._row = []


SIMPLE_TAG = re.compile(r'<([a-z][a-z0-9]*)((?: [a-z][a-z0-9_-]*="[^"<>&]*")*)>|</([a-z][a-z0-9]*)>')
SIMPLE_ATTRIBUTE = re.compile(r' ([a-z][a-z0-9_-]*)="([^"<>&]*)"')


def _feed_simple(parser: _HtmlTables, table: str) -> bool:
    """Feed `parser` the events HTMLParser would give for markup as the templates write it: lower-case tags,
    double-quoted attributes, no comments, no character references, no script or style. False, having
    fed nothing, when `table` is anything else (HTMLParser then reads it)."""
    events, at = [], 0
    for tag in SIMPLE_TAG.finditer(table):
        text = table[at:tag.start()]
        if "<" in text or "&" in text:
            return False
        start, attributes, end = tag.groups()
        if (start or end) in ("script", "style"):
            return False
        if text:
            events.append((parser.handle_data, (text,)))
        if start:
            events.append((parser.handle_starttag, (start, SIMPLE_ATTRIBUTE.findall(attributes) if attributes else [])))
        else:
            events.append((parser.handle_endtag, (end,)))
        at = tag.end()
    rest = table[at:]
    if "<" in rest or "&" in rest:
        return False
    for handle, arguments in events:
        handle(*arguments)
    if rest:
        parser.handle_data(rest)
    return True


def _count_value(text: str) -> int | None:
    digits = re.sub(r"[\s\u00a0\u202f,.]", "", text)
    return int(digits) if digits.isdigit() else None


def table_small_counts(table: str, *, min_persons: int, marker: str) -> list[str]:
    """Persons counts from 1 to min_persons-1 in one <table> (cells marked data-count="persons" or under a
    persons header), parsed on its own: markup left open in one table cannot hide the next."""
    parser = _HtmlTables()
    if not _feed_simple(parser, table):
        parser.feed(table)
    small = []
    for header, count, text in parser.cells:
        if count != "persons" and not HTML_PERSONS_HEADER.match(header):
            continue
        value = None if text == marker else _count_value(text)
        if value is not None and 0 < value < min_persons:
            small.append(text)
    return small


def html_small_counts(html: str, *, min_persons: int, marker: str, seen: dict[str, list[str]] | None = None) -> list[str]:
    """Persons counts (cells marked data-count="persons" or under a persons header) from 1 to min_persons-1.

    `seen` keeps each table's result across pages: the peers table recurs on every card of a centrality
    class, differing only in the highlighted row's class, so it is parsed once per class."""
    seen = {} if seen is None else seen
    small = []
    for table in HTML_TABLE.findall(html):
        key = ROW_CLASS.sub("<tr>", table)
        if key not in seen:
            seen[key] = table_small_counts(key, min_persons=min_persons, marker=marker)
        small += seen[key]
    return [f"{len(small)} unsuppressed persons count(s) below {min_persons} ({', '.join(small[:5])})"] if small else []


def html_person_ids(html: str, ids: Collection[str], *, find: Callable[[str], set[str]] | None = None) -> list[str]:
    leaked = (find or id_finder(ids))(DATA_URI.sub(" ", html))
    return [f"{len(leaked)} person id(s) in the text"] if leaked else []


def has_external_reference(html: str) -> bool:
    """EXTERNAL.search(html), found faster: every match ends in "//", so only the few "//" in a page are
    tried, each by matching EXTERNAL reversed on the reversed page from there."""
    backwards = html[::-1]
    at = html.find("//")
    while at >= 0:
        if EXTERNAL_REVERSED.match(backwards, len(html) - at - 2):
            return True
        at = html.find("//", at + 1)
    return False


def html_images(html: str, *, figure_hashes: set[str]) -> list[str]:
    """Embedded images must be byte-identical to a released figure; nothing may be fetched from elsewhere."""
    problems = []
    for kind, payload in DATA_URI.findall(html):
        digest = hashlib.sha256(base64.b64decode(re.sub(r"\s", "", payload))).hexdigest()
        if digest not in figure_hashes:
            problems.append(f"an embedded {kind} image is not byte-identical to any figure in the figures folder")
    if has_external_reference(html):
        problems.append("a reference to another host (the page must open offline)")
    for src in NOT_EMBEDDED.findall(html):
        problems.append(f"an image that is not embedded ({src[:60]})")
    return problems


def inline_svgs(html: str) -> list[str]:
    """INLINE_SVG.findall(html), found with str.find (the lazy regex is slow on large pages)."""
    found, at = [], html.find("<svg")
    while at >= 0:
        after = at + 4
        if after < len(html) and (html[after].isalnum() or html[after] == "_"):   # no \b after "<svg"
            at = html.find("<svg", at + 1)
            continue
        end = html.find("</svg>", after)
        if end < 0:
            break
        found.append(html[at:end + 6])
        at = html.find("<svg", end + 6)
    return found


def html_svgs(html: str, *, expected: set[str]) -> list[str]:
    stray = [svg for svg in inline_svgs(html) if svg not in expected]
    return [f"{len(stray)} inline SVG chart(s) not drawn by the card code from the releasable tables"] if stray else []


def _page_language(html: str) -> str:
    match = re.search(r'<html[^>]*\blang="([a-z]+)"', html)
    return "en" if match and match.group(1) == "en" else "no"


@dataclass
class Pages:
    """The HTML pages of OUT with what checking them needs, read and built before they are checked
    (so that checking them is plain Python): the released figures' hashes and the card contexts."""

    texts: list[tuple[Path, str]]
    figure_hashes: set[str]
    contexts: dict[str, object]   # page language -> the card code's context (None: no kommunebidrag)


def read_pages(settings: Settings) -> Pages:
    out = settings.paths.out
    paths = sorted(p for p in out.rglob("*.html") if not p.name.startswith("."))
    texts = [(path, path.read_text(encoding="utf-8", errors="replace")) for path in paths]
    figures = settings.paths.figures
    figure_hashes = {hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in (sorted(figures.glob("*.png")) + sorted(figures.glob("*.svg")) if figures.exists() else [])}
    contexts: dict[str, object] = {}
    for path, html in texts:
        if _draws_charts(settings, path, html):
            _card_context(settings, _page_language(html), contexts)
    return Pages(texts, figure_hashes if texts else set(), contexts)


def page_checker(settings: Settings, pages: Pages, ids: Collection[str], *,
                 find_ids: Callable[[str], set[str]] | None = None) -> Callable[[tuple[Path, str]], list[str]]:
    """The check of one page of `pages` (checks 6-8 above); `find_ids`: id_finder(ids), if at hand."""
    find_ids = find_ids or (id_finder(ids) if ids else None)
    tables: dict[str, list[str]] = {}   # what each table gave, for the pages this process checks

    def check(page: tuple[Path, str]) -> list[str]:
        path, html = page
        found = (html_person_ids(html, ids, find=find_ids) if ids else []) + \
            html_small_counts(html, min_persons=settings.min_persons, marker=settings.suppression_marker,
                              seen=tables) + \
            html_images(html, figure_hashes=pages.figure_hashes) + \
            html_svgs(html, expected=_expected_svgs(settings, path, html, pages.contexts))
        return [f"{path}: {problem}" for problem in found]

    return check


def check_html_pages(settings: Settings, ids: Collection[str], *,
                     find_ids: Callable[[str], set[str]] | None = None) -> list[str]:
    """Problems of every .html page in OUT (checks 6-8 above), in this process."""
    pages = read_pages(settings)
    check = page_checker(settings, pages, ids, find_ids=find_ids)
    return [problem for page in pages.texts for problem in check(page)]


def _draws_charts(settings: Settings, path: Path, html: str) -> bool:
    """A card with inline SVG: the card code must draw each of its charts again."""
    return path.parent == settings.paths.cards and "<svg" in html


def _card_context(settings: Settings, language: str, contexts: dict) -> object:
    """The card code's context for `language`, built once (None when OUT has no kommunebidrag)."""
    from pipeline.report import cards, sources, stage

    if language not in contexts:
        try:
            released = sources.read_releasable(settings.paths, stems=cards.TABLES)
            contexts[language] = stage.card_context(settings, released, language=language)
        except FileNotFoundError:
            contexts[language] = None
    return contexts[language]


def _expected_svgs(settings: Settings, path: Path, html: str, contexts: dict) -> set[str]:
    """The inline SVGs the card code draws for this page from OUT's releasable tables (none elsewhere)."""
    if not _draws_charts(settings, path, html):
        return set()
    from pipeline.report import cards

    ctx = _card_context(settings, _page_language(html), contexts)
    if ctx is None or path.stem not in ctx.municipalities or not cards.released_groups(ctx, path.stem):
        return set()
    # the charts of cards.card(), without the rest of the card
    return set(cards.chart_svgs(ctx, path.stem, target=settings.target_of(path.stem)).values())
