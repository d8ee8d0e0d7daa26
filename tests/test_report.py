"""The report and the municipality cards on a hand-made releasable directory (tests/report_out.py)."""
from __future__ import annotations

import base64
import re

import pytest
from typer.testing import CliRunner

from cli import app
from figures.style import CATEGORY_COLOURS
from pipeline.report import cards, stage, svg
from pipeline.report.stage import SECTIONS
from tests.report_out import make_out, weighted_mean

runner = CliRunner()


@pytest.fixture
def out(tmp_path):
    return make_out(tmp_path, card_target=70.0, card_targets={"3435": 65.0})


@pytest.fixture
def out_extras(tmp_path):
    return make_out(tmp_path / "extras", extras=True)


def test_report_has_every_item_in_the_reports_order_with_its_caption(out):
    html = stage.render_report(out)
    ids = [item for _, items in SECTIONS for item in items]
    positions = [html.index(f'id="{item}"') for item in ids]
    assert positions == sorted(positions)
    assert "Figur 3.1.</span>Antall registrert bosatte overføringsflyktninger" in html
    assert "Tabell 3.1.</span>Oppsummering av kjennetegn" in html
    for later in ("section_contributions", "section_comparison", "section_methods", "section_manifest"):
        assert html.index(f'id="{later}"') > positions[-1]
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_figures_are_embedded_byte_for_byte_and_absent_ones_are_named(out):
    html = stage.render_report(out)
    block = html[html.index('id="fig3_01"'):html.index('id="fig3_02"')]
    payload = re.search(r'src="data:image/png;base64,([^"]+)"', block).group(1)
    assert base64.b64decode(payload) == (out.paths.figures / "fig3_01.png").read_bytes()
    block = html[html.index('id="fig3_02"'):html.index('id="fig3_03"')]
    assert "<img" not in block and "Figuren finnes ikke i utdatamappen" in block


def test_tables_are_html_tables_with_the_marker_visible(out):
    html = stage.render_report(out)
    block = html[html.index('id="table3_1"'):html.index('id="section_botid"')]
    assert '<table id="t-table3_1">' in block
    assert '<td class="num" data-count="persons">1\u00a0070</td>' in block
    assert '<td class="marker">prikket</td>' in block
    flow = html[html.index('id="t-sample_flow"'):]
    assert '<td class="marker" data-count="persons">prikket</td>' in flow[:flow.index("</table>")]


def test_contribution_figures_and_the_comparison_appear_only_when_present(out, out_extras):
    plain = stage.render_report(out)
    assert 'id="contributions-absent"' in plain and 'id="comparison-absent"' in plain
    full = stage.render_report(out_extras)
    assert 'id="contributions-absent"' not in full and 'id="comparison-absent"' not in full
    assert 'id="kommunebidrag_caterpillar_alle"' in full and 'id="kommunebidrag_funnel_alle"' in full
    assert "Traktdiagram: kommunebidrag mot presisjon" in full
    assert '<table id="t-report_comparison">' in full and "fig 3.16 total R²" in full


def test_method_notes_and_manifest_summary_come_from_the_manifest(out):
    html = stage.render_report(out)
    methods = html[html.index('id="section_methods"'):html.index('id="section_manifest"')]
    assert "reference (0301 = 0)" in methods and "<code>[disclosure] min_persons / marker</code>" in methods
    assert "Definitions and documented choices" in methods and "Privacy by construction" in methods
    summary = html[html.index('id="section_manifest"'):]
    assert "ab" * 32 in summary and "0123abcd" in summary and "2024" in summary and "fig3_08.csv" in summary
    assert "6\u00a0200\u00a0000" in summary  # counts grouped, never one long token
    assert "1.23" not in summary  # no timings: the same inputs give the same page


def test_english_report(out, tmp_path):
    from dataclasses import replace

    html = stage.render_report(replace(out, language="en"))
    assert '<html lang="en">' in html and "Figure 3.1.</span>Number of registered settled" in html


def test_card_compares_observed_with_predicted_and_the_contribution(out):
    ctx = stage.card_context(out)
    html = stage.render_card(out, ctx, "3435")
    mean = weighted_mean("alle")
    assert "Vågå (3435)" in html
    headline = html[html.index('id="headline"'):]
    assert f"utdanning {round(40.0 + 6.5 - mean):.0f} % av personårene" in headline[:400]
    check = html[html.index('id="check"'):]
    gap = f"{6.5 - mean:.2f}".replace(".", ",")
    assert check[:600].count(gap) == 2  # the observed − predicted gap and the contribution − mean agree
    groups = html[html.index('<table id="t-groups">'):]
    groups = groups[:groups.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", groups)
    overforing = next(r for r in rows if "Overføringsflyktninger" in r)
    assert re.findall(r'<td class="(\w+)"', overforing)[1:] == ["marker"] * 8  # no number at all
    assert '<td class="num" data-count="persons">45</td>' in groups
    assert "Mål 65 %" in html and "Kommunens mål: 65 %" in html  # its own target beats [card] target
    assert html.count("<svg") == 4


def test_the_target_line_sits_at_the_target(out):
    chart = svg.observed_predicted([svg.BandPanel("alle", "Alle", [20.0, 50.0], [30.0, 40.0])], bands=["0-1", "2-3"],
                                   total_label="0-9", target=70.0, words=stage.load_text()["words"]["no"], language="no",
                                   marker="prikket", min_persons=30)
    top, bottom = 26, 210 - 36
    y70 = bottom + (70 / 100) * (top - bottom)
    assert f'y1="{y70:.2f}"' in chart and f'y2="{y70:.2f}"' in chart and 'stroke="#D55E00"' in chart
    no_target = svg.observed_predicted([svg.BandPanel("alle", "Alle", [20.0, 50.0], [30.0, 40.0])],
                                       bands=["0-1", "2-3"], total_label="0-9", target=None, words=stage.load_text()["words"]["no"],
                                       language="no", marker="prikket", min_persons=30)
    assert 'stroke="#D55E00"' not in no_target


def test_a_municipality_with_nothing_released_gets_a_card_that_says_only_that(out):
    html = stage.render_card(out, stage.card_context(out), "3437")
    main = html[html.index("<main>"):html.index("</main>")]
    assert 'id="nothing"' in main and "Ingen grupper i Sel har minst 30 personer" in main
    assert "<svg" not in main and "<table" not in main and not re.search(r"\d", main.replace("30", ""))


def test_shrunk_estimates_and_rank_intervals_when_present(out, out_extras):
    plain = stage.render_card(out, stage.card_context(out), "3435")
    assert "Krympet, pp: ikke beregnet i denne kjøringen" in plain and "Rang: ikke beregnet" in plain
    full = stage.render_card(out_extras, stage.card_context(out_extras), "3435")
    groups = full[full.index('<table id="t-groups">'):]
    row = next(r for r in re.findall(r"<tr>(.*?)</tr>", groups[:groups.index("</table>")]) if "Alle flyktninger" in r)
    assert "3,9" in row and "1 av 3" in row and "[1; 3]" in row  # 0.6 × 6.5; rank 1 of 3 released


def test_the_funnel_places_the_municipality(out):
    html = stage.render_card(out, stage.card_context(out), "3435")
    assert 'fill="#D55E00" stroke="white"' in html
    assert svg.funnel_position(10.0, 2.0, 0.0) == "above998" and svg.funnel_position(-5.0, 2.0, 0.0) == "below95"
    assert svg.funnel_position(1.0, 2.0, 0.0) == "inside"


def test_peers_share_the_centrality_class(out):
    html = stage.render_card(out, stage.card_context(out), "3435")
    peers = html[html.index('id="peers"'):]
    assert "Nordre Land (3448)" in peers and "Oslo" not in peers and "Sel (3437)" not in peers


def test_same_releasable_files_give_the_same_bytes(out):
    first = [p.read_bytes() for p in stage.run(out)]
    second = [p.read_bytes() for p in stage.run(out)]
    assert first == second and len(first) == 1 + 4


def test_cli_report_and_card(out, tmp_path):
    args = ["--input", str(out.paths.input), "--work", str(out.paths.work), "--out", str(out.paths.out)]
    result = runner.invoke(app, ["card", "3435", "--dest", str(tmp_path / "cards"), *args])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cards" / "3435.html").exists() and not out.paths.cards.exists()
    result = runner.invoke(app, ["report", "--language", "en", *args])   # the report and every card
    assert result.exit_code == 0, result.output
    assert '<html lang="en">' in out.paths.report("en").read_text()
    assert sorted(p.name for p in out.paths.cards.iterdir()) == ["0301.html", "3435.html", "3437.html", "3448.html"]
    assert "rapport" not in out.paths.manifest.read_text() and "report.html" in out.paths.manifest.read_text()
    result = runner.invoke(app, ["card", "--all", *args])
    assert result.exit_code == 0 and sorted(p.name for p in out.paths.cards.iterdir()) == [
        "0301.html", "3435.html", "3437.html", "3448.html"]
    assert runner.invoke(app, ["card", "9999", *args]).exit_code == 24
    assert runner.invoke(app, ["card", *args]).exit_code == 24


def test_card_colours_are_the_figure_colours():
    assert {k: v for k, v in svg.GROUP_COLOURS.items() if k != "alle"} == CATEGORY_COLOURS


def test_card_targets_are_percentages(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[card]\ntarget = 70\n[card.targets]\n"3435" = 120\n')
    from pipeline.config import load_settings

    with pytest.raises(ValueError, match="percentage from 0 to 100"):
        load_settings(config)
    config.write_text('[card]\ntarget = 70\n[card.targets]\n"3435" = 65\n')
    settings = load_settings(config)
    assert settings.target_of("3435") == 65.0 and settings.target_of("0301") == 70.0


def test_table3_3_labels_are_those_of_the_second_stage():
    from models.second_stage import CHARACTERISTICS

    text = stage.load_text()["characteristics"]
    assert text["no"] == {ch.name: ch.label_no for ch in CHARACTERISTICS}
    assert text["en"] == {ch.name: ch.label_en for ch in CHARACTERISTICS}


def test_cards_written_by_one_or_two_processes_are_the_same_bytes(tmp_path):
    import dataclasses

    written = {}
    for processes in (1, 2):
        settings = dataclasses.replace(make_out(tmp_path / str(processes), card_target=70.0), duckdb_threads=processes)
        written[processes] = {p.name: p.read_bytes() for p in stage.run(settings)}
    assert written[1] == written[2] and len(written[1]) == 1 + 4


def _funnel_one_card_at_a_time(panels, *, highlight, words, language):
    """The funnel as it was drawn before the shared part was drawn once for all cards."""
    pw, ph, cols = 300, 230, 2
    rows = -(-len(panels) // cols)
    out = svg._open(pw * cols, ph * rows, words["chart_funnel_title"])
    for index, panel in enumerate(panels):
        ox, oy = (index % cols) * pw, (index // cols) * ph
        left, right, top, bottom = ox + 44, ox + pw - 12, oy + 26, oy + ph - 34
        out.append(svg._text(ox + pw / 2, oy + 15, panel.title, weight="bold"))
        points = [(k, e, s) for k, e, s in panel.points if svg._finite(e, s) and s > 0]
        if not points or not svg._finite(panel.centre):
            out.append(svg._text((left + right) / 2, (top + bottom) / 2, words["no_points"], fill="#555", size=10))
            continue
        precisions = [1 / s for _, _, s in points]
        x = svg.Scale(0, max(precisions) * 1.05, left, right)
        p_min = min(precisions)
        spread = max(max(abs(e - panel.centre) for _, e, _ in points), svg.Z_LIMITS[1] / p_min * 0.6)
        y = svg.Scale(panel.centre - spread * 1.08, panel.centre + spread * 1.08, bottom, top)
        for tick in svg.nice_ticks(y.lo, y.hi, 5):
            if y.lo <= tick <= y.hi:
                out.append(svg._line(left, y(tick), right, y(tick), stroke=svg.LIGHT, width=0.7))
                out.append(svg._text(left - 5, y(tick) + 4, svg.fmt.number(tick, decimals=0, language=language),
                                     anchor="end", size=10))
        for tick in svg.nice_ticks(0, x.hi, 4):
            if 0 <= tick <= x.hi:
                out.append(svg._text(x(tick), bottom + 14, svg.fmt.number(tick, decimals=1, language=language), size=10))
        out.append(svg._text((left + right) / 2, bottom + 28, "1 / SE", size=10, fill="#555"))
        out.append(svg._line(left, y(panel.centre), right, y(panel.centre), stroke="#333", width=1))
        steps = [p_min * 0.6 + (x.hi - p_min * 0.6) * i / 40 for i in range(41)]
        for z, dash in zip(svg.Z_LIMITS, ("4 3", "1 2")):
            for sign in (1, -1):
                pts = [(x(p), y(panel.centre + sign * z / p)) for p in steps
                       if y.lo <= panel.centre + sign * z / p <= y.hi]
                if len(pts) > 1:
                    out.append(f'<polyline points="{" ".join(f"{svg._n(a)},{svg._n(b)}" for a, b in pts)}" '
                               f'fill="none" stroke="#555" stroke-width="1" stroke-dasharray="{dash}"/>')
        mine = None
        for kommnr, estimate, std_error in points:
            if kommnr == highlight:
                mine = (estimate, std_error)
                continue
            out.append(f'<circle cx="{svg._n(x(1 / std_error))}" cy="{svg._n(y(estimate))}" r="2.6" '
                       f'fill="{svg.GREY}" fill-opacity="0.6"/>')
        if mine is not None:
            cx, cy = x(1 / mine[1]), y(mine[0])
            out.append(f'<circle cx="{svg._n(cx)}" cy="{svg._n(cy)}" r="5.5" fill="{svg.HIGHLIGHT}" stroke="white" '
                       f'stroke-width="1.2"/>')
            position = words[svg.funnel_position(mine[0], mine[1], panel.centre)]
            out.append(svg._text(left + 4, bottom - 4, position, anchor="start", size=9, fill=svg.HIGHLIGHT))
    out.append("</svg>")
    return "\n".join(out)


def test_the_funnel_drawn_once_for_all_cards_is_the_funnel_of_each_card(out):
    ctx = stage.card_context(out)
    panels = [*cards.funnel_panels(ctx), svg.FunnelPanel("none", "Nobody", [("0301", float("nan"), 1.0)], 0.0)]
    drawing = svg.funnel_drawing(panels, words=ctx.words, language="no")
    for kommnr in [*ctx.municipalities, "9999"]:
        expected = _funnel_one_card_at_a_time(panels, highlight=kommnr, words=ctx.words, language="no")
        assert svg.funnel(panels, highlight=kommnr, words=ctx.words, language="no", drawing=drawing) == expected
        assert svg.funnel(panels, highlight=kommnr, words=ctx.words, language="no") == expected
