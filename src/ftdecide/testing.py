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

Routes are a table of ``(method, path pattern, handler)``; later features
(files, fine-tuning jobs) add theirs with :meth:`OpenAICompatibleServer.add_route`
without touching the request plumbing.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Mapping, Sequence

from .errors import ProviderError
from .plugins import hookimpl
from .providers import Completion, Message, ModelInfo, Provider, Usage

__all__ = [
    "FakePlugin",
    "FakeProvider",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "Reply",
    "echo_last_user",
    "fake_plugin",
]

#: Headers that carry credentials; never recorded.
SECRET_HEADERS = frozenset({"authorization", "api-key"})

Responder = Callable[[Mapping[str, Any]], str]


def _content_text(content: Any) -> str:
    """Text of a message's ``content``: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def echo_last_user(request_json: Mapping[str, Any]) -> str:
    """The default responder: the content of the last ``user`` message ("" if none)."""
    for message in reversed(list(request_json.get("messages") or [])):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


@dataclass
class RecordedRequest:
    """One request the server received.

    ``headers`` has the credential headers (``Authorization``, ``api-key``)
    removed; ``auth`` says which kind was present: ``"bearer"``, ``"api-key"``
    or ``None``, so tests can check how a client authenticated without the
    secret ever being stored.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    auth: str | None = None


@dataclass
class Reply:
    """What a route handler returns: status, a JSON-able body and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


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

    Routes out of the box:

    - ``POST /v1/chat/completions`` (also ``/openai/v1/chat/completions``,
      Azure's v1 surface) and Azure's
      ``POST /openai/deployments/{deployment}/chat/completions?api-version=…``
    - ``GET /v1/models``

    A chat completion's text comes from ``responder(request_json)`` (default:
    echo the last user message). ``usage`` counts prompt tokens with
    :func:`ftdecide.tokens.count_messages` and completion tokens with
    :func:`ftdecide.tokens.count_texts` in ``encoding``; ``cached_tokens``
    (an int or ``callable(request_json) -> int``, capped at the prompt
    tokens) fills ``prompt_tokens_details.cached_tokens``.

    ``base_url`` is the OpenAI-style root (``http://127.0.0.1:PORT/v1``),
    ``url`` the bare root (what Azure calls the endpoint).
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
        self._routes: list[tuple[str, "re.Pattern[str]", Handler]] = []
        self._failures: list[Reply] = []
        self._delays: list[float] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

        self.add_route("POST", "/v1/chat/completions", _chat_completions)
        self.add_route("POST", "/openai/v1/chat/completions", _chat_completions)
        self.add_route("POST", "/openai/deployments/{deployment}/chat/completions",
                       _chat_completions)
        self.add_route("GET", "/v1/models", _list_models)

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
        """``http://127.0.0.1:PORT`` (an Azure ``azure_endpoint``)."""
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
                  times: int = 1) -> None:
        """Answer the next ``times`` requests (any route) with ``status``.

        ``body`` defaults to an OpenAI-shaped error for the status (403 has
        code ``training_not_available``; 429 comes with ``Retry-After: 1``
        unless ``headers`` say otherwise).
        """
        default_body, default_headers = _DEFAULT_FAILURES.get(
            status, (error_body(f"HTTP {status}"), {}))
        reply = Reply(status, default_body if body is None else body,
                      dict(default_headers if headers is None else headers))
        with self._lock:
            self._failures.extend([reply] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Wait ``seconds`` before answering the next ``times`` requests (to cause timeouts)."""
        with self._lock:
            self._delays.extend([float(seconds)] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending failures and delays."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()

    def next_id(self, prefix: str) -> str:
        """A fresh id such as ``chatcmpl-000001`` (for handlers)."""
        return f"{prefix}-{next(self._ids):06d}"

    # -- request handling ----------------------------------------------------------
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
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json, body = True, raw.decode("utf-8", "replace")
        request = RecordedRequest(method, split.path, query, headers, body, auth)
        with self._lock:
            self.requests.append(request)
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
        if delay and self._stopping.wait(delay):
            return
        if failure is not None:
            reply = failure
        elif bad_json:
            reply = Reply(400, error_body("We could not parse the JSON body of your request."))
        else:
            reply = self._dispatch(method, request)
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
            try:
                result = handler(self, request, match)
            except Exception as exc:  # a bug in a handler: answer 500, like a real server
                return Reply(500, error_body(f"test server handler failed: {exc!r}",
                                             type="server_error"))
            return result if isinstance(result, Reply) else Reply(200, result)
        if path_known:
            return Reply(405, error_body(f"Method {method} not allowed for {request.path}"))
        return Reply(404, error_body(f"Unknown path {request.path}", code="not_found"))

    def _send(self, h: _Handler, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", "application/json")
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
        from .tokens import count_messages, count_texts

        messages = request_json.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _ClientError("'messages' must be a non-empty list", "messages")
        text = self.responder(request_json)
        if not isinstance(text, str):
            raise TypeError(f"responder returned {type(text).__name__}, expected str")
        prompt = count_messages(messages, self.encoding)
        completion = count_texts([text], self.encoding)[0]
        cached = self.cached_tokens(request_json) if callable(self.cached_tokens) \
            else self.cached_tokens
        cached = max(0, min(int(cached), prompt))
        return {
            "id": self.next_id("chatcmpl"),
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


class _ClientError(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _chat_completions(server: OpenAICompatibleServer, request: RecordedRequest,
                      match: "re.Match[str]") -> Reply:
    body = request.json
    if not isinstance(body, Mapping):
        return Reply(400, error_body("the body must be a JSON object"))
    if body.get("stream"):
        return Reply(400, error_body("streaming is not supported by the test server",
                                     param="stream"))
    deployment = match.groupdict().get("deployment")
    if deployment is not None and "api-version" not in request.query:
        return Reply(404, error_body("Resource not found (missing api-version)", code="404"))
    if deployment is None and not body.get("model"):
        return Reply(400, error_body("you must provide a model parameter", param="model"))
    try:
        return Reply(200, server.chat_completion(body, model=body.get("model") or deployment))
    except _ClientError as exc:
        return Reply(400, error_body(str(exc), param=exc.param))


def _list_models(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": m, "object": "model", "created": 0, "owned_by": "ftdecide-test"}
        for m in server.models
    ]}


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
        from .tokens import count_messages, count_texts

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
