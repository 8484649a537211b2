"""``compare``: run every arm on the eval set and turn the answers into evidence.

This module orchestrates a run: load and check the data
(:mod:`ftdecide.compare._arms`) → build every arm's prompts and plans →
train the tuned model if the config asks for it (the job id goes into the
run state first, so a resumed run resumes the job rather than paying again)
→ send the calls through :mod:`ftdecide.compare._runner` (recorded one by
one, cached) → the results mapping (:mod:`ftdecide.compare._results`:
scores with intervals and paired tests, economics, verdict), stored with
the run. It also holds what the CLI reads off a run: :func:`dry_run` (the
calls and their predicted cost), :func:`fail_under` (the CI gates) and
:func:`result_json` (the ``--json`` contract).

Everything that goes into the report is in the results mapping, and the
results are stored with the run, so ``ftdecide report RUN`` re-renders
without calling anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftdecide.compare import _distill
from ftdecide.compare._arms import make_plans, plan_calls
from ftdecide.compare._config import DISTILL_ARMS, TUNED_ARMS, CompareConfig
from ftdecide.compare._economics import cost_of
from ftdecide.compare._preflight import (
    check_budget,
    embedding_forecast,
    judge_forecast,
    pending,
    preflight,
)
from ftdecide.compare._results import _training_block, assemble
from ftdecide.compare._runner import Runner, RunOutcome
from ftdecide.compare._runstore import RunStore
from ftdecide.errors import UsageError
from ftdecide.pricing._catalog import Catalog


@dataclass
class CompareResult:
    run_id: str
    results: dict[str, Any]
    outcome: RunOutcome
    report_dir: Path | None = None
    judge_outcome: RunOutcome | None = None
    """The judge phase's calls (None without a judge, or when the arms did not finish)."""

    @property
    def budget_stopped(self) -> bool:
        return self.outcome.budget_stopped or bool(self.judge_outcome
                                                   and self.judge_outcome.budget_stopped)


TrainFn = Callable[[CompareConfig, dict[str, Any]], dict[str, Any]]


def run(config: CompareConfig, *, catalog: Catalog, store: RunStore, command: str = "",
        resume: str | None = None, use_cache: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
        train: TrainFn | None = None,
        on_run_id: Callable[[str], None] | None = None, retrain: bool = False) -> CompareResult:
    """Run (or resume) a comparison; returns the results (also stored with the run).

    ``retrain``: start a new fine-tune even when a finished job has the same data and
    settings (it is reused otherwise, and costs this run nothing).

    ``train(config, state)`` trains the tuned model when the config has
    ``tune:``; it must record its job id in ``state['job_id']`` (persisted by
    the caller through ``store``) before training, and return the training
    summary (``tune.summary``).
    """
    record = store.get_run(resume) if resume else None
    pf = preflight(config, catalog=catalog, state=record.state if record else None,
                   retrain=retrain)
    recorded = store.calls(resume) if resume else {}
    to_send = pending(pf.calls, store if use_cache else None, recorded)
    judging = judge_forecast(pf, config, store if use_cache else None, recorded)
    embedding = embedding_forecast(pf, config, store if use_cache else None, recorded)
    check_budget(pf, config, to_send, judging.floor_usd if judging else 0.0, embedding)
    if config.learning_curve:  # every subset checked (size, data, budget) before any spend
        from ftdecide.compare import _curve as curve

        curve.check_budget(curve.plan_points(config, pf.prep, catalog), config,
                           pf.tune_cost_usd + sum(c.min_cost_usd for c in to_send))
    metric, prep = pf.metric, pf.prep
    if record is not None:
        run_id = record.id
        state = dict(record.state)
        created = record.created_at
        store.update_run(run_id, status="running")
    else:
        record = store.create_run(config=config.to_dict(), command=command)
        run_id, state, created = record.id, {}, record.created_at
    if on_run_id is not None:
        on_run_id(run_id)
    training: dict[str, Any] | None = state.get("training")
    tuned_model = config.tuned
    distilled: _distill.Distillation | None = None

    def save_state(**changes: Any) -> None:
        state.update(changes)
        store.update_run(run_id, state=state)

    try:
        if _distill.wanted(config):  # the teacher labels before any tune
            distilled = _distill.run(config, pf.prep, catalog=catalog, store=store,
                                     run_id=run_id, state=state, save=save_state, train=train,
                                     use_cache=use_cache, progress=progress, cost_of=cost_of)
        gold = _distill.gold_tune_wanted(config)
        stopped = bool(distilled and distilled.outcome and distilled.outcome.budget_stopped)
        if gold and not stopped and (training is None or training.get("status") != "succeeded"):
            if train is None:
                raise UsageError("this run needs a fine-tune (tune:) but no trainer was given")
            training = train(config, {"state": state, "save": save_state})
            state["training"] = training
            store.update_run(run_id, state=state)
        if training is not None and gold:
            tuned_model = training.get("model")
        core = tuple(a for a in config.arms if a not in DISTILL_ARMS
                     and (tuned_model or a not in TUNED_ARMS))  # a budget stop: no tune paid
        plans = make_plans(catalog, replace(config, arms=core), pf.prompts, tuned_model)
        plans.update(_distill.arm_plans(catalog, config, pf.prep,
                                        distilled.student_model if distilled else None))
        plans = {a: plans[a] for a in config.arms if a in plans}
        calls = plan_calls(plans, config)
        budget = config.max_cost_usd
        if budget is not None:
            # the run's budget covers the labelling and the fine-tunes it paid for, then the calls
            budget = max(0.0, budget - _paid(training if gold else None)
                         - (_paid(distilled.training) if distilled else 0.0)
                         - (distilled.outcome.spent_usd if distilled and distilled.outcome else 0.0)
                         # the embeddings are scored after the calls: their upper bound is kept
                         - ((embedding.predicted_cost_usd or 0.0) if embedding else 0.0))
        runner = Runner(store, run_id, concurrency=config.concurrency,
                        max_cost_usd=budget, use_cache=use_cache,
                        batch_api=config.batch, progress=progress, cost_of=cost_of)
        outcome = runner.run(calls)
        judge_outcome = None
        if pf.judge is not None and not outcome.budget_stopped:
            # the second phase: the grader judges the answers (its own calls, same run)
            from ftdecide.compare._judge_run import JudgeMetric, run_phase

            left = None if budget is None else max(0.0, budget - outcome.spent_usd)
            judge_calls, judge_outcome = run_phase(
                pf.judge, prep, tuple(plans), config.baseline, outcome, store=store,
                run_id=run_id, budget=left, use_cache=use_cache, batch=config.batch,
                concurrency=config.concurrency, progress=progress, cost_of=cost_of)
            metric = JudgeMetric(pf.judge.spec, judge_calls, judge_outcome)
        if distilled is not None and distilled.outcome is not None:
            labelling = distilled.outcome
            outcome.budget_stopped = outcome.budget_stopped or labelling.budget_stopped
            outcome.skipped += labelling.skipped
            outcome.new_calls += labelling.new_calls
            outcome.cached_calls += labelling.cached_calls
            outcome.resumed_calls += labelling.resumed_calls
            outcome.spent_usd += labelling.spent_usd
    except KeyboardInterrupt:
        store.update_run(run_id, status="interrupted", state=state)
        raise
    except BaseException:
        store.update_run(run_id, status="failed", state=state)
        raise
    complete = (not outcome.budget_stopped and outcome.skipped == 0
                and all(a in plans for a in config.arms))
    judge = None
    if pf.judge is not None:
        complete = complete and judge_outcome is not None and not judge_outcome.budget_stopped \
            and judge_outcome.skipped == 0
        judge = metric.results(pf.judge, prep, tuple(plans), config.baseline, seed=config.seed)
    try:  # scoring may call a provider too (similarity's embeddings): a failure there is a
        # failed run that --resume finishes, its answers and cached vectors kept
        results = assemble(prep, plans, outcome, metric, run_id=run_id, created=created,
                           command=command or record.command, catalog=catalog,
                           training=_training_block(training) if training else None,
                           complete=complete, audit=pf.audit, store=store, judge=judge,
                           distillation=distilled)
        if config.learning_curve:
            left = None if budget is None else max(0.0, budget - outcome.spent_usd)
            results["learning_curve"] = _learning_curve(
                config, pf, results, catalog=catalog, store=store, run_id=run_id, state=state,
                train=train, left=left, use_cache=use_cache, progress=progress)
            if any(p.get("skipped") for p in results["learning_curve"]["points"]):
                complete = False  # the budget stopped the curve: --resume continues it
                results["status"] = "partial"
    except KeyboardInterrupt:
        store.update_run(run_id, status="interrupted", state=state)
        raise
    except BaseException:
        store.update_run(run_id, status="failed", state=state)
        raise
    store.update_run(run_id, status="complete" if complete else "stopped", state=state,
                     results=results)
    return CompareResult(run_id=run_id, results=results, outcome=outcome,
                         judge_outcome=judge_outcome)


def _learning_curve(config: CompareConfig, pf: Any, results: dict[str, Any], *, catalog: Catalog,
                    store: RunStore, run_id: str, state: dict[str, Any], train: TrainFn | None,
                    left: float | None, use_cache: bool,
                    progress: Callable[[str, int, int], None] | None) -> dict[str, Any]:
    """The learning curve (:mod:`ftdecide.compare._curve`): the full-size point is the
    ``finetuned`` arm just scored; the smaller ones are trained and scored here."""
    from ftdecide.compare import _curve as curve

    if train is None:
        raise UsageError("learning_curve needs a trainer (tune:) but none was given")
    full = {"examples": len(pf.prep.train), "training": results.get("training"),
            "scores": {row["id"]: row["outputs"]["finetuned"]["score"] for row in results["items"]
                       if row["outputs"].get("finetuned", {}).get("score") is not None},
            "baseline": {"arm": results["baseline"],
                         **{k: results["arms"][results["baseline"]]["quality"][k]
                            for k in ("mean", "ci_low", "ci_high")}}}

    def save() -> None:
        store.update_run(run_id, state=state)

    def make_runner(budget: float | None) -> Runner:
        return Runner(store, run_id, concurrency=config.concurrency, max_cost_usd=budget,
                      use_cache=use_cache, batch_api=config.batch, progress=progress,
                      cost_of=cost_of)

    return curve.run_curve(config, pf.prep, catalog=catalog, store=store, run_id=run_id,
                           state=state, save=save, train=train, make_runner=make_runner,
                           metric=pf.metric, messages=pf.prompts["finetuned"]["messages"],
                           full=full, budget_left=left)


def _paid(training: Mapping[str, Any] | None) -> float:
    """What a tune cost this run: its actual (else estimated) cost, nothing when reused."""
    if not training or training.get("reused"):
        return 0.0
    paid = training.get("actual_cost_usd")
    if paid is None:
        paid = training.get("estimated_cost_usd")
    return float(paid or 0.0)


def dry_run(config: CompareConfig, *, catalog: Catalog, store: RunStore | None = None,
            resume: str | None = None, retrain: bool = False) -> dict[str, Any]:
    """The calls a run would make and their predicted cost; calls nothing, trains nothing.

    It runs the real run's :func:`preflight` and budget check, so it fails
    exactly when the real run would fail before its first call.
    """
    record = store.get_run(resume) if (store is not None and resume) else None
    pf = preflight(config, catalog=catalog, state=record.state if record else None,
                   retrain=retrain)
    prep, calls = pf.prep, pf.calls
    recorded = store.calls(resume) if (store is not None and resume) else {}
    judging = judge_forecast(pf, config, store, recorded)
    embedding = embedding_forecast(pf, config, store, recorded)
    check_budget(pf, config, pending(calls, store, recorded),
                 judging.floor_usd if judging else 0.0, embedding)
    by_arm: dict[str, dict[str, Any]] = {}
    for c in calls:
        a = by_arm.setdefault(c.arm, {"model": c.info.key, "calls": 0, "cached": 0, "recorded": 0,
                                      "predicted_cost_usd": 0.0})
        if (c.arm, c.item) in recorded:
            a["recorded"] += 1
        elif store is not None and store.cached(c.key) is not None:
            a["cached"] += 1
        else:
            a["calls"] += 1
            a["predicted_cost_usd"] += c.predicted_cost_usd
    for arm in config.arms:
        if arm not in by_arm:
            by_arm[arm] = {"model": "(tuned inside the run)", "calls": len(prep.items), "cached": 0,
                           "recorded": 0, "predicted_cost_usd": None}
    labelling = by_arm.pop(_distill.LABEL_ARM, None)
    total = (sum(a["predicted_cost_usd"] or 0.0 for a in by_arm.values()) + pf.tune_cost_usd
             + (labelling["predicted_cost_usd"] if labelling else 0.0) + pf.student_cost_usd)
    judge = None
    if judging is not None:
        # the evaluation cost, named apart from the arms' (it is in the total the budget sees)
        judge = {"model": judging.model, "calls": judging.calls, "cached": judging.cached,
                 "recorded": judging.recorded, "predicted_cost_usd": judging.predicted_cost_usd}
        total += judging.predicted_cost_usd or 0.0
    if embedding is not None:
        # the similarity metric's embeddings: evaluation cost too (TF-IDF: offline, free)
        total += embedding.predicted_cost_usd or 0.0
    curve_points = None
    if config.learning_curve:
        from ftdecide.compare import _curve as curve

        curve_points = curve.plan_points(config, prep, catalog)
        curve.check_budget(curve_points, config, pf.tune_cost_usd + sum(
            c.min_cost_usd for c in pending(calls, store, recorded)))
        total += sum(p["new_cost_usd"] or 0.0 for p in curve_points)
    tune = None
    if pf.planned_tune is not None:
        p = pf.planned_tune
        tune = {"model": p.info.key, "action": "new", "job_id": None,
                "estimate": p.estimate, "options": p.options,
                "hyperparameters": p.hyperparameters, "warnings": p.warnings,
                "new_cost_usd": pf.tune_cost_usd}
        if pf.previous is not None:
            r = pf.previous.record
            tune.update(action=pf.previous.action, job_id=r.id, message=pf.previous.message(),
                        trained_at=r.created_at, tuned_model=r.fine_tuned_model)
    distillation = None
    if labelling is not None:
        student = pf.student
        if student is None and not ((record.state if record else {}).get("distill") or {}).get(
                "job_id"):
            student = {"training_cost_usd": None,
                       "basis": "unknown until the teacher has answered the inputs"}
        distillation = {"teacher": labelling["model"], "labelling": labelling,
                        "student": student}
    return {"arms": {a: by_arm[a] for a in config.arms}, "items": len(prep.items),
            "predicted_cost_usd": total, "tune": tune, "judge": judge,
            "similarity": embedding.to_dict() if embedding is not None else None,
            "learning_curve": curve_points,
            "calls": sum(a["calls"] for a in by_arm.values())
            + (labelling["calls"] if labelling else 0),
            "distillation": distillation}


def fail_under(results: Mapping[str, Any], gates: Sequence[tuple[str, float]]) -> list[str]:
    """The gates that fail: an arm's lower interval bound of its gain must reach DELTA (and,
    with the judge metric, the judge must be calibrated)."""
    failures = []
    judge = results.get("judge") or {}
    if gates and (results.get("metric") or {}).get("name") == "judge" and not judge.get("calibrated"):
        # an uncalibrated judge calls no arm better; a gate on its scores cannot pass either
        kappa = (judge.get("agreement") or {}).get("kappa")
        return [f"{arm}: the judge is not calibrated ("
                + ("no human labels" if kappa is None else f"κ {kappa:.2f} with people")
                + f", below {judge.get('kappa_threshold', 0.6)}), so no gate on its scores can pass"
                for arm, _ in gates]
    for arm, delta in gates:
        a = results["arms"].get(arm)
        if a is None:
            failures.append(f"{arm}: not an arm of this run")
            continue
        vs = a.get("vs_baseline")
        if vs is None or vs.get("ci_low") is None:
            failures.append(f"{arm}: no comparison with the baseline (is it the baseline?)")
            continue
        if vs["ci_low"] < delta:
            failures.append(f"{arm}: gain over {results['baseline']} is {vs['diff']:+.3f} "
                            f"[{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]; the lower bound must be "
                            f"at least {delta:+.3f}")
    return failures


def result_json(result: CompareResult, report_path: str | None) -> dict[str, Any]:
    """The ``--json`` contract of ``compare``."""
    r = result.results
    arms = {}
    for name, a in r["arms"].items():
        q = a["quality"]
        arms[name] = {
            "model": a.get("model"),
            "quality": {**{k: q[k] for k in ("metric", "mean", "ci_low", "ci_high", "n")},
                        "unparseable": q.get("unparseable", 0)},
            "vs_baseline": None if a["vs_baseline"] is None else
            {k: a["vs_baseline"][k] for k in ("diff", "ci_low", "ci_high", "p_value")},
            "tokens": a["tokens"],
            "cost_per_1k_usd": a["cost_per_1k_usd"],
            "monthly_cost_usd": a["monthly_cost_usd"],
            "cost_kind": a.get("cost_kind"),
            "serving": a.get("serving"),
            "break_even_requests_per_month":
                (a.get("economics") or {}).get("break_even_requests_per_month"),
            "break_even_reason": (a.get("economics") or {}).get("break_even_reason"),
            # a self-hosted arm's fixed floor: below this volume it is the dearer one
            "cheaper_below_requests_per_month":
                (a.get("economics") or {}).get("cheaper_below_requests_per_month"),
            "unpriced_reason": (a.get("economics") or {}).get("unpriced_reason"),
            "latency_p50_s": a["latency_p50_s"],
            "latency_p95_s": a["latency_p95_s"],
            "calls": a["calls"],
            "cached_calls": a["cached_calls"],
        }
    judge = r.get("judge")
    if judge is not None:
        judge = {k: judge.get(k) for k in ("model", "scale", "agreement", "calibrated",
                                           "unparseable", "unparseable_by_arm",
                                           "evaluation_cost_usd", "calls", "cached_calls",
                                           "pairwise_results")}
    metric = r.get("metric") or {}
    return {"run_id": r["run_id"], "report": report_path, "status": r["status"],
            "metric": {"name": metric.get("name"), "description": metric.get("description"),
                       "evaluation": metric.get("evaluation")},
            "evaluation_cost_usd": r.get("evaluation_cost_usd", 0.0),
            "baseline": r["baseline"], "arms": arms, "training": r.get("training"),
            "audit": r.get("audit"), "trivial": r.get("trivial") or [],
            "self_hosting": r.get("self_hosting") or [],
            "judge": judge, "distillation": r.get("distillation"), "verdict": r["verdict"],
            "learning_curve": _curve_json(r.get("learning_curve"))}


def _curve_json(curve: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``--json`` view of the learning curve (results.json keeps the band as well)."""
    if not curve:
        return None
    return {"points": [{k: p.get(k) for k in ("examples", "quality", "training_cost_usd",
                                              "training_cost_kind", "job_id", "reused",
                                              "skipped")}
                       for p in curve["points"]],
            "fit": curve.get("fit"), "target_quality": curve.get("target_quality"),
            "examples_to_target": curve.get("examples_to_target"),
            "examples_to_beat_baseline": curve.get("examples_to_beat_baseline")}
