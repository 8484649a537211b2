"""The schedule a run trains with, and the time-budget trade, decided where both can be measured.

:func:`decide_schedule` runs in the training process (every torchrun rank,
with the same inputs, so they agree) once the training set and the model are
loaded: it knows the exact number of examples, their tokens in the model's
own tokenizer and the model's parameter count. :func:`budget_check` is the
same arithmetic as the estimate shown before a job starts
(:func:`ftdecide_hf_trl.hardware.estimate_training`, from ``validate``'s
statistics): both call :func:`ftdecide_hf_trl.hardware.fit_on_machine`.

Without a ``time_budget`` nothing is traded. With one, a schedule that would
run longer is first given LoRA on the top half of the layers only (unless the
user chose the layers), then fewer steps; the warning says so before training
starts, and the trade is recorded in ``hyperparameters.json`` (so a resume
keeps it), the run's ``metadata.json`` and the job's metrics.
"""

from __future__ import annotations

import sys
from typing import Any, Mapping, Sequence

from . import hardware, schedule


def decide_schedule(hp: dict[str, Any], plan: dict[str, Any], options: Mapping[str, Any], *,
                    records: Sequence[Mapping[str, Any]], tokenizer: Any, parameters: int,
                    device_name: str, lora_layers_given: bool = False,
                    is_main: bool = True) -> dict[str, Any]:
    """Fill ``hp`` (epochs, learning_rate, lora_layers) and return the run's schedule record.

    ``plan``: ``{"max_steps", "save_steps"}`` from the options. The record
    holds :func:`ftdecide_hf_trl.schedule.plan`'s keys, ``max_steps`` (always
    set: the trainer runs by steps), ``learning_rate_source`` and, with a
    budget, ``time_budget`` (:func:`ftdecide_hf_trl.schedule.fit_time_budget`'s
    result). ``lora_layers_given``: the user chose the layers, so the budget
    trades only steps. Prints the budget warning on stderr (rank 0; under
    torchrun the worker also relays it through ``progress.jsonl``).
    """
    user_epochs = hp["epochs"]
    sched = schedule.plan(len(records), batch_size=hp["batch_size"],
                          gradient_accumulation_steps=hp["gradient_accumulation_steps"],
                          epochs=user_epochs, max_steps=plan.get("max_steps"))
    record: dict[str, Any] = {**plan, **sched}
    if hp["learning_rate"] is None:
        hp["learning_rate"] = schedule.learning_rate_for(parameters)
        record["learning_rate_source"] = f"model size ({parameters / 1e6:.0f} M parameters)"
    else:
        record["learning_rate_source"] = "given"
    budget = schedule.time_budget_seconds(options)
    if budget is not None:
        per_step = hp["batch_size"] * hp["gradient_accumulation_steps"] * _mean_tokens(records, tokenizer)
        fit = hardware.fit_on_machine(sched, budget_s=budget, tokens_per_step=per_step,
                                      parameters=parameters, device_name=device_name,
                                      lora_layers=hp["lora_layers"],
                                      lora_layers_given=lora_layers_given)
        record["time_budget"] = fit
        trade = fit.get("trade") or {}
        if "lora_layers" in trade:
            hp["lora_layers"] = trade["lora_layers"]
        if "max_steps" in trade:
            cut = schedule.plan(len(records), batch_size=hp["batch_size"],
                                gradient_accumulation_steps=hp["gradient_accumulation_steps"],
                                max_steps=trade["max_steps"])
            record.update(cut, source="time_budget")
        if fit.get("message") and is_main:
            print(f"Warning: {fit['message']}", file=sys.stderr, flush=True)
    record["max_steps"] = record["steps"]
    if user_epochs is None:
        epochs = record["epochs"]
        hp["epochs"] = int(epochs) if float(epochs).is_integer() else epochs
    return record


def _mean_tokens(records: Sequence[Mapping[str, Any]], tokenizer: Any) -> float:
    """Mean tokens of prompt + completion as the chat template renders them (what TRL trains)."""
    total = 0
    for r in records:
        text = tokenizer.apply_chat_template([*r["prompt"], *r["completion"]], tokenize=False)
        total += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return total / max(1, len(records))


__all__ = ["decide_schedule"]
