"""The ``openai`` provider: OpenAI's API, or any OpenAI-compatible server.

Configuration (read when first needed, never at import):

- ``OPENAI_API_KEY``: the API key. Required for OpenAI itself; optional
  when a base URL is set (self-hosted servers such as vLLM usually need none,
  and a placeholder is sent).
- ``OPENAI_BASE_URL`` (or the ``base_url`` constructor argument, which
  wins): an OpenAI-compatible server, e.g. ``http://localhost:8000/v1``.
  Models unknown to the catalog are then allowed and priced at 0 (self-hosted),
  unless a price file says otherwise.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Sequence

import ftdecide

from . import shared

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
#: Sent as the key to a self-hosted server when ``OPENAI_API_KEY`` is unset.
PLACEHOLDER_KEY = "not-needed"


class OpenAIProvider(ftdecide.Provider):
    """OpenAI chat completions through the official ``openai`` SDK.

    ``timeout`` (seconds) and ``max_retries`` default to the SDK's own
    (600 s, 2 retries with exponential backoff honouring ``Retry-After``).
    """

    name = "openai"

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None,
                 max_retries: int | None = None) -> None:
        self._base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_config: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str | None:
        """The constructor's ``base_url``, else ``OPENAI_BASE_URL``, else ``None`` (OpenAI)."""
        return self._base_url or shared.env(BASE_URL_ENV)

    # -- catalog ---------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        return shared.package_catalog("ftdecide_openai", self.name)

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """A catalog id or alias; a fine-tuned ``ft:BASE:org:suffix:id``; with a base URL, any id.

        A fine-tuned model is priced at its base's ``ft_*`` rates and shuts
        down with its base. A fine-tune of a base the catalog does not know
        is described with unknown prices (never 0) unless a base URL is set.
        """
        info = super().model_info(model)
        if info is not None:
            return info
        base_url = self.base_url
        if model.startswith("ft:"):
            base_id = model.split(":")[1]
            base = super().model_info(base_id) if base_id else None
            if base is not None:
                return fine_tune_info(model, base)
            if base_url is None:
                return ftdecide.ModelInfo(
                    id=model, provider=self.name,
                    notes=f"fine-tune of {base_id or 'an unknown base'}, which is not in the "
                    "catalog: prices unknown; add them with a price file",
                )
        if base_url is not None:
            return ftdecide.ModelInfo(
                id=model, provider=self.name, input_per_1m=0.0, cached_input_per_1m=0.0,
                output_per_1m=0.0, notes=f"self-hosted at {base_url}",
            )
        return None

    # -- completions -------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion; ``params``: temperature, top_p, max_tokens, seed
        (see :func:`ftdecide_openai.shared.chat_params` for how ``max_tokens`` is sent)."""
        client, key = self._get_client()
        base_url = self.base_url
        service = f"the OpenAI-compatible server at {base_url}" if base_url else "OpenAI"
        placeholder = key == PLACEHOLDER_KEY
        credential = (f"{API_KEY_ENV} (not set: a placeholder key was sent)" if placeholder
                      else API_KEY_ENV)
        return shared.chat_complete(client, messages, model=model, params=params,
                                    service=service, credential=credential,
                                    secrets=[] if placeholder else [key])

    def _get_client(self) -> tuple[Any, str]:
        """The SDK client for the current settings (made on first use, remade if they change).

        Raises :class:`ftdecide.AuthenticationError` before any network when
        no key is set and no base URL is configured.
        """
        base_url = self.base_url
        key = shared.env(API_KEY_ENV)
        if key is None:
            if base_url is None:
                raise ftdecide.AuthenticationError(
                    f"{API_KEY_ENV} is not set",
                    hint=f"export {API_KEY_ENV}=… (a key from https://platform.openai.com/api-keys), "
                    f"or set {BASE_URL_ENV} to use an OpenAI-compatible server",
                )
            key = PLACEHOLDER_KEY
        # Remember a digest of the key, not the key, to notice a change.
        config = (base_url, hashlib.sha256(key.encode()).hexdigest(), self.timeout,
                  self.max_retries)
        with self._lock:
            if self._client is None or self._client_config != config:
                import openai

                kwargs: dict[str, Any] = {"api_key": key, "base_url": base_url}
                if self.timeout is not None:
                    kwargs["timeout"] = self.timeout
                if self.max_retries is not None:
                    kwargs["max_retries"] = self.max_retries
                self._client = openai.OpenAI(**kwargs)
                self._client_config = config
            return self._client, key


def fine_tune_info(model: str, base: ftdecide.ModelInfo) -> ftdecide.ModelInfo:
    """A fine-tuned model of ``base``, priced at the base's fine-tuned (``ft_*``) rates."""
    return ftdecide.ModelInfo(
        id=model,
        tunable=False,
        provider=base.provider,
        input_per_1m=base.ft_input_per_1m,
        cached_input_per_1m=base.ft_cached_input_per_1m,
        output_per_1m=base.ft_output_per_1m,
        ft_input_per_1m=base.ft_input_per_1m,
        ft_cached_input_per_1m=base.ft_cached_input_per_1m,
        ft_output_per_1m=base.ft_output_per_1m,
        context_window=base.context_window,
        encoding=base.encoding,
        shutdown=base.shutdown,
        as_of=base.as_of,
        source=base.source,
        notes=f"fine-tune of {base.id}, priced at its fine-tuned rates; "
        "it stops serving when its base model shuts down",
    )
