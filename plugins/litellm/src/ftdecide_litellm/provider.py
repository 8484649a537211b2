"""The ``litellm`` provider: chat completions from every provider LiteLLM routes to.

``--model litellm/<LiteLLM model string>``: ``litellm/anthropic/claude-sonnet-4-5``,
``litellm/gemini/gemini-2.5-flash``, ``litellm/bedrock/...``,
``litellm/ollama/llama3.2``, ``litellm/openai/gpt-4.1-mini``. Everything
after the first ``/`` is passed to ``litellm.completion`` as it is.

Configuration (read when a completion is sent, never at import):

- Keys: only LiteLLM's own environment variables (``OPENAI_API_KEY``,
  ``ANTHROPIC_API_KEY``, ``GEMINI_API_KEY``, AWS credentials for Bedrock ...).
  ftdecide never passes, stores or prints one.
- ``api_base``: a server to send the requests to (a vLLM or llama.cpp server,
  a LiteLLM proxy, a test server): ``-o api_base URL`` on ``ftdecide ask``,
  else ``FTDECIDE_LITELLM_API_BASE`` (which a ``compare`` run reads), else
  LiteLLM's own default for the route.

Prices and context limits come from LiteLLM's model price map
(:mod:`ftdecide_litellm.price_map`) and are applied by ftdecide's catalog, so
a price file (``--prices``, the user's ``prices.yaml``) overrides them like
any other catalog's. No model is claimed tunable: fine-tuning goes through
the ``openai``, ``azure``, ``hf`` and ``autotrain`` providers.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import ftdecide
from ftdecide import Option

from . import calls, price_map

API_BASE_ENV = "FTDECIDE_LITELLM_API_BASE"
#: Retries of a failed call (429, 5xx, timeouts), honouring ``Retry-After``.
DEFAULT_MAX_RETRIES = 2
DEFAULT_TIMEOUT_S = 600.0


class LiteLLMProvider(ftdecide.Provider):
    """Any chat model LiteLLM can call, priced from LiteLLM's price map."""

    name = "litellm"
    #: A router to other makers' models: a bare ``gpt-4o-mini`` means the maker's (openai).
    bare_ids = False
    options = (
        Option("api_base", str, "the server to send requests to (a vLLM or llama.cpp "
               f"server, a LiteLLM proxy); default: {API_BASE_ENV}, else LiteLLM's own",
               scope="complete"),
    )

    def __init__(self, api_base: str | None = None, *, timeout: float | None = None,
                 max_retries: int | None = None) -> None:
        self._api_base = api_base
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else float(timeout)
        self.max_retries = DEFAULT_MAX_RETRIES if max_retries is None else int(max_retries)

    def __repr__(self) -> str:
        return f"LiteLLMProvider(api_base={self.api_base!r})"

    @property
    def api_base(self) -> str | None:
        """The constructor's ``api_base``, else ``FTDECIDE_LITELLM_API_BASE``, else None."""
        return self._api_base or (os.environ.get(API_BASE_ENV, "").strip() or None)

    def endpoint(self) -> str | None:
        """The ``api_base`` calls go to (without credentials), else None: compare keys its
        answer cache on it, so two servers never share answers."""
        from ftdecide_litellm.calls import display_url

        base = self.api_base
        return display_url(base).rstrip("/") if base else None

    # -- catalog ---------------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        """LiteLLM's chat models with their prices and context limits (none tunable);
        empty when LiteLLM is not installed."""
        prices = price_map.load()
        return [] if prices is None else list(prices.models.values())

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """A model of the price map (by catalog id or map key), else any model of a route
        LiteLLM knows, with unknown prices (a price file gives them); None otherwise."""
        prices = price_map.load()
        if prices is None:
            return None
        info = prices.lookup(model)
        if info is not None:
            return info
        route, _, name = model.partition("/")
        if not name or route not in prices.routes:
            return None
        where = f" at {self.api_base}" if self.api_base else ""
        return ftdecide.ModelInfo(
            id=model, provider=self.name, as_of=prices.as_of, source=prices.source,
            notes=f"not in LiteLLM {prices.version}'s price map (served{where} through its "
            f"{route!r} route): prices unknown; add them with a price file")

    # -- completions ---------------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion through ``litellm.completion``.

        ``params``: temperature, top_p, max_tokens, max_completion_tokens,
        seed (a route that does not take one drops it), and ``api_base`` (the
        ``-o api_base`` option), which wins over the provider's.
        """
        api_base = params.pop("api_base", None) or self.api_base
        return calls.complete(messages, model=model, params=params, api_base=api_base,
                              timeout=self.timeout, max_retries=self.max_retries)
