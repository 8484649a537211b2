"""LoRA SFT with TRL on the tiny model: learning, loss masking, files, interruption and resume,
signals, two processes under torchrun, merging."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import tiny

from ftdecide import JobState, TuneRequest, UsageError
from ftdecide_hf_trl import devices, hyperparameters, rundir, stopping, training, worker

PLUGIN_SRC = Path(training.__file__).resolve().parents[1]
TINY_HP = {"learning_rate": 5e-3, "batch_size": 16}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: the tiny model's ops are so small that a second OpenMP thread only
    adds synchronisation, and on a busy 2-core machine it made steps 20x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _child_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in (str(PLUGIN_SRC), os.environ.get("PYTHONPATH")) if p)}


@dataclass(frozen=True)
class Base:
    """Stand-in with the shape of ``resolve.ResolvedModel``."""

    spec: str
    kind: str
    path: Path
    adapter_dir: Path | None = None
    parameters: int | None = None
    chat_template_has_generation: bool | None = None

    def ensure_local(self) -> Path:
        return self.path


def _base(folder: Path) -> Base:
    return Base(spec=str(folder), kind="local", path=folder, chat_template_has_generation=True)


def _write_jsonl(path: Path, examples: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in examples))
    return path


def _request(run_dir: Path, train_file: Path, *, job_id: str = "ft-test", validation: Path | None = None,
             hyperparameters: dict | None = None, **options) -> TuneRequest:
    return TuneRequest(job_id=job_id, model="hf/tiny", train_path=str(train_file), run_dir=str(run_dir),
                       validation_path=str(validation) if validation else None,
                       hyperparameters=dict(TINY_HP if hyperparameters is None else hyperparameters),
                       options=options)


def _greedy(model, tok, words: list[str]) -> list[str]:
    import torch

    tok.padding_side = "left"
    prompts = [[{"role": "user", "content": w}] for w in words]
    enc = tok.apply_chat_template(prompts, add_generation_prompt=True, padding=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [t.strip() for t in texts]


def _load_with_adapter(base_dir: Path, adapter_dir: Path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = PeftModel.from_pretrained(model, adapter_dir).eval()
    return model, AutoTokenizer.from_pretrained(adapter_dir)


# -- pure helpers ------------------------------------------------------------------------

def test_to_prompt_completion_splits_at_last_assistant():
    msgs = [{"role": "system", "content": "be brief", "weight": 1},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "done", "name": "bot"}]
    rec = worker.to_prompt_completion(msgs)
    assert rec["completion"] == [{"role": "assistant", "content": "done"}]
    assert rec["prompt"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                             {"role": "assistant", "content": "hello"}, {"role": "user", "content": "ab"}]
    with pytest.raises(UsageError):
        worker.to_prompt_completion([{"role": "user", "content": "x"}])


def test_hyperparameter_defaults_and_checks():
    cpu = hyperparameters.resolve_hyperparameters({}, device="cpu")
    # epochs and learning rate are decided from the data and the model (schedule.py), not the device
    assert cpu["epochs"] is None and cpu["learning_rate"] is None and cpu["batch_size"] == 8
    assert cpu["lora_r"] == 16 and cpu["lora_alpha"] == 32 and cpu["lora_dropout"] == 0.0
    assert cpu["target_modules"] == "all-linear" and cpu["seed"] == 0 and cpu["max_length"] is None
    assert cpu["activation_checkpointing"] is False and cpu["lora_layers"] == "all"
    assert hyperparameters.resolve_hyperparameters({}, device="cuda") == cpu
    hp = hyperparameters.resolve_hyperparameters({"n_epochs": 2, "lora_r": 8, "lr": 1e-3}, device="cpu")
    assert (hp["epochs"], hp["lora_r"], hp["lora_alpha"], hp["learning_rate"]) == (2, 8, 16, 1e-3)
    for bad in ({"epochs": 0}, {"batch_size": 2.5}, {"learning_rate": "fast"}, {"bogus": 1},
                {"lora_dropout": 1.0}, {"max_length": 4}, {"seed": True}):
        with pytest.raises(UsageError):
            hyperparameters.resolve_hyperparameters(bad, device="cpu")


def test_last_checkpoint_ignores_incomplete(tmp_path):
    ck = tmp_path / "checkpoints"
    for n, complete in ((5, True), (10, True), (15, False)):
        (ck / f"checkpoint-{n}").mkdir(parents=True)
        if complete:
            (ck / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
    assert rundir.last_checkpoint(tmp_path) == ck / "checkpoint-10"
    assert rundir.last_checkpoint(tmp_path / "nothing") is None


# -- loss masking ------------------------------------------------------------------------

def test_labels_mask_everything_but_the_completion(tiny_model_dir, tiny_train_file, tmp_path):
    trainer = worker.build_trainer(_request(tmp_path / "run", tiny_train_file), _base(tiny_model_dir))
    tok = trainer.processing_class
    first = tiny.examples()[0]["messages"]
    for row in trainer.train_dataset.select(range(5)):
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels)
        trained = [i for i, lab in zip(ids, labels) if lab != -100]
        start = next(k for k, lab in enumerate(labels) if lab != -100)
        assert all(lab == -100 for lab in labels[:start])       # the whole prompt is masked
        assert all(lab != -100 for lab in labels[start:])       # the whole completion is trained
        assert tok.decode(trained).startswith(tuple(tiny.WORDS))  # a label, then the end token
        assert "<|im_end|>" in tok.decode(trained)
        assert "user" not in tok.decode(trained)
    row0 = trainer.train_dataset[0]
    assert tok.decode([i for i, lab in zip(row0["input_ids"], row0["labels"]) if lab != -100]) \
        .startswith(first[-1]["content"] + "<|im_end|>")


# -- a full run --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One 100-step run on the tiny task with a validation file and merge, shared by the tests below."""
    root = tmp_path_factory.mktemp("trained")
    mp = pytest.MonkeyPatch()
    mp.setenv("FTDECIDE_CONFIG_DIR", str(root / "config"))
    train_file = _write_jsonl(root / "train.jsonl", tiny.examples())
    valid_file = _write_jsonl(root / "valid.jsonl", tiny.examples()[::4])
    request = _request(root / "run", train_file, validation=valid_file, max_steps=100, merge=True)
    states: list[JobState] = []
    t0 = time.time()
    try:
        state = training.train(request, base=_base(tiny_model_dir), progress=states.append)
    finally:
        mp.undo()
    return {"state": state, "progress": states, "run_dir": root / "run", "train": train_file,
            "wall": time.time() - t0, "base": tiny_model_dir}


def test_train_learns_the_task(trained):
    state = trained["state"]
    assert state.status == "succeeded", state.error
    assert state.fine_tuned_model == "ft-test"
    assert state.step == state.total_steps == 100
    curve = [r["train_loss"] for r in state.loss_curve if "train_loss" in r]
    assert len(curve) == 100
    assert curve[0] > 1.0 and sum(curve[-5:]) / 5 < curve[0] / 10, curve[::10]
    model, tok = _load_with_adapter(trained["base"], trained["run_dir"] / "adapter")
    pairs = tiny.pairs()
    answers = _greedy(model, tok, [w for w, _ in pairs])
    correct = sum(a == lab for a, (_, lab) in zip(answers, pairs))
    assert correct / len(pairs) >= 0.9, list(zip(pairs, answers))


def test_train_reports_hyperparameters_metrics_and_progress(trained):
    state = trained["state"]
    hp = state.hyperparameters
    assert hp["learning_rate"] == 5e-3 and hp["batch_size"] == 16 and hp["lora_r"] == 16
    # 60 examples at batch 16: 4 steps an epoch, so max_steps 100 is 25 epochs
    assert hp["lora_alpha"] == 32 and hp["epochs"] == 25 and hp["seed"] == 0
    assert hp["max_length"] % 8 == 0 and hp["max_length"] >= state.metrics["longest_example_tokens"]
    assert hp["max_length"] - state.metrics["longest_example_tokens"] < 8
    m = state.metrics
    assert m["device"].startswith("cpu") and m["hardware"] == "cpu_local" and m["actual_cost_usd"] == 0.0
    assert m["tokens_per_s"] > 0 and m["wall_s"] > 0 and m["eval_loss"] is not None
    assert state.trained_tokens == m["trained_tokens"] > 100 * 16 * 5
    steps = [s.step for s in trained["progress"]]
    assert steps == sorted(steps) and steps[-1] == 100 and 100 <= len(steps) <= 200
    assert all(s.status == "running" and s.total_steps == 100 for s in trained["progress"])


def test_train_writes_curve_metadata_checkpoints(trained):
    run = trained["run_dir"]
    rows = json.loads((run / "loss_curve.json").read_text())
    assert rows == trained["state"].loss_curve
    # step 0: validation before the first update; then a training loss every step
    assert [r["step"] for r in rows] == list(range(0, 101))
    assert set(rows[0]) == {"step", "epoch", "valid_loss"}
    assert [r["step"] for r in rows if "valid_loss" in r] == [0, 25, 50, 75, 100]
    assert all("epoch" in r for r in rows)
    with (run / "loss_curve.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 101 and set(table[0]) == {"step", "epoch", "train_loss", "valid_loss"}
    meta = json.loads((run / "metadata.json").read_text())
    import hashlib
    assert meta["data_sha256"] == hashlib.sha256(trained["train"].read_bytes()).hexdigest()
    assert meta["job_id"] == "ft-test" and meta["base_model_dir"] == str(trained["base"])
    assert meta["adapter_dir"] == "adapter" and meta["merged_dir"] == "merged"
    assert meta["hyperparameters"] == trained["state"].hyperparameters
    assert set(meta["metrics"]) >= {"train_loss", "eval_loss", "train_runtime"}
    assert meta["trained_tokens"] == trained["state"].trained_tokens and meta["tokens_per_s"] > 0
    assert meta["processes"] == 1 and meta["device"].startswith("cpu")
    assert set(meta["versions"]) >= {"torch", "transformers", "trl", "peft"}
    assert (run / "adapter" / "adapter_config.json").is_file()
    assert (run / "adapter" / "tokenizer_config.json").is_file()
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*"))
    assert 1 <= len(ckpts) <= 2 and "checkpoint-100" in ckpts


def test_merged_model_answers_like_base_plus_adapter(trained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(trained["run_dir"] / "merged", dtype=torch.float32)
    assert not hasattr(merged, "peft_config")
    tok = AutoTokenizer.from_pretrained(trained["run_dir"] / "merged")
    peft_model, peft_tok = _load_with_adapter(trained["base"], trained["run_dir"] / "adapter")
    words = [w for w, _ in tiny.pairs()]
    assert _greedy(merged, tok, words) == _greedy(peft_model, peft_tok, words)


# -- interruption and resume -------------------------------------------------------------

def test_interrupt_then_resume_continues_from_the_checkpoint(tiny_model_dir, tiny_train_file, tmp_path):
    run = tmp_path / "run"
    req = _request(run, tiny_train_file, max_steps=40, save_steps=25, stop_after_steps=12)
    first: list[JobState] = []
    state = training.train(req, base=_base(tiny_model_dir), progress=first.append)
    assert state.status == "interrupted", state.error
    assert state.step == 12 and state.total_steps == 40
    assert (run / "checkpoints" / "checkpoint-12" / "trainer_state.json").is_file()
    assert not (run / "adapter").exists()
    assert [r["step"] for r in json.loads((run / "loss_curve.json").read_text())] == list(range(1, 13))

    second: list[JobState] = []
    state = training.train(req, base=_base(tiny_model_dir), progress=second.append, resume=True)
    assert state.status == "succeeded", state.error
    assert second[0].step == 13                      # not step 1: continued after the checkpoint
    assert state.step == state.total_steps == 40
    assert [r["step"] for r in state.loss_curve] == list(range(1, 41))
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert state.hyperparameters == first[-1].hyperparameters


_SIGNAL_SCRIPT = """
import json, sys, time
from pathlib import Path
from ftdecide import TuneRequest
from ftdecide_hf_trl import training

class Base:
    spec = {base!r}; kind = "local"; adapter_dir = None
    def ensure_local(self):
        return Path({base!r})

def progress(state):
    print("STEP", state.step, flush=True)
    time.sleep(0.2)

req = TuneRequest(job_id="sig", model="hf/tiny", train_path={train!r}, run_dir={run!r},
                  hyperparameters={{"learning_rate": 5e-3, "batch_size": 16}},
                  options={{"max_steps": 40, "save_steps": 1000}})
state = training.train(req, base=Base(), progress=progress)
print("RESULT", json.dumps(state.to_dict()), flush=True)
state = training.train(req, base=Base(), progress=progress, resume=True)
print("RESULT", json.dumps(state.to_dict()), flush=True)
"""


def test_sigterm_then_sigint_checkpoint_and_resume(tiny_model_dir, tiny_train_file, tmp_path):
    """A training process gets SIGTERM mid-run, resumes, gets Ctrl-C (SIGINT), and a last
    resume finishes: each signal saves a checkpoint at the step reached, and each resume
    continues right after it."""
    run = tmp_path / "run"
    script = _SIGNAL_SCRIPT.format(base=str(tiny_model_dir), train=str(tiny_train_file), run=str(run))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_child_env())
    results: list[dict] = []
    first_steps: list[int] = []
    sent: list[signal.Signals] = []
    try:
        for line in proc.stdout:
            if line.startswith("RESULT"):
                results.append(json.loads(line.split(" ", 1)[1]))
            elif line.startswith("STEP"):
                step = int(line.split()[1])
                if len(first_steps) == len(results):
                    first_steps.append(step)
                if not sent and step >= 3:
                    proc.send_signal(signal.SIGTERM)
                    sent.append(signal.SIGTERM)
                elif len(sent) == 1 and results and step >= results[0]["step"] + 2:
                    proc.send_signal(signal.SIGINT)
                    sent.append(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert len(results) == 2, err[-3000:]
    first, second = results
    assert first["status"] == "interrupted" and first["metrics"]["reason"] == "SIGTERM", first
    assert second["status"] == "interrupted" and second["metrics"]["reason"] == "SIGINT", second
    assert 3 <= first["step"] < second["step"] < 40
    assert first_steps == [1, first["step"] + 1]        # the resume went on after the checkpoint
    # save_steps is 1000: the only checkpoints are those the signals made, at the steps reached
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == \
        sorted([f"checkpoint-{first['step']}", f"checkpoint-{second['step']}"])

    req = TuneRequest(job_id="sig", model="hf/tiny", train_path=str(tiny_train_file), run_dir=str(run),
                      hyperparameters=dict(TINY_HP), options={"max_steps": 40, "save_steps": 1000})
    resumed: list[JobState] = []
    state = training.train(req, base=_base(tiny_model_dir), progress=resumed.append, resume=True)
    assert state.status == "succeeded", state.error
    assert resumed[0].step == second["step"] + 1 and state.step == 40
    assert [r["step"] for r in state.loss_curve] == list(range(1, 41))
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


def test_stop_file_interrupts(tiny_model_dir, tiny_train_file, tmp_path):
    run = tmp_path / "run"

    def progress(state: JobState) -> None:
        if state.step == 5:
            stopping.request_stop(run)   # seen at the end of the next step

    state = training.train(_request(run, tiny_train_file, max_steps=50), base=_base(tiny_model_dir),
                           progress=progress)
    assert state.status == "interrupted" and state.step == 6 and state.metrics["reason"] == "stop file"
    assert rundir.last_checkpoint(run).name == "checkpoint-6"


# -- two processes -----------------------------------------------------------------------

def test_two_processes_under_torchrun_then_resume_in_one(tiny_model_dir, tiny_train_file, tmp_path):
    """Two ranks (gloo) train, stop together at the same step (the stop flag is all-reduced)
    with one checkpoint and rank 0's result; progress reaches the caller through
    progress.jsonl. One process then resumes the same job (same global batch) and finishes;
    the validation loss measured at step 0 by both ranks is kept across the resume."""
    run = tmp_path / "run"
    states: list[JobState] = []
    valid = _write_jsonl(tmp_path / "valid.jsonl", tiny.examples()[::4])
    req = _request(run, tiny_train_file, validation=valid, max_steps=20, save_steps=1000, processes=2,
                   stop_after_steps=8)
    state = training.train(req, base=_base(tiny_model_dir), progress=states.append)
    log = (run / "train.log").read_text()[-3000:] if (run / "train.log").exists() else ""
    assert state.status == "interrupted", state.error or log
    assert state.step == 8 and state.total_steps == 20 and state.metrics["reason"] == "stop_after_steps"
    assert state.hyperparameters["batch_size"] == 16 and "cpu" in state.metrics["device"]
    assert [p.name for p in (run / "checkpoints").glob("checkpoint-*")] == ["checkpoint-8"]
    assert sorted({s.step for s in states}) == list(range(0, 9))     # step 0: the validation row
    assert [r["step"] for r in state.loss_curve] == list(range(0, 9))
    assert [r["step"] for r in state.loss_curve if "valid_loss" in r] == [0, 5]
    assert json.loads((run / "result.json").read_text())["status"] == "interrupted"

    resumed: list[JobState] = []
    state = training.train(dataclasses.replace(req, options={"max_steps": 20, "save_steps": 1000, "processes": 1}),
                           base=_base(tiny_model_dir), progress=resumed.append, resume=True)
    assert state.status == "succeeded", state.error
    assert resumed[0].step == 9 and state.step == 20
    assert [r["step"] for r in state.loss_curve] == list(range(0, 21))
    assert [r["step"] for r in state.loss_curve if "valid_loss" in r] == [0, 5, 10, 15, 20]
    curve = [r["train_loss"] for r in state.loss_curve if "train_loss" in r]
    assert curve[-1] < curve[0]
    assert (run / "adapter" / "adapter_model.safetensors").is_file()


_LAUNCHER_SCRIPT = """
import time
from pathlib import Path
from ftdecide import TuneRequest
from ftdecide_hf_trl import training

class Base:
    spec = {base!r}; kind = "local"; adapter_dir = None; parameters = None
    chat_template_has_generation = True
    def ensure_local(self):
        return Path({base!r})

def progress(state):
    time.sleep(0.3)  # slow the steps down so the kill lands mid-run

req = TuneRequest(job_id="orphan", model="hf/tiny", train_path={train!r}, run_dir={run!r},
                  hyperparameters={{"learning_rate": 5e-3, "batch_size": 16}},
                  options={{"max_steps": 400, "save_steps": 1000, "processes": 2}})
training.train(req, base=Base(), progress=progress)
"""


def _processes_mentioning(text: str) -> list[int]:
    """The torchrun agents and ranks whose command line mentions ``text`` (a run folder)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and ("train_worker" in cmdline or "torch.distributed.run" in cmdline):
                pids.append(int(entry.name))
    return pids


_AGREE_SCRIPT = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
import torch
import torch.distributed as dist
from ftdecide_hf_trl.callbacks import _StopCallback
from ftdecide_hf_trl.stopping import _StopFlag

rank, init, run = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
flag = _StopFlag(run, None)
if rank == 1:   # this rank saw the launcher gone a moment before rank 0 would have
    flag.requested, flag.reason = True, "launcher gone"
callback = _StopCallback(flag)
control = SimpleNamespace(should_save=False, should_training_stop=False)
callback.on_step_end(SimpleNamespace(world_size=2, device=torch.device("cpu")),
                     SimpleNamespace(global_step=5, max_steps=400), control)
print(json.dumps({"reason": flag.reason, "stop": control.should_training_stop}), flush=True)
dist.barrier()               # both ranks are done with the collective before either tears down
dist.destroy_process_group()
import os
os._exit(0)                  # skip gloo's static destructors, which can abort at exit (flaky -6)
"""


def test_ranks_that_stop_together_record_the_same_root_cause(tmp_path):
    """The stop flag is all-reduced with the reason: when one rank sees the launcher gone and
    the other nothing yet at that step, both stop and both record "launcher gone" (rank 0's
    reason is the one in result.json), not "another rank"."""
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [subprocess.Popen([sys.executable, "-c", _AGREE_SCRIPT, str(rank), init, str(tmp_path)],
                              env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert results == [{"reason": "launcher gone", "stop": True}] * 2


def test_stop_reasons_rank_the_root_cause_highest():
    codes = {reason: stopping._reason_code(reason) for reason in stopping.STOP_REASONS}
    assert codes["launcher gone"] == max(codes.values())
    assert codes["another rank"] == stopping._reason_code("something else") == 1
    assert stopping._reason_code(None) == 1
    flag = stopping._StopFlag(Path("."), None)
    flag.reason = "SIGTERM"
    flag.agree(stopping._reason_code("launcher gone"))
    assert flag.requested and flag.reason == "launcher gone"
    flag.agree(1)   # an unlisted reason elsewhere: this rank keeps its own
    assert flag.reason == "launcher gone"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find the ranks")
def test_ranks_checkpoint_and_stop_when_the_launcher_is_killed(tiny_model_dir, tiny_train_file, tmp_path):
    """SIGKILL of the ftdecide process that launched torchrun: the ranks (in their own
    sessions, so they survive it) notice at the next step, checkpoint and exit, instead of
    training on as orphans that nobody records; the job then resumes from that checkpoint."""
    run = tmp_path / "run"
    script = _LAUNCHER_SCRIPT.format(base=str(tiny_model_dir), train=str(tiny_train_file), run=str(run))
    launcher = subprocess.Popen([sys.executable, "-c", script], env=_child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    progress_file = run / "progress.jsonl"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if progress_file.exists() and len(progress_file.read_text().splitlines()) >= 3:
                break
            assert launcher.poll() is None, launcher.stderr.read().decode()[-3000:]
            time.sleep(0.1)
        else:
            pytest.fail("training never reached step 3")
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=30)
        deadline = time.monotonic() + 180
        while _processes_mentioning(str(run)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _processes_mentioning(str(run)) == [], "ranks kept training after the launcher died"
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in _processes_mentioning(str(run)):
            os.kill(pid, signal.SIGKILL)
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "interrupted" and result["metrics"]["reason"] == "launcher gone"
    step = result["step"]
    assert 3 <= step < 400
    assert rundir.last_checkpoint(run).name == f"checkpoint-{step}"

    resumed: list[JobState] = []

    def progress(state: JobState) -> None:
        resumed.append(state)
        stopping.request_stop(run)  # one step is enough to see where it went on from

    req = _request(run, tiny_train_file, job_id="orphan", max_steps=400, save_steps=1000, processes=1)
    state = training.train(req, base=_base(tiny_model_dir), progress=progress, resume=True)
    assert state.status == "interrupted", state.error
    assert resumed[0].step == step + 1


# -- failures ----------------------------------------------------------------------------

def test_failure_is_a_failed_state(tiny_train_file, tmp_path):
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    state = training.train(_request(tmp_path / "run", tiny_train_file), base=_base(empty))
    assert state.status == "failed"
    assert state.error and "Traceback" not in state.error
    assert (tmp_path / "run" / "error.txt").is_file()


def test_bad_options_raise_usage_error(tiny_model_dir, tiny_train_file, tmp_path):
    with pytest.raises(UsageError):
        training.train(_request(tmp_path / "run", tiny_train_file, processes=0), base=_base(tiny_model_dir))
    with pytest.raises(UsageError):
        training.train(_request(tmp_path / "run", tiny_train_file, hyperparameters={"epochz": 1}),
                       base=_base(tiny_model_dir))


def test_auto_processes(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "_cores", lambda: 2)
    assert devices.auto_processes(tiny_model_dir, device="cpu") == 1           # tiny: 1 is faster
    assert devices.auto_processes(tiny_model_dir, parameters=134_515_008, device="cpu") == 2
    assert devices.auto_processes(tiny_model_dir, parameters=134_515_008, device="cuda") == 1
    assert devices.auto_processes(tiny_model_dir, parameters=134_515_008, device="cpu", batch_size=5) == 1
    big = tmp_path / "big"
    big.mkdir()
    with (big / "model.safetensors").open("wb") as f:
        f.truncate(600 * 2**20)                                               # sparse: no disk used
    assert devices.auto_processes(big, device="cpu") == 2
    monkeypatch.setattr(devices, "_cores", lambda: 1)
    assert devices.auto_processes(big, device="cpu") == 1
