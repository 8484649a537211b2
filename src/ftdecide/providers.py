"""The provider contract: what a plugin implements and the values it returns.

A provider is one object per backend (``openai``, ``azure``, ``hf`` ...). The
core asks it only for what it needs: ``catalog()`` for prices and limits,
``complete()`` for one chat completion, and, when it can fine-tune, the
optional ``start``/``status``/``cancel``/``events`` methods (DESIGN.md §3);
hosts that bill per hour add ``deploy``/``undeploy``, hosts with a batch API
``batch_submit``/``batch_poll``; providers with an embedding endpoint
``embed()`` (the ``similarity`` metric's vectors).
Values crossing the boundary are plain frozen dataclasses so that plugins and
the core agree on them without sharing anything private.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import InitVar, dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Protocol, Sequence

from ftdecide.options import Option, Scope, parse_options

Message = Mapping[str, Any]


def content_text(content: Any) -> str:
    """The text of a message's ``content``: a string as it is, a list of content parts
    joined (the ``text`` of each part), nothing for ``None``.

    Chat formats allow both shapes; every place that needs the plain text (token
    counting aside) uses this, so they all read a message the same way.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)
"""One chat message: ``{"role": ..., "content": ...}`` as in OpenAI chat JSONL."""


@dataclass(frozen=True)
class Usage:
    """Tokens of one call, as the provider reported them (never re-estimated)."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "cached_input_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Usage.{name} must be a non-negative int, got {value!r}")


@dataclass(frozen=True)
class Completion:
    """The answer to one ``complete()`` call.

    ``cost_usd`` is filled by the core from the catalog when the provider
    leaves it ``None``; a provider that knows its actual charge sets it.
    """

    text: str
    usage: Usage
    latency_s: float
    cost_usd: float | None = None
    model: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Embeddings:
    """The answer to one ``embed()`` call: one vector per text, in the order given.

    ``input_tokens`` is the usage the provider reported for the whole call
    (None when it reported none; the cost is then unknown, never 0).
    ``cost_usd`` is filled by the core from the catalog when left ``None``.
    """

    vectors: list[list[float]]
    input_tokens: int | None
    model: str | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class ModelInfo:
    """One model of a provider's catalog, with prices per 1M tokens (USD).

    Prices are ``None`` when unknown (the cost is then reported as unknown,
    never as 0), except that a model run on this machine (``hf``) is honestly 0 per token.
    ``ft_*`` prices are those of a fine-tuned model of this base;
    ``training_tiers`` holds per-tier training prices where a provider has
    several (Azure: ``global``, ``regional``, ``developer``).
    ``hosting_per_hour`` is what a deployed fine-tune costs per hour, used or
    not. ``shutdown`` is the date the provider stops serving the model (its
    fine-tunes stop with it). Every price carries ``as_of`` and ``source``.
    """

    id: str
    tunable: bool = False
    aliases: tuple[str, ...] = ()
    provider: str = ""
    training_per_1m: float | None = None
    training_tiers: Mapping[str, float] = field(default_factory=dict)
    input_per_1m: float | None = None
    cached_input_per_1m: float | None = None
    output_per_1m: float | None = None
    ft_input_per_1m: float | None = None
    ft_cached_input_per_1m: float | None = None
    ft_output_per_1m: float | None = None
    hosting_per_hour: float | None = None
    training_token_limit: int | None = None
    context_window: int | None = None
    encoding: str | None = None
    #: the model's parameter count where known (open weights): serving throughput scales with it
    parameters: int | None = None
    shutdown: _dt.date | None = None
    as_of: _dt.date | None = None
    source: str = ""
    notes: str = ""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def key(self) -> str:
        """``provider/id``, the spelling ``--model`` accepts everywhere."""
        return f"{self.provider}/{self.id}" if self.provider else self.id

    def replace(self, **changes: Any) -> "ModelInfo":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (dates as ISO strings)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _dt.date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


ModelInfo.FIELDS = tuple(f.name for f in dataclasses.fields(ModelInfo))


@dataclass(frozen=True)
class TuneRequest:
    """What ``ftdecide tune`` asks a provider to do; built by the core.

    The core has already validated the data (``train_path`` is chat JSONL),
    recorded the job in the store under ``job_id`` and created ``run_dir``,
    a folder the provider owns for this job (uploads' ids, logs,
    checkpoints, adapters). ``hyperparameters`` holds only what the user set
    (``epochs``, ``learning_rate``, ``batch_size``, ``lora_r``,
    ``max_length``, ``seed``, ``learning_rate_multiplier`` ...); the provider
    applies its own defaults and reports what it used in
    :attr:`JobState.hyperparameters`. ``options`` holds settings that are not
    hyperparameters (``suffix``, ``tier``, ``processes``, ``merge``).

    :attr:`uploads` is the core's record of files already uploaded (an
    :class:`UploadLog`, given as ``upload_log=``, or ``None``): a provider
    that uploads the training data looks there first so the same content is
    never uploaded twice. It is not a dataclass field, so the fields stay
    plain data that a provider may write to JSON.
    """

    job_id: str
    model: str
    train_path: str
    run_dir: str
    validation_path: str | None = None
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    upload_log: InitVar["UploadLog | None"] = None

    def __post_init__(self, upload_log: "UploadLog | None") -> None:
        object.__setattr__(self, "_upload_log", upload_log)

    @property
    def uploads(self) -> "UploadLog | None":
        return getattr(self, "_upload_log", None)


class UploadLog(Protocol):
    """Where the core remembers uploaded files (the job store implements it).

    ``account`` names the service the file lives on (a base URL or an Azure
    endpoint, never a key): a file id means nothing on another account.
    """

    def find_upload(self, *, provider: str, account: str, sha256: str,
                    purpose: str) -> str | None:
        """The file id of content ``sha256`` uploaded before, or ``None``."""

    def remember_upload(self, *, provider: str, account: str, sha256: str, purpose: str,
                        file_id: str, filename: str, size: int) -> None:
        """Record an upload (replacing an older record of the same content)."""

    def forget_upload(self, *, provider: str, account: str, file_id: str) -> None:
        """Drop a record whose file no longer exists on the service."""


@dataclass
class JobState:
    """A fine-tuning job as the provider sees it, after ``start``/``resume``/``status``.

    ``status`` is one of ``queued``, ``running``, ``interrupted`` (stopped
    with a checkpoint to resume from), ``succeeded``, ``failed``,
    ``cancelled``. ``fine_tuned_model`` is the id to use as
    ``provider/<id>`` once it succeeded. ``loss_curve`` rows are
    ``{"step": int, "train_loss": float, "valid_loss": float?}``.
    """

    status: str
    fine_tuned_model: str | None = None
    provider_job_id: str | None = None
    step: int | None = None
    total_steps: int | None = None
    loss_curve: list[dict[str, Any]] = field(default_factory=list)
    trained_tokens: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ProgressCallback = Callable[[JobState], None]
"""Called by a provider while a job runs (each logged step), for progress bars."""


@dataclass
class BatchResult:
    """A provider batch (:meth:`Provider.batch_poll`) as it stands.

    ``status`` is the provider's word (OpenAI: ``validating``,
    ``in_progress``, ``finalizing``, ``completed``, ``failed``, ``expired``,
    ``cancelling``, ``cancelled``); ``finished`` is True once nothing more
    will come. ``done`` of ``total`` requests have an answer or an error.
    When finished, ``completions`` and ``errors`` are keyed by the
    ``custom_id`` given to :meth:`Provider.batch_submit`; every id is in one
    of them (a batch that failed or expired puts the unanswered ids in
    ``errors``). Each completion's ``cost_usd`` is at the batch price;
    ``price_factor`` is that price over the standard one, so a caller with
    its own price overrides can reprice from ``usage``.
    """

    batch_id: str
    status: str
    finished: bool
    done: int = 0
    total: int = 0
    completions: dict[str, Completion] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    price_factor: float = 0.5
    error: str | None = None


class Provider:
    """Base class of every provider; subclass it in a plugin.

    Required: ``name`` (the part before ``/`` in ``--model``), ``catalog()``
    and ``complete()``. Everything else has a sensible default.

    Optional, for fine-tuning (a provider that has them says so through
    :meth:`can_tune`): ``start``, and either ``resume`` (local training,
    :attr:`runs_locally`) or ``status``/``cancel``/``events``/``find_job``
    (a remote service the core polls); for hosts that bill per hour,
    ``deploy``/``undeploy``; for hosts with a batch API, ``batch_submit``/
    ``batch_poll`` (:attr:`supports_batch_api`); for embedding endpoints,
    ``embed`` (:meth:`can_embed`).
    """

    name: ClassVar[str] = ""
    options: ClassVar[tuple[Option, ...]] = ()
    """The provider-specific settings it accepts (``-o KEY VALUE``): see :mod:`ftdecide.options`.
    Fine-tuning settings have ``scope="tune"``, answering settings ``scope="complete"``."""
    bare_ids: ClassVar[bool] = True
    """Whether a bare model id (no ``provider/``) may resolve to this provider
    when another provider offers the same id. A reseller of another maker's
    models (Azure OpenAI) sets False, so ``gpt-4o-mini`` means the maker's."""

    def catalog(self) -> Sequence[ModelInfo]:
        """The models this provider offers, with prices and limits."""
        return []

    def complete(self, messages: Sequence[Message], *, model: str, **params: Any) -> Completion:
        """One chat completion. ``params``: ``temperature``, ``max_tokens``, ``top_p``..."""
        raise NotImplementedError

    def model_info(self, model: str) -> ModelInfo | None:
        """Look ``model`` up by id or alias; ``None`` when unknown.

        Providers that accept ids outside their catalog (fine-tuned ids, any
        model on a self-hosted server) override this to describe them.
        """
        for info in self.catalog():
            if model == info.id or model in info.aliases:
                return info
        return None

    def complete_batch(self, batch: Sequence[Sequence[Message]], *, model: str,
                       **params: Any) -> list[Completion]:
        """Many completions; providers with a faster way (batched generation,
        a batch API) override it. Results are in the order of ``batch``."""
        return [self.complete(messages, model=model, **params) for messages in batch]

    # -- optional fine-tuning capability ------------------------------------
    uses_validation: ClassVar[bool] = True
    """Whether the provider trains with a validation file. When it does and the user gives
    none, the core holds out a seeded slice of the training set, so every tune reports a
    validation loss (see ``learned`` in the job summary). AutoTrain ignores one: False."""
    runs_locally: ClassVar[bool] = False
    """True when ``start`` trains in this process and returns when done
    (hf); False when it submits a job to a service and returns (openai)."""

    def prepare(self, dataset: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def estimate_training(self, model: str, *, stats: Mapping[str, Any],
                          hyperparameters: Mapping[str, Any],
                          options: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Provider-specific training estimate (e.g. GPU hours per hardware
        class for open weights) from ``validate``'s stats; None = token pricing.

        ``options``: the job's run options (``max_steps``, a time budget ...),
        passed only to an override that declares the parameter. A
        ``"warnings"`` list in the result is shown before the job starts."""
        return None

    def start(self, request: TuneRequest, *,
              progress: ProgressCallback | None = None) -> JobState:  # pragma: no cover
        """Start fine-tuning; see :attr:`runs_locally` for when it returns."""
        raise NotImplementedError

    def resume(self, request: TuneRequest, *,
               progress: ProgressCallback | None = None) -> JobState:  # pragma: no cover
        """Continue an ``interrupted`` job from its last checkpoint in ``run_dir``."""
        raise NotImplementedError

    def parse_options(self, given: Any, *, scope: Scope = "tune") -> dict[str, Any]:
        """``given`` (``-o`` pairs or a mapping) checked against :attr:`options`; raises
        :class:`~ftdecide.UsageError` naming the key and the accepted keys."""
        return parse_options(self.name, self.options, given, scope=scope)

    def endpoint(self) -> str | None:
        """Where this provider sends calls when that is not its own default service: a
        self-hosted server's base URL (credentials and query left out), else None.

        It is part of compare's answer cache key, so answers one server gave for a model
        name never stand in for another server's under the same name (vLLM and llama.cpp
        both serving ``llama-3.2-1b``, say)."""
        return None

    def model_available(self, model: str) -> bool | None:
        """Whether the (fine-tuned) model ``model`` can still answer: False when the provider
        says it is gone (deleted, its base shut down), None when that cannot be told. A
        finished tune is reused only while its model is available."""
        return None

    def check_tune_options(self, model: str, *, hyperparameters: Mapping[str, Any],
                           options: Mapping[str, Any]) -> list[str]:
        """Refuse settings this provider cannot use (raise :class:`~ftdecide.UsageError`)
        before anything is uploaded; return warnings to show (e.g. a tier's limits)."""
        return []

    def status(self, job: str) -> JobState:  # pragma: no cover - optional
        """The job ``job`` (the provider's job id) as it stands now, for remote providers.

        Transient failures (429, 5xx, timeouts) are retried inside with backoff
        honouring ``Retry-After``; what is raised after that is a
        :class:`~ftdecide.ProviderError` and the job keeps running.
        """
        raise NotImplementedError

    def find_job(self, request: TuneRequest) -> JobState | None:
        """The provider job created for ``request`` when its id was never recorded
        (a crash or a dropped connection during creation); ``None`` if there is none."""
        return None

    def events(self, job: str, *, limit: int = 100) -> list[dict[str, Any]]:  # pragma: no cover
        """The job's events, oldest first: ``{"created_at", "level", "type", "message", "data"}``."""
        raise NotImplementedError

    def cancel(self, job: str) -> JobState:  # pragma: no cover - optional
        """Cancel the provider job ``job``; returns its state after the request."""
        raise NotImplementedError

    def deploy(self, model: str, **options: Any) -> dict[str, Any]:  # pragma: no cover
        """Make a fine-tuned model servable where the host bills per hour (Azure).

        Returns ``{"name": deployment name, "state": ..., "tier": ...,
        "warnings": [...]}`` once provisioning finished.
        """
        raise NotImplementedError

    def undeploy(self, deployment: str, **options: Any) -> dict[str, Any]:  # pragma: no cover
        """Delete the deployment named ``deployment``; returns ``{"name", "state"}``."""
        raise NotImplementedError

    def can_tune(self) -> bool:
        """True when the subclass implements ``start`` (fine-tuning)."""
        return type(self).start is not Provider.start

    def embed(self, texts: Sequence[str], *, model: str) -> Embeddings:  # pragma: no cover
        """Embedding vectors of ``texts`` from the embedding model ``model``, one per text.

        Optional: the ``similarity`` metric uses it when the config names an
        embedding model of this provider (``similarity: {model: PROVIDER/ID}``).
        The texts are non-empty; a provider that limits how many texts one
        request takes splits them itself. Report the usage as the provider
        gave it, never an estimate.
        """
        raise NotImplementedError

    def can_embed(self) -> bool:
        """True when the subclass implements :meth:`embed`."""
        return type(self).embed is not Provider.embed

    def can_deploy(self) -> bool:
        """True when the subclass implements ``deploy`` (per-hour hosting)."""
        return type(self).deploy is not Provider.deploy

    # -- optional batch API ----------------------------------------------------------------
    supports_batch_api: ClassVar[bool] = False
    """True when :meth:`batch_submit`/:meth:`batch_poll` send requests through the
    provider's asynchronous batch API (cheaper, answered within hours)."""

    def batch_submit(self, requests: Sequence[tuple[str, Sequence[Message]]], *, model: str,
                     **params: Any) -> str:  # pragma: no cover - optional
        """Send (custom_id, messages) pairs as one provider batch; return the provider's batch id.

        Callers record the id at once and, after a crash, call :meth:`batch_poll`
        on it instead of submitting again.
        """
        raise NotImplementedError

    def batch_poll(self, batch_id: str, *, model: str) -> BatchResult:  # pragma: no cover
        """Status of a submitted batch; when finished, Completions by custom_id (cost at
        the batch price) and errors by custom_id."""
        raise NotImplementedError
