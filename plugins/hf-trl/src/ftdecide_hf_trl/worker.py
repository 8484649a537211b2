"""One training process, or one rank of torchrun: the training itself.

:func:`run_training` turns the examples into prompt/completion records
(:func:`to_prompt_completion`), builds the configured ``SFTTrainer``
(:func:`build_trainer`), trains, saves the adapter (and the merged model)
and returns the final JobState; rank 0 writes the run folder's files.
Exceptions become a ``failed`` state with the traceback in ``error.txt``.

Heavy libraries (torch, transformers, trl, peft, datasets) are imported
inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from ftdecide.errors import FtdecideError, UsageError
from ftdecide.providers import JobState, ProgressCallback, TuneRequest, content_text

from .budget import decide_schedule
from .callbacks import _Reporter, _StopCallback
from .devices import _device, _device_name
from .hyperparameters import (
    MAX_LENGTH_CAP,
    _int_option,
    lora_targets,
    resolve_hyperparameters,
)
from .rundir import (
    ADAPTER_DIR,
    CHECKPOINTS_DIR,
    HYPERPARAMETERS_FILE,
    MERGED_DIR,
    METADATA_FILE,
    _checkpoint_step,
    _read_json,
    _write_json,
    last_checkpoint,
)
from .stopping import _StopFlag


def to_prompt_completion(messages: list[Mapping[str, Any]]) -> dict[str, list[dict[str, str]]]:
    """One chat example as a TRL prompt/completion record.

    prompt = every message before the last assistant message, completion =
    that message; messages after it (none in valid training data) are
    dropped. Only ``role`` and ``content`` are kept (list contents are joined
    text parts), so any chat template renders them.
    """
    clean = [{"role": str(m.get("role")), "content": content_text(m.get("content"))} for m in messages]
    last = max((i for i, m in enumerate(clean) if m["role"] == "assistant"), default=None)
    if last is None:
        raise UsageError("a training example has no assistant message")
    return {"prompt": clean[:last], "completion": [clean[last]]}


def run_training(request: TuneRequest, base_info: Mapping[str, Any], *,
                 progress: ProgressCallback | None = None, resume: bool = False,
                 progress_file: Path | None = None) -> JobState:
    """The training itself, in this process; under torchrun every rank runs it.

    Only rank 0 reports progress, writes files and returns the full state;
    other ranks return a bare state. Exceptions become ``failed``.
    """
    started = time.time()
    run_dir = Path(request.run_dir)
    stop = _StopFlag(run_dir, _int_option(request.options or {}, "stop_after_steps", None, minimum=1))
    stop.install()
    session: dict[str, Any] = {}
    try:
        return _run(request, base_info, progress, resume, progress_file, stop, started, session)
    except FtdecideError:
        raise
    except KeyboardInterrupt:
        # A second Ctrl-C (or one with no handler installed): give up the current
        # step, keep the last periodic checkpoint.
        ckpt = last_checkpoint(run_dir)
        step = _checkpoint_step(ckpt)
        return JobState(status="interrupted", provider_job_id=request.job_id, step=step,
                        total_steps=session.get("total_steps"),
                        loss_curve=[r for r in _session_rows(session) if step is None or r["step"] <= step],
                        hyperparameters=session.get("hyperparameters", {}),
                        metrics={"checkpoint": str(ckpt) if ckpt else None, "aborted": True})
    except Exception as exc:  # noqa: BLE001 - reported as a failed job, with the traceback in a file
        return _failed(request, exc, session)
    finally:
        stop.restore()


@dataclasses.dataclass
class Prepared:
    """A trainer ready to ``train()``, with what :func:`_run` needs around it."""

    trainer: Any
    tokenizer: Any
    hp: dict[str, Any]
    schedule: dict[str, Any]
    checkpoint: Path | None
    device: str
    processes: int
    is_main: bool
    total_steps: int
    examples: int
    kept: int
    longest: int
    reporter: Any
    stopper: Any
    resumed_hp: bool


def build_trainer(request: TuneRequest, base: Any, *, resume: bool = False,
                  progress: ProgressCallback | None = None) -> Any:
    """The configured ``SFTTrainer`` that :func:`~ftdecide_hf_trl.training.train` would run (for tests and benchmarks).

    ``trainer.train_dataset[i]["labels"]`` shows what is trained (-100 = masked).
    """
    ensure = getattr(base, "ensure_local", None)
    path = ensure() if callable(ensure) else getattr(base, "path", base)
    info = {"spec": str(getattr(base, "spec", path)), "path": str(path),
            "adapter_dir": str(base.adapter_dir) if getattr(base, "adapter_dir", None) else None}
    stop = _StopFlag(Path(request.run_dir), None)
    return _prepare(request, info, resume, progress, None, stop).trainer


def _prepare(request: TuneRequest, base_info: Mapping[str, Any], resume: bool,
             progress: ProgressCallback | None, progress_file: Path | None,
             stop: "_StopFlag") -> Prepared:
    import warnings

    import torch
    import transformers

    from ftdecide import load_examples

    run_dir = Path(request.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    options = dict(request.options or {})
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    is_main = int(os.environ.get("RANK", "0")) == 0
    device = _device(options)

    # Hyperparameters and schedule: a resume reuses those of the first start (the
    # time-budget trade included), so it ends at the same step.
    saved = _read_json(run_dir / HYPERPARAMETERS_FILE) if resume else None
    if saved:
        hp = dict(saved["hyperparameters"])
        plan = dict(saved.get("schedule", {}))
    else:
        hp = resolve_hyperparameters(request.hyperparameters, device=device)
        plan = {"max_steps": _int_option(options, "max_steps", None, minimum=1),
                "save_steps": _int_option(options, "save_steps", None, minimum=1)}
    if hp["batch_size"] % processes:
        raise UsageError(f"batch_size {hp['batch_size']} must be a multiple of processes ({processes})")
    per_device = hp["batch_size"] // processes
    checkpoint = last_checkpoint(run_dir) if resume else None

    train_records = [to_prompt_completion(e.messages) for e in load_examples(request.train_path)]
    if not train_records:
        raise UsageError(f"{request.train_path} has no training examples")
    valid_records = ([to_prompt_completion(e.messages) for e in load_examples(request.validation_path)]
                     if request.validation_path else [])

    base_dir = Path(base_info["path"])
    transformers.set_seed(hp["seed"])
    tokenizer = transformers.AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    cuda = device == "cuda"
    bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    model = transformers.AutoModelForCausalLM.from_pretrained(
        base_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    model_positions = getattr(model.config, "max_position_embeddings", None)
    cap = min(MAX_LENGTH_CAP, model_positions) if model_positions else MAX_LENGTH_CAP
    if not saved:
        plan = decide_schedule(hp, plan, options, records=train_records, tokenizer=tokenizer,
                               parameters=sum(p.numel() for p in model.parameters()),
                               device_name=_device_name(device), is_main=is_main,
                               lora_layers_given="lora_layers" in (request.hyperparameters or {}))
        message = (plan.get("time_budget") or {}).get("message")
        if message and progress_file is not None:  # under torchrun: the launcher prints it
            with progress_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"warning": message}) + "\n")

    peft_config = None
    if base_info.get("adapter_dir"):
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, base_info["adapter_dir"], is_trainable=True)
    else:
        from peft import LoraConfig
        peft_config = LoraConfig(r=hp["lora_r"], lora_alpha=hp["lora_alpha"],
                                 lora_dropout=hp["lora_dropout"], task_type="CAUSAL_LM",
                                 **lora_targets(model, hp["target_modules"], hp["lora_layers"]))

    from datasets import Dataset, disable_progress_bars
    disable_progress_bars()
    train_ds = Dataset.from_list(train_records)
    eval_ds = Dataset.from_list(valid_records) if valid_records else None

    steps_per_epoch = math.ceil(math.ceil(len(train_records) / hp["batch_size"])
                                / hp["gradient_accumulation_steps"])
    # (runs of earlier releases saved no max_steps when the epochs decided)
    total_steps = plan["max_steps"] or math.ceil(hp["epochs"] * steps_per_epoch)
    save_steps = plan["save_steps"] or max(1, min(50, round(total_steps / 10)))
    plan.update(save_steps=save_steps)

    from trl import SFTConfig, SFTTrainer
    args = SFTConfig(
        output_dir=str(run_dir / CHECKPOINTS_DIR),
        num_train_epochs=hp["epochs"],
        max_steps=total_steps,
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=per_device,
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        learning_rate=hp["learning_rate"],
        lr_scheduler_type=hp["lr_scheduler"],
        warmup_steps=hp["warmup_ratio"],
        weight_decay=hp["weight_decay"],
        max_length=hp["max_length"] or cap,
        completion_only_loss=True,
        packing=False,
        # Batches of similar lengths: on the triage set 30% less padding than random batches.
        train_sampling_strategy="group_by_length",
        bf16=bf16,
        use_cpu=not cuda,
        activation_checkpointing=hp["activation_checkpointing"],
        seed=hp["seed"],
        data_seed=hp["seed"],
        report_to="none",
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        # Validation loss before the first update (step 0: only a fresh start, a resume has
        # it in the checkpoint's log history), every ``eval_steps`` and at the last step.
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=_eval_steps(total_steps),
        eval_on_start=eval_ds is not None and checkpoint is None,
        # the loss is all ftdecide reads: without this the Trainer asks for the logits
        # too, and TRL runs a second forward pass for them (twice the eval time)
        prediction_loss_only=True,
        logging_strategy="steps",
        logging_steps=1 if total_steps <= 2000 else max(1, total_steps // 1000),
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )

    reporter = _Reporter(run_dir, request.job_id, hp, progress if is_main else None,
                         progress_file if is_main else None, is_main)
    stopper = _StopCallback(stop)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                             processing_class=tokenizer, peft_config=peft_config,
                             callbacks=[reporter, stopper])
    from transformers.trainer_callback import PrinterCallback
    trainer.remove_callback(PrinterCallback)

    kept = len(trainer.train_dataset)
    if trainer.eval_dataset is not None and len(trainer.eval_dataset) and kept:
        trainer.eval_dataset = _eval_subset(trainer, total_steps, hp)
    plan["valid_examples_used"] = len(trainer.eval_dataset) if trainer.eval_dataset is not None else 0
    if kept == 0:
        raise UsageError(f"every training example's prompt fills max_length={args.max_length} tokens, "
                         "so nothing is left to train on",
                         hint="shorten the prompts or raise max_length (up to the model's context)")
    longest = max(len(ids) for ids in trainer.train_dataset["input_ids"])
    if hp["max_length"] is None:
        # p100 of prompt+completion in the model's own tokens, rounded up to a multiple
        # of 8; sequences were truncated at ``cap``, so this is what is used.
        hp["max_length"] = min(cap, -(-longest // 8) * 8)
        trainer.args.max_length = hp["max_length"]
    return Prepared(trainer=trainer, tokenizer=tokenizer, hp=hp, schedule=plan,
                    checkpoint=checkpoint, device=device, processes=processes, is_main=is_main,
                    total_steps=total_steps, examples=len(train_records), kept=kept, longest=longest,
                    reporter=reporter, stopper=stopper, resumed_hp=bool(saved))


def _run(request: TuneRequest, base_info: Mapping[str, Any], progress: ProgressCallback | None,
         resume: bool, progress_file: Path | None, stop: "_StopFlag", started: float,
         session: dict[str, Any]) -> JobState:
    import warnings

    run_dir = Path(request.run_dir)
    merge = bool((request.options or {}).get("merge", False))
    prep = _prepare(request, base_info, resume, progress, progress_file, stop)
    trainer, tokenizer, hp, reporter, stopper = (prep.trainer, prep.tokenizer, prep.hp,
                                                 prep.reporter, prep.stopper)
    device, processes, is_main, checkpoint = prep.device, prep.processes, prep.is_main, prep.checkpoint
    cuda = device == "cuda"
    session["hyperparameters"] = hp
    session["total_steps"] = prep.total_steps
    session["reporter"] = reporter
    if is_main and not prep.resumed_hp:
        _write_json(run_dir / HYPERPARAMETERS_FILE, {"hyperparameters": hp, "schedule": prep.schedule})

    if stop.requested:  # a signal before the first step: nothing new to save
        return JobState(status="interrupted", provider_job_id=request.job_id,
                        step=_checkpoint_step(checkpoint) or 0, total_steps=prep.total_steps,
                        hyperparameters=hp)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        t0 = time.time()
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        train_wall = time.time() - t0

    state = trainer.state
    tokens_seen = int(state.num_input_tokens_seen)
    session_tokens = tokens_seen - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    tokens_per_s = session_tokens / train_wall if train_wall > 0 else None
    device_name = _device_name(device)

    if stopper.interrupted:
        ckpt = last_checkpoint(run_dir)
        if is_main:
            reporter.write_curve()
        return JobState(status="interrupted", provider_job_id=request.job_id, step=state.global_step,
                        total_steps=state.max_steps, loss_curve=list(reporter.rows),
                        trained_tokens=tokens_seen, hyperparameters=hp,
                        metrics={"checkpoint": str(ckpt) if ckpt else None, "reason": stop.reason,
                                 "device": device_name, "tokens_per_s": tokens_per_s})

    trainer.save_model(str(run_dir / ADAPTER_DIR))
    if not is_main:
        return JobState(status="succeeded", fine_tuned_model=request.job_id, step=state.global_step,
                        total_steps=state.max_steps)
    tokenizer.save_pretrained(str(run_dir / ADAPTER_DIR))
    merged_dir = None
    if merge:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(run_dir / MERGED_DIR))
        tokenizer.save_pretrained(str(run_dir / MERGED_DIR))
        merged_dir = MERGED_DIR
    reporter.write_curve()

    from . import hardware
    wall = time.time() - started
    cost = hardware.actual_cost(device_name, wall_s=wall, gpus=processes if cuda else 0)
    train_losses = [r["train_loss"] for r in reporter.rows if r.get("train_loss") is not None]
    valid_losses = [r["valid_loss"] for r in reporter.rows if r.get("valid_loss") is not None]
    metrics = {
        "train_loss": train_losses[-1] if train_losses else None,
        "train_loss_mean": output.training_loss,
        "eval_loss": valid_losses[-1] if valid_losses else None,
        "train_runtime": round(train_wall, 3),
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens_per_s, 2) if tokens_per_s else None,
        "trained_tokens": tokens_seen,
        "longest_example_tokens": prep.longest,
        "examples": prep.examples,
        "examples_dropped": prep.examples - prep.kept,
        "examples_seen": prep.schedule.get("examples_seen"),
        "schedule_source": prep.schedule.get("source"),
        "valid_examples_used": prep.schedule.get("valid_examples_used"),
        "time_budget": prep.schedule.get("time_budget"),
        "device": device_name,
        "processes": processes,
        "hardware": cost["hardware"],
        "usd_per_hour": cost["usd_per_hour"],
        "actual_cost_usd": cost["actual_cost_usd"],
    }
    metadata = {
        "job_id": request.job_id,
        "base_model": base_info["spec"],
        "base_model_dir": base_info["path"],
        "base_adapter_dir": base_info.get("adapter_dir"),
        "adapter_dir": ADAPTER_DIR,
        "merged_dir": merged_dir,
        "data_sha256": _sha256(request.train_path),
        "validation_sha256": _sha256(request.validation_path) if request.validation_path else None,
        "hyperparameters": hp,
        # how the steps and the learning rate were decided, and any time-budget trade
        "schedule": prep.schedule,
        "time_budget": prep.schedule.get("time_budget"),
        "metrics": {k: metrics[k] for k in ("train_loss", "train_loss_mean", "eval_loss", "train_runtime")},
        "wall_s": metrics["wall_s"],
        "tokens_per_s": metrics["tokens_per_s"],
        "trained_tokens": tokens_seen,
        "steps": state.global_step,
        "device": device_name,
        "processes": processes,
        "hardware": cost["hardware"],
        "actual_cost_usd": cost["actual_cost_usd"],
        "versions": _versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_json(run_dir / METADATA_FILE, metadata)
    return JobState(status="succeeded", fine_tuned_model=request.job_id, provider_job_id=request.job_id,
                    step=state.global_step, total_steps=state.max_steps, loss_curve=list(reporter.rows),
                    trained_tokens=tokens_seen, hyperparameters=hp, metrics=metrics)


EVAL_TOKEN_SHARE = 0.08
"""A validation pass reads at most this share of the run's training tokens (but at least
:data:`EVAL_MIN_EXAMPLES` examples): a forward pass costs about a third of a training token
(measured on SmolLM2, CPU: 455 against ~150 tokens/s), so 5 passes stay within ~13% of the run."""
EVAL_MIN_EXAMPLES = 8

EVAL_INTERVALS = 4
"""Validation loss is measured at step 0 and every ``ceil(steps / EVAL_INTERVALS)`` steps, the
last step included: about 5 points a run, enough for the core's verdict (start, end, and a dip
then a rise for overfitting) while the validation passes stay a small share of the run."""


def _eval_steps(total_steps: int) -> int:
    return max(1, math.ceil(total_steps / EVAL_INTERVALS))


def _eval_subset(trainer: Any, total_steps: int, hp: Mapping[str, Any]) -> Any:
    """The validation examples every pass measures, in length order.

    The first examples of the validation file (a seeded hold-out already) up
    to :data:`EVAL_TOKEN_SHARE` of the training tokens, at least
    :data:`EVAL_MIN_EXAMPLES`; then sorted by length, as batches of similar
    lengths pad least (the eval sampler is sequential, so every point of the
    curve is measured on the same batches).
    """
    train_lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
    mean = sum(train_lengths) / len(train_lengths)
    budget = EVAL_TOKEN_SHARE * total_steps * hp["batch_size"] * hp["gradient_accumulation_steps"] * mean
    lengths = [len(ids) for ids in trainer.eval_dataset["input_ids"]]
    keep, used = 0, 0
    for n in lengths:
        if keep >= EVAL_MIN_EXAMPLES and used + n > budget:
            break
        keep, used = keep + 1, used + n
    return trainer.eval_dataset.select(sorted(range(keep), key=lengths.__getitem__))


def _sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions() -> dict[str, str | None]:
    from importlib import metadata
    out: dict[str, str | None] = {}
    for name in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _session_rows(session: Mapping[str, Any]) -> list[dict[str, Any]]:
    reporter = session.get("reporter")
    return list(reporter.rows) if reporter is not None else []


def _failed(request: TuneRequest, exc: BaseException, session: Mapping[str, Any]) -> JobState:
    run_dir = Path(request.run_dir)
    try:
        with (run_dir / "error.txt").open("w", encoding="utf-8") as f:
            traceback.print_exception(exc, file=f)
    except OSError:
        pass
    message = f"{type(exc).__name__}: {exc}"
    lowered = message.lower()
    if "out of memory" in lowered or type(exc).__name__ == "OutOfMemoryError":
        message = ("out of memory while training; lower batch_size or max_length "
                   f"(or use gradient_accumulation_steps): {exc}")
    ckpt = last_checkpoint(run_dir)
    return JobState(status="failed", provider_job_id=request.job_id, error=message,
                    step=_checkpoint_step(ckpt), total_steps=session.get("total_steps"),
                    loss_curve=_session_rows(session),
                    hyperparameters=dict(session.get("hyperparameters", {})),
                    metrics={"checkpoint": str(ckpt) if ckpt else None,
                             "traceback": str(run_dir / "error.txt")})


__all__ = ["build_trainer", "run_training", "to_prompt_completion"]
