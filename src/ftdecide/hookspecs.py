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
def register_commands(cli: Any) -> None:
    """Add the plugin's own commands to the ``ftdecide`` command line.

    :param cli: a :class:`click.Group`; add commands with ``@cli.command()``,
        ``@cli.group()`` or ``cli.add_command(command)``. They appear in
        ``ftdecide --help`` beside the core's commands. A name the core or
        another plugin already uses is skipped with a warning naming both.
        Keep the plugin's module import light: commands should import heavy
        modules when they run, since ``ftdecide --help`` loads every plugin.
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
