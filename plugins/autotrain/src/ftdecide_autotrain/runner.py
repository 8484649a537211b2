"""Running ``autotrain --config``: prepare a run folder, watch the log, judge the result.

A run folder (the job's ``run_dir``) holds::

    run_dir/
      train.jsonl               the core's chat JSONL of the training set
      autotrain/                AutoTrain's working directory
        config.yml              the llm-sft config (config.py)
        data/train.jsonl        the data as AutoTrain reads it
        <project>/              AutoTrain's output: adapter (or merged model), tokenizer,
                                training_args.bin, README.md, training_params.json
      autotrain.log             AutoTrain's stdout and stderr, as written
      autotrain-run.json        what ftdecide recorded (command, verdict, timings, cost)
      metadata.json             the run in the hf plugin's format: hf/<job id> loads it

The command runs in its own process group with the environment's ``bin``
folder first on ``PATH`` (AutoTrain launches ``accelerate`` by name, from
``src/autotrain/commands.py``). Progress comes from the log as it grows
(:mod:`.logparse`); success from the files in the project folder
(:mod:`.judge`), never from the exit code. Ctrl-C stops the whole process
group.
"""

from __future__ import annotations

import codecs
import json
import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import ftdecide

from . import config as cfg
from . import hardware
from .judge import judge
from .logparse import LogProgress

WORK_DIR = "autotrain"
LOG_FILE = "autotrain.log"
RECORD_FILE = "autotrain-run.json"
HF_METADATA = "metadata.json"
POLL_S = 0.5
VALIDATE_TIMEOUT_S = 300.0


@dataclass
class Prepared:
    """A run folder ready for ``autotrain --config``: what to run, where, and what was checked."""

    run_dir: Path
    work_dir: Path
    config_path: Path
    config: dict[str, Any]
    data: dict[str, Any]
    project_dir: Path
    backend: str
    base_model: str
    binary: Path | None
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    validated_by: list[str] = field(default_factory=list)

    def shell_command(self) -> str:
        """The command as a person would type it (the env names, never their values)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"cd {shlex.quote(str(self.work_dir))} && " + (f"{env} " if env else "") + \
            shlex.join(self.command)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "work_dir": str(self.work_dir),
            "config": str(self.config_path),
            "data": self.data,
            "output_dir": str(self.project_dir),
            "backend": self.backend,
            "base_model": self.base_model,
            "binary": str(self.binary) if self.binary else None,
            "command": self.command,
            "cwd": str(self.work_dir),
            "env": self.env,
            "shell": self.shell_command(),
            "validated_by": self.validated_by,
            "warnings": self.warnings,
            "autotrain_config": self.config,
        }


def run_env(binary: Path | None, *, base_is_local: bool) -> dict[str, str]:
    """Environment variables set for the AutoTrain process (names and values are not secret)."""
    env = {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false",
           # AutoTrain defaults trust_remote_code to true (ALLOW_REMOTE_CODE in
           # src/autotrain/trainers/common.py); a model's own Python code is not run here
           "ALLOW_REMOTE_CODE": "false", "PAUSE_ON_FAILURE": "0", "WANDB_DISABLED": "true"}
    if base_is_local:
        env["HF_HUB_OFFLINE"] = "1"
    return env


def prepare(*, run_dir: str | os.PathLike[str], train_path: str | os.PathLike[str],
            base_model: str, base_is_local: bool, project: str, backend: str,
            hyperparameters: dict[str, Any], options: dict[str, Any],
            context_window: int | None, binary: Path | None,
            validation_path: str | None = None) -> Prepared:
    """Write the data and the config into ``run_dir`` and check them (nothing is run).

    The config is checked against ftdecide's mirror of AutoTrain's schema
    and, when an AutoTrain environment is at hand, by AutoTrain's own parser
    and ``LLMTrainingParams`` (:func:`validate_with_autotrain`).
    """
    run = Path(run_dir)
    work = run / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    data = cfg.write_data(train_path, work / cfg.DATA_DIR)
    config = cfg.build(base_model=base_model, project=project, data_dir=work / cfg.DATA_DIR,
                       backend=backend, hyperparameters=hyperparameters, options=options,
                       context_window=context_window)
    warnings = cfg.validate(config)
    path = cfg.write(config, work / cfg.CONFIG_FILE)
    if cfg.read(path) != config:  # what AutoTrain will read is what was checked
        raise ftdecide.UsageError(f"the AutoTrain config {path} does not read back as written")
    if validation_path:
        warnings.append("the validation set is not used: AutoTrain 0.8.36 ignores a local "
                        "validation split (llm_munge_data sets valid_split to None)")
    if data["dropped_weights"]:
        warnings.append(f"{data['dropped_weights']} message weight(s) ignored: AutoTrain trains "
                        "every token of its packed sequences")
    validated_by = [f"ftdecide's mirror of AutoTrain {cfg.AUTOTRAIN_VERSION}'s config schema"]
    if binary is not None:
        checked = validate_with_autotrain(binary, path)
        if checked is not None:
            validated_by.append(checked)
    command = [str(binary) if binary else "autotrain", "--config", str(path)]
    env = run_env(binary, base_is_local=base_is_local)
    if hardware.is_remote(backend):
        env = {"HF_USERNAME": "<your Hugging Face user>", "HF_TOKEN": "<a write token>"}
    return Prepared(run_dir=run, work_dir=work, config_path=path, config=config, data=data,
                    project_dir=work / project, backend=backend, base_model=base_model,
                    binary=binary, command=command, env=env, warnings=warnings,
                    validated_by=validated_by)


def validate_with_autotrain(binary: Path, config_path: Path) -> str | None:
    """Let AutoTrain itself read the config: its ``AutoTrainConfigParser`` (parser.py) and
    ``LLMTrainingParams`` (pydantic), without running anything. None when the executable has
    no Python environment beside it; :class:`ftdecide.UsageError` with AutoTrain's message when
    it refuses the config."""
    from .env import python_of

    python = python_of(binary)
    if python is None:
        return None
    code = (
        "import json, sys\n"
        "from autotrain.parser import AutoTrainConfigParser\n"
        "from autotrain.backends.base import AVAILABLE_HARDWARE\n"
        "from autotrain.trainers.clm.params import LLMTrainingParams\n"
        "import autotrain\n"
        "cp = AutoTrainConfigParser(sys.argv[1])\n"
        "params = LLMTrainingParams(**cp.parsed_config)\n"
        "assert cp.backend in AVAILABLE_HARDWARE, cp.backend\n"
        "print('FTDECIDE-CHECK ' + json.dumps({'task': cp.task, 'trainer': params.trainer, "
        "'version': autotrain.__version__}))\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("HF_TOKEN", None)
    try:
        proc = subprocess.run([str(python), "-c", code, str(config_path)], capture_output=True,
                              text=True, timeout=VALIDATE_TIMEOUT_S, env=env,
                              cwd=str(config_path.parent))
    except subprocess.TimeoutExpired:
        raise ftdecide.ProviderError(f"AutoTrain took over {VALIDATE_TIMEOUT_S:.0f} s to read "
                                     f"the config {config_path}") from None
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("FTDECIDE-CHECK ")]
    if proc.returncode != 0 or not marker:
        out = LogProgress()
        out.feed(proc.stdout + "\n" + proc.stderr + "\n")
        out.close()
        reason = out.last_error() or out.last_line or f"exit {proc.returncode}"
        raise ftdecide.UsageError(f"AutoTrain refuses the config {config_path}: {reason}",
                                  hint="this is a bug in ftdecide-autotrain; please report it "
                                  "with the config")
    info = json.loads(marker[-1].split(" ", 1)[1])
    return (f"AutoTrain {info['version']}'s AutoTrainConfigParser and LLMTrainingParams "
            f"(task {info['task']}, trainer {info['trainer']})")


def run(prepared: Prepared, *, job_id: str, progress: ftdecide.ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic) -> ftdecide.JobState:
    """Run AutoTrain on a prepared folder and return the job's state (succeeded or failed).

    Live progress is reported through ``progress`` from the log; the
    outcome is judged by the files in the project folder. KeyboardInterrupt
    stops the process group and propagates (the core records the job as
    interrupted).
    """
    assert prepared.binary is not None
    log_path = prepared.run_dir / LOG_FILE
    env = dict(os.environ)
    env.update(prepared.env)
    bin_dir = str(prepared.binary.parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    parser = LogProgress(logging_steps=int(prepared.config["params"].get("logging_steps", 1)))
    started = clock()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(prepared.command, cwd=str(prepared.work_dir), env=env,
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise ftdecide.ProviderError(
                f"cannot start {prepared.command[0]}: {exc.strerror or exc}",
                hint="check the AutoTrain environment (`ftdecide autotrain setup`)") from None
        try:
            while True:
                done = proc.poll() is not None
                offset = _follow(log_path, offset, decoder, parser, progress, job_id)
                if done:
                    break
                time.sleep(POLL_S)
        except KeyboardInterrupt:
            _stop(proc)
            raise
        finally:
            if proc.poll() is None:
                _stop(proc)
    parser.close()
    wall = clock() - started
    verdict = judge(prepared.project_dir)
    cost = hardware.actual_cost(prepared.backend, wall_s=wall)
    summary = parser.summary
    metrics: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "exit_code": proc.returncode,
        "verdict": verdict.to_dict(),
        "output_dir": str(prepared.project_dir),
        "hf_model": f"hf/{prepared.project_dir}",
        "log": str(log_path),
        "config": str(prepared.config_path),
        "train_runtime": summary.get("train_runtime"),
        "train_loss_mean": summary.get("train_loss"),
        "train_loss": next((r["train_loss"] for r in reversed(parser.rows)
                            if r.get("train_loss") is not None), None),
        **cost,
    }
    record = {"job_id": job_id, "command": prepared.command, "cwd": str(prepared.work_dir),
              "started_at": started_at, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "base_model": prepared.base_model, "backend": prepared.backend,
              "project_dir": str(prepared.project_dir), "metrics": metrics,
              "validated_by": prepared.validated_by, "warnings": prepared.warnings}
    _write_json(prepared.run_dir / RECORD_FILE, record)
    hyper = dict(prepared.config["params"])
    if not verdict.ok:
        last = parser.last_error()
        why = last or (f"AutoTrain exited with code {proc.returncode} and wrote no "
                       + ", ".join(verdict.missing))
        error = (f"AutoTrain exited with code {proc.returncode} but wrote no model "
                 f"({', '.join(verdict.missing)} missing in {prepared.project_dir}); last error "
                 f"in {log_path}: {why}")
        return ftdecide.JobState(status="failed", provider_job_id=job_id, step=parser.step,
                                 total_steps=parser.total_steps, loss_curve=list(parser.rows),
                                 hyperparameters=hyper, metrics=metrics, error=error)
    hf_meta = {
        "job_id": job_id,
        "base_model": prepared.base_model,
        "adapter_dir": (str(prepared.project_dir.relative_to(prepared.run_dir))
                        if verdict.kind == "adapter" else None),
        "merged_dir": (str(prepared.project_dir.relative_to(prepared.run_dir))
                       if verdict.kind == "merged" else None),
        "trained_by": f"autotrain-advanced {cfg.AUTOTRAIN_VERSION}",
        "wall_s": metrics["wall_s"],
        "actual_cost_usd": metrics["actual_cost_usd"],
    }
    _write_json(prepared.run_dir / HF_METADATA, hf_meta)
    return ftdecide.JobState(status="succeeded", fine_tuned_model=job_id, provider_job_id=job_id,
                             step=parser.step, total_steps=parser.total_steps or parser.step,
                             loss_curve=list(parser.rows), hyperparameters=hyper,
                             metrics=metrics)


def _follow(path: Path, offset: int, decoder: codecs.IncrementalDecoder, parser: LogProgress,
            progress: ftdecide.ProgressCallback | None, job_id: str) -> int:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return offset
    if not data:
        return offset
    changed = parser.feed(decoder.decode(data))
    if changed and progress is not None:
        try:
            progress(ftdecide.JobState(status="running", provider_job_id=job_id,
                                       step=parser.step, total_steps=parser.total_steps,
                                       loss_curve=list(parser.rows)))
        except Exception:  # noqa: BLE001 - a broken progress bar must not stop training
            pass
    return offset + len(data)


def _stop(proc: subprocess.Popen) -> None:
    """Stop AutoTrain and the ``accelerate``/trainer processes it started (its process group)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
