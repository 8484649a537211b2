"""What a run's learning curve tells ``assess``: how many examples the target needs.

``compare`` with ``learning_curve:`` measures quality at several training-set
sizes and fits a curve (:mod:`ftdecide.compare._curvefit`). Here the fit is
read against the answers' target (``alternatives.target_quality``): whether
today's training set already reaches it (``fine-tune`` needs that), how many
examples the fitted curve says it takes (then ``collect-data`` names the
number to collect and, with ``costs.label_cost_usd_per_example``, what
labelling them costs), or that the curve does not get there within ~10× the
data (more data is not the way).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ftdecide._formatting import finite as _num


def run_curve(results: Mapping[str, Any]) -> dict[str, Any]:
    """The curve facts of a run's results (``curve_measured`` False without a curve)."""
    lc = results.get("learning_curve") or {}
    points = [p for p in lc.get("points") or []
              if _num((p.get("quality") or {}).get("mean")) is not None]
    if not points or not lc.get("fit"):
        return {"curve_measured": False}
    fit = lc["fit"]
    params = fit.get("params") or {}
    equation = ("q(n) = {a:.3f} - {b:.3g}·n^-{c:.3f}" if fit.get("form") == "inverse-power"
                else "q(n) = {a:.3f} + {b:.3g}·ln(n)").format(**{"c": 0.0, **params})
    text = f"{fit.get('form')} fit {equation}"
    if fit.get("note"):
        text += f" ({fit['note']})"
    shown = ", ".join(f"{p['examples']:,} → {p['quality']['mean']:.2f}" for p in points)
    full = max(points, key=lambda p: p["examples"])
    return {"curve_measured": True, "curve_fit": {"form": fit.get("form"), "params": params},
            "curve_fit_text": text, "curve_points_text": shown,
            "curve_examples_now": int(full["examples"]),
            "curve_quality_now": _num(full["quality"]["mean"]),
            "curve_target_run": lc.get("target_quality"),
            "curve_to_target_run": lc.get("examples_to_target") or {},
            "curve_horizon": lc.get("horizon_examples")}


def curve_facts(f: dict[str, Any], label_cost: float | None) -> None:
    """Fill the curve facts against the target in ``f`` (the answers' or the run's)."""
    from ftdecide.compare._curvefit import HORIZON, examples_for

    f["curve_blocks_fine_tune"] = False
    if not f.get("curve_measured"):
        f["curve_measured"] = False
        return
    target = f.get("target_quality")
    if target is None:
        target = f.get("curve_target_run")
    f["curve_target"] = target
    if target is None:
        return
    now, quality = f["curve_examples_now"], f["curve_quality_now"]
    f["curve_reached_target"] = quality is not None and quality >= target
    f["curve_blocks_fine_tune"] = not f["curve_reached_target"]
    horizon = f.get("curve_horizon") or int(now * HORIZON)
    from_run = f.get("curve_to_target_run") or {}
    if f.get("curve_target_run") == target and from_run.get("reached") is not None:
        needed = from_run.get("examples") if from_run.get("reached") else None
        low, high = from_run.get("ci_low"), from_run.get("ci_high")
    else:  # the answers' target differs from the run's: read it off the fitted curve
        fit = f["curve_fit"]
        x = examples_for(fit["form"], fit["params"], target)
        needed = None if x is None or x > horizon else int(math.ceil(x - 1e-6))
        low = high = None
    if needed is None:
        f["curve_not_reached"] = not f["curve_reached_target"]
        return
    f["curve_examples_needed"] = needed
    f["curve_interval_text"] = (f"(95 % interval {low:,} to "
                                f"{f'{high:,}' if high is not None else f'over {horizon:,}'})"
                                if low is not None else "(no interval: the target is not the run's)")
    f["curve_to_collect"] = max(0, needed - now)
    if label_cost is not None:
        f["label_cost_usd"] = f["curve_to_collect"] * label_cost
        f["curve_label_cost_text"] = (f"Labelling them costs about ${f['label_cost_usd']:,.2f} "
                                      f"at ${label_cost:,.2f} per example")
    else:
        f["curve_label_cost_text"] = ("What labelling them costs is unknown: answer "
                                      "costs.label_cost_usd_per_example")
