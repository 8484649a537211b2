"""HTML fragments for a notebook: the report's own tables, without the page around them.

The Python API's result objects (``Run``, ``Estimate``, ``ValidationReport``,
``Assessment``) show themselves in Jupyter through ``_repr_html_``; each calls
one function here. They render the same Jinja templates (the report's
``_summary`` and ``_assessment`` partials) in the same autoescaping
environment as the report, so an answer holding ``<script>`` is shown as
text in a notebook exactly as it is in ``report.html``. A fragment has no
CSP of its own (the notebook is the page) and carries no script.
"""

from __future__ import annotations

from typing import Any, Mapping

from ftdecide.report._html import _environment

__all__ = ["assessment_fragment", "estimate_fragment", "run_fragment", "validation_fragment"]

#: Enough style for the tables to read in a notebook; scoped to the fragment.
_STYLE = ("<style>.ftdecide .num{text-align:right}.ftdecide .sub,.ftdecide .small"
          "{display:block;font-size:85%;opacity:.75}.ftdecide .mono{font-family:monospace}"
          ".ftdecide .badge{font-size:80%;border:1px solid #999;border-radius:3px;"
          "padding:0 3px}.ftdecide .better{color:#1a7f37}.ftdecide .worse{color:#b42318}</style>")


def _wrap(body: str) -> str:
    return f'<div class="ftdecide">{_STYLE}{body}</div>'


def run_fragment(results: Mapping[str, Any]) -> str:
    """The verdict and arms table of a compare run (``results.json``), as in the report."""
    from ftdecide.report._view import build

    context = build(results)
    return _wrap(_environment().get_template("_summary.html.j2").render(**context))


def assessment_fragment(result: Any) -> str:
    """The assessment's sections (recommendation, why, costs, risks, next steps)."""
    from markupsafe import Markup

    from ftdecide.report._assessment import assessment_context

    a = assessment_context(result)
    if a["chart"] is not None:
        a["chart"]["svg"] = Markup(a["chart"]["svg"])  # built and escaped in Python
    return _wrap(_environment().get_template("_assessment.html.j2").render(a=a))


def estimate_fragment(estimate: Mapping[str, Any]) -> str:
    """An ``estimate --json`` mapping as the terminal's table (economics when priced)."""
    hardware = estimate.get("hardware") or {}
    rows = list(hardware.get("hardware") or []) + (
        [hardware["cpu_local"]] if hardware.get("cpu_local") else [])
    return _wrap(_environment().get_template("_estimate.html.j2").render(
        e=estimate, econ=estimate.get("economics"), hardware=rows))


_STAT_ROWS = (("messages_per_example", "messages / example"),
              ("tokens_per_example", "tokens / example"),
              ("assistant_tokens_per_example", "assistant tokens / example"))


def validation_fragment(report: Mapping[str, Any]) -> str:
    """A ``validate --json`` mapping: its statistics, then each error and warning category
    with its lines and what is wrong on the first of them."""
    from ftdecide.report._text import lines_list

    stats = report.get("stats") or {}
    rows = [(label, stats[key]) for key, label in _STAT_ROWS if stats.get(key)]
    details = report.get("details") or {}
    findings = []
    for kind in ("errors", "warnings"):
        for category, lines in (report.get(kind) or {}).items():
            findings.append({"kind": kind[:-1], "category": category, "count": len(lines),
                             "lines": lines_list(lines) if lines else "",
                             "detail": (details.get(category) or {}).get("detail")})
    return _wrap(_environment().get_template("_validation.html.j2").render(
        v=report, stats=rows, findings=findings))
