"""Fine-tuning through an OpenAI-style API (OpenAI, Azure OpenAI, compatible servers).

Both providers call these functions with an :class:`Api` (their client and
how to name the service in messages); only the Azure specifics (no job
metadata, ``trainingType``, a BOM-free upload) differ, through its fields.

Money is at stake, so each call is made with the SDK's own retries off and
these rules instead:

- reads (retrieve, list, events, content) are retried on timeouts, dropped
  connections, 408/409/429 and 5xx, waiting what ``Retry-After`` asks, else
  backing off exponentially;
- creates (upload, job) are retried after a refusal that did nothing
  (429, 408, 409); after an *uncertain* failure (no answer, or a 5xx) the
  service is searched for what the request may have created — the upload by
  its content-hash file name, the job by the ftdecide job id in its
  ``metadata`` (or, where metadata is not supported, by training file and
  model) — and that is used rather than creating a second one.
- an upload is reused when the same content was uploaded before: the core's
  upload log first, then the service's file list.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import ftdecide

from . import shared

T = TypeVar("T")

BOM = b"\xef\xbb\xbf"
#: The key of the ftdecide job id in a provider job's metadata.
METADATA_KEY = "ftdecide_job_id"
#: Attempts for a read (poll) and for a create before giving up.
READ_ATTEMPTS, CREATE_ATTEMPTS = 8, 6

#: OpenAI job statuses → ftdecide's (``paused`` and unknown ones count as running).
STATUSES = {"validating_files": "validating", "queued": "queued", "running": "running",
            "succeeded": "succeeded", "failed": "failed", "cancelled": "cancelled"}

#: Result-file columns (OpenAI's and Azure's names differ) → loss-curve keys.
RESULT_COLUMNS = {
    "train_loss": "train_loss",
    "valid_loss": "valid_loss",
    "train_accuracy": "train_accuracy",
    "train_mean_token_accuracy": "train_accuracy",
    "valid_mean_token_accuracy": "valid_accuracy",
    "validation_mean_token_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
}
#: Metrics-event ``data`` keys → loss-curve keys.
EVENT_KEYS = {"train_loss": "train_loss", "valid_loss": "valid_loss",
              "train_mean_token_accuracy": "train_accuracy",
              "valid_mean_token_accuracy": "valid_accuracy",
              "full_valid_loss": "full_valid_loss",
              "full_valid_mean_token_accuracy": "full_valid_accuracy"}

#: ftdecide hyperparameter names → the API's.
HYPERPARAMETERS = {"epochs": "n_epochs", "batch_size": "batch_size",
                   "learning_rate_multiplier": "learning_rate_multiplier"}


@dataclass
class Api:
    """One service as the fine-tuning functions need it.

    ``client`` is an ``openai.OpenAI`` or ``openai.AzureOpenAI``; ``account``
    names where files live (a URL, never a key) for the upload log.
    """

    client: Any
    provider: str
    service: str
    credential: str
    account: str
    secrets: list[str] = field(default_factory=list)
    job_metadata: bool = True
    strip_bom: bool = False
    sleep: Callable[[float], None] = time.sleep

    @property
    def raw(self) -> Any:
        """The client with the SDK's retries off: these functions retry themselves."""
        return self.client.with_options(max_retries=0)

    def error(self, exc: Exception) -> ftdecide.ProviderError:
        return shared.map_error(exc, service=self.service, credential=self.credential,
                                secrets=self.secrets)


# -- calls with retries ------------------------------------------------------------------

def read(api: Api, fn: Callable[[], T], *, attempts: int = READ_ATTEMPTS) -> T:
    """A call without side effects, retried on transient failures."""
    import openai

    for attempt in range(attempts):
        try:
            return fn()
        except openai.OpenAIError as exc:
            if not shared.is_transient(exc) or attempt == attempts - 1:
                raise api.error(exc) from None
            api.sleep(shared.backoff(attempt, exc))
    raise AssertionError("unreachable")  # pragma: no cover


def create_once(api: Api, create: Callable[[], T], find: Callable[[], T | None], *,
                what: str, attempts: int = CREATE_ATTEMPTS) -> T:
    """Create something exactly once: retry refusals, and after an uncertain failure
    look for what may have been created before trying again."""
    import openai

    for attempt in range(attempts):
        try:
            return create()
        except openai.OpenAIError as exc:
            if not shared.is_transient(exc):
                raise api.error(exc) from None
            uncertain = shared.is_uncertain(exc)
            if uncertain:
                try:
                    found = find()  # read() retries; if even that fails, stop rather than risk
                except ftdecide.ProviderError as err:  # creating a second one
                    err.hint = (f"the {what} may have been created and could not be looked up; "
                                "nothing is created twice: rerun to find and reuse it")
                    raise
                if found is not None:
                    return found
            if attempt == attempts - 1:
                err = api.error(exc)
                if uncertain:
                    err.hint = (f"the {what} may have been created; nothing is created twice: "
                                "rerun to find and reuse it")
                raise err from None
            api.sleep(shared.backoff(attempt, exc))
    raise AssertionError("unreachable")  # pragma: no cover


# -- uploads -------------------------------------------------------------------------------

def upload_name(sha256: str, prefix: str = "ftdecide") -> str:
    """The file name an upload of this content gets: how a later run recognises it."""
    return f"{prefix}-{sha256[:32]}.jsonl"


def upload(api: Api, path: str, *, purpose: str = "fine-tune",
           uploads: ftdecide.UploadLog | None = None, prefix: str = "ftdecide") -> str:
    """Upload ``path`` once and return its file id; reuse an earlier upload of the same bytes."""
    content = Path(path).read_bytes()
    if api.strip_bom and content.startswith(BOM):
        content = content[len(BOM):]
    return upload_bytes(api, content, purpose=purpose, uploads=uploads, prefix=prefix)


def upload_bytes(api: Api, content: bytes, *, purpose: str,
                 uploads: ftdecide.UploadLog | None = None, prefix: str = "ftdecide") -> str:
    sha = hashlib.sha256(content).hexdigest()
    name = upload_name(sha, prefix)
    key = dict(provider=api.provider, account=api.account, sha256=sha, purpose=purpose)
    if uploads is not None:
        known = uploads.find_upload(**key)
        if known is not None:
            try:
                found = read(api, lambda: api.raw.files.retrieve(known))
            except ftdecide.AuthenticationError:
                raise
            except ftdecide.ProviderError:  # gone (404) or unreadable: upload again
                found = None
            if found is not None and _usable(found, name, len(content)):
                return str(found.id)
            uploads.forget_upload(provider=api.provider, account=api.account, file_id=known)

    def find() -> Any:
        return _find_file(api, name, len(content), purpose)

    found = _find_quietly_or_none(api, find)
    if found is None:
        found = create_once(
            api, lambda: api.raw.files.create(file=(name, content, "application/jsonl"),
                                              purpose=purpose),
            find, what="upload")
    if uploads is not None:
        uploads.remember_upload(**key, file_id=str(found.id), filename=name, size=len(content))
    return str(found.id)


def _usable(found: Any, name: str, size: int) -> bool:
    status = getattr(found, "status", None)
    return (getattr(found, "filename", name) == name and getattr(found, "bytes", size) == size
            and status not in ("error", "deleted"))


def _find_file(api: Api, name: str, size: int, purpose: str) -> Any:
    """A file of the service named ``name`` with ``size`` bytes, or ``None``."""
    page = read(api, lambda: api.raw.files.list(purpose=purpose))
    for found in getattr(page, "data", None) or []:
        if _usable(found, name, size) and getattr(found, "filename", None) == name:
            return found
    return None


def _find_quietly_or_none(api: Api, find: Callable[[], Any]) -> Any:
    """A lookup that is only an optimisation: a server without a file list means "none"."""
    try:
        return find()
    except ftdecide.AuthenticationError:
        raise
    except ftdecide.ProviderError:
        return None


# -- jobs -------------------------------------------------------------------------------------

def start(api: Api, request: ftdecide.TuneRequest, *, model: str,
          extra_body: dict[str, Any] | None = None,
          progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
    """Upload the data (once) and create the job (once); return it, not waiting."""
    if progress is not None:
        progress(ftdecide.JobState(status="validating", metrics={"stage": "uploading"}))
    training_file = upload(api, request.train_path, uploads=request.uploads)
    validation_file = None
    if request.validation_path:
        validation_file = upload(api, request.validation_path, uploads=request.uploads)
    hyper = {HYPERPARAMETERS[k]: v for k, v in request.hyperparameters.items()
             if k in HYPERPARAMETERS and v is not None}
    kwargs: dict[str, Any] = {
        "model": model, "training_file": training_file,
        "method": {"type": "supervised", "supervised": {"hyperparameters": hyper}},
    }
    if validation_file:
        kwargs["validation_file"] = validation_file
    if request.options.get("suffix"):
        kwargs["suffix"] = request.options["suffix"]
    if request.hyperparameters.get("seed") is not None:
        kwargs["seed"] = request.hyperparameters["seed"]
    if api.job_metadata:
        kwargs["metadata"] = {METADATA_KEY: request.job_id}
    if extra_body:
        kwargs["extra_body"] = extra_body
    started = time.time()

    def find() -> Any:
        return _find_job(api, request.job_id, model=model, training_file=training_file,
                         since=started)

    job = create_once(api, lambda: api.raw.fine_tuning.jobs.create(**kwargs), find, what="job")
    state = job_state(job)
    state.metrics.update({"training_file": training_file, "validation_file": validation_file})
    return state


def find_job(api: Api, request: ftdecide.TuneRequest, *, model: str) -> ftdecide.JobState | None:
    """The job created for ``request.job_id``, if any (after a crash during creation)."""
    training_file = None
    if not api.job_metadata and request.uploads is not None:
        content = Path(request.train_path).read_bytes()
        if api.strip_bom and content.startswith(BOM):
            content = content[len(BOM):]
        training_file = request.uploads.find_upload(
            provider=api.provider, account=api.account,
            sha256=hashlib.sha256(content).hexdigest(), purpose="fine-tune")
        if training_file is None:
            return None  # never uploaded, so never created
    job = _find_job(api, request.job_id, model=model, training_file=training_file, since=None)
    return None if job is None else job_state(job)


def _find_job(api: Api, job_id: str, *, model: str, training_file: str | None,
              since: float | None) -> Any:
    """By metadata where the service keeps it; else by training file and model."""
    if api.job_metadata:
        page = read(api, lambda: api.raw.fine_tuning.jobs.list(metadata={METADATA_KEY: job_id},
                                                                 limit=100))
        for job in getattr(page, "data", None) or []:
            if (getattr(job, "metadata", None) or {}).get(METADATA_KEY) == job_id:
                return job
        return None
    if training_file is None:
        return None
    page = read(api, lambda: api.raw.fine_tuning.jobs.list(limit=100))
    for job in getattr(page, "data", None) or []:
        created = getattr(job, "created_at", 0) or 0
        if (job.training_file == training_file and _same_model(job.model, model)
                and (since is None or created >= since - 300)):
            return job
    return None


def _same_model(a: str, b: str) -> bool:
    return a == b or a.startswith(b) or b.startswith(a)


def status(api: Api, job_id: str) -> ftdecide.JobState:
    """The job now: status, steps and loss curve so far; when it succeeded, the
    whole curve from the result file, trained tokens and checkpoints."""
    job = read(api, lambda: api.raw.fine_tuning.jobs.retrieve(job_id))
    events = _recent_events(api, job_id)
    state = job_state(job, events)
    if state.status == "succeeded":
        curve, source = _result_curve(api, job)
        if curve:
            state.loss_curve = curve
            state.step = state.step or curve[-1]["step"]
            state.total_steps = state.total_steps or curve[-1]["step"]
        state.metrics["loss_curve_source"] = source if curve else "events"
        state.metrics["checkpoints"] = _checkpoints(api, job_id)
    return state


def _recent_events(api: Api, job_id: str, limit: int = 100) -> list[Any]:
    try:
        page = read(api, lambda: api.raw.fine_tuning.jobs.list_events(job_id, limit=limit))
    except ftdecide.AuthenticationError:
        raise
    except ftdecide.ProviderError:
        return []  # events only feed progress; the job's own status is what counts
    return list(getattr(page, "data", None) or [])


def events(api: Api, job_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` events, oldest first, as plain dicts (paged 100 at a time)."""
    found: list[Any] = []
    after: dict[str, str] = {}
    while len(found) < limit:
        size = min(100, limit - len(found))
        page = read(api, lambda: api.raw.fine_tuning.jobs.list_events(job_id, limit=size,
                                                                        **after))
        data = list(getattr(page, "data", None) or [])
        found.extend(data)
        if not data or not getattr(page, "has_more", False):
            break
        after = {"after": data[-1].id}
    out = []
    for event in reversed(found[:limit]):
        out.append({"id": event.id, "created_at": event.created_at,
                    "level": getattr(event, "level", "info"),
                    "type": getattr(event, "type", None) or "message",
                    "message": shared.scrub(event.message or "", api.secrets),
                    "data": _plain(getattr(event, "data", None))})
    return out


def cancel(api: Api, job_id: str) -> ftdecide.JobState:
    import openai

    try:
        job = api.raw.fine_tuning.jobs.cancel(job_id)
    except openai.OpenAIError as exc:
        if shared.is_transient(exc):
            # an unanswered cancel may have worked: ask before repeating it
            job = read(api, lambda: api.raw.fine_tuning.jobs.retrieve(job_id))
            if job.status not in ("succeeded", "failed", "cancelled"):
                job = read(api, lambda: api.raw.fine_tuning.jobs.cancel(job_id))
        else:
            raise api.error(exc) from None
    return job_state(job)


def _plain(value: Any) -> Any:
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return value.model_dump()
    return value if isinstance(value, dict) else dict(value)


def job_state(job: Any, events: list[Any] | None = None) -> ftdecide.JobState:
    """``ftdecide.JobState`` of an SDK ``FineTuningJob`` (and its recent events)."""
    raw_status = str(job.status)
    hyper = _plain(getattr(job, "hyperparameters", None))
    method = _plain(getattr(job, "method", None))
    supervised = (method.get("supervised") or {}).get("hyperparameters") if method else None
    used = {k: v for k, v in (supervised or hyper or {}).items() if v is not None}
    error = None
    if raw_status == "failed":
        err = _plain(getattr(job, "error", None))
        message = err.get("message") or "the provider gave no reason"
        error = message + (f" ({err['code']})" if err.get("code") else "")
    curve: list[dict[str, Any]] = []
    step = total = None
    for event in reversed(events or []):  # events come newest first
        data = _plain(getattr(event, "data", None))
        if getattr(event, "type", None) != "metrics" or not isinstance(data.get("step"), int):
            continue
        row: dict[str, Any] = {"step": data["step"]}
        for key, name in EVENT_KEYS.items():
            if isinstance(data.get(key), (int, float)):
                row[name] = float(data[key])
        curve.append(row)
        step = data["step"]
        total = data.get("total_steps") if isinstance(data.get("total_steps"), int) else total
    metrics: dict[str, Any] = {"provider_status": raw_status}
    if getattr(job, "result_files", None):
        metrics["result_files"] = list(job.result_files)
    if getattr(job, "estimated_finish", None):
        metrics["estimated_finish"] = job.estimated_finish
    return ftdecide.JobState(
        status=STATUSES.get(raw_status, "running"),
        fine_tuned_model=getattr(job, "fine_tuned_model", None),
        provider_job_id=job.id,
        step=step, total_steps=total, loss_curve=curve,
        trained_tokens=getattr(job, "trained_tokens", None),
        hyperparameters=used, metrics=metrics, error=error,
    )


def _result_curve(api: Api, job: Any) -> tuple[list[dict[str, Any]], str]:
    """The loss curve from the job's result file, by column name (empty if unreadable)."""
    for file_id in getattr(job, "result_files", None) or []:
        try:
            content = read(api, lambda: api.raw.files.content(file_id).read())
        except ftdecide.ProviderError:
            continue
        curve = parse_result_file(content)
        if curve:
            return curve, f"result file {file_id}"
    return [], "events"


def parse_result_file(content: bytes | str) -> list[dict[str, Any]]:
    """Rows ``{"step", "train_loss", ...}`` of a result CSV, plain or base64 (as OpenAI
    serves it), with OpenAI's or Azure's columns; ``[]`` if it is neither."""
    data = content.encode() if isinstance(content, str) else content
    text = data.decode("utf-8-sig", "replace")
    if "step" not in text.split("\n", 1)[0]:
        try:
            text = base64.b64decode(data, validate=False).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return []
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "step" not in columns:
        return []
    rows = []
    for raw in reader:
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        try:
            out: dict[str, Any] = {"step": int(float(row["step"]))}
        except (KeyError, ValueError):
            continue
        for column, name in RESULT_COLUMNS.items():
            try:
                if row.get(column):
                    out[name] = float(row[column])
            except ValueError:
                pass
        rows.append(out)
    return rows


def _checkpoints(api: Api, job_id: str) -> list[dict[str, Any]]:
    try:
        page = read(api, lambda: api.raw.fine_tuning.jobs.checkpoints.list(job_id))
    except ftdecide.AuthenticationError:
        raise
    except ftdecide.ProviderError:
        return []
    return [{"step": c.step_number, "model": c.fine_tuned_model_checkpoint,
             "metrics": _plain(getattr(c, "metrics", None))}
            for c in getattr(page, "data", None) or []]
