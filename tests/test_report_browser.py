"""The report and the cards opened as a person would: in Debian's headless Chromium, from file:// URLs,
without a network. Driven through Debian's chromedriver with selenium (WebDriver gives the browser's
console log, script evaluation and screenshots in a few lines, and needs no driver download).

Chromium and chromedriver come from Debian's packages (`.ci/run` installs them when missing); the tests
are skipped only where no package manager exists to install them.
"""
from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cli import app
from data_synthetic.generate import run as generate
from pipeline.config import load_settings
from pipeline.report import stage
from pipeline.report.stage import SECTIONS
from tests.report_out import make_out

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
WIDTH = 1100


def _browser_or_skip() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    if any(shutil.which(tool) for tool in ("apt-get", "dnf", "yum", "apk")):
        pytest.fail("Chromium or chromedriver is missing: .ci/run installs them "
                    "(apt-get install -y chromium chromium-driver)")
    pytest.skip("no package manager on this machine to install Chromium and chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={WIDTH},1200")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory):
    """`all` on a small synthetic Norway, in Norwegian, and the report again in English."""
    root = tmp_path_factory.mktemp("browser_run")
    data = root / "data"
    generate(data, scale=0.01, seed=11)
    args = ["--input", str(data), "--work", str(root / "work"), "--out", str(root / "out")]
    result = CliRunner().invoke(app, ["all", *args])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["report", "--language", "en", *args]).exit_code == 0
    return load_settings(input=data, work=root / "work", out=root / "out")


def open_page(driver, path: Path) -> dict:
    """Load a page; return its console messages, images and element ids, as the browser sees them."""
    driver.get_log("browser")  # drop messages of earlier pages
    driver.get(path.resolve().as_uri())
    state = driver.execute_script("""
        return {
          ready: document.readyState,
          images: Array.from(document.images).map(i => [i.closest('figure') ? i.closest('figure').id : i.alt,
                                                         i.complete && i.naturalWidth > 0]),
          ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
          figures: Array.from(document.querySelectorAll('figure')).map(f => [f.id,
                     f.querySelector('img') ? 'img' : f.querySelector('table') ? 'table' : 'absent']),
          svgs: Array.from(document.querySelectorAll('svg')).map(s => s.getBoundingClientRect().width),
          resources: performance.getEntriesByType('resource').map(r => r.name),
          height: document.documentElement.scrollHeight,
          lang: document.documentElement.lang,
        };""")
    state["console"] = driver.get_log("browser")
    return state


def screenshot(driver, height: int) -> Image.Image:
    """The page as the browser draws it, from the top down to 5 000 px."""
    driver.set_window_size(WIDTH, min(height, 5000) + 120)
    image = Image.open(io.BytesIO(driver.get_screenshot_as_png()))
    driver.set_window_size(WIDTH, 1200)
    return image


def assert_not_blank(image: Image.Image) -> None:
    grey = image.convert("L")
    histogram = grey.histogram()
    dark = sum(histogram[:128]) / (grey.width * grey.height)
    assert grey.width >= 800 and grey.height >= 600
    assert dark > 0.002, "the screenshot is (nearly) blank"
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20


def assert_clean(state: dict) -> None:
    assert state["ready"] == "complete"
    assert [m for m in state["console"] if m["level"] in ("SEVERE", "WARNING")] == []
    assert all(loaded for _, loaded in state["images"]), [name for name, ok in state["images"] if not ok]
    assert [r for r in state["resources"] if not r.startswith("data:")] == []  # nothing fetched


def test_the_report_opens_offline_with_every_figure_and_table(browser, pipeline_run, tmp_path):
    state = open_page(browser, pipeline_run.paths.report("no"))
    assert_clean(state)
    kinds = dict(state["figures"])
    for _, items in SECTIONS:
        for item in items:
            assert item in state["ids"], item
            if item.startswith("fig3_") and item != "fig3_15_table":
                assert kinds[item] == "img", item
            elif item != "fig3_15_table":
                assert kinds[item] == "table", item
    assert len(state["images"]) >= 20 and state["lang"] == "nb"
    for section in ("section_contributions", "section_comparison", "section_methods", "section_manifest"):
        assert section in state["ids"]
    image = screenshot(browser, state["height"])
    image.save(tmp_path / "rapport.png")
    assert_not_blank(image)


def test_the_english_report(browser, pipeline_run, tmp_path):
    state = open_page(browser, pipeline_run.paths.report("en"))
    assert_clean(state)
    assert state["lang"] == "en" and len(state["images"]) >= 20
    assert_not_blank(screenshot(browser, 1200))


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    settings = make_out(tmp_path_factory.mktemp("cards"), extras=True, card_targets={"3435": 70.0})
    stage.run(settings)
    english = replace(settings, language="en")
    stage.write_cards(english, kommnr=["3435"], directory=settings.paths.out / "en")
    return settings


def test_a_small_municipalitys_card(browser, cards, tmp_path):
    state = open_page(browser, cards.paths.card("3435"))
    assert_clean(state)
    for section in ("headline", "check", "target", "observed", "groups", "t-groups", "intervals", "funnel", "peers"):
        assert section in state["ids"], section
    assert len(state["svgs"]) == 4 and all(width > 300 for width in state["svgs"])
    image = screenshot(browser, state["height"])
    image.save(tmp_path / "card_3435.png")
    assert_not_blank(image)
    english = open_page(browser, cards.paths.out / "en" / "3435.html")
    assert_clean(english)
    assert english["lang"] == "en"


def test_a_card_with_nothing_released(browser, cards, tmp_path):
    state = open_page(browser, cards.paths.card("3437"))
    assert_clean(state)
    assert "nothing" in state["ids"] and state["svgs"] == [] and "t-groups" not in state["ids"]
    text = browser.find_element("tag name", "main").text
    assert text.startswith("Ingen grupper i Sel har minst 30 personer")
    assert_not_blank(screenshot(browser, 900))


def test_every_card_of_a_pipeline_run_opens(browser, pipeline_run):
    """At this scale no municipality has 30 persons in a group: every card says so and nothing else."""
    pages = sorted(pipeline_run.paths.cards.glob("*.html"))
    assert len(pages) > 300
    for page in pages[:: max(1, len(pages) // 4)]:
        state = open_page(browser, page)
        assert_clean(state)
        assert "nothing" in state["ids"] or "groups" in state["ids"]
