"""Number formatting for the report: one place, so every figure reads alike.

Qualities are stored in [0, 1] and shown as points (× 100, one decimal);
money keeps two significant digits below a dollar ($0.0031) and whole
dollars above a thousand ($1,234), so a per-request price and a monthly
bill are both readable without a column of trailing zeros.
"""

from __future__ import annotations

from typing import Any

from ftdecide._formatting import count, finite, money

__all__ = ["count", "finite", "interval", "money", "number", "p_value", "points", "seconds",
           "volume"]


_finite = finite


def points(value: Any, *, signed: bool = False) -> str:
    """A quality in [0, 1] as points with one decimal: 0.412 → ``41.2``.

    ``signed`` puts a ``+`` on gains (differences against the baseline).
    The minus is the typographic one, which lines up with digits.
    """
    f = _finite(value)
    if f is None:
        return "–"
    text = f"{f * 100:.1f}"
    if text == "-0.0":
        text = "0.0"
    if signed and not text.startswith("-") and text != "0.0":
        text = "+" + text
    return text.replace("-", "−")


def interval(low: Any, high: Any) -> str:
    """``[35.0, 47.0]`` in points; empty when a bound is missing."""
    lo, hi = _finite(low), _finite(high)
    if lo is None or hi is None:
        return ""
    return f"[{points(lo)}, {points(hi)}]"


def number(value: Any, digits: int = 1) -> str:
    """A plain measured number (tokens per request): ``180.5``, ``1,204``."""
    f = _finite(value)
    if f is None:
        return "–"
    if abs(f) >= 1000:
        return f"{f:,.0f}"
    return f"{f:,.{digits}f}"


def seconds(value: Any) -> str:
    """A latency: ``0.42 s``, ``12 ms``, ``3.1 s``, ``8 min``."""
    f = _finite(value)
    if f is None:
        return "–"
    if f < 0.1:
        return f"{f * 1000:.0f} ms"
    if f < 10:
        return f"{f:.2f} s"
    if f < 600:
        return f"{f:.0f} s"
    return f"{f / 60:.0f} min"


def p_value(value: Any) -> str:
    """``p < 0.001``, ``p = 0.012``, ``p = 0.34``."""
    f = _finite(value)
    if f is None:
        return ""
    if f < 0.001:
        return "p < 0.001"
    if f < 0.1:
        return f"p = {f:.3f}"
    return f"p = {f:.2f}"


def volume(value: Any) -> str:
    """Requests per month, short: ``950``, ``41k``, ``1.5M``."""
    f = _finite(value)
    if f is None:
        return "–"
    a = abs(f)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            v = f / div
            return (f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}") + suffix
    return f"{f:.0f}"
