"""The disclosure check on the report and the cards: each kind of leak is planted and found."""
from __future__ import annotations

import base64

import pytest

from pipeline import disclosure_check
from pipeline.report import stage
from tests.report_out import make_out, png

PERSON_ID = "10000040"


@pytest.fixture
def out(tmp_path):
    settings = make_out(tmp_path, card_target=70.0)
    stage.run(settings)
    return settings


def plant(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(settings):
    return disclosure_check.check_html_pages(settings, {PERSON_ID, "10000041"})


def test_the_report_and_the_cards_pass(out):
    assert problems(out) == []
    assert disclosure_check.run(out) == []


def test_a_person_id_in_the_text_is_found(out):
    plant(out.paths.card("3435"), "Vågå (3435)", f"Vågå (3435) {PERSON_ID}")
    found = problems(out)
    assert len(found) == 1 and "3435.html" in found[0] and "person id" in found[0]


def test_a_small_persons_count_is_found(out):
    plant(out.paths.card("3435"), '<td class="num" data-count="persons">45</td>',
          '<td class="num" data-count="persons">12</td>')
    found = problems(out)
    assert len(found) == 1 and "below 30 (12)" in found[0]


def test_a_small_count_under_a_persons_header_is_found_without_the_attribute(out):
    plant(out.paths.report("no"), "</main>",
          "<table><thead><tr><th>Kommune</th><th>Personer</th></tr></thead><tbody><tr><td>Sel</td><td>7</td></tr>"
          "<tr><td>Vågå</td><td>prikket</td></tr><tr><td>Oslo</td><td>1 070</td></tr></tbody></table></main>")
    found = problems(out)
    assert len(found) == 1 and "rapport.html" in found[0] and "below 30 (7)" in found[0]


def test_an_embedded_image_that_is_not_a_released_figure_is_found(out):
    released = base64.b64encode((out.paths.figures / "fig3_01.png").read_bytes()).decode()
    other = base64.b64encode(png((1, 2, 3))).decode()
    plant(out.paths.report("no"), "</main>", f'<img src="data:image/png;base64,{released}" alt="copy"></main>')
    assert problems(out) == []  # a byte-identical copy of a released figure is fine
    plant(out.paths.report("no"), "</main>", f'<img src="data:image/png;base64,{other}" alt="drawn elsewhere"></main>')
    found = problems(out)
    assert len(found) == 1 and "not byte-identical to any figure" in found[0]


def test_an_inline_svg_not_drawn_from_the_released_tables_is_found(out):
    card = out.paths.card("3435")
    text = card.read_text(encoding="utf-8")
    # move one observed point: a chart drawn from another (e.g. unsuppressed) number
    start = text.index('<circle cx="', text.index("<svg"))
    end = text.index("/>", start)
    circle = text[start:end]
    moved = circle.replace('cy="', 'cy="1', 1)
    card.write_text(text[:start] + moved + text[end:], encoding="utf-8")
    found = problems(out)
    assert len(found) == 1 and "inline SVG" in found[0] and "3435.html" in found[0]


def test_an_inline_svg_in_the_report_is_found(out):
    plant(out.paths.report("no"), "</main>", '<svg viewBox="0 0 10 10"><circle cx="5" cy="5" r="1"/></svg></main>')
    assert any("inline SVG" in p for p in problems(out))


def test_a_reference_to_another_host_is_found(out):
    plant(out.paths.card("0301"), "</main>", '<img src="https://example.org/pixel.png"></main>')
    found = problems(out)
    assert any("another host" in p for p in found) and any("not embedded" in p for p in found)


def test_the_check_of_the_whole_directory_includes_the_pages(out):
    plant(out.paths.card("3448"), "Nordre Land (3448)", f"Nordre Land (3448) {PERSON_ID}")
    import pandas as pd

    # the directory check reads the panel's person ids from WORK
    out.paths.panel_dir.mkdir(parents=True)
    pd.DataFrame({"lopenr": [PERSON_ID]}).to_parquet(out.paths.person_year)
    assert any("3448.html" in p and "person id" in p for p in disclosure_check.run(out))


# --- the whole-directory check (pages on two processes) finds each planted leak ---------------------

def _with_person_ids(settings):
    import pandas as pd

    settings.paths.panel_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"lopenr": [PERSON_ID, "10000041"]}).to_parquet(settings.paths.person_year)
    return settings


def _plant_other_image(settings):
    other = base64.b64encode(png((1, 2, 3))).decode()
    plant(settings.paths.report("no"), "</main>", f'<img src="data:image/png;base64,{other}" alt="x"></main>')


def _move_a_point(settings):
    card = settings.paths.card("3435")
    text = card.read_text(encoding="utf-8")
    start = text.index('<circle cx="', text.index("<svg"))
    card.write_text(text[:start] + text[start:].replace('cy="', 'cy="1', 1), encoding="utf-8")


PLANTED = {
    "person id": (lambda s: plant(s.paths.card("3435"), "Vågå (3435)", f"Vågå (3435) {PERSON_ID}"),
                  "3435.html", "person id"),
    "small count": (lambda s: plant(s.paths.card("3435"), '<td class="num" data-count="persons">45</td>',
                                    '<td class="num" data-count="persons">12</td>'), "3435.html", "below 30 (12)"),
    # the same peers table is on 3435's card, unchanged: a table read before must not hide this one
    "small count among the peers": (lambda s: plant(s.paths.card("3448"), '<td class="num" data-count="persons">45</td>',
                                                    '<td class="num" data-count="persons">7</td>'),
                                    "3448.html", "below 30 (7)"),
    "image": (_plant_other_image, "rapport.html", "not byte-identical"),
    "moved point": (_move_a_point, "3435.html", "inline SVG"),
    "external": (lambda s: plant(s.paths.card("0301"), "</main>", '<img src="https://example.org/p.png"></main>'),
                 "0301.html", "another host"),
}


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("leak", sorted(PLANTED))
def test_the_directory_check_finds_each_planted_leak(tmp_path, leak, processes):
    import dataclasses

    settings = _with_person_ids(dataclasses.replace(make_out(tmp_path, card_target=70.0), duckdb_threads=processes))
    stage.run(settings)
    assert disclosure_check.run(settings) == []
    write, page, message = PLANTED[leak]
    write(settings)
    found = disclosure_check.run(settings)
    assert len([p for p in found if page in p]) >= 1 and all(page in p for p in found), found
    assert any(message in p for p in found), found


# --- the fast forms of the page checks agree with the plain ones -----------------------------------

def _random_texts(alphabet: list[str], n: int = 3000, length: int = 30, seed: int = 1) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, length))) for _ in range(n)]


def test_the_external_reference_search_agrees_with_the_regex():
    pieces = ["src", "SRC", "ſrc", "href", "HrEf", "url(", "URL(", "=", " ", "\n", '"', "'", "http:", "https:",
              "HTTPS:", "//", "/", ":", "a", "s", "h", "(", ">", "<img "]
    texts = _random_texts(pieces) + ['<img src="//x">', "href = ' https://a'", "url( 'http://a')", "url('//a')",
                                     'href="../rapport.html"', 'xmlns="http://www.w3.org/2000/svg"', "src=///x"]
    for text in texts:
        assert disclosure_check.has_external_reference(text) == bool(disclosure_check.EXTERNAL.search(text)), text


def test_the_inline_svg_search_agrees_with_the_regex():
    pieces = ["<svg", "<svg>", "<svgx", "<svg_", "<svgé", "</svg>", "</svg", "<svg ", "a", "\n", "<", ">", "/"]
    for text in _random_texts(pieces) + ["<svg", "<svg></svg>", "<svg><svg></svg></svg>", "x<svg a>y</svg>z</svg>"]:
        assert disclosure_check.inline_svgs(text) == disclosure_check.INLINE_SVG.findall(text), text


def _cells(table: str, *, simple: bool) -> list | None:
    parser = disclosure_check._HtmlTables()
    if simple:
        return parser.cells if disclosure_check._feed_simple(parser, table) else None
    parser.feed(table)
    return parser.cells


def test_the_simple_table_reader_gives_what_the_html_parser_gives_or_leaves_the_table_to_it():
    written = ('<table id="t-peers">\n<thead><tr><th scope="col">Kommune</th><th scope="col">Personer</th></tr></thead>'
               '\n<tbody>\n<tr class="highlight"><td class="">Vågå (3435)</td><td class="num" data-count="persons">'
               '45</td></tr>\n<tr><td class="">Sel</td><td class="marker" data-count="persons">prikket</td></tr>\n'
               '</tbody>\n</table>')
    assert _cells(written, simple=True) == _cells(written, simple=False) != []
    others = [written.replace("45", "&#52;5"), written.replace("<td", "<TD"), written.replace('class=""', "class=x"),
              written.replace("45", "4<!-- -->5"), written.replace("Sel", "<script>1</script>Sel"),
              written.replace("45", "<b>4</b>5"), written.replace('"num"', "'num'")]
    for table in others:
        simple = _cells(table, simple=True)
        assert simple is None or simple == _cells(table, simple=False), table
    assert _cells(others[0], simple=True) is None and _cells(others[3], simple=True) is None


def test_markup_left_open_in_one_table_does_not_hide_the_next():
    html = ("<table><tr><th>Personer</th></tr><tr><td><!-- unclosed</td></tr></table>"
            "<table><tr><th>Personer</th></tr><tr><td>7</td></tr></table>")
    assert "below 30 (7)" in disclosure_check.html_small_counts(html, min_persons=30, marker="prikket")[0]


def test_the_person_id_finder_agrees_with_the_tokens():
    import re

    pieces = ["10000040", "1000004", "100000401", "0", "a", "_", "é", " ", ".", "-", "10000041", "x10000041"]
    for ids in ({"10000040", "10000041"}, {"10000040", "ab_12"}, {"1000004", "10000040"}):
        find = disclosure_check.id_finder(ids)
        for text in _random_texts(pieces, length=8):
            assert find(text) == set(re.findall(r"[A-Za-z0-9_]+", text)) & ids, (ids, text)
    assert disclosure_check.id_finder(set())("10000040") == set()
