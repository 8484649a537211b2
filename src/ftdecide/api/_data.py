"""``validate`` and ``audit`` for Python: the same checks and the same ``--json`` as the CLI.

``ftdecide validate`` and ``ftdecide audit`` call these functions and render
what they return, so a notebook and the terminal cannot disagree.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from ftdecide.api._result import Result, frame

__all__ = ["AuditReport", "ValidationReport", "audit", "validate"]

class ValidationReport(Result):
    """What :func:`validate` found: the ``ftdecide validate --json`` mapping.

    ``valid`` is the exit status (no errors; warnings allowed). :meth:`errors`
    is one row per problem line, for filtering in pandas.
    """

    def __init__(self, data: dict[str, Any], *, report: Any = None,
                 array_error: Any = None) -> None:
        super().__init__(data)
        self.report = report  #: the data layer's report (token totals for the terminal)
        self.array_error = array_error  #: a JSON array where JSONL was expected, or None

    @property
    def valid(self) -> bool:
        return bool(self._data["valid"])

    def errors(self, *, warnings: bool = True) -> Any:
        """A DataFrame with one row per line of each error (and warning) category:
        ``kind`` (error/warning), ``category``, ``line`` (None for a file-level finding),
        ``detail`` (what is wrong, on each category's first line) and ``advice``."""
        from ftdecide.data._checks import advice as advice_for

        rows: list[dict[str, Any]] = []
        details = self._data.get("details") or {}
        kinds = (("error", "errors"), ("warning", "warnings")) if warnings else (("error", "errors"),)
        for kind, key in kinds:
            for category, lines in (self._data.get(key) or {}).items():
                first = (details.get(category) or {})
                advice = advice_for(category, self._data.get("format"))
                for line in lines or [None]:
                    rows.append({"kind": kind, "category": category, "line": line,
                                 "detail": first.get("detail") if line == first.get("line") else None,
                                 "advice": advice})
        return frame(rows, ("kind", "category", "line", "detail", "advice"),
                     what="ValidationReport.errors()")

    def to_pandas(self) -> Any:
        """The problems DataFrame (:meth:`errors`)."""
        return self.errors()

    def _summary(self) -> str:
        return (f"{self._data['file']}: {'valid' if self.valid else 'INVALID'}, "
                f"{self._data['examples']:,} examples")

    def _repr_html_(self) -> str:
        from ftdecide.report import validation_fragment

        return validation_fragment(self._data)


def validate(path: str | os.PathLike[str], model: str | None = None, *,
             fmt: str | None = None, price_files: Sequence[str] = (),
             progress: Callable[[int], None] | None = None) -> ValidationReport:
    """Check a training set line by line, the OpenAI cookbook's way (``ftdecide validate``).

    ``model`` (``provider/model`` or an id from the catalog) sets the encoding
    and the per-example token limit; ``fmt`` is ``chat``, ``prompt-completion``
    or ``csv`` (detected when not given). An invalid file is a report with
    ``valid`` False, not an exception; a missing file or an unknown model
    raises :class:`ftdecide.DataError` / :class:`ftdecide.UsageError`.
    ``progress(bytes_read)`` is called while a big file is read.
    """
    import ftdecide.data as data
    from ftdecide.data import _read as read
    from ftdecide.data import _tokens as tokens

    encoding, limit, model_key = tokens.DEFAULT_ENCODING, None, None
    if model is not None:  # model="" is a mistake, not "no model"
        from ftdecide.pricing import load_catalog

        info = load_catalog(price_files=tuple(price_files)).resolve(model)
        encoding = info.encoding or encoding
        limit = info.training_token_limit
        model_key = info.key
    path = os.fspath(path)
    report = data.validate(path, encoding=encoding, token_limit=limit, fmt=fmt, progress=progress)
    result = report.to_dict()
    result["model"] = model_key
    # what exactly is wrong on the first line of each category, and what to do about it
    array = read.json_array_error(path) if "invalid_json" in report.errors or \
        "data_type" in report.errors else None
    firsts = {c: lines[0] for c, lines in {**report.errors, **report.warnings}.items() if lines}
    details = read.explain_first(path, firsts, report.format) if report.errors else {}
    result["details"] = {c: {"line": firsts[c], "detail": d} for c, d in details.items()}
    result["hint"] = (f"{array.message}; {array.hint}" if array is not None else None)
    return ValidationReport(result, report=report, array_error=array)


class AuditReport(Result):
    """What :func:`audit` found: the ``ftdecide audit --json`` mapping (leaks, conflicts,
    near duplicates, labels, power)."""

    def _summary(self) -> str:
        counts = self._data.get("counts") or {}
        return ", ".join(f"{k}={v}" for k, v in list(counts.items())[:4])


def audit(train: str | os.PathLike[str], eval: str | os.PathLike[str] | None = None, *,
          threshold: float = 0.9, metric: str | None = None, baseline_rate: float | None = None,
          alpha: float = 0.05, power: float = 0.8,
          progress: Callable[[str, int, int], None] | None = None) -> AuditReport:
    """Check the data before any spend (``ftdecide audit``): eval prompts leaked into
    train, conflicting answers, near duplicates, the label mix with its trivial
    baselines, and the smallest gain the eval set can detect.

    ``threshold`` is the cosine similarity at which two prompts are near copies;
    ``metric`` the comparison's metric (``exact``, ``accuracy``, ``json-fields``).
    """
    import ftdecide.data as data

    if metric is not None:
        metric = metric.strip().lower().replace("_", "-")
    report = data.audit(os.fspath(train), os.fspath(eval) if eval is not None else None,
                        near_threshold=threshold, metric=metric, baseline_rate=baseline_rate,
                        alpha=alpha, power=power, progress=progress)
    return AuditReport(report.to_dict())
