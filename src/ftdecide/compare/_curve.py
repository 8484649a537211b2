"""The learning curve of a run: the tuned model trained on nested subsets, each point scored.

``learning_curve: [0.125, 0.25, 0.5, 1.0]`` asks *how does quality grow with
the number of labelled examples?* Each size below the full set is a subset of
the training set: nested (each contains the smaller ones, so the curve
measures more data, not other data), seeded (a re-run writes the same bytes,
so the tune key is the same and the finished tune is reused), and stratified
by label when the answers are categorical (the audit's rule,
:func:`ftdecide.data.label_report`), so a small subset does not lose a class.

Every point is an ordinary fine-tuning job (the run's trainer: recorded in
the job store before it starts, resumed or followed after a kill, counted in
the budget, priced as ``tune`` prices it) and its answers go through the
runner (recorded per call, cached), under the arm name ``finetuned@N``. The
full-size point is the ordinary ``finetuned`` arm: it is never trained twice.
:mod:`ftdecide.compare._curvefit` fits the curve.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftdecide.compare._config import CompareConfig
from ftdecide.errors import DataError, UsageError

ARM_PREFIX = "finetuned@"


def curve_arm(size: int) -> str:
    """The runner's arm name of the curve point trained on ``size`` examples."""
    return f"{ARM_PREFIX}{size}"


def sizes(config: CompareConfig, n_train: int) -> list[int]:
    """The training-set sizes of the curve, ascending, the full set last.

    A fraction (a number with a decimal point, 0 < f ≤ 1) is rounded to whole
    examples; a whole number is a count. The full set is always a point: it is
    the ``finetuned`` arm, measured anyway.
    """
    out = set()
    for value in config.learning_curve or ():
        n = max(1, round(value * n_train)) if isinstance(value, float) else int(value)
        if n > n_train:
            raise DataError(f"learning_curve: {value} examples is more than the training set "
                            f"holds ({n_train})", path=config.source, key="learning_curve",
                            hint="use fractions (0.25) or counts up to the training set's size")
        out.add(n)
    out.add(n_train)
    return sorted(out)


def _strata(answers: Sequence[str], metric: str) -> list[Any] | None:
    """Each example's label when the answers are categorical (the audit's rule), else None."""
    from ftdecide.data._audit_labels import label_report
    from ftdecide.data._audit_text import flatten_json, label_key, parse_json_object

    report = label_report(list(answers), None, metric)
    if not report.get("categorical"):
        return None
    if report.get("kind") == "json":
        field = next(iter(report["fields"]))  # the categorical field most answers have
        out = []
        for a in answers:
            obj = parse_json_object(a)
            out.append(None if obj is None else flatten_json(obj).get(field))
        return out
    return [label_key(a, metric) for a in answers]


def nested_order(answers: Sequence[str], *, seed: int, metric: str) -> list[int]:
    """A seeded order of the training examples whose every prefix is a stratified sample.

    Each label's examples are shuffled; then the next position goes to the label
    furthest below its share so far, so the first ``n`` hold each label in
    proportion (within one example). Non-categorical answers: a seeded shuffle.
    """
    rng = random.Random(seed)
    labels = _strata(answers, metric)
    order = list(range(len(answers)))
    if labels is None:
        rng.shuffle(order)
        return order
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(json.dumps(label, sort_keys=True, default=str), []).append(i)
    for members in groups.values():
        rng.shuffle(members)
    total = len(answers)
    taken = dict.fromkeys(groups, 0)
    out: list[int] = []
    for position in range(1, total + 1):
        key = max((k for k in groups if taken[k] < len(groups[k])),
                  key=lambda k: (len(groups[k]) * position / total - taken[k], len(groups[k])))
        out.append(groups[key][taken[key]])
        taken[key] += 1
    return out


def write_subsets(config: CompareConfig, examples: Sequence[Any], answers: Sequence[str],
                  points: Sequence[int], folder: Path) -> dict[int, str]:
    """Write each subset smaller than the training set as chat JSONL; returns size → path.

    The lines keep the training file's order (so the bytes, and the tune key,
    depend only on which examples are in); the folder is content-addressed by
    the training file, the seed and the metric, so a re-run finds the same files.
    """
    order = nested_order(answers, seed=config.seed, metric=config.metric)
    digest = hashlib.sha256(Path(config.train).read_bytes()).hexdigest()[:16]
    where = folder / f"{digest}-s{config.seed}-{config.metric}"
    where.mkdir(parents=True, exist_ok=True)
    out: dict[int, str] = {}
    for n in points:
        if n >= len(examples):
            continue
        chosen = sorted(order[:n])
        path = where / f"n{n}.jsonl"
        text = "".join(json.dumps({"messages": examples[i].messages}, ensure_ascii=False) + "\n"
                       for i in chosen)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        out[n] = str(path)
    return out


def training_cost(summary: Mapping[str, Any] | None) -> tuple[float | None, str | None]:
    """(cost, "actual" | "estimated") of a tune; (None, None) when it is unknown, never $0."""
    if not summary:
        return None, None
    if summary.get("actual_cost_usd") is not None:
        return float(summary["actual_cost_usd"]), "actual"
    if summary.get("estimated_cost_usd") is not None:
        return float(summary["estimated_cost_usd"]), "estimated"
    return None, None


def point_cost(summary: Mapping[str, Any] | None, *, train_path: str, price_as: Any
               ) -> dict[str, Any]:
    """What one point's tune costs, as the arms price theirs.

    ``price_as`` set: the cookbook estimate of tuning that model on this subset
    (as the fine-tuned arms are priced). Otherwise the job's billed cost (hosted:
    trained tokens × price), else its estimate; a local job without a price is
    priced in hardware time as ``tune``'s estimate does (the first GPU row of its
    estimate, with the measured wall time beside it). Unknown stays None.
    """
    out: dict[str, Any] = {"training_cost_usd": None, "training_cost_kind": None}
    if summary and summary.get("wall_s") is not None:
        out["wall_s"] = summary["wall_s"]
    if price_as is not None:
        from ftdecide.compare._economics import _training_cost_as

        out.update(training_cost_usd=_training_cost_as(price_as, train_path),
                   training_cost_kind=f"estimated, priced as {price_as.key}")
        return out
    cost, kind = training_cost(summary)
    rows = _hardware_rows((summary or {}).get("job_id"))
    if rows:
        row = rows[0]
        out["hardware"] = {k: row.get(k) for k in ("hardware", "hours", "cost_usd")}
        if not cost and row.get("cost_usd") is not None:
            cost, kind = float(row["cost_usd"]), f"hardware estimate ({row.get('hardware')})"
    out.update(training_cost_usd=cost, training_cost_kind=kind)
    return out


def _hardware_rows(job_id: str | None) -> list[dict[str, Any]]:
    """The hardware rows of a local job's stored estimate (empty for a token-priced job)."""
    if not job_id:
        return []
    from ftdecide.tune import Store

    record = Store().find_job(job_id)
    hardware = ((record.estimate or {}).get("hardware") or {}) if record is not None else {}
    rows = hardware.get("hardware") if isinstance(hardware, Mapping) else None
    return [r for r in rows or [] if isinstance(r, Mapping)]


def run_curve(config: CompareConfig, prep: Any, *, catalog: Any, store: Any, run_id: str,
              state: dict[str, Any], save: Callable[[], None], train: Callable[..., Any],
              make_runner: Callable[[float | None], Any], metric: Any,
              messages: Mapping[str, Any], full: Mapping[str, Any],
              budget_left: float | None) -> dict[str, Any]:
    """Train and score every curve point below the full set; returns the ``learning_curve``
    block (points, fit, examples needed) for the results.

    ``messages`` are the ``finetuned`` arm's prompts per item (every point is asked the
    same); ``full`` is the ordinary ``finetuned`` arm's point (``examples``, ``scores`` per item id,
    ``training``); ``make_runner(budget)`` gives a runner for the run; ``save()``
    persists ``state`` (each point's job id is saved before its tune starts).
    """
    from ftdecide.compare._arms import make_plans, plan_calls
    from ftdecide.compare._results import _training_block
    from ftdecide.compare._scoring import _score_all
    from ftdecide.paths import data_dir

    n_train = len(prep.train)
    points = sizes(config, n_train)
    answers = [_answer(m) for m in prep.train]
    paths = write_subsets(config, prep.train_examples, answers, points, data_dir() / "curves")
    curve_state = state.setdefault("curve", {})
    measured: list[dict[str, Any]] = []
    stopped = False
    for n in points:
        if n >= n_train:
            measured.append({"examples": n, "scores": full["scores"], "training": full["training"],
                             "arm": "finetuned", "path": config.train})
            continue
        point = curve_state.setdefault(str(n), {})

        def save_point(_point: dict[str, Any] = point, **changes: Any) -> None:
            _point.update(changes)
            save()

        summary = point.get("training")
        if stopped:
            measured.append({"examples": n, "scores": {}, "training": summary, "arm": curve_arm(n),
                             "skipped": "budget", "path": paths[n]})
            continue
        if summary is None or summary.get("status") != "succeeded":
            sub = dataclasses.replace(config, train=paths[n], max_cost_usd=budget_left)
            if not point.get("job_id") and not _fits(sub, catalog, budget_left):
                stopped = True  # the budget left cannot pay this tune: the curve stops here
                measured.append({"examples": n, "scores": {}, "training": None,
                                 "arm": curve_arm(n), "skipped": "budget", "path": paths[n]})
                continue
            summary = _training_block(train(sub, {"state": point, "save": save_point}))
            point["training"] = summary  # what the report shows of a job, as for the arm
            save()
            cost, _ = training_cost(summary)
            if budget_left is not None and not point.get("reused"):
                budget_left = max(0.0, budget_left - (cost or 0.0))
        plans = make_plans(catalog, dataclasses.replace(config, arms=("finetuned",)),
                           {"finetuned": {"messages": dict(messages),
                                          "description": f"fine-tuned on {n} examples"}},
                           summary.get("model"))
        plan = plans.pop("finetuned")
        plan.name = curve_arm(n)
        calls = plan_calls({plan.name: plan}, config)
        outcome = make_runner(budget_left).run(calls)
        if budget_left is not None:
            budget_left = max(0.0, budget_left - outcome.spent_usd)
        stopped = outcome.budget_stopped
        scored, _ = _score_all(prep, {plan.name: plan}, outcome, metric, store)
        scores = {item: float(score.value) for (_, item), score in scored.items()}
        measured.append({"examples": n, "scores": scores, "training": summary, "arm": plan.name,
                         "path": paths[n]})
    price_as = catalog.resolve(config.price_as) if config.price_as else None
    return block(config, prep, measured, metric=metric, full=full, price_as=price_as)


def _fits(config: CompareConfig, catalog: Any, budget_left: float | None) -> bool:
    """Whether a new tune of ``config`` fits in what is left of the budget (a reusable job
    costs nothing; an unknown cost does not fit a budget)."""
    if budget_left is None:
        return True
    from ftdecide.compare._preflight import _plan_tune
    from ftdecide.tune import Store, tune_key
    from ftdecide.tune._reuse import find_previous

    planned = _plan_tune(config, catalog)
    if find_previous(Store(), catalog, tune_key(planned)) is not None:
        return True
    cost = planned.estimate.get("training_cost_usd")
    return cost is not None and cost <= budget_left


def _answer(messages: Sequence[Mapping[str, Any]]) -> str:
    from ftdecide.data._prompts import split_example

    return split_example(list(messages))[1] or ""


def block(config: CompareConfig, prep: Any, measured: Sequence[Mapping[str, Any]], *,
          metric: Any, full: Mapping[str, Any], price_as: Any = None) -> dict[str, Any]:
    """The ``learning_curve`` mapping of results.json from the measured points."""
    from ftdecide.compare import _curvefit as curvefit
    from ftdecide.compare import _stats as stats
    from ftdecide.compare._scoring import RESAMPLES

    points = []
    for m in measured:
        values = [m["scores"][it.id] for it in prep.items if it.id in m["scores"]]
        iv = stats.bootstrap_mean(values, resamples=RESAMPLES, seed=config.seed)
        t = m["training"] or {}
        points.append({"examples": m["examples"], "arm": m["arm"],
                       "quality": {"mean": iv.mean, "ci_low": iv.ci_low, "ci_high": iv.ci_high,
                                   "n": iv.n},
                       **point_cost(t, train_path=m["path"], price_as=price_as),
                       "job_id": t.get("job_id"), "model": t.get("model"),
                       "reused": bool(t.get("reused")),
                       **({"skipped": m["skipped"]} if m.get("skipped") else {})})
    usable = [m for m in measured if m["scores"]]
    common = [it.id for it in prep.items if all(it.id in m["scores"] for m in usable)]
    out: dict[str, Any] = {"points": points, "target_quality": config.target_quality,
                           "baseline": full.get("baseline"), "metric": metric.name,
                           "train_examples": len(prep.train), "seed": config.seed}
    baseline_high = (full.get("baseline") or {}).get("ci_high")
    if len(usable) >= 2 and common:
        out.update(curvefit.analyse([m["examples"] for m in usable],
                                    [[m["scores"][i] for i in common] for m in usable],
                                    target=config.target_quality, baseline_high=baseline_high,
                                    seed=config.seed))
        out["items_fitted"] = len(common)
    else:
        out.update({"fit": None, "band": [],
                    "examples_to_target": {"examples": None, "reached": False,
                                           "text": "too few measured points to fit a curve"},
                    "examples_to_beat_baseline": {"examples": None, "reached": False,
                                                  "text": "too few measured points to fit a "
                                                          "curve"}})
    return out


def plan_points(config: CompareConfig, prep: Any, catalog: Any) -> list[dict[str, Any]]:
    """Each curve point below the full set as a dry run sees it: its subset written, its tune
    planned (validated, estimated) and looked up in the job store (reuse costs nothing)."""
    from ftdecide.compare._preflight import _plan_tune
    from ftdecide.paths import data_dir
    from ftdecide.tune import Store, tune_key
    from ftdecide.tune._reuse import find_previous

    points = sizes(config, len(prep.train))
    answers = [_answer(m) for m in prep.train]
    paths = write_subsets(config, prep.train_examples, answers, points, data_dir() / "curves")
    out = []
    for n in points:
        if n >= len(prep.train):
            continue
        try:
            planned = _plan_tune(dataclasses.replace(config, train=paths[n]), catalog)
        except DataError as exc:
            raise UsageError(f"learning_curve: the {n}-example subset cannot be tuned on: "
                             f"{exc.message}", path=config.source, key="learning_curve",
                             hint="use larger sizes (the model's tune needs more examples); "
                                  f"`ftdecide validate {paths[n]}` shows why") from None
        previous = find_previous(Store(), catalog, tune_key(planned))
        cost = planned.estimate.get("training_cost_usd")
        out.append({"examples": n, "path": paths[n],
                    "action": previous.action if previous is not None else "new",
                    "job_id": previous.record.id if previous is not None else None,
                    "estimated_cost_usd": cost,
                    "new_cost_usd": 0.0 if previous is not None else cost,
                    "calls": len(prep.items)})
    return out


def check_budget(planned: Sequence[Mapping[str, Any]], config: CompareConfig,
                 floor_usd: float) -> None:
    """Refuse a run whose curve tunes alone (with the rest of the run's floor) are above
    ``max_cost_usd``, before anything is spent; an unknown tune cost cannot be checked."""
    if config.max_cost_usd is None:
        return
    new = [p for p in planned if p["action"] == "new"]
    unknown = [p["examples"] for p in new if p["new_cost_usd"] is None]
    if unknown:
        raise UsageError(f"the training cost of the learning curve's tunes ({unknown} examples) "
                         f"is unknown, so max_cost_usd {config.max_cost_usd:g} cannot be checked",
                         key="learning_curve",
                         hint="add the model's training price with a price file (--prices)")
    total = floor_usd + sum(float(p["new_cost_usd"]) for p in new)
    if total > config.max_cost_usd:
        raise UsageError(f"the run costs at least ${total:,.4f} with its {len(new)} learning-curve "
                         f"tune(s) and max_cost_usd is ${config.max_cost_usd:,.4f}; nothing was "
                         "called or trained", key="learning_curve",
                         hint="fewer or smaller curve points, or raise max_cost_usd")
