"""The batch routes: create, list, get and cancel chat-completion batches.

A batch advances one stage per ``GET`` of it (``_advance_batch``):
``validating``, ``in_progress``, ``finalizing``, then ``completed`` with an
output file (and an error file for the lines that failed), every line
answered through the server's chat responder; or ``failed`` when
``batch_error`` is set.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Mapping

from ftdecide.testing._protocol import (
    Handler,
    RecordedRequest,
    _ClientError,
    _page,
    _public,
    error_body,
)

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

BATCH_FINAL = ("completed", "failed", "expired", "cancelled")


def _create_batch(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> Any:
    body = request.json if isinstance(request.json, Mapping) else {}
    source = server.files.get(body.get("input_file_id") or "")
    if source is None or source["purpose"] != "batch":
        raise _ClientError("input_file_id must name a file uploaded with purpose 'batch'",
                           "input_file_id")
    endpoint = body.get("endpoint")
    if endpoint not in ("/v1/chat/completions", "/chat/completions"):
        raise _ClientError("the test server batches only chat completions", "endpoint")
    if body.get("completion_window") != "24h":
        raise _ClientError("completion_window must be '24h'", "completion_window")
    lines = [json.loads(line) for line in source["content"].decode("utf-8").splitlines()
             if line.strip()]
    batch_id = server.next_id("batch")
    batch = {
        "id": batch_id, "object": "batch", "endpoint": endpoint, "errors": None,
        "input_file_id": source["id"], "completion_window": "24h", "status": "validating",
        "output_file_id": None, "error_file_id": None, "created_at": server.now(),
        "in_progress_at": None, "expires_at": None, "finalizing_at": None,
        "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
        "cancelled_at": None, "request_counts": {"total": len(lines), "completed": 0,
                                                 "failed": 0},
        "metadata": body.get("metadata"),
        "_state": {"polls": 0, "lines": lines},
    }
    server.batches[batch_id] = batch
    return _public(batch)


def _the_batch(server: OpenAICompatibleServer, batch_id: str) -> dict[str, Any]:
    batch = server.batches.get(batch_id)
    if batch is None:
        raise _ClientError(f"No batch found with id '{batch_id}'", "batch_id", status=404)
    return batch


def _advance_batch(server: OpenAICompatibleServer, batch: dict[str, Any]) -> None:
    if batch["status"] in BATCH_FINAL or batch["status"] == "cancelling":
        if batch["status"] == "cancelling":
            batch["status"] = "cancelled"
            batch["cancelled_at"] = server.now()
        return
    state = batch["_state"]
    state["polls"] += 1
    polls = state["polls"]
    v = server.batch_polls.get("validating", 1)
    p = server.batch_polls.get("in_progress", 1)
    f = server.batch_polls.get("finalizing", 1)
    if polls <= v:
        return
    if server.batch_error is not None:
        batch["status"] = "failed"
        batch["failed_at"] = server.now()
        batch["errors"] = {"object": "list", "data": [dict(server.batch_error)]}
        return
    if polls <= v + p:
        batch["status"] = "in_progress"
        batch["in_progress_at"] = batch["in_progress_at"] or server.now()
        return
    if polls <= v + p + f:
        batch["status"] = "finalizing"
        batch["finalizing_at"] = batch["finalizing_at"] or server.now()
        return
    outputs, errors = [], []
    for line in state["lines"]:
        custom_id = line.get("custom_id")
        body = line.get("body") or {}
        try:
            completion = server.chat_completion(body, model=body.get("model"))
        except _ClientError as exc:
            errors.append({"id": server.next_id("batch_req"), "custom_id": custom_id,
                           "response": {"status_code": 400, "request_id": server.next_id("req"),
                                        "body": error_body(str(exc), param=exc.param)},
                           "error": None})
            continue
        outputs.append({"id": server.next_id("batch_req"), "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": server.next_id("req"),
                                     "body": completion}, "error": None})
    if outputs:
        batch["output_file_id"] = server.add_file(
            "".join(json.dumps(o) + "\n" for o in outputs).encode(),
            filename=f"{batch['id']}_output.jsonl", purpose="batch_output")["id"]
    if errors:
        batch["error_file_id"] = server.add_file(
            "".join(json.dumps(e) + "\n" for e in errors).encode(),
            filename=f"{batch['id']}_error.jsonl", purpose="batch_output")["id"]
    batch["request_counts"] = {"total": len(state["lines"]), "completed": len(outputs),
                               "failed": len(errors)}
    batch["status"] = "completed"
    batch["completed_at"] = server.now()


def _get_batch(server: OpenAICompatibleServer, request: RecordedRequest,
               match: "re.Match[str]") -> Any:
    batch = _the_batch(server, match.group("batch_id"))
    _advance_batch(server, batch)
    return _public(batch)


def _list_batches(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> Any:
    batches = sorted((_public(b) for b in server.batches.values()),
                     key=lambda b: (b["created_at"], b["id"]), reverse=True)
    return _page(batches, request.query)


def _cancel_batch(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> Any:
    batch = _the_batch(server, match.group("batch_id"))
    if batch["status"] in BATCH_FINAL:
        raise _ClientError(f"Batch is already {batch['status']}", "batch_id")
    batch["status"] = "cancelling"
    batch["cancelling_at"] = server.now()
    return _public(batch)


#: Served under every prefix (``/v1``, ``/openai``, ``/openai/v1``).
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/batches", _create_batch),
    ("GET", "/batches", _list_batches),
    ("GET", "/batches/{batch_id}", _get_batch),
    ("POST", "/batches/{batch_id}/cancel", _cancel_batch),
]
