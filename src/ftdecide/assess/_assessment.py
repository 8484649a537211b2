"""``assess``: answers + measurements + the catalog → facts → a decision, with where each came from.

The questionnaire gives what people know; a ``compare`` run (``--from-run``)
and a training file (``--train``) give what can be measured instead
(:mod:`ftdecide.assess._evidence`). A measurement overrides the matching
answer, and every input records its source, so the report can say "few-shot
quality 0.52, measured in run X (you answered 0.70)". The catalog adds what
the provider says (tunable, prices, shutdown date;
:mod:`ftdecide.assess._model`) and ``rules.yaml`` the provider notices
(OpenAI's fine-tuning wind-down). :func:`~ftdecide.assess._facts.build_facts`
turns all of it into the flat facts the rules read;
:mod:`ftdecide.assess._decision` decides; the next steps
(:mod:`ftdecide.assess._next_steps`) are the exact commands that would
produce the missing evidence. This module holds the whole assessment
(:func:`assess`) and its result (:class:`Assessment`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Mapping

from ftdecide.assess._decision import Decision, RuleSet, decide, load_rules
from ftdecide.assess._evidence import (
    Input,
    PathLike,
    merge,
    run_evidence,
    train_evidence,
)
from ftdecide.assess._facts import build_facts
from ftdecide.assess._model import _settle_model
from ftdecide.assess._next_steps import next_steps
from ftdecide.assess._questionnaire import Answers, with_assumptions
from ftdecide.providers import ModelInfo


@dataclass
class Assessment:
    """Everything ``assess`` found; :meth:`to_json` is the ``--json`` contract."""

    decision: Decision
    facts: dict[str, Any]
    inputs: dict[str, Input]
    costs: dict[str, Any]
    next_steps: list[dict[str, str]]
    evidence: dict[str, Any]
    answers: Answers
    info: ModelInfo
    run_results: Mapping[str, Any] | None = None
    rules: RuleSet | None = None

    def to_json(self) -> dict[str, Any]:
        """``{recommendation, confidence, reasons, costs, risks, next_steps, evidence}``."""
        return {
            "recommendation": self.decision.recommendation,
            "confidence": self.decision.confidence,
            "confidence_factors": [dict(x) for x in self.decision.confidence_factors],
            "reasons": [r.to_dict() for r in self.decision.reasons],
            "costs": self.costs,
            "risks": [{"rule": r.rule, "text": r.text} for r in self.decision.risks],
            "next_steps": self.next_steps,
            "evidence": self.evidence,
        }


def assess(answers: Answers, *, catalog: Any, run_results: Mapping[str, Any] | None = None,
           run_id: str | None = None, train_path: PathLike | None = None,
           today: _dt.date | None = None, answers_path: str | None = None,
           rules: RuleSet | None = None) -> Assessment:
    """Assess ``answers`` with the measured evidence; see the module docstring."""
    rules = rules or load_rules()
    today = today or _dt.date.today()
    given = answers
    answers = with_assumptions(answers)
    run_ev = run_evidence(run_results, run_id or str(run_results.get("run_id"))) if run_results else None
    runs = [run_ev] if run_ev is not None else []
    info = _settle_model(catalog, merge(answers, runs))
    train_ev = train_evidence(train_path, info) if train_path is not None else None
    sources = runs + ([train_ev] if train_ev is not None else [])
    # examples: the training file at hand beats the one a run used; everything else: the run first
    inputs = merge(answers, sources, prefer={"costs.examples_available": sources[::-1]})
    _settle_model(catalog, inputs)
    training_cost = (run_ev.training_cost if run_ev and run_ev.training_cost else None) or \
        (train_ev.training_cost if train_ev and train_ev.training_cost else None)
    facts, summary = build_facts(inputs, info, catalog=catalog, rules=rules, today=today,
                                 measured=run_ev.measured if run_ev else None,
                                 train=train_ev.train if train_ev else None, training_cost=training_cost)
    decision = decide(facts, rules)
    steps = next_steps(decision.recommendation, facts,
                       train_path=str(train_path) if train_path is not None else None,
                       answers_path=answers_path, run=run_ev.run if run_ev else None)
    evidence = {
        "as_of": today.isoformat(),
        "answers": {"origin": given.origin, "values": given.nested()},
        "inputs": {k: {"value": i.value, "source": i.source,
                       **({"answered": i.answered} if i.overridden else {})}
                   for k, i in _ordered(inputs).items()},
        "overridden": [{"key": k, "answered": i.answered, "used": i.value, "source": i.source}
                       for k, i in _ordered(inputs).items() if i.overridden],
        "run": run_ev.run if run_ev else None,
        "train": train_ev.train if train_ev else None,
        "catalog": {"model": info.key, "tunable": bool(info.tunable),
                    "shutdown": info.shutdown.isoformat() if info.shutdown else None,
                    "as_of": info.as_of.isoformat() if info.as_of else None,
                    "source": info.source or None, "notes": info.notes or None},
        "notice": None if info.provider not in rules.notices else {
            "provider": info.provider,
            "fine_tuning_closes": facts["ft_closes"],
            "restrictions": rules.notices[info.provider].restrictions,
            "source": rules.notices[info.provider].source},
    }
    return Assessment(decision=decision, facts=facts, inputs=inputs, costs=summary, next_steps=steps,
                      evidence=evidence, answers=answers, info=info, run_results=run_results, rules=rules)


def _ordered(inputs: Mapping[str, Input]) -> dict[str, Input]:
    from ftdecide.assess._questionnaire import load_questions

    order = {qid: i for i, qid in enumerate(load_questions().ids)}
    return {k: inputs[k] for k in sorted(inputs, key=lambda k: order.get(k, len(order)))}
