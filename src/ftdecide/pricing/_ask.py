"""``ask``: one completion through any provider, with usage, latency and cost."""

from __future__ import annotations

import time
from typing import Any

from ftdecide.errors import ProviderError
from ftdecide.pricing import _costs as costs
from ftdecide.pricing._catalog import Catalog


def ask_once(catalog: Catalog, model: str, prompt: str, *, system: str | None = None,
             options: Any = (), **params: Any) -> dict[str, Any]:
    """Resolve ``model``, send ``prompt``, and return a JSON-ready result.

    ``options`` are the provider's own answering settings (``-o`` pairs),
    checked against its schema before the call and passed on as parameters.
    """
    info = catalog.resolve(model)
    provider = catalog.providers[info.provider]
    params.update(provider.parse_options(options, scope="complete"))
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    params = {k: v for k, v in params.items() if v is not None}
    started = time.perf_counter()
    completion = provider.complete(messages, model=info.id, **params)
    wall = time.perf_counter() - started
    if completion is None or not hasattr(completion, "usage"):
        raise ProviderError(f"provider {info.provider!r} returned {completion!r}, not a Completion")
    cost = completion.cost_usd
    if cost is None:
        cost = costs.usage_cost(info, completion.usage)
    return {
        "model": info.key,
        "text": completion.text,
        "usage": {
            "input_tokens": completion.usage.input_tokens,
            "output_tokens": completion.usage.output_tokens,
            "cached_input_tokens": completion.usage.cached_input_tokens,
        },
        "latency_s": completion.latency_s if completion.latency_s else wall,
        "cost_usd": cost,
        "price_as_of": info.as_of.isoformat() if info.as_of else None,
    }
