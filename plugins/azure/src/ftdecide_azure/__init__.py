"""ftdecide-azure: the ``azure`` provider (Azure OpenAI).

Loaded by ftdecide through the ``ftdecide`` entry-point group. Kept light:
the ``openai`` SDK (and ``azure-identity``) are imported only when a
completion is first requested.
"""

from __future__ import annotations

from typing import Any, Callable

import ftdecide

from .provider import AzureOpenAIProvider

__all__ = ["AzureOpenAIProvider", "register_providers"]
__version__ = "0.1.0"


@ftdecide.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(AzureOpenAIProvider())
