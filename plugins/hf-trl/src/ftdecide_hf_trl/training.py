"""LoRA supervised fine-tuning with TRL: what ``ftdecide tune --model hf/...`` runs.

One entry point, :func:`train`, called by the provider with a
:class:`ftdecide.TuneRequest` and the resolved base model. Everything it
writes lives in ``request.run_dir``::

    run_dir/
      hyperparameters.json   the hyperparameters and schedule used (a resume reuses them)
      checkpoints/           Trainer's checkpoint-N folders (the last 2), resume points
      loss_curve.json/.csv   rows {step, epoch, train_loss, valid_loss?}
      adapter/               the LoRA adapter + tokenizer (on success)
      merged/                base with the adapter merged in (``options["merge"]``)
      metadata.json          what was trained on what, how long, how fast, versions
      request.json, result.json, progress.jsonl, train.log   (multi-process runs only)
      STOP                   written to ask a running job to checkpoint and stop

Loss is on the completion only, whatever the chat template: each chat
example becomes a prompt/completion record (prompt = the messages before the
last assistant message, completion = that message), for which TRL's
``completion_only_loss`` masks the prompt (reference/hf.md §3, §4).

Interruption: Ctrl-C (SIGINT), SIGTERM, a ``STOP`` file in ``run_dir`` or the
test-only ``options["stop_after_steps"]`` let the current optimizer step
finish, save a checkpoint at that step and return ``status="interrupted"``.
A second Ctrl-C aborts at once (the last periodic checkpoint stays). With
``resume=True`` training continues from the last complete checkpoint and ends
at the same total number of steps. ``kill -9`` loses at most the steps since
the last periodic checkpoint (``options["save_steps"]``).

Options (``request.options``): ``processes`` (default :func:`auto_processes`:
2 on a multi-core CPU for models of 50M+ parameters, else 1), ``merge``
(also write ``merged/``), ``save_steps`` (checkpoint interval; default about
10% of the steps, at most 50), ``max_steps`` (a cap), ``device`` ("cpu" or
"cuda"; default cuda when there is one) and, for tests,
``stop_after_steps`` (interrupt as Ctrl-C would after that step).
``processes = N > 1`` runs the same code under ``torchrun`` (see
:mod:`ftdecide_hf_trl.train_worker`): gloo on CPU, nccl on GPUs; the
``batch_size`` stays the global batch (each process takes batch_size / N).

Heavy libraries (torch, transformers, trl, peft, datasets) are imported
inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Mapping

from ftdecide.errors import FtdecideError, UsageError
from ftdecide.providers import JobState, ProgressCallback, TuneRequest, content_text

CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
METADATA_FILE = "metadata.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
LOSS_CURVE_JSON = "loss_curve.json"
LOSS_CURVE_CSV = "loss_curve.csv"
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "train.log"
STOP_FILE = "STOP"

MAX_LENGTH_CAP = 2048
"""Upper bound of the data-derived ``max_length`` (also capped by the model's positions)."""

HYPERPARAMETER_NAMES = (
    "epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "lora_r",
    "lora_alpha", "lora_dropout", "target_modules", "lora_layers", "max_length", "seed", "lr_scheduler",
    "warmup_ratio", "weight_decay", "activation_checkpointing",
)
_ALIASES = {"n_epochs": "epochs", "num_epochs": "epochs", "num_train_epochs": "epochs",
            "lr": "learning_rate", "per_device_train_batch_size": "batch_size", "r": "lora_r"}


# -- public helpers ----------------------------------------------------------------------

def default_hyperparameters(device: str) -> dict[str, Any]:
    """The defaults on ``device`` ("cpu" or "cuda"); ``max_length`` None = from the data.

    LoRA r=16, alpha=2r, dropout 0 on every linear layer ("all-linear"), lr
    2e-4 with linear decay (reference/hf.md §4), seed 0. Activation
    checkpointing off: it costs about 20% per step and models this size do
    not need it.

    CPU: 1 epoch at batch 8, LoRA on the linear layers of the top half of
    the decoder layers only (``lora_layers="top_half"``): backpropagation
    then stops half-way down. Measured on SmolLM2-135M with triage batches,
    one thread: 66 tokens per CPU-second with LoRA on all 30 layers, 95 on
    the top 15 (1.44x). The bundled 400-example triage set is 68.5k SmolLM2
    tokens: on all layers that is over 10 minutes of a 2-core CPU, more
    than the budget of ``tune``. The default run (top half, 2 processes, see
    :func:`auto_processes`) took 529 s on an otherwise idle 2-core AMD EPYC
    (training loop 510 s, 134 tokens/s; loss 1.90 → 0.29), model load and
    saving included. ``lora_layers`` = N (the top N layers) trades quality
    for more speed, "all" the reverse. CUDA: 3 epochs at batch 16, LoRA on
    every layer.
    """
    cpu = device == "cpu"
    return {
        "epochs": 1 if cpu else 3,
        "learning_rate": 2e-4,
        "batch_size": 8 if cpu else 16,
        "gradient_accumulation_steps": 1,
        "lora_r": 16,
        "lora_alpha": None,
        "lora_dropout": 0.0,
        "target_modules": "all-linear",
        "lora_layers": "top_half" if cpu else "all",
        "max_length": None,
        "seed": 0,
        "lr_scheduler": "linear",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "activation_checkpointing": False,
    }


def resolve_hyperparameters(user: Mapping[str, Any], *, device: str) -> dict[str, Any]:
    """Defaults for ``device`` overridden by what the user set, checked.

    Raises UsageError for an unknown name or a bad value. ``lora_alpha``
    defaults to ``2 * lora_r``; ``max_length`` stays None (= from the data).
    """
    hp = default_hyperparameters(device)
    for key, value in dict(user or {}).items():
        name = _ALIASES.get(key, key)
        if name not in hp:
            raise UsageError(f"unknown hyperparameter {key!r} for hf fine-tuning",
                             hint="known: " + ", ".join(HYPERPARAMETER_NAMES))
        if value is not None:
            hp[name] = value

    def number(name: str, kind: type, minimum: float, *, strict: bool = False) -> None:
        value = hp[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"hyperparameter {name} must be a number, got {value!r}")
        if kind is int:
            if float(value) != int(value):
                raise UsageError(f"hyperparameter {name} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if value < minimum or (strict and value == minimum):
            raise UsageError(f"hyperparameter {name} must be {'>' if strict else '>='} {minimum}, "
                             f"got {value!r}")
        hp[name] = value

    number("epochs", float, 0, strict=True)
    if float(hp["epochs"]).is_integer():
        hp["epochs"] = int(hp["epochs"])
    number("learning_rate", float, 0, strict=True)
    number("batch_size", int, 1)
    number("gradient_accumulation_steps", int, 1)
    number("lora_r", int, 1)
    if hp["lora_alpha"] is None:
        hp["lora_alpha"] = 2 * hp["lora_r"]
    number("lora_alpha", float, 0, strict=True)
    if float(hp["lora_alpha"]).is_integer():
        hp["lora_alpha"] = int(hp["lora_alpha"])
    number("lora_dropout", float, 0)
    if hp["lora_dropout"] >= 1:
        raise UsageError("hyperparameter lora_dropout must be below 1")
    if hp["max_length"] is not None:
        number("max_length", int, 8)
    number("seed", int, 0)
    number("warmup_ratio", float, 0)
    if hp["warmup_ratio"] >= 1:
        raise UsageError("hyperparameter warmup_ratio must be below 1")
    number("weight_decay", float, 0)
    if not isinstance(hp["activation_checkpointing"], bool):
        raise UsageError("hyperparameter activation_checkpointing must be true or false")
    tm = hp["target_modules"]
    if not (isinstance(tm, str) or (isinstance(tm, (list, tuple)) and all(isinstance(t, str) for t in tm))):
        raise UsageError("hyperparameter target_modules must be 'all-linear' or a list of module names")
    if isinstance(tm, tuple):
        hp["target_modules"] = list(tm)
    layers = hp["lora_layers"]
    if isinstance(layers, bool) or not (layers in ("all", "top_half")
                                        or (isinstance(layers, int) and layers >= 1)):
        raise UsageError("hyperparameter lora_layers must be 'all', 'top_half' or a number of top layers, "
                         f"got {layers!r}")
    if not isinstance(hp["lr_scheduler"], str):
        raise UsageError("hyperparameter lr_scheduler must be a name such as 'linear' or 'cosine'")
    return hp


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


def last_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete ``checkpoint-N`` folder of ``run_dir`` (one with trainer_state.json)."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        name = child.name
        if name.startswith("checkpoint-") and name[11:].isdigit() and (child / "trainer_state.json").is_file():
            found.append((int(name[11:]), child))
    return max(found)[1] if found else None


def request_stop(run_dir: str | os.PathLike[str]) -> None:
    """Ask the job training in ``run_dir`` to checkpoint and stop after its current step."""
    path = Path(run_dir) / STOP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("stop\n")


def lora_targets(model: Any, target_modules: Any, lora_layers: Any) -> dict[str, Any]:
    """LoraConfig arguments for ``target_modules`` on ``lora_layers`` of ``model``.

    ``lora_layers``: "all", "top_half" or N (the top N decoder layers). PEFT
    accepts ``layers_to_transform`` only with explicit module names, so
    "all-linear" is spelled out as the linear modules found inside the
    decoder layers. A model whose layers cannot be found trains every layer.
    """
    import re

    import torch

    if lora_layers == "all":
        return {"target_modules": target_modules}
    found: dict[str, set[str]] = {}
    indices: set[int] = set()
    pattern = re.compile(r"(?:^|\.)(layers|h|blocks|layer)\.(\d+)\.")
    for name, module in model.named_modules():
        match = pattern.search(name)
        if match and isinstance(module, torch.nn.Linear):
            found.setdefault(match.group(1), set()).add(name.rsplit(".", 1)[-1])
            indices.add(int(match.group(2)))
    if len(found) != 1 or not indices:
        return {"target_modules": target_modules}
    layers_pattern, names = next(iter(found.items()))
    n = max(indices) + 1
    keep = (n + 1) // 2 if lora_layers == "top_half" else min(int(lora_layers), n)
    modules = sorted(names) if target_modules == "all-linear" else target_modules
    return {"target_modules": modules, "layers_to_transform": list(range(n - keep, n)),
            "layers_pattern": layers_pattern}


# -- the entry point ---------------------------------------------------------------------

def train(request: TuneRequest, *, base: Any, progress: ProgressCallback | None = None,
          resume: bool = False) -> JobState:
    """Fine-tune ``base`` with LoRA on ``request.train_path``; return the final JobState.

    ``base``: a ``models.ResolvedModel`` (``spec``, ``path``/``ensure_local()``,
    ``adapter_dir``: when set, that adapter is trained further). Returns
    ``succeeded`` (adapter in ``run_dir/adapter``), ``interrupted`` (a
    checkpoint to resume from) or ``failed`` (``error`` says why). Raises
    FtdecideError only for what is wrong before training starts (bad
    hyperparameters or options, no base folder).
    """
    run_dir = Path(request.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    options = dict(request.options or {})
    processes = _int_option(options, "processes", None, minimum=1)
    spec = str(getattr(base, "spec", "") or "")
    ensure = getattr(base, "ensure_local", None)
    base_path = ensure() if callable(ensure) else getattr(base, "path", None)
    if base_path is None:
        raise UsageError(f"the base model {spec!r} has no local folder to train from")
    if processes is None:
        saved = _read_json(run_dir / HYPERPARAMETERS_FILE) if resume else None
        batch = (saved or {}).get("hyperparameters", {}).get("batch_size") or \
            resolve_hyperparameters(request.hyperparameters, device=_device(options))["batch_size"]
        processes = auto_processes(Path(base_path), parameters=getattr(base, "parameters", None),
                                   device=options.get("device"), batch_size=batch)
    adapter = getattr(base, "adapter_dir", None)
    merged = getattr(base, "merged_dir", None)
    if adapter and merged and Path(merged) == Path(base_path):
        adapter = None  # a run's merged folder already holds its adapter: train a new LoRA on it
    base_info = {"spec": spec or str(base_path), "path": str(base_path),
                 "adapter_dir": str(adapter) if adapter else None}
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    if processes > 1:
        return _train_multiprocess(request, base_info, processes, progress, resume)
    return run_training(request, base_info, progress=progress, resume=resume)


AUTO_PROCESSES_MIN_PARAMETERS = 50_000_000


def auto_processes(base_dir: Path, *, parameters: int | None = None, device: str | None = None,
                   batch_size: int = 8) -> int:
    """How many processes :func:`train` uses when ``options["processes"]`` is not set.

    2 on a CPU with at least 2 cores for a model of at least 50M parameters
    and an even ``batch_size`` (each process takes half), else 1. Measured on a 2-core CPU with SmolLM2-135M (reference/hf.md §5):
    2 processes x 1 thread trained 1.25x faster than 1 process x 2 threads
    with identical losses, and when other programs compete for the cores
    torch's 2 OpenMP threads slow down several-fold while 2 single-threaded
    processes barely do. For a tiny model one process is faster (the torchrun
    start and the gradient all-reduce dominate). On GPUs: 1 (several GPUs are
    asked for explicitly).
    """
    if device == "cuda" or (device is None and _cuda_available()):
        return 1
    if _cores() < 2 or batch_size % 2:
        return 1
    if parameters is None:
        # without loading: float32 safetensors hold 4 bytes a parameter (bf16 files undercount)
        parameters = sum(p.stat().st_size for p in Path(base_dir).glob("*.safetensors")) // 4
    return 2 if parameters >= AUTO_PROCESSES_MIN_PARAMETERS else 1


def _cuda_available() -> bool:
    import torch
    return bool(torch.cuda.is_available())


# -- one process (or one rank of torchrun) -----------------------------------------------

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
    """The configured ``SFTTrainer`` that :func:`train` would run (for tests and benchmarks).

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

    # Hyperparameters: a resume reuses those of the first start, so the schedule
    # (total steps) is the same.
    saved = _read_json(run_dir / HYPERPARAMETERS_FILE) if resume else None
    if saved:
        hp = dict(saved["hyperparameters"])
        schedule = dict(saved.get("schedule", {}))
    else:
        hp = resolve_hyperparameters(request.hyperparameters, device=device)
        schedule = {"max_steps": _int_option(options, "max_steps", None, minimum=1),
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
    total_steps = schedule["max_steps"] or math.ceil(hp["epochs"] * steps_per_epoch)
    save_steps = schedule["save_steps"] or max(1, min(50, round(total_steps / 10)))
    schedule.update(save_steps=save_steps)

    from trl import SFTConfig, SFTTrainer
    args = SFTConfig(
        output_dir=str(run_dir / CHECKPOINTS_DIR),
        num_train_epochs=hp["epochs"],
        max_steps=schedule["max_steps"] or -1,
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
        eval_strategy="epoch" if eval_ds is not None else "no",
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
    return Prepared(trainer=trainer, tokenizer=tokenizer, hp=hp, schedule=schedule,
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


# -- callbacks ---------------------------------------------------------------------------

def _callback_base() -> type:
    from transformers import TrainerCallback
    return TrainerCallback


LAUNCHER_ENV = "FTDECIDE_LAUNCHER_PID"


def _launcher_gone() -> bool:
    """True on a torchrun rank whose launching ftdecide process no longer exists.

    torchrun starts its ranks in their own sessions, so killing the launcher
    (even its whole process group) leaves them running; each rank checks this
    after every step.
    """
    pid = os.environ.get(LAUNCHER_ENV)
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class _StopFlag:
    """Set by SIGINT/SIGTERM (main thread only), a STOP file, ``stop_after_steps`` or the
    launcher's death (torchrun ranks)."""

    def __init__(self, run_dir: Path, stop_after: int | None) -> None:
        self.stop_file = run_dir / STOP_FILE
        self.stop_after = stop_after
        self.requested = False
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # pragma: no cover - exotic platforms
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass
        self._previous.clear()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT and int(os.environ.get("WORLD_SIZE", "1")) == 1:
            # A second Ctrl-C: stop now. Not under torchrun, which forwards the
            # terminal's Ctrl-C to its workers a second time.
            raise KeyboardInterrupt
        self.requested = True
        self.reason = signal.Signals(signum).name
        if signum == signal.SIGINT:
            print("\nftdecide: stopping after this step and saving a checkpoint "
                  "(Ctrl-C again to abort now)", file=sys.stderr, flush=True)

    def check(self, step: int, start_step: int) -> bool:
        if self.requested:
            return True
        if self.stop_file.exists():
            self.requested, self.reason = True, "stop file"
        elif _launcher_gone():
            # the ftdecide process that launched torchrun was killed (SIGKILL, OOM):
            # checkpoint and stop rather than train on as orphans nobody records
            self.requested, self.reason = True, "launcher gone"
        elif self.stop_after is not None and start_step < self.stop_after <= step:
            self.requested, self.reason = True, "stop_after_steps"
        return self.requested


def _make_callbacks() -> tuple[type, type]:
    base = _callback_base()

    class StopCallback(base):  # type: ignore[misc, valid-type]
        def __init__(self, flag: _StopFlag) -> None:
            self.flag = flag
            self.interrupted = False
            self.start_step = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start_step = state.global_step

        def on_step_end(self, args, state, control, **kwargs):
            stop = self.flag.check(state.global_step, self.start_step)
            if args.world_size > 1:
                # Every rank must stop at the same step, or the others hang in the next all-reduce.
                import torch
                import torch.distributed as dist
                if dist.is_available() and dist.is_initialized():
                    flag = torch.tensor([1 if stop else 0], device=args.device)
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    stop = bool(flag.item())
                    if stop and not self.flag.requested:
                        self.flag.requested, self.flag.reason = True, self.flag.reason or "another rank"
            if stop and state.global_step < state.max_steps:
                self.interrupted = True
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.interrupted:
                control.should_evaluate = False
            return control

    class Reporter(base):  # type: ignore[misc, valid-type]
        def __init__(self, run_dir: Path, job_id: str, hp: dict, progress: ProgressCallback | None,
                     progress_file: Path | None, is_main: bool) -> None:
            self.run_dir = run_dir
            self.job_id = job_id
            self.hp = hp
            self.progress = progress
            self.progress_file = progress_file
            self.is_main = is_main
            self.rows: list[dict[str, Any]] = []
            self.total_steps: int | None = None
            self._warned = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.total_steps = state.max_steps
            # On resume the checkpoint's log history holds the earlier curve.
            self.rows = _rows_from_history(state.log_history)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not self.is_main or not logs:
                return
            row = None
            if "loss" in logs:
                row = {"step": state.global_step, "epoch": _round(state.epoch), "train_loss": float(logs["loss"])}
                self.rows.append(row)
            elif "eval_loss" in logs:
                row = _attach_valid(self.rows, state.global_step, state.epoch, float(logs["eval_loss"]))
            if row is None:
                return
            if self.progress_file is not None:
                with self.progress_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, "total_steps": self.total_steps,
                                        "row": row}) + "\n")
            if self.progress is not None:
                try:
                    self.progress(JobState(status="running", provider_job_id=self.job_id,
                                           step=state.global_step, total_steps=self.total_steps,
                                           loss_curve=list(self.rows), hyperparameters=dict(self.hp),
                                           trained_tokens=int(state.num_input_tokens_seen)))
                except Exception as exc:  # noqa: BLE001 - a broken progress bar must not stop training
                    if not self._warned:
                        self._warned = True
                        print(f"ftdecide: progress callback failed: {exc}", file=sys.stderr)

        def on_save(self, args, state, control, **kwargs):
            if self.is_main:
                self.write_curve()  # the curve on disk matches the newest checkpoint

        def write_curve(self) -> None:
            write_loss_curve(self.run_dir, self.rows)

    return StopCallback, Reporter


_CALLBACKS: tuple[type, type] | None = None


def _callbacks() -> tuple[type, type]:
    global _CALLBACKS
    if _CALLBACKS is None:
        _CALLBACKS = _make_callbacks()
    return _CALLBACKS


def _StopCallback(flag: _StopFlag) -> Any:  # noqa: N802 - a factory that reads like a class
    return _callbacks()[0](flag)


def _Reporter(*args: Any) -> Any:  # noqa: N802
    return _callbacks()[1](*args)


def _rows_from_history(history: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in history or []:
        if "loss" in entry:
            rows.append({"step": int(entry["step"]), "epoch": _round(entry.get("epoch")),
                         "train_loss": float(entry["loss"])})
        elif "eval_loss" in entry:
            _attach_valid(rows, int(entry["step"]), entry.get("epoch"), float(entry["eval_loss"]))
    return rows


def _attach_valid(rows: list[dict[str, Any]], step: int, epoch: Any, loss: float) -> dict[str, Any]:
    if rows and rows[-1]["step"] == step:
        rows[-1]["valid_loss"] = loss
        return rows[-1]
    row = {"step": step, "epoch": _round(epoch), "valid_loss": loss}
    rows.append(row)
    return row


def write_loss_curve(run_dir: Path, rows: list[Mapping[str, Any]]) -> None:
    """``loss_curve.json`` (a list of rows) and ``loss_curve.csv`` (step,epoch,train_loss,valid_loss)."""
    _write_json(run_dir / LOSS_CURVE_JSON, list(rows))
    tmp = run_dir / (LOSS_CURVE_CSV + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "epoch", "train_loss", "valid_loss"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    os.replace(tmp, run_dir / LOSS_CURVE_CSV)


# -- several processes: torchrun ---------------------------------------------------------

def _train_multiprocess(request: TuneRequest, base_info: Mapping[str, Any], processes: int,
                        progress: ProgressCallback | None, resume: bool) -> JobState:
    """Run :func:`run_training` on ``processes`` ranks under torchrun and read rank 0's result."""
    started = time.time()
    run_dir = Path(request.run_dir)
    for name in (RESULT_FILE, PROGRESS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    _write_json(run_dir / REQUEST_FILE, {
        "request": {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
                   | {"hyperparameters": dict(request.hyperparameters), "options": dict(request.options)},
        "base": dict(base_info),
        "resume": resume,
    })
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])  # works installed or not
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(max(1, _cores() // processes))
    env.setdefault("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "120")  # time to finish a step and checkpoint
    env[LAUNCHER_ENV] = str(os.getpid())
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", str(processes), "-m", "ftdecide_hf_trl.train_worker", str(run_dir)]
    log = (run_dir / LOG_FILE).open("ab")
    stop = _ParentStop(run_dir)
    stop.install()
    rows: list[dict[str, Any]] = []
    offset = 0
    total: int | None = None
    try:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        stop.proc = proc
        while True:
            done = proc.poll() is not None
            offset, total = _tail_progress(run_dir / PROGRESS_FILE, offset, rows, total, progress,
                                           request.job_id)
            if done:
                break
            time.sleep(0.3)
    except KeyboardInterrupt:
        proc = stop.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    finally:
        stop.restore()
        log.close()
    result = _read_json(run_dir / RESULT_FILE)
    if result is not None:
        state = JobState(**result)
        if state.status == "succeeded":
            # what the user waited for: the launch and every rank's imports included
            from . import hardware
            metrics = state.metrics
            metrics["worker_wall_s"] = metrics.get("wall_s")
            metrics["wall_s"] = round(time.time() - started, 3)
            if str(metrics.get("device", "")).startswith("cuda"):
                cost = hardware.actual_cost(metrics["device"], wall_s=metrics["wall_s"], gpus=processes)
                metrics.update(usd_per_hour=cost["usd_per_hour"], actual_cost_usd=cost["actual_cost_usd"])
            meta = _read_json(run_dir / METADATA_FILE)
            if meta is not None:
                meta.update(wall_s=metrics["wall_s"], actual_cost_usd=metrics.get("actual_cost_usd"))
                _write_json(run_dir / METADATA_FILE, meta)
        return state
    ckpt = last_checkpoint(run_dir)
    if stop.requested:
        step = _checkpoint_step(ckpt)
        return JobState(status="interrupted", provider_job_id=request.job_id, step=step, total_steps=total,
                        loss_curve=[r for r in rows if step is None or r["step"] <= step],
                        metrics={"checkpoint": str(ckpt) if ckpt else None, "aborted": True})
    tail = _tail_text(run_dir / LOG_FILE)
    return JobState(status="failed", provider_job_id=request.job_id, loss_curve=rows,
                    error=f"torchrun exited with code {proc.returncode}; see {run_dir / LOG_FILE}"
                          + (f":\n{tail}" if tail else ""))


class _ParentStop:
    """In the launching process: the first SIGINT/SIGTERM writes STOP (ranks checkpoint and
    stop together); a second SIGINT aborts."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.requested = False
        self.proc: subprocess.Popen | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        request_stop(self.run_dir)


def _tail_progress(path: Path, offset: int, rows: list[dict[str, Any]], total: int | None,
                   progress: ProgressCallback | None, job_id: str) -> tuple[int, int | None]:
    if not path.exists():
        return offset, total
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n")
    if end < 0:
        return offset, total
    for line in data[:end].splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        total = item.get("total_steps", total)
        row = item["row"]
        if rows and rows[-1]["step"] == row["step"]:
            rows[-1] = row
        else:
            rows.append(row)
        if progress is not None:
            progress(JobState(status="running", provider_job_id=job_id, step=item.get("step"),
                              total_steps=total, loss_curve=list(rows)))
    return offset + end + 1, total


# -- small helpers -----------------------------------------------------------------------

def _device(options: Mapping[str, Any]) -> str:
    import torch
    wanted = options.get("device")
    if wanted not in (None, "cpu", "cuda"):
        raise UsageError(f"option device must be 'cpu' or 'cuda', got {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise UsageError("option device='cuda' but no CUDA GPU is available")
    if wanted:
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def _device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {_cores()} cores"


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask, as in containers or under taskset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _int_option(options: Mapping[str, Any], name: str, default: int | None, *,
                minimum: int) -> int | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value) \
            or int(value) < minimum:
        raise UsageError(f"option {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)




def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _checkpoint_step(path: Path | None) -> int | None:
    return int(path.name.rsplit("-", 1)[1]) if path is not None else None


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


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _tail_text(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").strip().splitlines()[-lines:])


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


def main_worker(run_dir: str | os.PathLike[str]) -> int:
    """What ``python -m ftdecide_hf_trl.train_worker RUN_DIR`` does on each torchrun rank."""
    run_dir = Path(run_dir)
    saved = _read_json(run_dir / REQUEST_FILE)
    if saved is None:
        print(f"ftdecide: no {REQUEST_FILE} in {run_dir}", file=sys.stderr)
        return 2
    request = TuneRequest(**saved["request"])
    rank = int(os.environ.get("RANK", "0"))
    try:
        state = run_training(request, saved["base"], resume=bool(saved.get("resume")),
                             progress_file=run_dir / PROGRESS_FILE if rank == 0 else None)
    except FtdecideError as exc:
        state = JobState(status="failed", provider_job_id=request.job_id, error=exc.message)
    if rank == 0:
        _write_json(run_dir / RESULT_FILE, state.to_dict())
    return 0 if state.status in ("succeeded", "interrupted") else 1


__all__ = [
    "auto_processes", "default_hyperparameters", "last_checkpoint", "request_stop", "resolve_hyperparameters",
    "run_training", "to_prompt_completion", "train", "write_loss_curve",
]
