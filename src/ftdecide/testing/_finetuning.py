"""The fine-tuning job routes and the simulated training behind them.

A job advances one stage per ``GET`` of it (``_advance_job``):
``validating_files``, ``queued``, ``running`` (a metrics event per step, a
checkpoint per epoch), then ``succeeded`` with a fine-tuned model, trained
tokens and a result file (``_finish_job``; columns
:data:`OPENAI_RESULT_COLUMNS` or :data:`AZURE_RESULT_COLUMNS`), or
``failed``. Jobs made under Azure's prefixes get Azure's model ids, result
columns and suffix limit. Routes: create, list, get, cancel, events and
checkpoints (:data:`ROUTES`).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import re
from typing import TYPE_CHECKING, Any, Mapping

from ftdecide.testing._protocol import (
    Handler,
    RecordedRequest,
    _ClientError,
    _flavor,
    _page,
    _public,
)

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["AZURE_RESULT_COLUMNS", "OPENAI_RESULT_COLUMNS"]

#: The columns of a fine-tuning result file (providers.md §2): OpenAI's and Azure's differ.
OPENAI_RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss",
                         "valid_mean_token_accuracy")
AZURE_RESULT_COLUMNS = ("step", "train_loss", "train_mean_token_accuracy", "valid_loss",
                        "validation_mean_token_accuracy", "full_valid_loss",
                        "full_valid_mean_token_accuracy")

#: Azure's suffix limit for fine-tuned model names (OpenAI's is 64).
AZURE_SUFFIX_LIMIT = 18
OPENAI_SUFFIX_LIMIT = 64

JOB_FINAL = ("succeeded", "failed", "cancelled")


def _examples(content: bytes) -> list[list[dict[str, Any]]]:
    out = []
    for line in content.decode("utf-8-sig").splitlines():
        if line.strip():
            obj = json.loads(line)
            if isinstance(obj, dict) and isinstance(obj.get("messages"), list):
                out.append(obj["messages"])
    return out


def _create_job(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Any:
    from ftdecide.data._tokens import count_examples
    from ftdecide.pricing._costs import default_epochs

    body = request.json if isinstance(request.json, Mapping) else {}
    flavor = _flavor(request)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _ClientError("model is required", "model")
    training = server.files.get(body.get("training_file") or "")
    if training is None:
        raise _ClientError(f"invalid training_file: {body.get('training_file')}",
                           "training_file", code="invalid_training_file")
    if training["purpose"] != "fine-tune":
        raise _ClientError("the training file must have purpose 'fine-tune'", "training_file")
    validation_id = body.get("validation_file")
    if validation_id and validation_id not in server.files:
        raise _ClientError(f"invalid validation_file: {validation_id}", "validation_file")
    suffix = body.get("suffix")
    limit = AZURE_SUFFIX_LIMIT if flavor == "azure" else OPENAI_SUFFIX_LIMIT
    if suffix is not None and (not isinstance(suffix, str) or len(suffix) > limit):
        raise _ClientError(f"suffix must be a string of at most {limit} characters", "suffix")
    method = body.get("method") or {"type": "supervised", "supervised": {
        "hyperparameters": dict(body.get("hyperparameters") or {})}}
    if method.get("type") != "supervised":
        raise _ClientError("only the supervised method is served by the test server", "method")
    hyper = dict((method.get("supervised") or {}).get("hyperparameters") or {})
    unknown = set(hyper) - {"n_epochs", "batch_size", "learning_rate_multiplier"}
    if unknown:
        raise _ClientError(f"unknown hyperparameters: {', '.join(sorted(unknown))}",
                           "method.supervised.hyperparameters")
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, Mapping) or len(metadata) > 16):
        raise _ClientError("metadata must be an object of at most 16 pairs", "metadata")
    examples = _examples(training["content"])
    n = max(1, len(examples))
    epochs = hyper.get("n_epochs") if isinstance(hyper.get("n_epochs"), int) \
        else default_epochs(len(examples))
    batch = hyper.get("batch_size") if isinstance(hyper.get("batch_size"), int) \
        else max(1, min(256, n // 50))
    lr = hyper.get("learning_rate_multiplier")
    lr = lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else 1.8
    resolved = {"n_epochs": epochs, "batch_size": batch, "learning_rate_multiplier": lr}
    job_id = server.next_id("ftjob")
    job: dict[str, Any] = {
        "object": "fine_tuning.job", "id": job_id, "model": model,
        "created_at": server.now(), "finished_at": None, "fine_tuned_model": None,
        "organization_id": server.organization, "result_files": [],
        "status": "validating_files", "validation_file": validation_id,
        "training_file": training["id"], "hyperparameters": resolved,
        "method": {"type": "supervised", "supervised": {"hyperparameters": resolved}},
        "trained_tokens": None, "error": None, "user_provided_suffix": suffix,
        "seed": body.get("seed") if isinstance(body.get("seed"), int) else 42,
        "estimated_finish": None, "integrations": [], "metadata": metadata,
    }
    if flavor == "azure" and body.get("trainingType") is not None:
        job["trainingType"] = body["trainingType"]
    tokens = count_examples(examples, server.encoding) if examples else []
    steps_per_epoch = math.ceil(n / batch)
    job["_state"] = {"flavor": flavor, "polls": 0, "step": 0, "events": [],
                     "checkpoints": [], "tokens": sum(tokens), "examples": len(examples),
                     "steps_per_epoch": steps_per_epoch, "total_steps": steps_per_epoch * epochs,
                     "validation": validation_id}
    server.jobs[job_id] = job
    _event(server, job, f"Created fine-tuning job: {job_id}")
    _event(server, job, f"Validating training file: {training['id']}")
    return _public(job)


def _event(server: OpenAICompatibleServer, job: dict[str, Any], message: str, *,
           type: str = "message", data: dict[str, Any] | None = None,
           level: str = "info") -> None:
    job["_state"]["events"].append({
        "object": "fine_tuning.job.event", "id": server.next_id("ftevent"),
        "created_at": server.now(), "level": level, "message": message,
        "data": data or {}, "type": type})


def _loss(step: int) -> float:
    return round(2.5 / (1.0 + 0.35 * step) + 0.05, 6)


def _advance_job(server: OpenAICompatibleServer, job: dict[str, Any]) -> None:
    """One poll's progress: the next stage, the next steps, or the end."""
    state = job["_state"]
    if job["status"] in JOB_FINAL or server.hold_jobs:
        return
    state["polls"] += 1
    polls = state["polls"]
    v = server.job_polls.get("validating_files", 1)
    q = server.job_polls.get("queued", 1)
    r = max(1, server.job_polls.get("running", 3))
    if polls <= v:
        return
    if polls <= v + q:
        if job["status"] != "queued":
            job["status"] = "queued"
            _event(server, job, "Files validated, moving job to queued state")
        return
    if job["status"] == "queued":
        job["status"] = "running"
        _event(server, job, "Fine-tuning job started")
    if server.job_error is not None:
        job["status"] = "failed"
        job["finished_at"] = server.now()
        job["error"] = {"code": server.job_error.get("code", "server_error"),
                        "message": server.job_error.get("message", "Fine-tuning failed."),
                        "param": server.job_error.get("param")}
        _event(server, job, job["error"]["message"], level="error")
        return
    total = state["total_steps"]
    target = total if polls > v + q + r else math.ceil(total * (polls - v - q) / r)
    for step in range(state["step"] + 1, target + 1):
        data = {"step": step, "train_loss": server.loss(step),
                "train_mean_token_accuracy": round(min(0.99, 0.5 + step / (2 * total)), 6),
                "total_steps": total}
        if state["validation"] and step % state["steps_per_epoch"] == 0:
            data["valid_loss"] = server.loss(step) + 0.1
            data["valid_mean_token_accuracy"] = data["train_mean_token_accuracy"] - 0.05
        _event(server, job, f"Step {step}/{total}: training loss={data['train_loss']:.4f}",
               type="metrics", data=data)
        if step % state["steps_per_epoch"] == 0:
            state["checkpoints"].append({
                "object": "fine_tuning.job.checkpoint", "id": server.next_id("ftckpt"),
                "created_at": server.now(), "fine_tuning_job_id": job["id"],
                "fine_tuned_model_checkpoint": f"{_model_name(server, job)}:ckpt-step-{step}",
                "step_number": step,
                "metrics": {"step": step, "train_loss": server.loss(step),
                            "train_mean_token_accuracy": data["train_mean_token_accuracy"]}})
            state["checkpoints"] = state["checkpoints"][-3:]
    state["step"] = target
    if polls > v + q + r:
        _finish_job(server, job)


def _model_name(server: OpenAICompatibleServer, job: dict[str, Any]) -> str:
    suffix = job.get("user_provided_suffix") or ""
    short = hashlib.sha256(job["id"].encode()).hexdigest()
    if job["_state"]["flavor"] == "azure":
        return f"{job['model']}.ft-{short[:32]}" + (f"-{suffix}" if suffix else "")
    return f"ft:{job['model']}:{server.organization}:{suffix}:{short[:8]}"


def _finish_job(server: OpenAICompatibleServer, job: dict[str, Any]) -> None:
    state = job["_state"]
    azure = state["flavor"] == "azure"
    columns = AZURE_RESULT_COLUMNS if azure else OPENAI_RESULT_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for step in range(1, state["total_steps"] + 1):
        accuracy = round(min(0.99, 0.5 + step / (2 * state["total_steps"])), 6)
        valid = state["validation"] and step % state["steps_per_epoch"] == 0
        row = {"step": step, "train_loss": server.loss(step), "train_accuracy": accuracy,
               "train_mean_token_accuracy": accuracy,
               "valid_loss": server.loss(step) + 0.1 if valid else "",
               "valid_mean_token_accuracy": accuracy - 0.05 if valid else "",
               "validation_mean_token_accuracy": accuracy - 0.05 if valid else "",
               "full_valid_loss": server.loss(step) + 0.12 if valid else "",
               "full_valid_mean_token_accuracy": accuracy - 0.06 if valid else ""}
        writer.writerow([row[c] for c in columns])
    content = out.getvalue().encode()
    if not azure:  # OpenAI serves the result file base64-encoded
        content = base64.b64encode(content)
    result = server.add_file(content, filename="step_metrics.csv", purpose="fine-tune-results")
    job["result_files"] = [result["id"]]
    job["fine_tuned_model"] = _model_name(server, job)
    job["trained_tokens"] = state["tokens"] * job["hyperparameters"]["n_epochs"]
    job["status"] = "succeeded"
    job["finished_at"] = server.now()
    _event(server, job, f"New fine-tuned model created: {job['fine_tuned_model']}")
    _event(server, job, "The job has successfully completed")


def _the_job(server: OpenAICompatibleServer, job_id: str) -> dict[str, Any]:
    job = server.jobs.get(job_id)
    if job is None:
        raise _ClientError(f"Could not find fine-tune: {job_id}", "fine_tuning_job_id",
                           status=404)
    return job


def _get_job(server: OpenAICompatibleServer, request: RecordedRequest,
             match: "re.Match[str]") -> Any:
    job = _the_job(server, match.group("job_id"))
    _advance_job(server, job)
    return _public(job)


def _list_jobs(server: OpenAICompatibleServer, request: RecordedRequest,
               match: "re.Match[str]") -> Any:
    wanted = {k[len("metadata["):-1]: v for k, v in request.query.items()
              if k.startswith("metadata[") and k.endswith("]")}
    jobs = [_public(j) for j in server.jobs.values()
            if all((j.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
    jobs.sort(key=lambda j: (j["created_at"], j["id"]), reverse=True)
    return _page(jobs, request.query)


def _cancel_job(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Any:
    job = _the_job(server, match.group("job_id"))
    if job["status"] in JOB_FINAL:
        raise _ClientError(f"Job has already {job['status']}; it cannot be cancelled",
                           "fine_tuning_job_id")
    job["status"] = "cancelled"
    job["finished_at"] = server.now()
    _event(server, job, "Job cancelled")
    return _public(job)


def _job_events(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Any:
    job = _the_job(server, match.group("job_id"))
    return _page(list(reversed(job["_state"]["events"])), request.query)


def _job_checkpoints(server: OpenAICompatibleServer, request: RecordedRequest,
                     match: "re.Match[str]") -> Any:
    job = _the_job(server, match.group("job_id"))
    return _page(list(reversed(job["_state"]["checkpoints"])), request.query, default_limit=10)


#: Served under every prefix (``/v1``, ``/openai``, ``/openai/v1``).
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/fine_tuning/jobs", _create_job),
    ("GET", "/fine_tuning/jobs", _list_jobs),
    ("GET", "/fine_tuning/jobs/{job_id}", _get_job),
    ("POST", "/fine_tuning/jobs/{job_id}/cancel", _cancel_job),
    ("GET", "/fine_tuning/jobs/{job_id}/events", _job_events),
    ("GET", "/fine_tuning/jobs/{job_id}/checkpoints", _job_checkpoints),
]
