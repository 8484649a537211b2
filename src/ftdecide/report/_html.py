"""The ``compare`` report: one self-contained HTML file, with its data beside it.

``render_html`` reads only the ``results.json`` mapping (schema 1, see
``docs``/the compare issue), so ``ftdecide report RUN`` can re-render a
stored run without calling any model. The page inlines its CSS, its small
filter script and its SVG charts, fetches nothing, and carries a strict
Content-Security-Policy whose script and style hashes are computed here: an
injected ``<script>`` would not run even if escaping ever failed, and
everything a user or a model wrote is autoescaped by Jinja2 anyway.

``write_report`` writes ``report.html``, ``results.json`` (stable key order)
and ``items.csv`` (one row per eval item, safe to open in a spreadsheet), and on
request ``items.parquet`` (one row per item × arm; needs pyarrow).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from ftdecide.report import _format as fmt
from ftdecide.report._view import build, check, redact

__all__ = ["ReportFiles", "render_html", "write_report", "results_json", "items_csv",
           "items_parquet", "parquet_modules"]

# Mappings whose key order is the display order (kept); every other mapping is
# written with sorted keys so two runs of the same data diff cleanly.
_ORDERED_PATHS = {("arms",), ("items", "*", "outputs")}
# A spreadsheet treats a cell starting with one of these as a formula (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ReportFiles:
    """The three files one report consists of."""

    html: Path
    results_json: Path
    items_csv: Path


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,  # everything a user or a model wrote is escaped; no |safe on data
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(points=fmt.points, interval=fmt.interval, money=fmt.money, count=fmt.count,
                       number=fmt.number, seconds=fmt.seconds, p_value=fmt.p_value, volume=fmt.volume)
    return env


def render_html(results: Mapping[str, Any]) -> str:
    """The report page for ``results`` (a ``results.json`` mapping).

    Raises :class:`ftdecide.errors.DataError` naming the key when the
    mapping lacks something the page needs.
    """
    from markupsafe import Markup

    from ftdecide.report._curvechart import report_charts

    context = build(results)
    css, js = _asset("report.css"), _asset("report.js")
    csp = ("default-src 'none'; "
           f"style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; "
           "object-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'")
    charts = [{"id": c.id, "title": c.title, "caption": c.caption,
               # charts.py escapes every text and attribute it writes
               "svg": Markup(c.svg)} for c in report_charts(results)]
    from ftdecide.report._distillation import distillation_view

    return _environment().get_template("report.html.j2").render(
        **context, charts=charts, csp=csp, css=Markup(css), js=Markup(js),
        distillation=distillation_view(results))


def _stable(value: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(value, Mapping):
        keep = any(len(p) == len(path) and all(a in ("*", b) for a, b in zip(p, path))
                   for p in _ORDERED_PATHS)
        keys = list(value) if keep else sorted(value, key=str)
        return {str(k): _stable(value[k], path + (str(k),)) for k in keys}
    if isinstance(value, (list, tuple)):
        return [_stable(v, path + ("*",)) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/Infinity; a browser's JSON.parse would refuse the file
    return value


def results_json(results: Mapping[str, Any]) -> str:
    """``results`` as pretty JSON: sorted keys except arm and output order, secrets redacted."""
    data = dict(results)
    if isinstance(data.get("provenance"), Mapping) and "config" in data["provenance"]:
        data["provenance"] = {**data["provenance"], "config": redact(data["provenance"]["config"])}
    return json.dumps(_stable(data), indent=2, ensure_ascii=False, allow_nan=False, default=str) + "\n"


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def items_csv(results: Mapping[str, Any]) -> str:
    """One row per eval item: id, input, expected, then ``<arm>_output``, ``<arm>_score``
    (and ``<arm>_judge_score``, ``<arm>_judge_reason`` in a judged run).

    Pivoted from :func:`ftdecide.compare.item_rows` (one row per item × arm),
    the builder ``items.parquet`` and the Python API's ``Run.items()`` use too.
    """
    from ftdecide.compare import item_rows

    check(results)
    arms = list(results["arms"])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    # a judged run adds the judge's score and reason per arm (what a person checks it against)
    judged = isinstance(results.get("judge"), Mapping)
    columns = ("output", "score", "judge_score", "judge_reason") if judged else ("output", "score")
    writer.writerow(["id", "input", "expected"] + [f"{a}_{c}" for a in arms for c in columns])
    for item in results["items"]:
        rows = item_rows({"arms": results["arms"], "items": [item]})
        row: list[Any] = [rows[0]["id"] if rows else str(item.get("id", "")),
                          item.get("input") or "", item.get("expected") or ""]
        by_arm = {r["arm"]: r for r in rows}
        for a in arms:
            r = by_arm[a]
            score = r["score"]
            row += [r["answer"] or "", "" if score is None else repr(float(score))]
            if judged:
                j = r.get("judgment") if isinstance(r.get("judgment"), Mapping) else {}
                verdict = j.get("score") if j.get("parsed") else ("unparseable" if j else "")
                if j.get("parsed") and j.get("scale") == "pass-fail":
                    verdict = "PASS" if verdict == 1 else "FAIL"
                row += ["" if verdict is None else str(verdict), j.get("reason") or ""]
        writer.writerow([_cell(c) for c in row])
    return buf.getvalue()


def items_parquet(results: Mapping[str, Any], path: Path) -> Path:
    """``items.parquet``: :func:`ftdecide.compare.item_rows` as typed columns, one row per
    item × arm (the table ``Run.items()`` returns). Needs pyarrow (the ``parquet`` extra)."""
    from ftdecide.compare import ITEM_COLUMNS, item_rows

    pa, pq = parquet_modules()
    check(results)
    rows = item_rows(results)
    columns = list(ITEM_COLUMNS) + sorted({k for r in rows for k in r} - set(ITEM_COLUMNS))
    # nested values (a judge's judgment ...) as JSON text: one column type whatever they hold
    rows = [{c: (json.dumps(r.get(c), ensure_ascii=False, default=str)
                 if isinstance(r.get(c), (Mapping, list, tuple)) else r.get(c))
             for c in columns} for r in rows]
    table = pa.Table.from_pylist(rows, schema=_parquet_schema(pa, columns, rows))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _parquet_schema(pa: Any, columns: list[str], rows: list[dict[str, Any]]) -> Any:
    """Stable types for the known columns (an all-empty column still has its type)."""
    known = {"id": pa.string(), "arm": pa.string(), "input": pa.string(), "expected": pa.string(),
             "answer": pa.string(), "score": pa.float64(), "input_tokens": pa.int64(),
             "output_tokens": pa.int64(), "cached_input_tokens": pa.int64(),
             "latency_s": pa.float64(), "cost_usd": pa.float64(), "cached": pa.bool_(),
             "error": pa.string()}
    fields = []
    for c in columns:
        if c in known:
            fields.append(pa.field(c, known[c]))
        else:  # a newer key: let pyarrow infer it from the values
            fields.append(pa.field(c, pa.array([r.get(c) for r in rows]).type))
    return pa.schema(fields)


def parquet_modules() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or a :class:`UsageError` saying how to get them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from ftdecide.errors import UsageError

        raise UsageError("--format parquet needs pyarrow, which is not installed",
                         key="--format",
                         hint="pip install 'ftdecide[parquet]' (or use --format csv)") from None
    return pa, pq


def _write_atomic(path: Path, text: str) -> None:
    """Write beside the target, then rename: a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(results: Mapping[str, Any], out_dir: Path, *,
                 items_format: str = "csv") -> ReportFiles:
    """Write ``report.html``, ``results.json`` and ``items.csv`` into ``out_dir``; with
    ``items_format="parquet"`` also ``items.parquet`` (one row per item × arm)."""
    if items_format not in ("csv", "parquet"):
        from ftdecide.errors import UsageError

        raise UsageError(f"unknown items format {items_format!r}", key="--format",
                         hint="csv or parquet")
    if items_format == "parquet":
        parquet_modules()  # before anything is written
    html = render_html(results)  # first: bad results write nothing
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out_dir / "report.html", out_dir / "results.json", out_dir / "items.csv")
    _write_atomic(files.results_json, results_json(results))
    _write_atomic(files.items_csv, items_csv(results))
    if items_format == "parquet":
        items_parquet(results, out_dir / "items.parquet")
    _write_atomic(files.html, html)
    return files
