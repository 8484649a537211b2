"""ftdecide-hf-trl: the ``hf`` provider (local transformers inference, TRL LoRA fine-tuning).

Loaded by ftdecide through the ``ftdecide`` entry-point group at every CLI
start, so this module stays light: torch, transformers, peft and TRL are
imported only when a model is first loaded or trained.
"""

from __future__ import annotations

from typing import Any, Callable

import ftdecide

from .provider import HFProvider

__all__ = ["HFProvider", "register_providers"]
__version__ = "0.1.0"


@ftdecide.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(HFProvider())
