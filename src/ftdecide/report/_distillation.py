"""The report's distillation section, from ``results["distillation"]``: checked and defaulted.

Kept beside :mod:`ftdecide.report._view` (which builds the rest of the page)
so the template meets every key it reads, even in results written before a
key existed (the page uses ``StrictUndefined``).
"""

from __future__ import annotations

from typing import Any, Mapping

_DROPPED = ("empty", "refused", "invalid")


def distillation_view(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the section shows: the teacher's labels, their cost, teacher vs student vs gold."""
    d = results.get("distillation")
    if not isinstance(d, Mapping):
        return None
    arms = results.get("arms") or {}

    def quality(arm: str) -> dict[str, Any] | None:
        a = arms.get(arm)
        if not isinstance(a, Mapping):
            return None
        q = a.get("quality") or {}
        return {"label": a.get("label") or arm, "model": a.get("model"), "mean": q.get("mean"),
                "ci_low": q.get("ci_low"), "ci_high": q.get("ci_high"),
                "cost_per_1k": a.get("cost_per_1k_usd"),
                "training": (a.get("economics") or {}).get("training_cost_usd"),
                "break_even": (a.get("economics") or {}).get("break_even_requests_per_month"),
                "break_even_reason": (a.get("economics") or {}).get("break_even_reason")}

    dropped = d.get("dropped") or {}
    g = d.get("gold_over_teacher")
    gold = None
    if isinstance(g, Mapping) and g.get("diff") is not None:
        gold = {"diff": g.get("diff"), "ci_low": g.get("ci_low"), "ci_high": g.get("ci_high"),
                "p_value": g.get("p_value"), "n": g.get("n")}
    training = d.get("training") or {}
    return {
        "teacher": d.get("teacher"),
        "status": d.get("status"),
        "inputs": d.get("inputs"),
        "inputs_file": d.get("inputs_file"),
        "labelled": d.get("labelled"),
        "dropped": {k: dropped.get(k, 0) for k in _DROPPED},
        "labelling_cost": d.get("labelling_cost_usd"),
        "labelling_tokens": (d.get("labelling_input_tokens"), d.get("labelling_output_tokens")),
        "train_file": d.get("train_file"),
        "labels_file": d.get("labels_file"),
        "student_model": d.get("student_model"),
        "student_job": training.get("job_id"),
        "student_reused": bool(training.get("reused")),
        "student_cost": d.get("student_training_cost_usd"),
        "rows": [r for r in (quality("teacher"), quality("distilled"), quality("finetuned"))
                 if r is not None],
        "gold": gold,
    }
