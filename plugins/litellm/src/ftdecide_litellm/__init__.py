"""ftdecide-litellm: the ``litellm`` provider (every chat provider LiteLLM supports).

Loaded by ftdecide through the ``ftdecide`` entry-point group. This module is
imported at every CLI start, so it stays light: LiteLLM is imported only
when a completion is first sent, and its price map is read as plain JSON
when the catalog is first asked for.
"""

from __future__ import annotations

from typing import Any, Callable

import ftdecide

from .provider import API_BASE_ENV, LiteLLMProvider

__all__ = ["API_BASE_ENV", "LiteLLMProvider", "register_providers"]
__version__ = "0.1.0"


@ftdecide.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(LiteLLMProvider())
