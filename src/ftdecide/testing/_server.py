"""Helpers for testing providers and plugins: a local OpenAI-compatible server and a fake provider.

Nothing here touches the internet and nothing is mocked: plugin tests drive
the real SDK over real HTTP against :class:`OpenAICompatibleServer` on
127.0.0.1, and core tests use :class:`FakeProvider` through the real plugin
manager (``registry.add_plugin(fake_plugin)``). Standard library and
ftdecide only: importing this module never imports a provider SDK.

Example::

    from ftdecide.testing import OpenAICompatibleServer

    with OpenAICompatibleServer(responder=lambda req: "42") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        client.chat.completions.create(model="m", messages=[...])
        assert server.requests[-1].json["model"] == "m"
        server.fail_next(429, headers={"Retry-After": "0.01"})

The server is stateful where the real services are: uploaded files, fine-tuning
jobs that advance one stage per poll (``GET .../fine_tuning/jobs/{id}``) and
finish with a model, events, checkpoints and a result file; batches that
answer every request through the chat responder; and Azure's control plane
(ARM deployments whose ``provisioningState`` advances per poll). The same
routes are served under OpenAI's ``/v1``, Azure's ``/openai`` (with a
required ``api-version``) and Azure's ``/openai/v1``; the Azure prefixes get
Azure's shapes (fine-tuned model ids, result-file columns, suffix limit).

Failures are injected per request: :meth:`OpenAICompatibleServer.fail_next`
(any status, OpenAI-shaped bodies, optionally only for one method or path),
:meth:`~OpenAICompatibleServer.delay_next` (timeouts) and
:meth:`~OpenAICompatibleServer.drop_next` (the connection closes without an
answer), the last two optionally *after* the request took effect, which is
what makes a create call's outcome uncertain for the client.

Routes are a table of ``(method, path pattern, handler)``;
:meth:`OpenAICompatibleServer.add_route` adds or overrides one without
touching the request plumbing. The pytest fixture :func:`openai_server`
starts a server per test: ``from ftdecide.testing import openai_server`` in
a conftest or test module makes it available.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import email.policy
import hashlib
import io
import itertools
import json
import math
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator, Mapping, Sequence

from ftdecide.errors import ProviderError
from ftdecide.plugins import hookimpl
from ftdecide.providers import Completion, Message, ModelInfo, Provider, Usage, content_text

__all__ = [
    "FakePlugin",
    "FakeProvider",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "Reply",
    "echo_last_user",
    "error_body",
    "fake_plugin",
    "openai_server",
]

#: Headers that carry credentials; never recorded.
SECRET_HEADERS = frozenset({"authorization", "api-key"})

#: The columns of a fine-tuning result file (providers.md §2): OpenAI's and Azure's differ.
OPENAI_RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss",
                         "valid_mean_token_accuracy")
AZURE_RESULT_COLUMNS = ("step", "train_loss", "train_mean_token_accuracy", "valid_loss",
                        "validation_mean_token_accuracy", "full_valid_loss",
                        "full_valid_mean_token_accuracy")

#: Path prefixes served, and the API flavour each gets.
PREFIXES = (("/v1", "openai"), ("/openai/v1", "azure"), ("/openai", "azure"))

#: Azure's suffix limit for fine-tuned model names (OpenAI's is 64).
AZURE_SUFFIX_LIMIT = 18
OPENAI_SUFFIX_LIMIT = 64

ARM_DEPLOYMENT_PATH = ("/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
                       "Microsoft.CognitiveServices/accounts/{account}/deployments/{name}")

Responder = Callable[[Mapping[str, Any]], str]


def echo_last_user(request_json: Mapping[str, Any]) -> str:
    """The default responder: the content of the last ``user`` message ("" if none)."""
    for message in reversed(list(request_json.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


@dataclass
class RecordedRequest:
    """One request the server received.

    ``headers`` has the credential headers (``Authorization``, ``api-key``)
    removed; ``auth`` says which kind was present: ``"bearer"``, ``"api-key"``
    or ``None``, so tests can check how a client authenticated without the
    secret ever being stored. A multipart upload has its fields in ``form``
    (a file field as ``{"filename", "bytes", "sha256"}``; the content is in
    :attr:`OpenAICompatibleServer.files`). ``time`` is ``time.monotonic()``
    on arrival.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    auth: str | None = None
    form: dict[str, Any] | None = None
    time: float = 0.0


@dataclass
class Reply:
    """What a route handler returns: status, a JSON-able body and extra headers.

    A ``bytes`` body is sent as it is, with ``content_type``.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[["OpenAICompatibleServer", RecordedRequest, "re.Match[str]"], "Reply | Any"]


def error_body(message: str, *, type: str = "invalid_request_error",
               code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


_DEFAULT_FAILURES: dict[int, tuple[dict[str, Any], dict[str, str]]] = {
    400: (error_body("Bad request."), {}),
    401: (error_body("Incorrect API key provided.", code="invalid_api_key"), {}),
    403: (error_body(
        "This organization can no longer create fine-tuning jobs.",
        code="training_not_available",
    ), {}),
    404: (error_body("The model does not exist.", code="model_not_found"), {}),
    429: (error_body("Rate limit reached for requests.", type="requests",
                     code="rate_limit_exceeded"), {"Retry-After": "1"}),
    500: (error_body("The server had an error while processing your request.",
                     type="server_error"), {}),
    503: (error_body("The engine is currently overloaded.", type="server_error"), {}),
}


def _compile(pattern: str) -> "re.Pattern[str]":
    """``/v1/x/{name}`` → a regex with a named group per ``{placeholder}``."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


@dataclass
class _Rule:
    """One injected behaviour for the next matching request."""

    kind: str  # "fail", "delay", "drop"
    method: str | None
    path: "re.Pattern[str] | None"
    reply: Reply | None = None
    seconds: float = 0.0
    handled: bool = False

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method == method)
                and (self.path is None or self.path.match(path) is not None))


def _path_rule(path: str | None) -> "re.Pattern[str] | None":
    return None if path is None else _compile(path)


class _Handler(BaseHTTPRequestHandler):
    server: "_HTTPServer"
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_DELETE(self) -> None:
        self.server.owner._handle(self, "DELETE")

    def do_PUT(self) -> None:
        self.server.owner._handle(self, "PUT")

    def do_PATCH(self) -> None:
        self.server.owner._handle(self, "PATCH")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: "OpenAICompatibleServer"


class OpenAICompatibleServer:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 for tests.

    Routes out of the box, each under ``/v1`` (OpenAI), ``/openai`` (Azure,
    ``?api-version=`` required) and ``/openai/v1`` (Azure's v1 surface):

    - ``POST /chat/completions``, and Azure's
      ``POST /openai/deployments/{deployment}/chat/completions``
    - ``GET /models``
    - files: ``POST /files`` (multipart), ``GET /files``, ``GET|DELETE
      /files/{id}``, ``GET /files/{id}/content``
    - fine-tuning: ``POST|GET /fine_tuning/jobs``, ``GET
      /fine_tuning/jobs/{id}``, ``POST .../cancel``, ``GET .../events``,
      ``GET .../checkpoints``
    - batches: ``POST|GET /batches``, ``GET /batches/{id}``, ``POST .../cancel``
    - ARM: ``PUT|GET|DELETE`` :data:`ARM_DEPLOYMENT_PATH` (bearer token and
      ``api-version`` required)

    A chat completion's text comes from ``responder(request_json)`` (default:
    echo the last user message). ``usage`` counts prompt tokens with
    :func:`ftdecide.tokens.count_messages` and completion tokens with
    :func:`ftdecide.tokens.count_texts` in ``encoding``; ``cached_tokens``
    (an int or ``callable(request_json) -> int``, capped at the prompt
    tokens) fills ``prompt_tokens_details.cached_tokens``.

    A fine-tuning job advances on each ``GET`` of it: ``validating_files``
    for ``job_polls["validating_files"]`` polls, then ``queued``, then
    ``running`` (metrics events for every step, checkpoints per epoch), then
    ``succeeded`` with ``fine_tuned_model``, ``trained_tokens`` (the
    training file's tokens, counted as the cookbook does, × epochs) and a
    result file, or ``failed`` with ``job_error`` when that is set. While
    ``hold_jobs`` is true jobs do not advance. Batches advance the same way
    (``batch_polls``); ARM deployments reach ``Succeeded`` after
    ``arm_polls`` polls (``Failed`` when ``deployment_error`` is set).

    ``base_url`` is the OpenAI-style root (``http://127.0.0.1:PORT/v1``),
    ``url`` the bare root (what Azure calls the endpoint, and the ARM base URL).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        encoding: str = "o200k_base",
        cached_tokens: int | Callable[[Mapping[str, Any]], int] = 0,
        models: Sequence[str] = ("gpt-4o-mini-2024-07-18",),
    ) -> None:
        self.responder: Responder = responder or echo_last_user
        self.encoding = encoding
        self.cached_tokens = cached_tokens
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        #: Uploaded and generated files by id: the public object plus ``"content"`` (bytes).
        self.files: dict[str, dict[str, Any]] = {}
        #: Fine-tuning jobs by id (the public object; private state under ``"_state"``).
        self.jobs: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        #: ARM deployments by name: the public object plus ``"_polls"``.
        self.deployments: dict[str, dict[str, Any]] = {}
        self.job_polls: dict[str, int] = {"validating_files": 1, "queued": 1, "running": 3}
        self.job_error: dict[str, Any] | None = None
        self.hold_jobs = False
        self.organization = "ftdecide-test"
        self.batch_polls: dict[str, int] = {"validating": 1, "in_progress": 1, "finalizing": 1}
        self.batch_error: dict[str, Any] | None = None
        self.arm_polls = 2
        self.deployment_error: str | None = None
        self._routes: list[tuple[str, "re.Pattern[str]", Handler]] = []
        self._failures: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._clock = itertools.count(1_760_000_000)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

        self.add_route("GET", "/v1/models", _list_models)
        for prefix, _flavor in PREFIXES:
            self.add_route("POST", prefix + "/chat/completions", _chat_completions)
            self.add_route("POST", prefix + "/files", _create_file)
            self.add_route("GET", prefix + "/files", _list_files)
            self.add_route("GET", prefix + "/files/{file_id}", _get_file)
            self.add_route("DELETE", prefix + "/files/{file_id}", _delete_file)
            self.add_route("GET", prefix + "/files/{file_id}/content", _file_content)
            self.add_route("POST", prefix + "/fine_tuning/jobs", _create_job)
            self.add_route("GET", prefix + "/fine_tuning/jobs", _list_jobs)
            self.add_route("GET", prefix + "/fine_tuning/jobs/{job_id}", _get_job)
            self.add_route("POST", prefix + "/fine_tuning/jobs/{job_id}/cancel", _cancel_job)
            self.add_route("GET", prefix + "/fine_tuning/jobs/{job_id}/events", _job_events)
            self.add_route("GET", prefix + "/fine_tuning/jobs/{job_id}/checkpoints",
                           _job_checkpoints)
            self.add_route("POST", prefix + "/batches", _create_batch)
            self.add_route("GET", prefix + "/batches", _list_batches)
            self.add_route("GET", prefix + "/batches/{batch_id}", _get_batch)
            self.add_route("POST", prefix + "/batches/{batch_id}/cancel", _cancel_batch)
        self.add_route("POST", "/openai/deployments/{deployment}/chat/completions",
                       _chat_completions)
        for method in ("PUT", "GET", "DELETE"):
            self.add_route(method, ARM_DEPLOYMENT_PATH, _arm_deployment)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "OpenAICompatibleServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ftdecide-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in delay_next
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    close = stop

    def __enter__(self) -> "OpenAICompatibleServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (an Azure ``azure_endpoint``, and the ARM base URL)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (an OpenAI ``base_url``)."""
        return self.url + "/v1"

    # -- configuration -----------------------------------------------------------
    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve ``method pattern`` with ``handler(server, request, match)``.

        ``pattern`` is a path with ``{name}`` placeholders (one path segment
        each, in ``match.group("name")``). The handler returns a
        :class:`Reply`, or any JSON-able value for a 200. Later routes win
        over earlier ones with the same pattern, so tests may override.
        """
        self._routes.insert(0, (method.upper(), _compile(pattern), handler))

    def fail_next(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None,
                  times: int = 1, *, method: str | None = None,
                  path: str | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (without handling them).

        ``body`` defaults to an OpenAI-shaped error for the status (403 has
        code ``training_not_available``; 429 comes with ``Retry-After: 1``
        unless ``headers`` say otherwise). ``method`` and ``path`` (a route
        pattern such as ``/v1/fine_tuning/jobs``) limit which requests count.
        """
        default_body, default_headers = _DEFAULT_FAILURES.get(
            status, (error_body(f"HTTP {status}"), {}))
        reply = Reply(status, default_body if body is None else body,
                      dict(default_headers if headers is None else headers))
        rule = _Rule("fail", method and method.upper(), _path_rule(path), reply=reply)
        with self._lock:
            self._failures.extend([rule] * times)

    def delay_next(self, seconds: float, times: int = 1, *, method: str | None = None,
                   path: str | None = None, handled: bool = False) -> None:
        """Wait ``seconds`` before answering the next ``times`` requests (to cause timeouts).

        With ``handled=True`` the request takes effect first (a job is
        created) and only the answer is late: the client cannot know.
        """
        rule = _Rule("delay", method and method.upper(), _path_rule(path), seconds=float(seconds),
                     handled=handled)
        with self._lock:
            self._delays.extend([rule] * times)

    def drop_next(self, times: int = 1, *, method: str | None = None, path: str | None = None,
                  handled: bool = True) -> None:
        """Close the connection of the next ``times`` requests without answering.

        By default the request takes effect first (``handled=True``): a
        network drop after the server acted, the case that must never make a
        client create a second job or upload.
        """
        rule = _Rule("drop", method and method.upper(), _path_rule(path), handled=handled)
        with self._lock:
            self._failures.extend([rule] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending failures and delays."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()

    def next_id(self, prefix: str) -> str:
        """A fresh id such as ``chatcmpl-000001`` (for handlers)."""
        return f"{prefix}-{next(self._ids):06d}"

    def now(self) -> int:
        """A Unix time that grows by one second per call (ordering is deterministic)."""
        return max(int(time.time()), next(self._clock))

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests of ``method`` whose path matches the route pattern ``path``."""
        regex = _compile(path)
        with self._lock:
            return [r for r in self.requests
                    if r.method == method.upper() and regex.match(r.path) is not None]

    # -- request handling ----------------------------------------------------------
    def _take(self, queue: list[_Rule], method: str, path: str) -> _Rule | None:
        for i, rule in enumerate(queue):
            if rule.matches(method, path):
                return queue.pop(i)
        return None

    def _handle(self, h: _Handler, method: str) -> None:
        split = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        auth = None
        for name, value in h.headers.items():
            lname = name.lower()
            if lname == "authorization":
                auth = "bearer" if value.lower().startswith("bearer ") else "other"
            elif lname == "api-key":
                auth = "api-key"
            if lname not in SECRET_HEADERS:
                headers[lname] = value
        body: Any = None
        form: dict[str, Any] | None = None
        uploads: dict[str, bytes] = {}
        bad_body = None
        content_type = headers.get("content-type", "")
        if raw and content_type.startswith("multipart/form-data"):
            try:
                form, uploads = _parse_multipart(content_type, raw)
            except ValueError as exc:
                bad_body = f"could not parse the multipart body: {exc}"
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_body = "We could not parse the JSON body of your request."
                body = raw.decode("utf-8", "replace")
        request = RecordedRequest(method, split.path, query, headers, body, auth, form,
                                  time.monotonic())
        request._uploads = uploads  # type: ignore[attr-defined]  # content, not recorded
        with self._lock:
            self.requests.append(request)
            delay = self._take(self._delays, method, split.path)
            failure = self._take(self._failures, method, split.path)
        if delay is not None and not delay.handled and self._stopping.wait(delay.seconds):
            return
        if failure is not None and failure.kind == "fail":
            reply = failure.reply or Reply(500)
        elif failure is not None and failure.kind == "drop" and not failure.handled:
            return  # the connection closes with no answer
        elif bad_body is not None:
            reply = Reply(400, error_body(bad_body))
        else:
            reply = self._dispatch(method, request)
        if failure is not None and failure.kind == "drop":
            return
        if delay is not None and delay.handled and self._stopping.wait(delay.seconds):
            return
        self._send(h, reply)

    def _dispatch(self, method: str, request: RecordedRequest) -> Reply:
        path_known = False
        for rmethod, regex, handler in self._routes:
            match = regex.match(request.path)
            if match is None:
                continue
            path_known = True
            if rmethod != method:
                continue
            if request.path.startswith("/openai/") and not request.path.startswith("/openai/v1/") \
                    and "api-version" not in request.query:
                return Reply(404, error_body("Resource not found (missing api-version)",
                                             code="404"))
            try:
                if getattr(handler, "concurrent", False):
                    result = handler(self, request, match)  # takes the lock itself, briefly
                else:
                    with self._lock:
                        result = handler(self, request, match)
            except _ClientError as exc:
                return Reply(exc.status, error_body(str(exc), param=exc.param, code=exc.code))
            except Exception as exc:  # a bug in a handler: answer 500, like a real server
                return Reply(500, error_body(f"test server handler failed: {exc!r}",
                                             type="server_error"))
            return result if isinstance(result, Reply) else Reply(200, result)
        if path_known:
            return Reply(405, error_body(f"Method {method} not allowed for {request.path}"))
        return Reply(404, error_body(f"Unknown path {request.path}", code="not_found"))

    def _send(self, h: _Handler, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            data, content_type = reply.body, reply.content_type
        else:
            data = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
            content_type = "application/json"
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            h.send_header("x-request-id", self.next_id("req"))
            for name, value in reply.headers.items():
                h.send_header(name, value)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            pass

    # -- chat helpers ------------------------------------------------------------
    def chat_completion(self, request_json: Mapping[str, Any],
                        model: str | None = None) -> dict[str, Any]:
        """The OpenAI-shaped chat completion this server answers ``request_json`` with."""
        from ftdecide.data._tokens import count_messages, count_texts

        messages = request_json.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ClientError("'messages' must be a non-empty list", "messages")
        text = self.responder(request_json)
        with self._lock:
            completion_id = self.next_id("chatcmpl")
        if not isinstance(text, str):
            raise TypeError(f"responder returned {type(text).__name__}, expected str")
        prompt = count_messages(messages, self.encoding)
        completion = count_texts([text], self.encoding)[0]
        cached = self.cached_tokens(request_json) if callable(self.cached_tokens) \
            else self.cached_tokens
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

    # -- state helpers (for handlers and tests) ------------------------------------
    def add_file(self, content: bytes, *, filename: str, purpose: str) -> dict[str, Any]:
        """Store ``content`` as a file (as an upload would) and return its public object."""
        file_id = self.next_id("file")
        self.files[file_id] = {
            "id": file_id, "object": "file", "bytes": len(content), "created_at": self.now(),
            "filename": filename, "purpose": purpose, "status": "processed",
            "status_details": None, "expires_at": None, "content": content,
        }
        return _public(self.files[file_id])

    def fine_tuned_models(self) -> list[str]:
        """Models of the jobs that succeeded (what chat completions accept as ``ft:`` ids)."""
        return [j["fine_tuned_model"] for j in self.jobs.values() if j.get("fine_tuned_model")]


def _public(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without the server's private keys (``content``, ``_state``)."""
    return {k: v for k, v in obj.items() if k != "content" and not k.startswith("_")}


def _parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Fields of a ``multipart/form-data`` body: text fields as str, file fields described."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                + raw)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    form: dict[str, Any] = {}
    uploads: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            form[name] = {"filename": filename, "bytes": len(payload),
                          "sha256": hashlib.sha256(payload).hexdigest()}
            uploads[name] = payload
        else:
            form[name] = payload.decode("utf-8", "replace")
    return form, uploads


class _ClientError(Exception):
    def __init__(self, message: str, param: str | None = None, *, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


def _flavor(request: RecordedRequest) -> str:
    return "azure" if request.path.startswith("/openai") else "openai"


def _page(items: list[dict[str, Any]], query: Mapping[str, str], *,
          default_limit: int = 20) -> dict[str, Any]:
    """An OpenAI cursor page of ``items`` (already in order) honouring ``after`` and ``limit``."""
    after = query.get("after")
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    try:
        limit = max(1, int(query.get("limit") or default_limit))
    except ValueError:
        raise _ClientError("limit must be an integer", "limit") from None
    page = items[:limit]
    return {"object": "list", "data": page, "has_more": len(items) > limit,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}


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


# -- files -------------------------------------------------------------------------------

FILE_PURPOSES = ("fine-tune", "batch", "assistants", "vision", "user_data", "evals")


def _create_file(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> Any:
    form = request.form or {}
    purpose = form.get("purpose")
    if purpose not in FILE_PURPOSES:
        raise _ClientError(f"purpose must be one of {', '.join(FILE_PURPOSES)}", "purpose")
    described = form.get("file")
    content = getattr(request, "_uploads", {}).get("file")
    if not isinstance(described, dict) or content is None:
        raise _ClientError("a file is required", "file")
    if purpose in ("fine-tune", "batch"):
        if not described["filename"].endswith(".jsonl"):
            raise _ClientError("Invalid file format: the file name must end in .jsonl", "file")
        if _flavor(request) == "azure" and content.startswith(b"\xef\xbb\xbf"):
            raise _ClientError("Invalid file: the file starts with a UTF-8 byte order mark "
                               "(BOM), which is not supported", "file", code="invalidFile")
        _check_jsonl(content)
    return server.add_file(content, filename=described["filename"], purpose=purpose)


def _check_jsonl(content: bytes) -> None:
    text = content.decode("utf-8-sig" if content.startswith(b"\xef\xbb\xbf") else "utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                raise _ClientError(f"Invalid file format: line {n} is not valid JSON",
                                   "file") from None


def _the_file(server: OpenAICompatibleServer, file_id: str) -> dict[str, Any]:
    found = server.files.get(file_id)
    if found is None:
        raise _ClientError(f"No such File object: {file_id}", "id", status=404)
    return found


def _list_files(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Any:
    files = [_public(f) for f in server.files.values()
             if not request.query.get("purpose") or f["purpose"] == request.query["purpose"]]
    files.sort(key=lambda f: (f["created_at"], f["id"]),
               reverse=request.query.get("order", "desc") != "asc")
    return _page(files, request.query, default_limit=10_000)


def _get_file(server: OpenAICompatibleServer, request: RecordedRequest,
              match: "re.Match[str]") -> Any:
    return _public(_the_file(server, match.group("file_id")))


def _delete_file(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> Any:
    file_id = match.group("file_id")
    _the_file(server, file_id)
    del server.files[file_id]
    return {"id": file_id, "object": "file", "deleted": True}


def _file_content(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> Reply:
    found = _the_file(server, match.group("file_id"))
    return Reply(200, found["content"], content_type="application/octet-stream")


# -- fine-tuning jobs ------------------------------------------------------------------------

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
    from ftdecide.pricing._costs import default_epochs
    from ftdecide.data._tokens import count_examples

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
        data = {"step": step, "train_loss": _loss(step),
                "train_mean_token_accuracy": round(min(0.99, 0.5 + step / (2 * total)), 6),
                "total_steps": total}
        if state["validation"] and step % state["steps_per_epoch"] == 0:
            data["valid_loss"] = _loss(step) + 0.1
            data["valid_mean_token_accuracy"] = data["train_mean_token_accuracy"] - 0.05
        _event(server, job, f"Step {step}/{total}: training loss={data['train_loss']:.4f}",
               type="metrics", data=data)
        if step % state["steps_per_epoch"] == 0:
            state["checkpoints"].append({
                "object": "fine_tuning.job.checkpoint", "id": server.next_id("ftckpt"),
                "created_at": server.now(), "fine_tuning_job_id": job["id"],
                "fine_tuned_model_checkpoint": f"{_model_name(server, job)}:ckpt-step-{step}",
                "step_number": step,
                "metrics": {"step": step, "train_loss": _loss(step),
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
        row = {"step": step, "train_loss": _loss(step), "train_accuracy": accuracy,
               "train_mean_token_accuracy": accuracy,
               "valid_loss": _loss(step) + 0.1 if valid else "",
               "valid_mean_token_accuracy": accuracy - 0.05 if valid else "",
               "validation_mean_token_accuracy": accuracy - 0.05 if valid else "",
               "full_valid_loss": _loss(step) + 0.12 if valid else "",
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


# -- batches -------------------------------------------------------------------------------

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


# -- Azure control plane (ARM) ---------------------------------------------------------------

ARM_SKUS = ("standard", "globalstandard", "developertier")


def _arm_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def _arm_deployment(server: OpenAICompatibleServer, request: RecordedRequest,
                    match: "re.Match[str]") -> Reply:
    if "api-version" not in request.query:
        return _arm_error(400, "MissingApiVersionParameter",
                          "The api-version query parameter (?api-version=) is required.")
    if request.auth != "bearer":
        return _arm_error(401, "AuthenticationFailed",
                          "Authentication failed. The 'Authorization' header is missing.")
    name = match.group("name")
    found = server.deployments.get(name)
    if request.method == "PUT":
        body = request.json if isinstance(request.json, Mapping) else {}
        sku = (body.get("sku") or {}).get("name", "")
        model = ((body.get("properties") or {}).get("model") or {})
        if str(sku).lower() not in ARM_SKUS:
            return _arm_error(400, "InvalidResourceProperties",
                              f"The sku '{sku}' is not supported.")
        if model.get("format") != "OpenAI" or model.get("name") not in server.fine_tuned_models():
            return _arm_error(400, "DeploymentModelNotSupported",
                              f"The model '{model.get('name')}' is not a fine-tuned model of "
                              "this resource.")
        deployment = {
            "id": request.path, "name": name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": {"name": sku, "capacity": (body.get("sku") or {}).get("capacity", 1)},
            "properties": {"model": dict(model), "provisioningState": "Creating"},
            "_polls": 0,
        }
        server.deployments[name] = deployment
        return Reply(201, _public(deployment))
    if found is None:
        return _arm_error(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
    props = found["properties"]
    if request.method == "DELETE":
        props["provisioningState"] = "Deleting"
        found["_polls"] = 0
        return Reply(202, None, headers={"Retry-After": "0"})
    found["_polls"] += 1
    if props["provisioningState"] == "Deleting":
        if found["_polls"] >= 1:
            del server.deployments[name]
            return _arm_error(404, "DeploymentNotFound", f"Deployment '{name}' not found.")
    elif props["provisioningState"] == "Creating" and found["_polls"] >= server.arm_polls:
        if server.deployment_error:
            props["provisioningState"] = "Failed"
            props["error"] = {"code": "DeploymentFailed", "message": server.deployment_error}
        else:
            props["provisioningState"] = "Succeeded"
    return Reply(200, _public(found))


# -- pytest fixture --------------------------------------------------------------------------

def _server_fixture() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as server:
        yield server


try:  # a fixture for plugin authors; pytest is only needed when it is used
    import pytest as _pytest
except ImportError:  # pragma: no cover - pytest is not installed outside tests
    _pytest = None

if _pytest is not None:
    openai_server = _pytest.fixture(_server_fixture, name="openai_server")
    """``openai_server``: an :class:`OpenAICompatibleServer` started on 127.0.0.1 for one test.

    Import it where pytest looks for fixtures (``from ftdecide.testing import
    openai_server`` in ``conftest.py`` or a test module).
    """
else:  # pragma: no cover
    openai_server = None


# -- fake provider ------------------------------------------------------------------

class FakeProvider(Provider):
    """A deterministic offline provider named ``fake``.

    Catalog: ``fake-small`` (untunable) and ``fake-tunable`` (tunable), with
    small made-up prices. ``complete()`` answers with ``responder(messages,
    model)`` (default: echo the last user message), counts tokens offline and
    records each call in ``calls``.
    """

    name = "fake"
    AS_OF = "2026-11-01"

    def __init__(self, responder: Callable[[Sequence[Message], str], str] | None = None) -> None:
        self.responder = responder or (lambda messages, model: echo_last_user(
            {"messages": list(messages)}))
        self.calls: list[dict[str, Any]] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def catalog(self) -> list[ModelInfo]:
        import datetime as _dt

        as_of = _dt.date.fromisoformat(self.AS_OF)
        common = dict(provider=self.name, as_of=as_of, source="ftdecide.testing",
                      encoding="o200k_base", context_window=8192)
        return [
            ModelInfo(id="fake-small", tunable=False, aliases=("small",),
                      input_per_1m=0.10, cached_input_per_1m=0.05, output_per_1m=0.20,
                      notes="test model", **common),
            ModelInfo(id="fake-tunable", tunable=True, training_per_1m=1.00,
                      input_per_1m=0.20, cached_input_per_1m=0.10, output_per_1m=0.40,
                      ft_input_per_1m=0.30, ft_cached_input_per_1m=0.15, ft_output_per_1m=0.60,
                      training_token_limit=4096, notes="test model", **common),
        ]

    def complete(self, messages: Sequence[Message], *, model: str, **params: Any) -> Completion:
        from ftdecide.data._tokens import count_messages, count_texts

        if self.model_info(model) is None and not model.startswith("ft:"):
            raise ProviderError(f"fake provider has no model {model!r}")
        self.calls.append({"messages": list(messages), "model": model, "params": dict(params)})
        text = self.responder(messages, model)
        usage = Usage(input_tokens=count_messages(list(messages)),
                      output_tokens=count_texts([text])[0])
        return Completion(text=text, usage=usage, latency_s=0.0, model=model)


class FakePlugin:
    """A plugin object registering one :class:`FakeProvider` (``.provider``)."""

    def __init__(self, provider: FakeProvider | None = None, name: str = "fake") -> None:
        self.provider = provider or FakeProvider()
        self.__name__ = name  # the plugin name Registry.add_plugin records

    @hookimpl
    def register_providers(self, register: Callable[[Any], None]) -> None:
        register(self.provider)


fake_plugin = FakePlugin()
"""Ready to use: ``registry.add_plugin(fake_plugin)``."""
