"""The model an assessment is about: ``costs.model`` resolved against the catalog, and tunable alternatives."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Mapping

from ftdecide.assess._evidence import Input
from ftdecide.errors import DataError, UnknownModelError, UsageError
from ftdecide.providers import ModelInfo


def resolve_model(catalog: Any, inputs: Mapping[str, Input]) -> ModelInfo:
    """``costs.model`` (under ``costs.provider`` when it names no provider), from the catalog."""
    model = inputs["costs.model"]
    provider = inputs.get("costs.provider")
    spec = str(model.value)
    if provider is not None and provider.value:
        if "/" in spec and spec.split("/", 1)[0] in getattr(catalog, "providers", {}) \
                and spec.split("/", 1)[0] != provider.value:
            raise DataError(f"costs.provider is {provider.value!r} but costs.model names "
                            f"{spec.split('/', 1)[0]!r} ({spec})", path=_path_of(provider.source),
                            key="costs.provider",
                            hint="drop costs.provider, or the provider part of costs.model")
        if "/" not in spec or spec.split("/", 1)[0] not in getattr(catalog, "providers", {}):
            spec = f"{provider.value}/{spec}"
            if provider.value not in getattr(catalog, "providers", {}):
                from ftdecide.plugins import missing_plugin_error

                installed = ", ".join(sorted(catalog.providers)) or "none"
                missing = missing_plugin_error(str(provider.value))
                raise DataError(f"costs.provider: {missing.message}" if missing else
                                f"costs.provider: no provider named {provider.value!r} is installed",
                                path=_path_of(provider.source), key="costs.provider",
                                hint=missing.hint if missing else
                                f"installed providers: {installed} (`ftdecide plugins`)")
    try:
        return catalog.resolve(spec)
    except UnknownModelError as exc:
        where = "" if _path_of(model.source) else f" ({model.source})"
        raise DataError(f"costs.model: unknown model {spec!r}{where}",
                        path=_path_of(model.source), hint=exc.hint, key="costs.model") from None
    except UsageError as exc:
        raise DataError(f"costs.model: {exc.message}", path=_path_of(model.source), hint=exc.hint,
                        key="costs.model") from None


def _settle_model(catalog: Any, inputs: dict[str, Input]) -> ModelInfo:
    """Resolve ``costs.model``; a run's model replaces the answer only when it is another model."""
    model = inputs["costs.model"]
    if not model.source.startswith("run "):
        return resolve_model(catalog, inputs)
    measured = {k: v for k, v in inputs.items() if k != "costs.provider"}  # the run names its provider
    info = resolve_model(catalog, measured)
    if model.overridden:
        try:
            answered = resolve_model(catalog, {**inputs, "costs.model": Input(model.answered, "answers")})
        except (DataError, UsageError):
            answered = None
        if answered is not None and answered.key == info.key:
            model.overridden, model.answered = False, None
    return info


def _path_of(source: str) -> str | None:
    return source[len("answers "):] if source.startswith("answers ") else None


def _family(model_id: str) -> str:
    """``gpt-4.1-mini-2025-04-14`` → ``gpt-4.1-mini``: the same model on another provider."""
    return re.sub(r"-\d{4}-\d{2}-\d{2}$", "", model_id.split(":")[0])


def alternatives(catalog: Any, info: ModelInfo, today: _dt.date, notices: Mapping[str, Any]
                 ) -> tuple[list[str], list[str]]:
    """Tunable models of the same provider, and of the others (same family first)."""
    def usable(m: ModelInfo) -> bool:
        if not m.tunable or (m.shutdown is not None and m.shutdown <= today):
            return False
        notice = notices.get(m.provider)
        return not (notice and notice.fine_tuning_closes and notice.fine_tuning_closes <= today)

    models = [m for m in catalog.models() if usable(m) and m.key != info.key]
    same = [m.key for m in models if m.provider == info.provider][:6]
    family = _family(info.id)
    others = [m for m in models if m.provider != info.provider]
    others.sort(key=lambda m: (_family(m.id) != family and family not in m.aliases, m.provider, m.id))
    per_provider: dict[str, int] = {}
    elsewhere = []
    for m in others:  # a few per provider, so open weights are named beside the hosted ones
        if per_provider.get(m.provider, 0) < 3:
            per_provider[m.provider] = per_provider.get(m.provider, 0) + 1
            elsewhere.append(m.key)
    return same, elsewhere


def stronger(catalog: Any, info: ModelInfo, today: _dt.date,
             notices: Mapping[str, Any]) -> str | None:
    """A stronger model to measure when this one cannot do the task: the next tunable model of
    the same provider by price (the catalog's best proxy for size), else the cheapest priced
    tunable model of another installed provider (a hosted model beside open weights)."""
    def usable(m: ModelInfo) -> bool:
        if not m.tunable or (m.shutdown is not None and m.shutdown <= today):
            return False
        notice = notices.get(m.provider)
        return not (notice and notice.fine_tuning_closes and notice.fine_tuning_closes <= today)

    def price(m: ModelInfo) -> float:
        return float(m.input_per_1m or 0.0)

    models = [m for m in catalog.models() if usable(m) and m.key != info.key]
    up = sorted((m for m in models if m.provider == info.provider and price(m) > price(info)),
                key=lambda m: (price(m), m.id))
    if up:
        return up[0].key
    hosted = sorted((m for m in models if m.provider != info.provider and price(m) > 0),
                    key=lambda m: (price(m), m.provider, m.id))
    return hosted[0].key if hosted else None
