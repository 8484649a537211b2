"""From ``results.json`` to what the template shows: checked, defaulted, derived.

The template stays a layout: every optional key is resolved here (so a
missing one shows as a dash instead of failing half-way through a page),
and everything derived from the data (right/wrong marks, which items the
filters select, stale prices, redacted config) is computed once, in Python,
where it can be tested.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Mapping

from ftdecide.errors import DataError
from ftdecide.report._format import finite as _num

SCHEMA = 1
STALE_PRICE_DAYS = 90
# Config keys whose values never belong in a report, whatever the runner stored.
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|passw(or)?d|authori[sz]ation|bearer|"
                         r"(access|auth|refresh|session)[_-]?token|credential)", re.I)
REDACTED = "•••• (redacted)"
RIGHT = 1 - 1e-9


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"{path} must be an object, got {type(value).__name__}",
                        path="results.json",
                        hint="re-run `ftdecide compare`, or `ftdecide report RUN` on a complete run")
    return value


def _require(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise DataError(f"missing key {path}.{key}" if path else f"missing key {key}",
                        path="results.json",
                        hint="the results were not written by this version of `ftdecide compare`; "
                             "re-run it, or `ftdecide report RUN` to re-render from the run store")
    return obj[key]


def check(results: Mapping[str, Any]) -> None:
    """Refuse results the report cannot show, naming the key (exit 2, no traceback)."""
    _mapping(results, "the top level")
    schema = results.get("schema")
    if schema != SCHEMA:
        raise DataError(f"schema {schema!r} is not supported (this ftdecide reads schema {SCHEMA})",
                        path="results.json", hint="upgrade ftdecide or re-run `ftdecide compare`")
    for key in ("run_id", "created", "baseline", "arms", "items"):
        _require(results, key, "")
    arms = _mapping(results["arms"], "arms")
    if not arms:
        raise DataError("arms is empty: nothing to report", path="results.json")
    if results["baseline"] not in arms:
        raise DataError(f"baseline {results['baseline']!r} is not one of the arms ({', '.join(arms)})",
                        path="results.json")
    for name, arm in arms.items():
        arm = _mapping(arm, f"arms.{name}")
        quality = _mapping(_require(arm, "quality", f"arms.{name}"), f"arms.{name}.quality")
        _require(quality, "mean", f"arms.{name}.quality")
    if not isinstance(results["items"], list):
        raise DataError("items must be a list", path="results.json")
    for i, item in enumerate(results["items"]):
        item = _mapping(item, f"items[{i}]")
        _mapping(item.get("outputs") or {}, f"items[{i}].outputs")


def redact(value: Any) -> Any:
    """A copy of a config mapping with secret-looking keys' values replaced."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def mark(output: Mapping[str, Any] | None) -> str:
    """``right``, ``partial``, ``wrong``, ``error`` or ``missing`` for one arm's answer."""
    if output is None:
        return "missing"
    if output.get("error"):
        return "error"
    score = _num(output.get("score"))
    if score is None:
        return "error"
    if score >= RIGHT:
        return "right"
    if score <= 0:
        return "wrong"
    return "partial"


MARK_SYMBOL = {"right": "✓", "partial": "◐", "wrong": "✗", "error": "!", "missing": "–"}
MARK_TEXT = {"right": "right", "partial": "partly right", "wrong": "wrong", "error": "error",
             "missing": "not run"}


def _date(text: Any) -> _dt.date | None:
    if not text:
        return None
    try:
        return _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return _dt.date.fromisoformat(str(text)[:10])
        except ValueError:
            return None




def _verdict_class(vs: Mapping[str, Any] | None) -> str:
    if not vs:
        return "same"
    lo, hi = _num(vs.get("ci_low")), _num(vs.get("ci_high"))
    if lo is not None and lo > 0:
        return "better"
    if hi is not None and hi < 0:
        return "worse"
    return "same"


def build(results: Mapping[str, Any]) -> dict[str, Any]:
    """The template's context: every key present, derived values computed."""
    check(results)
    baseline = results["baseline"]
    arms = []
    for key, arm in results["arms"].items():
        q = arm.get("quality") or {}
        vs = arm.get("vs_baseline") if key != baseline else None
        eco = arm.get("economics") or {}
        prompt = arm.get("prompt") or {}
        arms.append({
            "key": key,
            "label": str(arm.get("label") or key),
            "model": arm.get("model"),
            "baseline": key == baseline,
            "quality": {k: q.get(k) for k in ("metric", "mean", "ci_low", "ci_high", "n", "unparseable")},
            "vs": None if not vs else {k: vs.get(k) for k in ("diff", "ci_low", "ci_high", "p_value", "test")},
            "vs_class": _verdict_class(vs),
            "tokens_in": (arm.get("tokens") or {}).get("input_mean"),
            "tokens_out": (arm.get("tokens") or {}).get("output_mean"),
            "cost_per_1k": arm.get("cost_per_1k_usd"),
            "monthly": arm.get("monthly_cost_usd"),
            "eco": {k: eco.get(k) for k in ("training_cost_usd", "training_cost_kind", "hosting_per_month_usd",
                                            "amortisation_months", "monthly_total_usd",
                                            "break_even_requests_per_month", "break_even_reason",
                                            "serving_floor_usd", "cheaper_below_requests_per_month",
                                            "unpriced_reason")},
            "cost_kind": arm.get("cost_kind"),
            "serving": _serving_view(arm.get("serving")),
            "p50": arm.get("latency_p50_s"),
            "p95": arm.get("latency_p95_s"),
            "calls": arm.get("calls"),
            "cached": arm.get("cached_calls"),
            "errors": arm.get("errors"),
            "prompt": {
                "description": prompt.get("description"),
                "messages": [{"role": str(m.get("role", "")), "content": _content(m.get("content"))}
                             for m in (prompt.get("example") or []) if isinstance(m, Mapping)],
                "tokens": prompt.get("input_tokens_example"),
            },
        })
    labels = {a["key"]: a["label"] for a in arms}

    items = []
    counts = {"wrong": 0, "disagree": 0}
    for i, item in enumerate(results["items"]):
        outputs = item.get("outputs") or {}
        outs = []
        for a in arms:
            o = outputs.get(a["key"])
            m = mark(o)
            outs.append({"arm": a["key"], "label": a["label"], "mark": m,
                         "symbol": MARK_SYMBOL[m], "mark_text": MARK_TEXT[m],
                         "text": _content((o or {}).get("text")),
                         "score": _num((o or {}).get("score")),
                         "cached": bool((o or {}).get("cached")),
                         "error": (o or {}).get("error"),
                         "judgment": _judgment_view((o or {}).get("judgment"))})
        ran = [o for o in outs if o["mark"] != "missing"]
        wrong = any(o["mark"] != "right" for o in ran)
        scores = {round(o["score"], 9) if o["score"] is not None else None for o in ran}
        disagree = len(scores) > 1
        counts["wrong"] += wrong
        counts["disagree"] += disagree
        items.append({"n": i + 1, "id": str(item.get("id", i + 1)), "input": _content(item.get("input")),
                      "expected": _content(item.get("expected")), "outputs": outs,
                      "wrong": wrong, "disagree": disagree})

    created = _date(results.get("created"))
    prices = []
    for p in results.get("prices") or []:
        as_of = _date(p.get("as_of"))
        age = (created - as_of).days if created and as_of else None
        prices.append({**{k: p.get(k) for k in ("model", "input_per_1m", "output_per_1m", "as_of", "source")},
                       "stale": age is not None and age > STALE_PRICE_DAYS, "age_days": age})

    prov = results.get("provenance") or {}
    data = []
    sets = prov.get("data") or {}
    order = {"train": 0, "eval": 1, "corpus": 2}  # results.json sorts keys; show them in pipeline order
    for name, d in sorted(sets.items(), key=lambda kv: (order.get(kv[0], 3), str(kv[0]))):
        if isinstance(d, Mapping):
            size = d.get("examples") if d.get("examples") is not None else d.get("documents")
            unit = "examples" if d.get("examples") is not None else "documents" if d.get("documents") is not None else ""
            data.append({"name": name, "path": d.get("path"), "sha256": d.get("sha256"), "size": size, "unit": unit})
    config = redact(prov.get("config") or {})

    training = results.get("training")
    task = results.get("task") or {}
    metric = results.get("metric") or {}
    return {
        "run_id": str(results["run_id"]),
        "created": str(results["created"]),
        "status": results.get("status") or "complete",
        "task": {"name": task.get("name"), "description": task.get("description")},
        "metric": {"name": metric.get("name"), "binary": bool(metric.get("binary")),
                   "description": metric.get("description"),
                   "evaluation": metric.get("evaluation")},
        "baseline": baseline,
        "baseline_label": labels[baseline],
        "requests_per_month": results.get("requests_per_month"),
        "verdict": results.get("verdict"),
        "arms": arms,
        "self_hosting": [dict(p) for p in results.get("self_hosting") or [] if isinstance(p, Mapping)],
        "items": items,
        "item_counts": {"all": len(items), **counts},
        "training": None if not training else {
            k: training.get(k) for k in ("job_id", "provider", "base_model", "model", "estimated_cost_usd",
                                         "actual_cost_usd", "wall_s", "tokens_per_s", "reused",
                                         "created_at")
        } | {"steps": len(training.get("loss_curve") or []),
             "learned": (training.get("learned") or {}).get("verdict"),
             "learned_reason": (training.get("learned") or {}).get("reason"),
             "tune_longer": training.get("tune_longer")},
        "prices": prices,
        "trivial": _trivial(results),
        "audit": _audit_view(results.get("audit")),
        "learning_curve": results.get("learning_curve"),
        "judge": _judge_view(results.get("judge"), labels),
        # no judge on a free-text run (the audit found no label set): the report shows how to add one
        "judge_empty": not isinstance(results.get("judge"), Mapping) and (
            (results.get("audit") or {}).get("labels") or {}).get("categorical") is False,
        "review": {"scale": review_scale(results), "file": f"human_labels-{results['run_id']}.csv"},
        "provenance": {
            "ftdecide_version": prov.get("ftdecide_version"),
            "python": prov.get("python"),
            "platform": prov.get("platform"),
            "plugins": dict(prov.get("plugins") or {}),
            "command": prov.get("command"),
            "config_text": (json.dumps(config, indent=2, ensure_ascii=False, sort_keys=True, default=str)
                            if config else None),  # sorted, as in results.json
            "data": data,
        },
    }


def _serving_view(serving: Any) -> dict[str, Any] | None:
    """An arm's self-hosted serving block, every key present (None for a hosted arm)."""
    if not isinstance(serving, Mapping):
        return None
    keys = ("hardware", "usd_per_hour", "utilization", "min_instances", "max_instances",
            "throughput_source", "throughput_detail", "throughput_kind", "tokens_per_s", "instances", "instances_needed",
            "fixed_monthly_usd", "over_capacity", "capacity_requests_per_month", "rate_as_of",
            "rate_source", "unpriced_reason")
    view = {k: serving.get(k) for k in keys}
    view["tokens_per_s"] = dict(serving.get("tokens_per_s") or {})
    return view


def _content(value: Any) -> str:
    """Message content as text: strings as they are, structured parts as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # OpenAI content parts
        texts = [p.get("text") for p in value if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
        if len(texts) == len(value):
            return "\n".join(texts)
    return json.dumps(value, ensure_ascii=False, default=str)


def _trivial(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trivial baselines shown under the arms: majority label and guessing, and on free
    text copying the input (with its interval)."""
    labels = (results.get("audit") or {}).get("labels") or {}
    rows = []
    if _num(labels.get("majority_rate")) is not None:
        label = labels.get("majority_label")
        how = f"always answers {label!r}" if isinstance(label, str) else \
            "always answers the most common training answer"
        rows.append({"label": "majority", "how": how, "rate": labels["majority_rate"],
                     "kind": "blind", "ci_low": None, "ci_high": None})
    if _num(labels.get("chance_rate")) is not None:
        rows.append({"label": "guessing", "how": "picks a training label at random",
                     "rate": labels["chance_rate"], "kind": "blind", "ci_low": None, "ci_high": None})
    for t in results.get("trivial") or []:  # free text: copying the input
        if isinstance(t, Mapping) and _num(t.get("mean")) is not None:
            rows.append({"label": str(t.get("name") or "trivial"), "how": str(t.get("how") or ""),
                         "rate": t["mean"], "kind": "copy", "ci_low": _num(t.get("ci_low")),
                         "ci_high": _num(t.get("ci_high"))})
    return rows


def _scale_name(value: Any) -> str | None:
    """``"5"`` or ``"pass-fail"`` for a judge's ``scale`` setting, ``None`` when unknown."""
    text = str(value).strip().lower().replace("_", "-").replace(" ", "") if value is not None else ""
    if text in ("5", "1-5", "5.0"):
        return "5"
    if text in ("pass-fail", "passfail", "pass/fail", "binary", "2"):
        return "pass-fail"
    return None


def review_scale(results: Mapping[str, Any]) -> str:
    """The scale review mode starts on: the run's judge scale when it has one, else pass/fail.

    A person's marks are meant to calibrate the judge, so they must be on its
    scale; the judge block in the results is read first, then the config.
    """
    judge = results.get("judge")
    config = ((results.get("provenance") or {}).get("config") or {}).get("judge")
    for block in (judge, config):
        if isinstance(block, Mapping) and (scale := _scale_name(block.get("scale"))):
            return scale
    return "pass-fail"


def _audit_view(audit: Any) -> dict[str, Any] | None:
    if not isinstance(audit, Mapping) or not isinstance(audit.get("counts"), Mapping):
        return None
    view = dict(audit)
    pairs = [*(audit.get("leaked") or []), *(audit.get("near_leaked") or [])]
    view["leak_pairs"] = [f"{p.get('eval')} ↔ {p.get('train')}" for p in pairs[:10]]
    view["settings"] = {"near_threshold": None, **(audit.get("settings") or {})}
    view["power"] = {"n": None, "alpha": None, "power": 0.8, "baseline_rate": None,
                     "measured_n": None, "measured_baseline_rate": None, **(audit.get("power") or {})}
    view["labels"] = {"categorical": False, "kind": None, "metric": None, "distance": None,
                      "shifted": False, "unseen_in_train": [], **(audit.get("labels") or {})}
    view["counts"] = {k: 0 for k in ("train_examples", "eval_examples", "leaked", "near_leaked",
                                     "conflicts_train", "conflicts_train_eval",
                                     "near_duplicate_pairs", "exact_duplicate_pairs")} | dict(
        audit["counts"])
    view.setdefault("excluded", [])
    view.setdefault("leaks_in_run", 0)
    view.setdefault("min_detectable_diff", None)
    return view


def _judgment_view(judgment: Any) -> dict[str, Any] | None:
    """One grader judgment for the drill-down: score, reason, raw reply, its prompt."""
    if not isinstance(judgment, Mapping):
        return None
    prompt = [{"role": str(m.get("role", "")), "content": _content(m.get("content"))}
              for m in (judgment.get("prompt") or []) if isinstance(m, Mapping)]
    pair = judgment.get("pairwise") if isinstance(judgment.get("pairwise"), Mapping) else None
    score = judgment.get("score")
    return {"parsed": judgment.get("parsed"),
            "score": ("PASS" if score == 1 else "FAIL") if judgment.get("scale") == "pass-fail"
            else score,
            "value": _num(judgment.get("value")), "reason": judgment.get("reason"),
            "raw": _content(judgment.get("raw")), "prompt": prompt,
            "pairwise": None if pair is None else {
                "outcome": pair.get("outcome") or "unparseable",
                "arm_first": (pair.get("arm_first") or {}).get("winner") or "unparseable",
                "baseline_first": (pair.get("baseline_first") or {}).get("winner") or "unparseable",
                "raw_arm_first": _content((pair.get("arm_first") or {}).get("raw")),
                "raw_baseline_first": _content((pair.get("baseline_first") or {}).get("raw"))}}


def _judge_view(judge: Any, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """The judge section: who judged, how far people agree with it, what it cost."""
    if not isinstance(judge, Mapping):
        return None
    agree = judge.get("agreement") if isinstance(judge.get("agreement"), Mapping) else None
    pairwise = []
    for arm, p in (judge.get("pairwise_results") or {}).items():
        if isinstance(p, Mapping):
            pairwise.append({"label": labels.get(arm, arm), **{k: p.get(k) for k in (
                "wins", "losses", "ties", "unparseable", "n", "win_rate", "ci_low", "ci_high")}})
    by_arm = [{"label": labels.get(a, a), "count": n}
              for a, n in (judge.get("unparseable_by_arm") or {}).items() if n]
    return {"model": judge.get("model"), "scale": judge.get("scale"),
            "rubric": judge.get("rubric"), "calibrated": bool(judge.get("calibrated")),
            "threshold": judge.get("kappa_threshold", 0.6),
            "agreement": None if agree is None else {
                "percent_ci": None, "kappa_ci": None, "constant_baseline_ci": None,
                "kappa_weights": None, **agree},
            "human_labels": judge.get("human_labels"),
            "unparseable": judge.get("unparseable") or 0, "unparseable_by_arm": by_arm,
            "calls": judge.get("calls"), "cached_calls": judge.get("cached_calls"),
            "evaluation_cost_usd": judge.get("evaluation_cost_usd"),
            "pairwise": pairwise}
