"""The ``azure`` provider: Azure OpenAI through ``openai.AzureOpenAI``.

Chat completions, fine-tuning (``ftdecide tune --model azure/...``), the
Batch API, and deploy/undeploy of fine-tuned models through Azure Resource
Manager (:mod:`ftdecide_azure.arm`).

Configuration (read when first needed, never at import):

- ``AZURE_OPENAI_ENDPOINT`` (or the ``endpoint`` constructor argument):
  ``https://RESOURCE.openai.azure.com``.
- ``AZURE_OPENAI_API_KEY``: the resource key (sent as the ``api-key`` header).
- ``OPENAI_API_VERSION`` (or ``api_version``): the data-plane API version,
  default :data:`DEFAULT_API_VERSION`.
- ``FTDECIDE_AZURE_AUTH=entra``: authenticate with Microsoft Entra ID
  (``azure-identity``'s ``DefaultAzureCredential``) instead of a key; needs
  ``pip install 'ftdecide-azure[entra]'``. A ``token_provider`` constructor
  argument (a callable returning a bearer token) does the same without it.
- Deployments: see :mod:`ftdecide_azure.arm` (subscription, resource group,
  account, ARM URL and token).

``model`` in ``complete()`` is the *deployment* name. Pricing
(:meth:`AzureOpenAIProvider.model_info`) knows catalog ids and aliases, and
fine-tuned model ids (``BASE.ft-…``, which ``ftdecide jobs deploy`` uses as
the deployment name by default), priced at the base's rates: Azure bills
fine-tuned inference at base-model token rates, plus hosting per hour.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Callable, Mapping, Sequence

import ftdecide
from ftdecide import Option
from ftdecide_openai import batch, finetune, shared
from ftdecide_openai.provider import HF_ONLY

from . import arm

ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
API_KEY_ENV = "AZURE_OPENAI_API_KEY"
API_VERSION_ENV = "OPENAI_API_VERSION"
AUTH_ENV = "FTDECIDE_AZURE_AUTH"
#: The GA data-plane version used when ``OPENAI_API_VERSION`` is unset
#: (chat completions, files, fine-tuning and batches are all available in it).
DEFAULT_API_VERSION = "2024-10-21"
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
#: ftdecide's tier names → Azure's ``trainingType``.
TRAINING_TYPES = {"global": "globalstandard", "regional": "standard",
                  "developer": "developerTier"}
#: When no --tier is given: the tier whose price ``estimate`` shows by default.
DEFAULT_TIER = "global"
SUFFIX_LIMIT = 18
DEVELOPER_TIER_HOURS = 24
IDLE_DELETION_DAYS = 15
_DATED = re.compile(r"\d{4}-\d{2}-\d{2}$")
_FINE_TUNED = re.compile(r"^(?P<base>.+?)\.ft-[0-9a-f]{8,}")


class AzureOpenAIProvider(shared.SDKProvider):
    """Azure OpenAI through the official ``openai`` SDK (``AzureOpenAI`` client)."""

    name = "azure"
    # Azure resells OpenAI's models: a bare "gpt-4o-mini" means OpenAI's;
    # Azure is chosen with "azure/gpt-4o-mini".
    bare_ids = False
    supports_batch_api = True
    options = (
        Option("suffix", str, f"added to the fine-tuned model's name (at most {SUFFIX_LIMIT} "
               "characters)"),
        Option("learning_rate_multiplier", float, "multiplies the provider's learning rate",
               positive=True, hyperparameter=True, aliases=("lr_multiplier",)),
        Option("tier", str, "training tier", choices=tuple(TRAINING_TYPES), default=DEFAULT_TIER),
    )

    def __init__(self, endpoint: str | None = None, *, api_version: str | None = None,
                 timeout: float | None = None, max_retries: int | None = None,
                 token_provider: Callable[[], str] | None = None,
                 arm_token_provider: Callable[[], str] | None = None) -> None:
        super().__init__(timeout=timeout, max_retries=max_retries)
        self._endpoint = endpoint
        self._api_version = api_version
        self._token_provider = token_provider
        self._arm_token_provider = arm_token_provider

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

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """A catalog id or alias, or a fine-tuned id ``BASE.ft-…`` (priced at BASE's rates,
        with its hosting per hour). Other deployment names are unknown."""
        info = super().model_info(model)
        if info is not None:
            return info
        match = _FINE_TUNED.match(model)
        base = super().model_info(match.group("base")) if match else None
        if base is None:
            return None
        return base.replace(
            id=model, tunable=False, aliases=(), training_per_1m=None, training_tiers={},
            notes=f"fine-tune of {base.id}: Azure bills its tokens at the base rates, and "
            f"about ${base.hosting_per_hour or 0:.2f}/h while deployed")

    # -- clients -------------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion on the deployment named ``model``."""
        api = self._api()
        return shared.chat_complete(api.client, messages, model=model, params=params,
                                    service=api.service, credential=api.credential,
                                    secrets=api.secrets)

    def _api(self) -> finetune.Api:
        client, secrets, credential = self._get_client()
        endpoint = self.endpoint or ""
        return finetune.Api(client=client, provider=self.name,
                            service=f"Azure OpenAI at {endpoint}", credential=credential,
                            account=shared.account_of(endpoint), secrets=secrets,
                            job_metadata=False, strip_bom=True)

    def _auth_mode(self) -> str:
        if self._token_provider is not None:
            return "entra"
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
        api_version = self.api_version

        def make(kwargs: dict[str, Any]) -> Any:
            import openai

            if mode == "entra":
                kwargs["azure_ad_token_provider"] = self._token_provider or _entra_token_provider()
            else:
                kwargs["api_key"] = key
            return openai.AzureOpenAI(azure_endpoint=endpoint, api_version=api_version, **kwargs)

        client = self._cached_client(
            (mode, endpoint, shared.digest(key), api_version, id(self._token_provider)), make)
        credential = API_KEY_ENV if mode == "key" else f"the Entra ID sign-in ({AUTH_ENV}=entra)"
        return client, [key] if key else [], credential

    # -- fine-tuning -----------------------------------------------------------------
    def check_tune_options(self, model: str, *, hyperparameters: Mapping[str, Any],
                           options: Mapping[str, Any]) -> list[str]:
        """Refuse hf-only settings, an unknown tier and a suffix over 18 characters
        (before anything is uploaded); warn of the hosting rules."""
        used = [flag for key, flag in HF_ONLY.items() if hyperparameters.get(key) is not None]
        used += [f"--{key}" for key in ("processes", "merge") if options.get(key)]
        if used:
            raise ftdecide.UsageError(f"{', '.join(used)} cannot be used with azure "
                                      "fine-tuning", hint="azure takes --epochs, --batch-size, "
                                      "--lr-multiplier, --seed, --suffix and --tier")
        suffix = options.get("suffix")
        if suffix is not None and len(str(suffix)) > SUFFIX_LIMIT:
            raise ftdecide.UsageError(
                f"--suffix {suffix!r} is {len(str(suffix))} characters; Azure OpenAI allows at "
                f"most {SUFFIX_LIMIT}")
        tier = options.get("tier") or DEFAULT_TIER
        if tier not in TRAINING_TYPES:
            raise ftdecide.UsageError(f"unknown --tier {tier!r}",
                                      hint="azure tiers: " + ", ".join(TRAINING_TYPES))
        warnings = [f"a deployed fine-tune bills by the hour whether used or not, and Azure "
                    f"deletes a deployment idle for {IDLE_DELETION_DAYS} days"]
        if tier == "developer":
            warnings.append(f"Developer tier: no hosting fee, but Azure deletes the deployment "
                            f"{DEVELOPER_TIER_HOURS} hours after it is created")
        return warnings

    def _training_model(self, model: str) -> str:
        """The model name Azure's fine-tuning API wants: the dated id (``gpt-4o-mini-2024-07-18``)."""
        info = super().model_info(model)
        if info is None:
            return model
        if _DATED.search(info.id):
            return info.id
        return next((a for a in info.aliases if _DATED.search(a)), info.id)

    def start(self, request: ftdecide.TuneRequest, *,
              progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Upload the data once (BOM stripped) and create the job with its ``trainingType``."""
        tier = request.options.get("tier") or DEFAULT_TIER
        return finetune.start(self._api(), request, model=self._training_model(request.model),
                              extra_body={"trainingType": TRAINING_TYPES[tier]},
                              progress=progress)

    def status(self, job: str) -> ftdecide.JobState:
        return finetune.status(self._api(), job)

    def find_job(self, request: ftdecide.TuneRequest) -> ftdecide.JobState | None:
        """By training file and model: Azure jobs carry no metadata."""
        return finetune.find_job(self._api(), request, model=self._training_model(request.model))

    def events(self, job: str, *, limit: int = 100) -> list[dict[str, Any]]:
        return finetune.events(self._api(), job, limit=limit)

    def cancel(self, job: str) -> ftdecide.JobState:
        return finetune.cancel(self._api(), job)

    # -- deployments (ARM) --------------------------------------------------------------
    def _arm(self) -> arm.Client:
        token = self._arm_token_provider or arm.token_provider()
        return arm.Client(arm.settings(self.endpoint), token)

    def deploy(self, model: str, *, name: str | None = None, tier: str | None = None,
               progress: Callable[[dict[str, Any]], None] | None = None,
               **options: Any) -> dict[str, Any]:
        """Deploy the fine-tuned ``model`` (default name: the model id, cut to 64) and wait
        until it is provisioned; ``tier``: global (default), regional or developer."""
        tier = tier or DEFAULT_TIER
        if tier not in arm.SKUS:
            raise ftdecide.UsageError(f"unknown deployment tier {tier!r}",
                                      hint="azure tiers: " + ", ".join(arm.SKUS))
        name = name or arm.deployment_name(model)
        client = self._arm()
        result = arm.deploy(client, model=model, name=name, tier=tier, progress=progress)
        warnings = [f"Azure deletes a deployment that is idle for {IDLE_DELETION_DAYS} days"]
        if tier == "developer":
            ends = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(hours=DEVELOPER_TIER_HOURS)
            warnings.insert(0, f"Developer tier: no hosting fee, but Azure deletes this "
                            f"deployment after {DEVELOPER_TIER_HOURS} hours (about "
                            f"{ends.isoformat(timespec='minutes')})")
        else:
            warnings.insert(0, "hosting is billed every hour until you undeploy, used or not")
        return {**result, "warnings": warnings}

    def undeploy(self, deployment: str, *,
                 progress: Callable[[dict[str, Any]], None] | None = None,
                 **options: Any) -> dict[str, Any]:
        return arm.undeploy(self._arm(), name=deployment, progress=progress)

    # -- Batch API ----------------------------------------------------------------------
    def batch_submit(self, requests: Sequence[tuple[str, Sequence[ftdecide.Message]]], *,
                     model: str, **params: Any) -> str:
        """One batch on the (global batch) deployment ``model``; returns the batch id."""
        return batch.submit(self._api(), requests, model=model, params=params,
                            url="/chat/completions")

    def batch_poll(self, batch_id: str, *, model: str) -> ftdecide.BatchResult:
        """The batch now; completions at half the standard price (see ftdecide_openai.batch)."""
        return batch.poll(self._api(), batch_id, info=self.model_info(model))


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
