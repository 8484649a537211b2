"""Compatibility shim: the public names that used to be defined here.

Reading now lives in :mod:`ftdecide.data._read`, the per-example checks and
category names in :mod:`ftdecide.data._checks`, validation in
:mod:`ftdecide.data._validate` (with :mod:`ftdecide.data._tally` and
:mod:`ftdecide.data._parallel`). This module only re-exports the public API
for the modules that still do ``from ftdecide.data import _files as data``;
import from :mod:`ftdecide.data` instead. It holds no state: setting or
patching a name here changes nothing, so patch the module that holds it.
"""

from ftdecide.data import (
    ADVICE,
    ERROR_CATEGORIES,
    FORMATS,
    MAX_LINE_BYTES,
    WARNING_CATEGORIES,
    Example,
    ValidationReport,
    detect_format,
    iter_records,
    load_examples,
    to_chat_jsonl,
    validate,
)

__all__ = [
    "ADVICE",
    "ERROR_CATEGORIES",
    "FORMATS",
    "MAX_LINE_BYTES",
    "WARNING_CATEGORIES",
    "Example",
    "ValidationReport",
    "detect_format",
    "iter_records",
    "load_examples",
    "to_chat_jsonl",
    "validate",
]
