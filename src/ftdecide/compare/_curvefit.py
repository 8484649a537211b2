"""Fitting a learning curve: quality against training examples, and how many examples a goal needs.

The question a learning curve answers is *how many labelled examples do we
need?* Measured points alone say what happened at the sizes tried; a fitted
saturating curve says where it is going. The form is the inverse power law
``q(n) = a - b·n^-c`` (quality rises with diminishing returns towards the
ceiling ``a``), fitted with :func:`scipy.optimize.curve_fit` within bounds
(``0 ≤ a ≤ 1``, ``b ≥ 0``, ``0.05 ≤ c ≤ 3``). When it does not converge (too
few points, a noisy or falling curve), a log-linear fit ``q = a + b·ln n``
stands in, and the result says so (``form``, ``converged``, ``note``).

Intervals come from a seeded bootstrap: the eval items are resampled (the
same items at every point, since every point is scored on the same items),
the curve refitted, and the examples needed read off each refit. A goal the
curve does not reach within :data:`HORIZON` × the largest size tried is
reported as not reached, never as a huge number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: How far beyond the largest training set the curve is trusted for "examples needed".
HORIZON = 10.0
#: Bootstrap refits for the band and the intervals (each a small least-squares fit).
RESAMPLES = 300
POWER = "inverse-power"
LOG_LINEAR = "log-linear"


@dataclass
class Fit:
    """A fitted curve: its form, parameters, and whether the power law converged."""

    form: str
    params: dict[str, float]
    converged: bool
    note: str | None = None

    def predict(self, n: float) -> float:
        return predict(self.form, self.params, n)

    def to_dict(self) -> dict[str, Any]:
        return {"form": self.form, "params": dict(self.params), "converged": self.converged,
                "note": self.note,
                "equation": ("q(n) = a - b·n^-c" if self.form == POWER else "q(n) = a + b·ln(n)")}


def predict(form: str, params: Mapping[str, float], n: float) -> float:
    """The fitted quality at ``n`` examples."""
    if form == POWER:
        return params["a"] - params["b"] * float(n) ** (-params["c"])
    return params["a"] + params["b"] * math.log(float(n))


def examples_for(form: str, params: Mapping[str, float], target: float) -> float | None:
    """The examples at which the fitted curve reaches ``target`` (None: never)."""
    a, b = params["a"], params["b"]
    if form == POWER:
        if b <= 0:
            return 1.0 if a >= target else None
        if a <= target:
            return None
        return (b / (a - target)) ** (1.0 / params["c"])
    if b <= 0:
        return None
    exponent = (target - a) / b
    if exponent > 700:  # beyond any horizon; exp would overflow
        return None
    return math.exp(exponent)


def _power(n: Any, a: float, b: float, c: float) -> Any:
    return a - b * n ** (-c)


def fit(sizes: Sequence[float], means: Sequence[float]) -> Fit:
    """Fit ``a - b·n^-c``; fall back to ``a + b·ln n`` (and say so) when that fails."""
    import warnings

    import numpy as np

    n = np.asarray(sizes, dtype=float)
    q = np.asarray(means, dtype=float)
    if len(n) >= 3:
        try:
            from scipy.optimize import OptimizeWarning, curve_fit

            top = float(min(1.0, max(q.max() + 0.05, 1e-6)))
            c0 = 0.5
            b0 = max(1e-6, float((top - q[0]) * n[0] ** c0))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, _ = curve_fit(_power, n, q, p0=[top, b0, c0],
                                    bounds=([0.0, 0.0, 0.05], [1.0, np.inf, 3.0]),
                                    maxfev=20000)
            a, b, c = (float(x) for x in popt)
            residual = float(np.sqrt(np.mean((_power(n, a, b, c) - q) ** 2)))
            if all(math.isfinite(x) for x in (a, b, c)) and residual <= max(0.1, float(q.std())):
                return Fit(POWER, {"a": a, "b": b, "c": c}, True)
            note = f"the power law fitted poorly (RMS error {residual:.3f})"
        except (RuntimeError, ValueError) as exc:
            note = f"the power law did not converge ({str(exc).splitlines()[0][:120]})"
    else:
        note = f"{len(n)} points are too few for the three-parameter power law"
    slope, intercept = np.polyfit(np.log(n), q, 1) if len(n) >= 2 else (0.0, float(q[0]))
    return Fit(LOG_LINEAR, {"a": float(intercept), "b": float(slope)}, False,
               note + "; a log-linear fit (q = a + b·ln n) is used instead")


@dataclass
class Needed:
    """The examples a goal needs, with its bootstrap interval."""

    goal: float | None
    examples: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    reached: bool = False
    text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def whole(x: float | None) -> int | None:
            return None if x is None else int(math.ceil(x))

        return {"goal": self.goal, "examples": whole(self.examples), "ci_low": whole(self.ci_low),
                "ci_high": whole(self.ci_high), "reached": self.reached, "text": self.text,
                **self.extra}


#: The least gain (quality, 0-1) over the sizes measured for a curve to count as rising.
MIN_RISE = 0.001


def rises(f: Fit, smallest: float = 1.0, largest: float = 10.0) -> bool:
    """Whether the fitted quality grows with more examples over the sizes measured (only a
    rising curve can say how many examples a goal needs; a flat power law has b ≈ 0)."""
    return f.predict(largest) - f.predict(smallest) > MIN_RISE


def _needed(goal: float | None, fitted: Fit, refits: Sequence[Fit], largest: int,
            what: str, smallest: int = 1) -> Needed:
    if goal is None:
        return Needed(None, None, text=f"no {what} given")
    horizon = HORIZON * largest
    if not rises(fitted, smallest, largest):
        # a flat or falling curve answers no "how many examples": reading it backwards would
        # say "about 1 example" for a goal the smallest subset happened to score above
        return Needed(goal, None, reached=False, extra={"flat": True},
                      text=f"not reached within ~{HORIZON:g}× the data ({int(horizon):,} "
                           "examples): the fitted curve does not rise with more examples")

    def within(f: Fit) -> float | None:
        x = examples_for(f.form, f.params, goal)
        # below the smallest subset measured the curve says nothing: clamp to it
        return None if x is None or x > horizon else max(float(smallest), x)

    point = within(fitted)
    values = [within(f) if rises(f, smallest, largest) else None for f in refits]
    got = sorted(v for v in values if v is not None)
    if point is None:
        return Needed(goal, None, reached=False,
                      text=f"not reached within ~{HORIZON:g}× the data ({int(horizon):,} examples)")
    if point <= smallest:
        return Needed(goal, float(smallest), None, None, reached=True,
                      extra={"at_or_below_smallest": True},
                      text=f"at most {smallest:,} examples (the fit already reaches it at the "
                           "smallest subset measured; below it the curve says nothing)")
    low = _quantile(got, 0.025) if got else None
    # resamples whose curve never gets there put the upper bound beyond the horizon
    missing = len(values) - len(got)
    high = None if missing > 0.025 * len(values) or not got else _quantile(got, 0.975)
    high_text = f"{int(math.ceil(high)):,}" if high is not None else f"over {int(horizon):,}"
    low_text = f"{int(math.ceil(low)):,}" if low is not None else "?"
    return Needed(goal, point, low, high, reached=True,
                  text=f"about {int(math.ceil(point)):,} examples (95 % interval {low_text} to "
                       f"{high_text})")


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.quantile(np.asarray(sorted_values), q))


def analyse(sizes: Sequence[int], scores: Sequence[Sequence[float]], *,
            target: float | None, baseline_high: float | None, seed: int = 0,
            resamples: int = RESAMPLES) -> dict[str, Any]:
    """The fit, its bootstrap band, and the examples to reach the target and to beat the
    baseline's upper interval.

    ``scores[i]`` are the per-item scores at ``sizes[i]``, item for item in the
    same order at every point (the bootstrap resamples items, paired across points).
    """
    import numpy as np

    matrix = np.asarray(scores, dtype=float)  # points × items
    means = matrix.mean(axis=1)
    fitted = fit(sizes, means)
    rng = np.random.default_rng(seed)
    items = matrix.shape[1]
    refits = []
    for _ in range(resamples):
        idx = rng.integers(0, items, size=items)
        refits.append(fit(sizes, matrix[:, idx].mean(axis=1)))
    largest = int(max(sizes))
    smallest = int(min(sizes))
    grid = sorted({*(int(s) for s in sizes),
                   *(int(round(x)) for x in np.geomspace(smallest, largest * HORIZON, 24))})
    band = []
    for n in grid:
        preds = np.array([predict(f.form, f.params, n) for f in refits])
        band.append({"examples": n, "quality": fitted.predict(n),
                     "low": float(np.quantile(preds, 0.025)),
                     "high": float(np.quantile(preds, 0.975)),
                     "extrapolated": n > largest})
    return {
        "fit": fitted.to_dict(),
        "band": band,
        "examples_to_target": _needed(target, fitted, refits, largest,
                                      "target_quality", smallest).to_dict(),
        "examples_to_beat_baseline": _needed(baseline_high, fitted, refits, largest,
                                             "baseline", smallest).to_dict(),
        "horizon_examples": int(largest * HORIZON),
        "resamples": resamples,
        "seed": seed,
    }
