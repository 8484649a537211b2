"""Rules → one recommendation, with the trace of every rule that fired and why.

The rules are data (``rules.yaml``): each has an id, a condition over named
facts, an effect (recommend a label, list a risk, lower the confidence), a
reason template and a source (the lesson's section, a paper, a provider
notice). Keeping them out of code means a reader can audit the whole
decision in one file, and every reason in the output points back to its
rule, the numbers that made it fire and where the rule comes from.

:func:`decide` is a pure function of a facts mapping (built by
:mod:`ftdecide.assess` from answers, measurements and the catalog), so it is
tested rule by rule without a CLI, a catalog or a file.
"""

from __future__ import annotations

import datetime as _dt
import math
import string
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Mapping

from ftdecide._formatting import money
from ftdecide.assess._conditions import Condition, ConditionError, parse
from ftdecide.errors import DataError

LABELS = ("fine-tune", "try-rag", "try-prompting", "measure-first", "collect-data", "keep-baseline",
          "not-tunable")
CONFIDENCE = ("low", "medium", "high")

# Every fact a rule may read: name → what it is. Built by ftdecide.assess.build_facts;
# a rule naming anything else is refused when the rules are loaded.
FACTS: dict[str, str] = {
    # answers (or the measurements that override them)
    "goal": "use_case.goal",
    "description": "use_case.description",
    "knowledge_changes_often": "use_case.knowledge_changes_often",
    "few_shot_tried": "alternatives.few_shot.tried (true when a run measured few-shot)",
    "few_shot_quality": "alternatives.few_shot.quality, or the run's measured few-shot quality",
    "rag_tried": "alternatives.rag.tried (true when a run measured RAG)",
    "rag_quality": "alternatives.rag.quality, or the run's measured RAG quality",
    "target_quality": "alternatives.target_quality",
    "nothing_tried": "neither few-shot nor RAG tried",
    "best_baseline": "the better of the alternatives tried ('few-shot' or 'RAG')",
    "best_baseline_quality": "its quality",
    "best_baseline_source": "where that quality comes from",
    "baseline_name": "what a fine-tune has to beat, in words",
    "gap_to_target": "target_quality - best_baseline_quality",
    "examples_available": "costs.examples_available, or the valid examples of --train",
    "examples_reviewed": "costs.examples_reviewed",
    "eval_set": "costs.eval_set (true when a run measured an eval set)",
    "team_can_evaluate": "costs.team_can_evaluate",
    "budget_usd": "costs.budget_usd",
    "requests_per_month": "benefits.requests_per_month (else the run's)",
    "prompt_tokens_now": "benefits.prompt_tokens_now, or the run's measured baseline prompt",
    "prompt_tokens_after": "benefits.prompt_tokens_after, or measured (run, --train)",
    "prompt_tokens_saved": "prompt_tokens_now - prompt_tokens_after",
    "output_tokens": "benefits.output_tokens, or measured",
    "reuse_in_new_domains": "benefits.reuse_in_new_domains",
    # the catalog
    "model": "the model as provider/id",
    "provider": "its provider",
    "tunable": "whether the catalog says it can be fine-tuned",
    "tunable_alternatives": "tunable models of the same provider",
    "tunable_elsewhere": "tunable models of other providers (open weights included)",
    "open_weights_monthly": "the first open-weights alternative served yourself (L4, utilization "
                            "0.5, one instance kept up): its monthly bill at your volume, in words",
    "shutdown": "the model's shutdown date (ISO)",
    "months_to_shutdown": "months from today to the shutdown",
    "shut_down": "the shutdown date has passed",
    "shutdown_unverified": "the catalog notes the date as unconfirmed",
    "shutdown_note": "the catalog's note on the model",
    "prices_as_of": "when the model's prices were read",
    "prices_age_days": "days since then",
    "prices_source": "where they were read",
    # provider notices (rules.yaml providers:)
    "ft_closes": "the day the provider stops new fine-tuning jobs (ISO)",
    "days_to_ft_close": "days from today to then",
    "ft_closed": "the provider no longer accepts new fine-tuning jobs",
    "ft_restrictions": "the provider's current restrictions, in words",
    "ft_notice_source": "the notice's source",
    # costs (ftdecide.costs)
    "training_cost_usd": "training cost: the run's, else --train's cookbook estimate, else from the answers",
    "training_cost_source": "how it was obtained",
    "base_cost_per_request": "base model, today's prompt, per request",
    "tuned_cost_per_request": "fine-tuned model, short prompt, per request",
    "base_monthly_usd": "base model per month at requests_per_month",
    "tuned_monthly_usd": "fine-tuned model per month, hosting included",
    "hosting_monthly_usd": "hosting of the fine-tune per month",
    "monthly_savings_usd": "base_monthly_usd - tuned_monthly_usd",
    "payback_months": "training_cost_usd / monthly_savings_usd",
    "pays_back": "the fine-tune saves money every month",
    "payback_ok": "it pays back before the shutdown (else within 12 months)",
    "horizon_text": "that horizon, in words",
    "cost_line": "the monthly costs and training, in words",
    "break_even_requests_per_month": "the volume at which the fine-tune breaks even",
    "ft_price_ratio": "fine-tuned input price / base input price",
    "premium_exceeds_savings": "a fine-tuned request costs at least a base one (tokens only)",
    "hosting_eats_savings": "cheaper per request, but hosting outweighs the saving at this volume",
    # measured (--from-run)
    "measured": "a compare run measured a fine-tuned arm against a baseline",
    "run_id": "that run",
    "baseline_arm": "the run's baseline arm",
    "baseline_quality_measured": "its measured quality",
    "ft_arm": "the fine-tuned arm used",
    "ft_quality": "its measured quality",
    "ft_diff": "fine-tuned - baseline, paired",
    "ft_diff_low": "the 95 % interval's lower bound",
    "ft_diff_high": "its upper bound",
    "ft_p_value": "the paired test's p-value",
    "eval_n": "eval items measured",
    "from_run": "a compare run is the evidence (--from-run)",
    "majority_rate": "the run's score of always answering the majority label (its audit)",
    "chance_rate": "the run's score of guessing among the labels",
    "trivial_rate": "the floor: the higher of those, or zero-shot's score for free text",
    "floor_kind": "what the floor is, in words",
    "beats_floor": "some arm beats the floor with confidence (interval above it)",
    "best_arm": "the run's best arm",
    "best_arm_quality": "its quality",
    "best_arm_low": "its interval's lower bound",
    "best_arm_high": "its interval's upper bound",
    "run_best_high": "the highest upper bound of any arm",
    "baseline_high_measured": "the baseline arm's upper bound",
    "all_miss_target": "every arm's interval lies below the target",
    "min_detectable_diff": "the smallest gain the run's eval items can detect (α 0.05, power 80 %)",
    "gap_that_matters": "the gain the baseline needs to reach the target",
    "conclusive": "the tuned arm was measured well enough to call no gain: it learned, and the run "
                  "could detect the gain that matters",
    "stronger_model": "a stronger model to measure (the next tunable one up, or a hosted one)",
    "stronger_command": "the compare command that measures it",
    "tune_learned": "the run's fine-tune: learned, underfit, overfit or unknown (its loss curve)",
    "tune_learned_reason": "the losses behind that verdict",
    "tune_longer": "the command that tunes longer",
    "label_cost_usd_per_example": "costs.label_cost_usd_per_example",
    "curve_measured": "the run measured a learning curve (compare learning_curve:)",
    "curve_fit_text": "its fitted curve, in words", "curve_points_text": "its points",
    "curve_target": "the target the curve is read against (the answers', else the run's)",
    "curve_examples_now": "the training set's size (the curve's last point)",
    "curve_quality_now": "the quality measured at that size",
    "curve_reached_target": "that quality reaches the target",
    "curve_blocks_fine_tune": "a curve was measured and misses the target at today's size",
    "curve_examples_needed": "the examples the fitted curve reaches the target at",
    "curve_interval_text": "their bootstrap interval, in words",
    "curve_to_collect": "examples still to collect to get there",
    "label_cost_usd": "what labelling them costs",
    "curve_label_cost_text": "that cost, in words",
    "curve_not_reached": "the fitted curve does not reach the target within ~10× the data",
    # --train
    "judge_scored": "the run's quality figures are an LLM judge's scores (metric judge)",
    "judge_model": "that judge's model",
    "judge_calibrated": "the judge agrees with people (κ at least its threshold); None without a judge",
    "judge_kappa": "its Cohen's κ against the human labels (None without labels)",
    "judge_kappa_threshold": "the κ the judge must reach to be trusted (0.6)",
    "judge_kappa_text": "that agreement in words, or 'no human labels'",
    "train_checked": "--train was given and validated",
    "train_valid": "it passed validation",
    "train_file": "its path",
    "train_examples": "its valid examples",
    "train_errors": "examples with errors",
    "train_error_kinds": "the error categories found",
    "train_conflicts": "prompts the training set answers in more than one way (its audit)",
    "train_duplicate_pairs": "pairs of near-duplicate training examples (its audit)",
}

_RULE_KEYS = {"id", "when", "recommend", "priority", "confidence", "risk", "caution", "reason",
              "source", "fallback"}


@dataclass(frozen=True)
class Rule:
    """One rule of ``rules.yaml``."""

    id: str
    reason: str
    source: str
    when: Condition | None = None
    recommend: str | None = None
    priority: int = 0
    confidence: str = "medium"
    risk: bool = False
    caution: tuple[str, ...] = ()  # the labels whose confidence it lowers
    fallback: bool = False
    fields: tuple[str, ...] = ()  # facts the reason and source show

    @property
    def names(self) -> tuple[str, ...]:
        """Every fact the rule reads or shows, condition first."""
        return tuple(dict.fromkeys((self.when.names if self.when else ()) + self.fields))


@dataclass(frozen=True)
class Notice:
    """A provider's fine-tuning notice (``rules.yaml`` providers:)."""

    provider: str
    fine_tuning_closes: _dt.date | None
    restrictions: str | None
    source: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    labels: Mapping[str, str]
    notices: Mapping[str, Notice]

    def __getitem__(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


@dataclass(frozen=True)
class Reason:
    """A fired rule in the trace: its rendered text and the values that made it fire.

    ``effect`` is ``decides``, ``outranked`` (recommended something else,
    lower priority), ``risk`` or ``supports``.
    """

    rule: str
    text: str
    values: Mapping[str, Any]
    source: str
    effect: str
    recommend: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: ``{rule, text, values}``."""
        return {"rule": self.rule, "text": self.text, "values": dict(self.values)}


@dataclass(frozen=True)
class Decision:
    recommendation: str
    confidence: str
    reasons: tuple[Reason, ...]
    risks: tuple[Reason, ...] = field(default=())
    confidence_factors: tuple[dict[str, Any], ...] = field(default=())
    """What set the confidence: the deciding rule's level, then each factor that lowered it."""

    @property
    def deciding(self) -> Reason:
        return self.reasons[0]


def _error(message: str) -> DataError:
    return DataError(message, path="ftdecide/rules.yaml",
                     hint="the packaged rules file is broken: reinstall ftdecide")


def _template_fields(template: str, where: str) -> tuple[str, ...]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise _error(f"{where}: {exc}") from None
    names = []
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if not name or conv or (spec and spec not in _FORMATS):
            raise _error(f"{where}: field {{{name}{':' + spec if spec else ''}}} is not a fact name with "
                         f"one of the formats {', '.join(_FORMATS)}")
        names.append(name)
    return tuple(names)


def rules_from_data(data: Any) -> RuleSet:
    """Build and check a rule set from the parsed ``rules.yaml``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
        raise _error("expected 'labels', 'providers' and a list of 'rules'")
    labels = dict(data.get("labels") or {})
    if tuple(labels) != LABELS:
        raise _error(f"labels must be exactly {', '.join(LABELS)}")
    notices = {}
    for name, raw in (data.get("providers") or {}).items():
        closes = raw.get("fine_tuning_closes")
        if isinstance(closes, str):
            closes = _dt.date.fromisoformat(closes)
        if not raw.get("source"):
            raise _error(f"providers.{name}: a notice needs its source")
        notices[name] = Notice(name, closes, " ".join(str(raw.get("restrictions") or "").split()) or None,
                               str(raw["source"]))
    rules: list[Rule] = []
    seen: set[str] = set()
    fallbacks = 0
    for i, raw in enumerate(data["rules"]):
        rid = raw.get("id") if isinstance(raw, Mapping) else None
        where = f"rule {rid or i}"
        if not isinstance(rid, str) or not rid or rid in seen:
            raise _error(f"{where}: every rule needs a new id")
        seen.add(rid)
        unknown = set(raw) - _RULE_KEYS
        if unknown:
            raise _error(f"{where}: unknown field {sorted(unknown)[0]!r}")
        for key in ("reason", "source"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise _error(f"{where}: {key} is required")
        fallback = bool(raw.get("fallback"))
        when = None
        if fallback:
            fallbacks += 1
            if raw.get("when") is not None or raw.get("recommend") not in LABELS:
                raise _error(f"{where}: the fallback rule has no condition and recommends a label")
        else:
            try:
                when = parse(raw.get("when"))
            except ConditionError as exc:
                raise _error(f"{where}: when: {exc}") from None
        recommend = raw.get("recommend")
        if recommend is not None and recommend not in LABELS:
            raise _error(f"{where}: recommend must be one of {', '.join(LABELS)}")
        confidence = raw.get("confidence", "medium")
        if confidence not in CONFIDENCE:
            raise _error(f"{where}: confidence must be one of {', '.join(CONFIDENCE)}")
        caution = raw.get("caution", False)
        if caution is True:
            caution = LABELS
        elif caution is False or caution is None:
            caution = ()
        if not isinstance(caution, (list, tuple)) or any(c not in LABELS for c in caution):
            raise _error(f"{where}: caution is true, false or a list of labels")
        reason = " ".join(raw["reason"].split())
        source = " ".join(raw["source"].split())
        fields = _template_fields(reason, where) + _template_fields(source, where)
        rule = Rule(id=rid, reason=reason, source=source, when=when, recommend=recommend,
                    priority=int(raw.get("priority", 0)), confidence=confidence,
                    risk=bool(raw.get("risk")), caution=tuple(caution), fallback=fallback,
                    fields=tuple(dict.fromkeys(fields)))
        unknown_facts = [n for n in rule.names if n not in FACTS]
        if unknown_facts:
            raise _error(f"{where}: unknown fact {unknown_facts[0]!r} (see FACTS in ftdecide/decision.py)")
        rules.append(rule)
    if fallbacks != 1:
        raise _error("exactly one rule must be the fallback")
    return RuleSet(tuple(rules), labels, notices)


@lru_cache(maxsize=1)
def load_rules() -> RuleSet:
    """The packaged rules (read once)."""
    import yaml

    text = resources.files(__package__).joinpath("rules.yaml").read_text(encoding="utf-8")
    return rules_from_data(yaml.safe_load(text))


# -- rendering values -------------------------------------------------------------------------


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _months(value: Any) -> str:
    f = _finite(value)
    if f is None:
        return "unknown"
    if f < 1:
        days = f * 365.25 / 12
        if days < 1:
            return f"{f:.2g} months (about {max(days * 24, 1):.0f} hours)"
        return f"{f:.2g} months (about {days:.0f} day{'s' if round(days) != 1 else ''})"
    return f"{f:.1f} months"


def _fmt_list(value: Any) -> str:
    if not value:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _fmt(value: Any, spec: str) -> str:
    if spec == "list":
        return _fmt_list(value)
    if spec == "opt":  # an optional clause: nothing when it is unknown
        return "" if value is None else str(value)
    if value is None:
        return "unknown"
    f = _finite(value)
    if spec == "q":
        return "unknown" if f is None else f"{f:.2f}"
    if spec == "d":
        return "unknown" if f is None else f"{f:+.2f}".replace("+0.00", "0.00").replace("-0.00", "0.00")
    if spec == "pts":
        return "unknown" if f is None else f"{abs(f) * 100:.1f}"
    if spec == "money":
        return "unknown" if f is None else money(f).replace("−", "-")
    if spec == "months":
        return _months(value)
    if spec == "count":
        return "unknown" if f is None else f"{round(f):,}"
    if spec == "ratio":
        return "unknown" if f is None else f"{f:.2g}×"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_FORMATS = ("q", "d", "pts", "money", "months", "count", "ratio", "list", "opt")


class _Formatter(string.Formatter):
    def get_value(self, key: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
        return kwargs.get(key)

    def format_field(self, value: Any, format_spec: str) -> str:
        return _fmt(value, format_spec)


def render(template: str, facts: Mapping[str, Any]) -> str:
    """A reason template filled from ``facts`` (an unknown value reads "unknown")."""
    return _Formatter().format(template, **facts)


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return float(f"{value:.6g}")
    if isinstance(value, (_dt.date,)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


# -- deciding ----------------------------------------------------------------------------------


def _lower(confidence: str, steps: int) -> str:
    return CONFIDENCE[max(0, CONFIDENCE.index(confidence) - steps)]


def _reason(rule: Rule, facts: Mapping[str, Any], effect: str) -> Reason:
    values = {n: _json_value(facts.get(n)) for n in rule.names}
    return Reason(rule=rule.id, text=render(rule.reason, facts), values=values,
                  source=render(rule.source, facts), effect=effect, recommend=rule.recommend)


def decide(facts: Mapping[str, Any], rules: RuleSet | None = None) -> Decision:
    """Fire every rule whose condition holds; the highest-priority recommendation decides.

    The trace starts with the deciding rule, then the outranked
    recommendations, then everything else that fired, in file order.
    Confidence is the deciding rule's, one step lower for each fired
    ``caution`` rule that concerns the recommended label (never below ``low``).
    """
    rules = rules or load_rules()
    fired = [r for r in rules.rules if not r.fallback and r.when is not None and r.when.holds(facts)]
    candidates = [r for r in fired if r.recommend]
    if candidates:
        top = max(candidates, key=lambda r: r.priority)  # max keeps the first of equal priority
    else:
        top = next(r for r in rules.rules if r.fallback)
    trace = [_reason(top, facts, "decides")]
    for r in fired:
        if r is top:
            continue
        effect = "outranked" if r.recommend else "risk" if r.risk else "supports"
        trace.append(_reason(r, facts, effect))
    order = {"decides": 0, "outranked": 1, "supports": 2, "risk": 3}
    trace.sort(key=lambda reason: order[reason.effect])  # stable: file order within an effect
    label = top.recommend or "measure-first"
    factors: list[dict[str, Any]] = [{"factor": "rule", "value": top.id,
                                      "effect": f"starts at {top.confidence}"}]
    for r in fired:
        if label in r.caution and r is not top:
            factors.append({"factor": r.id, "value": _reason(r, facts, "supports").text,
                            "effect": "lowers one step"})
    factors += evidence_factors(facts, label)
    confidence = _lower(top.confidence, len(factors) - 1)
    risks = tuple(x for x in trace if rules[x.rule].risk)
    return Decision(recommendation=label, confidence=confidence,
                    reasons=tuple(trace), risks=risks, confidence_factors=tuple(factors))


#: The interval width (in quality units) above which a measured difference is called wide.
WIDE_INTERVAL = 0.30
#: Labels that rest on the measured comparison: the evidence factors concern them.
_MEASURED_LABELS = ("fine-tune", "keep-baseline")


def evidence_factors(facts: Mapping[str, Any], label: str) -> list[dict[str, Any]]:
    """How much the measurements behind ``label`` can carry: each factor lowers one step.

    Few items (the run cannot detect the gain that matters), a wide interval,
    the best arm not above the floor (majority label, chance or zero-shot),
    and a tune that underfit weaken a decision that rests on the
    comparison (fine-tune, keep-baseline); a decision to measure first does
    not rest on it. Stale prices and a near shutdown are caution rules.
    """
    if label not in _MEASURED_LABELS or not facts.get("from_run"):
        return []
    out = []
    mdd, gap = _finite(facts.get("min_detectable_diff")), _finite(facts.get("gap_that_matters"))
    if facts.get("measured") and mdd is not None and gap is not None and gap > 0 and mdd > gap:
        out.append({"factor": "few_items", "value": {"eval_n": facts.get("eval_n"),
                                                     "min_detectable_diff": mdd,
                                                     "gain_that_matters": gap},
                    "effect": "lowers one step"})
    low, high = _finite(facts.get("ft_diff_low")), _finite(facts.get("ft_diff_high"))
    if facts.get("measured") and low is not None and high is not None and high - low > WIDE_INTERVAL:
        out.append({"factor": "wide_interval", "value": {"ft_diff_low": low, "ft_diff_high": high},
                    "effect": "lowers one step"})
    if facts.get("beats_floor") is False:
        out.append({"factor": "at_the_floor", "value": {"best_arm": facts.get("best_arm"),
                                                        "best_arm_quality": facts.get("best_arm_quality"),
                                                        "floor": facts.get("trivial_rate")},
                    "effect": "lowers one step"})
    if facts.get("tune_learned") == "underfit":
        out.append({"factor": "underfit_tune", "value": facts.get("tune_learned_reason"),
                    "effect": "lowers one step"})
    return out
