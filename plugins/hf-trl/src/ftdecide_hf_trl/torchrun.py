"""Several training processes under torchrun, seen from the launching process.

:func:`_train_multiprocess` writes ``request.json``, starts
``python -m torch.distributed.run ... -m ftdecide_hf_trl.train_worker RUN_DIR``
(see :mod:`ftdecide_hf_trl.train_worker`), relays rank 0's
``progress.jsonl`` rows to the progress callback (and its warnings to
stderr: rank 0's own output goes to ``train.log``) while it runs, and returns
the JobState rank 0 wrote to ``result.json``. The first Ctrl-C or SIGTERM
writes STOP (every rank checkpoints and stops at the same step); a second
Ctrl-C stops torchrun.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from ftdecide.providers import JobState, ProgressCallback, TuneRequest

from .devices import _cores
from .rundir import (
    LOG_FILE,
    METADATA_FILE,
    PROGRESS_FILE,
    REQUEST_FILE,
    RESULT_FILE,
    _checkpoint_step,
    _read_json,
    _write_json,
    last_checkpoint,
)
from .stopping import LAUNCHER_ENV, _ParentStop


def _train_multiprocess(request: TuneRequest, base_info: Mapping[str, Any], processes: int,
                        progress: ProgressCallback | None, resume: bool) -> JobState:
    """Run :func:`~ftdecide_hf_trl.worker.run_training` on ``processes`` ranks under torchrun
    and read rank 0's result."""
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
        if "warning" in item:  # rank 0's time-budget trade: said here, before the first step
            print(f"Warning: {item['warning']}", file=sys.stderr, flush=True)
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


def _tail_text(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "\n").strip().splitlines()[-lines:])
