"""``assess`` for Python: the lesson's questions answered from a file or a dict, with a
compare run's measurements as evidence.

``ftdecide assess`` reads (or asks) the answers and calls :func:`assess`; the
interactive questions stay in the CLI, a notebook passes the answers.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any, Mapping, Sequence

from ftdecide.api._result import Result

__all__ = ["Assessment", "assess", "read_answers"]


class Assessment(Result):
    """The ``ftdecide assess --json`` mapping (recommendation, confidence, reasons, costs,
    risks, next steps, evidence); ``assessment`` is the assess layer's object behind it
    (what the HTML page and the terminal summary are rendered from)."""

    def __init__(self, assessment: Any) -> None:
        super().__init__(assessment.to_json())
        self.assessment = assessment

    @property
    def recommendation(self) -> str:
        return str(self._data["recommendation"])

    @property
    def confidence(self) -> str:
        return str(self._data["confidence"])

    def write_html(self, out: str | os.PathLike[str]) -> str:
        """Write the assessment page (a ``.html`` file, or a folder: ``assessment.html``)
        with ``assessment.json`` beside it; its path."""
        from ftdecide.report._assessment import write_assessment

        return str(write_assessment(self.assessment, os.fspath(out)))

    def _summary(self) -> str:
        return f"{self.recommendation} (confidence: {self.confidence})"

    def _repr_html_(self) -> str:
        from ftdecide.report import assessment_fragment

        return assessment_fragment(self.assessment)


def read_answers(answers: str | os.PathLike[str] | Mapping[str, Any] | Any, *,
                 partial: bool = False) -> Any:
    """Checked answers from a YAML/JSON answers file, or from a mapping with the file's
    keys (nested, ``{"use_case": {"goal": "format"}}``, or dotted, ``{"use_case.goal": …}``).
    A wrong key or value raises :class:`ftdecide.DataError` naming the key."""
    from ftdecide.assess import _questionnaire as qn

    if isinstance(answers, qn.Answers):
        return answers
    if isinstance(answers, Mapping):
        data = qn.nest(answers) if any("." in str(k) for k in answers) else dict(answers)
        return qn.validate(data, origin="python", partial=partial)
    return qn.read_answers(os.fspath(answers), partial=partial)


def assess(answers: str | os.PathLike[str] | Mapping[str, Any] | Any,
           from_run: str | Any | None = None, *, train: str | os.PathLike[str] | None = None,
           today: _dt.date | None = None, price_files: Sequence[str] = (),
           answers_path: str | None = None) -> Assessment:
    """Should we fine-tune? (``ftdecide assess``) The decision, every rule that fired, the
    costs, risks and next steps.

    ``answers``: an answers file or a mapping (its keys: ``ftdecide assess
    --help``). ``from_run``: a :class:`Run`, a run id or a report folder whose
    measurements replace the matching answers. ``train``: a training set to
    validate and price. ``today`` fixes the date shutdowns are counted from.
    """
    from ftdecide.assess import assess as run_assessment
    from ftdecide.pricing import load_catalog

    run_id, results = None, None
    if from_run is not None:
        if hasattr(from_run, "results") and hasattr(from_run, "run_id"):
            run_id, results = from_run.run_id, from_run.results
        else:
            from ftdecide.compare import finished_results

            run_id, results, _ = finished_results(str(from_run))
    parsed = read_answers(answers)
    if answers_path is None and not isinstance(answers, Mapping) and \
            isinstance(answers, (str, os.PathLike)):
        answers_path = os.fspath(answers)
    catalog = load_catalog(price_files=tuple(price_files))
    result = run_assessment(parsed, catalog=catalog, run_results=results, run_id=run_id,
                            train_path=os.fspath(train) if train is not None else None,
                            today=today, answers_path=answers_path)
    return Assessment(result)
