"""``tune``: validate, estimate, confirm, record, then let the provider train.

The order is the point: nothing is uploaded or trained before the data is
valid and the cost has been shown; the job is in the store before the
provider starts, so a crash, a Ctrl-C or a kill never loses track of work
that was paid for; an interrupted local job resumes from its checkpoint
(``ftdecide jobs resume ID``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import estimate as est
from .errors import DataError, FtdecideError, NotTunableError, ProviderError, UsageError
from .paths import runs_dir
from .prices import Catalog
from .providers import JobState, ModelInfo, ProgressCallback, Provider, TuneRequest
from .store import FINAL_STATES, JOB_STATES, JobRecord, Store


@dataclass
class TunePlan:
    """Everything decided before any money or compute is spent."""

    info: ModelInfo
    provider: Provider
    train_path: str
    validation_path: str | None
    hyperparameters: dict[str, Any]
    options: dict[str, Any]
    estimate: dict[str, Any] = field(default_factory=dict)


def plan(catalog: Catalog, model: str, train_path: str, *, validation_path: str | None = None,
         hyperparameters: dict[str, Any] | None = None,
         options: dict[str, Any] | None = None) -> TunePlan:
    """Resolve the model, validate the data and estimate the cost (no side effects)."""
    info = catalog.resolve(model)
    provider = catalog.providers[info.provider]
    est.check_tunable(info, catalog)
    if not provider.can_tune():
        raise NotTunableError(f"provider {info.provider!r} cannot fine-tune models",
                              hint="`ftdecide prices` shows which models are tunable")
    hyper = {k: v for k, v in (hyperparameters or {}).items() if v is not None}
    report = est.validated(train_path, info)
    if validation_path:
        est.validated(validation_path, info)
    estimate: dict[str, Any] = est.training_estimate(report, info, epochs=hyper.get("epochs"),
                                                     tier=(options or {}).get("tier"))
    hardware = est.hardware_estimate(provider, info, report, hyper)
    if hardware is not None:
        estimate["hardware"] = hardware
    return TunePlan(info=info, provider=provider, train_path=train_path,
                    validation_path=validation_path, hyperparameters=hyper,
                    options=dict(options or {}), estimate=estimate)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def start(p: TunePlan, store: Store, *, progress: ProgressCallback | None = None,
          job_id: str | None = None) -> JobRecord:
    """Record the job, convert the data into its run folder, and start the provider."""
    from . import data
    from .store import new_job_id

    job_id = job_id or new_job_id()
    run_dir = runs_dir() / job_id
    run_dir.mkdir(parents=True, exist_ok=False)
    record = store.create_job(
        job_id=job_id, provider=p.info.provider, model=p.info.id, train_path=p.train_path,
        train_sha256=_sha256(p.train_path), validation_path=p.validation_path,
        run_dir=str(run_dir), hyperparameters=p.hyperparameters,
        options=p.options, estimate=p.estimate,
    )
    try:
        train = run_dir / "train.jsonl"
        data.to_chat_jsonl(p.train_path, train)
        validation = None
        if p.validation_path:
            validation = run_dir / "validation.jsonl"
            data.to_chat_jsonl(p.validation_path, validation)
    except FtdecideError as exc:
        store.update_job(job_id, status="failed", error=exc.message)
        raise
    request = TuneRequest(job_id=job_id, model=p.info.id, train_path=str(train),
                          validation_path=str(validation) if validation else None,
                          run_dir=str(run_dir), hyperparameters=p.hyperparameters,
                          options=p.options)
    return _drive(store, record, p.provider, request, progress, resume=False)


def resume(store: Store, catalog: Catalog, job_id: str, *,
           progress: ProgressCallback | None = None) -> JobRecord:
    """Continue an interrupted (or killed) local job from its last checkpoint."""
    record = store.get_job(job_id)
    if record.status in FINAL_STATES:
        raise UsageError(f"job {job_id} already {record.status}; nothing to resume")
    pid = record.result.get("pid")
    if record.status == "running" and pid and pid != os.getpid() and _alive(pid):
        raise UsageError(f"job {job_id} is still running (process {pid})",
                         hint="wait for it, or stop that process first")
    provider = catalog.providers.get(record.provider)
    if provider is None:
        raise UsageError(f"job {job_id} was run by provider {record.provider!r}, which is not "
                         "installed")
    if not provider.runs_locally:
        raise UsageError(f"provider {record.provider!r} jobs run remotely; there is nothing "
                         "to resume locally", hint=f"use `ftdecide jobs show {job_id}`")
    run_dir = Path(record.run_dir)
    validation = run_dir / "validation.jsonl"
    request = TuneRequest(job_id=job_id, model=record.model,
                          train_path=str(run_dir / "train.jsonl"),
                          validation_path=str(validation) if validation.exists() else None,
                          run_dir=str(run_dir), hyperparameters=record.hyperparameters,
                          options=record.options)
    if not Path(request.train_path).exists():
        raise DataError("the job's training data is missing from its run folder",
                        path=request.train_path, hint="start a new job with `ftdecide tune`")
    return _drive(store, record, provider, request, progress, resume=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _drive(store: Store, record: JobRecord, provider: Provider, request: TuneRequest,
           progress: ProgressCallback | None, *, resume: bool) -> JobRecord:
    result = dict(record.result)
    result["pid"] = os.getpid()
    store.update_job(record.id, status="running", result=result)
    last: dict[str, JobState] = {}

    def on_progress(state: JobState) -> None:
        last["state"] = state
        if progress is not None:
            progress(state)

    try:
        if resume:
            state = provider.resume(request, progress=on_progress)
        else:
            state = provider.start(request, progress=on_progress)
    except KeyboardInterrupt:
        seen = last.get("state")
        state = JobState(status="interrupted", step=seen.step if seen else None,
                         total_steps=seen.total_steps if seen else None,
                         loss_curve=seen.loss_curve if seen else [])
    except FtdecideError as exc:
        store.update_job(record.id, status="failed", error=exc.message)
        raise
    except Exception as exc:  # a provider bug: record it, then let the CLI report it
        store.update_job(record.id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return record_state(store, record.id, state)


def record_state(store: Store, job_id: str, state: JobState) -> JobRecord:
    """Write what the provider reported into the store."""
    record = store.get_job(job_id)
    result = dict(record.result)
    if state.status in FINAL_STATES:
        result.pop("pid", None)
    result.update({
        "step": state.step,
        "total_steps": state.total_steps,
        "loss_curve": state.loss_curve,
        "trained_tokens": state.trained_tokens,
        "hyperparameters": state.hyperparameters,
        "metrics": state.metrics,
    })
    if state.status not in JOB_STATES:
        raise ProviderError(f"provider reported an unknown job status {state.status!r}")
    return store.update_job(
        job_id, status=state.status,
        fine_tuned_model=state.fine_tuned_model, provider_job_id=state.provider_job_id,
        error=state.error, result=result,
    )


def summary(record: JobRecord) -> dict[str, Any]:
    """The JSON that ``tune --json`` and ``jobs show --json`` print (a stable contract)."""
    res = record.result
    metrics = res.get("metrics") or {}
    estimate = record.estimate or {}
    return {
        "job_id": record.id,
        "status": record.status,
        "provider": record.provider,
        "base_model": f"{record.provider}/{record.model}",
        "model": f"{record.provider}/{record.fine_tuned_model}" if record.fine_tuned_model
        else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "train_path": record.train_path,
        "train_sha256": record.train_sha256,
        "validation_path": record.validation_path,
        "run_dir": record.run_dir,
        "hyperparameters": res.get("hyperparameters") or record.hyperparameters,
        "step": res.get("step"),
        "total_steps": res.get("total_steps"),
        "loss_curve": res.get("loss_curve") or [],
        "fine_tuned_model": record.fine_tuned_model,
        "trained_tokens": res.get("trained_tokens"),
        "estimated_cost_usd": estimate.get("training_cost_usd"),
        "wall_s": metrics.get("wall_s"),
        "tokens_per_s": metrics.get("tokens_per_s"),
        "actual_cost_usd": metrics.get("actual_cost_usd"),
        "metrics": metrics,
        "estimate": estimate,
        "error": record.error,
    }
