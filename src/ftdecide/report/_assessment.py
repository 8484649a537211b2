"""The ``assess`` report: one self-contained HTML page, alone or on top of a comparison.

Same package, same rules as the compare report: inline CSS and SVG, nothing
fetched, a strict Content-Security-Policy with hashes computed here, and
Jinja2 autoescaping for everything a user or a model wrote (the answers'
description, a run's task name and items ...). With ``--from-run`` the page
extends the comparison's template (``report.html.j2``): the assessment
comes first and every section of the comparison follows, rendered by the
comparison's own template rather than a copy of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from ftdecide.assess._facts import payback_text
from ftdecide.report import _format as fmt
from ftdecide.report._charts import (
    FONT,
    HALO,
    WIDTH,
    Scale,
    _axes,
    _Frame,
    _legend,
    _money_tick,
    _n,
    _style,
    _Svg,
    nice_range,
)
from ftdecide.report._format import finite as _finite
from ftdecide.report._html import _asset, _csp_hash, _environment, _write_atomic

__all__ = ["assessment_context", "render_assessment", "write_assessment", "payback_chart"]

EFFECT_TEXT = {"decides": "decides", "outranked": "outranked", "supports": "supports", "risk": "risk"}




def _show(value: Any) -> str:
    """A value of the trace or the evidence, for people."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return str(value)


def payback_chart(costs: Mapping[str, Any]) -> Any:
    """Cumulative cost of keeping the baseline vs fine-tuning, month by month, to the horizon.

    Where the fine-tune's line crosses below the baseline's it has paid
    back; the dotted line is the model's shutdown, after which the
    fine-tune (and what it saved) is gone. ``None`` without the economics.
    """
    from ftdecide.report._charts import Chart

    before, after = _finite(costs.get("monthly_before_usd")), _finite(costs.get("monthly_after_usd"))
    training = _finite(costs.get("training_cost_usd"))
    if before is None or after is None or training is None:
        return None
    horizon = _finite(costs.get("horizon_months")) or 12.0
    payback = _finite(costs.get("payback_months"))
    shutdown_m = _finite(costs.get("months_to_shutdown"))
    span = horizon
    if payback is not None and payback > span:
        span = min(payback * 1.25, 36.0)
    span = max(span, 0.5)
    xlo, xhi = nice_range(0.0, span)
    ys = [0.0, training, before * xhi, training + after * xhi]
    ylo, yhi = nice_range(0.0, max(ys) * 1.05 or 1.0)
    frame = _Frame(left=84, top=50, right=WIDTH - 24, bottom=420 - 58)
    x = Scale(xlo, xhi, frame.left, frame.right)
    y = Scale(ylo, yhi, frame.bottom, frame.top)
    title = "Cumulative cost: keep the baseline or fine-tune"
    desc = (f"Keeping the baseline costs {fmt.money(before)} a month; fine-tuning costs {fmt.money(training)} "
            f"once, then {fmt.money(after)} a month. ")
    desc += (f"It pays back after {payback:.2g} months." if payback is not None else "It never pays back.")
    if shutdown_m is not None and shutdown_m > 0:
        desc += f" The model shuts down after {shutdown_m:.1f} months."
    svg = _Svg("chart-payback", title, desc)
    series = [("keep the baseline", lambda m: before * m, _style(0)),
              ("fine-tune (training + monthly)", lambda m: training + after * m, _style(1))]
    _legend(svg, [(label, *style) for label, _, style in series], left=frame.left, top=18, max_width=WIDTH - 100)
    _axes(svg, frame, x, y, x_label="months from now", y_label="cumulative cost (USD)",
          x_fmt=lambda v: f"{v:g}", y_fmt=_money_tick)
    if shutdown_m is not None and 0 < shutdown_m <= xhi:
        px = x(shutdown_m)
        svg.el("line", x1=_n(px), x2=_n(px), y1=_n(frame.top), y2=_n(frame.bottom), stroke="#111",
               stroke_width=1, stroke_dasharray="3 3", class_="shutdown")
        svg.el("text", f"shutdown ({costs.get('shutdown')})", x=_n(px - 6), y=_n(frame.top + 14),
               text_anchor="end", fill="#111", font_size=FONT - 1, **HALO)
    samples = [xlo + (xhi - xlo) * k / 60 for k in range(61)]
    for label, fn, (colour, dash, _) in series:
        svg.el("polyline", points=" ".join(f"{_n(x(m))},{_n(y(fn(m)))}" for m in samples), fill="none",
               stroke=colour, stroke_width=2.5, stroke_dasharray=dash or None, stroke_linejoin="round")
    if payback is not None and 0 <= payback <= xhi:
        px, py = x(payback), y(before * payback)
        svg.el("circle", cx=_n(px), cy=_n(py), r="6", fill="#fff", stroke="#111", stroke_width=2,
               class_="payback")
        svg.el("text", f"pays back: {payback:.2g} months", x=_n(px + 10), y=_n(py - 10), fill="#111",
               font_size=FONT - 1, **HALO)
    caption = ("The baseline's line is today's monthly bill added up; the fine-tune's starts at its training "
               "cost and rises by its own monthly bill (hosting included). Where it drops below the "
               "baseline's, the training has paid back.")
    if shutdown_m is not None and shutdown_m > 0:
        caption += " The dotted line is the model's shutdown: the fine-tune stops serving with it."
    return Chart("chart-payback", title, caption, svg.finish())


def assessment_context(result: Any) -> dict[str, Any]:
    """What the assessment template shows, derived once here (the template stays a layout)."""
    from ftdecide.assess._questionnaire import load_questions

    q = load_questions()
    d = result.decision
    labels = result.rules.labels if result.rules is not None else {}
    reasons = []
    for r in d.reasons:
        reasons.append({"rule": r.rule, "text": r.text, "source": r.source, "effect": r.effect,
                        "effect_text": EFFECT_TEXT[r.effect] + (f": {r.recommend}" if r.effect == "outranked" else ""),
                        "values": [{"name": k, "value": _show(v)} for k, v in r.values.items()
                                   if not (isinstance(v, str) and len(v) > 80)]})  # long texts are in the reason
    c = result.costs
    cost_rows = [
        ("training (one-off)", fmt.money(c.get("training_cost_usd")), c.get("training_cost_source") or ""),
        ("per request, today", fmt.money(c.get("cost_per_request_before_usd")),
         f"{_show(c.get('prompt_tokens_now'))} prompt + {_show(c.get('output_tokens'))} output tokens"),
        ("per request, fine-tuned", fmt.money(c.get("cost_per_request_after_usd")),
         f"{_show(c.get('prompt_tokens_after'))} prompt + {_show(c.get('output_tokens'))} output tokens"),
        ("per month, today", fmt.money(c.get("monthly_before_usd")), f"at {_show(c.get('requests_per_month'))} requests"),
        ("per month, fine-tuned", fmt.money(c.get("monthly_after_usd")), "hosting included"),
        ("hosting per month", fmt.money(c.get("hosting_monthly_usd")), "billed by the hour, used or not"),
        ("saving per month", fmt.money(c.get("monthly_savings_usd")), ""),
        ("payback", payback_text(c), ""),
        ("break-even volume", fmt.count(c.get("break_even_requests_per_month")), "requests per month"),
        ("shutdown", c.get("shutdown") or "none known",
         "" if c.get("months_to_shutdown") is None else f"{c['months_to_shutdown']:.1f} months left"),
    ]
    if c.get("fine_tuning_closes"):
        cost_rows.append(("fine-tuning closes", c["fine_tuning_closes"], "no new jobs after it"))
    inputs = []
    for key, item in result.evidence["inputs"].items():
        inputs.append({"key": key, "question": q[key].text if key in q else "",
                       "value": _show(item["value"]), "source": item["source"],
                       "answered": _show(item["answered"]) if "answered" in item else None,
                       "measured": not item["source"].startswith(("answers", "interactive", "default", "implied"))})
    areas = []
    for area in ("use_case", "alternatives", "costs", "benefits"):
        rows = []
        for question in q.questions:
            if question.area != area:
                continue
            item = result.evidence["inputs"].get(question.id)
            rows.append({"id": question.id, "text": question.text, "help": question.help,
                         "value": _show(item["value"]) if item else "not answered",
                         "source": item["source"] if item else ""})
        areas.append({"title": q.areas[area], "questions": rows})
    chart = payback_chart(c)
    ev = result.evidence
    return {
        "recommendation": d.recommendation,
        "label_text": labels.get(d.recommendation, ""),
        "confidence": d.confidence,
        "description": result.facts.get("description"),
        "goal": result.facts.get("goal"),
        "model": c.get("model"),
        "as_of": ev.get("as_of"),
        "origin": ev["answers"]["origin"],
        "reasons": reasons,
        "risks": [{"rule": r.rule, "text": r.text} for r in d.risks],
        "cost_rows": cost_rows,
        "prices": c.get("prices") or {},
        "next_steps": result.next_steps,
        "inputs": inputs,
        "overridden": len(ev.get("overridden") or []),
        "areas": areas,
        "run": ev.get("run"),
        "train": ev.get("train"),
        "catalog": ev.get("catalog") or {},
        "notice": ev.get("notice"),
        "chart": None if chart is None else {"id": chart.id, "title": chart.title, "caption": chart.caption,
                                             "svg": chart.svg},
    }


def render_assessment(result: Any) -> str:
    """The HTML page of an :class:`ftdecide.assess.Assessment` (with its comparison when it has one)."""
    from markupsafe import Markup

    from ftdecide.report._curvechart import report_charts
    from ftdecide.report._view import build

    a = assessment_context(result)
    if a["chart"] is not None:
        a["chart"]["svg"] = Markup(a["chart"]["svg"])  # built and escaped in Python (charts._Svg)
    css = _asset("report.css") + "\n" + _asset("assessment.css")
    env = _environment()
    if result.run_results is None:
        csp = ("default-src 'none'; "
               f"style-src {_csp_hash(css)}; script-src 'none'; "
               "img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; "
               "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
        return env.get_template("assessment.html.j2").render(a=a, csp=csp, css=Markup(css))
    results = result.run_results
    context = build(results)
    js = _asset("report.js")
    csp = ("default-src 'none'; "
           f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; "
           "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
    charts = [{"id": c.id, "title": c.title, "caption": c.caption, "svg": Markup(c.svg)}
              for c in report_charts(results)]
    return env.get_template("assessment_run.html.j2").render(
        **context, a=a, charts=charts, csp=csp, css=Markup(css), js=Markup(js))


def write_assessment(result: Any, out: str | Path) -> Path:
    """Write the page to ``out`` (a ``.html`` file, or a folder: ``assessment.html``), and
    ``assessment.json`` (the ``--json`` result) beside it."""
    html = render_assessment(result)  # first: a failure writes nothing
    out = Path(out)
    path = out if out.suffix.lower() in (".html", ".htm") else out / "assessment.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path.with_name(path.stem + ".json"),
                  json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str, allow_nan=False) + "\n")
    _write_atomic(path, html)
    return path
