"""What the OpenAI and Azure OpenAI providers share: the client cache, one chat call,
its result, its errors, and retries that honour ``Retry-After``.

``ftdecide-azure`` depends on ``ftdecide-openai`` and imports this module (and
:mod:`ftdecide_openai.finetune`, :mod:`ftdecide_openai.batch`), so the
constructor and client cache (:class:`SDKProvider`), the request parameters,
the ``Completion``/``Usage`` mapping and the mapping of SDK errors to ftdecide
errors exist in exactly one place. The names here are a stable contract
between the two distributions; anything whose name starts with ``_`` is not.

The ``openai`` SDK is imported inside the functions that need it, never at
module import, so loading the plugins (every CLI start) stays fast.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import ftdecide

if TYPE_CHECKING:  # pragma: no cover
    import openai

#: ``complete()`` keyword arguments the providers accept; anything else is a UsageError.
ALLOWED_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed")

#: The message for HTTP 403 ``training_not_available`` (providers.md §1).
WIND_DOWN_MESSAGE = (
    "this organisation can no longer create OpenAI fine-tuning jobs; "
    "consider Azure OpenAI or open weights via hf-trl"
)
WIND_DOWN_HINT = (
    "OpenAI is winding down self-serve fine-tuning (no new jobs for anyone after "
    "2027-01-06); existing fine-tuned models keep serving until their base model shuts down"
)

#: Seconds of the first retry's backoff, its growth and cap (the SDK's own figures).
INITIAL_RETRY_S, MAX_RETRY_S = 0.5, 8.0
#: The longest ``Retry-After`` honoured as given (the SDK's limit); longer waits are capped.
MAX_RETRY_AFTER_S = 120.0


class SDKProvider(ftdecide.Provider):
    """What both providers' constructors and client caches share.

    ``timeout`` (seconds) and ``max_retries`` default to the SDK's own (600 s,
    2 retries with exponential backoff honouring ``Retry-After``) for
    completions; fine-tuning and batch calls do their own retries
    (:func:`retrying`) so that a create call is never blindly repeated.
    Subclasses build the client in :meth:`_make_client` from a settings tuple
    that holds a digest of the key, never the key.
    """

    def __init__(self, *, timeout: float | None = None, max_retries: int | None = None) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_config: tuple[Any, ...] | None = None

    def _cached_client(self, config: tuple[Any, ...], make: Callable[[dict[str, Any]], Any]) -> Any:
        """The client for ``config``, made on first use and remade when ``config`` changes.

        ``make`` receives the SDK keyword arguments for timeout and retries.
        """
        config = (*config, self.timeout, self.max_retries)
        with self._lock:
            if self._client is None or self._client_config != config:
                kwargs: dict[str, Any] = {}
                if self.timeout is not None:
                    kwargs["timeout"] = self.timeout
                if self.max_retries is not None:
                    kwargs["max_retries"] = self.max_retries
                self._client = make(kwargs)
                self._client_config = config
            return self._client


def digest(secret: str | None) -> str | None:
    """A SHA-256 of ``secret``, to notice a changed key without keeping it."""
    return hashlib.sha256(secret.encode()).hexdigest() if secret else None


def account_of(url: str) -> str:
    """``url`` without credentials, query or trailing slash: where files live (for the upload log)."""
    return ftdecide.url_without_credentials(url).rstrip("/")


# -- retries ---------------------------------------------------------------------------

def retry_after(exc: BaseException) -> float | None:
    """The wait an error response asked for (``retry-after-ms`` or ``retry-after``), seconds."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    return ftdecide.retry_after_seconds(headers, cap=MAX_RETRY_AFTER_S)


def backoff(attempt: int, exc: BaseException | None = None) -> float:
    """Seconds before retry ``attempt`` (0-based): the server's ``Retry-After`` when it gave
    one, else ``min(0.5·2^n, 8)`` less up to 25 % jitter, as the SDK does."""
    asked = retry_after(exc) if exc is not None else None
    if asked is not None:
        return asked
    return min(INITIAL_RETRY_S * 2 ** attempt, MAX_RETRY_S) * (1 - 0.25 * random.random())


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, dropped connections, 408, 409, 429 and 5xx."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, openai.APIStatusError) and (status in (408, 409, 429)
                                                       or (status or 0) >= 500)


def is_uncertain(exc: BaseException) -> bool:
    """The request may have taken effect: no answer (timeout, dropped connection) or a 5xx."""
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code or 0) >= 500


# Reasoning models reject ``max_tokens`` and need ``max_completion_tokens``.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


@lru_cache(maxsize=None)
def _package_catalog(package: str, filename: str, provider: str) -> tuple[ftdecide.ModelInfo, ...]:
    ref = resources.files(package).joinpath(filename)
    with resources.as_file(ref) as path:
        return tuple(ftdecide.read_price_file(path, provider))


def package_catalog(package: str, provider: str,
                    filename: str = "catalog.yaml") -> list[ftdecide.ModelInfo]:
    """A plugin's catalog from the price file shipped in ``package`` (read once, cached)."""
    return list(_package_catalog(package, filename, provider))


def uses_max_completion_tokens(model: str) -> bool:
    """True for reasoning models (o-series, gpt-5), which reject ``max_tokens``.

    ``ft:BASE:…`` ids are judged by their base.
    """
    base = model.split(":")[1] if model.startswith("ft:") and ":" in model[3:] else model
    return base.startswith(_REASONING_PREFIXES)


def chat_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for ``chat.completions.create`` from ftdecide's ``params``.

    ``max_tokens`` is sent as ``max_tokens``: OpenAI deprecated it in favour
    of ``max_completion_tokens`` but still honours it for every non-reasoning
    model (all the tunable ones), older Azure API versions know only
    ``max_tokens``, and it is what every OpenAI-compatible server (vLLM,
    llama.cpp, Ollama) accepts. For reasoning models (o-series, gpt-5), which
    reject ``max_tokens``, it is sent as ``max_completion_tokens``. Passing
    ``max_completion_tokens`` explicitly sends exactly that. ``None`` values
    are left out (the server's default applies).
    """
    unknown = sorted(set(params) - set(ALLOWED_PARAMS))
    if unknown:
        raise ftdecide.UsageError(
            f"unsupported completion parameter(s): {', '.join(unknown)}",
            hint="supported: " + ", ".join(ALLOWED_PARAMS),
        )
    out = {k: v for k, v in params.items() if v is not None}
    if "max_tokens" in out and uses_max_completion_tokens(model):
        out.setdefault("max_completion_tokens", out.pop("max_tokens"))
        out.pop("max_tokens", None)
    return out


def chat_complete(
    client: "openai.OpenAI",
    messages: Sequence[ftdecide.Message],
    *,
    model: str,
    params: Mapping[str, Any],
    service: str,
    credential: str,
    secrets: Iterable[str] = (),
) -> ftdecide.Completion:
    """One chat completion through ``client`` (``openai.OpenAI`` or ``openai.AzureOpenAI``).

    ``latency_s`` is the wall time of the SDK call, including any retries
    the SDK made. ``service`` names the server in messages (``"OpenAI"``,
    ``"Azure OpenAI at …"``), ``credential`` what to check on a 401 (the
    environment variable), ``secrets`` the strings scrubbed from any message.
    """
    import openai

    kwargs = chat_params(model, params)
    started = time.perf_counter()
    try:
        response = client.chat.completions.create(model=model, messages=list(messages), **kwargs)
    except openai.OpenAIError as exc:
        raise map_error(exc, service=service, credential=credential, secrets=secrets) from None
    latency = time.perf_counter() - started
    return completion_from_response(response, latency, service=service)


def completion_from_response(response: Any, latency_s: float, *,
                             service: str = "the server") -> ftdecide.Completion:
    """``ftdecide.Completion`` from an SDK ``ChatCompletion``, usage exactly as reported."""
    if not response.choices:
        raise ftdecide.ProviderError(f"{service} returned no choices for model {response.model!r}")
    usage = response.usage
    if usage is None:
        raise ftdecide.ProviderError(
            f"{service} reported no token usage, which ftdecide needs to price the call",
            hint="use a server that returns 'usage' in chat completions (vLLM, llama.cpp and "
            "Ollama do for non-streaming requests)",
        )
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    return ftdecide.Completion(
        text=response.choices[0].message.content or "",
        usage=ftdecide.Usage(
            input_tokens=int(usage.prompt_tokens or 0),
            output_tokens=int(usage.completion_tokens or 0),
            cached_input_tokens=int(cached or 0),
        ),
        latency_s=latency_s,
        model=response.model,
        raw=response.model_dump(),
    )


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (of 4 characters or more) replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
        return ""
    if isinstance(body, str):
        return body.strip()[:500]
    return ""


def map_error(exc: Exception, *, service: str, credential: str,
              secrets: Iterable[str] = ()) -> ftdecide.ProviderError:
    """The ftdecide error for an ``openai`` SDK exception (never containing a secret).

    - 401 → :class:`ftdecide.AuthenticationError` naming ``credential``; the
      server's text is left out (OpenAI's echoes part of the key).
    - 403 with code ``training_not_available`` → the fine-tuning wind-down
      message; other 403s → refused, with the server's message.
    - 429, other statuses, connection errors and timeouts →
      :class:`ftdecide.ProviderError` with the status and the server's message.
    """
    import openai

    secrets = [s for s in secrets if s]
    server_message = scrub(_server_message(exc), secrets)
    status = getattr(exc, "status_code", None)
    request_id = getattr(exc, "request_id", None)
    suffix = f" (request id {request_id})" if request_id else ""

    def detail(prefix: str) -> str:
        return prefix + (f": {server_message}" if server_message else "") + suffix

    if isinstance(exc, openai.AuthenticationError):
        return ftdecide.AuthenticationError(
            f"{service} rejected the credentials (HTTP 401); check {credential}" + suffix,
            hint=f"set {credential} to a valid key for this account",
        )
    if isinstance(exc, openai.PermissionDeniedError):
        if getattr(exc, "code", None) == "training_not_available":
            return ftdecide.ProviderError(WIND_DOWN_MESSAGE, hint=WIND_DOWN_HINT)
        return ftdecide.ProviderError(
            detail(f"{service} refused the request (HTTP 403)"),
            hint="check that this key's project or role may use this model or endpoint",
        )
    if isinstance(exc, openai.RateLimitError):
        retry_after = exc.response.headers.get("retry-after") if exc.response is not None else None
        return ftdecide.ProviderError(
            detail(f"{service} rate limit or quota exceeded (HTTP 429)"),
            hint=(f"the server asked to wait {retry_after} s; " if retry_after else "")
            + "retry later or lower the concurrency",
        )
    if isinstance(exc, openai.APIStatusError):
        return ftdecide.ProviderError(detail(f"{service} request failed (HTTP {status})"))
    if isinstance(exc, openai.APITimeoutError):
        return ftdecide.ProviderError(f"{service} did not answer in time (request timed out)",
                                      hint="retry, or raise the provider's timeout")
    if isinstance(exc, openai.APIConnectionError):
        url = getattr(getattr(exc, "request", None), "url", None)
        where = f" {url.scheme}://{url.netloc.decode('ascii', 'replace')}" if url is not None else ""
        return ftdecide.ProviderError(
            f"could not connect to {service}{where}: "
            + scrub(str(exc.__cause__ or exc.message), secrets),
            hint="check the network and the base URL / endpoint",
        )
    return ftdecide.ProviderError(f"{service}: " + scrub(str(exc), secrets))


def env(name: str) -> str | None:
    """An environment variable, ``None`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None
