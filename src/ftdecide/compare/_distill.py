"""The distillation arms: a teacher labels the training inputs, a student is tuned on its answers.

Why it is inside ``compare``: the question "can a big model label our data,
and a small tuned model then replace it?" is only answered with the same eval
items, intervals and economics as the other arms. The flow, each step
recorded so a killed run repeats nothing it paid for:

1. **Labelling** (before any tune): the teacher (``teacher:``, any provider)
   answers every training input (or the prompts of ``inputs:``) through the
   :class:`~ftdecide.compare._runner.Runner` under the pseudo-arm
   :data:`LABEL_ARM`: recorded one by one in the run store, served from the
   cache, resumable, within ``--max-cost``, through the provider's Batch API
   with ``batch: true``.
2. **The student's training set**: each answer becomes the assistant message
   after its prompt. Empty and refused answers are dropped and counted, then
   the candidates are checked with ``ftdecide validate``'s rules
   (:func:`ftdecide.data.validate`) and the invalid ones dropped too. The set
   is written into the run's report folder (``distill-train.jsonl``) with a
   sidecar (``distill-labels.jsonl``) that traces every input line to its
   training line, its call and why it was dropped.
3. **The student**: the config's tuned base model with the same ``tune:``
   options, trained on that set as an ordinary job
   (:func:`ftdecide.tune.make_trainer`: reused by tune key, resumed by job id).
   Its job id lives under ``state["distill"]``, apart from the gold tune's.
4. **Scoring**: ``teacher`` (the teacher on the eval prompts) and ``distilled``
   (the student on them) are arms like the others; the labelling cost is part
   of the student's training cost, so of its break-even.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftdecide._formatting import money_sentence
from ftdecide.compare._arms import ArmPlan, Prepared, plan_calls
from ftdecide.compare._config import ARM_LABELS, CompareConfig
from ftdecide.compare._runner import Call, Runner, RunOutcome
from ftdecide.compare._runstore import RunStore
from ftdecide.errors import DataError, UsageError
from ftdecide.pricing._catalog import Catalog

#: The runner's arm name for the teacher's labelling calls (not an arm of the results).
LABEL_ARM = "labelling"
TRAIN_FILE = "distill-train.jsonl"
LABELS_FILE = "distill-labels.jsonl"
#: How a refusal starts: an answer that declines the task teaches the student to decline.
REFUSAL = re.compile(r"^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i can(?:no|')t (help|assist|"
                     r"comply|provide|do)|i cannot (help|assist|comply|provide|do)|i won'?t|"
                     r"i am unable|i'?m unable|i'?m not able to|as an ai\b)", re.I)


def wanted(config: CompareConfig) -> bool:
    """Whether the run labels training inputs and tunes a student."""
    return bool(config.teacher) and "distilled" in config.arms


def gold_tune_wanted(config: CompareConfig) -> bool:
    """Whether ``tune:`` trains the gold-label model: only for the fine-tuned arms."""
    from ftdecide.compare._config import TUNED_ARMS

    return config.tune is not None and any(a in TUNED_ARMS for a in config.arms)


@dataclass
class Input:
    """One prompt for the teacher: its line in the inputs (or training) file and messages."""

    id: str
    prompt: list[dict[str, Any]]


def load_inputs(config: CompareConfig, prep: Prepared) -> list[Input]:
    """The prompts the teacher answers: ``inputs:`` when given, else the training set's.

    An inputs line is ``{"messages": [...]}`` (a final assistant message, if
    any, is ignored: the teacher answers instead) or ``{"prompt": "..."}``.
    """
    from ftdecide.data._prompts import split_example

    if not config.inputs:
        return [Input(str(ex.line), split_example(ex.messages)[0]) for ex in prep.train_examples]
    out: list[Input] = []
    path = config.inputs
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read: {exc}", path=path) from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        prompt = _input_prompt(line, path, n)
        out.append(Input(str(n), prompt))
    if not out:
        raise DataError(f"{path}: no inputs", path=path,
                        hint='one JSON object a line: {"messages": [...]} or {"prompt": "..."}')
    return out


def _input_prompt(line: str, path: str, n: int) -> list[dict[str, Any]]:
    from ftdecide.data._prompts import split_example

    hint = 'one JSON object a line: {"messages": [{"role": "user", "content": "..."}]} or ' \
           '{"prompt": "..."}'
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{n}: not JSON ({exc.msg})", path=path, line=n, hint=hint) from None
    if isinstance(record, dict) and isinstance(record.get("prompt"), str) and record["prompt"]:
        return [{"role": "user", "content": record["prompt"]}]
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise DataError(f"{path}:{n}: expected a list of messages or a prompt", path=path, line=n,
                        hint=hint)
    prompt = split_example(messages)[0] if messages[-1].get("role") == "assistant" else \
        [dict(m) for m in messages]
    if not any(m.get("role") == "user" for m in prompt):
        raise DataError(f"{path}:{n}: no user message for the teacher to answer", path=path,
                        line=n, hint=hint)
    return prompt


def audit_inputs(config: CompareConfig, prep: Prepared, inputs: Sequence[Input],
                 audit: dict[str, Any]) -> None:
    """Apply ``audit:`` to eval items whose prompt is one of the ``inputs:`` prompts.

    The student trains on the teacher's answers to those prompts, so scoring
    them would measure recall of the teacher's answer, as a leaked training
    example would. Exact matches (the audit's normalisation); ``exclude`` (the
    default) leaves them out of scoring, ``fail`` refuses the run, ``keep``
    scores them and the verdict says so.
    """
    from ftdecide.data._audit_text import prompt_key

    keys = {prompt_key(i.prompt) for i in inputs}
    leaked = [it.id for it in prep.items if prompt_key(it.prompt) in keys]
    audit["inputs_leaks"] = leaked
    if not leaked:
        return
    if config.audit == "fail":
        raise UsageError(f"{len(leaked)} eval item(s) are also prompts of the teacher's inputs "
                         f"({config.inputs}): eval lines {', '.join(leaked[:10])} (audit: fail)",
                         hint="remove them from the inputs, or set audit: exclude (the default)")
    audit["leaks_in_run"] = int(audit.get("leaks_in_run") or 0) + len(leaked)
    if config.audit == "exclude":
        drop = set(leaked)
        prep.items = [it for it in prep.items if it.id not in drop]
        audit["excluded"] = sorted({*(audit.get("excluded") or []), *drop}, key=int)
        if not prep.items:
            raise DataError(f"{config.eval}: every eval item is also a prompt of the inputs, so "
                            "nothing is left to score", path=config.eval,
                            hint="use an eval set held out from the inputs")
        import ftdecide.data as data
        from ftdecide.data._prompts import split_example

        # the trivial baselines of the items that are scored, as audit_items does
        train_answers = [split_example(ex.messages)[1] or "" for ex in prep.train_examples]
        audit["labels"] = data.label_report(train_answers, [it.expected for it in prep.items],
                                            config.metric)


# -- plans and calls --------------------------------------------------------------------------
def _plan(catalog: Catalog, name: str, model: str, description: str,
          messages: Mapping[str, list[dict[str, Any]]]) -> ArmPlan:
    info = catalog.resolve(model)
    return ArmPlan(name=name, info=info, provider=catalog.providers[info.provider],
                   description=description, messages=dict(messages))


def label_calls(catalog: Catalog, config: CompareConfig, inputs: Sequence[Input]) -> list[Call]:
    """One teacher call per input, as the runner takes them (cache key, predicted cost)."""
    assert config.teacher
    plan = _plan(catalog, LABEL_ARM, config.teacher, "the teacher labels a training input",
                 {i.id: i.prompt for i in inputs})
    return plan_calls({LABEL_ARM: plan}, config)


def arm_plans(catalog: Catalog, config: CompareConfig, prep: Prepared,
              student_model: str | None) -> dict[str, ArmPlan]:
    """The ``teacher`` and ``distilled`` plans that can be made now (the student once tuned)."""
    from ftdecide.data._prompts import zero_shot

    messages = {it.id: zero_shot(it.prompt) for it in prep.items}
    plans: dict[str, ArmPlan] = {}
    if "teacher" in config.arms and config.teacher:
        plans["teacher"] = _plan(catalog, "teacher", config.teacher,
                                 "the eval item's own prompt (system + input), teacher model",
                                 messages)
    if "distilled" in config.arms and student_model:
        plans["distilled"] = _plan(catalog, "distilled", student_model,
                                   "the eval item's own prompt (system + input), student tuned "
                                   "on the teacher's answers", messages)
    return plans


def prompts_view(config: CompareConfig, prep: Prepared) -> dict[str, dict[str, Any]]:
    """The distillation arms' entries of ``build_prompts``' mapping (messages, description)."""
    from ftdecide.data._prompts import zero_shot

    messages = {it.id: zero_shot(it.prompt) for it in prep.items}
    return {arm: {"messages": messages, "description": f"the eval item's own prompt, {arm}"}
            for arm in config.arms if arm in ("teacher", "distilled")}


def plan_student_estimate(config: CompareConfig, catalog: Catalog) -> dict[str, Any] | None:
    """The student's fine-tune planned on the training set's gold answers, as a stand-in.

    The real set holds the teacher's answers, which do not exist before the
    run; with the training set's own prompts (no ``inputs:``) its gold answers
    are the closest size. With ``inputs:`` there is no stand-in: None.
    """
    if config.inputs or config.tune is None:
        return None
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._trainer import split_tune_config

    tune = dict(config.tune)
    hyper, options = split_tune_config(tune)
    plan = tuning.plan(catalog, tune.get("model") or config.model, config.train,
                       validation_path=tune.get("validation"), hyperparameters=hyper,
                       options=options)
    return {"model": plan.info.key, "estimate": plan.estimate,
            "training_cost_usd": plan.estimate.get("training_cost_usd"),
            "basis": "the training set's gold answers (the teacher's answers set the real size)"}


# -- the labelling phase and the student ------------------------------------------------------
@dataclass
class Distillation:
    """What the labelling phase and the student's tune produced."""

    block: dict[str, Any] = field(default_factory=dict)
    """``distillation`` in results.json (without the gold-vs-teacher comparison)."""
    training: dict[str, Any] | None = None
    """The student's tune summary (``tune.summary``), None until it is trained."""
    outcome: RunOutcome | None = None
    """The labelling calls' outcome (budget stop, calls skipped, spend)."""

    @property
    def student_model(self) -> str | None:
        t = self.training or {}
        return t.get("model") if t.get("status") == "succeeded" else None

    @property
    def labelling_cost_usd(self) -> float | None:
        return self.block.get("labelling_cost_usd")


def run(config: CompareConfig, prep: Prepared, *, catalog: Catalog, store: RunStore,
        run_id: str, state: dict[str, Any], save: Callable[..., None], train: Any,
        use_cache: bool, progress: Any, cost_of: Any) -> Distillation:
    """Label the inputs, write the student's set, tune the student (each step resumable)."""
    inputs = load_inputs(config, prep)
    calls = label_calls(catalog, config, inputs)
    runner = Runner(store, run_id, concurrency=config.concurrency,
                    max_cost_usd=config.max_cost_usd, use_cache=use_cache,
                    batch_api=config.batch, progress=progress, cost_of=cost_of)
    outcome = runner.run(calls)
    out = Distillation(outcome=outcome)
    if outcome.budget_stopped or outcome.skipped:
        out.block = {"teacher": catalog.resolve(config.teacher or "").key, "inputs": len(inputs),
                     "labelled": None, "status": "labelling stopped",
                     "labelling_calls": len(outcome.results)}
        return out
    out.block = build_training_set(config, inputs, calls, outcome, run_id=run_id)
    out.block["teacher"] = catalog.resolve(config.teacher or "").key
    sub = state.setdefault("distill", {})
    training = sub.get("training")
    if training is None or training.get("status") != "succeeded":
        if train is None:
            raise UsageError("this run tunes a student (distilled) but no trainer was given")

        def save_sub(**changes: Any) -> None:
            sub.update(changes)
            save()

        student_config = replace(config, train=out.block["train_file"])
        training = train(student_config, {"state": sub, "save": save_sub})
        sub["training"] = training
        save()
    out.training = training
    return out


def _classify(text: str) -> str | None:
    """Why an answer cannot teach the student: ``empty``, ``refused``, or None (usable)."""
    if not text.strip():
        return "empty"
    if REFUSAL.match(text):
        return "refused"
    return None


def build_training_set(config: CompareConfig, inputs: Sequence[Input], calls: Sequence[Call],
                       outcome: RunOutcome, *, run_id: str) -> dict[str, Any]:
    """Write the student's training set and its trace; the counts and the labelling cost.

    Deterministic in the recorded answers, so a resumed run writes the same
    file (and the same tune key finds the same job).
    """
    import ftdecide.data as data

    key_of = {c.item: c.key for c in calls}
    rows: list[dict[str, Any]] = []
    candidates: list[tuple[Input, str]] = []
    costs: list[float | None] = []
    for inp in inputs:
        res = outcome.results[(LABEL_ARM, inp.id)]
        costs.append(res.cost_usd)
        why = _classify(res.text)
        rows.append({"input_line": int(inp.id), "call_key": key_of.get(inp.id), "status":
                     why or "kept", "answer": res.text, "train_line": None})
        if why is None:
            candidates.append((inp, res.text))
    folder = Path(config.out) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"messages": [*inp.prompt, {"role": "assistant", "content": text}]},
                        ensure_ascii=False) for inp, text in candidates]
    with tempfile.TemporaryDirectory(prefix="ftdecide-distill-") as tmp:
        candidate_file = Path(tmp) / "candidates.jsonl"
        candidate_file.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        report = data.validate(candidate_file, workers=0, min_examples=0, warn_below=0)
    bad: dict[int, str] = {}
    for category, where in report.errors.items():
        for line in where:
            bad.setdefault(line, category)
    kept_lines: list[str] = []
    by_input = {r["input_line"]: r for r in rows}
    for n, ((inp, _), line) in enumerate(zip(candidates, lines), start=1):
        row = by_input[int(inp.id)]
        if n in bad:
            row["status"], row["invalid"] = "invalid", bad[n]
            continue
        kept_lines.append(line)
        row["train_line"] = len(kept_lines)
    train_file = folder / TRAIN_FILE
    labels_file = folder / LABELS_FILE
    _write(train_file, kept_lines)
    _write(labels_file, [json.dumps(r, ensure_ascii=False) for r in rows])
    dropped = {k: sum(1 for r in rows if r["status"] == k) for k in ("empty", "refused", "invalid")}
    if not kept_lines:
        raise DataError(f"the teacher gave no usable answer to any of {len(inputs)} inputs "
                        f"(dropped: {dropped['empty']} empty, {dropped['refused']} refused, "
                        f"{dropped['invalid']} invalid)", path=str(labels_file),
                        hint="check the teacher model and its answers in that file")
    cost = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    return {"inputs": len(inputs), "labelled": len(kept_lines), "dropped": dropped,
            "labelling_calls": len(inputs), "labelling_cost_usd": cost,
            "labelling_input_tokens": sum(outcome.results[(LABEL_ARM, i.id)].input_tokens
                                          for i in inputs),
            "labelling_output_tokens": sum(outcome.results[(LABEL_ARM, i.id)].output_tokens
                                           for i in inputs),
            "inputs_file": config.inputs or config.train,
            "train_file": str(train_file), "labels_file": str(labels_file),
            "status": "labelled"}


def _write(path: Path, lines: Sequence[str]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)


# -- results ----------------------------------------------------------------------------------
def student_training_cost(d: Distillation | Mapping[str, Any]) -> tuple[float | None, str]:
    """The student's training cost: its tune plus the teacher's labelling, and its kind."""
    block = d.block if isinstance(d, Distillation) else d
    training = (d.training if isinstance(d, Distillation) else block.get("training")) or {}
    actual = training.get("actual_cost_usd")
    tune = actual if actual is not None else training.get("estimated_cost_usd")
    labelling = block.get("labelling_cost_usd")
    kind = "actual" if actual is not None else "estimated"
    if labelling is None:
        return None, "unknown: the teacher has no price in the catalog"
    return float(tune or 0.0) + float(labelling), f"{kind} tune + recorded labelling"


def results_block(d: Distillation, items_out: Sequence[Mapping[str, Any]], *,
                  binary: bool, seed: int, training_block: Callable[[Mapping[str, Any]],
                                                                     dict[str, Any]]
                  ) -> dict[str, Any]:
    """``distillation`` in results.json: the labels, their cost, the student, and what gold
    labels are worth over the teacher's (the paired difference of ``finetuned`` and
    ``distilled`` on the same eval items, when the run has both)."""
    block = dict(d.block)
    block["training"] = training_block(d.training) if d.training else None
    block["student_model"] = d.student_model
    cost, kind = student_training_cost(d)
    block["student_training_cost_usd"] = cost
    block["student_training_cost_kind"] = kind
    block["gold_over_teacher"] = gold_over_teacher(items_out, binary=binary, seed=seed)
    return block


def gold_over_teacher(items_out: Sequence[Mapping[str, Any]], *, binary: bool,
                      seed: int) -> dict[str, Any] | None:
    """``finetuned`` (gold labels) minus ``distilled`` (teacher labels), paired by item."""
    from ftdecide.compare import _stats as stats
    from ftdecide.compare._scoring import RESAMPLES

    gold, taught = [], []
    for row in items_out:
        outs = row.get("outputs") or {}
        g, t = (outs.get("finetuned") or {}).get("score"), (outs.get("distilled") or {}).get("score")
        if g is not None and t is not None:
            gold.append(float(g))
            taught.append(float(t))
    if not gold:
        return None
    d = stats.paired_difference(gold, taught, resamples=RESAMPLES, seed=seed,
                                binary=binary or None)
    return {"gold_arm": "finetuned", "teacher_arm": "distilled", "diff": d.diff,
            "ci_low": d.ci_low, "ci_high": d.ci_high, "p_value": d.p_value, "test": d.test,
            "n": len(gold)}


def sentence(results: Mapping[str, Any]) -> str | None:
    """The verdict's words on distillation: the student against its teacher, and gold labels."""
    dist = results.get("distillation") or {}
    arms = results.get("arms") or {}
    student, teacher = arms.get("distilled"), arms.get("teacher")
    if not dist or student is None:
        if dist.get("status") == "labelling stopped":
            return "the teacher's labelling stopped before the student could be trained"
        return None
    parts = []
    sq = (student.get("quality") or {}).get("mean")
    if teacher is not None and sq is not None and (teacher.get("quality") or {}).get("mean") is not None:
        tq = teacher["quality"]["mean"]
        parts.append(f"the {ARM_LABELS['distilled']} student scores {sq * 100:.1f} points against "
                     f"its teacher's {tq * 100:.1f}")
    # the training cost the economics use (with price_as: the tune priced as that model)
    cost = (student.get("economics") or {}).get("training_cost_usd")
    labelling = dist.get("labelling_cost_usd")
    if labelling is not None:
        whole = cost is not None and abs(cost - labelling) <= 1e-12
        parts.append(f"labelling {dist.get('labelled')} examples cost {money_sentence(labelling)}"
                     + (" (all of its training cost)" if whole else
                        f" of its {money_sentence(cost)} training" if cost is not None else ""))
    g = dist.get("gold_over_teacher")
    if g and g.get("ci_low") is not None:
        sure = g["ci_low"] > 0 or g["ci_high"] < 0
        parts.append(f"gold labels are worth {g['diff'] * 100:+.1f} points "
                     f"[{g['ci_low'] * 100:.1f}, {g['ci_high'] * 100:.1f}] over the teacher's"
                     + ("" if sure else " (no clear difference)"))
    learned = ((dist.get("training") or {}).get("learned") or {})
    if learned.get("verdict") == "underfit":
        parts.append(f"but the student underfit ({learned.get('reason')}): tune it longer before "
                     "judging the teacher's labels")
    return ", ".join(parts) if parts else None
