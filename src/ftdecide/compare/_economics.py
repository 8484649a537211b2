"""The economics of a run: what each arm costs per request, per month, and against the baseline.

Monthly cost is inference + hosting + the training spread over the
amortisation horizon (the model's shutdown, else the default horizon);
:func:`break_even` gives the volume above which an arm costs less than the
baseline. ``price_as`` re-prices the measured prompts and answers at another
model's rates (:func:`_priced_as`, :func:`_training_cost_as`), and
:func:`cost_of` prices a call from its usage when the provider did not.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any, Mapping, Sequence

from ftdecide.compare._runner import Call
from ftdecide.pricing import _costs as costs
from ftdecide.providers import ModelInfo


def _amortisation_months(info: ModelInfo, today: _dt.date) -> float:
    left = costs.months_until(info.shutdown, today)
    return left if left is not None and left > 0 else costs.DEFAULT_HORIZON_MONTHS


def arm_economics(cost_per_request: float | None, *, requests_per_month: int,
                  training_cost_usd: float, hosting_per_hour: float | None,
                  amortisation_months: float) -> dict[str, Any]:
    """Monthly cost of an arm: inference + hosting + its training spread over the horizon."""
    hosting = (hosting_per_hour or 0.0) * costs.HOURS_PER_MONTH
    inference = None if cost_per_request is None else cost_per_request * requests_per_month
    total = None if inference is None else inference + hosting + training_cost_usd / amortisation_months
    return {"training_cost_usd": training_cost_usd, "hosting_per_month_usd": hosting,
            "amortisation_months": amortisation_months, "monthly_inference_usd": inference,
            "monthly_total_usd": total}


def break_even(arm: Mapping[str, Any], base: Mapping[str, Any], arm_cpr: float | None,
               base_cpr: float | None) -> tuple[int | None, str]:
    """Requests/month above which ``arm`` costs less than the baseline, and why when there is none."""
    if arm_cpr is None or base_cpr is None:
        return None, "unpriced: a model has no price in the catalog"
    fixed = (arm["hosting_per_month_usd"] + arm["training_cost_usd"] / arm["amortisation_months"]
             - base["hosting_per_month_usd"] - base["training_cost_usd"] / base["amortisation_months"])
    saving = base_cpr - arm_cpr
    if saving > 0:
        if fixed <= 0:
            return 0, "cheaper from the first request"
        return math.ceil(fixed / saving), "saving per request covers its fixed costs above this volume"
    if saving == 0 and fixed <= 0:
        return 0, "costs the same per request, no extra fixed cost"
    return None, "never: it costs more per request than the baseline"


def _priced_as(info: ModelInfo, tuned: bool,
               answers: Sequence[tuple[Sequence[Mapping[str, Any]], str]]) -> float | None:
    """Mean cost per request of these prompts and answers if ``info`` served them.

    Tokens are counted with ``info``'s encoding (offline tiktoken), not the
    measured model's tokenizer: the question is what this traffic would cost
    there. Fine-tuned arms pay ``info``'s fine-tuned rates.
    """
    from ftdecide.data import _tokens as tokens

    if not answers:
        return None
    prices = costs.fine_tuned_prices(info) if tuned else costs.base_prices(info)
    if not prices.known:
        return None
    encoding = info.encoding or tokens.DEFAULT_ENCODING
    outs = tokens.count_texts([text for _, text in answers], encoding)
    total = 0.0
    for (messages, _), out in zip(answers, outs):
        total += costs.request_cost(prices, tokens.count_messages(messages, encoding), out) or 0.0
    return total / len(answers)


def _training_cost_as(info: ModelInfo, train_path: str) -> float:
    """The cookbook estimate of fine-tuning ``info`` on the training set (0 when unpriced)."""
    from ftdecide.pricing import _estimate as est

    report = est.validated(train_path, info)
    return float(est.training_estimate(report, info).get("training_cost_usd") or 0.0)


def _price_as_note(info: ModelInfo) -> str:
    return (f"Quality measured on the models shown; costs are the measured prompts and answers "
            f"priced as {info.key} (tokens counted with its encoding; fine-tuned arms at its "
            f"fine-tuned rates plus the cookbook estimate of fine-tuning it on this training set"
            + (f", hosting ${info.hosting_per_hour:.2f}/h" if info.hosting_per_hour else "")
            + ").")


def cost_of(call: Call, usage: Any) -> float | None:
    """A call's cost from its usage when the provider did not price it."""
    return costs.usage_cost(call.info, usage) if call.info is not None else None
