"""ftdecide-autotrain: the ``autotrain`` provider (Hugging Face AutoTrain Advanced, driven safely).

Loaded by ftdecide through the ``ftdecide`` entry-point group at every CLI
start, so importing it is light: no AutoTrain, torch or transformers here;
AutoTrain runs as a separate executable in its own environment
(:mod:`ftdecide_autotrain.env`).
"""

from __future__ import annotations

from typing import Any, Callable

import ftdecide

from .provider import AutoTrainProvider

__all__ = ["AutoTrainProvider", "register_commands", "register_providers"]
__version__ = "0.1.0"


@ftdecide.hookimpl
def register_providers(register: Callable[[Any], None]) -> None:
    register(AutoTrainProvider())


@ftdecide.hookimpl
def register_commands(cli: Any) -> None:
    """``ftdecide autotrain setup|status``: the environment AutoTrain runs from."""
    from .commands import autotrain

    cli.add_command(autotrain)
