"""One style for every figure: rcParams, palette, Norwegian/English labels, deterministic saving.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state).
Saving writes PNG (fixed dpi) and PDF with the time-stamp metadata removed, so the same input gives
the same bytes.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display; figures are files

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from figures import fonts  # noqa: E402
from pipeline.io import atomic_path  # noqa: E402

DPI = 200
WIDTH_IN = 6.3  # 16 cm: report text width
PANEL_HEIGHT_IN = 2.6
FORMATS = ("png", "pdf")
PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Producer": None, "Creator": None}

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],   # led by its cut faces in context() (figures/fonts.py)
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.5,
    "axes.axisbelow": True,
    "lines.linewidth": 1.4,
    "lines.markersize": 3,
    "legend.frameon": False,
    "pdf.fonttype": 42,
    "svg.hashsalt": "fig3",
    "savefig.dpi": DPI,
    "figure.dpi": 100,
    "axes.formatter.use_locale": False,
}
# Okabe-Ito (colour-blind safe) plus two extras, so up to ten lines stay distinct.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
           "#999999", "#882255")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
CATEGORY_COLOURS = {"overforing": "#0072B2", "asyl": "#E69F00", "familie": "#009E73"}


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Apply the house rcParams while building and saving a figure."""
    with matplotlib.rc_context({**RC, "font.sans-serif": fonts.family()}):
        yield


def new_figure(n_panels: int = 3, *, height: float = PANEL_HEIGHT_IN, width: float = WIDTH_IN,
               sharey: bool = True, ncols: int | None = None) -> tuple[Figure, list]:
    """A Figure on the Agg canvas with `n_panels` axes in a row (or a grid of `ncols`)."""
    ncols = ncols or n_panels
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(width, height * nrows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharey=sharey, squeeze=False).ravel().tolist()
    for extra in axes[n_panels:]:
        extra.set_visible(False)
    return fig, axes[:n_panels]


def save_figure(fig: Figure, stem: Path, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write `stem`.png and `stem`.pdf atomically with deterministic bytes; return the paths."""
    written = []
    engine = fig.get_layout_engine()
    try:
        with context():
            for fmt in formats:
                path = Path(stem).with_suffix(f".{fmt}")
                metadata = PNG_METADATA if fmt == "png" else PDF_METADATA if fmt == "pdf" else None
                with atomic_path(path) as tmp:
                    fig.savefig(tmp, format=fmt, dpi=DPI, metadata=metadata)
                written.append(path)
                # the layout of the first format serves the others; None, not "none": a placeholder engine
                # would make savefig draw the figure once more before drawing it
                fig.set_layout_engine(None)
    finally:
        fig.set_layout_engine(engine)
    return written


def thousands(language: str = "no") -> FuncFormatter:
    """Tick formatter grouping thousands: '12 500' (Norwegian) or '12,500' (English)."""
    separator = " " if check_language(language) == "no" else ","
    decimal = "," if language == "no" else "."

    def fmt(value: float, _pos: object) -> str:
        if float(value).is_integer():
            return f"{value:,.0f}".replace(",", separator).replace("-", "−")
        return f"{value:,.1f}".replace(",", "_").replace(".", decimal).replace("_", separator).replace("-", "−")

    return FuncFormatter(fmt)


def legend_columns(n_entries: int, max_columns: int = 5) -> int:
    """Columns for a legend of `n_entries`, balanced over the fewest rows of at most `max_columns`."""
    rows = max(1, -(-n_entries // max_columns))
    return max(1, -(-n_entries // rows))


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


# ------------------------------------------------------------------ labels

LABELS: dict[str, dict[str, str]] = {
    "no": {
        "kategori.overforing": "overføringsflyktninger",
        "kategori.asyl": "asylsøkere",
        "kategori.familie": "familiegjenforening/-utvidelse",
        "innvandringsaar": "Innvandringsår",
        "antall_personer": "Antall personer",
        "botid": "Botid (år)",
        "outcome.arbeid_utdanning": "I arbeid (1 G) eller utdanning, %",
        "outcome.sysselsatt": "Sysselsatt (yrkesinntekt > 1 G), %",
        "outcome.i_utdanning": "I utdanning, %",
        "adults_only": "kun alder 20+ ved innvandring",
        "composition.kjonn": "Kjønn, %",
        "composition.aldersgruppe": "Alder ved innvandring, %",
        "composition.fodeland_gruppe": "Fødeland, %",
        "composition.barn_innvandring": "Egne barn under 18 år året\netter innvandring, %",
        "composition.partner_innvandring": "Partner året etter\ninnvandring, %",
        "composition.utdanning_innvandring": "Utdanningsnivå året etter\ninnvandring, %",
        "kjonn.1": "Menn", "kjonn.2": "Kvinner",
        "partner_innvandring.0": "Ikke partner", "partner_innvandring.1": "Partner",
        "barn_innvandring.0": "Ingen barn", "barn_innvandring.1": "1 barn",
        "barn_innvandring.2": "2 barn", "barn_innvandring.3": "3+ barn",
        "utdanning_innvandring.0": "0 Ingen/førskole",
        "utdanning_innvandring.1": "1 Barneskole",
        "utdanning_innvandring.2": "2/3 Ungdomsskole/VGS grunnutd.",
        "utdanning_innvandring.3": "4/5 VGS, avslutt./påbygg",
        "utdanning_innvandring.4": "6 UH, lavere",
        "utdanning_innvandring.5": "7/8 UH, høyere/forsker",
        "utdanning_innvandring.99": "Manglende informasjon",
        "fodeland_gruppe.syria": "Syria", "fodeland_gruppe.iran": "Iran", "fodeland_gruppe.irak": "Irak",
        "fodeland_gruppe.afghanistan": "Afghanistan", "fodeland_gruppe.sudan": "Sudan",
        "fodeland_gruppe.somalia": "Somalia", "fodeland_gruppe.etiopia": "Etiopia",
        "fodeland_gruppe.eritrea": "Eritrea", "fodeland_gruppe.annet": "Andre",
        "aldersgruppe.suffix": " år",
        "and": ", ",
        "fig3_15.y": "Prosentpoeng, avstand fra asylsøkere",
        "fig3_15.x": "Modell (kjennetegn lagt til ett og ett)",
        "fig3_16.x": "Andel forklart varians (R²), prosent",
        "fig3_16.total": "Total R²",
        "fig3_16.all_botid": "Alle botidsår",
        "fig3_17.axis": "Innvandret {years} (bosatt {settled})",
        "fig3_17.abs": "Antall personer",
        "fig3_17.rate": "Per 1 000 innbyggere",
        "fig3_17.population": "folketall",
        "bi.y": "BI-gruppe",
        "bi.group1": "1 (færrest)", "bi.group5": "5 (flest)",
        "bi.befolkning": "Folketall, avvik fra snittet for alle kommuner (innbyggere)",
        "bi.inntekt_30_59": "Yrkesinntekt per innbygger 30–59 år, avvik fra snittet (kr)",
        "bi.andel_uten_flyktningbakgrunn": "Andel uten fluktbakgrunn, avvik fra snittet (prosentpoeng)",
        "bi.other": "Avvik fra snittet for alle kommuner",
        "suppressed_note": "Celler med færre enn {n} personer er prikket og vises ikke.",
        "kommunebidrag.asyl": "Asylsøkere", "kommunebidrag.overforing": "Overføringsflyktninger",
        "kommunebidrag.familie": "Familiegjenforente", "kommunebidrag.alle": "Alle flyktninger",
        "kommunebidrag.y": "Kommunebidrag, prosentpoeng",
        "kommunebidrag.raw": "Anslag med 90 % KI",
        "kommunebidrag.eb": "Krympet (empirisk Bayes) med robust 90 % KI",
        "kommunebidrag.rank_x": "Kommuner etter rang (1 = største bidrag)",
        "kommunebidrag.rank_y": "Rang med 90 % KI",
        "kommunebidrag.precision": "Presisjon (1/standardfeil²), logaritmisk skala",
        "kommunebidrag.none": "Ingen publiserte kommunebidrag",
        "robustness.overforing_vs_asyl": "Overføring mot asyl (modell 9), pp",
        "robustness.familie_vs_asyl": "Familie mot asyl (modell 9), pp",
        "robustness.r2_share_botid": "Botids andel av R², pp",
        "robustness.r2_share_municipality": "Bosettingskommunens andel av R², pp",
        "robustness.contribution_sd": "SD av kommunebidrag (alle), pp",
        "robustness.contribution_sd_shrunk": "SD av krympede bidrag (alle), pp",
        "robustness.slope_ln_befolkning": "Stigning: ln folketall (alle)",
        "robustness.slope_pst_sosialstonad_30_59": "Stigning: % sosiale stønader (alle)",
        "robustness.slope_ln_sentralitetsindeks": "Stigning: ln sentralitet (alle)",
        "robustness.none": "Ikke publisert",
        "robustness.variant.baseline": "Rapportens definisjoner",
        "robustness.variant.employed_only": "Bare sysselsatt",
        "robustness.variant.education_only": "Bare i utdanning",
        "robustness.variant.threshold_2g": "Sysselsatt: over 2 G",
        "robustness.variant.without_2020": "Uten 2020",
        "robustness.variant.botid_0_5": "Botid 0–5",
        "robustness.variant.ages_25_55": "Alder 25–55",
        "robustness.variant.cluster_twoway": "Klynger: person og kommune",
        "stability.x": "Kommunebidrag, innvandret 2010–2014",
        "stability.y": "Innvandret 2015–2019",
        "funnel.limits95": "95 %-grenser", "funnel.limits998": "99,8 %-grenser",
        "funnel.overdispersion": "Justert for overspredning (τ²)",
        "funnel.outside": "Utenfor justert 99,8 %-grense",
    },
    "en": {
        "kategori.overforing": "resettled (quota) refugees",
        "kategori.asyl": "refugees via asylum",
        "kategori.familie": "family reunification",
        "innvandringsaar": "Year of immigration",
        "antall_personer": "Number of persons",
        "botid": "Years since immigration",
        "outcome.arbeid_utdanning": "In work (1 G) or education, %",
        "outcome.sysselsatt": "Employed (earnings > 1 G), %",
        "outcome.i_utdanning": "In education, %",
        "adults_only": "age 20+ at immigration only",
        "composition.kjonn": "Sex, %",
        "composition.aldersgruppe": "Age at immigration, %",
        "composition.fodeland_gruppe": "Country of birth, %",
        "composition.barn_innvandring": "Own children under 18 the\nyear after immigration, %",
        "composition.partner_innvandring": "Partner the year\nafter immigration, %",
        "composition.utdanning_innvandring": "Education level the\nyear after immigration, %",
        "kjonn.1": "Men", "kjonn.2": "Women",
        "partner_innvandring.0": "No partner", "partner_innvandring.1": "Partner",
        "barn_innvandring.0": "No children", "barn_innvandring.1": "1 child",
        "barn_innvandring.2": "2 children", "barn_innvandring.3": "3+ children",
        "utdanning_innvandring.0": "0 None/pre-school",
        "utdanning_innvandring.1": "1 Primary",
        "utdanning_innvandring.2": "2/3 Lower secondary/basic upper sec.",
        "utdanning_innvandring.3": "4/5 Upper secondary final/post-sec.",
        "utdanning_innvandring.4": "6 Tertiary, short",
        "utdanning_innvandring.5": "7/8 Tertiary, long/doctoral",
        "utdanning_innvandring.99": "Missing",
        "fodeland_gruppe.syria": "Syria", "fodeland_gruppe.iran": "Iran", "fodeland_gruppe.irak": "Iraq",
        "fodeland_gruppe.afghanistan": "Afghanistan", "fodeland_gruppe.sudan": "Sudan",
        "fodeland_gruppe.somalia": "Somalia", "fodeland_gruppe.etiopia": "Ethiopia",
        "fodeland_gruppe.eritrea": "Eritrea", "fodeland_gruppe.annet": "Other",
        "aldersgruppe.suffix": " years",
        "and": ", ",
        "fig3_15.y": "Percentage points, difference from asylum refugees",
        "fig3_15.x": "Model (characteristics added one at a time)",
        "fig3_16.x": "Share of explained variance (R²), percent",
        "fig3_16.total": "Total R²",
        "fig3_16.all_botid": "All years since imm.",
        "fig3_17.axis": "Immigrated {years} (settled {settled})",
        "fig3_17.abs": "Number of persons",
        "fig3_17.rate": "Per 1,000 inhabitants",
        "fig3_17.population": "population",
        "bi.y": "Settlement-intensity group",
        "bi.group1": "1 (fewest)", "bi.group5": "5 (most)",
        "bi.befolkning": "Population, deviation from the all-municipality mean (persons)",
        "bi.inntekt_30_59": "Earnings per inhabitant aged 30–59, deviation from the mean (NOK)",
        "bi.andel_uten_flyktningbakgrunn": "Share without refugee background, deviation from the mean (pp)",
        "bi.other": "Deviation from the all-municipality mean",
        "suppressed_note": "Cells with fewer than {n} persons are suppressed and not shown.",
        "kommunebidrag.asyl": "Asylum refugees", "kommunebidrag.overforing": "Resettled refugees",
        "kommunebidrag.familie": "Family reunification", "kommunebidrag.alle": "All refugees",
        "kommunebidrag.y": "Municipality contribution, percentage points",
        "kommunebidrag.raw": "Estimate with 90 % CI",
        "kommunebidrag.eb": "Shrunk (empirical Bayes) with robust 90 % CI",
        "kommunebidrag.rank_x": "Municipalities by rank (1 = largest contribution)",
        "kommunebidrag.rank_y": "Rank with 90 % CI",
        "kommunebidrag.precision": "Precision (1/standard error²), log scale",
        "kommunebidrag.none": "No released municipality contributions",
        "robustness.overforing_vs_asyl": "Resettled vs asylum (model 9), pp",
        "robustness.familie_vs_asyl": "Family vs asylum (model 9), pp",
        "robustness.r2_share_botid": "Share of R² from years since immigration, pp",
        "robustness.r2_share_municipality": "Share of R² from settlement municipality, pp",
        "robustness.contribution_sd": "SD of contributions (all), pp",
        "robustness.contribution_sd_shrunk": "SD of shrunk contributions (all), pp",
        "robustness.slope_ln_befolkning": "Slope: ln population (all)",
        "robustness.slope_pst_sosialstonad_30_59": "Slope: % social benefits (all)",
        "robustness.slope_ln_sentralitetsindeks": "Slope: ln centrality (all)",
        "robustness.none": "Not released",
        "robustness.variant.baseline": "The report's definitions",
        "robustness.variant.employed_only": "Employed only",
        "robustness.variant.education_only": "In education only",
        "robustness.variant.threshold_2g": "Employed: above 2 G",
        "robustness.variant.without_2020": "Without 2020",
        "robustness.variant.botid_0_5": "Years since immigration 0–5",
        "robustness.variant.ages_25_55": "Ages 25–55",
        "robustness.variant.cluster_twoway": "Clusters: person and municipality",
        "stability.x": "Contribution, arrived 2010–2014",
        "stability.y": "Arrived 2015–2019",
        "funnel.limits95": "95 % limits", "funnel.limits998": "99.8 % limits",
        "funnel.overdispersion": "Adjusted for overdispersion (τ²)",
        "funnel.outside": "Outside the adjusted 99.8 % limit",
    },
}
# Fig 3.15 model and fig 3.16 block names -> label key (estimate stage names, lower case).
MODEL_LABELS = {
    "no": {"baseline": "Baseline", "kategori": "Baseline", "category": "Baseline", "botid": "+ botid",
           "fodeland": "+ fødeland", "fodeland_gruppe": "+ fødeland", "country": "+ fødeland",
           "innvandringsaar": "+ innvandringsår", "immigration_year": "+ innvandringsår",
           "alder": "+ alder", "alder_innvandring": "+ alder", "age": "+ alder",
           "kjonn": "+ kjønn", "sex": "+ kjønn", "barn": "+ barn", "barn_innvandring": "+ barn", "children": "+ barn",
           "partner": "+ partner", "partner_innvandring": "+ partner",
           "utdanning": "+ utdanning", "utdanning_innvandring": "+ utdanning", "education": "+ utdanning"},
    "en": {"baseline": "Baseline", "kategori": "Baseline", "category": "Baseline", "botid": "+ years since imm.",
           "fodeland": "+ country", "fodeland_gruppe": "+ country", "country": "+ country",
           "innvandringsaar": "+ imm. year", "immigration_year": "+ imm. year",
           "alder": "+ age", "alder_innvandring": "+ age", "age": "+ age",
           "kjonn": "+ sex", "sex": "+ sex", "barn": "+ children", "barn_innvandring": "+ children", "children": "+ children",
           "partner": "+ partner", "partner_innvandring": "+ partner",
           "utdanning": "+ education", "utdanning_innvandring": "+ education", "education": "+ education"},
}
BLOCK_LABELS = {
    "no": {"kategori": "Kategori", "category": "Kategori", "botid": "Botid", "fodeland": "Fødeland",
           "fodeland_gruppe": "Fødeland", "country": "Fødeland", "innvandringsaar": "Innvandringsår",
           "immigration_year": "Innvandringsår", "alder": "Alder ved innvandring", "alder_innvandring": "Alder ved innvandring",
           "age": "Alder ved innvandring", "kjonn": "Kjønn", "sex": "Kjønn", "barn": "Antall barn",
           "barn_innvandring": "Antall barn", "children": "Antall barn", "partner": "Partner",
           "partner_innvandring": "Partner", "utdanning": "Utdanning", "utdanning_innvandring": "Utdanning",
           "education": "Utdanning", "kommune": "Bosettingskommune", "bosettingskommune": "Bosettingskommune",
           "municipality": "Bosettingskommune"},
    "en": {"kategori": "Category", "category": "Category", "botid": "Years since immigration", "fodeland": "Country of birth",
           "fodeland_gruppe": "Country of birth", "country": "Country of birth", "innvandringsaar": "Immigration year",
           "immigration_year": "Immigration year", "alder": "Age at immigration", "alder_innvandring": "Age at immigration",
           "age": "Age at immigration", "kjonn": "Sex", "sex": "Sex", "barn": "Children",
           "barn_innvandring": "Children", "children": "Children", "partner": "Partner",
           "partner_innvandring": "Partner", "utdanning": "Education", "utdanning_innvandring": "Education",
           "education": "Education", "kommune": "Settlement municipality", "bosettingskommune": "Settlement municipality",
           "municipality": "Settlement municipality"},
}
SAMPLE_LABELS = {
    "no": {"alle": "Alle", "all": "Alle", "full": "Alle", "overforing": "Overføringsflyktninger", "asyl": "Asylsøkere",
           "familie": "Familiegjenforente", "botid3": "Botid 3", "botid6": "Botid 6", "botid9": "Botid 9",
           "botid_3": "Botid 3", "botid_6": "Botid 6", "botid_9": "Botid 9"},
    "en": {"alle": "All", "all": "All", "full": "All", "overforing": "Resettled refugees", "asyl": "Asylum refugees",
           "familie": "Family reunification", "botid3": "Years since imm. 3", "botid6": "Years since imm. 6",
           "botid9": "Years since imm. 9", "botid_3": "Years since imm. 3", "botid_6": "Years since imm. 6",
           "botid_9": "Years since imm. 9"},
}


def check_language(language: str) -> str:
    if language not in LABELS:
        raise ValueError(f"language must be one of {sorted(LABELS)}, not {language!r}")
    return language


def label(key: str, language: str = "no") -> str:
    """The label for `key` in `language`; the key itself when there is none."""
    return LABELS[check_language(language)].get(key, key)


def level_label(column: str, value: object, language: str = "no") -> str:
    """Legend label of one level of a grouping column (e.g. kjonn 2 -> 'Kvinner')."""
    if column == "aldersgruppe":
        return str(value).replace("-", "–") + label("aldersgruppe.suffix", language)
    if column == "innvandringsaar":
        return str(value)
    return label(f"{column}.{_key(value)}", language)


def _key(value: object) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
        return str(int(number)) if number.is_integer() else str(value)
    except (TypeError, ValueError):
        return str(value)
