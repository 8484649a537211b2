"""The evidence ``assess`` measures instead of asking, and how it overrides the answers.

:func:`run_evidence` reads what a ``compare`` run (``--from-run``) measured,
:func:`train_evidence` what ``validate`` and ``estimate`` find in a training
file (``--train``); each value keeps its source. :func:`merge` lays the
measurements over the answers (the ids in :data:`MEASURABLE`) into the
:class:`Input` values the assessment uses, recording the answer each one
replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ftdecide._formatting import finite as _num
from ftdecide.assess._questionnaire import Answers
from ftdecide.errors import UsageError
from ftdecide.providers import ModelInfo

PathLike = str | os.PathLike[str]
TUNED_ARMS = ("finetuned", "finetuned-rag")

# Answer ids a measurement can replace, and what measures them.
MEASURABLE = {
    "alternatives.few_shot.tried": "run: the fewshot arm",
    "alternatives.few_shot.quality": "run: the fewshot arm's quality",
    "alternatives.rag.tried": "run: the rag arm",
    "alternatives.rag.quality": "run: the rag arm's quality",
    "costs.model": "run: its base model",
    "costs.examples_available": "--train: valid examples (else the run's training set)",
    "costs.eval_set": "run: its eval set",
    "benefits.prompt_tokens_now": "run: the baseline arm's mean input tokens (else a 4-shot prompt from --train)",
    "benefits.prompt_tokens_after": "run: the fine-tuned arm's mean input tokens (else --train's prompts)",
    "benefits.output_tokens": "run: the baseline arm's mean output tokens (else --train's answers)",
    "benefits.requests_per_month": "run: its requests_per_month setting (only when not answered)",
}


@dataclass
class Input:
    """One input of the assessment: the value used, where it came from, and the answer it replaced."""

    value: Any
    source: str
    answered: Any = None
    overridden: bool = False


@dataclass
class Evidence:
    """Measured values from a compare run and a training file, each with its source."""

    values: dict[str, tuple[Any, str]] = field(default_factory=dict)  # answer id → (value, source)
    run: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    measured: dict[str, Any] = field(default_factory=dict)  # run facts (ft_diff ...)
    training_cost: tuple[float | None, str] | None = None


def run_evidence(results: Mapping[str, Any], run_id: str) -> Evidence:
    """What a compare run measured, mapped onto the answers it replaces."""
    arms = results.get("arms")
    if not isinstance(arms, Mapping) or not arms:
        raise UsageError(f"run {run_id} has no measured arms", hint=f"finish it: ftdecide compare --resume {run_id}")
    baseline = results.get("baseline")
    ev = Evidence()
    where = f"run {run_id}"

    def quality(arm: str) -> tuple[float | None, int | None]:
        q = (arms.get(arm) or {}).get("quality") or {}
        return _num(q.get("mean")), q.get("n")

    for arm, key in (("fewshot", "few_shot"), ("rag", "rag")):
        if arm in arms:
            mean, n = quality(arm)
            ev.values[f"alternatives.{key}.tried"] = (True, f"{where}: arm {arm}")
            if mean is not None:
                ev.values[f"alternatives.{key}.quality"] = (mean, f"{where}: arm {arm}, n = {n}")
    config = ((results.get("provenance") or {}).get("config") or {})
    if config.get("model"):
        ev.values["costs.model"] = (str(config["model"]), f"{where}: base model")
    items = results.get("items")
    n_items = len(items) if isinstance(items, list) else None
    ev.values["costs.eval_set"] = (True, f"{where}: {n_items if n_items is not None else 'its'} eval items")
    train = ((results.get("provenance") or {}).get("data") or {}).get("train") or {}
    if isinstance(train.get("examples"), int):
        ev.values["costs.examples_available"] = (train["examples"], f"{where}: training set {train.get('path') or ''}".rstrip())
    if baseline in arms:
        tok = (arms[baseline] or {}).get("tokens") or {}
        if _num(tok.get("input_mean")) is not None:
            ev.values["benefits.prompt_tokens_now"] = (_num(tok["input_mean"]), f"{where}: arm {baseline}, mean input tokens")
        if _num(tok.get("output_mean")) is not None:
            ev.values["benefits.output_tokens"] = (_num(tok["output_mean"]), f"{where}: arm {baseline}, mean output tokens")
    tuned = next((a for a in TUNED_ARMS if a in arms and a != baseline), None)
    if tuned is not None:
        tok = (arms[tuned] or {}).get("tokens") or {}
        if _num(tok.get("input_mean")) is not None:
            ev.values["benefits.prompt_tokens_after"] = (_num(tok["input_mean"]), f"{where}: arm {tuned}, mean input tokens")
    if isinstance(results.get("requests_per_month"), int):
        ev.values["benefits.requests_per_month"] = (results["requests_per_month"], f"{where}: requests_per_month setting")

    training = results.get("training") or None
    if training:
        actual, estimated = _num(training.get("actual_cost_usd")), _num(training.get("estimated_cost_usd"))
        if actual is not None:
            ev.training_cost = (actual, f"{where}: actual cost of job {training.get('job_id')}")
        elif estimated is not None:
            ev.training_cost = (estimated, f"{where}: estimated cost of job {training.get('job_id')}")

    base_q, _ = quality(baseline) if baseline in arms else (None, None)
    measured: dict[str, Any] = {"measured": False, "run_id": run_id, "baseline_arm": baseline,
                                "baseline_quality_measured": base_q}
    if tuned is not None:
        mean, n = quality(tuned)
        vs = (arms[tuned] or {}).get("vs_baseline") or {}
        if mean is not None and _num(vs.get("diff")) is not None:
            measured.update(measured=True, ft_arm=tuned, ft_quality=mean, ft_diff=_num(vs.get("diff")),
                            ft_diff_low=_num(vs.get("ci_low")), ft_diff_high=_num(vs.get("ci_high")),
                            ft_p_value=_num(vs.get("p_value")), eval_n=n)
    measured.update(_run_floor(results, arms, baseline))
    measured.update(_run_judge(results))
    from ftdecide.assess._curve import run_curve

    measured.update(run_curve(results))
    measured["run_config"] = config
    learned = (training or {}).get("learned") or {}
    if learned.get("verdict"):
        measured.update(tune_learned=learned["verdict"], tune_learned_reason=learned.get("reason"),
                        tune_longer=(training or {}).get("tune_longer"))
    ev.measured = measured
    ev.run = {
        "run_id": run_id,
        "status": results.get("status"),
        "created": results.get("created"),
        "baseline": baseline,
        "metric": (results.get("metric") or {}).get("name"),
        "model": config.get("model"),
        "tuned_model": (arms.get(tuned) or {}).get("model") if tuned else None,
        "config": {k: config.get(k) for k in ("train", "eval", "corpus", "arms", "baseline",
                                              "metric")},
        "verdict": results.get("verdict"),
        "arms": {name: {"quality": _num(((a or {}).get("quality") or {}).get("mean")),
                        "ci_low": _num(((a or {}).get("quality") or {}).get("ci_low")),
                        "ci_high": _num(((a or {}).get("quality") or {}).get("ci_high")),
                        "n": ((a or {}).get("quality") or {}).get("n"),
                        "vs_baseline": (a or {}).get("vs_baseline"),
                        "input_tokens": _num(((a or {}).get("tokens") or {}).get("input_mean")),
                        "output_tokens": _num(((a or {}).get("tokens") or {}).get("output_mean")),
                        "cost_per_1k_usd": _num((a or {}).get("cost_per_1k_usd")),
                        "monthly_cost_usd": _num((a or {}).get("monthly_cost_usd"))}
                 for name, a in arms.items()},
    }
    return ev


def train_evidence(path: PathLike, info: ModelInfo, *, shots: int = 4) -> Evidence:
    """``validate`` and ``estimate`` on a training file: examples, prompt tokens, training cost."""
    import ftdecide.data as data
    from ftdecide.data import _prompts as strategies
    from ftdecide.data import _tokens as tokens
    from ftdecide.pricing import _estimate as est

    enc = info.encoding or tokens.DEFAULT_ENCODING
    report = data.validate(path, encoding=enc, token_limit=info.training_token_limit)
    where = str(path)
    ev = Evidence()
    errors = sum(len(v) or 1 for v in report.errors.values())
    ev.train = {"file": where, "valid": report.valid, "examples": report.examples,
                "errors": {k: len(v) for k, v in report.errors.items()},
                "warnings": {k: len(v) for k, v in report.warnings.items()},
                "tokens_total": report.tokens_total, "error_count": errors}
    ev.values["costs.examples_available"] = (report.examples, f"{where}: valid examples (validate)")
    if not report.valid:
        return ev
    found = data.audit(path).to_dict()  # the same audit compare runs, on the training set alone
    ev.train["audit"] = {"counts": found["counts"], "conflicts": found["conflicts"]["train"][:5],
                         "labels": found["labels"]}
    estimate = est.training_estimate(report, info)
    ev.train.update(epochs=estimate["epochs"], billed_tokens=estimate["billed_tokens"],
                    training_cost_usd=estimate["training_cost_usd"])
    if estimate["training_cost_usd"] is not None:
        ev.training_cost = (estimate["training_cost_usd"],
                            f"{where}: cookbook estimate, {estimate['billed_tokens']:,} billed tokens "
                            f"({estimate['epochs']} epochs)")
    profile = est.prompt_profile(path, enc)
    ev.values["benefits.prompt_tokens_after"] = (profile.prompt_tokens_mean, f"{where}: mean prompt tokens of its examples")
    ev.values["benefits.output_tokens"] = (profile.output_tokens_mean, f"{where}: mean answer tokens of its examples")
    if report.examples >= shots:
        first = data.load_examples(path, limit=1)[0]
        query, _ = strategies.split_example(first.messages)
        _, sample = est.few_shot_prompt(path, shots, query, enc)
        added = sample - tokens.count_examples([query], enc)[0]
        ev.values["benefits.prompt_tokens_now"] = (profile.prompt_tokens_mean + added,
                                                   f"{where}: a {shots}-shot prompt built from it (estimate)")
    return ev


def merge(answers: Answers, sources: list[Evidence],
          prefer: Mapping[str, list[Evidence]] | None = None) -> dict[str, Input]:
    """Answers overridden by measurements; earlier ``sources`` win over later ones
    (``prefer`` gives another order for a key).

    ``benefits.requests_per_month`` is a setting, not a measurement: a run's
    value is used only when it was not answered.
    """
    inputs = {k: Input(v, answers.sources.get(k, "answers")) for k, v in answers.values.items()}
    for key in MEASURABLE:
        for ev in (prefer or {}).get(key, sources):
            if key not in ev.values:
                continue
            value, source = ev.values[key]
            current = inputs.get(key)
            answered = current.value if current is not None and not current.source.startswith("default") else None
            if key == "benefits.requests_per_month" and answered is not None:
                break
            overridden = answered is not None and answered != value
            inputs[key] = Input(value, source, answered=answered if overridden else None, overridden=overridden)
            break
    return inputs


def _run_floor(results: Mapping[str, Any], arms: Mapping[str, Any], baseline: Any) -> dict[str, Any]:
    """What the run says about the floor and the reach of every arm.

    The floor is what answering blindly scores: the majority label and chance
    from the run's audit (categorical answers), copying the input unchanged
    (free text scored against references), else the zero-shot arm. ``beats_floor`` is whether any arm beats it with confidence (its
    interval's lower bound above the floor); the best arm's interval and the
    run's minimum detectable difference tell whether a target is in reach
    and whether "no gain" was measured with enough items.
    """
    import ftdecide.data as data

    out: dict[str, Any] = {"from_run": True}
    audit = results.get("audit") or {}
    labels = audit.get("labels") or {}
    majority, chance = _num(labels.get("majority_rate")), _num(labels.get("chance_rate"))
    out.update(majority_rate=majority, chance_rate=chance)
    rates = [r for r in (majority, chance) if r is not None]
    qualities = {}
    for name, a in arms.items():
        q = (a or {}).get("quality") or {}
        if _num(q.get("mean")) is not None:
            qualities[name] = (_num(q.get("mean")), _num(q.get("ci_low")), _num(q.get("ci_high")),
                               q.get("n"))
    if not qualities:
        return out
    best = max(qualities, key=lambda n: qualities[n][0])
    mean, low, high, n = qualities[best]
    label = (arms[best] or {}).get("label") or best
    out.update(best_arm=label, best_arm_quality=mean, best_arm_low=low, best_arm_high=high,
               run_best_high=max((h for _, _, h, _ in qualities.values() if h is not None),
                                 default=None))
    if baseline in qualities:
        out["baseline_high_measured"] = qualities[baseline][2]
    copies = [_num(t.get("mean")) for t in results.get("trivial") or []
              if _num(t.get("mean")) is not None]
    if rates:
        floor = max(rates)
        out.update(trivial_rate=floor, floor_kind="the majority label or chance")
        out["beats_floor"] = any(lo is not None and lo > floor for _, lo, _, _ in qualities.values())
    elif copies:  # free text: answering with the input unchanged is the floor
        floor = max(copies)
        out.update(trivial_rate=floor, floor_kind="copying the input unchanged")
        out["beats_floor"] = any(lo is not None and lo > floor for _, lo, _, _ in qualities.values())
    elif "zeroshot" in qualities and len(qualities) > 1:
        floor = qualities["zeroshot"][0]
        out.update(trivial_rate=floor, floor_kind="the zero-shot floor")
        out["beats_floor"] = any(lo is not None and lo > floor for name, (_, lo, _, _)
                                 in qualities.items() if name != "zeroshot")
    mdd = _num(audit.get("min_detectable_diff"))
    base_q = qualities.get(baseline, (None, None, None, None))
    if mdd is None and base_q[0] is not None and isinstance(base_q[3], int) and base_q[3] > 0:
        mdd = data.min_detectable_diff(base_q[3], min(base_q[0], 0.999))
    out["min_detectable_diff"] = mdd
    return out


def _run_judge(results: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the run's quality figures are an LLM judge's scores, and whether people trust it.

    A judge's scores decide nothing until the judge agrees with people (its
    ``calibrated`` flag: Cohen's κ against ``human_labels`` at least the
    threshold); without labels it is not calibrated either. ``judge_calibrated``
    stays None for a run scored without a judge, so the rules that read it
    never fire on such a run.
    """
    judge = results.get("judge")
    scored = (results.get("metric") or {}).get("name") == "judge" or isinstance(judge, Mapping)
    if not scored:
        return {"judge_scored": False}
    judge = judge if isinstance(judge, Mapping) else {}
    agree = judge.get("agreement") if isinstance(judge.get("agreement"), Mapping) else None
    threshold = _num(judge.get("kappa_threshold"))
    threshold = 0.6 if threshold is None else threshold
    kappa = _num((agree or {}).get("kappa"))
    calibrated = bool(judge.get("calibrated")) and kappa is not None and kappa >= threshold
    if agree is None or not agree.get("n"):
        text = "no human labels"
    elif kappa is None:
        text = f"κ undefined on {agree['n']} labelled items (every label the same)"
    else:
        text = (f"κ {kappa:.2f} with people on {agree['n']} labelled items, "
                + (f"at least {threshold:g}" if calibrated else f"below {threshold:g}"))
    return {"judge_scored": True, "judge_model": judge.get("model") or "its judge",
            "judge_calibrated": calibrated, "judge_kappa": kappa,
            "judge_kappa_threshold": threshold, "judge_kappa_text": text}
