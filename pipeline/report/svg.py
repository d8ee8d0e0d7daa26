"""The cards' charts as inline SVG, drawn from released numbers only (pure functions: numbers in,
markup out). Coordinates are written with fixed decimals, so the same numbers give the same bytes;
NaN (a suppressed cell) is never drawn. Colours are those of figures/style.py.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pipeline.report import fmt

# figures/style.py CATEGORY_COLOURS plus black for all refugees (a test keeps them equal; importing the
# figure style would load matplotlib into every card and every disclosure check)
GROUP_COLOURS = {"overforing": "#0072B2", "asyl": "#E69F00", "familie": "#009E73", "alle": "#000000"}
HIGHLIGHT = "#D55E00"
GREY = "#8c8c8c"
LIGHT = "#d9d9d9"
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'
Z_LIMITS = (1.96, 3.09)  # 95 % and 99.8 % (Spiegelhalter 2005)


def _n(x: float) -> str:
    """A coordinate with two decimals, '-0.00' written as '0.00'."""
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _open(width: int, height: int, title: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}" {FONT} font-size="11">',
            f"<title>{escape(title)}</title>"]


def _text(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, fill: str = "#222",
          weight: str = "normal") -> str:
    bold = ' font-weight="bold"' if weight == "bold" else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{bold}>'
            f'{escape(text)}</text>')


def _line(x1: float, y1: float, x2: float, y2: float, *, stroke: str = GREY, width: float = 1,
          dash: str | None = None) -> str:
    d = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}" '
            f'stroke-width="{width}"{d}/>')


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if not _finite(lo, hi) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks, value = [], start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    a: float  # pixel of lo
    b: float  # pixel of hi

    def __call__(self, value: float) -> float:
        return self.a + (value - self.lo) / (self.hi - self.lo) * (self.b - self.a)


# --- observed against predicted by botid band -----------------------------------------------------

@dataclass(frozen=True)
class BandPanel:
    """One group's panel: released observed and predicted rates (percent, NaN when suppressed) per band,
    and over all bands (`total`: observed, predicted), drawn apart on the right."""

    group: str
    title: str
    observed: Sequence[float]
    predicted: Sequence[float]
    total: tuple[float, float] = (math.nan, math.nan)


def _polyline(points: list[tuple[float, float] | None], *, colour: str, dash: str | None) -> list[str]:
    """Line segments through consecutive drawn points; a None breaks the line."""
    out, run = [], []
    for point in [*points, None]:
        if point is None:
            if len(run) > 1:
                d = f' stroke-dasharray="{dash}"' if dash else ""
                out.append(f'<polyline points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in run)}" fill="none" '
                           f'stroke="{colour}" stroke-width="1.8"{d}/>')
            run = []
        else:
            run.append(point)
    return out


def observed_predicted(panels: Sequence[BandPanel], *, bands: Sequence[str], total_label: str, target: float | None,
                       words: dict, language: str, marker: str, min_persons: int) -> str:
    """Small multiples (two columns): observed (solid, filled) and predicted (dashed, open) share in work
    or education per botid band and over all bands (right, apart), 0–100 %, the target as a line."""
    pw, ph, cols = 300, 210, 2
    rows = -(-len(panels) // cols)
    width, height = pw * cols, ph * rows + 34
    out = _open(width, height, words["chart_observed_title"])
    for index, panel in enumerate(panels):
        ox, oy = (index % cols) * pw, (index // cols) * ph
        left, right, top, bottom = ox + 44, ox + pw - 14, oy + 26, oy + ph - 36
        y = Scale(0, 100, bottom, top)
        step = (right - left) / (len(bands) + 1.4)
        xs = [left + step * (i + 0.5) for i in range(len(bands))]
        x_total = right - step * 0.5
        out.append(_text(ox + pw / 2, oy + 15, panel.title, weight="bold"))
        for tick in (0, 25, 50, 75, 100):
            out.append(_line(left, y(tick), right, y(tick), stroke=LIGHT, width=0.7))
            out.append(_text(left - 5, y(tick) + 4, fmt.number(tick, decimals=0, language=language), anchor="end",
                             size=10))
        for x, band in zip(xs, bands):
            out.append(_text(x, bottom + 14, band, size=10))
        out.append(_text(x_total, bottom + 14, total_label, size=10, weight="bold"))
        out.append(_line(right - step * 1.2, top, right - step * 1.2, bottom, stroke=LIGHT, width=1))
        out.append(_text((left + right) / 2, bottom + 28, words["botid"], size=10, fill="#555"))
        released = [_finite(o) for o in panel.observed]
        if not any(released) and not _finite(panel.total[0]):
            out.append(_text((left + right) / 2, (top + bottom) / 2,
                             words["fewer_than"].format(min_persons=min_persons, marker=marker), fill="#555",
                             size=10))
        for x, ok in [*zip(xs, released), (x_total, _finite(panel.total[0]))]:
            if not ok:
                out.append(_text(x, bottom - 5, marker, size=8, fill="#777"))
        if target is not None:
            out.append(_line(left, y(target), right, y(target), stroke=HIGHLIGHT, width=1.4, dash="6 3"))
            out.append(_text(right, y(target) - 4, f'{words["target"]} {fmt.number(target, decimals=0, language=language)} %',
                             anchor="end", size=9, fill=HIGHLIGHT))
        colour = GROUP_COLOURS.get(panel.group, "#000000")
        obs = [(x, y(v)) if _finite(v) else None for x, v in zip(xs, panel.observed)]
        pred = [(x, y(v)) if _finite(v) else None for x, v in zip(xs, panel.predicted)]
        out += _polyline(pred, colour=colour, dash="4 3")
        out += _polyline(obs, colour=colour, dash=None)
        if _finite(*panel.total):
            obs.append((x_total, y(panel.total[0])))
            pred.append((x_total, y(panel.total[1])))
        for point in pred:
            if point:
                out.append(f'<circle cx="{_n(point[0])}" cy="{_n(point[1])}" r="3.5" fill="white" stroke="{colour}" '
                           f'stroke-width="1.5"/>')
        for point in obs:
            if point:
                out.append(f'<circle cx="{_n(point[0])}" cy="{_n(point[1])}" r="3.5" fill="{colour}"/>')
    ly = height - 14
    out.append(_line(20, ly - 4, 44, ly - 4, stroke="#333", width=1.8))
    out.append(_text(50, ly, words["observed"], anchor="start", size=10))
    out.append(_line(200, ly - 4, 224, ly - 4, stroke="#333", width=1.8, dash="4 3"))
    out.append(_text(230, ly, words["predicted"], anchor="start", size=10))
    out.append("</svg>")
    return "\n".join(out)


# --- contributions with intervals ----------------------------------------------------------------

@dataclass(frozen=True)
class IntervalRow:
    group: str
    label: str
    raw: tuple[float, float, float]            # estimate, low, high (NaN when suppressed)
    shrunk: tuple[float, float, float] | None  # None when the run has no shrunk estimates
    mean: float                                # person-year-weighted mean over released municipalities


def intervals(rows: Sequence[IntervalRow], *, words: dict, language: str, marker: str, min_persons: int) -> str:
    """Forest plot: per group the raw estimate with its 95 % interval (grey) and the shrunk one with its
    90 % interval (coloured), a solid line at 0 (the reference) and the group's mean as a dashed tick."""
    width, row_h, left, right = 600, 44, 150, 580
    height = row_h * len(rows) + 46
    values = [v for r in rows for v in (*r.raw, *(r.shrunk or ()), r.mean) if _finite(v)] + [0.0]
    span = max(abs(min(values)), abs(max(values)), 1.0) * 1.1
    x = Scale(-span, span, left, right)
    out = _open(width, height, words["chart_intervals_title"])
    ticks = nice_ticks(-span, span, 7)
    for tick in ticks:
        if -span <= tick <= span:
            out.append(_line(x(tick), 10, x(tick), height - 36, stroke=LIGHT, width=0.7))
            out.append(_text(x(tick), height - 22, fmt.number(tick, decimals=0, language=language), size=10))
    out.append(_line(x(0), 10, x(0), height - 36, stroke="#333", width=1))
    out.append(_text((left + right) / 2, height - 6, words["contribution"], size=10, fill="#555"))
    for i, row in enumerate(rows):
        cy = 24 + i * row_h
        out.append(_text(left - 10, cy + 8, row.label, anchor="end", size=11))
        if _finite(row.mean):
            out.append(_line(x(row.mean), cy - 6, x(row.mean), cy + 22, stroke="#333", width=1, dash="3 2"))
        est, lo, hi = row.raw
        if not _finite(est):
            out.append(_text(left + 6, cy + 4, words["fewer_than"].format(min_persons=min_persons, marker=marker),
                             anchor="start", size=10, fill="#555"))
            continue
        if _finite(lo, hi):
            out.append(_line(x(lo), cy, x(hi), cy, stroke=GREY, width=3))
        out.append(f'<circle cx="{_n(x(est))}" cy="{_n(cy)}" r="4.5" fill="{GREY}"/>')
        if row.shrunk is not None and _finite(row.shrunk[0]):
            s_est, s_lo, s_hi = row.shrunk
            colour = GROUP_COLOURS.get(row.group, "#000")
            if _finite(s_lo, s_hi):
                out.append(_line(x(s_lo), cy + 14, x(s_hi), cy + 14, stroke=colour, width=3))
            out.append(f'<circle cx="{_n(x(s_est))}" cy="{_n(cy + 14)}" r="4.5" fill="{colour}"/>')
    out.append("</svg>")
    return "\n".join(out)


# --- funnel ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FunnelPanel:
    group: str
    title: str
    points: Sequence[tuple[str, float, float]]   # (kommnr, estimate, std_error) of released municipalities
    centre: float


def funnel_position(estimate: float, std_error: float, centre: float) -> str:
    """'inside', 'above95', 'below95', 'above998' or 'below998' for a contribution and its SE."""
    z = (estimate - centre) / std_error
    if z > Z_LIMITS[1]:
        return "above998"
    if z < -Z_LIMITS[1]:
        return "below998"
    if z > Z_LIMITS[0]:
        return "above95"
    if z < -Z_LIMITS[0]:
        return "below95"
    return "inside"


@dataclass(frozen=True)
class FunnelPanelDrawing:
    """One funnel panel drawn for every card at once: the markup up to the points, each released point as
    a grey dot, and each point's markup when it is the card's own municipality (orange, with its position)."""

    head: tuple[str, ...]
    dots: tuple[tuple[str, str], ...]             # (kommnr, grey dot)
    highlighted: dict[str, tuple[str, str]]       # kommnr -> (orange dot, position text)


@dataclass(frozen=True)
class FunnelDrawing:
    """The funnel small multiples without a highlighted municipality (`funnel_drawing`); `funnel` adds it."""

    opening: tuple[str, ...]
    panels: tuple[FunnelPanelDrawing, ...]


def _funnel_panel(panel: FunnelPanel, index: int, *, words: dict, language: str) -> FunnelPanelDrawing:
    pw, ph, cols = 300, 230, 2
    ox, oy = (index % cols) * pw, (index // cols) * ph
    left, right, top, bottom = ox + 44, ox + pw - 12, oy + 26, oy + ph - 34
    head = [_text(ox + pw / 2, oy + 15, panel.title, weight="bold")]
    points = [(k, e, s) for k, e, s in panel.points if _finite(e, s) and s > 0]
    if not points or not _finite(panel.centre):
        head.append(_text((left + right) / 2, (top + bottom) / 2, words["no_points"], fill="#555", size=10))
        return FunnelPanelDrawing(tuple(head), (), {})
    precisions = [1 / s for _, _, s in points]
    x = Scale(0, max(precisions) * 1.05, left, right)
    p_min = min(precisions)
    spread = max(max(abs(e - panel.centre) for _, e, _ in points), Z_LIMITS[1] / p_min * 0.6)
    y = Scale(panel.centre - spread * 1.08, panel.centre + spread * 1.08, bottom, top)
    for tick in nice_ticks(y.lo, y.hi, 5):
        if y.lo <= tick <= y.hi:
            head.append(_line(left, y(tick), right, y(tick), stroke=LIGHT, width=0.7))
            head.append(_text(left - 5, y(tick) + 4, fmt.number(tick, decimals=0, language=language),
                              anchor="end", size=10))
    for tick in nice_ticks(0, x.hi, 4):
        if 0 <= tick <= x.hi:
            head.append(_text(x(tick), bottom + 14, fmt.number(tick, decimals=1, language=language), size=10))
    head.append(_text((left + right) / 2, bottom + 28, "1 / SE", size=10, fill="#555"))
    head.append(_line(left, y(panel.centre), right, y(panel.centre), stroke="#333", width=1))
    steps = [p_min * 0.6 + (x.hi - p_min * 0.6) * i / 40 for i in range(41)]
    for z, dash in zip(Z_LIMITS, ("4 3", "1 2")):
        for sign in (1, -1):
            pts = [(x(p), y(panel.centre + sign * z / p)) for p in steps
                   if y.lo <= panel.centre + sign * z / p <= y.hi]
            if len(pts) > 1:
                head.append(f'<polyline points="{" ".join(f"{_n(a)},{_n(b)}" for a, b in pts)}" fill="none" '
                            f'stroke="#555" stroke-width="1" stroke-dasharray="{dash}"/>')
    dots, highlighted = [], {}
    for kommnr, estimate, std_error in points:
        cx, cy = x(1 / std_error), y(estimate)
        dots.append((kommnr, f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="2.6" fill="{GREY}" fill-opacity="0.6"/>'))
        position = words[funnel_position(estimate, std_error, panel.centre)]
        # the last row of a municipality wins, as it did when the points were drawn one card at a time
        highlighted[kommnr] = (f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="5.5" fill="{HIGHLIGHT}" stroke="white" '
                               f'stroke-width="1.2"/>',
                               _text(left + 4, bottom - 4, position, anchor="start", size=9, fill=HIGHLIGHT))
    return FunnelPanelDrawing(tuple(head), tuple(dots), highlighted)


def funnel_drawing(panels: Sequence[FunnelPanel], *, words: dict, language: str) -> FunnelDrawing:
    """Everything of the funnel that is the same on every card, drawn once."""
    pw, ph, cols = 300, 230, 2
    rows = -(-len(panels) // cols)
    return FunnelDrawing(tuple(_open(pw * cols, ph * rows, words["chart_funnel_title"])),
                         tuple(_funnel_panel(panel, i, words=words, language=language) for i, panel in enumerate(panels)))


def funnel(panels: Sequence[FunnelPanel], *, highlight: str, words: dict, language: str,
           drawing: FunnelDrawing | None = None) -> str:
    """Small multiples: contribution against precision 1/SE with the 95 % and 99.8 % limits
    centre ± z·SE around the person-year-weighted mean; the card's municipality in orange.

    `drawing` (from `funnel_drawing` of the same panels, words and language) spares drawing the shared
    part again for every card."""
    drawing = drawing or funnel_drawing(panels, words=words, language=language)
    out = list(drawing.opening)
    for panel in drawing.panels:
        out += panel.head
        out += [dot for kommnr, dot in panel.dots if kommnr != highlight]
        if highlight in panel.highlighted:
            out += panel.highlighted[highlight]
    out.append("</svg>")
    return "\n".join(out)


# --- peers -----------------------------------------------------------------------------------------

def peers_strip(values: Sequence[tuple[str, str, float]], *, highlight: str, words: dict, language: str) -> str:
    """Each peer's contribution (all refugees) as a dot on one axis, the card's municipality in orange and
    labelled, the peers' median as a dashed line."""
    width, height, left, right = 600, 96, 20, 580
    drawn = [(k, name, v) for k, name, v in values if _finite(v)]
    span = max([abs(v) for _, _, v in drawn] + [1.0]) * 1.1
    x = Scale(-span, span, left, right)
    out = _open(width, height, words["peers_title"].format(klasse=""))
    for tick in nice_ticks(-span, span, 7):
        if -span <= tick <= span:
            out.append(_line(x(tick), 18, x(tick), 62, stroke=LIGHT, width=0.7))
            out.append(_text(x(tick), 76, fmt.number(tick, decimals=0, language=language), size=10))
    out.append(_line(x(0), 18, x(0), 62, stroke="#333", width=1))
    ordered = sorted(drawn, key=lambda t: (t[2], t[0]))
    if ordered:
        median = ordered[len(ordered) // 2][2] if len(ordered) % 2 else \
            (ordered[len(ordered) // 2 - 1][2] + ordered[len(ordered) // 2][2]) / 2
        out.append(_line(x(median), 14, x(median), 66, stroke="#333", width=1, dash="3 2"))
    for i, (kommnr, name, value) in enumerate(ordered):
        if kommnr == highlight:
            continue
        out.append(f'<circle cx="{_n(x(value))}" cy="{_n(30 + (i % 5) * 6)}" r="3" fill="{GREY}" fill-opacity="0.7"/>')
    for kommnr, name, value in ordered:
        if kommnr == highlight:
            out.append(f'<circle cx="{_n(x(value))}" cy="42" r="6" fill="{HIGHLIGHT}" stroke="white" stroke-width="1.2"/>')
            out.append(_text(x(value), 12, name, size=10, fill=HIGHLIGHT, weight="bold"))
    out.append(_text((left + right) / 2, 91, words["contribution"], size=10, fill="#555"))
    out.append("</svg>")
    return "\n".join(out)
