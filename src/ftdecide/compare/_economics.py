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
                  amortisation_months: float,
                  serving: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Monthly cost of an arm: inference + hosting + its training spread over the horizon.

    A self-hosted arm (``serving``: :func:`ftdecide.pricing._serving.serving_costs`) pays
    hardware time instead of inference and hosting: ``max(floor, volume × cost per
    request)``, the floor being ``min_instances`` kept up all month.
    """
    hosting = (hosting_per_hour or 0.0) * costs.HOURS_PER_MONTH
    floor = 0.0
    if serving is not None:
        hosting = 0.0
        floor = float(serving.get("fixed_monthly_usd") or 0.0)
    inference = None if cost_per_request is None else max(floor, cost_per_request * requests_per_month)
    total = None if inference is None else inference + hosting + training_cost_usd / amortisation_months
    return {"training_cost_usd": training_cost_usd, "hosting_per_month_usd": hosting,
            "serving_floor_usd": floor, "amortisation_months": amortisation_months,
            "monthly_inference_usd": inference, "monthly_total_usd": total}


def _curve(econ: Mapping[str, Any], cpr: float) -> tuple[float, float, float]:
    """(floor, cost per request, fixed) of ``monthly(v) = max(floor, v × cpr) + fixed``."""
    fixed = econ["hosting_per_month_usd"] + econ["training_cost_usd"] / econ["amortisation_months"]
    return float(econ.get("serving_floor_usd") or 0.0), cpr, fixed


def monthly(curve: tuple[float, float, float], volume: float) -> float:
    floor, cpr, fixed = curve
    return max(floor, volume * cpr) + fixed


def crossings(a: tuple[float, float, float], b: tuple[float, float, float]) -> list[float]:
    """The volumes (> 0) where two monthly cost curves cross, in order."""
    points = sorted({0.0, *(c[0] / c[1] for c in (a, b) if c[1] > 0 and c[0] > 0)})
    found: list[float] = []
    for lo, hi in zip(points, [*points[1:], math.inf]):
        # on [lo, hi] both curves are linear: d(v) = d0 + slope × (v - lo)
        d0 = monthly(a, lo) - monthly(b, lo)
        probe = lo + 1.0 if hi == math.inf else hi
        slope = ((monthly(a, probe) - monthly(b, probe)) - d0) / (probe - lo)
        if slope != 0:
            v = lo - d0 / slope
            if lo < v <= hi and (not found or v - found[-1] > 1e-9):
                found.append(v)
    return found


def break_even(arm: Mapping[str, Any], base: Mapping[str, Any], arm_cpr: float | None,
               base_cpr: float | None) -> tuple[int | None, str]:
    """Requests/month above which ``arm`` costs less than the baseline, and why when there is none.

    Curves with a self-hosting floor may cross twice or cheapen only at low volume;
    :func:`compare_costs` says all of it, this keeps the one figure the table shows.
    """
    found = compare_costs(arm, base, arm_cpr, base_cpr)
    return found["above"], found["reason"]


def compare_costs(arm: Mapping[str, Any], base: Mapping[str, Any], arm_cpr: float | None,
                  base_cpr: float | None) -> dict[str, Any]:
    """Where ``arm`` is cheaper than ``base`` along the volume axis.

    ``above``: the volume above which it stays cheaper (0: from the first request;
    None: never at high volume); ``below``: the volume below which it is cheaper
    when it loses at high volume (a hosted arm against a self-hosted floor);
    ``reason``: a few words.
    """
    if arm_cpr is None or base_cpr is None:
        return {"above": None, "below": None,
                "reason": arm.get("unpriced_reason") or base.get("unpriced_reason")
                or "unpriced: a model has no price in the catalog"}
    a, b = _curve(arm, arm_cpr), _curve(base, base_cpr)
    if a[0] == 0 and b[0] == 0:  # no floor: straight lines, one closed form
        fixed, saving = a[2] - b[2], base_cpr - arm_cpr
        if saving > 0:
            if fixed <= 0:
                return {"above": 0, "below": None, "reason": "cheaper from the first request"}
            return {"above": math.ceil(fixed / saving), "below": None,
                    "reason": "saving per request covers its fixed costs above this volume"}
        if saving == 0 and fixed <= 0:
            return {"above": 0, "below": None,
                    "reason": "costs the same per request, no extra fixed cost"}
        return {"above": None, "below": None,
                "reason": "never: it costs more per request than the baseline"}
    cuts = crossings(a, b)
    far = max(cuts, default=0.0) * 2 + 1e9

    def cheaper(v: float) -> bool:
        return monthly(a, v) < monthly(b, v) - 1e-12

    if not cuts:
        if cheaper(1.0):
            return {"above": 0, "below": None, "reason": "cheaper from the first request"}
        if cheaper(far):
            # equal while both sit on their floors, cheaper once the baseline outgrows its own:
            # the first volume from which it stays cheaper, not "from the first request"
            ends = sorted(c[0] / c[1] for c in (a, b) if c[0] > 0 and c[1] > 0)
            above = next((math.ceil(e) for e in ends if cheaper(e * (1 + 1e-9) + 1)), 0)
            return {"above": above, "below": None,
                    "reason": "the same below this volume (both pay their self-hosting floor), "
                              "cheaper above it"}
        if monthly(a, far) == monthly(b, far):
            return {"above": 0, "below": None,
                    "reason": "costs the same per request, no extra fixed cost"}
        return {"above": None, "below": None,
                "reason": "never: it costs more per request than the baseline"}
    if cheaper(far):
        above = math.ceil(cuts[-1])
        floor_binds = a[0] > 0 and above <= a[0] / a[1] + 1
        reason = ("below this volume its self-hosting floor (min instances all month) makes it "
                  "dearer" if floor_binds else
                  "saving per request covers its fixed costs above this volume")
        below = math.floor(cuts[0]) if len(cuts) > 1 and cheaper(cuts[0] / 2) else None
        return {"above": above, "below": below, "reason": reason}
    below = math.floor(cuts[0]) if cheaper(cuts[0] / 2) else None
    reason = (f"cheaper only below {below:,} requests/month (the baseline's self-hosting floor)"
              if below else "never: it costs more per request than the baseline")
    return {"above": None, "below": below, "reason": reason}


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
