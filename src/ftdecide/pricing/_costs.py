"""Cost arithmetic: training (the cookbook formula), inference, hosting, break-even.

Pure functions of numbers and :class:`~ftdecide.ModelInfo` prices, so they
are easy to property-test and every command prices things the same way.
Prices are USD per 1M tokens; hosting is USD per hour.

The training formula is the OpenAI cookbook's data-prep notebook, which users
already trust: epochs default to 3, raised for tiny sets and lowered for huge
ones, and every example is billed up to the model's per-example token limit.
The inference side is what the cookbook leaves out and the decision turns
on: a fine-tuned model costs more per token than its base, so tuning only
pays when it removes enough prompt tokens (the few-shot examples) at enough
volume, before the model is shut down.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from ftdecide.epochs import cookbook_epochs
from ftdecide.providers import ModelInfo, Usage

HOURS_PER_MONTH = 730.0  # 8760 / 12, what cloud price pages use
DAYS_PER_MONTH = 365.25 / 12
DEFAULT_HORIZON_MONTHS = 12.0


def default_epochs(n_examples: int) -> int:
    """The cookbook's epoch rule for ``n_examples`` training examples (:mod:`ftdecide.epochs`)."""
    return cookbook_epochs(n_examples)


def billed_tokens(capped_tokens_per_epoch: int, epochs: int) -> int:
    """Σ min(limit, tokens of example) × epochs."""
    return capped_tokens_per_epoch * epochs


def per_million(tokens: float, price_per_1m: float) -> float:
    return tokens / 1_000_000 * price_per_1m


def training_cost(billed: int, price_per_1m: float | None) -> float | None:
    """Training cost in USD, ``None`` when the price is unknown."""
    if price_per_1m is None:
        return None
    return per_million(billed, price_per_1m)


def training_price(info: ModelInfo, tier: str | None = None) -> float | None:
    """The training price for ``tier`` (Azure tiers), else the model's default."""
    if tier is not None:
        if tier not in info.training_tiers:
            from ftdecide.errors import UsageError

            known = ", ".join(sorted(info.training_tiers)) or "none"
            raise UsageError(f"model {info.key} has no training tier {tier!r}",
                             hint=f"tiers for this model: {known}")
        return info.training_tiers[tier]
    return info.training_per_1m


@dataclass(frozen=True)
class TokenPrices:
    """Inference prices per 1M tokens for one way of calling a model."""

    input: float | None
    cached_input: float | None
    output: float | None

    @property
    def known(self) -> bool:
        return self.input is not None and self.output is not None


def base_prices(info: ModelInfo) -> TokenPrices:
    return TokenPrices(info.input_per_1m, info.cached_input_per_1m, info.output_per_1m)


def fine_tuned_prices(info: ModelInfo) -> TokenPrices:
    """Prices of a fine-tune of ``info``; falls back to base prices where the
    catalog gives no fine-tuned ones (Azure bills fine-tunes at base rates)."""
    return TokenPrices(
        info.ft_input_per_1m if info.ft_input_per_1m is not None else info.input_per_1m,
        info.ft_cached_input_per_1m if info.ft_cached_input_per_1m is not None
        else info.cached_input_per_1m,
        info.ft_output_per_1m if info.ft_output_per_1m is not None else info.output_per_1m,
    )


def request_cost(prices: TokenPrices, input_tokens: float, output_tokens: float,
                 cached_input_tokens: float = 0) -> float | None:
    """Cost of one request; cached input at the cached price (input price if none)."""
    if not prices.known:
        return None
    assert prices.input is not None and prices.output is not None
    cached_price = prices.cached_input if prices.cached_input is not None else prices.input
    uncached = max(0.0, input_tokens - cached_input_tokens)
    return (per_million(uncached, prices.input)
            + per_million(cached_input_tokens, cached_price)
            + per_million(output_tokens, prices.output))


def usage_cost(info: ModelInfo, usage: Usage) -> float | None:
    """Cost of a completed call from its reported usage at ``info``'s base prices.

    Providers describe a fine-tuned model (``ft:...``) with its fine-tuned
    prices as its own input/output prices, so this is right for both.
    """
    return request_cost(base_prices(info), usage.input_tokens, usage.output_tokens,
                        usage.cached_input_tokens)


def months_until(day: _dt.date | None, today: _dt.date | None = None) -> float | None:
    """Months (of 30.44 days) from ``today`` to ``day``; negative when past."""
    if day is None:
        return None
    today = today or _dt.date.today()
    return (day - today).days / DAYS_PER_MONTH


@dataclass(frozen=True)
class Economics:
    """Monthly inference economics of "keep prompting" vs "fine-tune"."""

    requests_per_month: int
    prompt_tokens: float
    tuned_prompt_tokens: float
    output_tokens: float
    base_cost_per_request: float | None
    tuned_cost_per_request: float | None
    base_monthly_usd: float | None
    tuned_monthly_usd: float | None
    hosting_monthly_usd: float
    monthly_savings_usd: float | None
    training_cost_usd: float | None
    payback_months: float | None
    pays_back: bool | None
    break_even_requests_per_month: float | None
    horizon_months: float
    months_to_shutdown: float | None
    pays_back_before_shutdown: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def economics(
    info: ModelInfo,
    *,
    requests_per_month: int,
    prompt_tokens: float,
    tuned_prompt_tokens: float,
    output_tokens: float,
    training_cost_usd: float | None,
    hosting_per_hour: float | None = None,
    horizon_months: float | None = None,
    today: _dt.date | None = None,
) -> Economics:
    """Compare the base model with today's prompt against the fine-tune with a short one.

    - monthly cost = cost per request × requests per month (+ hosting for the
      fine-tune where it is billed by the hour);
    - payback = training cost / monthly savings (``None`` = never: the
      fine-tuned price premium outweighs the tokens saved);
    - break-even volume = requests per month at which the saving per request
      covers hosting plus the training cost spread over the horizon (the
      months left before the model's shutdown, else ``horizon_months``,
      default 12).
    """
    hosting_rate = info.hosting_per_hour if hosting_per_hour is None else hosting_per_hour
    hosting_monthly = (hosting_rate or 0.0) * HOURS_PER_MONTH
    base_req = request_cost(base_prices(info), prompt_tokens, output_tokens)
    tuned_req = request_cost(fine_tuned_prices(info), tuned_prompt_tokens, output_tokens)
    base_monthly = None if base_req is None else base_req * requests_per_month
    tuned_monthly = None if tuned_req is None else tuned_req * requests_per_month + hosting_monthly
    savings = None
    if base_monthly is not None and tuned_monthly is not None:
        savings = base_monthly - tuned_monthly
    to_shutdown = months_until(info.shutdown, today)
    horizon = horizon_months
    if horizon is None:
        horizon = to_shutdown if to_shutdown is not None and to_shutdown > 0 else DEFAULT_HORIZON_MONTHS
    payback = None
    pays_back: bool | None = None
    if savings is not None and training_cost_usd is not None:
        if savings > 0:
            payback = training_cost_usd / savings
            pays_back = True
        else:
            pays_back = training_cost_usd == 0 and savings == 0
    break_even = None
    if base_req is not None and tuned_req is not None:
        saving_per_request = base_req - tuned_req
        if saving_per_request > 0:
            fixed = hosting_monthly + (training_cost_usd or 0.0) / max(horizon, 1e-9)
            break_even = fixed / saving_per_request
    before_shutdown = None
    if to_shutdown is not None and pays_back is not None:
        before_shutdown = bool(pays_back and payback is not None and payback <= to_shutdown)
    return Economics(
        requests_per_month=requests_per_month,
        prompt_tokens=prompt_tokens,
        tuned_prompt_tokens=tuned_prompt_tokens,
        output_tokens=output_tokens,
        base_cost_per_request=base_req,
        tuned_cost_per_request=tuned_req,
        base_monthly_usd=base_monthly,
        tuned_monthly_usd=tuned_monthly,
        hosting_monthly_usd=hosting_monthly,
        monthly_savings_usd=savings,
        training_cost_usd=training_cost_usd,
        payback_months=payback,
        pays_back=pays_back,
        break_even_requests_per_month=None if break_even is None else math.ceil(break_even),
        horizon_months=horizon,
        months_to_shutdown=to_shutdown,
        pays_back_before_shutdown=before_shutdown,
    )
