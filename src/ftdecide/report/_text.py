"""Plain-text rendering for people: tables and money, no dependencies.

The CLI prints these to stdout for humans; ``--json`` output never goes
through here.
"""

from __future__ import annotations

from typing import Any, Sequence

from ftdecide._formatting import money_table as money

__all__ = ["lines_list", "money", "number", "table"]


def number(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, indent: str = "") -> str:
    """Left-aligned text, right-aligned numbers, columns sized to fit."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    numeric = [all(_looks_numeric(row[i]) for row in cells if row[i]) and any(row[i] for row in cells)
               for i in range(len(headers))]

    def fmt(row: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(row)]
        return (indent + "  ".join(parts)).rstrip()

    lines = [fmt(list(headers)), indent + "  ".join("-" * w for w in widths)]
    lines.extend(fmt(row) for row in cells)
    return "\n".join(lines)


def _looks_numeric(text: str) -> bool:
    t = text.replace(",", "").replace("$", "").replace("%", "").strip()
    try:
        float(t)
        return True
    except ValueError:
        return t in ("-", "unknown")


def lines_list(lines: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    more = len(lines) - limit
    return shown + (f" (+{more} more)" if more > 0 else "")
