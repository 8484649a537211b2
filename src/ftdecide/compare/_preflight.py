"""One preflight for the dry run and the real run: everything that can fail without a model call.

``compare --dry-run`` must fail exactly when the real run would, and the real
run must fail before its first paid call rather than after. Both call
:func:`preflight`, which checks the metric, ``price_as``, the output folder,
the data, the fine-tune the run would start (model tunable, provider options,
training data, its budget), every arm's model and prompts, and whether the
budget can hold the calls still to make; :func:`check_budget` is the one
budget rule both use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from ftdecide.compare import _distill
from ftdecide.compare._arms import ArmPlan, Prepared, build_prompts, make_plans, plan_calls
from ftdecide.compare._config import DISTILL_ARMS, TUNED_ARMS, CompareConfig
from ftdecide.compare._runner import Call
from ftdecide.errors import UsageError
from ftdecide.paths import check_output_dir
from ftdecide.pricing._catalog import Catalog


@dataclass
class Preflight:
    """What a run will do, known before anything is called."""

    metric: Any
    prep: Prepared
    prompts: dict[str, Any]
    plans: dict[str, ArmPlan]
    """The arms that can be planned now (fine-tuned arms wait for a model tuned in the run)."""
    calls: list[Call]
    tune_plan: Any = None
    """The new fine-tune the run would start (None: none, or one already recorded in the run)."""
    tuned_model: str | None = None
    audit: dict[str, Any] | None = None
    """The data audit of train against eval (``audit`` in results.json), with ``mode`` and
    ``excluded`` (the eval item ids left out of scoring)."""
    previous: Any = None
    """A job with the same data and settings that the run reuses, follows or resumes."""
    planned_tune: Any = None
    """The fine-tune the config asks for, planned (also when a previous job stands in for it)."""
    judge: Any = None
    """The ``judge`` metric's grader (:class:`~ftdecide.compare._judge_run.JudgePlan`): its
    model resolved and the human labels read, before any call."""
    embedding: Any = None
    """The ``similarity`` metric's embedding model (its ModelInfo), None for TF-IDF or another
    metric: its calls are evaluation cost, forecast by :func:`embedding_forecast`."""
    student: dict[str, Any] | None = None
    """The distilled arm's student tune, estimated before its training set exists
    (:func:`ftdecide.compare._distill.plan_student_estimate`); None when there is none to run."""

    @property
    def tune_cost_usd(self) -> float:
        if self.tune_plan is None:
            return 0.0
        return float(self.tune_plan.estimate.get("training_cost_usd") or 0.0)

    @property
    def student_cost_usd(self) -> float:
        return float((self.student or {}).get("training_cost_usd") or 0.0)


def preflight(config: CompareConfig, *, catalog: Catalog,
              state: Mapping[str, Any] | None = None, retrain: bool = False) -> Preflight:
    """Check everything that can fail without calling a model; raises UsageError/DataError (exit 2).

    ``state`` is a resumed run's state: a fine-tune it already started is
    followed or resumed, not planned again. A finished job with the same data
    and settings stands in for a new fine-tune (unless ``retrain``): it costs
    the run nothing and its model plans the fine-tuned arms.
    """
    from ftdecide.compare import _judge_run
    from ftdecide.compare import _metrics as metrics_mod

    judge = _judge_run.prepare(config, catalog)
    metric = (_judge_run.JudgeMetric(judge.spec) if judge is not None
              else metrics_mod.get_metric(config.metric))
    if config.price_as:
        catalog.resolve(config.price_as)
    check_output_dir(config.out, what="out")
    prep = Prepared(config)
    audit = audit_items(config, prep)
    metric = metrics_mod.for_run(metric, similarity=config.similarity, catalog=catalog,
                                 items=prep.items, path=config.eval)
    embedding = None
    if metric.name == "similarity" and (config.similarity or {}).get("model"):
        from ftdecide.compare._similarity import resolve_embedding_model

        embedding = resolve_embedding_model(str(config.similarity["model"]), catalog)[0]
    if _distill.wanted(config) and config.inputs:
        _distill.audit_inputs(config, prep, _distill.load_inputs(config, prep), audit)
    state = state or {}
    training = state.get("training") or {}
    tuned_model = config.tuned
    if config.tune is not None and training.get("status") == "succeeded":
        tuned_model = training.get("model")
    tune_plan = previous = planned = None
    if _distill.gold_tune_wanted(config) and not tuned_model and not state.get("job_id"):
        planned = _plan_tune(config, catalog)
        if not retrain:
            from ftdecide.tune import Store, tune_key
            from ftdecide.tune._reuse import find_previous

            previous = find_previous(Store(), catalog, tune_key(planned))
        if previous is None:
            from ftdecide.tune import check_budget as check_tune_budget

            check_tune_budget(planned, config.max_cost_usd)
            tune_plan = planned
        elif previous.action == "reuse" and previous.record.fine_tuned_model:
            tuned_model = f"{previous.record.provider}/{previous.record.fine_tuned_model}"
    core = tuple(a for a in config.arms if a not in DISTILL_ARMS)
    prompts = build_prompts(prep, core)
    prompts.update(_distill.prompts_view(config, prep))
    arms = core if tuned_model or config.tune is None else tuple(
        a for a in core if a not in TUNED_ARMS or a in config.arm_models)
    plans = make_plans(catalog, replace(config, arms=arms), prompts, tuned_model)
    distill_state = state.get("distill") or {}
    student_training = distill_state.get("training") or {}
    student_model = (student_training.get("model")
                     if student_training.get("status") == "succeeded" else None)
    plans.update(_distill.arm_plans(catalog, config, prep, student_model))
    calls = plan_calls(plans, config)
    student = None
    if _distill.wanted(config):
        calls += _distill.label_calls(catalog, config, _distill.load_inputs(config, prep))
        if not student_model and not distill_state.get("job_id"):
            student = _distill.plan_student_estimate(config, catalog)
    return Preflight(metric=metric, prep=prep, prompts=prompts, plans=plans, calls=calls,
                     tune_plan=tune_plan, tuned_model=tuned_model, previous=previous,
                     planned_tune=planned, audit=audit, judge=judge, student=student,
                     embedding=embedding)


def audit_items(config: CompareConfig, prep: Prepared) -> dict[str, Any]:
    """Audit train against eval, then apply ``config.audit`` to the run's eval items.

    ``exclude`` (the default) leaves eval items whose prompt is in the
    training set, exactly or as a near copy, out of scoring and lists them;
    ``fail`` refuses the run (exit 2) naming them; ``keep`` scores them and
    the verdict warns. Items are identified by their eval line, as in
    ``items.csv``.
    """
    import ftdecide.data as data
    from ftdecide.errors import DataError

    report = data.audit(config.train, config.eval, near_threshold=config.audit_threshold,
                        metric=config.metric)
    found = report.to_dict()
    in_run = {item.id for item in prep.items}
    leaks = [e for e in [*found["leaked"], *found["near_leaked"]] if str(e["eval_line"]) in in_run]
    leaks.sort(key=lambda e: e["eval_line"])
    found["mode"] = config.audit
    found["leaks_in_run"] = len(leaks)
    if leaks and config.audit == "fail":
        shown = ", ".join(f"{e['eval']} ↔ {e['train']}" for e in leaks[:10])
        more = f" and {len(leaks) - 10} more" if len(leaks) > 10 else ""
        raise UsageError(f"{len(leaks)} eval item(s) also occur in the training set: {shown}{more} "
                         "(audit: fail)",
                         hint="remove them from the eval set, or set audit: exclude (the default) "
                              "to leave them out of scoring; `ftdecide audit TRAIN --eval EVAL` "
                              "lists every finding")
    if leaks and config.audit == "exclude":
        drop = {str(e["eval_line"]) for e in leaks}
        prep.items = [item for item in prep.items if item.id not in drop]
        found["excluded"] = sorted(drop, key=int)
        if not prep.items:
            raise DataError("every eval item also occurs in the training set, so nothing is "
                            "left to score", path=config.eval,
                            hint="use an eval set held out from the training data")
        # the trivial baselines of the items that are scored, not of the whole file
        from ftdecide.data._prompts import split_example

        train_answers = [split_example(ex.messages)[1] or "" for ex in prep.train_examples]
        found["labels"] = data.label_report(train_answers, [item.expected for item in prep.items],
                                            config.metric)
    return found


def _plan_tune(config: CompareConfig, catalog: Catalog) -> Any:
    """The fine-tune ``tune:`` asks for, planned as ``ftdecide tune`` would (no side effects)."""
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._trainer import split_tune_config

    tune = dict(config.tune or {})
    hyper, options = split_tune_config(tune)
    return tuning.plan(catalog, tune.get("model") or config.model, config.train,
                       validation_path=tune.get("validation"), hyperparameters=hyper,
                       options=options)


def pending(calls: list[Call], store: Any, recorded: Mapping[Any, Any]) -> list[Call]:
    """The calls that would be sent: not recorded in the run, not answered by the cache."""
    return [c for c in calls if (c.arm, c.item) not in recorded
            and (store is None or store.cached(c.key) is None)]


def judge_forecast(pf: Preflight, config: CompareConfig, store: Any,
                   recorded: Mapping[Any, Any]) -> Any:
    """The judge phase's calls still to make and their cost (None without a judge)."""
    if pf.judge is None:
        return None
    from ftdecide.compare._judge_run import forecast

    return forecast(pf.judge, pf.prep.items, pf.calls, arms=config.arms, baseline=config.baseline,
                    max_tokens=config.max_tokens, store=store, recorded=recorded)


def embedding_forecast(pf: Preflight, config: CompareConfig, store: Any,
                       recorded: Mapping[Any, Any]) -> Any:
    """What the ``similarity`` metric's vectors would cost (None for another metric).

    The texts are the scored items' expected answers and every arm's answer
    known now (recorded in the run or in the call cache); an answer still to
    be made, or of an arm tuned inside the run, counts at ``max_tokens``.
    """
    if pf.metric.name != "similarity":
        return None
    from ftdecide.compare._similarity import EmbeddingCache, forecast_embeddings

    if pf.embedding is None:
        return forecast_embeddings(None, (), unknown_answers=0, max_tokens=0, cache=None)
    scored = {it.id for it in pf.prep.items}
    texts = [it.expected for it in pf.prep.items]
    unknown = 0
    planned = set()
    for c in pf.calls:
        if c.arm not in config.arms or c.item not in scored:
            continue  # the teacher's labelling calls are not scored
        planned.add(c.arm)
        prior = recorded.get((c.arm, c.item))
        if prior is None and store is not None:
            prior = store.cached(c.key)
        if prior is None:
            unknown += 1
        else:
            texts.append(prior.text)
    unknown += len(pf.prep.items) * len([a for a in config.arms if a not in planned])
    return forecast_embeddings(pf.embedding, texts, unknown_answers=unknown,
                               max_tokens=config.max_tokens,
                               cache=EmbeddingCache.of(store) if store is not None else None)


def check_budget(pf: Preflight, config: CompareConfig, to_send: list[Call],
                 judge_floor_usd: float = 0.0, embedding: Any = None) -> None:
    """Refuse a budget the run cannot fit in, before anything is spent.

    The least a run can cost is the new fine-tune's estimate plus the prompt
    tokens alone of every call still to send, the judge's included (without
    the answers they grade; answers cost more, so this is a floor), and the
    embeddings of the texts known now (``similarity``'s ``embedding``
    forecast; an unpriced embedding model cannot be held by a budget). When
    that floor is above ``max_cost_usd`` the real run would stop part-way with the money spent and no answer to the question; it is
    refused here instead. A budget between the floor and the upper bound
    (prompt + max_tokens) is allowed: the runner stops before a call that
    would cross it, and ``--resume`` continues.
    """
    if config.max_cost_usd is None:
        return
    if embedding is not None and embedding.predicted_cost_usd is None:
        raise UsageError(
            f"similarity.model {embedding.model} has no price, so --max-cost / max_cost_usd "
            "cannot hold its embedding calls; nothing was called",
            hint="add its input price with --prices FILE, or leave similarity.model out for "
                 "TF-IDF vectors (offline, free)")
    embed_floor = embedding.floor_usd if embedding is not None else 0.0
    floor = (pf.tune_cost_usd + pf.student_cost_usd + sum(c.min_cost_usd for c in to_send)
             + judge_floor_usd + embed_floor)
    if floor > config.max_cost_usd:
        parts = (f"the fine-tune's estimate plus the prompt tokens of {len(to_send):,} calls"
                 if pf.tune_plan is not None else f"the prompt tokens of {len(to_send):,} calls")
        if judge_floor_usd:
            parts += " and of the judge's calls"
        if embed_floor:
            parts += f" and the embeddings of {embedding.texts - embedding.cached:,} known texts"
        raise UsageError(
            f"the run costs at least ${floor:,.4f} ({parts}) and --max-cost / max_cost_usd is "
            f"${config.max_cost_usd:,.4f}; nothing was called",
            hint="raise max_cost_usd, or lower eval_limit, the arms or shots")
