"""Every hook a plugin may implement. This file is the hooks' reference.

Hooks take a ``register`` callback rather than returning values, so that the
core validates each object as it arrives, records which plugin registered
it, and can add keyword arguments later without breaking old plugins
(the pattern of simonw/llm's ``register_models``). Each hook is documented in
CONTRIBUTING.md; a test fails when one is not.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("ftdecide")


@hookspec
def register_providers(register: Callable[[Any], None]) -> None:
    """Register provider objects.

    :param register: call ``register(provider)`` once per provider, where
        ``provider`` is an instance of :class:`ftdecide.Provider` with a
        non-empty ``name`` made of lower-case letters, digits, ``-`` and ``_``.
        A name already taken by another plugin is refused with an error
        naming both plugins.
    :return: nothing; the return value is ignored. All implementations run.
    """


@hookspec
def register_metrics(register: Callable[..., None]) -> None:
    """Register quality metrics used to score an answer against the expected one.

    :param register: call ``register(name, function)`` where ``function`` is
        ``(expected: str, answer: str) -> float`` returning a score in
        ``[0, 1]``. ``name`` is what ``--metric`` accepts; lower-case letters,
        digits and ``-``. A name already registered is refused.
    :return: nothing; the return value is ignored. All implementations run.
    """
