"""The learning-curve chart: quality against training examples (log x), fitted and extrapolated.

Drawn like the other charts (:mod:`ftdecide.report._charts`: plain SVG, every
text escaped by the writer). It shows the measured points with their 95 %
intervals, the fitted curve (solid where measured, dashed where it is an
extrapolation), its bootstrap band, the baseline's interval as a grey band
and the target as a dotted line, so a reader sees at a glance whether more
data is the way to the target and roughly how much.
"""

from __future__ import annotations

from typing import Any, Mapping

from ftdecide.report import _format as fmt
from ftdecide.report._charts import (
    HALO,
    HEIGHT,
    PALETTE,
    WIDTH,
    Chart,
    Scale,
    _axes,
    _Frame,
    _marker,
    _n,
    _Svg,
    all_charts,
    nice_range,
)

CHART_ID = "chart-learning-curve"


def learning_curve(results: Mapping[str, Any]) -> Chart | None:
    """The chart of ``results['learning_curve']``; None without a curve or measured points."""
    lc = results.get("learning_curve") or {}
    pts = [p for p in lc.get("points") or [] if (p.get("quality") or {}).get("mean") is not None]
    if not pts:
        return None
    metric = lc.get("metric") or (results.get("metric") or {}).get("name") or "quality"
    band = lc.get("band") or []
    base = lc.get("baseline") or {}
    target = lc.get("target_quality")
    xs = [float(p["examples"]) for p in pts] + [float(b["examples"]) for b in band]
    lo, hi = min(xs) / 1.25, max(xs) * 1.25
    frame = _Frame(left=72, top=22, right=WIDTH - 130, bottom=HEIGHT - 58)
    x = Scale(lo, hi, frame.left, frame.right, log=True)
    ys = [v * 100 for p in pts for v in (p["quality"].get("ci_low"), p["quality"].get("ci_high"),
                                          p["quality"]["mean"]) if v is not None]
    ys += [v * 100 for b in band for v in (b["low"], b["high"])]
    ys += [v * 100 for v in (base.get("ci_low"), base.get("ci_high"), target) if v is not None]
    ylo, yhi = nice_range(max(0.0, min(ys) - 5), min(100.0, max(ys) + 5))
    y = Scale(ylo, yhi, frame.bottom, frame.top)

    title = f"Quality ({metric}) against training examples"
    desc = "; ".join(f"{p['examples']:,} examples: {fmt.points(p['quality']['mean'])} points "
                     f"{fmt.interval(p['quality'].get('ci_low'), p['quality'].get('ci_high'))}"
                     for p in pts)
    svg = _Svg(CHART_ID, title, desc)
    _axes(svg, frame, x, y, x_label="training examples (log scale)",
          y_label=f"quality, points ({metric})", x_fmt=lambda v: f"{v:,.0f}",
          y_fmt=lambda v: f"{v:g}")

    def clip(v: float) -> float:
        return min(max(v, ylo), yhi)

    if base.get("ci_low") is not None and base.get("ci_high") is not None:
        top, bottom = y(clip(base["ci_high"] * 100)), y(clip(base["ci_low"] * 100))
        svg.el("rect", x=_n(frame.left), y=_n(top), width=_n(frame.width),
               height=_n(max(bottom - top, 1)), fill="#999", fill_opacity="0.18")
        svg.el("text", f"baseline ({base.get('arm') or 'baseline'})", x=_n(frame.right + 4),
               y=_n(top + 4), fill="#555", font_size=11, **HALO)
    if target is not None:
        ty = y(clip(target * 100))
        svg.el("line", x1=_n(frame.left), x2=_n(frame.right), y1=_n(ty), y2=_n(ty), stroke="#D55E00",
               stroke_width=1.5, stroke_dasharray="2 3")
        svg.el("text", f"target {fmt.points(target)}", x=_n(frame.right + 4), y=_n(ty + 4),
               fill="#D55E00", font_size=11, **HALO)
    colour = PALETTE[0]
    if band:
        upper = " ".join(f"{_n(x(b['examples']))},{_n(y(clip(b['high'] * 100)))}" for b in band)
        lower = " ".join(f"{_n(x(b['examples']))},{_n(y(clip(b['low'] * 100)))}"
                         for b in reversed(band))
        svg.el("polygon", points=f"{upper} {lower}", fill=colour, fill_opacity="0.12")
        measured = [b for b in band if not b.get("extrapolated")]
        beyond = [b for b in band if b.get("extrapolated")]
        if measured and beyond:
            beyond = [measured[-1], *beyond]
        for part, dash in ((measured, None), (beyond, "6 4")):
            if len(part) >= 2:
                svg.el("polyline", points=" ".join(
                    f"{_n(x(b['examples']))},{_n(y(clip(b['quality'] * 100)))}" for b in part),
                    fill="none", stroke=colour, stroke_width=2, stroke_dasharray=dash)
    need = lc.get("examples_to_target") or {}
    if need.get("reached") and need.get("examples") and target is not None \
            and lo <= need["examples"] <= hi:
        nx, ny = x(float(need["examples"])), y(clip(target * 100))
        svg.el("line", x1=_n(nx), x2=_n(nx), y1=_n(ny), y2=_n(frame.bottom), stroke="#D55E00",
               stroke_width=1, stroke_dasharray="2 3")
        svg.el("text", f"≈{need['examples']:,}", x=_n(nx + 4), y=_n(frame.bottom - 6),
               fill="#D55E00", font_size=11, **HALO)
    for p in pts:
        q = p["quality"]
        px, py = x(float(p["examples"])), y(q["mean"] * 100)
        if q.get("ci_low") is not None and q.get("ci_high") is not None:
            svg.el("line", x1=_n(px), x2=_n(px), y1=_n(y(q["ci_low"] * 100)),
                   y2=_n(y(q["ci_high"] * 100)), stroke="#111", stroke_width=1.5)
        _marker(svg, "circle", px, py, 5, fill="#111", stroke="#fff", stroke_width=1)

    fit = lc.get("fit") or {}
    caption = ("Each dot is the tuned model trained on that many examples and scored on the same "
               "eval items (bars: 95 % intervals). The line is the fitted curve")
    if fit.get("form") == "inverse-power":
        params = fit.get("params") or {}
        caption += (f" q(n) = {params.get('a', 0):.3f} − {params.get('b', 0):.3g}·n^−"
                    f"{params.get('c', 0):.3f}")
    elif fit:
        caption += f" (log-linear: {fit.get('note') or 'the power law did not converge'})"
    caption += ("; dashed where it extrapolates beyond the data, shaded its bootstrap band. "
                "The grey band is the baseline's interval, the dotted line the target. ")
    for key, what in (("examples_to_target", "To reach the target"),
                      ("examples_to_beat_baseline", "To beat the baseline's upper bound")):
        need = lc.get(key) or {}
        if need.get("text") and need.get("goal") is not None:
            caption += f"{what}: {need['text']}. "
    return Chart(CHART_ID, title, caption.strip(), svg.finish())


def report_charts(results: Mapping[str, Any]) -> list[Chart]:
    """Every chart of a report: :func:`~ftdecide.report._charts.all_charts`, then the
    learning curve when the run measured one."""
    charts = all_charts(results)
    curve = learning_curve(results)
    if curve is not None:
        charts.append(curve)
    return charts
