"""The provider contract: what a plugin implements and the values it returns.

A provider is one object per backend (``openai``, ``azure``, ``hf`` ...). The
core asks it only for what it needs: ``catalog()`` for prices and limits,
``complete()`` for one chat completion, and, when it can fine-tune, the
optional ``prepare``/``start``/``status``/``cancel`` methods (DESIGN.md §3).
Values crossing the boundary are plain frozen dataclasses so that plugins and
the core agree on them without sharing anything private.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

Message = Mapping[str, Any]
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
class ModelInfo:
    """One model of a provider's catalog, with prices per 1M tokens (USD).

    Prices are ``None`` when unknown (the cost is then reported as unknown,
    never as 0), except that a local or self-hosted model is honestly 0.
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


class Provider:
    """Base class of every provider; subclass it in a plugin.

    Required: ``name`` (the part before ``/`` in ``--model``), ``catalog()``
    and ``complete()``. Everything else has a sensible default.

    Optional, for fine-tuning (a provider that has them says so through
    :meth:`can_tune`): ``prepare(dataset)``, ``start(spec)``, ``status(job)``,
    ``cancel(job)``; for hosts that bill per hour, ``deploy``/``undeploy``.
    Their exact types are fixed by the issues that first use them (``tune``).
    """

    name: ClassVar[str] = ""
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

    # -- optional fine-tuning capability ------------------------------------
    def prepare(self, dataset: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def start(self, spec: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def status(self, job: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def cancel(self, job: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def deploy(self, model: str, **options: Any) -> Any:  # pragma: no cover - optional
        """Make a fine-tuned model servable where the host bills per hour (Azure)."""
        raise NotImplementedError

    def undeploy(self, deployment: Any) -> Any:  # pragma: no cover - optional
        raise NotImplementedError

    def can_tune(self) -> bool:
        """True when the subclass implements ``start`` (fine-tuning)."""
        return type(self).start is not Provider.start
