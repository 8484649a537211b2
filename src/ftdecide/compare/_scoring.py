"""Scoring a run: every answer scored once, per-arm intervals, paired tests against the baseline."""

from __future__ import annotations

from typing import Any, Mapping

from ftdecide.compare._arms import ArmPlan, Prepared
from ftdecide.compare._items import item_output, missing_output
from ftdecide.compare._runner import RunOutcome
from ftdecide.errors import DataError

RESAMPLES = 2000


def _score_all(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome, metric: Any,
               store: Any) -> tuple[dict[tuple[str, str], Any], dict[str, Any] | None]:
    """Every answer's score, all at once when the metric scores a run at once (``similarity``)."""
    if getattr(metric, "score_item", None) is not None:
        return {}, None  # scored per (arm, item) in score_run, from its own calls (the judge)
    keys = [(arm, it.id) for it in prep.items for arm in plans if (arm, it.id) in outcome.results]
    expected = {it.id: it.expected for it in prep.items}
    score_many = getattr(metric, "score_many", None)
    if score_many is not None and getattr(metric, "_batch", None) is not None:
        pairs = [(expected[i], outcome.results[(a, i)].text) for a, i in keys]
        try:
            scores, evaluation = score_many(pairs, store=store)
        except DataError as exc:
            raise DataError(f"{prep.config.eval}: {exc.message}", hint=exc.hint) from None
        return dict(zip(keys, scores)), evaluation
    out = {}
    for arm, item in keys:
        try:
            out[(arm, item)] = metric.score(expected[item], outcome.results[(arm, item)].text)
        except DataError as exc:
            raise DataError(f"{prep.config.eval}:{item}: {exc.message}", hint=exc.hint) from None
    return out, None


def score_run(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome,
              metric: Any, *, baseline: str, seed: int,
              store: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-arm quality with intervals and paired tests, and the per-item table.

    Each answer is scored once. The paired comparison with the baseline uses
    the items both arms answered (all of them, unless a budget stop cut the
    run short). A metric with ``score_item(arm, item, expected, answer)`` (the
    judge) is scored per (arm, item) and its ``details`` go into the item table.
    ``store`` (the run store) caches what scoring itself calls
    (``similarity``'s embeddings); the first value's ``evaluation`` is that
    usage and cost (None when scoring called nothing).
    """
    from ftdecide.compare import _stats as stats

    scored, evaluation = _score_all(prep, plans, outcome, metric, store)
    by_item: dict[tuple[str, str], float] = {}
    unparseable: dict[str, int] = {}
    items_out: list[dict[str, Any]] = []
    by_arm_item = getattr(metric, "score_item", None)
    for it in prep.items:
        row: dict[str, Any] = {"id": it.id, "input": it.input, "expected": it.expected, "outputs": {}}
        for arm in plans:
            res = outcome.results.get((arm, it.id))
            if res is None:
                row["outputs"][arm] = missing_output("not run")
                continue
            if by_arm_item is not None:
                # a metric scored per (arm, item) from calls of its own (the judge): an answer
                # it did not judge, or whose judgment is unparseable, is left out, not scored 0
                s = by_arm_item(arm, it.id, it.expected, res.text)
                details = metric.details(arm, it.id)
                if s is None or not s.parsed:
                    if s is not None:
                        unparseable[arm] = unparseable.get(arm, 0) + 1
                    row["outputs"][arm] = {
                        "text": res.text, "score": None, "cached": res.from_cache,
                        "error": ("not judged (the run stopped before it)" if s is None else
                                  "unparseable judgment: left out of the judge score"),
                        "judgment": details}
                    continue
                by_item[(arm, it.id)] = float(s.value)
                row["outputs"][arm] = {"text": res.text, "score": float(s.value),
                                       "cached": res.from_cache, "error": None,
                                       "judgment": details}
                continue
            s = scored[(arm, it.id)]
            by_item[(arm, it.id)] = float(s.value)
            if not getattr(s, "parsed", True):
                unparseable[arm] = unparseable.get(arm, 0) + 1
            row["outputs"][arm] = item_output(res, s.value)
        items_out.append(row)
    binary = bool(getattr(metric, "binary", False))
    quality: dict[str, Any] = {}
    for arm in plans:
        values = [by_item[(arm, it.id)] for it in prep.items if (arm, it.id) in by_item]
        iv = stats.bootstrap_mean(values, resamples=RESAMPLES, seed=seed)
        quality[arm] = {"metric": metric.name, "mean": iv.mean, "ci_low": iv.ci_low,
                        "ci_high": iv.ci_high, "n": iv.n, "unparseable": unparseable.get(arm, 0)}
    vs: dict[str, Any] = {}
    for arm in plans:
        if arm == baseline:
            vs[arm] = None
            continue
        both = [it.id for it in prep.items if (arm, it.id) in by_item and (baseline, it.id) in by_item]
        d = stats.paired_difference([by_item[(arm, i)] for i in both],
                                    [by_item[(baseline, i)] for i in both],
                                    resamples=RESAMPLES, seed=seed, binary=binary or None)
        vs[arm] = {"diff": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                   "p_value": d.p_value, "test": d.test, "n": len(both)}
    return {"quality": quality, "vs_baseline": vs, "evaluation": evaluation}, items_out
