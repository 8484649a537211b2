"""Training and eval data: reading every supported format, validation, tokens.

Import the public names from here. The modules behind them, lowest first;
each imports only modules above it in this list, never one below:

* ``_tokens``: offline token counting with the encodings shipped as package data.
* ``_checks``: the cookbook's checks of one example; the error and warning
  category names and the advice shown for each.
* ``_read``: reading chat JSONL, prompt/completion JSONL and CSV into chat
  examples, one record at a time (:func:`load_examples`, :func:`iter_records`,
  :func:`detect_format`, :func:`to_chat_jsonl`).
* ``_tally``: what validating a file accumulates, shared by the two ways of
  validating.
* ``_parallel``: validating a big JSONL file on several processes.
* ``_validate``: :func:`validate` and :class:`ValidationReport`.
* ``_prompts``: prompt builders (stands alone).
"""

from ftdecide.data._checks import ADVICE, ERROR_CATEGORIES, WARNING_CATEGORIES
from ftdecide.data._read import (
    FORMATS,
    MAX_LINE_BYTES,
    Example,
    detect_format,
    iter_records,
    load_examples,
    to_chat_jsonl,
)
from ftdecide.data._validate import ValidationReport, validate

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
