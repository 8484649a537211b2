"""ftdecide: should we fine-tune, and what will it cost?

This module is the public API: the functions that run the method from
Python (``validate``, ``estimate``, ``audit``, ``compare``, ``load_run``,
``assess``, ``tune``, see :mod:`ftdecide.api`) and what plugin authors
import. Everything here is stable; anything else is internal and may change
(a test fails when a first-party plugin imports anything else). Importing it
stays cheap: the Python API is loaded when one of its names is first used,
and the helpers below import what they need when they are called.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from ftdecide import paths
from ftdecide.epochs import cookbook_epochs
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
from ftdecide.retries import retry_after_seconds
from ftdecide.urls import url_without_credentials

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


# -- the Python API, loaded on first use --------------------------------------------------------
#: Names served from :mod:`ftdecide.api` (imported when first asked for).
_API = ("Assessment", "AuditReport", "Estimate", "Job", "Run", "ValidationReport", "assess",
        "audit", "compare", "estimate", "load_run", "tune", "validate")
#: API functions named like a subpackage (``ftdecide.compare`` is also the compare layer).
_SHARED = ("assess", "compare", "tune")


class _Entry:
    """``ftdecide.compare``, ``ftdecide.assess`` and ``ftdecide.tune``: the API function
    when called, the subpackage of the same name for everything else.

    Importing a subpackage sets it as an attribute of its parent, which would
    replace the function (``ftdecide.compare(...)`` would stop working once
    anything imported :mod:`ftdecide.compare`). The package's module class
    (:class:`_Package`) hands the subpackage to this entry instead, so both
    ``ftdecide.compare(example="triage")`` and ``import ftdecide.compare as cmp;
    cmp.run(...)`` work.
    """

    __slots__ = ("_name", "_module")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_module", None)

    def _sub(self) -> types.ModuleType:
        module = object.__getattribute__(self, "_module")
        if module is None:
            module = importlib.import_module(f"ftdecide.{object.__getattribute__(self, '_name')}")
            object.__setattr__(self, "_module", module)
        return module

    def _function(self) -> Any:
        from ftdecide import api

        return getattr(api, object.__getattribute__(self, "_name"))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self._function().__doc__

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(self._function())

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._sub(), attr)

    def __setattr__(self, attr: str, value: Any) -> None:
        setattr(self._sub(), attr, value)

    def __delattr__(self, attr: str) -> None:
        delattr(self._sub(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._sub())

    def __repr__(self) -> str:
        return f"<ftdecide.{object.__getattribute__(self, '_name')}: the API function and " \
               "the subpackage>"


class _Package(types.ModuleType):
    """The ``ftdecide`` module: keeps each :class:`_Entry` when its subpackage is imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        if isinstance(current, _Entry) and isinstance(value, types.ModuleType):
            object.__setattr__(current, "_module", value)
            return
        super().__setattr__(name, value)


def __getattr__(name: str) -> Any:
    if name in _API:
        from ftdecide import api

        return getattr(api, name)
    raise AttributeError(f"module 'ftdecide' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))


sys.modules[__name__].__class__ = _Package
for _name in _SHARED:
    _entry = _Entry(_name)
    if isinstance(globals().get(_name), types.ModuleType):  # imported before this line ran
        object.__setattr__(_entry, "_module", globals()[_name])
    globals()[_name] = _entry
del _name, _entry


__all__ = [
    "Assessment",
    "AuditReport",
    "Estimate",
    "Job",
    "Run",
    "ValidationReport",
    "assess",
    "audit",
    "compare",
    "estimate",
    "load_run",
    "tune",
    "validate",
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
    "cookbook_epochs",
    "retry_after_seconds",
    "url_without_credentials",
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
