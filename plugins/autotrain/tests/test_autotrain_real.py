"""End to end with the real AutoTrain Advanced 0.8.36: dry run, training, then ``ask``.

Runs only where an AutoTrain environment exists (``FTDECIDE_AUTOTRAIN_BIN``
or the one ``ftdecide autotrain setup`` made in the user's data folder);
otherwise it is skipped with the reason. A tiny Llama and tokenizer are
built *with the AutoTrain environment's own transformers* (4.48), so the
folder is one AutoTrain can read, and trained for one epoch on the bundled
triage set on the CPU; ``ftdecide ask`` then answers from the adapter through
the hf provider. About a minute on 2 cores once the environment exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ftdecide
from ftdecide.examples import example_path
from ftdecide_autotrain import config as cfg
from ftdecide_autotrain import env as at_env

TRAIN = example_path("triage", "train")
FTDECIDE = Path(sys.executable).with_name("ftdecide")
DATA = Path(__file__).parent / "data"


def _real_binary() -> tuple[Path | None, str]:
    """Looked up when the module is imported, before the fixtures point the data folder at a
    temporary one."""
    try:
        found = at_env.find_binary()
    except ftdecide.UsageError as exc:
        return None, f"FTDECIDE_AUTOTRAIN_BIN is unusable: {exc.message}"
    if found is None:
        return None, ("no AutoTrain environment: run `ftdecide autotrain setup` or set "
                      "FTDECIDE_AUTOTRAIN_BIN to run the real end-to-end test")
    return found[0], ""


REAL, WHY_NOT = _real_binary()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REAL is None, reason=WHY_NOT)]

BUILD_TINY = r'''
import json, sys
from pathlib import Path
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

train, dst = Path(sys.argv[1]), Path(sys.argv[2])
corpus = []
for line in train.read_text().splitlines():
    for m in json.loads(line)["messages"]:
        corpus.append(m["content"])
corpus += ["system", "user", "assistant"]
tk = Tokenizer(models.BPE())
tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tk.decoder = decoders.ByteLevel()
tk.train_from_iterator(corpus, trainers.BpeTrainer(
    vocab_size=1500, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>"],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<pad>")
tok.chat_template = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
torch.manual_seed(0)
model = LlamaForCausalLM(LlamaConfig(
    vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
    initializer_range=0.2, tie_word_embeddings=False, pad_token_id=tok.pad_token_id,
    eos_token_id=tok.eos_token_id, bos_token_id=None))
dst.mkdir(parents=True, exist_ok=True)
model.save_pretrained(dst, safe_serialization=True)
tok.save_pretrained(dst)
print(json.dumps({"parameters": sum(p.numel() for p in model.parameters())}))
'''


def _ftdecide(args: list[str], env: dict[str, str], timeout: float = 1800):
    return subprocess.run([str(FTDECIDE), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A tiny Llama + tokenizer saved by the AutoTrain environment's transformers."""
    assert REAL is not None
    python = at_env.python_of(REAL)
    assert python is not None, f"no Python beside {REAL}"
    base = tmp_path_factory.mktemp("autotrain-real") / "tiny-base"
    built = subprocess.run([str(python), "-c", BUILD_TINY, str(TRAIN), str(base)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    return base


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path / "home"),
           "FTDECIDE_DATA_DIR": str(tmp_path / "data"),
           "FTDECIDE_CONFIG_DIR": str(tmp_path / "config"),
           "FTDECIDE_CACHE_DIR": str(tmp_path / "cache"),
           "FTDECIDE_LOAD_PLUGINS": "autotrain,hf", "FTDECIDE_AUTOTRAIN_BIN": str(REAL),
           "HF_HUB_OFFLINE": "1"}


def test_real_autotrain_trains_and_ask_answers(tiny_base, tmp_path):
    base, env = tiny_base, _env(tmp_path)
    args = [str(TRAIN), "--model", f"autotrain/{base}", "--backend", "local",
            "--epochs", "1", "--batch-size", "8", "--lr", "0.005", "--json"]

    # the dry run: AutoTrain itself reads the config
    t0 = time.monotonic()
    dry = _ftdecide(["tune", *args, "--dry-run"], env, timeout=600)
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert any("AutoTrainConfigParser" in v for v in plan["validated_by"]), plan["validated_by"]
    dry_s = time.monotonic() - t0

    # the same command without --dry-run trains
    t0 = time.monotonic()
    run = _ftdecide(["tune", *args, "--yes"], env)
    train_s = time.monotonic() - t0
    assert run.returncode == 0, run.stderr[-5000:]
    job = json.loads(run.stdout)
    assert job["status"] == "succeeded", job["error"]
    m = job["metrics"]
    assert m["exit_code"] == 0 and m["verdict"]["ok"] and m["verdict"]["kind"] == "adapter"
    curve = job["loss_curve"]
    assert len(curve) >= 5 and curve[-1]["step"] == job["total_steps"]
    assert curve[-1]["train_loss"] < curve[0]["train_loss"]
    assert job["actual_cost_usd"] == 0.0 and m["hardware_hours"] > 0
    output = Path(m["output_dir"])
    assert (output / "adapter_model.safetensors").is_file()
    assert (output / "training_args.bin").is_file()
    log = (Path(job["run_dir"]) / "autotrain.log").read_text(errors="replace")
    assert "Starting to train..." in log and "{'loss':" in log

    # ask answers from the result through hf: by folder, by job id, as autotrain/<job id>
    t0 = time.monotonic()
    answers = []
    for model in (f"hf/{output}", f"hf/{job['job_id']}", f"autotrain/{job['job_id']}"):
        asked = _ftdecide(["ask", "--model", model, "--max-tokens", "8", "--json",
                           "Subject: refund for a double charge"], env, timeout=600)
        assert asked.returncode == 0, asked.stderr[-3000:]
        answer = json.loads(asked.stdout)
        assert answer["usage"]["output_tokens"] > 0
        answers.append(answer["text"])
    assert answers[0] == answers[1] == answers[2]
    ask_s = time.monotonic() - t0
    timings = {"dry_run_s": round(dry_s, 1), "train_cli_s": round(train_s, 1),
               "autotrain_wall_s": m["wall_s"], "ask_3x_s": round(ask_s, 1),
               "steps": job["total_steps"], "loss_first": curve[0]["train_loss"],
               "loss_last": curve[-1]["train_loss"]}
    print("real AutoTrain end to end:", json.dumps(timings))
    out = os.environ.get("FTDECIDE_AUTOTRAIN_TIMINGS")
    if out:
        Path(out).write_text(json.dumps(timings, indent=2))
    # keep the real log for the log-parsing tests (tests/data/real-*.log), when asked
    keep = os.environ.get("FTDECIDE_AUTOTRAIN_KEEP_LOG")
    if keep:
        Path(keep).write_text(log)
    assert cfg.read(m["config"])["params"]["epochs"] == 1


def test_real_autotrain_exit_0_without_weights_is_a_failed_job(tiny_base, tmp_path):
    """Damaged weights: AutoTrain's monitor catches the loading error, logs it and exits 0;
    ftdecide records a failed job with that error line and exits 3."""
    import shutil

    broken = tmp_path / "broken-base"
    shutil.copytree(tiny_base, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    env = _env(tmp_path)
    run = _ftdecide(["tune", str(TRAIN), "--model", f"autotrain/{broken}", "--epochs", "1",
                     "--yes", "--json"], env)
    assert run.returncode == 3, run.stderr[-3000:]
    job = json.loads(run.stdout)
    assert job["status"] == "failed" and job["metrics"]["exit_code"] == 0
    assert not job["metrics"]["verdict"]["ok"] and job["metrics"]["verdict"]["launched"]
    log = (Path(job["run_dir"]) / "autotrain.log").read_text(errors="replace")
    assert "has failed due to an exception" in log
    from ftdecide_autotrain.logparse import LogProgress

    p = LogProgress()
    p.feed(log)
    p.close()
    assert p.last_error() and job["error"].endswith(p.last_error())
    assert "wrote no model" in run.stderr and "Traceback" not in run.stderr
    keep = os.environ.get("FTDECIDE_AUTOTRAIN_KEEP_FAILED_LOG")
    if keep:
        Path(keep).write_text(log)
