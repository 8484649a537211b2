"""How numbers read, in one place: money, counts and finite-or-missing values.

The terminal, the HTML report, the verdict sentence and the decision's reasons
all format through here, so one amount never reads two ways by accident.
Money has three deliberate styles, each for one place:

- :func:`money`: two significant digits below a dollar (``$0.0031``), whole
  dollars above a thousand: figures in the report and in decision reasons.
- :func:`money_table`: fixed decimals by size (``$0.0825``, ``$1,234.57``):
  terminal tables, where columns of figures are compared digit by digit.
- :func:`money_sentence`: the verdict sentence (``$0.9206``, ``$12.50``, ``$1,234``).

It sits below every layer (no imports from ftdecide), so the core's
sentences and the report's tables share it without the core importing the
report.
"""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (None, bools, text, NaN and infinities)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def money(value: Any) -> str:
    """USD for people: ``$0``, ``$0.0031``, ``$0.42``, ``$3.20``, ``$1,234`` (``–`` when missing)."""
    f = finite(value)
    if f is None:
        return "–"
    sign = "−" if f < 0 else ""
    a = abs(f)
    if a == 0:
        return "$0"
    if round(a, 2) >= 1000:
        return f"{sign}${a:,.0f}"
    if round(a, 2) >= 1:
        return f"{sign}${a:,.2f}"
    # two significant digits below a dollar: 0.42, 0.031, 0.0031, 0.000012
    digits = max(2, 1 - math.floor(math.log10(a)))
    rounded = round(a, digits)
    if rounded >= 1:
        return f"{sign}$1.00"
    digits = max(2, 1 - math.floor(math.log10(rounded)))  # 0.0999 → 0.10, not 0.100
    text = f"{rounded:.{digits}f}"
    whole, frac = text.split(".")
    frac = frac[:2] + frac[2:].rstrip("0")  # $0.05, not $0.050
    return f"{sign}${whole}.{frac}"


def money_table(value: float | None, digits: int | None = None) -> str:
    """USD in a terminal column: 2 decimals from $1, 4 from a cent, 6 below; ``unknown`` when missing."""
    if value is None:
        return "unknown"
    if digits is None:
        digits = 2 if abs(value) >= 1 else 4 if abs(value) >= 0.01 else 6
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def money_sentence(value: float) -> str:
    """USD inside a verdict sentence: ``$1,234``, ``$12.50``, ``$0.9206``, ``$0``."""
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}".rstrip("0").rstrip(".") if value else "$0"


def count(value: Any) -> str:
    """An integer-ish count with thousands separators: ``41,000`` (``–`` when missing)."""
    f = finite(value)
    if f is None:
        return "–"
    return f"{round(f):,}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 example``, ``2 examples``, ``39,600 examples``: a count with its noun agreeing."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
