"""ftdecide: should we fine-tune, and what will it cost?

This module is the public API plugin authors import. Everything here is
stable; anything else is internal and may change (a test fails when a
first-party plugin imports anything else). Importing it stays cheap: the
helpers below import what they need when they are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftdecide import paths
from ftdecide.errors import (
    AuthenticationError,
    DataError,
    FtdecideError,
    NotTunableError,
    PluginError,
    ProviderError,
    UnknownModelError,
    UsageError,
)
from ftdecide.options import Option
from ftdecide.plugins import hookimpl
from ftdecide.providers import (
    BatchResult,
    Completion,
    Embeddings,
    JobState,
    Message,
    ModelInfo,
    ProgressCallback,
    Provider,
    TuneRequest,
    UploadLog,
    Usage,
    content_text,
)

if TYPE_CHECKING:
    import os

    from ftdecide.data import Example

__version__ = "0.1.0"


def get_provider(name: str) -> Provider:
    """The loaded provider registered as ``name`` (``"hf"``, ``"openai"`` ...).

    Loads the installed plugins on first use. Raises :class:`UsageError`
    naming the installed providers when none has that name, so a plugin that
    builds on another (AutoTrain answers through ``hf``) can say what to install.
    """
    from .plugins import get_registry

    return get_registry().provider(name)


def has_provider(name: str) -> bool:
    """Whether a provider named ``name`` is loaded (without raising)."""
    from .plugins import get_registry

    return name in get_registry().providers()


def load_examples(path: "str | os.PathLike[str]", *, fmt: str | None = None,
                  limit: int | None = None) -> "list[Example]":
    """The examples of a training or eval file in any format ``ftdecide validate`` reads.

    Chat JSONL, prompt/completion JSONL and CSV all come back as chat
    messages (``Example(line, messages)``, ``line`` 1-based). Raises
    :class:`DataError` naming the file, line and problem on the first invalid
    record: a provider must not upload half a file.
    """
    from ftdecide.data import load_examples as _load

    return _load(path, fmt=fmt, limit=limit)


def read_price_file(path: "str | os.PathLike[str]", provider: str) -> list[ModelInfo]:
    """A plugin's model catalog from its own YAML price file (the format of ``--prices``).

    Each entry becomes a :class:`ModelInfo` of ``provider`` with its prices,
    limits, ``as_of`` date and ``source``; bad entries raise :class:`DataError`
    naming the file and key.
    """
    from .pricing._catalog import models_from_file

    return models_from_file(path, provider)


def load_hardware_table(*, user: bool = True) -> dict:
    """The dated hardware table (GPU classes: $/hour with ``as_of``/``source``, training and
    serving throughput), merged with the user's ``<config dir>/hardware.yaml``.

    One table prices open weights in hardware time for training (the hf plugin's estimate)
    and serving (``compare``'s ``serving:``). Raises :class:`UsageError` naming the user's
    file when it is invalid.
    """
    from .pricing._hardware import load_table

    return load_table(user=user)


__all__ = [
    "AuthenticationError",
    "BatchResult",
    "Completion",
    "DataError",
    "Embeddings",
    "FtdecideError",
    "JobState",
    "Message",
    "ModelInfo",
    "Option",
    "NotTunableError",
    "PluginError",
    "ProgressCallback",
    "Provider",
    "ProviderError",
    "TuneRequest",
    "UnknownModelError",
    "UploadLog",
    "Usage",
    "UsageError",
    "__version__",
    "content_text",
    "get_provider",
    "has_provider",
    "load_examples",
    "load_hardware_table",
    "read_price_file",
    "hookimpl",
    "paths",
]
