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
* ``_audit_text``: what makes two prompts or two answers "the same" (uses
  ``_prompts``).
* ``_audit_search``: character n-gram TF-IDF vectors and the pruned, exact
  search for similar pairs (numpy/scipy, imported when called).
* ``_audit_labels``: label counts, trivial baselines (majority, chance) and
  :func:`min_detectable_diff`.
* ``_audit``: :func:`audit` and :class:`AuditReport`: leaks, conflicts, near
  duplicates, labels and power for a train (and eval) set.
"""

from ftdecide.data._audit import AuditReport, audit
from ftdecide.data._audit_labels import label_report, min_detectable_diff
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
    "AuditReport",
    "ERROR_CATEGORIES",
    "FORMATS",
    "MAX_LINE_BYTES",
    "WARNING_CATEGORIES",
    "Example",
    "ValidationReport",
    "detect_format",
    "audit",
    "iter_records",
    "label_report",
    "load_examples",
    "min_detectable_diff",
    "to_chat_jsonl",
    "validate",
]
