"""Scoring a run: every answer scored once, per-arm intervals, paired tests against the baseline."""

from __future__ import annotations

from typing import Any, Mapping

from ftdecide.compare._arms import ArmPlan, Prepared
from ftdecide.compare._items import item_output, missing_output
from ftdecide.compare._runner import RunOutcome
from ftdecide.errors import DataError

RESAMPLES = 2000


def score_run(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome,
              metric: Any, *, baseline: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-arm quality with intervals and paired tests, and the per-item table.

    Each answer is scored once. The paired comparison with the baseline uses
    the items both arms answered (all of them, unless a budget stop cut the
    run short).
    """
    from ftdecide.compare import _stats as stats

    by_item: dict[tuple[str, str], float] = {}
    unparseable: dict[str, int] = {}
    items_out: list[dict[str, Any]] = []
    for it in prep.items:
        row: dict[str, Any] = {"id": it.id, "input": it.input, "expected": it.expected, "outputs": {}}
        for arm in plans:
            res = outcome.results.get((arm, it.id))
            if res is None:
                row["outputs"][arm] = missing_output("not run")
                continue
            try:
                s = metric.score(it.expected, res.text)
            except DataError as exc:
                raise DataError(f"{prep.config.eval}:{it.id}: {exc.message}", hint=exc.hint) from None
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
    return {"quality": quality, "vs_baseline": vs}, items_out
