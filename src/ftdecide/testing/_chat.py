"""Chat completions: the default responder, the completion body and the chat routes.

:func:`echo_last_user` (the default ``responder``), :func:`chat_completion`
(the OpenAI-shaped completion with offline-counted ``usage`` that
:meth:`OpenAICompatibleServer.chat_completion
<ftdecide.testing.OpenAICompatibleServer.chat_completion>` and batches
answer with) and the routes: ``POST /chat/completions`` under every prefix
(:data:`ROUTES`), Azure's deployment-addressed chat
(:data:`DEPLOYMENT_ROUTE`) and ``GET /v1/models`` (:data:`MODELS_ROUTE`).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ftdecide.providers import content_text
from ftdecide.testing._protocol import (
    Handler,
    RecordedRequest,
    Reply,
    _ClientError,
    error_body,
)

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["Responder", "chat_completion", "echo_last_user", "reply_by_prompt"]

Responder = Callable[[Mapping[str, Any]], str]


def echo_last_user(request_json: Mapping[str, Any]) -> str:
    """The default responder: the content of the last ``user`` message ("" if none)."""
    for message in reversed(list(request_json.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def reply_by_prompt(rules: Sequence[tuple[str, "str | Responder"]],
                    default: Responder | None = None) -> Responder:
    """A responder keyed on the prompt: the first rule whose regular expression is found in
    the request's messages (their text joined by newlines) answers, with its text or by
    calling it with the request; ``default`` (echo) answers the rest.

    Scripting a grader, say: ``reply_by_prompt([(r"You grade one answer", judge_rule)],
    default=task_rule)`` answers the judge's calls and the arms' from one server.
    """
    compiled = [(re.compile(pattern, re.S), reply) for pattern, reply in rules]
    fallback = default or echo_last_user

    def respond(request_json: Mapping[str, Any]) -> str:
        text = "\n".join(content_text(m.get("content")) for m in request_json.get("messages") or []
                         if isinstance(m, Mapping))
        for pattern, reply in compiled:
            if pattern.search(text):
                return reply if isinstance(reply, str) else reply(request_json)
        return fallback(request_json)

    return respond


def chat_completion(server: OpenAICompatibleServer, request_json: Mapping[str, Any],
                    model: str | None = None) -> dict[str, Any]:
    """The OpenAI-shaped chat completion ``server`` answers ``request_json`` with."""
    from ftdecide.data._tokens import count_messages, count_texts

    messages = request_json.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _ClientError("'messages' must be a non-empty list", "messages")
    text = server.responder(request_json)
    with server._lock:
        completion_id = server.next_id("chatcmpl")
    if not isinstance(text, str):
        raise TypeError(f"responder returned {type(text).__name__}, expected str")
    prompt = count_messages(messages, server.encoding)
    completion = count_texts([text], server.encoding)[0]
    cached = server.cached_tokens(request_json) if callable(server.cached_tokens) \
        else server.cached_tokens
    cached = max(0, min(int(cached), prompt))
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or request_json.get("model") or "unknown",
        "system_fingerprint": "fp_ftdecide_test",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        },
    }


def _chat_completions(server: OpenAICompatibleServer, request: RecordedRequest,
                      match: "re.Match[str]") -> Reply:
    body = request.json
    if not isinstance(body, Mapping):
        return Reply(400, error_body("the body must be a JSON object"))
    if body.get("stream"):
        return Reply(400, error_body("streaming is not supported by the test server",
                                     param="stream"))
    deployment = match.groupdict().get("deployment")
    if deployment is None and not body.get("model"):
        return Reply(400, error_body("you must provide a model parameter", param="model"))
    model = body.get("model") or deployment
    with server._lock:
        if deployment is not None and deployment in server.deployments:
            state = server.deployments[deployment]["properties"]["provisioningState"]
            if state != "Succeeded":
                return Reply(404, error_body(f"The deployment {deployment} is {state}.",
                                             code="DeploymentNotFound"))
        if isinstance(model, str) and model.startswith("ft:") \
                and model not in server.fine_tuned_models():
            return Reply(404, error_body(f"The model `{model}` does not exist or you do not "
                                         "have access to it.", code="model_not_found"))
    try:
        # outside the lock: a slow responder (a fixed latency in a benchmark) must not
        # serialise concurrent requests, as a real server would not
        return Reply(200, server.chat_completion(body, model=model))
    except _ClientError as exc:
        return Reply(400, error_body(str(exc), param=exc.param))


_chat_completions.concurrent = True  # type: ignore[attr-defined]


def _list_models(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": m, "object": "model", "created": 0, "owned_by": "ftdecide-test"}
        for m in server.models + server.fine_tuned_models()
    ]}


#: Served under every prefix (``/v1``, ``/openai``, ``/openai/v1``).
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/chat/completions", _chat_completions),
]
#: Azure's chat addressed to a deployment (served at this path only).
DEPLOYMENT_ROUTE: tuple[str, str, Handler] = (
    "POST", "/openai/deployments/{deployment}/chat/completions", _chat_completions)
def _get_model(server: OpenAICompatibleServer, request: RecordedRequest,
               match: "re.Match[str]") -> dict[str, Any]:
    model = urllib.parse.unquote(match.group("model"))
    if model not in server.models + server.fine_tuned_models():
        raise _ClientError(f"The model '{model}' does not exist", "model", status=404,
                           code="model_not_found")
    return {"id": model, "object": "model", "created": 0, "owned_by": "ftdecide-test"}


def _delete_model(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> dict[str, Any]:
    model = urllib.parse.unquote(match.group("model"))
    if model not in server.fine_tuned_models():
        raise _ClientError(f"The model '{model}' does not exist", "model", status=404,
                           code="model_not_found")
    server.deleted_models.add(model)
    return {"id": model, "object": "model", "deleted": True}


#: OpenAI's model list (served at this path only).
MODELS_ROUTE: tuple[str, str, Handler] = ("GET", "/v1/models", _list_models)
#: Retrieve and delete one model (a fine-tuned one can be deleted, as on OpenAI).
MODEL_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/v1/models/{model}", _get_model),
    ("DELETE", "/v1/models/{model}", _delete_model),
]
