"""Benchmark: LoRA SFT tokens/s of ftdecide's train() against a bare TRL script.

One command (`make bench` or `python bench/sft.py`). On the triage example's
training set (400 tickets) with hf/smollm2-135m (SmolLM2-135M-Instruct,
converted into ftdecide's cache on first use, 20-40 s, once):

1. ours: `ftdecide_hf_trl.training.train()` with its defaults (LoRA r=16 on
   all linear layers of every decoder layer; batch 8, the learning rate for
   the model's size, max_length from the data, length-grouped batches,
   progress callback, checkpoint at the end) in one process for --steps
   optimizer steps;
2. bare: the same SFTTrainer settings written as a plain TRL script (same
   records, batches, seed; no callbacks, no checkpoint);
3. ours with processes=2 (torchrun) against ours with 1 (--processes 0 skips).

Tokens/s = non-padding tokens trained / the training loop's wall time; both
runs see the same batches, so the same tokens. Goals: ours/bare >= 0.9;
2 processes / 1 process > 1 on a 2-core CPU (reference/hf.md §5 measured 1.25x).
Prints one JSON line per run and the ratios; exit 1 when ours/bare < 0.9.

`--full` instead times a whole default run (every example, the default
schedule: 3 epochs of the 400 tickets, 150 steps, about half an hour on 2
cores), i.e. what `ftdecide tune --model hf/smollm2-135m` spends training.

Timings depend on what else runs on the machine: on a 2-core machine torch's
two threads slow down badly when another process competes for the cores, so
the load average and the process CPU time are printed with each run. On a GPU
(`--device cuda`) the same comparison runs in bf16; `--random-weights` builds
the model from the folder's config.json without its weights (tokens/s does
not depend on the values), for machines where the weights cannot be copied.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "src" / "ftdecide" / "examples" / "triage" / "train.jsonl"
OUT = ROOT / "bench" / "out" / "sft"


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _model_dir(args: argparse.Namespace) -> Path:
    if args.model_dir:
        folder = Path(args.model_dir)
    else:
        from ftdecide_hf_trl.resolve import resolve
        folder = resolve("smollm2-135m").ensure_local()
    if not args.random_weights:
        return folder
    # Same architecture and tokenizer, random weights: for throughput only.
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    dst = OUT / "random-weights"
    if not (dst / "config.json").exists():
        torch.manual_seed(0)
        config = AutoConfig.from_pretrained(folder)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.save_pretrained(dst)
        AutoTokenizer.from_pretrained(folder).save_pretrained(dst)
    return dst


class _Base:
    kind = "local"
    adapter_dir = None

    def __init__(self, path: Path) -> None:
        self.spec = str(path)
        self.path = path

    def ensure_local(self) -> Path:
        return self.path


def run_ours(model_dir: Path, *, steps: int | None, processes: int, device: str | None,
             hp: dict, tag: str) -> dict:
    from ftdecide import TuneRequest
    from ftdecide_hf_trl import training

    run_dir = OUT / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    options: dict = {"processes": processes}
    if steps:
        options.update(max_steps=steps, save_steps=steps)
    if device:
        options["device"] = device
    req = TuneRequest(job_id=tag, model="hf/bench", train_path=str(TRAIN), run_dir=str(run_dir),
                      hyperparameters=hp, options=options)
    marks: list[tuple[float, float, int]] = []   # (process CPU s, wall s, tokens) after each step
    cpu0, t0 = _cpu_s(), time.time()
    state = training.train(req, base=_Base(model_dir),
                           progress=lambda s: marks.append((time.process_time(), time.time(),
                                                            s.trained_tokens or 0)))
    wall = time.time() - t0
    if state.status != "succeeded":
        raise SystemExit(f"{tag}: {state.status}: {state.error}")
    m = state.metrics
    return {"run": tag, "steps": state.step, "tokens": state.trained_tokens,
            "train_s": m["train_runtime"], "tokens_per_s": m["tokens_per_s"], "wall_s": round(wall, 1),
            "cpu_s": round(_cpu_s() - cpu0, 1), "max_length": state.hyperparameters["max_length"],
            "final_loss": m["train_loss"], "device": m["device"], "load": round(os.getloadavg()[0], 2),
            **_after_first(marks, processes)}


def _after_first(marks: list[tuple[float, float, int]], processes: int) -> dict:
    """Tokens per wall second and per CPU second over steps 2..N (the first step warms up).

    CPU seconds are this process's (1 process only): with one torch thread they
    hardly depend on what else runs on the machine, unlike the wall clock.
    """
    if len(marks) < 2:
        return {}
    (c1, w1, t1), (c2, w2, t2) = marks[0], marks[-1]
    out = {"steps_2_n_tokens_per_s": round((t2 - t1) / (w2 - w1), 2)}
    if processes == 1:
        out["steps_2_n_tokens_per_cpu_s"] = round((t2 - t1) / (c2 - c1), 2)
    return out


def run_bare(model_dir: Path, *, steps: int, device: str | None, hp: dict, max_length: int) -> dict:
    """The same training as a plain TRL script would write it."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    rows = []
    with TRAIN.open() as f:
        for line in f:
            msgs = [{"role": m["role"], "content": m["content"]} for m in json.loads(line)["messages"]]
            rows.append({"prompt": msgs[:-1], "completion": msgs[-1:]})
    torch.manual_seed(hp["seed"])
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    args = SFTConfig(output_dir=str(OUT / "bare"), max_steps=steps, per_device_train_batch_size=hp["batch_size"],
                     learning_rate=hp["learning_rate"], max_length=max_length, bf16=bf16, use_cpu=not cuda,
                     report_to="none", save_strategy="no", activation_checkpointing=False, logging_steps=1,
                     train_sampling_strategy="group_by_length", seed=hp["seed"], data_seed=hp["seed"],
                     include_num_input_tokens_seen="non_padding", disable_tqdm=True)
    # train()'s LoRA placement: every linear layer, of every decoder layer unless lora_layers says less
    n = model.config.num_hidden_layers
    names = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # Llama
    where = ({"target_modules": "all-linear"} if hp["lora_layers"] == "all" else
             {"target_modules": names, "layers_to_transform": list(range(n - (n + 1) // 2, n))})
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    marks: list[tuple[float, float, int]] = []

    class Marks(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                marks.append((time.process_time(), time.time(), int(state.num_input_tokens_seen)))

    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                         peft_config=LoraConfig(r=hp["lora_r"], lora_alpha=2 * hp["lora_r"], lora_dropout=0.0,
                                                task_type="CAUSAL_LM", **where),
                         callbacks=[Marks()])
    trainer.remove_callback(PrinterCallback)
    cpu0, t0 = _cpu_s(), time.time()
    out = trainer.train()
    train_s = time.time() - t0
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"run": "bare", "steps": trainer.state.global_step, "tokens": tokens, "train_s": round(train_s, 3),
            "tokens_per_s": round(tokens / train_s, 2), "cpu_s": round(_cpu_s() - cpu0, 1),
            "final_loss": trainer.state.log_history[-2].get("loss"), "train_loss_mean": out.training_loss,
            "load": round(os.getloadavg()[0], 2), **_after_first(marks, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=8, help="optimizer steps per run (default 8)")
    p.add_argument("--processes", type=int, default=2,
                   help="also time train() with this many processes (0: skip; default 2)")
    p.add_argument("--full", action="store_true", help="time one whole default run instead")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None)
    p.add_argument("--batch-size", type=int, default=None, help="default: train()'s for the device")
    p.add_argument("--model-dir", default=None, help="a model folder (default: the converted SmolLM2)")
    p.add_argument("--random-weights", action="store_true",
                   help="same architecture as --model-dir, random weights (throughput only)")
    args = p.parse_args(argv)

    import torch

    from ftdecide_hf_trl import schedule
    from ftdecide_hf_trl.hyperparameters import resolve_hyperparameters

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    user_hp = {"batch_size": args.batch_size} if args.batch_size else {}
    hp = resolve_hyperparameters(user_hp, device=device)
    # the rate train() derives for SmolLM2-135M, given to both runs (it does not change tokens/s)
    hp["learning_rate"] = user_hp["learning_rate"] = schedule.LR_AT_REFERENCE
    model_dir = _model_dir(args)
    print(f"# model {model_dir}, device {device}, torch threads {torch.get_num_threads()}, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)

    if args.full:
        r = run_ours(model_dir, steps=None, processes=1, device=args.device, hp=user_hp, tag="full")
        print(json.dumps(r), flush=True)
        return 0

    # Warm-up: the first SFT run of a process pays one-off costs (imports, kernels).
    run_ours(model_dir, steps=1, processes=1, device=args.device, hp=user_hp, tag="warmup")
    ours = run_ours(model_dir, steps=args.steps, processes=1, device=args.device, hp=user_hp, tag="ours")
    print(json.dumps(ours), flush=True)
    bare = run_bare(model_dir, steps=args.steps, device=args.device, hp=hp, max_length=ours["max_length"])
    print(json.dumps(bare), flush=True)
    if bare["tokens"] != ours["tokens"]:
        print(f"# warning: different tokens trained (ours {ours['tokens']}, bare {bare['tokens']})")
    ratio = ours["tokens_per_s"] / bare["tokens_per_s"]
    print(f"ours/bare tokens/s: {ratio:.3f}  (goal >= 0.9; whole training loop, wall clock)")
    if "steps_2_n_tokens_per_s" in ours and "steps_2_n_tokens_per_s" in bare:
        print(f"ours/bare tokens/s, steps 2..N: {ours['steps_2_n_tokens_per_s'] / bare['steps_2_n_tokens_per_s']:.3f}"
              " (wall clock)")
    if "steps_2_n_tokens_per_cpu_s" in ours and "steps_2_n_tokens_per_cpu_s" in bare:
        cpu_ratio = ours["steps_2_n_tokens_per_cpu_s"] / bare["steps_2_n_tokens_per_cpu_s"]
        print(f"ours/bare tokens per CPU-second, steps 2..N: {cpu_ratio:.3f}"
              " (robust to other load when torch runs 1 thread: OMP_NUM_THREADS=1)")
    if args.processes and args.processes > 1 and device == "cpu":
        multi = run_ours(model_dir, steps=args.steps, processes=args.processes, device=args.device,
                         hp=user_hp, tag=f"ours-{args.processes}p")
        print(json.dumps(multi), flush=True)
        print(f"{args.processes} processes / 1 process tokens/s: "
              f"{multi['tokens_per_s'] / ours['tokens_per_s']:.3f}  (hf.md measured 1.25)")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
