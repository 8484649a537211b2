"""ftdecide: should we fine-tune, and what will it cost?

This module is the public API plugin authors import. Everything here is
stable; anything else is internal and may change.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    DataError,
    FtdecideError,
    NotTunableError,
    PluginError,
    ProviderError,
    UnknownModelError,
    UsageError,
)
from .plugins import hookimpl
from .providers import (
    BatchResult,
    Completion,
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
from . import paths

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BatchResult",
    "Completion",
    "DataError",
    "FtdecideError",
    "JobState",
    "Message",
    "ModelInfo",
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
    "hookimpl",
    "paths",
]
