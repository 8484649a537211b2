"""What a score means before any model runs: label balance, trivial baselines, power.

**Categorical answers.** A comparison that reports "72 % accuracy" says
little until it is set against what answering blindly scores. When answers
are labels, this module counts them in train and eval, lists eval labels the
training set never shows, measures how far the two distributions are apart,
and scores two trivial baselines on the eval set in the units of the metric:

* ``majority_rate``: always answer the training set's most common label;
* ``chance_rate``: guess uniformly among the training labels (expected score).

The rule for "categorical" (:data:`MAX_CLASSES`, :data:`MIN_PER_CLASS`): at
most 20 distinct (normalised) training answers, each seen at least twice on
average (``n ≥ 2k``). Beyond that, answers are free text and no baseline is
given. JSON-object answers (every training answer one) are categorical when
at least one of their fields, flattened as ``json-fields`` flattens them,
passes the same rule; fields that do not are listed as free-text fields and
still take part in the baselines (a majority guess rarely gets them right,
which is the point).

**Power.** :func:`min_detectable_diff` answers "what gain could this eval
set show at all?" (see its docstring for the formula and its assumption).
"""

from __future__ import annotations

import math
from collections import Counter
from statistics import NormalDist
from typing import Any, Hashable, Sequence

from ftdecide.data._audit_text import (
    display_value,
    flatten_json,
    label_key,
    parse_json_object,
)

__all__ = [
    "DISTANCE_THRESHOLD",
    "MAX_CLASSES",
    "MIN_PER_CLASS",
    "label_report",
    "min_detectable_diff",
    "total_variation",
]

#: At most this many distinct training answers (or values of a JSON field) for "categorical".
MAX_CLASSES = 20
#: ... each seen at least this many times on average.
MIN_PER_CLASS = 2
#: Train and eval label distributions further apart than this (total variation) are flagged.
DISTANCE_THRESHOLD = 0.2
#: Metrics whose baselines this module can compute (others get the label counts only).
RATE_METRICS = ("exact", "accuracy", "json-fields")

CATEGORICAL_RULE = (f"categorical when there are at most {MAX_CLASSES} distinct training answers, "
                    f"each seen at least {MIN_PER_CLASS} times on average (for JSON answers: at "
                    "least one field passing that rule)")


def total_variation(p: Counter[Any], q: Counter[Any]) -> float:
    """Total variation distance between two count tables: half the L1 distance of the
    proportions, 0 (same distribution) to 1 (disjoint)."""
    n_p, n_q = sum(p.values()), sum(q.values())
    if not n_p or not n_q:
        return 0.0
    return 0.5 * sum(abs(p[k] / n_p - q[k] / n_q) for k in set(p) | set(q))


def _is_categorical(counts: Counter[Any]) -> bool:
    total = sum(counts.values())
    return 0 < len(counts) <= MAX_CLASSES and total >= MIN_PER_CLASS * len(counts)


def _table(counts: Counter[Any], show: Any = str) -> dict[str, int]:
    """Counts as {label: n}, most common first (ties in first-seen order)."""
    return {show(k): n for k, n in counts.most_common()}


def _distribution(train: Counter[Any], evals: Counter[Any] | None, show: Any = str
                  ) -> dict[str, Any]:
    out: dict[str, Any] = {"train": _table(train, show), "classes": len(train)}
    if evals is not None:
        distance = total_variation(train, evals)
        out.update({
            "eval": _table(evals, show),
            "unseen_in_train": [show(k) for k in evals if k not in train],
            "distance": round(distance, 4),
            "shifted": distance > DISTANCE_THRESHOLD,
        })
    return out


def label_report(train_answers: Sequence[str], eval_answers: Sequence[str] | None,
                 metric: str | None = None) -> dict[str, Any]:
    """The ``labels`` section of an audit (see the module docstring).

    ``metric`` None chooses ``json-fields`` when every training answer is a
    JSON object and ``exact`` otherwise; the choice is in ``metric`` and
    ``metric_chosen`` (``"auto"`` or ``"given"``) of the result.
    """
    objects = [parse_json_object(a) for a in train_answers]
    all_json = bool(objects) and all(o is not None for o in objects)
    chosen = "given" if metric else "auto"
    if metric is None:
        metric = "json-fields" if all_json else "exact"
    base: dict[str, Any] = {"metric": metric, "metric_chosen": chosen, "rule": CATEGORICAL_RULE,
                            "distance_threshold": DISTANCE_THRESHOLD,
                            "majority_rate": None, "chance_rate": None}
    if metric == "json-fields":
        if not all_json:
            bad = sum(o is None for o in objects)
            return {**base, "categorical": False, "kind": "text",
                    "note": f"json-fields needs JSON-object answers; {bad} training answers "
                    "are not one"}
        return {**base, **_json_labels([o for o in objects if o is not None], eval_answers)}
    return {**base, **_plain_labels(train_answers, eval_answers, metric)}


def _plain_labels(train_answers: Sequence[str], eval_answers: Sequence[str] | None,
                  metric: str) -> dict[str, Any]:
    keys = [label_key(a, metric) for a in train_answers]
    train = Counter(keys)
    if not _is_categorical(train):
        return {"categorical": False, "kind": "text", "distinct_answers": len(train)}
    out: dict[str, Any] = {"categorical": True, "kind": "label"}
    evals = Counter(label_key(a, metric) for a in eval_answers) if eval_answers is not None \
        else None
    out.update(_distribution(train, evals))
    majority = train.most_common(1)[0][0]
    out["majority_label"] = majority
    if evals is not None and metric in RATE_METRICS and eval_answers:
        n = sum(evals.values())
        out["majority_rate"] = evals[majority] / n
        out["chance_rate"] = sum(c for k, c in evals.items() if k in train) / (len(train) * n)
    elif metric not in RATE_METRICS:
        out["note"] = f"baselines are computed for {', '.join(RATE_METRICS)}; not for {metric}"
    return out


def _json_labels(train_objects: Sequence[dict[str, Any]], eval_answers: Sequence[str] | None
                 ) -> dict[str, Any]:
    flat = [flatten_json(o) for o in train_objects]
    presence: Counter[str] = Counter(k for pairs in flat for k in pairs)
    values: dict[str, Counter[Hashable]] = {}
    for pairs in flat:
        for key, value in pairs.items():
            values.setdefault(key, Counter())[value] += 1
    categorical = {k for k, c in values.items() if _is_categorical(c)}
    if not categorical:
        return {"categorical": False, "kind": "json", "free_text_fields": sorted(values)}
    # The majority answer: every field most answers have, each with its most common value.
    half = len(flat) / 2
    guess_keys = [k for k, n in presence.most_common() if n >= half] or [presence.most_common(1)[0][0]]
    guess = {k: values[k].most_common(1)[0][0] for k in guess_keys}
    eval_flat: list[dict[str, Hashable]] | None = None
    unparsed = 0
    if eval_answers is not None:
        eval_flat = []
        for answer in eval_answers:
            obj = parse_json_object(answer)
            if obj is None:
                unparsed += 1
            else:
                eval_flat.append(flatten_json(obj))
    fields = {}
    for key in sorted(categorical, key=lambda k: (-presence[k], k)):
        evals = None if eval_flat is None else Counter(p[key] for p in eval_flat if key in p)
        fields[key] = _distribution(values[key], evals, display_value)
        fields[key]["majority"] = display_value(values[key].most_common(1)[0][0])
        fields[key]["present_in"] = presence[key]
    out: dict[str, Any] = {
        "categorical": True, "kind": "json", "fields": fields,
        "free_text_fields": sorted(set(values) - categorical),
        "majority_answer": {k: display_value(v) for k, v in guess.items()},
    }
    if eval_flat is not None:
        distances = [f["distance"] for f in fields.values()]
        out["distance"] = max(distances) if distances else 0.0
        out["shifted"] = any(f["shifted"] for f in fields.values())
        out["unparseable_eval_answers"] = unparsed
        if eval_flat:
            options = {k: set(values[k]) for k in guess}
            n = len(eval_flat)
            out["majority_rate"] = math.fsum(_fields_f1(g, guess) for g in eval_flat) / n
            out["chance_rate"] = math.fsum(_chance_f1(g, options) for g in eval_flat) / n
    return out


def _fields_f1(gold: dict[str, Hashable], guess: dict[str, Hashable]) -> float:
    """``json-fields``' score of ``guess`` against ``gold``: F1 over (key, value) pairs."""
    if not gold and not guess:
        return 1.0
    overlap = sum(1 for k, v in guess.items() if k in gold and gold[k] == v)
    return 2 * overlap / (len(gold) + len(guess)) if overlap else 0.0


def _chance_f1(gold: dict[str, Hashable], options: dict[str, set[Hashable]]) -> float:
    """Expected ``json-fields`` score of a guess with the majority answer's keys, each
    value drawn uniformly from the field's training values.

    Both sizes in the F1 are fixed (``|gold|`` and the guess's key count), so the
    expectation is ``2 E[overlap] / (|gold| + |guess|)`` with ``E[overlap]`` the
    sum, over shared keys, of ``1 / (values of that field)`` when the gold value
    is among them.
    """
    if not gold and not options:
        return 1.0
    expected = sum(1 / len(vals) for k, vals in options.items() if k in gold and gold[k] in vals)
    return 2 * expected / (len(gold) + len(options))


def min_detectable_diff(n: int, baseline_rate: float, alpha: float = 0.05,
                        power: float = 0.8) -> float | None:
    """The smallest gain over ``baseline_rate`` that ``n`` eval items can detect.

    The classic sample-size equation for two proportions, normal
    approximation, no continuity correction (Fleiss, *Statistical Methods for
    Rates and Proportions*, 3rd ed., eq. 4.14), solved for ``p1`` instead of
    ``n``: the smallest ``p1 > p0`` with ::

        √n · (p1 − p0) ≥ z(1 − α/2) · √(2 p̄ (1 − p̄)) + z(power) · √(p0 (1 − p0) + p1 (1 − p1))

    where ``p0`` is the baseline rate and ``p̄ = (p0 + p1) / 2``; the result is
    ``p1 − p0`` (0.18 = 18 points). Assumption, stated plainly: it treats the
    two arms' ``n`` scores as independent samples and gives no credit for the
    positive correlation of paired answers on the same items, so for the
    paired test ``compare`` runs (McNemar, or a paired test of mean scores)
    it is conservative: the real detectable gain is this or smaller. For a
    metric with partial credit the variance of a score in ``[0, 1]`` with
    mean ``p`` is at most ``p (1 − p)``, so the same bound holds.

    None when no gain up to a perfect score is detectable (``p0`` close to 1,
    or ``n`` too small), or ``n`` is 0.
    """
    if n <= 0 or not 0.0 <= baseline_rate < 1.0:
        return None
    z_alpha = NormalDist().inv_cdf(1 - alpha / 2)
    z_power = NormalDist().inv_cdf(power)
    p0 = baseline_rate
    root_n = math.sqrt(n)

    def margin(d: float) -> float:
        p1 = p0 + d
        mean = (p0 + p1) / 2
        needed = (z_alpha * math.sqrt(2 * mean * (1 - mean))
                  + z_power * math.sqrt(p0 * (1 - p0) + p1 * (1 - p1)))
        return root_n * d - needed

    top = 1.0 - p0
    if margin(top) < 0:
        return None
    # The smallest root: scan a fine grid for the first sign change, then bisect in it.
    steps = 2000
    lo, hi = 0.0, top
    for i in range(1, steps + 1):
        d = top * i / steps
        if margin(d) >= 0:
            lo, hi = top * (i - 1) / steps, d
            break
    for _ in range(60):
        mid = (lo + hi) / 2
        if margin(mid) >= 0:
            hi = mid
        else:
            lo = mid
    return hi
