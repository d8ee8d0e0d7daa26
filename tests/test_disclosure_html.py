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
