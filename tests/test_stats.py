"""Statistics: known cases, references from scipy, and hypothesis properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.compare import _stats as stats
from ftdecide.compare._stats import (
    Difference,
    Interval,
    bootstrap_mean,
    mcnemar_exact,
    paired_difference,
    percentile,
)
from ftdecide.errors import UsageError


def binary_arms(b, c, both_right, both_wrong):
    """Treatment/baseline 0/1 scores with ``b`` items only the treatment got right and ``c``
    items only the baseline got right."""
    treatment = [1] * b + [0] * c + [1] * both_right + [0] * both_wrong
    baseline = [0] * b + [1] * c + [1] * both_right + [0] * both_wrong
    return treatment, baseline


# -- McNemar ---------------------------------------------------------------------------------

def test_mcnemar_known_case():
    # b = 10, c = 2: 2 · P[Bin(12, ½) ≤ 2] = 2 · (1 + 12 + 66) / 4096 = 0.0386
    assert mcnemar_exact(10, 2) == pytest.approx(158 / 4096)
    assert round(mcnemar_exact(10, 2), 4) == 0.0386
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)


@pytest.mark.parametrize("b,c,p", [(0, 0, 1.0), (5, 5, 1.0), (1, 0, 1.0), (6, 0, 2 / 64),
                                   (0, 6, 2 / 64), (3, 4, 1.0)])
def test_mcnemar_edges(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p)


@pytest.mark.parametrize("b,c", [(10, 2), (7, 3), (40, 25), (0, 9), (150, 110), (1000, 1100)])
def test_mcnemar_matches_scipy_binomtest(b, c):
    from scipy.stats import binomtest

    assert mcnemar_exact(b, c) == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_paired_difference_uses_mcnemar_for_binary_arms():
    treatment, baseline = binary_arms(10, 2, both_right=70, both_wrong=38)
    d = paired_difference(treatment, baseline)
    assert d.test == "mcnemar"
    assert d.diff == pytest.approx(8 / 120)
    assert round(d.p_value, 4) == 0.0386
    assert d.n == 120
    assert d.ci_low < d.diff < d.ci_high
    # the order of the items changes nothing
    rng = np.random.default_rng(7)
    order = rng.permutation(120)
    shuffled = paired_difference([treatment[i] for i in order], [baseline[i] for i in order])
    assert shuffled == d


def test_binary_can_be_forced_either_way():
    treatment, baseline = binary_arms(10, 2, both_right=70, both_wrong=38)
    assert paired_difference(treatment, baseline, binary=False).test == "paired permutation"
    with pytest.raises(ValueError, match="not all 0 or 1"):
        paired_difference([0.5, 1.0], [0.0, 1.0], binary=True)


def test_the_permutation_test_on_0_1_scores_agrees_with_mcnemar():
    # Flipping the sign of a discordant pair is McNemar's coin: the exact sign-flip
    # test on 0/1 scores is the exact McNemar test.
    treatment, baseline = binary_arms(10, 2, both_right=5, both_wrong=3)
    d = paired_difference(treatment, baseline, binary=False)
    assert d.test == "paired permutation"
    assert d.p_value == pytest.approx(mcnemar_exact(10, 2))


# -- the permutation test -----------------------------------------------------------------------

def test_exact_permutation_known_case():
    # differences 1, 2, 3: sums of ±1 ±2 ±3 are 6, 4, 2, 0, 0, -2, -4, -6; |sum| ≥ 6 twice in 8
    d = paired_difference([1.5, 2.0, 3.25], [0.5, 0.0, 0.25])
    assert d.test == "paired permutation"
    assert d.diff == pytest.approx(2.0)
    assert d.p_value == pytest.approx(2 / 8)
    # zero differences do not change an exact sign-flip test
    assert paired_difference([1.5, 2.0, 3.25, 0.4, 0.7], [0.5, 0.0, 0.25, 0.4, 0.7]).p_value \
        == pytest.approx(2 / 8)


def test_sampled_permutation_matches_scipy():
    from scipy.stats import permutation_test

    rng = np.random.default_rng(3)
    baseline = rng.random(60)
    treatment = np.clip(baseline + rng.normal(0.04, 0.15, 60), 0, 1)
    ours = paired_difference(treatment, baseline, permutations=20_000)
    ref = permutation_test((treatment, baseline), lambda x, y: np.mean(x - y),
                           permutation_type="samples", n_resamples=20_000,
                           alternative="two-sided", random_state=11)
    assert ours.test == "paired permutation"
    assert 0.01 < ours.p_value < 0.99  # a case in the middle, where a wrong test shows
    assert ours.p_value == pytest.approx(ref.pvalue, abs=0.015)


def test_sampled_p_value_is_never_zero():
    treatment = [1.0] * 40
    baseline = [0.2 + 0.01 * i for i in range(40)]
    d = paired_difference(treatment, baseline)
    assert d.p_value == pytest.approx(1 / (stats.DEFAULT_PERMUTATIONS + 1))
    assert d.ci_low > 0


def test_permutations_below_the_minimum_are_refused():
    with pytest.raises(UsageError, match="permutations must be .* at least 2,000"):
        paired_difference([0.1, 0.2], [0.2, 0.1], permutations=500)


# -- bootstrap ------------------------------------------------------------------------------

def test_bootstrap_empty_and_single():
    assert bootstrap_mean([]) == Interval(None, None, None, 0)
    assert bootstrap_mean([0.25]) == Interval(0.25, 0.25, 0.25, 1)
    assert bootstrap_mean([0.5] * 7) == Interval(0.5, 0.5, 0.5, 7)
    assert paired_difference([], []) == Difference(None, None, None, None, None, 0)


def test_bootstrap_interval_agrees_with_the_normal_approximation():
    # n = 120 Bernoulli scores with mean 0.7: the 95 % interval is close to ±1.96 · SE.
    values = [1.0] * 84 + [0.0] * 36
    iv = bootstrap_mean(values)
    assert iv.mean == pytest.approx(0.7) and iv.n == 120
    se = math.sqrt(0.7 * 0.3 / 120)
    assert iv.ci_low == pytest.approx(0.7 - 1.96 * se, abs=0.012)
    assert iv.ci_high == pytest.approx(0.7 + 1.96 * se, abs=0.012)
    # a 90 % interval is narrower, inside the 95 % one
    iv90 = bootstrap_mean(values, confidence=0.90)
    assert iv.ci_low <= iv90.ci_low < iv90.ci_high <= iv.ci_high


def test_bootstrap_is_reproducible_and_seeded():
    values = [0.1, 0.9, 0.4, 0.4, 0.7, 0.0, 1.0, 0.3, 0.6, 0.55]
    assert bootstrap_mean(values) == bootstrap_mean(values)
    assert bootstrap_mean(values, seed=1) == bootstrap_mean(values, seed=1)
    assert bootstrap_mean(values, seed=1) != bootstrap_mean(values, seed=2)
    assert bootstrap_mean(values, resamples=5_000).mean == bootstrap_mean(values).mean


def test_bootstrap_of_a_large_sample_is_blocked_but_complete():
    # 20,000 values × 2,000 resamples is more than one block: same answer as a fresh run
    rng = np.random.default_rng(0)
    values = rng.random(20_000)
    iv = bootstrap_mean(values)
    assert iv == bootstrap_mean(values)
    assert iv.ci_low < iv.mean < iv.ci_high
    assert iv.ci_high - iv.ci_low == pytest.approx(2 * 1.96 * values.std() / math.sqrt(20_000),
                                                  rel=0.1)


@pytest.mark.parametrize("kwargs,match", [
    ({"resamples": 999}, "resamples must be .* at least 1,000"),
    ({"resamples": 2000.0}, "resamples must be a whole number"),
    ({"confidence": 1.0}, "confidence must be between 0 and 1"),
    ({"confidence": 0}, "confidence must be between 0 and 1"),
])
def test_bad_settings_are_usage_errors(kwargs, match):
    with pytest.raises(UsageError, match=match):
        bootstrap_mean([0.0, 1.0], **kwargs)


def test_bad_inputs_are_programming_errors():
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean([0.1, math.nan])
    with pytest.raises(ValueError, match="same items"):
        paired_difference([0.1, 0.2], [0.1])


def test_to_dict():
    assert bootstrap_mean([1.0]).to_dict() == {"mean": 1.0, "ci_low": 1.0, "ci_high": 1.0, "n": 1}
    assert paired_difference([1], [1]).to_dict() == {
        "diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "test": "mcnemar", "n": 1}


# -- percentile -------------------------------------------------------------------------------

def test_percentile_linear_interpolation():
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)  # 3 + 0.85 · (4 − 3)
    assert percentile([0.4, 0.1, 0.3, 0.2], 0) == 0.1
    assert percentile([0.4, 0.1, 0.3, 0.2], 100) == 0.4
    with pytest.raises(ValueError):
        percentile([1.0], 101)


# -- properties ------------------------------------------------------------------------------

unit_scores = st.lists(st.floats(0, 1, allow_nan=False), max_size=60)
binary_scores = st.lists(st.sampled_from([0.0, 1.0]), max_size=60)


@settings(max_examples=80, deadline=None)
@given(st.one_of(unit_scores, binary_scores,
                 st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=40)))
def test_interval_contains_the_mean(values):
    iv = bootstrap_mean(values)
    assert iv.n == len(values)
    if values:
        assert iv.ci_low <= iv.mean <= iv.ci_high
        assert min(values) <= iv.ci_low and iv.ci_high <= max(values)
        assert iv.mean == pytest.approx(float(np.mean(values)), abs=1e-9 * (1 + max(map(abs, values))))


@settings(max_examples=60, deadline=None)
@given(st.one_of(unit_scores, binary_scores))
def test_identical_arms_give_zero_difference_and_p_1(values):
    d = paired_difference(values, list(values))
    if not values:
        assert d.diff is None
        return
    assert (d.diff, d.ci_low, d.ci_high, d.p_value) == (0.0, 0.0, 0.0, 1.0)
    assert d.ci_low <= 0.0 <= d.ci_high
    is_binary = all(v in (0.0, 1.0) for v in values)
    assert d.test == ("mcnemar" if is_binary else "paired permutation")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False)),
                min_size=1, max_size=50),
       st.randoms(use_true_random=False))
def test_results_do_not_depend_on_item_order(pairs, rnd):
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    t, b = [p[0] for p in pairs], [p[1] for p in pairs]
    ts, bs = [p[0] for p in shuffled], [p[1] for p in shuffled]
    assert bootstrap_mean(t) == bootstrap_mean(ts)
    assert paired_difference(t, b) == paired_difference(ts, bs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0.0, 1.0])),
                min_size=1, max_size=80))
def test_binary_difference_interval_contains_diff_and_p_in_unit_interval(pairs):
    t, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = paired_difference(t, b)
    assert d.test == "mcnemar"
    assert d.ci_low <= d.diff <= d.ci_high
    assert -1.0 <= d.ci_low and d.ci_high <= 1.0
    assert 0.0 < d.p_value <= 1.0
    # swapping the arms negates the difference and keeps the p-value
    r = paired_difference(b, t)
    assert r.diff == pytest.approx(-d.diff) and r.p_value == pytest.approx(d.p_value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False)),
                min_size=1, max_size=40))
def test_continuous_difference_properties(pairs):
    t, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = paired_difference(t, b)
    assert d.ci_low <= d.diff <= d.ci_high
    assert 0.0 < d.p_value <= 1.0
    r = paired_difference(b, t)
    assert r.diff == pytest.approx(-d.diff, abs=1e-12)
    assert r.p_value == pytest.approx(d.p_value)
