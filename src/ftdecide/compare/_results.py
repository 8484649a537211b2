"""The results mapping (``results.json``, the schema the report renders).

:func:`assemble` puts together per arm: quality with its interval and
paired test (:mod:`ftdecide.compare._scoring`), tokens, cost per request,
monthly cost and break-even (:mod:`ftdecide.compare._economics`), latency
and the prompt; then the training block, the prices used, the provenance
(versions, config, data hashes) and the verdict
(:mod:`ftdecide.compare._verdict`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
from pathlib import Path
from typing import Any, Mapping

from ftdecide.compare import _distill
from ftdecide.compare._arms import ArmPlan, Prepared
from ftdecide.compare._config import ARM_LABELS, TUNED_ARMS
from ftdecide.compare._copybase import copy_baseline
from ftdecide.compare._economics import (
    _amortisation_months,
    _price_as_note,
    _priced_as,
    _training_cost_as,
    arm_economics,
    compare_costs,
)
from ftdecide.compare._runner import RunOutcome
from ftdecide.compare._scoring import RESAMPLES, score_run
from ftdecide.compare._verdict import verdict
from ftdecide.pricing._catalog import Catalog
from ftdecide.pricing._serving import UNPRICED_SELF_HOSTED, is_self_hosted, serving_costs
from ftdecide.providers import ModelInfo
from ftdecide.tune._learned import learned, tune_longer_hint

SCHEMA = 1


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def _price_entry(info: ModelInfo, *, self_hosted: bool = False) -> dict[str, Any]:
    if self_hosted:
        return {"model": info.key, "input_per_1m": None, "cached_input_per_1m": None,
                "output_per_1m": None, "training_per_1m": None, "hosting_per_hour": None,
                "shutdown": None, "as_of": None, "kind": "self-hosted",
                "source": "self-hosted: priced in hardware time, not per token (see serving)"}
    return {"model": info.key, "input_per_1m": info.input_per_1m,
            "cached_input_per_1m": info.cached_input_per_1m, "output_per_1m": info.output_per_1m,
            "training_per_1m": info.training_per_1m, "hosting_per_hour": info.hosting_per_hour,
            "shutdown": info.shutdown.isoformat() if info.shutdown else None,
            "as_of": info.as_of.isoformat() if info.as_of else None, "source": info.source}


def _versions() -> dict[str, str]:
    """ftdecide's version and each loaded plugin's distribution and version."""
    from importlib import metadata

    from ftdecide.plugins import get_registry

    try:
        out = {"ftdecide": metadata.version("ftdecide")}
    except metadata.PackageNotFoundError:
        out = {"ftdecide": "unknown"}
    for rec in get_registry().plugin_records():
        name = rec.distribution or rec.name
        if name and rec.version:
            out[str(name)] = str(rec.version)
    return out


def assemble(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome, metric: Any, *,
             run_id: str, created: str, command: str, catalog: Catalog,
             training: dict[str, Any] | None, complete: bool,
             audit: dict[str, Any] | None = None, store: Any = None,
             judge: dict[str, Any] | None = None, distillation: Any = None) -> dict[str, Any]:
    """The results mapping (``results.json``; the schema the report renders).

    ``store`` caches what scoring calls (``similarity``'s embeddings); their
    usage and cost go to ``metric.evaluation`` and ``evaluation_cost_usd``,
    never into an arm's serving cost. ``judge`` is the judge block
    (:meth:`JudgeMetric.results <ftdecide.compare._judge_run.JudgeMetric.results>`): its
    agreement with people and its evaluation cost, which ``evaluation_cost_usd`` includes.
    ``distillation`` is the distillation phase's outcome (the teacher's labels, the student).
    """
    config = prep.config
    scored, items_out = score_run(prep, plans, outcome, metric, baseline=config.baseline,
                                  seed=config.seed, store=store)
    today = _dt.date.fromisoformat(created[:10])
    from ftdecide.compare import _stats as stats

    arms: dict[str, Any] = {}
    cpr: dict[str, float | None] = {}
    price_info = catalog.resolve(config.price_as) if config.price_as else None
    for arm, plan in plans.items():
        done = [it.id for it in prep.items if (arm, it.id) in outcome.results]
        res = [outcome.results[(arm, i)] for i in done]
        n = len(res)
        tuned = arm in TUNED_ARMS or arm == "distilled"  # the student is a tuned model too
        tokens_mean = {"input_mean": (sum(r.input_tokens for r in res) / n) if n else None,
                       "output_mean": (sum(r.output_tokens for r in res) / n) if n else None}
        serving_spec = config.arm_serving.get(arm)
        self_hosted = serving_spec is not None or is_self_hosted(plan.info.provider, plan.provider)
        if self_hosted and serving_spec is None:
            serving_spec = config.serving
        serving = None
        unpriced = None
        if price_info is not None:
            cost_per_request = _priced_as(price_info, tuned,
                                          [(plan.messages[i], outcome.results[(arm, i)].text) for i in done])
            kind = f"price_as {price_info.key}"
        elif self_hosted and serving_spec is not None and n:
            serving = serving_costs(serving_spec, model=plan.info.key,
                                    parameters=plan.info.parameters,
                                    tokens_in=tokens_mean["input_mean"] or 0.0,
                                    tokens_out=tokens_mean["output_mean"] or 0.0,
                                    requests_per_month=config.requests_per_month)
            cost_per_request = serving["cost_per_request_usd"]
            unpriced = serving.get("unpriced_reason")
            kind = "self-hosted hardware time"
        elif self_hosted:
            cost_per_request = None
            unpriced = UNPRICED_SELF_HOSTED
            kind = "self-hosted (unpriced)"
        else:
            costs_known = [r.cost_usd for r in res if r.cost_usd is not None]
            cost_per_request = (sum(costs_known) / n) if n and len(costs_known) == n else None
            kind = "hosted price"
        cpr[arm] = cost_per_request
        training_cost = 0.0
        training_kind = None
        cost_info = price_info or plan.info
        if arm in TUNED_ARMS and price_info is not None:
            training_cost = _training_cost_as(price_info, config.train)
            training_kind = "estimated"
        elif arm in TUNED_ARMS and training and arm not in config.arm_models:
            actual = training.get("actual_cost_usd")
            training_cost = float(actual if actual is not None else training.get("estimated_cost_usd") or 0.0)
            training_kind = "actual" if actual is not None else "estimated"
        labelling_unpriced = False
        if arm == "distilled" and distillation is not None:
            # the student's training is its tune plus the teacher's labelling calls
            student_cost, training_kind = _distill.student_training_cost(distillation)
            labelling_unpriced = student_cost is None
            if price_info is not None:
                training_cost = (_training_cost_as(price_info, distillation.block["train_file"])
                                 + float(distillation.labelling_cost_usd or 0.0))
                training_kind = "estimated tune + recorded labelling"
            else:
                training_cost = float(student_cost or 0.0)
        econ = arm_economics(cost_per_request, requests_per_month=config.requests_per_month,
                             training_cost_usd=training_cost,
                             hosting_per_hour=cost_info.hosting_per_hour if tuned else None,
                             amortisation_months=_amortisation_months(cost_info, today),
                             serving=serving if price_info is None else None)
        econ["training_cost_kind"] = training_kind
        econ["cost_kind"] = kind
        if unpriced:
            econ["unpriced_reason"] = unpriced
        if arm == "distilled" and distillation is not None:
            econ["labelling_cost_usd"] = distillation.labelling_cost_usd
            if labelling_unpriced:  # never a $0 label cost when the teacher has no price
                econ["training_cost_usd"] = None
                econ["monthly_total_usd"] = None
        if price_info is not None:
            econ["priced_as"] = price_info.key
        first = prep.items[0].id
        example = plan.messages[first]
        from ftdecide.data import _tokens as tokens

        arms[arm] = {
            "label": ARM_LABELS[arm],
            "model": plan.info.key,
            "quality": scored["quality"][arm],
            "vs_baseline": scored["vs_baseline"][arm],
            "tokens": tokens_mean,
            "cost_per_1k_usd": None if cost_per_request is None else cost_per_request * 1000,
            "monthly_cost_usd": econ["monthly_inference_usd"],
            "economics": econ,
            "cost_kind": kind,
            "serving": None if serving is None else _serving_block(serving),
            "latency_p50_s": stats.percentile([r.latency_s for r in res], 50),
            "latency_p95_s": stats.percentile([r.latency_s for r in res], 95),
            "calls": n,
            "cached_calls": sum(1 for r in res if r.from_cache),
            "errors": len(prep.items) - n,
            "prompt": {"description": plan.description, "example": example,
                       "input_tokens_example": tokens.count_messages(example)},
        }
    base_econ = arms[config.baseline]["economics"]
    for arm in arms:
        econ = arms[arm]["economics"]
        if arm == config.baseline:
            econ["break_even_requests_per_month"] = None
            econ["break_even_reason"] = "baseline"
            continue
        if econ["training_cost_usd"] is None or base_econ["training_cost_usd"] is None:
            econ["break_even_requests_per_month"] = None
            econ["break_even_reason"] = "unpriced: the teacher's labelling has no price"
            econ["cheaper_below_requests_per_month"] = None
            continue
        found = compare_costs(econ, base_econ, cpr[arm], cpr[config.baseline])
        econ["break_even_requests_per_month"] = found["above"]
        econ["break_even_reason"] = found["reason"]
        econ["cheaper_below_requests_per_month"] = found["below"]
    pairs = self_hosting_pairs(arms, cpr)
    # models served on the user's hardware have no per-token price to list (not $0)
    served = {a["model"] for a in arms.values() if str(a.get("cost_kind")).startswith("self-hosted")}
    infos = {plan.info.key: plan.info for plan in plans.values()}
    if price_info is not None:
        infos[price_info.key] = price_info
    if judge is not None:  # the evaluation cost is priced too; list the judge's prices
        judge_info = catalog.resolve(judge["model"])
        infos.setdefault(judge_info.key, judge_info)
    data_prov: dict[str, Any] = {
        "train": {"path": config.train, "sha256": _sha256(config.train), "examples": len(prep.train)},
        "eval": {"path": config.eval, "sha256": _sha256(config.eval), "examples": len(prep.items)},
    }
    if config.corpus:
        data_prov["corpus"] = {"path": config.corpus, "sha256": _sha256(config.corpus),
                               "documents": prep.corpus_documents}
    versions = _versions()
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "run_id": run_id,
        "created": created,
        "status": "complete" if complete else "partial",
        "task": {"name": config.task or Path(config.eval).parent.name or "task",
                 **({"description": _price_as_note(price_info)} if price_info else {})},
        "metric": {"name": metric.name, "binary": bool(getattr(metric, "binary", False)),
                   "description": getattr(metric, "description", ""),
                   "evaluation": scored.get("evaluation")},
        # what scoring itself cost (embeddings; the judge's calls below), apart from the arms'
        # serving cost; None when unknown, 0 when scoring called nothing paid
        "evaluation_cost_usd": (scored["evaluation"] or {}).get("cost_usd", 0.0)
        if scored.get("evaluation") else 0.0,
        "baseline": config.baseline,
        "requests_per_month": config.requests_per_month,
        "arms": arms,
        "self_hosting": pairs,
        "training": training,
        "items": items_out,
        "prices": [_price_entry(i, self_hosted=i.key in served) for i in infos.values()],
        "provenance": {
            "ftdecide_version": versions["ftdecide"],
            "python": platform.python_version(),
            "platform": f"{platform.system()}-{platform.machine()}",
            "plugins": {k: v for k, v in versions.items() if k != "ftdecide"},
            "command": command,
            "config": config.to_dict(),
            "data": data_prov,
        },
    }
    # what copying the input scores (free-text reference metrics): a floor beside the
    # categorical ones of the audit, which the verdict's floor caveat reads too
    results["trivial"] = copy_baseline(
        prep.items, metric, seed=config.seed, resamples=RESAMPLES,
        run_pairs=[(it.expected, outcome.results[(arm, it.id)].text) for it in prep.items
                   for arm in plans if (arm, it.id) in outcome.results])
    if audit is not None:
        results["audit"] = _with_measured_power(audit, results)
    if judge is not None:
        results["judge"] = judge
        # the run's evaluation cost is all scoring cost: the judge's calls and any embeddings
        # (unknown when either is unknown, never $0)
        spent = (results["evaluation_cost_usd"], judge.get("evaluation_cost_usd"))
        results["evaluation_cost_usd"] = None if None in spent else sum(spent)
    if distillation is not None:
        results["distillation"] = _distill.results_block(
            distillation, items_out, binary=bool(getattr(metric, "binary", False)),
            seed=config.seed, training_block=_training_block)
        if "distilled" in arms:  # the figure the economics use (price_as re-prices the tune)
            econ = arms["distilled"]["economics"]
            results["distillation"]["student_training_cost_usd"] = econ["training_cost_usd"]
            results["distillation"]["student_training_cost_kind"] = econ["training_cost_kind"]
        if config.inputs:
            data_prov["inputs"] = {"path": distillation.block["inputs_file"],
                                   "sha256": _sha256(distillation.block["inputs_file"]),
                                   "examples": distillation.block.get("inputs")}
    results["verdict"] = verdict(results)
    return results


def _serving_block(serving: Mapping[str, Any]) -> dict[str, Any]:
    """The ``serving`` of an arm in results and ``--json``."""
    keys = ("hardware", "usd_per_hour", "rate_as_of", "rate_source", "utilization",
            "min_instances", "max_instances", "throughput_source", "throughput_detail", "throughput_kind",
            "tokens_per_s", "busy_seconds_per_request", "instances", "instances_needed",
            "fixed_monthly_usd", "over_capacity", "capacity_requests_per_month",
            "requests_per_month_per_instance", "floor_requests_per_month", "kind",
            "unpriced_reason")
    return {k: serving.get(k) for k in keys if k in serving}


def self_hosting_pairs(arms: Mapping[str, Any], cpr: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Break-even between every self-hosted arm and every hosted arm (whatever the baseline).

    ``above``: the volume from which self-hosting is cheaper; below it the fixed floor
    (``min_instances`` all month) makes self-hosting dearer.
    """
    out = []
    for s_name, s_arm in arms.items():
        if not s_arm.get("serving") or cpr.get(s_name) is None:
            continue
        for h_name, h_arm in arms.items():
            if h_arm.get("cost_kind") != "hosted price" or cpr.get(h_name) is None:
                continue
            found = compare_costs(s_arm["economics"], h_arm["economics"], cpr[s_name], cpr[h_name])
            out.append({"self_hosted": s_name, "hosted": h_name,
                        "self_hosted_model": s_arm["model"], "hosted_model": h_arm["model"],
                        "hardware": s_arm["serving"]["hardware"],
                        "break_even_requests_per_month": found["above"],
                        "cheaper_below_requests_per_month": found["below"],
                        "fixed_monthly_usd": s_arm["serving"]["fixed_monthly_usd"],
                        "reason": found["reason"]})
    return out


def _with_measured_power(audit: dict[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """The audit with the power the run actually had: the minimum detectable difference
    for the scored items at the baseline's measured rate (the audit's own figure assumed a
    rate before anything was measured)."""
    import ftdecide.data as data

    out = dict(audit)
    base = (results["arms"].get(results["baseline"]) or {}).get("quality") or {}
    mean, n = base.get("mean"), base.get("n")
    if isinstance(n, int) and n > 0 and mean is not None:
        mdd = data.min_detectable_diff(n, min(float(mean), 0.999))
        out["power"] = {**(audit.get("power") or {}), "measured_baseline_rate": mean,
                        "measured_n": n, "min_detectable_diff_measured": mdd}
        out["min_detectable_diff"] = mdd
    return out


def _training_block(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The report's view of a tune job (schema: ``training``)."""
    curve = []
    for row in summary.get("loss_curve") or []:
        step = row.get("step")
        if step is None:
            continue
        curve.append({"step": step, "train_loss": row.get("train_loss", row.get("loss")),
                      "valid_loss": row.get("valid_loss", row.get("eval_loss"))})
    return {"job_id": summary.get("job_id"), "provider": summary.get("provider"),
            "base_model": summary.get("base_model"), "model": summary.get("model"),
            "status": summary.get("status"),
            "estimated_cost_usd": summary.get("estimated_cost_usd"),
            "actual_cost_usd": summary.get("actual_cost_usd"),
            "wall_s": summary.get("wall_s"), "tokens_per_s": summary.get("tokens_per_s"),
            "loss_curve": curve,
            "reused": bool(summary.get("reused")),
            "created_at": summary.get("created_at"),
            "tune_key": summary.get("tune_key"),
            "learned": summary.get("learned") or learned(curve),
            "tune_longer": tune_longer_hint(summary)}
