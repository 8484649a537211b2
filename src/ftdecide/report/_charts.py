"""The report's charts as inline SVG, drawn here in Python.

No chart library and no JavaScript: the report must open from disk with
nothing fetched, print, and survive a strict Content-Security-Policy, so a
chart is plain SVG markup computed from ``results.json``. Every piece of
text that came from a user or a model (arm labels) is escaped here, because
the template inserts the finished SVG as markup.

Colours are the Okabe-Ito palette (distinguishable with the common colour
blindnesses) and each arm also gets its own marker shape and dash pattern,
so no chart relies on colour alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any, Callable, Mapping, Sequence

from ftdecide.report import _format as fmt

# Okabe-Ito, in an order where neighbours contrast on white (yellow left out:
# too pale for thin lines).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "10 4", "4 2 1 2", "1 2")
MARKERS = ("circle", "square", "triangle", "diamond", "down", "circle", "square")

# White outline behind labels drawn over lines, so they stay legible.
HALO = {"stroke": "#fff", "stroke_width": 3.5, "stroke_linejoin": "round", "paint_order": "stroke"}

WIDTH = 720
HEIGHT = 420
FONT = 13
CHAR_W = 0.58 * FONT  # rough advance of one character, for label layout


@dataclass(frozen=True)
class Chart:
    """One chart: ``svg`` is finished, escaped markup; ``caption`` is plain text."""

    id: str
    title: str
    caption: str
    svg: str


def _a(value: Any) -> str:
    return escape(str(value), quote=True)


def _n(value: float) -> str:
    """A coordinate, short: 2 decimals are plenty at this size."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class _Svg:
    """A tiny append-only SVG writer that escapes every attribute and text."""

    def __init__(self, chart_id: str, title: str, desc: str, height: int = HEIGHT) -> None:
        self.id = chart_id
        self.height = height
        self.parts: list[str] = []
        self.title = title
        self.desc = desc

    def el(self, tag: str, text: str | None = None, **attrs: Any) -> None:
        rendered = " ".join(f'{k.rstrip("_").replace("_", "-")}="{_a(v)}"'
                            for k, v in attrs.items() if v is not None and v != "")
        if text is None:
            self.parts.append(f"<{tag} {rendered}/>")
        else:
            self.parts.append(f"<{tag} {rendered}>{escape(text, quote=False)}</{tag}>")

    def raw(self, markup: str) -> None:
        self.parts.append(markup)

    def finish(self) -> str:
        tid, did = f"{self.id}-title", f"{self.id}-desc"
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_a(self.id)}" '
                f'viewBox="0 0 {WIDTH} {self.height}" width="{WIDTH}" height="{self.height}" '
                f'role="img" aria-labelledby="{tid} {did}" font-family="system-ui, sans-serif" '
                f'font-size="{FONT}">'
                f'<title id="{tid}">{escape(self.title, quote=False)}</title>'
                f'<desc id="{did}">{escape(self.desc, quote=False)}</desc>')
        return head + "".join(self.parts) + "</svg>"


# --------------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Scale:
    """Maps data ``lo..hi`` to pixels ``px_lo..px_hi``, linear or log10."""

    lo: float
    hi: float
    px_lo: float
    px_hi: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo)
            t = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (value - self.lo) / (self.hi - self.lo)
        return self.px_lo + t * (self.px_hi - self.px_lo)

    def ticks(self) -> list[float]:
        if self.log:
            return _log_ticks(self.lo, self.hi)
        return _linear_ticks(self.lo, self.hi)


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target, 1)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag  # pragma: no cover - the loop always returns


def nice_range(lo: float, hi: float, *, target: int = 5) -> tuple[float, float]:
    """Widen ``lo..hi`` to round numbers so the end ticks sit on the axis ends."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    step = _nice_step(hi - lo, target)
    return math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step


def _linear_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, v = [], first
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    few = math.log10(hi) - math.log10(lo) <= 2.5
    ticks = []
    for d in decades:
        for m in ((1, 2, 5) if few else (1,)):
            v = m * 10 ** d
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                ticks.append(float(v))
    return ticks


def _log_range(lo: float, hi: float) -> tuple[float, float]:
    return 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))


# --------------------------------------------------------------------------- pieces


@dataclass(frozen=True)
class _Frame:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def _axes(svg: _Svg, frame: _Frame, x: Scale, y: Scale, *, x_label: str, y_label: str,
          x_fmt: Callable[[float], str], y_fmt: Callable[[float], str]) -> None:
    """Grid lines, ticks with labels, axis titles."""
    for t in y.ticks():
        py = y(t)
        svg.el("line", x1=_n(frame.left), x2=_n(frame.right), y1=_n(py), y2=_n(py),
               stroke="#e3e3e3", stroke_width=1)
        svg.el("text", y_fmt(t), x=_n(frame.left - 8), y=_n(py + 4), text_anchor="end", fill="#333")
    for t in x.ticks():
        px = x(t)
        svg.el("line", x1=_n(px), x2=_n(px), y1=_n(frame.top), y2=_n(frame.bottom),
               stroke="#e3e3e3", stroke_width=1)
        svg.el("line", x1=_n(px), x2=_n(px), y1=_n(frame.bottom), y2=_n(frame.bottom + 5),
               stroke="#333", stroke_width=1)
        svg.el("text", x_fmt(t), x=_n(px), y=_n(frame.bottom + 20), text_anchor="middle", fill="#333")
    svg.el("line", x1=_n(frame.left), x2=_n(frame.right), y1=_n(frame.bottom), y2=_n(frame.bottom),
           stroke="#333", stroke_width=1)
    svg.el("line", x1=_n(frame.left), x2=_n(frame.left), y1=_n(frame.top), y2=_n(frame.bottom),
           stroke="#333", stroke_width=1)
    svg.el("text", x_label, x=_n(frame.left + frame.width / 2), y=_n(frame.bottom + 42),
           text_anchor="middle", fill="#111", font_weight="600")
    cy = frame.top + frame.height / 2
    svg.el("text", y_label, x="16", y=_n(cy), text_anchor="middle", fill="#111", font_weight="600",
           transform=f"rotate(-90 16 {_n(cy)})")


def _marker(svg: _Svg, shape: str, cx: float, cy: float, r: float, *, fill: str,
            stroke: str = "#fff", stroke_width: float = 1.5) -> None:
    if shape == "square":
        svg.el("rect", x=_n(cx - r * 0.9), y=_n(cy - r * 0.9), width=_n(r * 1.8), height=_n(r * 1.8),
               fill=fill, stroke=stroke, stroke_width=stroke_width)
    elif shape in ("triangle", "down", "diamond"):
        if shape == "triangle":
            pts = [(cx, cy - r * 1.15), (cx + r, cy + r * 0.75), (cx - r, cy + r * 0.75)]
        elif shape == "down":
            pts = [(cx, cy + r * 1.15), (cx + r, cy - r * 0.75), (cx - r, cy - r * 0.75)]
        else:
            pts = [(cx, cy - r * 1.2), (cx + r * 1.2, cy), (cx, cy + r * 1.2), (cx - r * 1.2, cy)]
        svg.el("polygon", points=" ".join(f"{_n(px)},{_n(py)}" for px, py in pts),
               fill=fill, stroke=stroke, stroke_width=stroke_width)
    else:
        svg.el("circle", cx=_n(cx), cy=_n(cy), r=_n(r), fill=fill, stroke=stroke,
               stroke_width=stroke_width)


def _legend_rows(labels: Sequence[str], max_width: float) -> int:
    """How many rows ``_legend`` needs for ``labels`` (the same wrapping rule)."""
    rows, x = 1, 0.0
    for label in labels:
        w = 30 + len(label) * CHAR_W + 18
        if x > 0 and x + w > max_width:
            rows, x = rows + 1, 0.0
        x += w
    return rows


def _legend(svg: _Svg, entries: Sequence[tuple[str, str, str, str]], *, left: float, top: float,
            max_width: float) -> float:
    """Entries ``(label, colour, dash, marker)`` in rows; returns the height used."""
    x, y, row_h = left, top, 20
    for label, colour, dash, shape in entries:
        w = 30 + len(label) * CHAR_W + 18
        if x > left and x + w > left + max_width:
            x, y = left, y + row_h
        svg.el("line", x1=_n(x), x2=_n(x + 24), y1=_n(y), y2=_n(y), stroke=colour, stroke_width=2.5,
               stroke_dasharray=dash or None)
        _marker(svg, shape, x + 12, y, 4, fill=colour, stroke="#fff", stroke_width=1)
        svg.el("text", label, x=_n(x + 30), y=_n(y + 4), fill="#111")
        x += w
    return y - top + row_h


def _short(text: str, limit: int) -> str:
    """A label cut to ``limit`` characters (the full text stays in the table and <desc>)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _place_labels(anchors: Sequence[tuple[float, float, str]], frame: _Frame,
                  reserved: Sequence[tuple[float, float, float, float]] = ()
                  ) -> list[tuple[float, float, str]]:
    """Greedy label placement beside each point so labels do not overlap.

    Returns ``(x, y, anchor)`` per label: ``anchor`` is ``start`` (label to
    the right of its point) or ``end`` (to the left). ``reserved`` boxes
    (other text already drawn) are avoided too.
    """
    placed: list[tuple[float, float, float, float]] = list(reserved)
    out: list[tuple[float, float, str]] = []
    for px, py, text in anchors:
        w = len(text) * CHAR_W
        best = None
        for dy in (0, -16, 16, -32, 32, -48, 48, -64, 64):
            for side in ("start", "end"):
                x0 = px + 10 if side == "start" else px - 10 - w
                y0 = py + dy - FONT * 0.75
                box = (x0, y0, x0 + w, y0 + FONT)
                if box[0] < frame.left + 2 or box[2] > WIDTH - 4:
                    continue
                if box[1] < 4 or box[3] > frame.bottom - 2:
                    continue
                if any(not (box[2] < b[0] or box[0] > b[2] or box[3] < b[1] or box[1] > b[3])
                       for b in placed):
                    continue
                best = (box, side, py + dy)
                break
            if best:
                break
        if best is None:  # crowded: accept an overlap rather than drop the label
            best = ((px + 10, py - FONT * 0.75, px + 10 + w, py + FONT * 0.25), "start", py)
        placed.append(best[0])
        out.append((px + 10 if best[1] == "start" else px - 10, best[2] + 4, best[1]))
    return out


def _style(i: int) -> tuple[str, str, str]:
    return PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)], MARKERS[i % len(MARKERS)]


def _money_tick(v: float) -> str:
    """Axis money: ``$0``, ``$0.01``, ``$0.25``, ``$1``, ``$10``, ``$2.5k``."""
    if v == 0:
        return "$0"
    if abs(v) >= 1000:
        return "$" + fmt.volume(v)
    if abs(v) >= 1 and float(v).is_integer():
        return f"${v:,.0f}"
    return fmt.money(v)


def _spans(values: Sequence[float], ratio: float = 20.0) -> bool:
    """Whether positive ``values`` span more than ``ratio`` (then a log axis reads better)."""
    pos = [v for v in values if v > 0]
    return len(pos) == len(values) and len(pos) >= 2 and max(pos) / min(pos) > ratio


# --------------------------------------------------------------------------- (a) quality vs cost


def quality_vs_cost(results: Mapping[str, Any]) -> Chart:
    """Each arm at (cost per 1,000 requests, quality) with its 95 % interval."""
    arms = results["arms"]
    baseline = results.get("baseline")
    metric = (results.get("metric") or {}).get("name") or "quality"
    pts: list[dict[str, Any]] = []
    skipped: list[str] = []
    for i, (key, arm) in enumerate(arms.items()):
        q = arm.get("quality") or {}
        cost, mean = arm.get("cost_per_1k_usd"), q.get("mean")
        label = str(arm.get("label") or key)
        if cost is None or mean is None:
            skipped.append(label)
            continue
        pts.append({"key": key, "label": label, "x": float(cost), "y": float(mean) * 100,
                    "lo": None if q.get("ci_low") is None else float(q["ci_low"]) * 100,
                    "hi": None if q.get("ci_high") is None else float(q["ci_high"]) * 100,
                    "style": _style(i), "baseline": key == baseline})

    frame = _Frame(left=72, top=22, right=WIDTH - 140, bottom=HEIGHT - 58)
    xs = [p["x"] for p in pts]
    log_x = _spans(xs)
    if log_x:
        lo, hi = _log_range(min(xs) / 1.5, max(xs) * 1.5)
    else:
        lo, hi = nice_range(0.0, max(xs, default=0.0) * 1.1 or 1.0)
    x = Scale(lo, hi, frame.left, frame.right, log=log_x)
    ys = [v for p in pts for v in (p["y"], p["lo"], p["hi"]) if v is not None]
    ylo, yhi = nice_range(max(0.0, min(ys, default=0.0) - 5), min(100.0, max(ys, default=100.0) + 5))
    y = Scale(ylo, yhi, frame.bottom, frame.top)

    title = f"Quality ({metric}) against cost per 1,000 requests"
    base = next((p for p in pts if p["baseline"]), None)
    desc = "; ".join(f"{p['label']}: {fmt.points(p['y'] / 100)} points "
                     f"{fmt.interval(None if p['lo'] is None else p['lo'] / 100, None if p['hi'] is None else p['hi'] / 100)}"
                     f" at {fmt.money(p['x'])} per 1,000 requests" for p in pts)
    svg = _Svg("chart-quality-cost", title, desc)
    _axes(svg, frame, x, y, x_label="cost per 1,000 requests (USD" + (", log scale)" if log_x else ")"),
          y_label=f"quality, points ({metric})", x_fmt=_money_tick, y_fmt=lambda v: f"{v:g}")
    reserved = []
    if base is not None:
        by = y(base["y"])
        svg.el("line", x1=_n(frame.left), x2=_n(frame.right), y1=_n(by), y2=_n(by), stroke="#666",
               stroke_width=1, stroke_dasharray="4 4")
        svg.el("text", "baseline quality", x=_n(frame.right + 4), y=_n(by + 4), text_anchor="start",
               fill="#555", font_size=FONT - 2, **HALO)
        reserved.append((frame.right, by - 8, frame.right + 16 * CHAR_W * 0.85, by + 6))
    for p in pts:
        colour, _, shape = p["style"]
        px, py = x(p["x"]), y(p["y"])
        if p["lo"] is not None and p["hi"] is not None:
            y1, y2 = y(p["lo"]), y(p["hi"])
            svg.el("line", x1=_n(px), x2=_n(px), y1=_n(y1), y2=_n(y2), stroke=colour, stroke_width=2)
            for yy in (y1, y2):
                svg.el("line", x1=_n(px - 6), x2=_n(px + 6), y1=_n(yy), y2=_n(yy), stroke=colour,
                       stroke_width=2)
        if p["baseline"]:
            svg.el("circle", cx=_n(px), cy=_n(py), r="11", fill="none", stroke="#111", stroke_width=1.5)
        _marker(svg, shape, px, py, 6.5, fill=colour)
    anchors = [(x(p["x"]), y(p["y"]), _short(p["label"], 24) + (" (baseline)" if p["baseline"] else ""))
               for p in pts]
    for (lx, ly, side), (_, _, text), p in zip(_place_labels(anchors, frame, reserved), anchors, pts):
        svg.el("text", text, x=_n(lx), y=_n(ly), text_anchor=side, fill="#111",
               font_weight="600" if p["baseline"] else None, **HALO)

    caption = ("Higher is better quality, further left is cheaper: an arm up and to the left of "
               "the baseline (ringed; dashed line = its quality) beats it on both. Vertical bars are "
               "95 % intervals; arms whose bars overlap the dashed line are not clearly different "
               "from the baseline.")
    if log_x:
        caption += " The cost axis is logarithmic because the arms' costs differ by more than 20×."
    if skipped:
        caption += " Not plotted (no price or no score): " + ", ".join(skipped) + "."
    return Chart("chart-quality-cost", title, caption, svg.finish())


# --------------------------------------------------------------------------- (b) monthly cost


def _cost_line(arm: Mapping[str, Any]) -> tuple[float, float, float] | None:
    """(fixed per month, cost per request, floor): the bill at v is fixed + max(floor, v × cost)."""
    per_1k = arm.get("cost_per_1k_usd")
    if per_1k is None:
        return None
    eco = arm.get("economics") or {}
    per_request = float(per_1k) / 1000
    floor = float(eco.get("serving_floor_usd") or 0.0)
    total, inference = eco.get("monthly_total_usd"), arm.get("monthly_cost_usd")
    if floor:
        months = eco.get("amortisation_months") or 12
        fixed = float(eco.get("hosting_per_month_usd") or 0) + float(eco.get("training_cost_usd") or 0) / months
    elif total is not None and inference is not None:
        fixed = float(total) - float(inference)
    else:
        months = eco.get("amortisation_months") or 12
        fixed = float(eco.get("hosting_per_month_usd") or 0) + float(eco.get("training_cost_usd") or 0) / months
    return max(fixed, 0.0), per_request, floor


def monthly_cost(results: Mapping[str, Any]) -> Chart:
    """Monthly total cost against volume, one line per arm, break-even points marked."""
    arms = results["arms"]
    baseline = results.get("baseline")
    rpm = results.get("requests_per_month")
    lines: list[dict[str, Any]] = []
    skipped: list[str] = []
    for i, (key, arm) in enumerate(arms.items()):
        label = str(arm.get("label") or key)
        cl = _cost_line(arm)
        if cl is None:
            skipped.append(label)
            continue
        eco = arm.get("economics") or {}  # a hosted arm against a self-hosted floor: cheaper below
        be = eco.get("break_even_requests_per_month") or eco.get("cheaper_below_requests_per_month")
        lines.append({"key": key, "label": label, "fixed": cl[0], "per": cl[1], "floor": cl[2],
                      "style": _style(i),
                      "break_even": float(be) if be is not None and float(be) > 0 else None,
                      "baseline": key == baseline})

    marks = [float(rpm)] if rpm else []
    marks += [ln["break_even"] for ln in lines if ln["break_even"]]
    # where each self-hosted line leaves its floor, and where hosted lines reach it
    marks += [ln["floor"] / ln["per"] for ln in lines if ln["floor"] and ln["per"] > 0]
    marks += [other["floor"] / ln["per"] for ln in lines for other in lines
              if other["floor"] and not ln["floor"] and ln["per"] > 0]
    marks = [m for m in marks if m > 0] or [1000.0]
    log_x = max(marks) / min(marks) > 10
    if log_x:
        xlo, xhi = _log_range(min(marks) / 3, max(marks) * 3)
    else:
        xlo, xhi = nice_range(0.0, max(marks) * 1.6)

    def total(ln: Mapping[str, Any], v: float) -> float:
        return ln["fixed"] + max(ln["floor"], ln["per"] * v)

    samples = ([xlo * (xhi / xlo) ** (k / 80) for k in range(81)] if log_x
               else [xlo + (xhi - xlo) * k / 80 for k in range(81)])
    all_y = [total(ln, v) for ln in lines for v in samples]
    log_y = log_x and bool(all_y) and min(all_y) > 0 and max(all_y) / min(all_y) > 20

    n_legend_rows = _legend_rows([_short(ln["label"], 32) + (" (baseline)" if ln["baseline"] else "")
                                  for ln in lines], WIDTH - 90)
    top = 16 + 20 * n_legend_rows + 8
    height = HEIGHT + 20 * (n_legend_rows - 1)
    frame = _Frame(left=80, top=top, right=WIDTH - 24, bottom=height - 58)
    x = Scale(xlo, xhi, frame.left, frame.right, log=log_x)
    if log_y:
        ylo, yhi = _log_range(min(all_y), max(all_y))
    else:
        ylo, yhi = nice_range(0.0, max(all_y, default=0.0) * 1.05 or 1.0)
    y = Scale(ylo, yhi, frame.bottom, frame.top, log=log_y)

    title = "Monthly cost against volume, per arm"
    desc_parts = []
    for ln in lines:
        part = f"{ln['label']}: {fmt.money(ln['fixed'])} a month fixed plus {fmt.money(ln['per'] * 1000)} per 1,000 requests"
        if ln["floor"]:
            part += (f", self-hosted: never below its floor of {fmt.money(ln['floor'])} a month "
                     "(the instances kept up)")
        if ln["break_even"]:
            part += f", breaks even with the baseline at {fmt.count(ln['break_even'])} requests a month"
        desc_parts.append(part)
    svg = _Svg("chart-monthly-cost", title, "; ".join(desc_parts), height=height)
    _legend(svg, [(_short(ln["label"], 32) + (" (baseline)" if ln["baseline"] else ""), *ln["style"])
                  for ln in lines],
            left=frame.left, top=16, max_width=WIDTH - 90)
    _axes(svg, frame, x, y,
          x_label="requests per month" + (" (log scale)" if log_x else ""),
          y_label="monthly cost (USD" + (", log scale)" if log_y else ")"),
          x_fmt=fmt.volume, y_fmt=_money_tick)
    if rpm:
        px = x(float(rpm))
        svg.el("line", x1=_n(px), x2=_n(px), y1=_n(frame.top), y2=_n(frame.bottom), stroke="#111",
               stroke_width=1, stroke_dasharray="3 3")
        svg.el("text", f"your volume: {fmt.volume(rpm)}/month", x=_n(px + 5), y=_n(frame.top + 12),
               fill="#111", font_size=FONT - 1,
               text_anchor="start" if px < frame.right - 170 else "end",
               dx=None if px < frame.right - 170 else "-10", **HALO)
    for ln in lines:
        colour, dash, _ = ln["style"]
        pts = " ".join(f"{_n(x(v))},{_n(y(total(ln, v)))}" for v in samples)
        svg.el("polyline", points=pts, fill="none", stroke=colour, stroke_width=3 if ln["baseline"] else 2.25,
               stroke_dasharray=dash or None, stroke_linejoin="round")
    for ln in (ln for ln in lines if ln["floor"]):
        colour, py = ln["style"][0], y(ln["fixed"] + ln["floor"])
        svg.el("text", f"{_short(ln['label'], 24)}: self-hosting floor {fmt.money(ln['floor'])}/month",
               x=_n(frame.left + 6), y=_n(py - 6), fill=colour, font_size=FONT - 1, class_="serving-floor", **HALO)
    for ln in lines:
        be = ln["break_even"]
        if not be or ln["baseline"] or not (xlo <= be <= xhi):
            continue
        colour = ln["style"][0]
        px, py = x(be), y(total(ln, be))
        svg.el("circle", cx=_n(px), cy=_n(py), r="6", fill="#fff", stroke=colour, stroke_width=2.5,
               class_="break-even")
        svg.el("circle", cx=_n(px), cy=_n(py), r="2", fill="#111")
        svg.el("text", f"{_short(ln['label'], 24)} breaks even: {fmt.volume(be)}/month", x=_n(px + 9), y=_n(py + 16),
               fill="#111", font_size=FONT - 1,
               text_anchor="start" if px < frame.left + frame.width * 0.6 else "end", **HALO)

    caption = ("Each line is an arm's monthly bill at a given volume: inference per request × volume, "
               "plus hosting and its training spread over the months it is used. Where an arm's line "
               "crosses the baseline's (open circles) it breaks even: at higher volumes the line that "
               "is lower is cheaper. The dotted vertical line is the volume in this run's settings.")
    if any(ln["floor"] for ln in lines):
        caption += (" A self-hosted arm's line is flat at its floor (the instances kept up all "
                    "month, used or not) until its traffic fills them, then rises with volume: "
                    "below the crossing the floor makes self-hosting dearer.")
    if log_x:
        caption += " Volume is on a log scale" + (" and so is cost" if log_y else "") + \
                   " because the break-even points and your volume are far apart."
    if skipped:
        caption += " Not plotted (no price): " + ", ".join(skipped) + "."
    return Chart("chart-monthly-cost", title, caption, svg.finish())


# --------------------------------------------------------------------------- (c) loss curve


def loss_curve(training: Mapping[str, Any]) -> Chart | None:
    """Training and validation loss by step; ``None`` when there is no curve."""
    curve = [p for p in (training.get("loss_curve") or []) if p.get("step") is not None]
    if not curve:
        return None
    series = []
    for key, label, i in (("train_loss", "training loss", 0), ("valid_loss", "validation loss", 1)):
        pts = [(float(p["step"]), float(p[key])) for p in curve
               if p.get(key) is not None and math.isfinite(float(p[key]))]
        if pts:
            series.append((label, pts, _style(i)))
    if not series:
        return None
    xs = [px for _, pts, _ in series for px, _ in pts]
    ys = [py for _, pts, _ in series for _, py in pts]
    frame = _Frame(left=72, top=46, right=WIDTH - 24, bottom=HEIGHT - 58)
    x0 = 0.0 if min(xs) <= max(xs) * 0.1 else min(xs)
    xlo, xhi = nice_range(x0, max(xs) if max(xs) > x0 else x0 + 1)
    ylo, yhi = nice_range(0.0, max(ys) * 1.05 or 1.0)
    x = Scale(xlo, xhi, frame.left, frame.right)
    y = Scale(ylo, yhi, frame.bottom, frame.top)
    model = training.get("model") or training.get("job_id") or "the tuned model"
    verdict = (training.get("learned") or {}).get("verdict")
    title = f"Training loss of {model}" + (f": {verdict}" if verdict and verdict != "unknown" else "")
    last = {label: pts[-1][1] for label, pts, _ in series}
    desc = "; ".join(f"{label}: {len(pts)} points, from {pts[0][1]:.3g} at step {pts[0][0]:g} to "
                     f"{pts[-1][1]:.3g} at step {pts[-1][0]:g}" for label, pts, _ in series)
    svg = _Svg("chart-loss", title, desc)
    _legend(svg, [(label, *style) for label, _, style in series], left=frame.left, top=18,
            max_width=WIDTH - 90)
    _axes(svg, frame, x, y, x_label="training step", y_label="loss",
          x_fmt=lambda v: f"{v:,.0f}" if v == int(v) else f"{v:g}", y_fmt=lambda v: f"{v:g}")
    for label, pts, (colour, dash, shape) in series:
        svg.el("polyline", points=" ".join(f"{_n(x(a))},{_n(y(b))}" for a, b in pts), fill="none",
               stroke=colour, stroke_width=2.25, stroke_dasharray=dash or None, stroke_linejoin="round")
        if len(pts) <= 40 or label == "validation loss":
            for a, b in pts:
                _marker(svg, shape, x(a), y(b), 3.5, fill=colour, stroke="#fff", stroke_width=1)
    caption = ("Loss per training step: it should fall and flatten. Validation loss (held-out "
               "examples) rising while training loss keeps falling means the model is memorising "
               "the training set (overfitting); fewer epochs would do.")
    if "validation loss" not in last:
        caption += " No validation loss was reported for this job."
    learned = training.get("learned") or {}
    if learned.get("verdict") == "underfit":
        caption += (f" This tune underfit ({learned.get('reason')}): its arms say little about "
                    f"what fine-tuning can do; tune longer: {training.get('tune_longer')}.")
    elif learned.get("verdict") in ("learned", "overfit"):
        caption += f" Verdict: {learned['verdict']} ({learned.get('reason')})."
    return Chart("chart-loss", title, caption, svg.finish())


def all_charts(results: Mapping[str, Any]) -> list[Chart]:
    """The charts the report shows, in order; the loss curve only with a tune."""
    charts = [quality_vs_cost(results), monthly_cost(results)]
    training = results.get("training")
    if training:
        curve = loss_curve(training)
        if curve is not None:
            charts.append(curve)
    return charts
