"""The facts the rules read, and the cost summary, from the inputs, the catalog and the notices.

:func:`build_facts` turns the merged inputs, the model's catalog entry,
the provider notices of ``rules.yaml`` and the measured run facts into the
flat facts of ``FACTS`` (:mod:`ftdecide.assess._decision`), with the
training cost, the economics (:mod:`ftdecide.pricing._costs`) and the
shutdown horizon; :func:`payback_text` says a cost summary's payback in
words.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Mapping

from ftdecide.assess._decision import RuleSet
from ftdecide.assess._evidence import Input
from ftdecide.assess._model import alternatives
from ftdecide.pricing import _costs as costs
from ftdecide.providers import ModelInfo

HORIZON_MONTHS = costs.DEFAULT_HORIZON_MONTHS
STALE_DAYS = 90


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
    f["open_weights_monthly"] = _open_weights_monthly(f, catalog, elsewhere)
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
    from ftdecide.assess._curve import curve_facts

    for key in ("curve_fit", "curve_target_run", "curve_to_target_run", "curve_horizon"):
        f[key] = (measured or {}).get(key)  # inputs of the curve facts, not rule facts
    f["label_cost_usd_per_example"] = v("costs.label_cost_usd_per_example")
    curve_facts(f, f["label_cost_usd_per_example"])
    if not f["measured"]:
        f["measured"] = False
    if f["from_run"]:
        _run_reach(f, info, catalog=catalog, today=today, rules=rules,
                   run_config=(measured or {}).get("run_config") or {})
    if train is not None:
        counts = (train.get("audit") or {}).get("counts") or {}
        f.update(train_conflicts=counts.get("conflicts_train"),
                 train_duplicate_pairs=counts.get("near_duplicate_pairs"))
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


def _open_weights_monthly(f: Mapping[str, Any], catalog: Any, elsewhere: list[str]) -> str:
    """The open-weights alternative priced as what serving it costs (hardware time), in words;
    empty when there is none or the volume and tokens are unknown."""
    from ftdecide.pricing._serving import check_serving, is_self_hosted, serving_costs

    rpm, tin = f.get("requests_per_month"), f.get("prompt_tokens_after") or f.get("prompt_tokens_now")
    tout = f.get("output_tokens")
    for key in elsewhere:
        info = catalog.resolve(key)
        if not is_self_hosted(info.provider, catalog.providers.get(info.provider)):
            continue
        if rpm is None or tin is None or tout is None:
            return (f" (serving {key} yourself costs hardware time: give benefits.requests_per_month "
                    "and token counts to price it)")
        s = serving_costs(check_serving({"hardware": "L4", "utilization": 0.5}), model=key,
                          parameters=info.parameters, tokens_in=float(tin), tokens_out=float(tout),
                          requests_per_month=int(rpm))
        if s.get("monthly_usd") is None:
            return f" (serving {key} yourself: {s.get('unpriced_reason')})"
        kind = "measured" if s.get("throughput_kind") == "measured" else "estimated"
        return (f" (serving {key} yourself on an L4 at utilization 0.5: about "
                f"${s['monthly_usd']:,.0f}/month at {int(rpm):,} requests, never below the "
                f"${s['fixed_monthly_usd']:,.0f}/month of one instance; throughput {kind})")
    return ""


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


#: Without a target, the gain a fine-tune must show to be worth its cost (10 points).
DEFAULT_GAIN_THAT_MATTERS = 0.10


def _run_reach(f: dict[str, Any], info: ModelInfo, *, catalog: Any, today: _dt.date,
               rules: RuleSet, run_config: Mapping[str, Any]) -> None:
    """Whether the run can decide: the target in reach, a "no gain" measured with enough items,
    and which stronger model to measure when it cannot."""
    import shlex

    from ftdecide.assess._model import stronger

    target, base = f["target_quality"], f["baseline_quality_measured"]
    if target is not None and f["run_best_high"] is not None:
        f["all_miss_target"] = f["run_best_high"] < target
    if target is not None and base is not None:
        f["gap_that_matters"] = max(0.0, target - base)
    if f["measured"]:
        gap = f["gap_that_matters"] or DEFAULT_GAIN_THAT_MATTERS
        mdd = f["min_detectable_diff"]
        f["conclusive"] = (f["tune_learned"] != "underfit"
                           and (mdd is not None and mdd <= gap))
    model = stronger(catalog, info, today, rules.notices)
    f["stronger_model"] = model
    if model is not None:
        parts = ["ftdecide", "compare"]
        for key in ("train", "eval", "corpus"):
            if run_config.get(key):
                parts += [f"--{key}", str(run_config[key])]
        parts += ["--model", model, "--tune"]
        arms = [a for a in (run_config.get("arms") or []) if a]
        if arms:
            parts += ["--arms", ",".join(arms)]
        for key, flag in (("baseline", "--baseline"), ("metric", "--metric")):
            if run_config.get(key):
                parts += [flag, str(run_config[key])]
        f["stronger_command"] = " ".join(shlex.quote(p) for p in parts)
