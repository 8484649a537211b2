"""The next steps of an assessment: the exact commands that would produce the missing evidence, or act on it."""

from __future__ import annotations

import shlex
from typing import Any, Mapping

from ftdecide._formatting import finite as _num


def _q(value: Any) -> str:
    return shlex.quote(str(value))


def _n(value: Any) -> str:
    f = _num(value)
    if f is None:
        return ""
    return str(int(round(f))) if abs(f - round(f)) < 1e-9 or f >= 100 else f"{f:g}"


def next_steps(label: str, f: Mapping[str, Any], *, train_path: str | None, answers_path: str | None,
               run: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Runnable commands that produce the evidence the decision lacks (or act on it)."""
    train = _q(train_path) if train_path else "train.jsonl"
    answers = _q(answers_path) if answers_path else "answers.yaml"
    model = _q(f["model"])
    placeholders = []
    if not train_path:
        placeholders.append("train.jsonl: your training set")
    placeholders.append("eval.jsonl: your held-out eval set")
    note = " (" + "; ".join(placeholders) + ")"
    rpm = f" --requests-per-month {_n(f['requests_per_month'])}" if f["requests_per_month"] is not None else ""
    budget = f" --max-cost {_n(f['budget_usd'])}" if f["budget_usd"] is not None else ""
    compare_base = f"ftdecide compare --train {train} --eval eval.jsonl --model {model}"
    reassess = {"command": f"ftdecide assess --answers {answers} --from-run RUN"
                + (f" --train {train}" if train_path else ""),
                "why": "assess again with the measurements (RUN is the run id compare prints)"}
    estimate_flags = "".join(
        f" --{flag} {_n(f[key])}" for flag, key in (("prompt-tokens", "prompt_tokens_now"),
                                                    ("tuned-prompt-tokens", "prompt_tokens_after"),
                                                    ("output-tokens", "output_tokens"))
        if f[key] is not None) if rpm else ""
    steps: list[dict[str, str]] = []
    if label == "measure-first" and f.get("judge_scored") and f.get("judge_calibrated") is False:
        return _calibrate_judge(f, run, reassess)
    if label == "measure-first" and f.get("from_run") and (
            f.get("beats_floor") is False or f.get("all_miss_target")):
        if f.get("stronger_command"):
            steps.append({"command": f["stronger_command"],
                          "why": f"the same comparison on a stronger model ({f['stronger_model']}): "
                                 "whether the task can be done at all, and whether tuning helps it"})
        config = (run or {}).get("config") or {}
        if config.get("train") and config.get("eval"):
            steps.append({"command": f"ftdecide audit {_q(config['train'])} --eval {_q(config['eval'])}",
                          "why": "check the eval set itself (leaks, conflicting answers, labels never "
                                 "seen in training) if even a stronger model fails"})
        if f.get("tune_learned") == "underfit" and f.get("tune_longer"):
            steps.append({"command": f["tune_longer"], "why": "the tune underfit: give it more steps"})
        steps.append(reassess)
        return steps
    if label == "measure-first":
        if f["tunable"]:
            steps.append({"command": f"ftdecide estimate {train} --model {model}{rpm}{estimate_flags}",
                          "why": "price the training and the monthly costs from your real training set, offline"
                          + ("" if train_path else " (train.jsonl: your training set)")})
        arms = ["zeroshot", "fewshot", "finetuned"]
        if f["rag_tried"] or f["knowledge_changes_often"]:
            arms += ["rag", "finetuned-rag"]
        steps.append({"command": f"{compare_base} --tune --arms {','.join(arms)} --baseline fewshot{rpm}{budget}",
                      "why": "measure the fine-tune against few-shot on your eval set, with intervals, "
                             "tokens, cost and break-even" + note})
        steps.append(reassess)
    elif label == "try-prompting":
        steps.append({"command": f"{compare_base} --arms zeroshot,fewshot,rag --baseline zeroshot{rpm}{budget}",
                      "why": "measure few-shot prompting and retrieval before any training" + note})
        steps.append(reassess)
    elif label == "try-rag":
        steps.append({"command": f"{compare_base} --corpus docs/ --arms zeroshot,fewshot,rag --baseline fewshot{rpm}{budget}",
                      "why": "measure retrieval over your documents (docs/: a folder of .md/.txt)" + note})
        steps.append(reassess)
    elif label == "collect-data":
        if f.get("curve_to_collect"):
            cost = (f" (about ${f['label_cost_usd']:,.2f} to label)"
                    if f.get("label_cost_usd") is not None else "")
            config = (run or {}).get("config") or {}
            again = (f"ftdecide compare --train {train} --eval {_q(config['eval'])} --model {model} "
                     f"--tune --arms {','.join(config.get('arms') or ['fewshot', 'finetuned'])}"
                     if config.get("eval") else compare_base + " --tune")
            steps.append({"command": again,
                          "why": f"label about {f['curve_to_collect']:,} more examples{cost} "
                                 f"(the curve reaches the target {_n(f['curve_target'])} at about "
                                 f"{f['curve_examples_needed']:,}), add them to {train}, then measure "
                                 "the fine-tune again (keep learning_curve: in its config)"})
        steps.append({"command": f"ftdecide validate {train} --model {model}",
                      "why": "check the training set line by line as it grows"
                      + ("" if train_path else " (train.jsonl: your training set)")})
        steps.append({"command": f"ftdecide assess --answers {answers} --train {train}",
                      "why": "assess again once there are enough reviewed examples (update "
                             "costs.examples_reviewed in the answers)"})
    elif label == "not-tunable":
        steps.append({"command": "ftdecide prices", "why": "every model with its tunability, prices and shutdown date"})
        alts = list(f["tunable_alternatives"] or []) + list(f["tunable_elsewhere"] or [])
        if alts:
            steps.append({"command": f"ftdecide estimate {train} --model {_q(alts[0])}{rpm}{estimate_flags}",
                          "why": f"price a tunable alternative ({alts[0]}), then set costs.model to it and assess again"
                          + ("" if train_path else " (train.jsonl: your training set)")})
    elif label == "keep-baseline":
        if run is not None:
            steps.append({"command": f"ftdecide report {_q(run['run_id'])}",
                          "why": "the comparison that supports keeping the baseline, to share"})
        else:
            arms = "zeroshot,fewshot" + (",rag" if f["rag_tried"] else "")
            steps.append({"command": f"{compare_base} --arms {arms} --baseline fewshot{rpm}",
                          "why": "confirm on your eval set that the baseline meets the target, with an interval" + note})
    elif label == "fine-tune":
        tuned = (run or {}).get("tuned_model")
        if run is not None and tuned:
            steps.append({"command": f"{compare_base} --tuned {_q(tuned)} --arms fewshot,finetuned "
                                     f"--baseline fewshot --fail-under finetuned:0",
                          "why": "a gate for CI: fails when the fine-tune stops beating few-shot on a new eval set" + note})
        steps.append({"command": f"ftdecide tune {train} --model {model}{budget}",
                      "why": "train the production fine-tune on the full reviewed set (shows the cost and asks first)"
                      + ("" if train_path else " (train.jsonl: your training set)")})
    return steps


def _calibrate_judge(f: Mapping[str, Any], run: Mapping[str, Any] | None,
                     reassess: dict[str, str]) -> list[dict[str, str]]:
    """The steps that calibrate a run's judge: people mark items in the report's review mode,
    and the same comparison is re-run with their marks as ``human_labels`` (every answer and
    judgment comes from the cache, so only the agreement is new)."""
    run_id = str((run or {}).get("run_id") or f.get("run_id") or "RUN")
    labels = f"human_labels-{run_id}.csv"
    return [
        {"command": f"ftdecide report {_q(run_id)}",
         "why": "open the report, switch the drill-down to review mode and mark 30 or more items "
                "(pass/fail or 1–5, on the judge's scale); its Review button downloads "
                f"{labels}"},
        {"command": f"ftdecide compare -c compare.yaml --human-labels {_q(labels)}",
         "why": f"re-run the same comparison with the marks (or add `human_labels: {labels}` to "
                "compare.yaml, the run's config with its judge: block); answers and judgments "
                f"come from the cache, only the judge's κ is new (it must reach "
                f"{_n(f.get('judge_kappa_threshold')) or '0.6'})"},
        reassess,
    ]
