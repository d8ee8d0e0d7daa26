"""Numbers as the report's language writes them: '12 500,3' (Norwegian) or '12,500.3' (English),
with a true minus sign. Thousands are always grouped, so a long number never reads as one token."""
from __future__ import annotations

import math

NBSP = "\u00a0"
MINUS = "\u2212"


def number(value: object, *, decimals: int, language: str) -> str:
    """`value` with `decimals` decimals; '' for NaN/None."""
    if value is None:
        return ""
    x = float(value)  # type: ignore[arg-type]
    if math.isnan(x):
        return ""
    text = f"{abs(x):,.{decimals}f}"
    if language == "no":
        text = text.replace(",", NBSP).replace(".", ",")
    negative = x < 0 and round(abs(x), decimals) != 0
    return (MINUS if negative else "") + text

def signed(value: object, *, decimals: int, language: str) -> str:
    """As `number`, with '+' before a positive number (a difference)."""
    text = number(value, decimals=decimals, language=language)
    return "+" + text if text and not text.startswith(MINUS) and float(value) > 0 else text  # type: ignore[arg-type]
