"""Statistics for ``compare``: every score with its uncertainty, every difference with a test.

"Is 0.82 against 0.79 real?" is the question users of evaluation tools ask
most, so each arm's mean quality comes with a percentile-bootstrap interval
and each arm's difference from the baseline with a *paired* interval (both
arms answered the same items, and pairing removes the item-difficulty
variance that would otherwise swamp the difference) and a p-value:

- exact McNemar when both arms' scores are 0/1: only the items where the
  arms disagree carry information, and under "no difference" each such item
  is a fair coin (binomial, two-sided);
- otherwise a paired sign-flip permutation test on the per-item differences:
  under "no difference" each item's difference is as likely to have either
  sign. Exact (every sign pattern) when at most :data:`EXACT_MAX_PAIRS`
  items differ, else :data:`DEFAULT_PERMUTATIONS` seeded random patterns.

Everything is seeded (``seed=0`` by default) so a report can be rebuilt to
the digit, and the inputs are put in a canonical (sorted) order first, so the
order the items were run in changes nothing either. Resampling is vectorised
with numpy, in blocks bounded in memory.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Sequence

from ftdecide.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "DEFAULT_PERMUTATIONS",
    "DEFAULT_RESAMPLES",
    "Difference",
    "EXACT_MAX_PAIRS",
    "Interval",
    "MIN_PERMUTATIONS",
    "MIN_RESAMPLES",
    "bootstrap_mean",
    "mcnemar_exact",
    "paired_difference",
    "percentile",
]

MIN_RESAMPLES = 1_000
DEFAULT_RESAMPLES = 2_000
MIN_PERMUTATIONS = 2_000
DEFAULT_PERMUTATIONS = 10_000
#: Up to this many non-zero paired differences, the permutation test enumerates
#: all 2**n sign patterns (65,536 at 16) instead of sampling them.
EXACT_MAX_PAIRS = 16
#: Cap on the elements of one resampling block (rows × items), about 64 MB of float64.
_BLOCK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval over ``n`` values; all None when ``n`` is 0."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Difference:
    """Mean of ``treatment - baseline`` per item, its paired bootstrap interval and p-value.

    ``test`` names how the p-value was computed: ``"mcnemar"`` or
    ``"paired permutation"`` (None, like every field, when there are no pairs).
    """

    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    test: str | None
    n: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- helpers -----------------------------------------------------------------------------------

def _check_resamples(resamples: int, what: str = "resamples", minimum: int = MIN_RESAMPLES) -> int:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < minimum:
        raise UsageError(
            f"{what} must be a whole number of at least {minimum:,} (got {resamples!r})",
            hint=f"fewer {what} make the interval itself noisy; the default is fine",
        )
    return resamples


def _check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not 0.0 < confidence < 1.0:
        raise UsageError(f"confidence must be between 0 and 1 exclusive (got {confidence!r})",
                         hint="0.95 gives a 95 % interval")
    return float(confidence)


def _as_array(values: Sequence[float], name: str) -> "np.ndarray":
    import numpy as np

    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _bootstrap_means(values: "np.ndarray", resamples: int, seed: int) -> "np.ndarray":
    """``resamples`` means of with-replacement resamples of ``values``, vectorised in blocks.

    The caller passes ``values`` sorted, so the result depends on the multiset only.
    """
    import numpy as np

    n = values.shape[0]
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ELEMENTS // n)
    out = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows):
        stop = min(resamples, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def _mean(values: "np.ndarray") -> float:
    """The mean of sorted ``values``, exact when they are all equal (numpy's sum of n
    copies of x divided by n can miss x by a rounding error) and never outside their range."""
    first, last = float(values[0]), float(values[-1])
    if first == last:
        return first
    return min(max(float(values.mean()), first), last)


def _percentile_interval(values: "np.ndarray", mean: float, resamples: int, seed: int,
                         confidence: float) -> tuple[float, float]:
    """The percentile-bootstrap interval of the mean of ``values`` (sorted).

    Kept within the range of ``values`` and widened to include ``mean`` when it
    falls outside (float rounding, or a very skewed tiny sample), so that no
    report shows a point estimate outside its own interval.
    """
    import numpy as np

    if values.shape[0] == 1 or float(values[0]) == float(values[-1]):
        return mean, mean
    means = _bootstrap_means(values, resamples, seed)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    # Resampled means can overshoot the data's range by a rounding error; scores in
    # [0, 1] must not get an interval ending at 1.0000000000000002.
    low = min(max(float(low), float(values[0])), mean)
    high = max(min(float(high), float(values[-1])), mean)
    return low, high


# -- public API --------------------------------------------------------------------------------

def bootstrap_mean(values: Sequence[float], *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                   confidence: float = 0.95) -> Interval:
    """The mean of ``values`` with its percentile-bootstrap interval.

    ``n`` = 0 gives an interval of Nones; ``n`` = 1 (or all values equal) a
    degenerate one, ``[mean, mean]``: there is nothing to resample. At least
    :data:`MIN_RESAMPLES` resamples are required (UsageError otherwise).
    """
    import numpy as np

    _check_resamples(resamples)
    confidence = _check_confidence(confidence)
    arr = _as_array(values, "values")
    n = int(arr.shape[0])
    if n == 0:
        return Interval(None, None, None, 0)
    arr = np.sort(arr)
    mean = _mean(arr)
    low, high = _percentile_interval(arr, mean, resamples, seed, confidence)
    return Interval(mean, low, high, n)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null each discordant pair goes either way with probability ½,
    so p = min(1, 2 · P[Binomial(b + c, ½) ≤ min(b, c)]), computed in exact
    integer arithmetic. No discordant pairs → 1.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts cannot be negative")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def _sign_flip_p_value(diffs: "np.ndarray", permutations: int, seed: int) -> float:
    """Two-sided p-value of mean(diffs) under random sign flips."""
    import numpy as np

    nonzero = diffs[diffs != 0.0]
    m = int(nonzero.shape[0])
    if m == 0:
        return 1.0
    observed = abs(float(nonzero.sum()))
    # Under the null, s·d over random signs s has the same distribution as s·|d|; using
    # |d| sorted makes the sampled p-value the same whichever arm is called the baseline.
    nonzero = np.sort(np.abs(nonzero))
    # Sums equal in exact arithmetic can differ in the last bits; count them as ties.
    tolerance = 1e-9 * max(1.0, float(np.abs(nonzero).sum()))
    if m <= EXACT_MAX_PAIRS:
        patterns = np.arange(2**m, dtype=np.int64)[:, None]
        signs = 1.0 - 2.0 * ((patterns >> np.arange(m, dtype=np.int64)) & 1)
        sums = np.abs(signs @ nonzero)
        return float(np.count_nonzero(sums >= observed - tolerance)) / float(2**m)
    rng = np.random.default_rng(seed)
    rows = max(1, _BLOCK_ELEMENTS // m)
    extreme = 0
    for start in range(0, permutations, rows):
        count = min(rows, permutations - start)
        signs = rng.integers(0, 2, size=(count, m), dtype=np.int8) * 2 - 1
        sums = np.abs(signs @ nonzero)
        extreme += int(np.count_nonzero(sums >= observed - tolerance))
    # The observed pattern counts as one of the permutations (Phipson & Smyth 2010),
    # so a sampled p-value is never 0.
    return (extreme + 1) / (permutations + 1)


def paired_difference(treatment: Sequence[float], baseline: Sequence[float], *,
                      resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      binary: bool | None = None, confidence: float = 0.95,
                      permutations: int = DEFAULT_PERMUTATIONS) -> Difference:
    """``treatment`` minus ``baseline``, item by item (same items, same order).

    The interval resamples items (pairs) with replacement. ``binary``: True
    requires 0/1 scores and uses McNemar; False uses the permutation test;
    None (default) uses McNemar exactly when both arms are all 0/1. Identical
    arms give a difference of 0, the interval [0, 0] and p = 1.
    """
    import numpy as np

    _check_resamples(resamples)
    _check_resamples(permutations, "permutations", MIN_PERMUTATIONS)
    confidence = _check_confidence(confidence)
    t = _as_array(treatment, "treatment")
    b = _as_array(baseline, "baseline")
    if t.shape != b.shape:
        raise ValueError(f"treatment has {t.shape[0]} scores but baseline has {b.shape[0]}; "
                         "the arms must be scored on the same items")
    n = int(t.shape[0])
    if n == 0:
        return Difference(None, None, None, None, None, 0)
    is_binary = bool(np.all((t == 0.0) | (t == 1.0)) and np.all((b == 0.0) | (b == 1.0)))
    if binary and not is_binary:
        raise ValueError("binary=True but the scores are not all 0 or 1")
    use_mcnemar = is_binary if binary is None else binary
    diffs = np.sort(t - b)
    diff = _mean(diffs)
    low, high = _percentile_interval(diffs, diff, resamples, seed, confidence)
    if use_mcnemar:
        p_value = mcnemar_exact(int(np.count_nonzero(diffs > 0)), int(np.count_nonzero(diffs < 0)))
        test = "mcnemar"
    else:
        p_value = _sign_flip_p_value(diffs, permutations, seed)
        test = "paired permutation"
    return Difference(diff, low, high, min(1.0, p_value), test, n)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation (numpy's default);
    None for no values. For latencies: ``percentile(latencies, 50)``, ``…, 95)``."""
    import numpy as np

    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be between 0 and 100 (got {q!r})")
    arr = _as_array(values, "values")
    if arr.shape[0] == 0:
        return None
    return float(np.percentile(arr, q))
