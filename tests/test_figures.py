"""Figures: deterministic bytes, suppressed cells left out, language switch, and the render stage."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from figures import descriptive, municipal, regression, style
from pipeline import disclosure, render
from pipeline.config import PROJECT_ROOT, load_settings
from pipeline.io import write_csv

MARKER = "prikket"


def botid_table() -> pd.DataFrame:
    """A releasable fig3_08-like table with one suppressed cell (familie, women, botid 2)."""
    rows = []
    for category in ("overforing", "asyl", "familie"):
        for sex in (1, 2):
            for botid in range(5):
                rows.append({"outcome": "arbeid_utdanning", "kategori": category, "botid": botid, "kjonn": sex,
                             "share_pct": 10.0 + 12 * botid - 5 * sex, "n_persons": 100, "n_person_years": 100})
    frame = pd.DataFrame(rows)
    small = (frame["kategori"] == "familie") & (frame["kjonn"] == 2) & (frame["botid"] == 2)
    frame.loc[small, "n_persons"] = 29
    frame.loc[small, "n_person_years"] = 29
    return frame


def releasable(tmp_path: Path, frame: pd.DataFrame, name: str, stats: list[str]) -> Path:
    out, _ = disclosure.suppress(frame, stat_columns=stats, min_persons=30, marker=MARKER)
    return write_csv(out, tmp_path / f"{name}.csv")


SCRIPT = """
import sys
from pathlib import Path
from pipeline import render
from figures import style
stem, fn, num = render.FIGURES["fig3_08"]
frame = render.read_releasable(Path(sys.argv[1]), num, marker="prikket")
style.save_figure(fn(frame, language="no"), Path(sys.argv[2]))
"""


def test_same_input_gives_identical_png_and_pdf_bytes(tmp_path):
    source = releasable(tmp_path, botid_table(), "fig3_08", ["share_pct"])
    numeric = render.FIGURES["fig3_08"][2]
    first = style.save_figure(descriptive.fig3_08(render.read_releasable(source, numeric, marker=MARKER)), tmp_path / "a")
    second = style.save_figure(descriptive.fig3_08(render.read_releasable(source, numeric, marker=MARKER)), tmp_path / "b")
    subprocess.run([sys.executable, "-c", SCRIPT, str(source), str(tmp_path / "c")], check=True, cwd=PROJECT_ROOT)
    for suffix in (".png", ".pdf"):
        a, b, c = ((tmp_path / f"{s}{suffix}").read_bytes() for s in "abc")
        assert a == b == c, suffix
    assert [p.suffix for p in first] == [".png", ".pdf"] and second[0].name == "b.png"
    pdf = (tmp_path / "a.pdf").read_bytes()
    assert b"CreationDate" not in pdf and b"Producer" not in pdf


def test_suppressed_point_is_missing_from_the_line(tmp_path):
    source = releasable(tmp_path, botid_table(), "fig3_08", ["share_pct"])
    frame = render.read_releasable(source, render.FIGURES["fig3_08"][2], marker=MARKER)
    assert frame["share_pct"].isna().sum() == 1
    fig = descriptive.fig3_08(frame)
    familie = fig.axes[2]
    women = [line for line in familie.get_lines() if line.get_label() == "Kvinner"][0]
    x, y = women.get_data()
    assert list(x) == [0, 1, 2, 3, 4]
    assert np.isnan(y[2]) and not np.isnan(y[[0, 1, 3, 4]]).any()
    men = [line for line in fig.axes[0].get_lines() if line.get_label() == "Menn"][0]
    np.testing.assert_allclose(men.get_data()[1], [5, 17, 29, 41, 53])


def test_composition_bar_with_suppressed_share_is_left_out():
    persons = pd.DataFrame({"kategori": ["asyl"] * 4, "innvandringsaar": [2015, 2015, 2016, 2016],
                            "kjonn": ["1", "2", "1", "2"], "share_pct": [40.0, 60.0, np.nan, np.nan],
                            "n_persons": [50.0, 50.0, np.nan, np.nan]})
    fig = descriptive.fig3_02(persons)
    bars = [patch for patch in fig.axes[1].patches]
    assert sorted({round(b.get_x() + b.get_width() / 2) for b in bars}) == [2015]
    assert sorted(b.get_height() for b in bars) == [40.0, 60.0]


def test_language_option_switches_labels():
    table = botid_table()
    no = descriptive.fig3_08(table, language="no")
    en = descriptive.fig3_08(table, language="en")
    assert no.axes[0].get_title() == "overføringsflyktninger" and no.axes[0].get_xlabel() == "Botid (år)"
    assert en.axes[0].get_title() == "resettled (quota) refugees" and en.axes[0].get_xlabel() == "Years since immigration"
    with pytest.raises(ValueError, match="language"):
        style.label("botid", "de")


def test_outcome_variants_share_the_code_path():
    table = botid_table()
    employed = table.assign(outcome="sysselsatt", share_pct=table["share_pct"] / 2)
    both = pd.concat([table, employed], ignore_index=True)
    fig = descriptive.fig3_08(both, outcome="sysselsatt")
    assert fig.axes[0].get_ylabel() == "Sysselsatt (yrkesinntekt > 1 G), %"
    men = [line for line in fig.axes[0].get_lines() if line.get_label() == "Menn"][0]
    np.testing.assert_allclose(men.get_data()[1], [2.5, 8.5, 14.5, 20.5, 26.5])


def test_fig3_15_plots_the_two_category_terms():
    rows = []
    for model in range(1, 10):
        for term, est in [(regression.COEFFICIENT_TERMS["overforing"], -14 + model),
                          (regression.COEFFICIENT_TERMS["familie"], -8 + model), ("botid[1]", 99.0)]:
            rows.append({"model": model, "model_name": "baseline" if model == 1 else f"m{model}", "term": term,
                         "estimate": est, "std_error": 1.0, "ci_low": est - 1.96, "ci_high": est + 1.96})
    fig = regression.fig3_15(pd.DataFrame(rows))
    ax = fig.axes[0]
    containers = [c for c in ax.containers if c.get_label().startswith(("overf", "famil"))]
    assert len(containers) == 2
    series = [c.lines[0] for c in containers]
    np.testing.assert_allclose(series[0].get_data()[1], np.arange(-13, -4))
    assert ax.get_xticklabels()[0].get_text() == "Baseline"
    assert 99.0 not in np.concatenate([s.get_data()[1] for s in series])


def test_r2_contributions_accepts_both_conventions():
    contributions = pd.DataFrame({"sample": ["alle"] * 2, "block": ["botid", "kjonn"],
                                  "r2_share": [0.17, 0.03], "r2_total": [0.20, 0.20]})
    shares = contributions.assign(r2_share=[0.85, 0.15])
    np.testing.assert_allclose(regression.r2_contributions(contributions), [0.17, 0.03])
    np.testing.assert_allclose(regression.r2_contributions(shares), [0.17, 0.03])
    fig = regression.fig3_16(contributions, language="en")
    widths = sorted(p.get_width() for p in fig.axes[0].patches)
    np.testing.assert_allclose(widths, [3.0, 17.0])


def r2_table() -> pd.DataFrame:
    """A fig3_16-like table: 4 groups x (all botid, 3, 6, 9) x 3 blocks; planted contributions."""
    rows = []
    for g, group in enumerate(("overforing", "asyl", "familie", "alle")):
        for botid in ("alle", "3", "6", "9"):
            sample = group if botid == "alle" else f"{group}_botid{botid}"
            shares = {"kategori": 0.01 * (g + 1), "botid": 0.0 if botid != "alle" else 0.08,
                      "kommune": 0.05 + (0.0 if botid == "alle" else int(botid) / 100)}
            for block, share in shares.items():
                rows.append({"sample": sample, "block": block, "r2_share": share,
                             "r2_total": sum(shares.values()), "n_person_years": 100})
    return pd.DataFrame(rows)


def bars_by_label(ax) -> dict[str, list[float]]:
    return {c.get_label(): [bar.get_width() for bar in c] for c in ax.containers}


def test_fig3_16_one_panel_per_group_with_four_botid_samples(tmp_path):
    table = r2_table()
    table["r2_share"] = table["r2_share"].astype(object)
    familie6 = (table["sample"] == "familie_botid6") & (table["block"] == "kategori")
    table.loc[familie6, "r2_share"] = MARKER  # suppressed cell, read back as NaN
    write_csv(table, tmp_path / "fig3_16.csv")
    frame = render.read_releasable(tmp_path / "fig3_16.csv", render.FIGURES["fig3_16"][2], marker=MARKER)
    assert frame["r2_share"].isna().sum() == 1
    fig = regression.fig3_16(frame)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title(loc="left") for ax in axes] == ["Alle", "Asylsøkere", "Overføringsflyktninger",
                                                         "Familiegjenforente"]
    alle = bars_by_label(axes[0])
    assert list(alle) == ["Alle botidsår", "Botid 3", "Botid 6", "Botid 9"]
    np.testing.assert_allclose(alle["Alle botidsår"], [4.0, 8.0, 5.0])  # percent of variance, block order
    np.testing.assert_allclose(alle["Botid 9"], [4.0, 0.0, 14.0])
    familie = bars_by_label(axes[3])
    np.testing.assert_allclose(familie["Botid 6"], [0.0, 11.0])  # kategori bar suppressed: not drawn
    np.testing.assert_allclose(familie["Botid 3"], [3.0, 0.0, 8.0])
    # first block on top; within a block the four samples top to bottom in legend order
    ys = {label: [bar.get_y() + bar.get_height() / 2 for bar in c] for label, c in
          ((c.get_label(), c) for c in axes[1].containers)}
    assert ys["Alle botidsår"][0] > ys["Alle botidsår"][1] > ys["Alle botidsår"][2]
    assert ys["Alle botidsår"][0] > ys["Botid 3"][0] > ys["Botid 6"][0] > ys["Botid 9"][0] > ys["Alle botidsår"][1]
    ticks = sorted(zip(axes[0].get_yticks(), (t.get_text() for t in axes[0].get_yticklabels())), reverse=True)
    assert [text for _, text in ticks] == ["Kategori", "Botid", "Bosettingskommune"]
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["Alle botidsår", "Botid 3", "Botid 6", "Botid 9"]
    colours = {tuple(p.get_facecolor()) for p in legend.get_patches()}
    assert len(colours) == 4


def subtitle_texts(ax) -> list[str]:
    return [child.get_text() for box in ax.artists for child in box.get_child().get_children()]


def test_fig3_16_subtitle_gives_total_r2_and_language_switches():
    table = r2_table()
    no = regression.fig3_16(table)
    # alle: all botid 0.04 + 0.08 + 0.05 = 17 %; botid b: 0.04 + 0 + 0.05 + b/100 = 12, 15, 18 %
    expected = ["Total R²:", "■", "17,0 %", "■", "12,0 %", "■", "15,0 %", "■", "18,0 %"]
    assert subtitle_texts(no.axes[0]) == expected
    en = regression.fig3_16(table, language="en")
    assert [ax.get_title(loc="left") for ax in en.axes] == ["All", "Asylum refugees", "Resettled refugees",
                                                           "Family reunification"]
    assert "17.0 %" in subtitle_texts(en.axes[0])
    assert en.get_supxlabel() == "Share of explained variance (R²), percent"
    assert [t.get_text() for t in en.legends[0].get_texts()][1] == "Years since imm. 3"
    assert "Settlement municipality" in [t.get_text() for t in en.axes[0].get_yticklabels()]


def test_r2_samples_reads_columns_or_parses_names():
    named = pd.DataFrame({"sample": ["alle", "asyl_botid3", "familie_botid_9"]})
    parsed = regression.r2_samples(named)
    assert list(parsed["gruppe"]) == ["alle", "asyl", "familie"] and list(parsed["botid"]) == ["alle", "3", "9"]
    given = named.assign(gruppe=["x", "y", "z"], botid=["alle", "1", "2"])
    assert list(regression.r2_samples(given)["gruppe"]) == ["x", "y", "z"]


def test_bi_figure_draws_deviations_per_group():
    rows = [{"kategori": c, "bi_gruppe": g, "characteristic": "befolkning", "deviation": 100.0 * g - 300}
            for c in ("overforing", "asyl", "familie") for g in range(1, 6)]
    fig = municipal.fig3_18(pd.DataFrame(rows))
    widths = sorted(p.get_width() for p in fig.axes[0].patches)
    assert widths == sorted([100.0 * g - 300 for g in range(1, 6)] * 3)


def test_render_run_writes_png_and_pdf(tmp_path):
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out", language="en")
    releasable(settings.paths.tables, botid_table(), "fig3_08", ["share_pct"])
    counts = pd.DataFrame({"kategori": ["asyl", "asyl", "familie"], "innvandringsaar": [2015, 2016, 2015],
                           "n_persons": [40, 12, 300]})
    releasable(settings.paths.tables, counts, "fig3_01", ["n_persons"])
    written = render.run(settings)
    assert sorted(p.name for p in written) == ["fig3_01.pdf", "fig3_01.png", "fig3_08.pdf", "fig3_08.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    assert not list(settings.paths.figures.glob(".*tmp"))  # atomic: no leftovers


def test_render_run_draws_in_two_processes_and_lists_the_files_in_figure_order(tmp_path):
    def run(processes):
        settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / f"out{processes}",
                                 duckdb_threads=processes)
        releasable(settings.paths.tables, botid_table(), "fig3_08", ["share_pct"])
        counts = pd.DataFrame({"kategori": ["asyl", "familie"], "innvandringsaar": [2015, 2015], "n_persons": [40, 300]})
        releasable(settings.paths.tables, counts, "fig3_01", ["n_persons"])
        return render.run(settings)

    one, two = run(1), run(2)
    assert [p.name for p in two] == [p.name for p in one] == ["fig3_01.png", "fig3_01.pdf", "fig3_08.png",
                                                               "fig3_08.pdf"]
    assert [p.read_bytes() for p in two] == [p.read_bytes() for p in one]


@pytest.mark.parametrize("processes", [1, 2])
def test_a_figure_that_fails_is_named_in_the_error(tmp_path, processes):
    settings = load_settings(input=tmp_path / "in", work=tmp_path / "work", out=tmp_path / "out",
                             duckdb_threads=processes)
    releasable(settings.paths.tables, botid_table(), "fig3_08", ["share_pct"])
    broken = pd.DataFrame({"kategori": ["asyl"], "n_persons": [40]})   # no innvandringsaar
    write_csv(broken, settings.paths.tables / "fig3_01.csv")
    with pytest.raises(Exception, match=r"figure fig3_01 \(from .*fig3_01.csv\) could not be drawn: KeyError"):
        render.run(settings)


def test_the_slowest_figures_are_drawn_first():
    order = render.drawing_order(list(render.FIGURES))
    assert order[:3] == list(render.SLOWEST_FIRST)
    assert sorted(order) == sorted(render.FIGURES)
    assert set(render.SLOWEST_FIRST) <= set(render.FIGURES)


# Municipality names in Sami and Norwegian (KLASS 131), as a card or a label may show them
MUNICIPALITY_NAMES = ("Guovdageaidnu - Kautokeino", "Kárášjohka - Karasjok", "Deatnu - Tana", "Unjárga - Nesseby",
                      "Porsáŋgu - Porsanger - Porsanki", "Gáivuotna - Kåfjord - Kaivuono", "Loabák - Lavangen",
                      "Divtasvuodna - Tysfjord", "Hábmer - Hamarøy", "Snåase - Snåsa", "Raarvihke - Røyrvik",
                      "Aarborte - Hattfjelldal", "Vågå", "Sel", "Nordre Land", "Bø", "Våler", "Ørland")


def test_the_cut_font_holds_every_character_the_figures_write():
    from fontTools.ttLib import TTFont

    from figures import fonts

    text = {c for language in style.LABELS.values() for label in language.values() for c in label if c != "\n"}
    text |= set("".join(MUNICIPALITY_NAMES)) | set("0123456789 −–%,.()≤≥±·×R²")
    faces = fonts.cut_faces(fonts.cache_directory())
    assert len(faces) == 4
    for face in faces:
        cmap = TTFont(face)["cmap"].getBestCmap()
        assert sorted(c for c in text if ord(c) not in cmap) == [], face.name
    assert fonts.family() == [fonts.FAMILY, "DejaVu Sans"]


def test_the_cut_font_draws_the_same_png_as_the_whole_font(tmp_path, monkeypatch):
    from figures import fonts

    source = releasable(tmp_path, botid_table(), "fig3_08", ["share_pct"])
    numeric = render.FIGURES["fig3_08"][2]

    def draw(stem: str) -> list[Path]:
        return style.save_figure(descriptive.fig3_08(render.read_releasable(source, numeric, marker=MARKER)),
                                 tmp_path / stem)

    cut_png, cut_pdf = draw("cut")
    monkeypatch.setattr(fonts, "family", lambda: ["DejaVu Sans"])
    whole_png, whole_pdf = draw("whole")
    assert cut_png.read_bytes() == whole_png.read_bytes()
    assert b"DejaVuSansFigures" in cut_pdf.read_bytes() and b"DejaVuSansFigures" not in whole_pdf.read_bytes()
    assert len(cut_pdf.read_bytes()) < 2 * len(whole_pdf.read_bytes())


def test_saving_draws_the_figure_once_per_format_after_one_layout(tmp_path, monkeypatch):
    """The PNG's draw lays the figure out (a draw without output, then the drawing); the PDF reuses that
    layout and is drawn once, not laid out again."""
    from matplotlib.figure import Figure

    source = releasable(tmp_path, botid_table(), "fig3_08", ["share_pct"])
    fig = descriptive.fig3_08(render.read_releasable(source, render.FIGURES["fig3_08"][2], marker=MARKER))
    engine = fig.get_layout_engine()
    draws = []
    original = Figure.draw
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(type(renderer).__name__) or
                        original(self, renderer))
    style.save_figure(fig, tmp_path / "once")
    assert draws == ["RendererAgg", "RendererAgg", "MixedModeRenderer"]
    assert fig.get_layout_engine() is engine
