"""An in-process provider for core tests: :class:`FakeProvider`, :class:`FakePlugin`, ``fake_plugin``.

Registered through the real plugin manager (``registry.add_plugin(fake_plugin)``);
no HTTP, no network.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ftdecide.errors import ProviderError
from ftdecide.plugins import hookimpl
from ftdecide.providers import Completion, Message, ModelInfo, Provider, Usage
from ftdecide.testing._chat import echo_last_user

__all__ = ["FakePlugin", "FakeProvider", "fake_plugin"]


class FakeProvider(Provider):
    """A deterministic offline provider named ``fake``.

    Catalog: ``fake-small`` (untunable) and ``fake-tunable`` (tunable), with
    small made-up prices. ``complete()`` answers with ``responder(messages,
    model)`` (default: echo the last user message), counts tokens offline and
    records each call in ``calls``.
    """

    name = "fake"
    AS_OF = "2026-11-01"

    def __init__(self, responder: Callable[[Sequence[Message], str], str] | None = None) -> None:
        self.responder = responder or (lambda messages, model: echo_last_user(
            {"messages": list(messages)}))
        self.calls: list[dict[str, Any]] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def catalog(self) -> list[ModelInfo]:
        import datetime as _dt

        as_of = _dt.date.fromisoformat(self.AS_OF)
        common = dict(provider=self.name, as_of=as_of, source="ftdecide.testing",
                      encoding="o200k_base", context_window=8192)
        return [
            ModelInfo(id="fake-small", tunable=False, aliases=("small",),
                      input_per_1m=0.10, cached_input_per_1m=0.05, output_per_1m=0.20,
                      notes="test model", **common),
            ModelInfo(id="fake-tunable", tunable=True, training_per_1m=1.00,
                      input_per_1m=0.20, cached_input_per_1m=0.10, output_per_1m=0.40,
                      ft_input_per_1m=0.30, ft_cached_input_per_1m=0.15, ft_output_per_1m=0.60,
                      training_token_limit=4096, notes="test model", **common),
        ]

    def complete(self, messages: Sequence[Message], *, model: str, **params: Any) -> Completion:
        from ftdecide.data._tokens import count_messages, count_texts

        if self.model_info(model) is None and not model.startswith("ft:"):
            raise ProviderError(f"fake provider has no model {model!r}")
        self.calls.append({"messages": list(messages), "model": model, "params": dict(params)})
        text = self.responder(messages, model)
        usage = Usage(input_tokens=count_messages(list(messages)),
                      output_tokens=count_texts([text])[0])
        return Completion(text=text, usage=usage, latency_s=0.0, model=model)


class FakePlugin:
    """A plugin object registering one :class:`FakeProvider` (``.provider``)."""

    def __init__(self, provider: FakeProvider | None = None, name: str = "fake") -> None:
        self.provider = provider or FakeProvider()
        self.__name__ = name  # the plugin name Registry.add_plugin records

    @hookimpl
    def register_providers(self, register: Callable[[Any], None]) -> None:
        register(self.provider)


fake_plugin = FakePlugin()
"""Ready to use: ``registry.add_plugin(fake_plugin)``."""
