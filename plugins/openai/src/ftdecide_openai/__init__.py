"""ftdecide-openai: the ``openai`` provider (OpenAI and OpenAI-compatible servers).

Loaded by ftdecide through the ``ftdecide`` entry-point group. This module is
imported at every CLI start, so it stays light: the ``openai`` SDK is
imported only when a completion is first requested.
"""

from __future__ import annotations

from typing import Any, Callable

import ftdecide

from .provider import OpenAIProvider

__all__ = ["OpenAIProvider", "register_providers"]
__version__ = "0.1.0"


@ftdecide.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(OpenAIProvider())
