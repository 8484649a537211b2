"""The ``openai`` provider: OpenAI's API, or any OpenAI-compatible server.

Configuration (read when first needed, never at import):

- ``OPENAI_API_KEY``: the API key. Required for OpenAI itself; optional
  when a base URL is set (self-hosted servers such as vLLM usually need none,
  and a placeholder is sent).
- ``OPENAI_BASE_URL`` (or the ``base_url`` constructor argument, which
  wins): an OpenAI-compatible server, e.g. ``http://localhost:8000/v1``.
  Models unknown to the catalog are then allowed, with unknown prices (a
  self-hosted server may be free or billed by the hour; ftdecide cannot know), so
  their cost reads "unknown", never $0, until a price file gives them prices.

Fine-tuning (``ftdecide tune --model openai/...``) goes through
:mod:`ftdecide_openai.finetune`; eval requests may go through the Batch API
(:mod:`ftdecide_openai.batch`) at half price. Embeddings (the ``similarity``
metric's vectors) go through :mod:`ftdecide_openai.embeddings`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Sequence

import ftdecide
from ftdecide import Option

from . import batch, embeddings, finetune, shared

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
#: Sent as the key to a self-hosted server when ``OPENAI_API_KEY`` is unset.
PLACEHOLDER_KEY = "not-needed"


#: The last day OpenAI accepts new fine-tuning jobs from anyone (providers.md §1).
WIND_DOWN_END = _dt.date(2027, 1, 6)
#: Settings of ``ftdecide tune`` that only the local hf provider uses.
HF_ONLY = {"learning_rate": "--lr (use --lr-multiplier)", "lora_r": "--lora-r",
           "max_length": "--max-length"}
SUFFIX_LIMIT = 64


class OpenAIProvider(shared.SDKProvider):
    """OpenAI through the official ``openai`` SDK: chat completions, fine-tuning, Batch API.

    ``timeout`` (seconds) and ``max_retries`` default to the SDK's own
    (600 s, 2 retries with exponential backoff honouring ``Retry-After``).
    """

    name = "openai"
    supports_batch_api = True
    options = (
        Option("suffix", str, f"added to the fine-tuned model's name (at most {SUFFIX_LIMIT} "
               "characters)"),
        Option("learning_rate_multiplier", float, "multiplies the provider's learning rate",
               positive=True, hyperparameter=True, aliases=("lr_multiplier",)),
    )

    def __init__(self, base_url: str | None = None, *, timeout: float | None = None,
                 max_retries: int | None = None) -> None:
        super().__init__(timeout=timeout, max_retries=max_retries)
        self._base_url = base_url

    def __repr__(self) -> str:
        return f"OpenAIProvider(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str | None:
        """The constructor's ``base_url``, else ``OPENAI_BASE_URL``, else ``None`` (OpenAI)."""
        return self._base_url or shared.env(BASE_URL_ENV)

    def endpoint(self) -> str | None:
        """The self-hosted server behind ``base_url`` (without credentials), else None:
        compare keys its answer cache on it, so two servers never share answers."""
        url = self.base_url
        return shared.account_of(url) if url else None

    # -- catalog ---------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        return shared.package_catalog("ftdecide_openai", self.name)

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """A catalog id or alias; a fine-tuned ``ft:BASE:org:suffix:id``; with a base URL, any id.

        A fine-tuned model is priced at its base's ``ft_*`` rates and shuts
        down with its base. A fine-tune of a base the catalog does not know,
        and any model of a server at a base URL, is described with unknown
        prices (never 0): a price file (``--prices``) gives them prices.
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
                id=model, provider=self.name,
                notes=f"served at {base_url}: prices unknown; add them with a price file",
            )
        return None

    # -- completions -------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion; ``params``: temperature, top_p, max_tokens, seed
        (see :func:`ftdecide_openai.shared.chat_params` for how ``max_tokens`` is sent)."""
        api = self._api()
        return shared.chat_complete(api.client, messages, model=model, params=params,
                                    service=api.service, credential=api.credential,
                                    secrets=api.secrets)

    def embed(self, texts: Sequence[str], *, model: str) -> ftdecide.Embeddings:
        """Embedding vectors (``client.embeddings.create``) for the ``similarity`` metric;
        the model comes from the compare config (``similarity: {model: openai/...}``)."""
        api = self._api()
        return embeddings.embed(api.client, texts, model=model, service=api.service,
                                credential=api.credential, secrets=api.secrets)

    def model_available(self, model: str) -> bool | None:
        """``GET /models/{model}``: False on 404 (deleted, or its base shut down), None when
        the service cannot be asked (no network, no key)."""
        import openai

        try:
            self._api().raw.models.retrieve(model)
        except openai.NotFoundError:
            return False
        except (openai.OpenAIError, ftdecide.FtdecideError):
            return None
        return True

    def _api(self) -> finetune.Api:
        """The client and how to name this service in messages."""
        client, key = self._get_client()
        base_url = self.base_url
        placeholder = key == PLACEHOLDER_KEY
        return finetune.Api(
            client=client, provider=self.name,
            service=f"the OpenAI-compatible server at {base_url}" if base_url else "OpenAI",
            credential=(f"{API_KEY_ENV} (not set: a placeholder key was sent)" if placeholder
                        else API_KEY_ENV),
            account=shared.account_of(base_url or "https://api.openai.com/v1"),
            secrets=[] if placeholder else [key],
        )

    # -- fine-tuning -----------------------------------------------------------------
    def check_tune_options(self, model: str, *, hyperparameters: Mapping[str, Any],
                           options: Mapping[str, Any]) -> list[str]:
        """Refuse hf-only settings and a suffix over 64 characters; warn of the wind-down
        and of the base model's shutdown (its fine-tunes stop with it)."""
        used = [flag for key, flag in HF_ONLY.items() if hyperparameters.get(key) is not None]
        used += [f"--{key}" for key in ("processes", "merge") if options.get(key)]
        if used:
            raise ftdecide.UsageError(f"{', '.join(used)} cannot be used with {self.name} "
                                      "fine-tuning", hint="openai takes --epochs, --batch-size, "
                                      "--lr-multiplier, --seed and --suffix")
        suffix = options.get("suffix")
        if suffix is not None and len(str(suffix)) > SUFFIX_LIMIT:
            raise ftdecide.UsageError(f"--suffix {suffix!r} is {len(str(suffix))} characters; "
                                      f"{self.name} allows at most {SUFFIX_LIMIT}")
        warnings = []
        if self.base_url is None:
            warnings.append("OpenAI is winding down self-serve fine-tuning: no new jobs for "
                            f"anyone after {WIND_DOWN_END.isoformat()}")
        info = self.model_info(model)
        if info is not None and info.shutdown is not None:
            warnings.append(f"{info.id} shuts down on {info.shutdown.isoformat()}; its "
                            "fine-tunes stop serving with it")
        return warnings

    def start(self, request: ftdecide.TuneRequest, *,
              progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Upload the data once and create the job (``method`` supervised, our job id in
        ``metadata``); returns without waiting."""
        return finetune.start(self._api(), request, model=request.model, progress=progress)

    def status(self, job: str) -> ftdecide.JobState:
        return finetune.status(self._api(), job)

    def find_job(self, request: ftdecide.TuneRequest) -> ftdecide.JobState | None:
        return finetune.find_job(self._api(), request, model=request.model)

    def events(self, job: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return finetune.events(self._api(), job, limit=limit)

    def cancel(self, job: str) -> ftdecide.JobState:
        return finetune.cancel(self._api(), job)

    # -- Batch API ----------------------------------------------------------------------
    def batch_submit(self, requests: Sequence[tuple[str, Sequence[ftdecide.Message]]], *,
                     model: str, **params: Any) -> str:
        """One batch of chat requests (``/v1/chat/completions``); returns the batch id."""
        return batch.submit(self._api(), requests, model=model, params=params)

    def batch_poll(self, batch_id: str, *, model: str) -> ftdecide.BatchResult:
        """The batch now; completions at half the standard price (the catalog has no
        batch prices; see :mod:`ftdecide_openai.batch`)."""
        return batch.poll(self._api(), batch_id, info=self.model_info(model))

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
        def make(kwargs: dict[str, Any]) -> Any:
            import openai

            return openai.OpenAI(api_key=key, base_url=base_url, **kwargs)

        # A digest of the key, not the key, notices a change.
        return self._cached_client((base_url, shared.digest(key)), make), key


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
