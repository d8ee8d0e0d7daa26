"""Formatted regression tables (Markdown, LaTeX) from tidy frames: coefficient (stars) over (SE)."""
from __future__ import annotations

import math

import pandas as pd

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "²": r"$^2$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def number(x: object, fmt: str = "#.3g") -> str:
    """Format a number; non-numbers (e.g. the suppression marker) and NaN pass through as text/''."""
    if isinstance(x, str):
        return x
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    text = format(float(x), fmt)
    return text[:-1] if text.endswith(".") else text


def _grid(cells: list[list[str]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def _notes(notes: list[str], kind: str) -> str:
    """Notes under a table: Markdown lines, or a small LaTeX paragraph (placed before the table's end)."""
    if not notes:
        return ""
    if kind == "md":
        return "\n" + "".join(f"_{note}_  \n" for note in notes)
    return "\\par\\footnotesize " + " ".join(latex_escape(n) for n in notes) + "\n"


def _latex(cells: list[list[str]], header: list[str], *, caption: str, rules_after: set[int],
           notes: list[str] = ()) -> str:
    spec = "l" + "c" * (len(header) - 1)
    out = [r"\begin{table}[htbp]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
           rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for i, row in enumerate(cells):
        out.append(" & ".join(latex_escape(c) for c in row) + r" \\")
        if i in rules_after:
            out.append(r"\midrule")
    out += [r"\bottomrule", r"\end{tabular}", _notes(list(notes), "tex").rstrip("\n"), r"\end{table}"]
    return "\n".join(line for line in out if line) + "\n"


def regression_table(
    coefficients: pd.DataFrame, *, columns: list, column_labels: list[str], footer: dict[str, list[str]],
    kind: str, caption: str = "", coef_fmt: str = ".2f",
) -> str:
    """Rows: term (coefficient over SE in parentheses) × columns (models); then footer rows.

    `coefficients` has column (the `columns` key), term, estimate, std_error, and optionally stars.
    """
    terms = list(dict.fromkeys(coefficients["term"]))
    key = coefficients.set_index(["column", "term"])
    cells: list[list[str]] = []
    for term in terms:
        est, se = [term], [""]
        for col in columns:
            if (col, term) in key.index:
                row = key.loc[(col, term)]
                est.append(number(row["estimate"], coef_fmt) + str(row.get("stars", "") or ""))
                se_text = number(row["std_error"], coef_fmt)
                se.append(f"({se_text})" if se_text and not isinstance(row["std_error"], str) else se_text)
            else:
                est.append("")
                se.append("")
        cells += [est, se]
    last_coef_row = len(cells) - 1
    cells += [[label, *values] for label, values in footer.items()]
    header = ["", *column_labels]
    if kind == "md":
        return (f"**{caption}**\n\n" if caption else "") + _grid(cells, header)
    return _latex(cells, header, caption=caption, rules_after={last_coef_row})


def characteristic_table(
    table: pd.DataFrame, *, groups: list[str], group_labels: list[str], labels: dict[str, str],
    kind: str, caption: str = "", notes: list[str] = (),
) -> str:
    """Table 3.3 layout: per characteristic a row 'coef + stars', a row '(SE)' and a row 'R²'."""
    key = table.set_index(["characteristic", "gruppe"])
    cells: list[list[str]] = []
    rules: set[int] = set()
    for char in dict.fromkeys(table["characteristic"]):
        est, se, r2 = [labels.get(char, char)], [""], ["R²"]
        for g in groups:
            if (char, g) in key.index:
                row = key.loc[(char, g)]
                est.append(number(row["coef"]) + (row["stars"] or ""))
                se.append(f"({number(row['std_error'])})" if pd.notna(row["std_error"]) else "")
                r2.append(number(row["r2"], ".3f"))
            else:
                est.append("")
                se.append("")
                r2.append("")
        cells += [est, se, r2]
        rules.add(len(cells) - 1)
    header = ["", *group_labels]
    if kind == "md":
        return (f"**{caption}**\n\n" if caption else "") + _grid(cells, header) + _notes(list(notes), "md")
    return _latex(cells, header, caption=caption, rules_after=rules - {len(cells) - 1}, notes=notes)


SUMMARY_HEADERS = {"no": ["", "Gjennomsnitt", "Standardavvik", "Antall kommuner"],
                   "en": ["", "Mean", "Standard deviation", "Municipalities"]}


def summary_table(frame: pd.DataFrame, *, kind: str, caption: str = "", language: str = "no",
                  notes: list[str] = ()) -> str:
    """Table 3.2 layout: label, mean, SD, number of municipalities (headers in the report's language)."""
    cells = [[str(r.label), number(r.mean, ",.2f"), number(r.sd, ",.2f"), str(int(r.n_municipalities))]
             for r in frame.itertuples()]
    header = SUMMARY_HEADERS[language]
    if kind == "md":
        return (f"**{caption}**\n\n" if caption else "") + _grid(cells, header) + _notes(list(notes), "md")
    return _latex(cells, header, caption=caption, rules_after=set(), notes=notes)
