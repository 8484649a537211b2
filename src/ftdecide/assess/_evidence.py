"""``assess``: answers + measurements + the catalog → facts → a decision, with where each came from.

The questionnaire gives what people know; a ``compare`` run (``--from-run``)
and a training file (``--train``) give what can be measured instead. A
measurement overrides the matching answer, and every input records its
source, so the report can say "few-shot quality 0.52, measured in run X
(you answered 0.70)". The catalog adds what the provider says (tunable,
prices, shutdown date) and ``rules.yaml`` the provider notices (OpenAI's
fine-tuning wind-down). :func:`build_facts` turns all of it into the flat
facts the rules read; :mod:`ftdecide.decision` decides; the next steps are
the exact commands that would produce the missing evidence.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from ftdecide.pricing import _costs as costs
from ftdecide.assess._decision import Decision, RuleSet, decide, load_rules
from ftdecide.errors import DataError, UnknownModelError, UsageError
from ftdecide.providers import ModelInfo
from ftdecide.assess._questionnaire import Answers, with_assumptions
from ftdecide._formatting import finite as _num

PathLike = str | os.PathLike[str]
HORIZON_MONTHS = costs.DEFAULT_HORIZON_MONTHS
TUNED_ARMS = ("finetuned", "finetuned-rag")
STALE_DAYS = 90

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
            "reasons": [r.to_dict() for r in self.decision.reasons],
            "costs": self.costs,
            "risks": [{"rule": r.rule, "text": r.text} for r in self.decision.risks],
            "next_steps": self.next_steps,
            "evidence": self.evidence,
        }


# -- evidence ----------------------------------------------------------------------------------




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
    ev.measured = measured
    ev.run = {
        "run_id": run_id,
        "status": results.get("status"),
        "created": results.get("created"),
        "baseline": baseline,
        "metric": (results.get("metric") or {}).get("name"),
        "model": config.get("model"),
        "tuned_model": (arms.get(tuned) or {}).get("model") if tuned else None,
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
    from ftdecide.data import _files as data
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


# -- merging --------------------------------------------------------------------------------


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


# -- the model ------------------------------------------------------------------------------


def resolve_model(catalog: Any, inputs: Mapping[str, Input]) -> ModelInfo:
    """``costs.model`` (under ``costs.provider`` when it names no provider), from the catalog."""
    model = inputs["costs.model"]
    provider = inputs.get("costs.provider")
    spec = str(model.value)
    if provider is not None and provider.value:
        if "/" in spec and spec.split("/", 1)[0] in getattr(catalog, "providers", {}) \
                and spec.split("/", 1)[0] != provider.value:
            raise DataError(f"costs.provider is {provider.value!r} but costs.model names "
                            f"{spec.split('/', 1)[0]!r} ({spec})", path=_path_of(provider.source),
                            hint="drop costs.provider, or the provider part of costs.model")
        if "/" not in spec or spec.split("/", 1)[0] not in getattr(catalog, "providers", {}):
            spec = f"{provider.value}/{spec}"
            if provider.value not in getattr(catalog, "providers", {}):
                installed = ", ".join(sorted(catalog.providers)) or "none"
                raise DataError(f"costs.provider: no provider named {provider.value!r} is installed",
                                path=_path_of(provider.source),
                                hint=f"installed providers: {installed} (`ftdecide plugins`)")
    try:
        return catalog.resolve(spec)
    except UnknownModelError as exc:
        where = "" if _path_of(model.source) else f" ({model.source})"
        raise DataError(f"costs.model: unknown model {spec!r}{where}",
                        path=_path_of(model.source), hint=exc.hint) from None
    except UsageError as exc:
        raise DataError(f"costs.model: {exc.message}", path=_path_of(model.source), hint=exc.hint) from None


def _settle_model(catalog: Any, inputs: dict[str, Input]) -> ModelInfo:
    """Resolve ``costs.model``; a run's model replaces the answer only when it is another model."""
    model = inputs["costs.model"]
    if not model.source.startswith("run "):
        return resolve_model(catalog, inputs)
    measured = {k: v for k, v in inputs.items() if k != "costs.provider"}  # the run names its provider
    info = resolve_model(catalog, measured)
    if model.overridden:
        try:
            answered = resolve_model(catalog, {**inputs, "costs.model": Input(model.answered, "answers")})
        except (DataError, UsageError):
            answered = None
        if answered is not None and answered.key == info.key:
            model.overridden, model.answered = False, None
    return info


def _path_of(source: str) -> str | None:
    return source[len("answers "):] if source.startswith("answers ") else None


def _family(model_id: str) -> str:
    """``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``: the same model on another provider."""
    return re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model_id.split(":")[0])


def alternatives(catalog: Any, info: ModelInfo, today: _dt.date, notices: Mapping[str, Any]
                 ) -> tuple[list[str], list[str]]:
    """Tunable models of the same provider, and of the others (same family first)."""
    def usable(m: ModelInfo) -> bool:
        if not m.tunable or (m.shutdown is not None and m.shutdown <= today):
            return False
        notice = notices.get(m.provider)
        return not (notice and notice.fine_tuning_closes and notice.fine_tuning_closes <= today)

    models = [m for m in catalog.models() if usable(m) and m.key != info.key]
    same = [m.key for m in models if m.provider == info.provider][:6]
    family = _family(info.id)
    others = [m for m in models if m.provider != info.provider]
    others.sort(key=lambda m: (_family(m.id) != family and family not in m.aliases, m.provider, m.id))
    per_provider: dict[str, int] = {}
    elsewhere = []
    for m in others:  # a few per provider, so open weights are named beside the hosted ones
        if per_provider.get(m.provider, 0) < 3:
            per_provider[m.provider] = per_provider.get(m.provider, 0) + 1
            elsewhere.append(m.key)
    return same, elsewhere


# -- facts ---------------------------------------------------------------------------------------


def _months_text(months: float) -> str:
    return f"{months:.1f} months" if months >= 1 else f"{months * 30.44:.0f} days"


def build_facts(inputs: Mapping[str, Input], info: ModelInfo, *, catalog: Any, rules: RuleSet,
                today: _dt.date, measured: Mapping[str, Any] | None = None,
                train: Mapping[str, Any] | None = None,
                training_cost: tuple[float | None, str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The facts the rules read, and the cost summary; see ``FACTS`` in :mod:`ftdecide.decision`."""
    from ftdecide.assess._decision import FACTS

    def v(key: str) -> Any:
        item = inputs.get(key)
        return None if item is None else item.value

    f: dict[str, Any] = {name: None for name in FACTS}
    f.update(goal=v("use_case.goal"), description=v("use_case.description"),
             knowledge_changes_often=v("use_case.knowledge_changes_often"),
             few_shot_tried=bool(v("alternatives.few_shot.tried")), few_shot_quality=v("alternatives.few_shot.quality"),
             rag_tried=bool(v("alternatives.rag.tried")), rag_quality=v("alternatives.rag.quality"),
             target_quality=v("alternatives.target_quality"),
             examples_available=v("costs.examples_available"), examples_reviewed=v("costs.examples_reviewed"),
             eval_set=v("costs.eval_set"), team_can_evaluate=v("costs.team_can_evaluate"),
             budget_usd=v("costs.budget_usd"), requests_per_month=v("benefits.requests_per_month"),
             prompt_tokens_now=v("benefits.prompt_tokens_now"), prompt_tokens_after=v("benefits.prompt_tokens_after"),
             output_tokens=v("benefits.output_tokens"), reuse_in_new_domains=v("benefits.reuse_in_new_domains"))
    f["nothing_tried"] = not f["few_shot_tried"] and not f["rag_tried"]
    tried = [(q, name, key) for q, name, key in ((f["few_shot_quality"], "Few-shot", "few_shot"),
                                                  (f["rag_quality"], "RAG", "rag")) if q is not None]
    if tried:
        q, name, key = max(tried, key=lambda t: t[0])
        f.update(best_baseline=name, best_baseline_quality=q,
                 best_baseline_source=inputs[f"alternatives.{key}.quality"].source)
        if f["target_quality"] is not None:
            f["gap_to_target"] = f["target_quality"] - q
    f["baseline_name"] = ({"Few-shot": "few-shot prompting", "RAG": "retrieval"}.get(f["best_baseline"] or "")
                          or ("few-shot prompting" if f["few_shot_tried"] else
                              "retrieval" if f["rag_tried"] else "prompting"))
    if f["prompt_tokens_now"] is not None and f["prompt_tokens_after"] is not None:
        f["prompt_tokens_saved"] = f["prompt_tokens_now"] - f["prompt_tokens_after"]

    # the catalog
    notice = rules.notices.get(info.provider)
    same, elsewhere = alternatives(catalog, info, today, rules.notices)
    f.update(model=info.key, provider=info.provider, tunable=bool(info.tunable),
             tunable_alternatives=same, tunable_elsewhere=elsewhere,
             prices_as_of=info.as_of.isoformat() if info.as_of else None,
             prices_age_days=(today - info.as_of).days if info.as_of else None,
             prices_source=info.source or "no source recorded", shutdown_note=info.notes or None)
    to_shutdown = costs.months_until(info.shutdown, today)
    if info.shutdown is not None:
        f.update(shutdown=info.shutdown.isoformat(), months_to_shutdown=to_shutdown,
                 shut_down=info.shutdown <= today,
                 shutdown_unverified=bool(re.search(r"secondary|verify|unconfirmed", info.notes or "", re.I)))
    else:
        f.update(shut_down=False, shutdown_unverified=False)
    if notice is not None and notice.fine_tuning_closes is not None:
        f.update(ft_closes=notice.fine_tuning_closes.isoformat(),
                 days_to_ft_close=(notice.fine_tuning_closes - today).days,
                 ft_closed=notice.fine_tuning_closes <= today)
    else:
        f["ft_closed"] = False
    if notice is not None:
        f.update(ft_restrictions=notice.restrictions, ft_notice_source=notice.source)

    # training cost: the run's, else --train's estimate, else from the answers
    epochs = None
    if training_cost is not None:
        f["training_cost_usd"], f["training_cost_source"] = training_cost
    else:
        n = f["examples_available"]
        per_example = None
        if f["prompt_tokens_after"] is not None and f["output_tokens"] is not None:
            per_example = f["prompt_tokens_after"] + f["output_tokens"]
        price = costs.training_price(info)
        if not info.tunable:
            f["training_cost_source"] = f"{info.key} cannot be fine-tuned"
        elif price is None:
            f["training_cost_source"] = f"the catalog has no training price for {info.key}"
        elif n is None or per_example is None:
            f["training_cost_source"] = ("needs costs.examples_available, benefits.prompt_tokens_after "
                                         "and benefits.output_tokens, or --train FILE")
        else:
            epochs = costs.default_epochs(n)
            tokens = round(n * per_example)
            f["training_cost_usd"] = costs.training_cost(tokens * epochs, price)
            f["training_cost_source"] = (f"estimated from the answers: {n:,} examples × {per_example:,.0f} tokens "
                                         f"× {epochs} epochs at ${price:g}/1M")

    # economics (ftdecide.costs)
    econ = None
    if (f["requests_per_month"] is not None and f["prompt_tokens_now"] is not None
            and f["prompt_tokens_after"] is not None and f["output_tokens"] is not None):
        econ = costs.economics(info, requests_per_month=int(f["requests_per_month"]),
                               prompt_tokens=float(f["prompt_tokens_now"]),
                               tuned_prompt_tokens=float(f["prompt_tokens_after"]),
                               output_tokens=float(f["output_tokens"]),
                               training_cost_usd=f["training_cost_usd"], today=today)
        f.update(base_cost_per_request=econ.base_cost_per_request, tuned_cost_per_request=econ.tuned_cost_per_request,
                 base_monthly_usd=econ.base_monthly_usd, tuned_monthly_usd=econ.tuned_monthly_usd,
                 hosting_monthly_usd=econ.hosting_monthly_usd, monthly_savings_usd=econ.monthly_savings_usd,
                 payback_months=econ.payback_months,
                 break_even_requests_per_month=econ.break_even_requests_per_month)
        if econ.monthly_savings_usd is not None and f["training_cost_usd"] is not None:
            f["pays_back"] = econ.monthly_savings_usd > 0
        if econ.base_cost_per_request is not None and econ.tuned_cost_per_request is not None:
            per_request = econ.tuned_cost_per_request  # tokens only; hosting is per month
            f["premium_exceeds_savings"] = per_request > 0 and per_request >= econ.base_cost_per_request
            f["hosting_eats_savings"] = (per_request < econ.base_cost_per_request
                                         and (econ.monthly_savings_usd or 0) <= 0
                                         and econ.hosting_monthly_usd > 0)
    base_in, ft_in = info.input_per_1m, costs.fine_tuned_prices(info).input
    if base_in and ft_in is not None:
        f["ft_price_ratio"] = ft_in / base_in
    horizon_ok = to_shutdown if to_shutdown is not None and to_shutdown > 0 else None
    if horizon_ok is not None:
        f["horizon_text"] = f"before the model's shutdown on {info.shutdown.isoformat()} ({_months_text(horizon_ok)} away)"
    else:
        f["horizon_text"] = f"within {HORIZON_MONTHS:.0f} months (no shutdown date is known)"
    if f["pays_back"] is True and f["payback_months"] is not None:
        f["payback_ok"] = f["payback_months"] <= (horizon_ok if horizon_ok is not None else HORIZON_MONTHS)
    elif f["pays_back"] is False:
        free = (f["training_cost_usd"] == 0 and (f["monthly_savings_usd"] or 0) == 0)
        f["payback_ok"] = bool(free)
    if econ is not None:
        from ftdecide.assess._decision import render

        f["cost_line"] = render("{tuned_monthly_usd:money} a month against {base_monthly_usd:money} for the "
                                "baseline, plus {training_cost_usd:money} training", f)

    # measured
    f.update({k: v for k, v in (measured or {}).items() if k in FACTS})
    if not f["measured"]:
        f["measured"] = False
    if train is not None:
        f.update(train_checked=True, train_valid=bool(train.get("valid")), train_file=train.get("file"),
                 train_examples=train.get("examples"), train_errors=train.get("error_count"),
                 train_error_kinds=", ".join(train.get("errors") or {}) or None)
    else:
        f["train_checked"] = False

    summary = {
        "model": info.key,
        "provider": info.provider,
        "tunable": bool(info.tunable),
        "prices": {
            "base": costs.base_prices(info).__dict__,
            "fine_tuned": costs.fine_tuned_prices(info).__dict__,
            "training_per_1m": info.training_per_1m,
            "hosting_per_hour": info.hosting_per_hour,
            "as_of": f["prices_as_of"],
            "source": info.source or None,
        },
        "training_cost_usd": f["training_cost_usd"],
        "training_cost_source": f["training_cost_source"],
        "training_epochs": epochs if epochs is not None else (train or {}).get("epochs"),
        "requests_per_month": f["requests_per_month"],
        "prompt_tokens_now": f["prompt_tokens_now"],
        "prompt_tokens_after": f["prompt_tokens_after"],
        "output_tokens": f["output_tokens"],
        "cost_per_request_before_usd": f["base_cost_per_request"],
        "cost_per_request_after_usd": f["tuned_cost_per_request"],
        "monthly_before_usd": f["base_monthly_usd"],
        "monthly_after_usd": f["tuned_monthly_usd"],
        "hosting_monthly_usd": f["hosting_monthly_usd"] if econ is not None else
        ((info.hosting_per_hour or 0.0) * costs.HOURS_PER_MONTH),
        "monthly_savings_usd": f["monthly_savings_usd"],
        "payback_months": f["payback_months"],
        "break_even_requests_per_month": f["break_even_requests_per_month"],
        "shutdown": f["shutdown"],
        "months_to_shutdown": f["months_to_shutdown"],
        "fine_tuning_closes": f["ft_closes"],
        "horizon_months": horizon_ok if horizon_ok is not None else HORIZON_MONTHS,
        "pays_back_before_shutdown": f["payback_ok"] if horizon_ok is not None else None,
    }
    return f, summary


def payback_text(c: Mapping[str, Any]) -> str:
    """A cost summary's payback in words: months, never, nothing to pay back, or unknown."""
    months, savings = c.get("payback_months"), c.get("monthly_savings_usd")
    if months is not None:
        return f"{months:.2g} months"
    if savings is None:
        return "unknown"
    if savings == 0 and c.get("training_cost_usd") == 0:
        return "nothing to pay back"
    return "never"


# -- next steps ------------------------------------------------------------------------------


def _q(value: Any) -> str:
    return shlex.quote(str(value))


def _n(value: Any) -> str:
    f = _num(value)
    if f is None:
        return ""
    return str(int(round(f))) if abs(f - round(f)) < 1e-9 or f >= 100 else f"{f:g}"


def next_steps(label: str, f: Mapping[str, Any], *, train_path: str | None, answers_path: str | None,
               run: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Runnable commands that produce the evidence the decision lacks (or act on it)."""
    train = _q(train_path) if train_path else "train.jsonl"
    answers = _q(answers_path) if answers_path else "answers.yaml"
    model = _q(f["model"])
    placeholders = []
    if not train_path:
        placeholders.append("train.jsonl: your training set")
    placeholders.append("eval.jsonl: your held-out eval set")
    note = " (" + "; ".join(placeholders) + ")"
    rpm = f" --requests-per-month {_n(f['requests_per_month'])}" if f["requests_per_month"] is not None else ""
    budget = f" --max-cost {_n(f['budget_usd'])}" if f["budget_usd"] is not None else ""
    compare_base = f"ftdecide compare --train {train} --eval eval.jsonl --model {model}"
    reassess = {"command": f"ftdecide assess --answers {answers} --from-run RUN"
                + (f" --train {train}" if train_path else ""),
                "why": "assess again with the measurements (RUN is the run id compare prints)"}
    estimate_flags = "".join(
        f" --{flag} {_n(f[key])}" for flag, key in (("prompt-tokens", "prompt_tokens_now"),
                                                    ("tuned-prompt-tokens", "prompt_tokens_after"),
                                                    ("output-tokens", "output_tokens"))
        if f[key] is not None) if rpm else ""
    steps: list[dict[str, str]] = []
    if label == "measure-first":
        if f["tunable"]:
            steps.append({"command": f"ftdecide estimate {train} --model {model}{rpm}{estimate_flags}",
                          "why": "price the training and the monthly costs from your real training set, offline"
                          + ("" if train_path else " (train.jsonl: your training set)")})
        arms = ["zeroshot", "fewshot", "finetuned"]
        if f["rag_tried"] or f["knowledge_changes_often"]:
            arms += ["rag", "finetuned-rag"]
        steps.append({"command": f"{compare_base} --tune --arms {','.join(arms)} --baseline fewshot{rpm}{budget}",
                      "why": "measure the fine-tune against few-shot on your eval set, with intervals, "
                             "tokens, cost and break-even" + note})
        steps.append(reassess)
    elif label == "try-prompting":
        steps.append({"command": f"{compare_base} --arms zeroshot,fewshot,rag --baseline zeroshot{rpm}{budget}",
                      "why": "measure few-shot prompting and retrieval before any training" + note})
        steps.append(reassess)
    elif label == "try-rag":
        steps.append({"command": f"{compare_base} --corpus docs/ --arms zeroshot,fewshot,rag --baseline fewshot{rpm}{budget}",
                      "why": "measure retrieval over your documents (docs/: a folder of .md/.txt)" + note})
        steps.append(reassess)
    elif label == "collect-data":
        steps.append({"command": f"ftdecide validate {train} --model {model}",
                      "why": "check the training set line by line as it grows"
                      + ("" if train_path else " (train.jsonl: your training set)")})
        steps.append({"command": f"ftdecide assess --answers {answers} --train {train}",
                      "why": "assess again once there are enough reviewed examples (update "
                             "costs.examples_reviewed in the answers)"})
    elif label == "not-tunable":
        steps.append({"command": "ftdecide prices", "why": "every model with its tunability, prices and shutdown date"})
        alts = list(f["tunable_alternatives"] or []) + list(f["tunable_elsewhere"] or [])
        if alts:
            steps.append({"command": f"ftdecide estimate {train} --model {_q(alts[0])}{rpm}{estimate_flags}",
                          "why": f"price a tunable alternative ({alts[0]}), then set costs.model to it and assess again"
                          + ("" if train_path else " (train.jsonl: your training set)")})
    elif label == "keep-baseline":
        if run is not None:
            steps.append({"command": f"ftdecide report {_q(run['run_id'])}",
                          "why": "the comparison that supports keeping the baseline, to share"})
        else:
            arms = "zeroshot,fewshot" + (",rag" if f["rag_tried"] else "")
            steps.append({"command": f"{compare_base} --arms {arms} --baseline fewshot{rpm}",
                          "why": "confirm on your eval set that the baseline meets the target, with an interval" + note})
    elif label == "fine-tune":
        tuned = (run or {}).get("tuned_model")
        if run is not None and tuned:
            steps.append({"command": f"{compare_base} --tuned {_q(tuned)} --arms fewshot,finetuned "
                                     f"--baseline fewshot --fail-under finetuned:0",
                          "why": "a gate for CI: fails when the fine-tune stops beating few-shot on a new eval set" + note})
        steps.append({"command": f"ftdecide tune {train} --model {model}{budget}",
                      "why": "train the production fine-tune on the full reviewed set (shows the cost and asks first)"
                      + ("" if train_path else " (train.jsonl: your training set)")})
    return steps


# -- the whole assessment ---------------------------------------------------------------------------


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
