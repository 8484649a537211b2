import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftdecide import ModelInfo, Usage
from ftdecide.pricing import _costs as costs

MINI = ModelInfo(id="gpt-4o-mini-2024-07-18", provider="openai", tunable=True,
                 training_per_1m=3.0, input_per_1m=0.15, cached_input_per_1m=0.075,
                 output_per_1m=0.60, ft_input_per_1m=0.30, ft_cached_input_per_1m=0.15,
                 ft_output_per_1m=1.20, training_token_limit=65536,
                 shutdown=dt.date(2027, 1, 14))


def cookbook_epochs(n):
    # The notebook's code, verbatim in structure.
    n_epochs = 3
    if n * 3 < 100:
        n_epochs = min(25, 100 // n)
    elif n * 3 > 25000:
        n_epochs = max(1, 25000 // n)
    return n_epochs


@pytest.mark.parametrize("n,expected", [(1, 25), (3, 25), (4, 25), (5, 20), (33, 3), (34, 3),
                                        (100, 3), (8333, 3), (8334, 2), (12500, 2), (25000, 1),
                                        (30000, 1)])
def test_epoch_rule_boundaries(n, expected):
    assert costs.default_epochs(n) == expected


def test_epoch_rule_33_34_and_8333_8334():
    # 33 × 3 = 99 < 100 → 100 // 33 = 3; 34 × 3 = 102 → 3 (rule unchanged)
    assert costs.default_epochs(33) == 3 and costs.default_epochs(34) == 3
    # 8333 × 3 = 24999 ≤ 25000 → 3; 8334 × 3 = 25002 > 25000 → 25000 // 8334 = 2
    assert costs.default_epochs(8333) == 3 and costs.default_epochs(8334) == 2


@given(st.integers(min_value=1, max_value=10_000_000))
def test_epoch_rule_matches_cookbook(n):
    assert costs.default_epochs(n) == cookbook_epochs(n)


@given(st.integers(1, 10**6), st.integers(1, 10**6))
def test_epochs_non_increasing_in_examples(a, b):
    lo, hi = sorted((a, b))
    assert costs.default_epochs(hi) <= costs.default_epochs(lo)


def test_cookbook_worked_example():
    # "100k tokens × 3 epochs ≈ $0.90 on gpt-4o-mini, $2.40 on gpt-3.5-turbo"
    billed = costs.billed_tokens(100_000, 3)
    assert billed == 300_000
    assert costs.training_cost(billed, 3.0) == pytest.approx(0.90, abs=1e-9)
    assert costs.training_cost(billed, 8.0) == pytest.approx(2.40, abs=1e-9)


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 25),
       st.floats(0, 100, allow_nan=False))
def test_training_cost_monotone_in_tokens(t1, t2, epochs, price):
    lo, hi = sorted((t1, t2))
    assert costs.training_cost(costs.billed_tokens(lo, epochs), price) <= \
        costs.training_cost(costs.billed_tokens(hi, epochs), price)


@given(st.integers(0, 10**9), st.integers(1, 25), st.integers(1, 25),
       st.floats(0, 100, allow_nan=False))
def test_training_cost_monotone_in_epochs(tokens, e1, e2, price):
    lo, hi = sorted((e1, e2))
    assert costs.training_cost(costs.billed_tokens(tokens, lo), price) <= \
        costs.training_cost(costs.billed_tokens(tokens, hi), price)


def test_unknown_price_is_unknown_not_zero():
    assert costs.training_cost(1000, None) is None
    assert costs.request_cost(costs.TokenPrices(None, None, 1.0), 10, 10) is None


def test_request_cost_with_cache():
    p = costs.base_prices(MINI)
    # 1M input of which half cached, 1M output
    assert costs.request_cost(p, 1e6, 1e6, 5e5) == pytest.approx(0.5 * 0.15 + 0.5 * 0.075 + 0.60)
    assert costs.usage_cost(MINI, Usage(1000, 100, 0)) == pytest.approx(
        1000 / 1e6 * 0.15 + 100 / 1e6 * 0.60)


def test_tier_price_and_unknown_tier():
    azure = MINI.replace(training_tiers={"global": 3.0, "developer": 1.5})
    assert costs.training_price(azure, "developer") == 1.5
    with pytest.raises(Exception, match="no training tier 'regional'"):
        costs.training_price(azure, "regional")


def test_economics_pays_back():
    # 1,500-token few-shot prompt vs 150-token tuned prompt, 20 output tokens
    e = costs.economics(MINI, requests_per_month=1_000_000, prompt_tokens=1500,
                        tuned_prompt_tokens=150, output_tokens=20, training_cost_usd=10.0,
                        today=dt.date(2026, 11, 28))
    base = (1500 * 0.15 + 20 * 0.60) / 1e6
    tuned = (150 * 0.30 + 20 * 1.20) / 1e6
    assert e.base_cost_per_request == pytest.approx(base)
    assert e.tuned_cost_per_request == pytest.approx(tuned)
    assert e.monthly_savings_usd == pytest.approx((base - tuned) * 1e6)
    assert e.payback_months == pytest.approx(10.0 / ((base - tuned) * 1e6))
    assert e.pays_back is True
    assert e.months_to_shutdown == pytest.approx(47 / costs.DAYS_PER_MONTH)
    assert e.horizon_months == pytest.approx(e.months_to_shutdown)
    assert e.break_even_requests_per_month == pytest.approx(
        10.0 / e.horizon_months / (base - tuned), rel=1e-6, abs=1)
    assert e.pays_back_before_shutdown is True


def test_economics_never_pays_back_when_premium_outweighs_savings():
    # Same prompt length: the fine-tuned premium makes every request dearer.
    e = costs.economics(MINI, requests_per_month=1000, prompt_tokens=200, tuned_prompt_tokens=200,
                        output_tokens=20, training_cost_usd=1.0, today=dt.date(2026, 11, 28))
    assert e.monthly_savings_usd < 0
    assert e.payback_months is None and e.pays_back is False
    assert e.break_even_requests_per_month is None
    assert e.pays_back_before_shutdown is False


def test_economics_hosting_counts_against_savings():
    hosted = MINI.replace(hosting_per_hour=1.70, shutdown=None)
    e = costs.economics(hosted, requests_per_month=10_000, prompt_tokens=1500,
                        tuned_prompt_tokens=150, output_tokens=20, training_cost_usd=1.0)
    assert e.hosting_monthly_usd == pytest.approx(1.70 * 730)
    assert e.horizon_months == costs.DEFAULT_HORIZON_MONTHS
    assert e.monthly_savings_usd < 0  # 10k requests cannot carry $1,241 of hosting
    saving = e.base_cost_per_request - e.tuned_cost_per_request
    assert e.break_even_requests_per_month == pytest.approx(
        (1.70 * 730 + 1.0 / 12) / saving, abs=1)


@given(st.integers(0, 10**8), st.integers(0, 10**8))
def test_economics_monthly_cost_monotone_in_volume(r1, r2):
    lo, hi = sorted((r1, r2))
    a = costs.economics(MINI, requests_per_month=lo, prompt_tokens=500, tuned_prompt_tokens=100,
                        output_tokens=10, training_cost_usd=5.0)
    b = costs.economics(MINI, requests_per_month=hi, prompt_tokens=500, tuned_prompt_tokens=100,
                        output_tokens=10, training_cost_usd=5.0)
    assert a.base_monthly_usd <= b.base_monthly_usd
    assert a.monthly_savings_usd <= b.monthly_savings_usd + 1e-12
