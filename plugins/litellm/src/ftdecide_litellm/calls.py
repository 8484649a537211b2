"""One chat completion through ``litellm.completion``: its import, retries, result and errors.

LiteLLM is imported here, inside :func:`import_litellm`, the first time a
completion is sent: never when ftdecide or the plugin loads (``import
litellm`` takes seconds). Before that import ``LITELLM_LOCAL_MODEL_COST_MAP``
is set to ``True`` (unless the user set it), because LiteLLM otherwise
fetches its price map over the network at import; ftdecide works offline.

Retries are ours, not LiteLLM's or the SDKs' (``max_retries=0``,
``num_retries=0`` are passed), so every route behaves the same: a 408, 409,
429 or 5xx answer, a timeout or a dropped connection is retried up to
``max_retries`` times, waiting what the server's ``Retry-After`` (or
``retry-after-ms``) asked, else ``min(0.5·2^n, 8)`` seconds less up to 25 %
jitter. A 5xx that LiteLLM raised without a server answer (missing
credentials, a bad route) is not retried: repeating cannot help.

Keys come only from LiteLLM's own environment variables (``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY`` ...); this module never passes,
stores or logs one, and scrubs the value of every credential-looking
environment variable from any message it raises.
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import ftdecide

#: The ``complete()`` parameters sent to LiteLLM; anything else is a UsageError.
ALLOWED_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed")
#: Seconds of the first retry's backoff and its cap; the longest Retry-After honoured as given.
INITIAL_RETRY_S, MAX_RETRY_S, MAX_RETRY_AFTER_S = 0.5, 8.0, 120.0
#: Sent as the key on an OpenAI route to a server at an ``api_base`` when ``OPENAI_API_KEY``
#: is unset: self-hosted servers (vLLM, llama.cpp) need none, the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
OPENAI_ROUTES = ("openai", "text-completion-openai", "custom_openai")
_SECRET_NAME_PARTS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")

_import_lock = threading.Lock()


def import_litellm() -> Any:
    """``litellm``, imported on first use with its local price map and its chatter off."""
    with _import_lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:  # pragma: no cover - litellm is a dependency
            raise ftdecide.PluginError(f"the litellm provider needs LiteLLM: {exc}",
                                       hint="pip install litellm") from None
        litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on errors
        litellm.telemetry = False
        return litellm


def secrets_in_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of credential-looking environment variables (what LiteLLM reads keys from)."""
    environ = os.environ if environ is None else environ
    return [v for k, v in environ.items()
            if any(part in k.upper() for part in _SECRET_NAME_PARTS) and len(v.strip()) >= 6]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def display_url(url: str) -> str:
    """``url`` without credentials or query (``https://user:pw@host/v1?key=…`` → ``https://host/v1``)."""
    return ftdecide.url_without_credentials(url)


def retry_after(exc: BaseException) -> float | None:
    """The wait an error answer asked for (``retry-after-ms`` or ``retry-after``), seconds."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    return ftdecide.retry_after_seconds(headers, cap=MAX_RETRY_AFTER_S)


def backoff(attempt: int, exc: BaseException) -> float:
    """Seconds before retry ``attempt`` (0-based): the server's ``Retry-After`` when given."""
    asked = retry_after(exc)
    if asked is not None:
        return asked
    return min(INITIAL_RETRY_S * 2 ** attempt, MAX_RETRY_S) * (1 - 0.25 * random.random())


def is_transient(litellm: Any, exc: BaseException) -> bool:
    """Worth retrying: timeouts, dropped connections, 408, 409, 429, and 5xx a server sent."""
    if isinstance(exc, (litellm.Timeout, litellm.APIConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    if status in (408, 409, 429):
        return True
    return isinstance(status, int) and status >= 500 and _answered(exc)


def _answered(exc: BaseException) -> bool:
    """Whether a server sent this error (LiteLLM keeps its headers), rather than LiteLLM."""
    return getattr(exc, "litellm_response_headers", None) is not None


def chat_params(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(ALLOWED_PARAMS))
    if unknown:
        raise ftdecide.UsageError(f"unsupported completion parameter(s): {', '.join(unknown)}",
                                  hint="supported: " + ", ".join(ALLOWED_PARAMS))
    return {k: v for k, v in params.items() if v is not None}


def complete(messages: Sequence[ftdecide.Message], *, model: str, params: Mapping[str, Any],
             api_base: str | None, timeout: float, max_retries: int,
             sleep: Callable[[float], None] = time.sleep) -> ftdecide.Completion:
    """One chat completion of ``model`` (a LiteLLM model string) with our retries.

    ``latency_s`` is the wall time of the call that answered (not the waits
    before it). Errors are :class:`ftdecide.ProviderError` (or
    :class:`ftdecide.AuthenticationError`) with no secret in them.
    """
    kwargs = chat_params(params)
    litellm = import_litellm()
    if api_base:
        kwargs["api_base"] = api_base
        if model.split("/", 1)[0] in OPENAI_ROUTES and not os.environ.get("OPENAI_API_KEY"):
            kwargs["api_key"] = PLACEHOLDER_KEY
    service = f"{model} at {display_url(api_base)}" if api_base else model
    attempt = 0
    while True:
        started = time.perf_counter()
        try:
            response = litellm.completion(model=model, messages=list(messages), timeout=timeout,
                                          max_retries=0, num_retries=0, drop_params=True,
                                          **kwargs)
        except Exception as exc:  # LiteLLM maps every provider's errors to its own classes
            if attempt < max_retries and is_transient(litellm, exc):
                sleep(backoff(attempt, exc))
                attempt += 1
                continue
            raise map_error(litellm, exc, service=service, attempts=attempt + 1) from None
        latency = time.perf_counter() - started
        return completion_from_response(response, latency, service=service)


def completion_from_response(response: Any, latency_s: float, *,
                             service: str) -> ftdecide.Completion:
    """``ftdecide.Completion`` from LiteLLM's ``ModelResponse``, usage exactly as reported."""
    choices = getattr(response, "choices", None) or []
    if not choices:
        raise ftdecide.ProviderError(f"{service} returned no choices")
    usage = getattr(response, "usage", None)
    if usage is None or getattr(usage, "prompt_tokens", None) is None:
        raise ftdecide.ProviderError(
            f"{service} reported no token usage, which ftdecide needs to price the call",
            hint="use a provider or server that returns usage for non-streaming requests")
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    message = getattr(choices[0], "message", None)
    raw = response.model_dump() if hasattr(response, "model_dump") else None
    return ftdecide.Completion(
        text=getattr(message, "content", None) or "",
        usage=ftdecide.Usage(input_tokens=int(usage.prompt_tokens or 0),
                             output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                             cached_input_tokens=int(cached or 0)),
        latency_s=latency_s,
        model=getattr(response, "model", None),
        raw=scrub_raw(raw),
    )


def scrub_raw(raw: Any) -> Any:
    """The response as a dict, LiteLLM's private bookkeeping (``_hidden_params``) left out."""
    if not isinstance(raw, dict):
        return raw
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def map_error(litellm: Any, exc: BaseException, *, service: str,
              attempts: int) -> ftdecide.ProviderError:
    """The ftdecide error for a LiteLLM exception, naming the status and never a secret."""
    secrets = secrets_in_env()
    status = getattr(exc, "status_code", None)
    message = scrub(str(getattr(exc, "message", None) or exc), secrets)
    message = message.replace("litellm.", "", 1).strip()
    request_id = getattr(exc, "request_id", None)
    tried = f" after {attempts} attempts" if attempts > 1 else ""
    suffix = (f" (request id {request_id})" if request_id else "") + tried
    if isinstance(exc, litellm.AuthenticationError) or status == 401:
        return ftdecide.AuthenticationError(
            f"{service}: the credentials were refused or are missing (HTTP 401){suffix}",
            hint="set the provider's key in the environment variable LiteLLM reads for it "
            "(OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY ...: "
            "https://docs.litellm.ai/docs/providers)")
    if status == 429:
        asked = retry_after(exc)
        return ftdecide.ProviderError(
            f"{service}: rate limit or quota exceeded (HTTP 429){suffix}: {message}",
            hint=(f"the server asked to wait {asked:g} s; " if asked is not None else "")
            + "retry later or lower the concurrency")
    if isinstance(exc, litellm.Timeout):
        return ftdecide.ProviderError(f"{service} did not answer in time{suffix}",
                                      hint="retry, or raise the timeout")
    if isinstance(exc, litellm.APIConnectionError):
        return ftdecide.ProviderError(f"could not connect to {service}{suffix}: {message}",
                                      hint="check the network and the api_base")
    if isinstance(status, int):
        hint = ("the server failed; retry later" if status >= 500 and _answered(exc)
                else "check the model string (litellm/<route>/<model>, e.g. "
                "litellm/anthropic/claude-sonnet-4-5) and the provider's key")
        return ftdecide.ProviderError(
            f"{service}: request failed (HTTP {status}){suffix}: {message}", hint=hint)
    return ftdecide.ProviderError(f"{service}: {message}{suffix}")
