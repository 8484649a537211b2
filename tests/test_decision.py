"""The decision rules: every rule fires on its facts and its reason renders; priorities,
confidence, the fallback, and a property test over arbitrary facts."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.assess._decision import (
    CONFIDENCE,
    FACTS,
    LABELS,
    decide,
    load_rules,
    render,
    rules_from_data,
)
from ftdecide.errors import DataError

# A consistent, fully known situation: the acceptance scenario (format task, few-shot 0.70 vs a
# 0.90 target, gpt-4.1-mini, 2M requests a month, 1,800 → 150 prompt tokens), not yet measured.
BASE = {name: None for name in FACTS} | {
    "goal": "format", "description": "tickets as JSON", "knowledge_changes_often": False,
    "few_shot_tried": True, "few_shot_quality": 0.70, "rag_tried": False, "rag_quality": None,
    "target_quality": 0.90, "nothing_tried": False, "best_baseline": "Few-shot",
    "best_baseline_quality": 0.70, "best_baseline_source": "answers a.yaml",
    "baseline_name": "few-shot prompting", "gap_to_target": 0.20,
    "examples_available": 800, "examples_reviewed": 800, "eval_set": True, "team_can_evaluate": True,
    "budget_usd": 100.0, "requests_per_month": 2_000_000, "prompt_tokens_now": 1800,
    "prompt_tokens_after": 150, "prompt_tokens_saved": 1650, "output_tokens": 100,
    "reuse_in_new_domains": False,
    "model": "openai/gpt-4.1-mini-2025-04-14", "provider": "openai", "tunable": True,
    "tunable_alternatives": ["openai/gpt-4o-mini-2024-07-18"],
    "tunable_elsewhere": ["azure/gpt-4.1-mini", "hf/smollm2-135m"],
    "shutdown": "2027-01-14", "months_to_shutdown": 1.54, "shut_down": False,
    "shutdown_unverified": True, "shutdown_note": "shutdown date from a secondary source",
    "prices_as_of": "2026-11-01", "prices_age_days": 27, "prices_source": "https://platform.openai.com/docs/pricing",
    "ft_closes": "2027-01-06", "days_to_ft_close": 39, "ft_closed": False,
    "ft_restrictions": "OpenAI refuses organisations that never fine-tuned.",
    "ft_notice_source": "OpenAI's wind-down notice",
    "training_cost_usd": 3.0, "training_cost_source": "800 examples × 250 tokens × 3 epochs",
    "base_cost_per_request": 0.00088, "tuned_cost_per_request": 0.00044,
    "base_monthly_usd": 1760.0, "tuned_monthly_usd": 880.0, "hosting_monthly_usd": 0.0,
    "monthly_savings_usd": 880.0, "payback_months": 0.0034, "pays_back": True, "payback_ok": True,
    "horizon_text": "before the model's shutdown on 2027-01-14 (1.5 months away)",
    "cost_line": "$880 a month against $1,760 for the baseline, plus $3.00 training",
    "break_even_requests_per_month": 4416, "ft_price_ratio": 2.0,
    "premium_exceeds_savings": False, "hosting_eats_savings": False,
    "measured": False, "run_id": "cmp-20261128-ab12cd", "baseline_arm": "fewshot",
    "baseline_quality_measured": 0.50, "ft_arm": "finetuned", "ft_quality": 0.95, "ft_diff": 0.45,
    "ft_diff_low": 0.30, "ft_diff_high": 0.60, "ft_p_value": 0.001, "eval_n": 24,
    "train_checked": False, "train_valid": True, "train_file": "train.jsonl", "train_examples": 800,
    "train_errors": 0, "train_error_kinds": "invalid_json",
}
MEASURED = {"measured": True, "from_run": True, "conclusive": True}
CURVE = {**MEASURED, "curve_measured": True, "curve_target": 0.88, "curve_examples_now": 128,
         "curve_quality_now": 0.85, "curve_points_text": "16 → 0.50, 128 → 0.85",
         "curve_fit_text": "inverse-power fit q(n) = 0.900 - 6.4·n^-1.000"}

# rule id → (facts changed from BASE so that it fires, a phrase its reason must contain)
CASES = {
    "keep-baseline-meets-target": ({"few_shot_quality": 0.93, "best_baseline_quality": 0.93},
                                   "Few-shot already reaches 0.93 against the target of 0.90"),
    "try-rag-changing-knowledge": ({"knowledge_changes_often": True}, "retrieval has not been tried"),
    "try-rag-knowledge-goal": ({"goal": "knowledge"}, "The goal is knowledge"),
    "model-shut-down": ({"shut_down": True}, "was shut down on 2027-01-14"),
    "provider-fine-tuning-closed": ({"ft_closed": True}, "closed to new jobs since 2027-01-06"),
    "model-not-tunable": ({"tunable": False}, "cannot be fine-tuned"),
    "retires-before-payback": ({"payback_months": 3.0}, "pays back its $3.00 training in 3.0 months"),
    "cost-goal-no-saving": ({"goal": "cost", "premium_exceeds_savings": True,
                             "tuned_monthly_usd": 1900.0}, "$1,900 a month against $1,760"),
    "collect-data-invalid-train": ({"train_checked": True, "train_valid": False, "train_errors": 3},
                                   "train.jsonl cannot be used for training: 3 example(s)"),
    "collect-data-too-few": ({"examples_available": 6, "examples_reviewed": 6}, "6 training examples"),
    "collect-data-unreviewed": ({"examples_reviewed": 20}, "Only 20 of 800 examples"),
    "try-prompting-nothing-tried": ({"nothing_tried": True, "few_shot_tried": False},
                                    "Neither few-shot prompting nor retrieval"),
    "measure-first-at-the-floor": ({**MEASURED, "beats_floor": False, "trivial_rate": 0.22,
                                    "floor_kind": "the majority label or chance",
                                    "best_arm": "fine-tuned", "best_arm_quality": 0.17,
                                    "best_arm_low": 0.08, "best_arm_high": 0.28,
                                    "stronger_model": "openai/gpt-4.1-2025-04-14"},
                                   "no arm beats the majority label or chance (0.22) with confidence"),
    "measure-first-target-out-of-reach": ({**MEASURED, "beats_floor": True, "all_miss_target": True,
                                           "run_best_high": 0.60, "best_arm": "fine-tuned",
                                           "stronger_model": "openai/gpt-4.1-2025-04-14"},
                                          "reaches at most 0.60"),
    "measure-first-no-gain-inconclusive": ({**MEASURED, "conclusive": False, "ft_diff": 0.01,
                                            "ft_diff_low": -0.10, "ft_diff_high": 0.12,
                                            "min_detectable_diff": 0.31, "tune_learned": "learned"},
                                           "could only detect gains of 31.0 points"),
    "measure-first-tune-underfit": ({**MEASURED, "tune_learned": "underfit",
                                     "tune_learned_reason": "validation loss went from 2.5 to 2.49",
                                     "tune_longer": "ftdecide tune t.jsonl --model openai/x --epochs 9"},
                                    "underfit (validation loss went from 2.5 to 2.49)"),
    "keep-baseline-measured-no-gain": ({**MEASURED, "ft_quality": 0.51, "ft_diff": 0.01, "ft_diff_low": -0.02,
                                        "ft_diff_high": 0.04}, "+0.01 [-0.02, +0.04] over 24 items"),
    "keep-baseline-may-meet-target": ({**MEASURED, "payback_ok": False, "baseline_high_measured": 0.95},
                                      "its interval reaches 0.95: the run cannot rule out"),
    "fine-tune-measured-gain": (MEASURED, "a gain of +0.45 [+0.30, +0.60] over 24 items"),
    "fine-tune-for-cost-measured": ({**MEASURED, "goal": "cost", "ft_diff": -0.01, "ft_diff_low": -0.03,
                                     "ft_diff_high": 0.01}, "at worst 3.0 points"),
    "fine-tune-measured-gain-at-a-cost": ({**MEASURED, "payback_ok": False},
                                          "does not pay for itself before the model's shutdown"),
    "measure-first-promising": ({}, "nothing measured yet shows that it beats few-shot prompting"),
    "goal-suits-tuning": ({}, "The goal is format"),
    "baseline-below-target": ({}, "Few-shot reaches 0.70, 20.0 points below the target of 0.90"),
    "pays-back": ({}, "pays back its $3.00 training (800 examples × 250 tokens × 3 epochs) in 0.0034 months"),
    "premium-exceeds-savings": ({"premium_exceeds_savings": True}, "costs 2× a base one"),
    "hosting-eats-savings": ({"hosting_eats_savings": True, "hosting_monthly_usd": 1241.0},
                             "costs $1,241 a month"),
    "training-set-checked": ({"train_checked": True}, "train.jsonl: 800 valid examples"),
    "training-set-conflicts": ({"train_checked": True, "train_conflicts": 3},
                               "answers 3 prompts in more than one way"),
    "shutdown-horizon": ({}, "shuts down on 2027-01-14, 1.5 months from now"),
    "shutdown-date-unverified": ({}, "is not confirmed: shutdown date from a secondary source"),
    "provider-fine-tuning-closing": ({}, "closes to new jobs on 2027-01-06, 39 days from now"),
    "provider-restrictions": ({}, "OpenAI refuses organisations"),
    "stale-prices": ({"prices_age_days": 200}, "200 days ago"),
    "no-eval-set": ({"eval_set": False}, "There is no eval set"),
    "team-cannot-evaluate": ({"team_can_evaluate": False}, "Nobody on the team"),
    "over-budget": ({"budget_usd": 1.0}, "above the budget of $1.00"),
    "training-cost-unknown": ({"training_cost_usd": None, "training_cost_source": "no price"},
                              "The training cost is unknown (no price)"),
    "volume-unknown": ({"requests_per_month": None}, "No monthly volume"),
    "reviewed-unknown": ({"examples_reviewed": None}, "of the 800 examples"),
    "reuse-in-new-domains": ({"reuse_in_new_domains": True}, "reused in other domains"),
    "changing-knowledge-with-tune": ({"knowledge_changes_often": True, "rag_tried": True},
                                     "keep retrieval in front of the fine-tuned model"),
    "fine-tune-below-target": ({**MEASURED, "ft_quality": 0.85}, "Even the fine-tune (0.85)"),
    "fine-tune-worse": ({**MEASURED, "ft_diff": -0.2, "ft_diff_low": -0.3, "ft_diff_high": -0.1},
                        "measurably worse than fewshot: -0.20 [-0.30, -0.10]"),
    # a run scored by an LLM judge (metric judge)
    "measure-first-judge-uncalibrated": (
        {**MEASURED, "judge_scored": True, "judge_model": "openai/gpt-4o-mini-2024-07-18",
         "judge_calibrated": False, "judge_kappa": 0.12, "judge_kappa_threshold": 0.6,
         "judge_kappa_text": "κ 0.12 with people on 30 labelled items, below 0.6"},
        "the judge openai/gpt-4o-mini-2024-07-18, which is not calibrated against people "
        "(κ 0.12 with people on 30 labelled items, below 0.6)"),
    "judge-calibrated": (
        {**MEASURED, "judge_scored": True, "judge_model": "openai/gpt-4o-mini-2024-07-18",
         "judge_calibrated": True, "judge_kappa": 0.81, "judge_kappa_threshold": 0.6,
         "judge_kappa_text": "κ 0.81 with people on 30 labelled items, at least 0.6"},
        "agrees with people (κ 0.81 with people on 30 labelled items, at least 0.6)"),
    # the learning curve of a run (compare learning_curve:)
    "collect-data-learning-curve": (
        {**CURVE, "curve_blocks_fine_tune": True, "curve_reached_target": False,
         "curve_examples_needed": 320, "curve_to_collect": 192,
         "curve_interval_text": "(95 % interval 150 to 900)", "label_cost_usd": 96.0,
         "curve_label_cost_text": "Labelling them costs about $96.00 at $0.50 per example"},
        "collect about 192 more. Labelling them costs about $96.00"),
    "learning-curve-fit": (CURVE, "16 → 0.50, 128 → 0.85 (examples → quality); inverse-power"),
    "learning-curve-flat": ({**CURVE, "curve_not_reached": True, "curve_blocks_fine_tune": True},
                            "does not reach it within ~10× today's 128 examples"),
}


def test_every_rule_has_a_case():
    rules = load_rules()
    assert {r.id for r in rules.rules if not r.fallback} == set(CASES)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_and_its_reason_renders(rule_id):
    changes, phrase = CASES[rule_id]
    facts = {**copy.deepcopy(BASE), **changes}
    decision = decide(facts)
    fired = {r.rule: r for r in decision.reasons}
    assert rule_id in fired, f"{rule_id} did not fire"
    reason = fired[rule_id]
    rule = load_rules()[rule_id]
    assert phrase in reason.text, reason.text
    assert "{" not in reason.text and "}" not in reason.text
    if "unknown" not in rule.reason:
        assert "unknown" not in reason.text, reason.text
    assert reason.source and "{" not in reason.source
    # the values are those the rule read and showed, as they were
    assert set(reason.values) == set(rule.names)
    for name in rule.when.names:
        assert reason.values[name] == facts[name]
    if rule.recommend:
        assert reason.effect in ("decides", "outranked")
        alone = decide({**facts, **{r: None for r in ()}})
        assert rule.recommend in {r.recommend for r in alone.reasons if r.effect in ("decides", "outranked")}
    elif rule.risk:
        assert reason.effect == "risk" and rule_id in {r.rule for r in decision.risks}
    else:
        assert reason.effect == "supports"
    assert reason.to_dict() == {"rule": rule_id, "text": reason.text, "values": reason.values}


def test_the_acceptance_situation_unmeasured_is_measure_first_with_cost_reasons():
    d = decide(BASE)
    assert d.recommendation == "measure-first"
    assert d.deciding.rule == "measure-first-promising"
    pays = next(r for r in d.reasons if r.rule == "pays-back")
    assert pays.values["training_cost_usd"] == 3.0 and pays.values["payback_months"] == 0.0034
    # the OpenAI wind-down lowers the confidence of a tuning recommendation two steps
    assert d.confidence == "low"
    assert [r.rule for r in d.risks] == ["shutdown-horizon", "shutdown-date-unverified",
                                         "provider-fine-tuning-closing", "provider-restrictions"]


def test_measured_gain_is_fine_tune():
    d = decide({**BASE, **MEASURED})
    assert (d.recommendation, d.deciding.rule) == ("fine-tune", "fine-tune-measured-gain")


def test_a_curve_short_of_the_target_blocks_fine_tune():
    d = decide({**BASE, **MEASURED, "curve_measured": True, "curve_blocks_fine_tune": True})
    assert d.recommendation != "fine-tune"
    d = decide({**BASE, **MEASURED, "curve_measured": True, "curve_blocks_fine_tune": False})
    assert d.recommendation == "fine-tune"


def test_highest_priority_decides_and_the_rest_stay_in_the_trace():
    d = decide({**BASE, "knowledge_changes_often": True, "examples_available": 6, "examples_reviewed": 6,
                "tunable": False})
    assert d.recommendation == "try-rag"
    effects = {r.rule: r.effect for r in d.reasons}
    assert effects["try-rag-changing-knowledge"] == "decides"
    assert effects["model-not-tunable"] == "outranked"
    assert effects["collect-data-too-few"] == "outranked"
    assert [r.effect for r in d.reasons][:3] == ["decides", "outranked", "outranked"]


def test_cautions_lower_only_the_labels_they_concern():
    keep = decide({**BASE, "few_shot_quality": 0.95, "best_baseline_quality": 0.95})
    assert keep.recommendation == "keep-baseline" and keep.confidence == "high"
    no_eval = decide({**BASE, "few_shot_quality": 0.95, "best_baseline_quality": 0.95, "eval_set": False})
    assert no_eval.confidence == "medium"
    quiet = {**BASE, "months_to_shutdown": 20, "shutdown_unverified": False, "ft_closes": None,
             "days_to_ft_close": None, "ft_restrictions": None}
    assert decide(quiet).confidence == "high"
    assert decide({**quiet, "team_can_evaluate": False}).confidence == "medium"


def test_nothing_known_falls_back_to_measure_first():
    d = decide({})
    assert d.recommendation == "measure-first" and d.confidence == "low"
    assert d.reasons[0].rule == "fallback-measure-first" and d.reasons[0].values == {}
    assert [r.rule for r in d.reasons[1:]] == ["volume-unknown"]  # `is None` asks about the unknown


def test_rules_file_is_complete():
    rules = load_rules()
    assert tuple(rules.labels) == LABELS
    recommended = {r.recommend for r in rules.rules if r.recommend}
    assert recommended == set(LABELS)
    for r in rules.rules:
        assert r.source.strip() and r.reason.strip()
        assert set(r.names) <= set(FACTS)
    notice = rules.notices["openai"]
    assert notice.fine_tuning_closes.isoformat() == "2027-01-06" and "providers.md" in notice.source


def test_render_formats_and_unknowns():
    facts = {"q": 0.7, "d": -0.034, "m": 1234.5, "mo": 0.5, "n": 2_000_000, "r": 2.0, "l": ["a", "b"], "b": True}
    text = render("{q:q} {d:d} {d:pts} {m:money} {mo:months} {n:count} {r:ratio} {l:list} {b} {x} {x:money}", facts)
    assert text == "0.70 -0.03 3.4 $1,234 0.5 months (about 15 days) 2,000,000 2× a, b yes unknown unknown"


BROKEN = [
    ({"id": "x", "when": "nonsense_fact", "reason": "r", "source": "s"}, "unknown fact"),
    ({"id": "x", "when": "goal(", "reason": "r", "source": "s"}, "when:"),
    ({"id": "x", "when": "goal", "reason": "r", "source": "s", "recommend": "pray"}, "recommend must be"),
    ({"id": "x", "when": "goal", "reason": "r", "source": ""}, "source is required"),
    ({"id": "x", "when": "goal", "reason": "{goal:fancy}", "source": "s"}, "formats"),
    ({"id": "x", "when": "goal", "reason": "{goal!r}", "source": "s"}, "formats"),
    ({"id": "x", "when": "goal", "reason": "r", "source": "s", "colour": 1}, "unknown field"),
    ({"id": "x", "when": "goal", "reason": "r", "source": "s", "confidence": "total"}, "confidence"),
    ({"id": "x", "when": "goal", "reason": "r", "source": "s", "caution": ["pray"]}, "caution"),
]


@pytest.mark.parametrize("rule,phrase", BROKEN)
def test_broken_rules_are_refused(rule, phrase):
    fallback = {"id": "fb", "fallback": True, "recommend": "measure-first", "reason": "r", "source": "s"}
    data = {"labels": {label: label for label in LABELS}, "rules": [rule, fallback]}
    with pytest.raises(DataError, match=phrase):
        rules_from_data(data)


def test_exactly_one_fallback():
    data = {"labels": {label: label for label in LABELS},
            "rules": [{"id": "a", "when": "goal", "reason": "r", "source": "s"}]}
    with pytest.raises(DataError, match="exactly one rule must be the fallback"):
        rules_from_data(data)


def _fact_value(name):
    if name in ("tunable_alternatives", "tunable_elsewhere"):
        return st.lists(st.sampled_from(["openai/gpt-4.1-mini", "azure/gpt-4.1", "hf/smollm2-135m"]), max_size=3)
    if name == "goal":
        return st.sampled_from(["format", "style", "task", "knowledge", "cost", "latency", "new-skill"])
    return st.one_of(st.none(), st.booleans(), st.integers(-10, 10_000_000),
                     st.floats(-1e6, 1e6, allow_nan=False),
                     st.text(alphabet="abcxyz-/. 0123", max_size=12))


FACT_VALUES = st.fixed_dictionaries({}, optional={name: _fact_value(name) for name in FACTS})


@settings(max_examples=300, deadline=None)
@given(FACT_VALUES)
def test_any_facts_give_one_label_and_a_trace(facts):
    d = decide(facts)
    assert d.recommendation in LABELS
    assert d.confidence in CONFIDENCE
    assert d.reasons and d.reasons[0].effect == "decides"
    assert d.reasons[0].recommend == d.recommendation
    assert {r.rule for r in d.risks} <= {r.rule for r in d.reasons}
    for r in d.reasons:
        assert r.text and "{" not in r.text


def test_a_baseline_whose_interval_only_touches_the_target_is_not_said_to_reach_it():
    # found through the notebook: few-shot at 0.77 with an upper bound of 0.95 against a 0.90
    # target used to read "Few-shot already reaches 0.77 against the target of 0.90: keep it"
    facts = {**BASE, **MEASURED, "best_baseline_quality": 0.77, "baseline_high_measured": 0.95}
    d = decide(facts)
    assert d.deciding.rule == "fine-tune-measured-gain"  # a measured gain that pays back wins
    d = decide({**facts, "payback_ok": False})
    assert (d.recommendation, d.deciding.rule) == ("keep-baseline", "keep-baseline-may-meet-target")
    assert "already reaches" not in d.deciding.text
    assert "0.77" in d.deciding.text and "0.95" in d.deciding.text


UNCALIBRATED = {"judge_scored": True, "judge_model": "openai/gpt-4o-mini-2024-07-18",
                "judge_calibrated": False, "judge_kappa": None, "judge_kappa_threshold": 0.6,
                "judge_kappa_text": "no human labels"}


@pytest.mark.parametrize("changes", [
    MEASURED,  # a measured gain: fine-tune-measured-gain
    {**MEASURED, "ft_quality": 0.51, "ft_diff": 0.01, "ft_diff_low": -0.02, "ft_diff_high": 0.04},
    {"few_shot_quality": 0.93, "best_baseline_quality": 0.93},  # keep-baseline-meets-target
])
def test_an_uncalibrated_judge_neither_tunes_nor_keeps_the_baseline(changes):
    plain = decide({**BASE, **changes})
    assert plain.recommendation in ("fine-tune", "keep-baseline")
    d = decide({**BASE, **changes, **UNCALIBRATED})
    assert (d.recommendation, d.deciding.rule) == ("measure-first", "measure-first-judge-uncalibrated")
    assert "no human labels" in d.deciding.text
    # a calibrated judge lets the usual rules decide, and the trace names its κ
    calibrated = {**UNCALIBRATED, "judge_calibrated": True, "judge_kappa": 0.7,
                  "judge_kappa_text": "κ 0.70 with people on 20 labelled items, at least 0.6"}
    d = decide({**BASE, **changes, **calibrated})
    assert d.recommendation == plain.recommendation
    assert any(r.rule == "judge-calibrated" and "κ 0.70" in r.text for r in d.reasons)
