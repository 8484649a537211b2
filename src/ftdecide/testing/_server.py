"""The local OpenAI-compatible HTTP server: :class:`OpenAICompatibleServer`.

A real ``ThreadingHTTPServer`` on 127.0.0.1 that records every request
(:class:`~ftdecide.testing.RecordedRequest`, credentials removed), injects
failures and dispatches to a table of routes. Nothing is mocked: plugin
tests drive the real SDK over real HTTP against it. Standard library and
ftdecide only: importing this module never imports a provider SDK.

Example::

    from ftdecide.testing import OpenAICompatibleServer

    with OpenAICompatibleServer(responder=lambda req: "42") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")
        client.chat.completions.create(model="m", messages=[...])
        assert server.requests[-1].json["model"] == "m"
        server.fail_next(429, headers={"Retry-After": "0.01"})

Routes are a table of ``(method, path pattern, handler)``; a handler is
``handler(server, request, match)``. The built-in ones live with what they
serve, each module exposing ``ROUTES``: chat completions and models in
``_chat``, embeddings in ``_embeddings``, files in ``_files``, fine-tuning jobs in ``_finetuning``,
batches in ``_batches`` and Azure's control plane in ``_arm``. The same
routes are served under OpenAI's ``/v1``, Azure's ``/openai`` (with a
required ``api-version``) and Azure's ``/openai/v1``; the Azure prefixes get
Azure's shapes (fine-tuned model ids, result-file columns, suffix limit).
:meth:`OpenAICompatibleServer.add_route` adds or overrides one without
touching the request plumbing.

Failures are injected per request: :meth:`OpenAICompatibleServer.fail_next`
(any status, OpenAI-shaped bodies, optionally only for one method or path),
:meth:`~OpenAICompatibleServer.delay_next` (timeouts) and
:meth:`~OpenAICompatibleServer.drop_next` (the connection closes without an
answer), the last two optionally *after* the request took effect, which is
what makes a create call's outcome uncertain for the client (the rules
they queue are in ``_failures``).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Sequence

from ftdecide.testing import _arm, _batches, _chat, _embeddings, _files, _finetuning
from ftdecide.testing._chat import Responder, echo_last_user
from ftdecide.testing._failures import _DEFAULT_FAILURES, _path_rule, _Rule
from ftdecide.testing._protocol import (
    Handler,
    RecordedRequest,
    Reply,
    _ClientError,
    _compile,
    _parse_multipart,
    _public,
    error_body,
)

__all__ = ["OpenAICompatibleServer"]

#: Headers that carry credentials; never recorded.
SECRET_HEADERS = frozenset({"authorization", "api-key"})

#: Path prefixes served, and the API flavour each gets.
PREFIXES = (("/v1", "openai"), ("/openai/v1", "azure"), ("/openai", "azure"))

#: The routes served under every prefix, each ``(method, path below the prefix, handler)``.
PREFIXED_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    *_chat.ROUTES, *_embeddings.ROUTES, *_files.ROUTES, *_finetuning.ROUTES,
    *_batches.ROUTES)


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
    - ``POST /embeddings`` (deterministic hashed bag-of-words vectors, counted usage; see
      ``_embeddings``), and Azure's ``POST /openai/deployments/{deployment}/embeddings``
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
        port: int = 0,
    ) -> None:
        #: 0 picks a free port; a fixed one lets a test restart "the same server" (compare
        #: keys its answer cache on the server's address, as a user's re-run against their
        #: engine would find it)
        self.port_wanted = port
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
        #: Fine-tuned models deleted through ``DELETE /v1/models/{model}``.
        self.deleted_models: set[str] = set()
        #: The loss a fine-tuning job reports at each step (validation: +0.1); set it to
        #: script a tune that learns, underfits (flat) or overfits.
        self.loss: Callable[[int], float] = _finetuning._loss
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

        self.add_route(*_chat.MODELS_ROUTE)
        for route in _chat.MODEL_ROUTES:
            self.add_route(*route)
        for prefix, _ in PREFIXES:
            for method, path, handler in PREFIXED_ROUTES:
                self.add_route(method, prefix + path, handler)
        self.add_route(*_chat.DEPLOYMENT_ROUTE)
        self.add_route(*_embeddings.DEPLOYMENT_ROUTE)
        for method, path, handler in _arm.ROUTES:
            self.add_route(method, path, handler)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "OpenAICompatibleServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self.port_wanted), _Handler)
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
        return _chat.chat_completion(self, request_json, model)

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
        return [j["fine_tuned_model"] for j in self.jobs.values()
                if j.get("fine_tuned_model") and j["fine_tuned_model"] not in self.deleted_models]

    def trained_examples(self, model: str) -> int | None:
        """How many training examples the job that produced ``model`` trained on (None: not
        a model of this server). A responder can script quality by data size with it: a
        learning curve whose shape a test knows."""
        with self._lock:
            for job in self.jobs.values():
                if job.get("fine_tuned_model") == model:
                    return int(job["_state"]["examples"])
        return None
