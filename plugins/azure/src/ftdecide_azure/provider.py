"""The ``azure`` provider: Azure OpenAI chat completions through ``openai.AzureOpenAI``.

Configuration (read when first needed, never at import):

- ``AZURE_OPENAI_ENDPOINT`` (or the ``endpoint`` constructor argument):
  ``https://RESOURCE.openai.azure.com``.
- ``AZURE_OPENAI_API_KEY``: the resource key (sent as the ``api-key`` header).
- ``OPENAI_API_VERSION`` (or ``api_version``): the data-plane API version,
  default :data:`DEFAULT_API_VERSION`.
- ``FTDECIDE_AZURE_AUTH=entra``: authenticate with Microsoft Entra ID
  (``azure-identity``'s ``DefaultAzureCredential``) instead of a key; needs
  ``pip install 'ftdecide-azure[entra]'``.

``model`` in ``complete()`` is the *deployment* name. Pricing
(:meth:`AzureOpenAIProvider.model_info`) knows only catalog ids and aliases;
mapping other deployment names to catalog models is not implemented yet.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Callable, Sequence

import ftdecide
from ftdecide_openai import shared

ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
API_KEY_ENV = "AZURE_OPENAI_API_KEY"
API_VERSION_ENV = "OPENAI_API_VERSION"
AUTH_ENV = "FTDECIDE_AZURE_AUTH"
#: The GA data-plane version used when ``OPENAI_API_VERSION`` is unset
#: (chat completions and fine-tuning are both available in it).
DEFAULT_API_VERSION = "2024-10-21"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"


class AzureOpenAIProvider(ftdecide.Provider):
    """Azure OpenAI through the official ``openai`` SDK (``AzureOpenAI`` client)."""

    name = "azure"
    # Azure resells OpenAI's models: a bare "gpt-4o-mini" means OpenAI's;
    # Azure is chosen with "azure/gpt-4o-mini".
    bare_ids = False

    def __init__(self, endpoint: str | None = None, *, api_version: str | None = None,
                 timeout: float | None = None, max_retries: int | None = None) -> None:
        self._endpoint = endpoint
        self._api_version = api_version
        self.timeout = timeout
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_config: tuple[Any, ...] | None = None

    def __repr__(self) -> str:
        return f"AzureOpenAIProvider(endpoint={self.endpoint!r})"

    @property
    def endpoint(self) -> str | None:
        return self._endpoint or shared.env(ENDPOINT_ENV)

    @property
    def api_version(self) -> str:
        return self._api_version or shared.env(API_VERSION_ENV) or DEFAULT_API_VERSION

    # -- catalog ---------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        return shared.package_catalog("ftdecide_azure", self.name)

    # model_info: the base class's lookup by id or alias. A deployment name
    # that is neither is unknown (priced only through a price file for now).

    # -- completions -------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion on the deployment named ``model``."""
        client, secrets, credential = self._get_client()
        return shared.chat_complete(
            client, messages, model=model, params=params,
            service=f"Azure OpenAI at {self.endpoint}", credential=credential, secrets=secrets,
        )

    def _auth_mode(self) -> str:
        mode = (shared.env(AUTH_ENV) or "key").lower()
        if mode not in ("key", "entra"):
            raise ftdecide.UsageError(f"{AUTH_ENV}={mode!r} is not a known authentication mode",
                                      hint=f"use {AUTH_ENV}=key (default) or {AUTH_ENV}=entra")
        return mode

    def _get_client(self) -> tuple[Any, list[str], str]:
        """The SDK client, its secrets (for scrubbing) and what a 401 should point at.

        Every missing setting is reported before any network.
        """
        mode = self._auth_mode()
        endpoint = self.endpoint
        key = shared.env(API_KEY_ENV) if mode == "key" else None
        missing = [ENDPOINT_ENV] if endpoint is None else []
        if mode == "key" and key is None:
            missing.append(API_KEY_ENV)
        if missing:
            raise ftdecide.AuthenticationError(
                " and ".join(missing) + (" is" if len(missing) == 1 else " are") + " not set",
                hint=f"export {ENDPOINT_ENV}=https://RESOURCE.openai.azure.com and "
                f"{API_KEY_ENV}=… (Azure portal → the resource → Keys and Endpoint), "
                f"or {AUTH_ENV}=entra to sign in with Entra ID",
            )
        assert endpoint is not None
        digest = hashlib.sha256(key.encode()).hexdigest() if key else None
        config = (mode, endpoint, digest, self.api_version, self.timeout, self.max_retries)
        with self._lock:
            if self._client is None or self._client_config != config:
                import openai

                kwargs: dict[str, Any] = {"azure_endpoint": endpoint,
                                          "api_version": self.api_version}
                if mode == "entra":
                    kwargs["azure_ad_token_provider"] = _entra_token_provider()
                else:
                    kwargs["api_key"] = key
                if self.timeout is not None:
                    kwargs["timeout"] = self.timeout
                if self.max_retries is not None:
                    kwargs["max_retries"] = self.max_retries
                self._client = openai.AzureOpenAI(**kwargs)
                self._client_config = config
            client = self._client
        credential = API_KEY_ENV if mode == "key" else f"the Entra ID sign-in ({AUTH_ENV}=entra)"
        return client, [key] if key else [], credential


def _entra_token_provider() -> Callable[[], str]:
    """A bearer-token callable from ``DefaultAzureCredential``; failures become AuthenticationError."""
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ftdecide.AuthenticationError(
            f"{AUTH_ENV}=entra needs the azure-identity package, which is not installed",
            hint="pip install 'ftdecide-azure[entra]', or unset "
            f"{AUTH_ENV} and use {API_KEY_ENV}",
        ) from None
    inner = get_bearer_token_provider(DefaultAzureCredential(), ENTRA_SCOPE)

    def token() -> str:
        try:
            return inner()
        except Exception as exc:  # azure.core's ClientAuthenticationError and friends
            raise ftdecide.AuthenticationError(
                f"could not get an Entra ID token: {type(exc).__name__}",
                hint="sign in (`az login`) or configure a managed identity; "
                "DefaultAzureCredential's log says which sources it tried",
            ) from None

    return token
