"""``tune`` and ``jobs``: validate, estimate, confirm, record, then let the provider train.

The order is the point: nothing is uploaded or trained before the data is
valid and the cost has been shown; the job is in the store before the
provider starts, so a crash, a Ctrl-C or a kill never loses track of work
that was paid for.

Two kinds of provider share this path:

- local (``runs_locally``, hf): ``start`` trains in this process; an
  interrupted job resumes from its checkpoint (``ftdecide jobs resume ID``);
- remote (openai, azure): ``start`` uploads the data and creates the job,
  and returns; its id is stored *before* the core polls ``status`` until
  the job ends. Ctrl-C or a kill leaves the job running on the service;
  ``ftdecide jobs wait ID`` picks it up again, from the stored id or, if the
  process died before the id came back, through ``find_job``.

Costs: the estimate is stored when the job starts; the actual training cost
is the provider's billed (trained) tokens × the same price; hosting accrues
per hour for every deployment period (``jobs deploy``/``undeploy``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ftdecide.errors import (
    DataError,
    FtdecideError,
    NotTunableError,
    ProviderError,
    UsageError,
)
from ftdecide.options import split_hyperparameters
from ftdecide.paths import runs_dir
from ftdecide.pricing import _estimate as est
from ftdecide.pricing._catalog import Catalog
from ftdecide.providers import (
    JobState,
    ModelInfo,
    ProgressCallback,
    Provider,
    TuneRequest,
)
from ftdecide.tune._holdout import Holdout, holdout
from ftdecide.tune._hosting import DEVELOPER_TIER_HOURS, hosting
from ftdecide.tune._reuse import Previous, find_previous, tune_key
from ftdecide.tune._store import FINAL_STATES, JobRecord, Store
from ftdecide.tune._summary import record_state, summary

__all__ = ["DEVELOPER_TIER_HOURS", "JobDetached", "TunePlan", "cancel", "check_budget", "deploy",
           "obtain", "tune_key",
           "events", "hosting", "plan", "prepare", "record_state", "refresh", "resume", "start",
           "summary", "undeploy", "wait"]

POLL_INTERVAL_ENV = "FTDECIDE_POLL_INTERVAL"
#: Remote jobs are polled after 1 s, then 1.5× longer each time, at most every 5 s
#: (a poll is two small GETs; FTDECIDE_POLL_INTERVAL fixes the interval).
FIRST_POLL_S, POLL_GROWTH, MAX_POLL_S = 1.0, 1.5, 5.0


class JobDetached(Exception):
    """Polling stopped (Ctrl-C) while the job goes on at the provider.

    ``record`` is the job as last stored; ``submitted`` is False when the
    interruption came before the provider confirmed the job (it may or may
    not exist; ``ftdecide jobs wait ID`` finds out).
    """

    def __init__(self, record: JobRecord, *, submitted: bool = True) -> None:
        super().__init__(f"job {record.id} detached")
        self.record = record
        self.submitted = submitted


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
    warnings: list[str] = field(default_factory=list)
    holdout: Holdout | None = None
    """The slice held out of ``train_path`` as validation (when none was given)."""

    def write_data(self, run_dir: Path) -> tuple[Path, Path | None]:
        """The training (and validation) set as chat JSONL in ``run_dir``, held-out slice split off."""
        import ftdecide.data as data

        train = run_dir / "train.jsonl"
        validation = run_dir / "validation.jsonl"
        if self.holdout is not None:
            self.holdout.write(train, validation)
            return train, validation
        data.to_chat_jsonl(self.train_path, train)
        if not self.validation_path:
            return train, None
        data.to_chat_jsonl(self.validation_path, validation)
        return train, validation


def plan(catalog: Catalog, model: str, train_path: str, *, validation_path: str | None = None,
         hyperparameters: Mapping[str, Any] | None = None,
         options: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> TunePlan:
    """Resolve the model, check the settings, validate the data and estimate (no side effects).

    ``hyperparameters`` are the generic ones (epochs, batch_size, seed);
    ``options`` are the provider's own settings (``-o`` pairs or a mapping),
    checked against its option schema: those marked ``hyperparameter``
    (learning rate, LoRA rank ...) join the job's hyperparameters.
    """
    info = catalog.resolve(model)
    provider = catalog.providers[info.provider]
    est.check_tunable(info, catalog)
    if not provider.can_tune():
        raise NotTunableError(f"provider {info.provider!r} cannot fine-tune models",
                              hint="`ftdecide prices` shows which models are tunable")
    given = options.items() if isinstance(options, Mapping) else (options or ())
    parsed = provider.parse_options([(k, v) for k, v in given if v is not None], scope="tune")
    extra_hyper, opts = split_hyperparameters(provider.options, parsed)
    hyper = {k: v for k, v in {**(hyperparameters or {}), **extra_hyper}.items() if v is not None}
    warnings = list(provider.check_tune_options(info.id, hyperparameters=hyper, options=opts))
    report = est.validated(train_path, info)
    held = None
    if validation_path:
        est.validated(validation_path, info)
    elif provider.uses_validation:
        held = holdout(train_path, seed=int(hyper.get("seed") or 0))
        if held is not None:  # estimate what is trained: the set without the held-out slice
            with tempfile.TemporaryDirectory(prefix="ftdecide-holdout-") as tmp:
                held.write(Path(tmp) / "train.jsonl", Path(tmp) / "valid.jsonl")
                report = est.validated(str(Path(tmp) / "train.jsonl"), info)
            warnings.append(held.note())
    estimate: dict[str, Any] = est.training_estimate(report, info, epochs=hyper.get("epochs"),
                                                     tier=opts.get("tier"))
    hardware = est.hardware_estimate(provider, info, report, hyper, opts)
    if hardware is not None:
        estimate["hardware"] = hardware
        warnings.extend(str(w) for w in hardware.get("warnings") or [])
    if held is not None:
        estimate["holdout"] = held.to_dict()
    return TunePlan(info=info, provider=provider, train_path=train_path,
                    validation_path=validation_path, hyperparameters=hyper,
                    options=opts, estimate=estimate, warnings=warnings, holdout=held)


def check_budget(p: TunePlan, max_cost_usd: float | None) -> None:
    """Refuse (exit 2, before anything is uploaded) an estimate above ``max_cost_usd``."""
    if max_cost_usd is None:
        return
    cost = p.estimate.get("training_cost_usd")
    if cost is None:
        raise UsageError(f"the training cost of {p.info.key} is unknown, so --max-cost "
                         f"{max_cost_usd:g} cannot be checked",
                         hint="add the model's training price with a price file (--prices)")
    if cost > max_cost_usd:
        raise UsageError(f"the estimated training cost ${cost:,.4f} is above --max-cost "
                         f"${max_cost_usd:,.4f}; nothing was uploaded or started",
                         hint="fewer epochs or a smaller training set lower it; or raise "
                         "--max-cost")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def obtain(p: TunePlan, store: Store, catalog: Catalog, *, retrain: bool = False,
           progress: ProgressCallback | None = None, job_id: str | None = None,
           wait: bool = True, on_submitted: Callable[[JobRecord], None] | None = None,
           on_previous: Callable[[Previous], None] | None = None,
           before_start: Callable[[], None] | None = None,
           poll_interval: float | None = None) -> tuple[JobRecord, Previous | None]:
    """The tuned model of plan ``p``: a finished job with the same tune key is reused, one
    still training is followed, an interrupted local one resumed; otherwise a new job starts
    (``retrain`` always starts one). Returns the job and what was found before.

    ``before_start`` runs only when a new (paid) job is about to start: the place for the
    budget check and the confirmation, which a reused job does not need.
    """
    key = tune_key(p)
    previous = None if retrain else find_previous(store, catalog, key)
    if previous is None:
        if before_start is not None:
            before_start()
        return start(p, store, progress=progress, job_id=job_id, wait=wait,
                     on_submitted=on_submitted, poll_interval=poll_interval, tune_key=key), None
    if on_previous is not None:
        on_previous(previous)
    if previous.action == "reuse":
        return previous.record, previous
    if previous.action == "resume":
        return resume(store, catalog, previous.record.id, progress=progress), previous
    if not wait:
        return previous.record, previous
    return _follow(store, catalog, previous.record.id, progress=progress,
                   poll_interval=poll_interval), previous


def start(p: TunePlan, store: Store, *, progress: ProgressCallback | None = None,
          job_id: str | None = None, wait: bool = True,
          on_submitted: Callable[[JobRecord], None] | None = None,
          poll_interval: float | None = None, tune_key: str | None = None) -> JobRecord:
    """Record the job, convert the data into its run folder, and start the provider.

    A remote job is polled until it ends unless ``wait`` is False;
    ``on_submitted`` is called once its provider id is stored.
    """
    from ftdecide.tune._store import new_job_id

    job_id = job_id or new_job_id()
    run_dir = runs_dir() / job_id
    run_dir.mkdir(parents=True, exist_ok=False)
    record = store.create_job(
        job_id=job_id, provider=p.info.provider, model=p.info.id, train_path=p.train_path,
        train_sha256=_sha256(p.train_path), validation_path=p.validation_path,
        run_dir=str(run_dir), hyperparameters=p.hyperparameters,
        options=p.options, estimate=p.estimate, tune_key=tune_key,
    )
    try:
        train, validation = p.write_data(run_dir)
    except FtdecideError as exc:
        store.update_job(job_id, status="failed", error=exc.message)
        raise
    request = TuneRequest(job_id=job_id, model=p.info.id, train_path=str(train),
                          validation_path=str(validation) if validation else None,
                          run_dir=str(run_dir), hyperparameters=p.hyperparameters,
                          options=p.options, upload_log=store)
    if p.provider.runs_locally:
        return _drive(store, record, p.provider, request, progress, resume=False)
    record = _submit(store, record, p.provider, request, progress)
    if on_submitted is not None:
        on_submitted(record)
    if not wait or record.status in FINAL_STATES:
        return record
    return _poll(store, p.provider, record, progress, poll_interval)


def prepare(p: TunePlan) -> dict[str, Any]:
    """``tune --dry-run``: the provider writes what it would train from into a fresh folder
    and says the command; no job is recorded, nothing is uploaded or started.

    The folder is ``<data dir>/dry-runs/<id>/`` with the training set as chat
    JSONL, like a job's run folder. Providers opt in by implementing
    ``prepare(request) -> dict`` (autotrain: its config, data and command).
    """
    from ftdecide.paths import data_dir
    from ftdecide.tune._store import new_job_id

    if type(p.provider).prepare is Provider.prepare:
        raise UsageError(f"provider {p.info.provider!r} has no dry run",
                         hint="--dry-run writes a provider's files without training "
                              "(autotrain); leave it out here")
    job_id = new_job_id()
    run_dir = data_dir() / "dry-runs" / job_id
    run_dir.mkdir(parents=True, exist_ok=False)
    train, validation = p.write_data(run_dir)
    request = TuneRequest(job_id=job_id, model=p.info.id, train_path=str(train),
                          validation_path=str(validation) if validation else None,
                          run_dir=str(run_dir), hyperparameters=p.hyperparameters,
                          options=p.options)
    result = p.provider.prepare(request)
    return {"dry_run": True, "provider": p.info.provider, "model": p.info.key,
            "run_dir": str(run_dir), "train_path": p.train_path,
            "hyperparameters": p.hyperparameters, "options": p.options,
            "estimate": p.estimate, "warnings": p.warnings, **result}


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
    provider = _provider(catalog, record)
    if not provider.runs_locally:
        raise UsageError(f"provider {record.provider!r} jobs run remotely; there is nothing "
                         "to resume locally", hint=f"use `ftdecide jobs wait {job_id}`")
    request = _request(record, store)
    if not Path(request.train_path).exists():
        raise DataError("the job's training data is missing from its run folder",
                        path=request.train_path, hint="start a new job with `ftdecide tune`")
    return _drive(store, record, provider, request, progress, resume=True)


def _request(record: JobRecord, store: Store) -> TuneRequest:
    run_dir = Path(record.run_dir)
    validation = run_dir / "validation.jsonl"
    return TuneRequest(job_id=record.id, model=record.model,
                       train_path=str(run_dir / "train.jsonl"),
                       validation_path=str(validation) if validation.exists() else None,
                       run_dir=str(run_dir), hyperparameters=record.hyperparameters,
                       options=record.options, upload_log=store)


def _provider(catalog: Catalog, record: JobRecord) -> Provider:
    provider = catalog.providers.get(record.provider)
    if provider is None:
        raise UsageError(f"job {record.id} was run by provider {record.provider!r}, which is "
                         "not installed", hint="install its plugin (`ftdecide plugins` lists "
                         "what is loaded)")
    return provider


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


def _submit(store: Store, record: JobRecord, provider: Provider, request: TuneRequest,
            progress: ProgressCallback | None) -> JobRecord:
    """Upload and create the remote job; its provider id is stored before anything else."""
    store.update_job(record.id, status="validating")
    try:
        state = provider.start(request, progress=progress)
    except KeyboardInterrupt:
        raise JobDetached(store.get_job(record.id), submitted=False) from None
    except FtdecideError as exc:
        store.update_job(record.id, status="failed", error=exc.message)
        raise
    except Exception as exc:  # a provider bug: record it, then let the CLI report it
        store.update_job(record.id, status="failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if not state.provider_job_id:
        raise ProviderError(f"provider {record.provider!r} started job {record.id} but "
                            "returned no job id")
    return record_state(store, record.id, state)


def _intervals(poll_interval: float | None) -> Any:
    """Seconds to wait between polls: fixed (argument or FTDECIDE_POLL_INTERVAL) or growing."""
    fixed = poll_interval
    if fixed is None and os.environ.get(POLL_INTERVAL_ENV):
        try:
            fixed = float(os.environ[POLL_INTERVAL_ENV])
        except ValueError:
            raise UsageError(f"{POLL_INTERVAL_ENV} must be a number of seconds, got "
                             f"{os.environ[POLL_INTERVAL_ENV]!r}") from None
    delay = FIRST_POLL_S
    while True:
        if fixed is not None:
            yield max(0.0, fixed)
        else:
            yield delay
            delay = min(MAX_POLL_S, delay * POLL_GROWTH)


def _poll(store: Store, provider: Provider, record: JobRecord,
          progress: ProgressCallback | None, poll_interval: float | None) -> JobRecord:
    """Poll a remote job until it ends, storing every state; Ctrl-C detaches."""
    assert record.provider_job_id
    intervals = _intervals(poll_interval)
    try:
        while True:
            try:
                state = provider.status(record.provider_job_id)
            except FtdecideError as exc:  # retries are spent; the job itself goes on
                exc.hint = (f"{exc.hint}; " if exc.hint else "") + (
                    f"job {record.id} keeps running at {record.provider}: follow it with "
                    f"`ftdecide jobs wait {record.id}`")
                raise
            record = record_state(store, record.id, state)
            if progress is not None:
                progress(state)
            if record.status in FINAL_STATES:
                return record
            time.sleep(next(intervals))
    except KeyboardInterrupt:
        raise JobDetached(store.get_job(record.id)) from None


def wait(store: Store, catalog: Catalog, job_id: str, *,
         progress: ProgressCallback | None = None,
         poll_interval: float | None = None) -> JobRecord:
    """Follow a job until it ends: poll a remote one, or watch the process training a local one.

    A remote job whose provider id was never stored (the process died while
    creating it) is looked up with ``find_job`` first; if the provider has no
    such job it is marked failed, so it is never created twice.
    """
    record = store.get_job(job_id)
    provider = _provider(catalog, record)
    if provider.runs_locally:
        return _wait_local(store, record, poll_interval)
    if not record.provider_job_id:
        state = provider.find_job(_request(record, store))
        if state is None:
            if record.status in FINAL_STATES:
                return record
            return store.update_job(job_id, status="failed", error=record.error or (
                f"{record.provider} has no job for {job_id}: it was never created"))
        record = record_state(store, job_id, state)
    if record.status in FINAL_STATES:
        return record
    return _poll(store, provider, record, progress, poll_interval)


def _wait_local(store: Store, record: JobRecord, poll_interval: float | None) -> JobRecord:
    intervals = _intervals(poll_interval)
    while record.status not in FINAL_STATES:
        pid = record.result.get("pid")
        if record.status != "running" or not pid or not _alive(pid):
            raise UsageError(f"job {record.id} is {record.status} and no process is training it",
                             hint=f"continue it with `ftdecide jobs resume {record.id}`")
        time.sleep(min(next(intervals), 5.0))
        record = store.get_job(record.id)
    return record


def refresh(store: Store, catalog: Catalog, job_id: str) -> JobRecord:
    """One status call for a remote job that has not ended (``jobs show``/``list --refresh``)."""
    record = store.get_job(job_id)
    provider = catalog.providers.get(record.provider)
    if (provider is None or provider.runs_locally or record.status in FINAL_STATES
            or not record.provider_job_id):
        return record
    return record_state(store, job_id, provider.status(record.provider_job_id))


def cancel(store: Store, catalog: Catalog, job_id: str) -> JobRecord:
    """Cancel a job at the provider (remote) or in the store (a local job no process runs)."""
    record = store.get_job(job_id)
    if record.status in FINAL_STATES:
        raise UsageError(f"job {job_id} already {record.status}; nothing to cancel")
    provider = _provider(catalog, record)
    if provider.runs_locally:
        pid = record.result.get("pid")
        if record.status == "running" and pid and pid != os.getpid() and _alive(pid):
            raise UsageError(f"job {job_id} is training in process {pid}",
                             hint="stop it there (Ctrl-C keeps a checkpoint), then cancel")
        return store.update_job(job_id, status="cancelled")
    if not record.provider_job_id:
        found = provider.find_job(_request(record, store))
        if found is None:
            return store.update_job(job_id, status="cancelled")
        record = record_state(store, job_id, found)
        if record.status in FINAL_STATES:
            return record
    assert record.provider_job_id
    return record_state(store, job_id, provider.cancel(record.provider_job_id))


def events(store: Store, catalog: Catalog, job_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The job's events, oldest first: the provider's for a remote job, the loss curve's
    steps for a local one."""
    record = store.get_job(job_id)
    provider = catalog.providers.get(record.provider)
    if provider is not None and not provider.runs_locally and record.provider_job_id:
        return provider.events(record.provider_job_id, limit=limit)
    rows = record.result.get("loss_curve") or []
    out = []
    for row in rows[-limit:]:
        loss = row.get("train_loss")
        text = f"step {row.get('step')}" + (f": train loss {loss:.4f}" if loss is not None else "")
        out.append({"created_at": None, "level": "info", "type": "metrics", "message": text,
                    "data": dict(row)})
    return out


# -- deployments (hosting billed per hour) --------------------------------------------------

def deploy(store: Store, catalog: Catalog, job_id: str, *, name: str | None = None,
           tier: str | None = None,
           progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Deploy a succeeded job's model where the host bills per hour; hosting starts accruing
    from the moment the provider accepted the deployment."""
    record = store.get_job(job_id)
    provider = _provider(catalog, record)
    if not provider.can_deploy():
        raise UsageError(f"{record.provider} serves fine-tuned models without a deployment",
                         hint=f"use it directly: --model {record.provider}/"
                         f"{record.fine_tuned_model or '<fine-tuned model>'}")
    if record.status != "succeeded" or not record.fine_tuned_model:
        raise UsageError(f"job {job_id} is {record.status}; only a succeeded job's model can be "
                         "deployed", hint=f"`ftdecide jobs wait {job_id}` follows it")
    live = [d for d in store.deployments(job_id) if d["undeployed_at"] is None]
    if live:
        raise UsageError(f"job {job_id} is already deployed as {live[0]['name']!r}",
                         hint=f"`ftdecide jobs undeploy {job_id}` removes it")
    info = catalog.resolve(f"{record.provider}/{record.model}")
    tier = tier or record.options.get("tier")
    recorded: dict[str, Any] = {}

    def on_progress(update: dict[str, Any]) -> None:
        if "id" not in recorded and update.get("name"):
            rate = 0.0 if update.get("tier") == "developer" else info.hosting_per_hour
            recorded.update(store.add_deployment(
                job_id, name=update["name"], tier=update.get("tier"), hosting_per_hour=rate,
                details={"sku": update.get("sku"), "model": record.fine_tuned_model}))
        if progress is not None:
            progress(update)

    try:
        result = provider.deploy(record.fine_tuned_model, name=name, tier=tier,
                                 progress=on_progress)
    except FtdecideError as exc:
        if "id" in recorded:
            store.end_deployment(recorded["id"], note=f"failed: {exc.message}")
        raise
    if "id" not in recorded:
        on_progress(result)
    deployment = store._deployment(recorded["id"])
    details = dict(deployment["details"])
    return {**deployment, "state": result.get("state"), "warnings": result.get("warnings", []),
            "model": f"{record.provider}/{result.get('name')}",
            "details": details}


def undeploy(store: Store, catalog: Catalog, job_id: str, *,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Delete the job's live deployment; hosting stops accruing once the provider confirms."""
    record = store.get_job(job_id)
    provider = _provider(catalog, record)
    live = [d for d in store.deployments(job_id) if d["undeployed_at"] is None]
    if not live:
        raise UsageError(f"job {job_id} has no live deployment",
                         hint=f"`ftdecide jobs show {job_id}` lists its deployments")
    deployment = live[-1]
    provider.undeploy(deployment["name"], progress=progress)
    return store.end_deployment(deployment["id"], note="undeployed")


def _follow(store: Store, catalog: Catalog, job_id: str, **kwargs: Any) -> JobRecord:
    """:func:`wait`, under a name that a ``wait`` flag does not hide."""
    return wait(store, catalog, job_id, **kwargs)
