"""The verdict: one sentence a team can act on, from the results mapping.

Which arm beats the baseline with confidence (the lower bound of its paired
interval above zero), by how much, with how many prompt tokens, and at what
cost: the training it pays back, or how much cheaper or dearer it is per
request.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ftdecide._formatting import money_sentence


def _percent(a: float, b: float) -> float | None:
    return None if not b else (a - b) / b * 100


def verdict(results: Mapping[str, Any]) -> str:
    """One sentence a team can act on: which arm wins, by how much, at what cost, and what
    the evidence cannot carry (a tune that did not learn)."""
    floor = _floor_caveat(results)
    judge = _judge_sentence(results)
    # below the floor nothing else the run measured supports a choice: say that first;
    # an uncalibrated judge supports none either
    if floor:
        sentence = floor[0]
    elif judge is not None and not judge[0]:
        sentence = judge[1]
    else:
        sentence = _main_verdict(results) + (f"; {judge[1]}" if judge else "")
    distilled = _distill_sentence(results)
    if distilled:
        sentence += f"; {distilled}"
    for caveat in caveats(results):
        sentence += f"; {caveat}"
    return sentence


def _distill_sentence(results: Mapping[str, Any]) -> str | None:
    from ftdecide.compare._distill import sentence

    return sentence(results)


def caveats(results: Mapping[str, Any]) -> list[str]:
    """What keeps the sentence from being the whole story, each with what would settle it."""
    notes = []
    training = results.get("training") or {}
    learned = training.get("learned") or {}
    tuned = [a for n, a in results["arms"].items() if n in ("finetuned", "finetuned-rag")]
    if tuned and learned.get("verdict") == "underfit":
        notes.append(f"but the fine-tune underfit ({learned.get('reason')}), so this run cannot say "
                     f"whether fine-tuning helps: tune longer first "
                     f"(`{training.get('tune_longer') or 'ftdecide tune ... --epochs N'}`)")
    elif tuned and learned.get("verdict") == "overfit":
        notes.append(f"the fine-tune overfit ({learned.get('reason')}): fewer epochs or more "
                     "examples may do better")
    notes += _data_caveats(results.get("audit") or {})
    for a in results["arms"].values():
        serving = a.get("serving") or {}
        if serving.get("over_capacity"):
            notes.append(f"{a['label']} on {serving['hardware']} needs {serving['instances_needed']} "
                         f"instances at your volume but max_instances is {serving['max_instances']}")
    return notes


def _kappa_text(agree: Mapping[str, Any]) -> str:
    ci = agree.get("kappa_ci")
    kappa = agree.get("kappa")
    text = "κ undefined" if kappa is None else f"κ {kappa:.2f}"
    if kappa is not None and ci:
        text += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    return text


def _judge_sentence(results: Mapping[str, Any]) -> tuple[bool, str] | None:
    """(calibrated, what to say) when the arms are scored by a judge; None otherwise.

    An uncalibrated judge (κ below the threshold, or no human labels) is named as
    such and no arm is called better on its scores alone; what it measured is
    still given, with the config line that would settle it.
    """
    judge = results.get("judge")
    if not judge or (results.get("metric") or {}).get("name") != "judge":
        return None
    model = judge.get("model")
    agree = judge.get("agreement")
    threshold = judge.get("kappa_threshold", 0.6)
    if judge.get("calibrated") and agree:
        return True, (f"judged by {model}, which agrees with people at {_kappa_text(agree)} on "
                      f"{agree['n']} items ({agree['percent'] * 100:.0f} % agreement; always "
                      f"{agree.get('constant_label')!s} would agree "
                      f"{(agree.get('constant_baseline') or 0) * 100:.0f} %)")
    if not agree:
        why = "no human labels were given"
        settle = ("label 30 or more eval items (a CSV with columns id,label, the id as in "
                  "items.csv) and add `human_labels: labels.csv` to the config, then re-run "
                  "(answers and judgments come from the cache)")
    else:
        why = (f"it agrees with people at {_kappa_text(agree)} on {agree['n']} labelled items, "
               f"below {threshold}")
        settle = ("label more items (human_labels:) or sharpen the rubric (judge: {rubric: ...}) "
                  "and re-run until κ reaches " + str(threshold))
    measured = _best_judged(results)
    return False, (f"the judge ({model}) is not calibrated: {why}, so no arm is called better "
                   f"on the judge alone{f' ({measured})' if measured else ''}; to settle it, "
                   f"{settle}")


def _best_judged(results: Mapping[str, Any]) -> str | None:
    """What the judge's scores say, as a measurement, not a conclusion."""
    arms = results["arms"]
    base = arms[results["baseline"]]
    candidates = [a for n, a in arms.items() if n != results["baseline"]
                  and (a.get("vs_baseline") or {}).get("ci_low") is not None]
    if not candidates:
        return None
    top = max(candidates, key=lambda a: a["vs_baseline"]["diff"])
    v = top["vs_baseline"]
    return (f"judge scores: best {top['label']} {v['diff'] * 100:+.1f} points "
            f"[{v['ci_low'] * 100:.1f}, {v['ci_high'] * 100:.1f}] over {base['label']}")


#: how the verdict names a trivial baseline of ``results["trivial"]``
_FLOOR_WORDS = {"copy the input": "copying the input unchanged"}


def _floor_caveat(results: Mapping[str, Any]) -> list[str]:
    """No arm above answering blindly (the majority label, guessing) or, on free text, above
    copying the input: the run measures nothing a team can use."""
    labels = (results.get("audit") or {}).get("labels") or {}
    majority, chance = labels.get("majority_rate"), labels.get("chance_rate")
    floors = []  # (rate, words)
    if isinstance(majority, (int, float)):
        floors.append((majority, f"always answering the majority label ({majority * 100:.1f} points)"))
    if isinstance(chance, (int, float)):
        floors.append((chance, f"guessing ({chance * 100:.1f})"))
    for t in results.get("trivial") or []:
        if isinstance(t.get("mean"), (int, float)):
            name = _FLOOR_WORDS.get(t.get("name"), f"the trivial baseline {t.get('name')!r}")
            floors.append((t["mean"], f"{name} ({t['mean'] * 100:.1f} points)"))
    if not floors:
        return []
    floor = max(rate for rate, _ in floors)
    lows = [(a.get("quality") or {}).get("ci_low") for a in results["arms"].values()]
    if any(low is not None and low > floor for low in lows):
        return []
    return [f"this run cannot decide: no arm beats {' or '.join(w for _, w in floors)} with "
            "confidence; measure a stronger model before choosing a path"]


def _data_caveats(audit: Mapping[str, Any]) -> list[str]:
    """What the audit found in the data that bears on the numbers."""
    notes = []
    leaks = audit.get("leaks_in_run") or 0
    if leaks and audit.get("mode") == "keep":
        notes.append(f"{leaks} eval item(s) also occur in the training set and were scored "
                     "(audit: keep), which inflates the fine-tuned arms")
    elif audit.get("excluded"):
        notes.append(f"{len(audit['excluded'])} eval item(s) found in the training set were left "
                     "out of scoring")
    conflicts = len((audit.get("conflicts") or {}).get("train_eval") or [])
    if conflicts:
        notes.append(f"{conflicts} eval item(s) expect a different answer than the training set "
                     "gives the same prompt")
    labels = audit.get("labels") or {}
    if labels.get("shifted"):
        notes.append(f"the eval set's labels are distributed unlike the training set's "
                     f"(distance {labels.get('distance'):.2f})")
    unseen = labels.get("unseen_in_train") or []
    if unseen:
        notes.append(f"{len(unseen)} eval label(s) never occur in training")
    return notes


def _main_verdict(results: Mapping[str, Any]) -> str:
    arms = results["arms"]
    baseline = results["baseline"]
    base = arms[baseline]
    base_label = base["label"]
    candidates = [(name, a) for name, a in arms.items()
                  if name != baseline and a.get("vs_baseline") and a["vs_baseline"].get("ci_low") is not None]
    if base["quality"]["mean"] is None:
        return f"{base_label} has no answers yet: the run stopped before it"
    if not candidates:
        return f"only {base_label} was measured"
    better = [(n, a) for n, a in candidates if a["vs_baseline"]["ci_low"] > 0]
    if better:
        # among the arms that beat the baseline with confidence: the largest gain,
        # then the cheaper per request
        def rank(na: tuple[str, Any]) -> tuple[float, float]:
            cost = na[1].get("cost_per_1k_usd")
            return (round(na[1]["vs_baseline"]["diff"], 9), -(cost if cost is not None else math.inf))

        name, best = max(better, key=rank)
    else:
        name, best = max(candidates, key=lambda na: na[1]["vs_baseline"]["ci_low"])
    vs = best["vs_baseline"]
    pts = f"{vs['diff'] * 100:+.1f} points [{vs['ci_low'] * 100:.1f}, {vs['ci_high'] * 100:.1f}]"
    if vs["ci_low"] <= 0:
        top_name, top = max(candidates, key=lambda na: na[1]["vs_baseline"]["diff"])
        tv = top["vs_baseline"]
        return (f"keep {base_label}: no arm beats it with confidence "
                f"(best: {top['label']} {tv['diff'] * 100:+.1f} points "
                f"[{tv['ci_low'] * 100:.1f}, {tv['ci_high'] * 100:.1f}])")
    parts = [f"{_where(best)}: {pts} over {base_label}"]
    pct = _percent(best["tokens"]["input_mean"], base["tokens"]["input_mean"])
    if pct is not None and abs(pct) >= 1:
        parts.append(f"{abs(pct):.0f} % {'fewer' if pct < 0 else 'more'} prompt tokens")
    cost_clause = _cost_clause(best, base)
    if cost_clause:
        parts.append(cost_clause)
    sentence = ", ".join(parts)
    if cost_clause and cost_clause.startswith("never"):
        # the best gain does not pay; say so of a confident arm that does
        payers = [(n, a) for n, a in better if n != name
                  and (_cost_clause(a, base) or "").startswith(("pays", "its", "cheaper"))]
        if payers:
            alt_name, alt = max(payers, key=lambda na: na[1]["vs_baseline"]["diff"])
            av = alt["vs_baseline"]
            sentence += (f"; {alt['label']}: {av['diff'] * 100:+.1f} points "
                         f"[{av['ci_low'] * 100:.1f}, {av['ci_high'] * 100:.1f}] and "
                         f"{_cost_clause(alt, base)}")
    return sentence


def _where(arm: Mapping[str, Any]) -> str:
    """An arm's label, with the hardware it is self-hosted on."""
    serving = arm.get("serving") or {}
    return f"{arm['label']} on {serving['hardware']}" if serving.get("hardware") else arm["label"]


def _monthly_clause(arm: Mapping[str, Any], base: Mapping[str, Any]) -> str | None:
    """"$Y/month at your volume vs $Z for few-shot on gpt-4.1-mini": where an arm is
    self-hosted or runs another model than the baseline, the bills say more than a ratio."""
    if not (arm.get("serving") or base.get("serving")) and arm.get("model") == base.get("model"):
        return None
    mine = (arm.get("economics") or {}).get("monthly_total_usd")
    theirs = (base.get("economics") or {}).get("monthly_total_usd")
    if mine is None or theirs is None:
        return None
    model = str(base.get("model") or "").split("/", 1)[-1]
    on = f"on {(base.get('serving') or {}).get('hardware')}" if base.get("serving") else f"on {model}"
    return (f"{money_sentence(mine)}/month at your volume vs {money_sentence(theirs)} for "
            f"{base['label']} {on}")


def _cost_clause(arm: Mapping[str, Any], base: Mapping[str, Any]) -> str | None:
    """How an arm's costs compare with the baseline's, in a few words (None: nothing to say)."""
    monthly = _monthly_clause(arm, base)
    if monthly is not None:
        return monthly
    econ = arm.get("economics") or {}
    training = econ.get("training_cost_usd") or 0.0
    be = econ.get("break_even_requests_per_month")
    if training > 0 and be:
        return f"pays back its {money_sentence(training)} training at {be:,} requests/month"
    if training > 0 and be == 0:
        return f"its {money_sentence(training)} training pays back from the first request"
    if training > 0:
        return f"never pays back its {money_sentence(training)} training on cost alone"
    if arm.get("cost_per_1k_usd") is not None and base.get("cost_per_1k_usd"):
        cp = _percent(arm["cost_per_1k_usd"], base["cost_per_1k_usd"])
        if cp is not None and abs(cp) >= 1:
            return f"{abs(cp):.0f} % {'cheaper' if cp < 0 else 'dearer'} per request"
    return None
