"""The cookbook's checks of one example, and the names of what they can find.

Every reader (chat JSONL, prompt/completion JSONL, CSV; see
:mod:`ftdecide.data._read`) converts a record to chat messages and hands them
to :func:`_check`, so every format shares one set of rules and one set of
category names. These rules are about an example's content, not about bytes
or formats, which is why they live apart from the readers; the category
names and :data:`ADVICE` are also what the CLI and DataError hints show.

Validation mirrors the OpenAI cookbook's data-prep notebook (see
``reference/providers.md`` §2) with these choices, made so that each problem
is reported once, under the name a user can act on:

* ``message_missing_key``: a message lacks ``role`` or ``content``. Such a
  message is *not* also reported as ``missing_content`` (content absent) or
  ``unrecognized_role`` (role absent): the cookbook double-counts these.
* ``missing_content``: ``content`` is present but not a string, or it is
  empty and there is no ``function_call`` (the cookbook's exact test,
  ``(not content and not function_call) or not isinstance(content, str)``).
* ``data_type``: the line is valid JSON but not an object, *or* an element of
  ``messages`` is not an object (the same mistake one level down).
* ``missing_messages_list``: no ``messages`` key, or it is not a non-empty list.
* ``invalid_weight``: ``weight`` is not exactly 0 or 1 (booleans rejected),
  or is set on a message whose role is not ``assistant``.
* ``invalid_json``: the record cannot be parsed: bad JSON, ``NaN``/
  ``Infinity`` (not JSON, and rejected by the API), nesting too deep for the
  parser, a line over ``MAX_LINE_BYTES`` (see :mod:`ftdecide.data._read`), or
  a CSV record the ``csv`` module rejects (the category list is fixed, and
  the fix is the same: repair the syntax of that line).
* ``encoding_error``: the line is not UTF-8, or it decodes to text with a
  lone surrogate (``"\\ud800"`` escapes), which cannot be uploaded as UTF-8.
  Such a line gets no other category: its content cannot be trusted.

File-level errors carry an empty line list: ``empty_file`` (no records: no
non-blank line, or a CSV with nothing under its header) and
``too_few_examples`` (fewer valid examples than ``min_examples``; not
reported for an empty file). ``few_examples`` (a warning) is reported only
when ``too_few_examples`` is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ADVICE", "ERROR_CATEGORIES", "WARNING_CATEGORIES", "advice", "explain"]

ERROR_CATEGORIES = (
    "data_type",
    "missing_messages_list",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
    "invalid_json",
    "invalid_weight",
    "encoding_error",
    "empty_file",
    "too_few_examples",
)
WARNING_CATEGORIES = (
    "duplicate_example",
    "over_token_limit",
    "bom",
    "few_examples",
    "missing_system_message",
    "missing_user_message",
)

#: What to do about each category, one line, for the CLI and DataError hints.
ADVICE: dict[str, str] = {
    "data_type": "each line must be one JSON object, and each entry of messages an object",
    "missing_messages_list": 'give each line a non-empty list: {"messages": [...]}',
    "message_missing_key": 'every message needs both "role" and "content"',
    "message_unrecognized_key": "messages may only have role, content, name, function_call, weight",
    "unrecognized_role": "role must be system, user, assistant or function",
    "missing_content": "content must be a non-empty string",
    "example_missing_assistant_message": "each example needs at least one assistant message",
    "invalid_json": "fix the JSON (or CSV) syntax of that line; one example per line",
    "invalid_weight": "weight must be 0 or 1, and only on assistant messages",
    "encoding_error": "save the file as UTF-8 (no lone surrogate \\ud800-\\udfff escapes)",
    "empty_file": "the file has no examples",
    "too_few_examples": "fine-tuning needs at least 10 valid examples",
    "duplicate_example": "the same example appears earlier in the file; remove the repeat",
    "over_token_limit": "the example is longer than the model's limit and will be truncated",
    "bom": "the file starts with a UTF-8 byte-order mark; it was ignored",
    "few_examples": "OpenAI recommends starting with 50 to 100 examples",
    "missing_system_message": "examples without a system message (fine if intended)",
    "missing_user_message": "examples without a user message",
}

#: The same advice in the terms of the other formats, where chat's words would mislead
#: (a CSV has rows and columns, a prompt/completion line has no "role").
FORMAT_ADVICE: dict[str, dict[str, str]] = {
    "prompt-completion": {
        "data_type": 'each line must be one JSON object: {"prompt": "...", "completion": "..."}',
        "message_missing_key": 'every line needs both "prompt" and "completion"',
        "missing_content": '"prompt" and "completion" must be non-empty strings',
        "invalid_json": 'fix the JSON syntax of that line; one {"prompt", "completion"} '
                        "object per line",
        "missing_system_message": "prompt/completion examples carry no system message "
                                  "(fine if intended)",
    },
    "csv": {
        "message_missing_key": "every row needs a cell in both the prompt and the completion "
                               "column",
        "missing_content": "the prompt and completion cells must not be empty",
        "invalid_json": "fix the CSV syntax of that row (usually an unclosed quote)",
        "missing_system_message": "rows with no system column (or an empty one); fine if "
                                  "intended",
    },
}


def advice(category: str, fmt: str | None = None) -> str | None:
    """What to do about ``category``, in the terms of format ``fmt``."""
    return FORMAT_ADVICE.get(fmt or "chat", {}).get(category) or ADVICE.get(category)


class Problem(str):
    """Why a line could not be parsed (invalid JSON, bad bytes), kept for :func:`explain`."""


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return {str: "a string", int: "a number", float: "a number", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _names(fmt: str | None, index: int, message: dict[str, Any]) -> tuple[str, str]:
    """How to name a message and its content in ``fmt``'s terms: ("message 2 (user)", "content")."""
    role = message.get("role")
    if fmt == "csv":
        cell = {"user": "prompt", "assistant": "completion"}.get(str(role), str(role))
        return f"the {cell} cell", f"the {cell} cell"
    if fmt == "prompt-completion":
        key = {"user": "prompt", "assistant": "completion"}.get(str(role), str(role))
        return f'"{key}"', f'"{key}"'
    where = f"message {index + 1}" + (f" ({role})" if isinstance(role, str) else "")
    return where, f"{where}'s content"


def explain(raw: Any, category: str, fmt: str | None = None) -> str | None:
    """One sentence on what exactly is wrong in a record, for its first ``category`` problem:
    ``weight is a string ("1"); expected the number 0 or 1``. ``raw`` is what the reader
    checked (the record's messages) or a :class:`Problem`; None when there is nothing to add."""
    if isinstance(raw, Problem):
        return str(raw)
    if category == "missing_messages_list":
        if isinstance(raw, list):
            return '"messages" is an empty list'
        if raw is None:
            return 'the line has no "messages" key'
        return f'"messages" is {_kind(raw)}, expected a list of messages'
    if not isinstance(raw, list):
        return None
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            if category == "data_type":
                return f"message {i + 1} is {_kind(message)} ({_show(message)}), not an object"
            continue
        where, content_name = _names(fmt, i, message)
        role, content = message.get("role"), message.get("content")
        if category == "message_missing_key" and ("role" not in message or "content" not in message):
            if fmt in ("csv", "prompt-completion"):
                return f"{where} is missing"
            missing = " and ".join(repr(k) for k in ("role", "content") if k not in message)
            return f"{where} has no {missing}".replace("'", '"')
        if category == "message_unrecognized_key":
            extra = [k for k in message if k not in _ALLOWED_KEYS]
            if extra:
                return f"{where} has the key {_show(extra[0])}"
        if category == "unrecognized_role" and "role" in message and role not in _ROLES:
            return f"{where} has the role {_show(role)}"
        if category == "missing_content" and "content" in message:
            if not isinstance(content, str):
                return f"{content_name} is {_kind(content)} ({_show(content)}), expected text"
            if not content and not message.get("function_call"):
                return f"{content_name} is empty"
        if category == "invalid_weight" and "weight" in message:
            weight = message["weight"]
            if role != "assistant":
                return (f"{where} has a weight; only assistant messages take one "
                        f"(weight 0 leaves an answer out of training)")
            if isinstance(weight, str):
                return f"weight is a string ({_show(weight)}); expected the number 0 or 1"
            if isinstance(weight, bool) or not isinstance(weight, (int, float)):
                return f"weight is {_kind(weight)} ({_show(weight)}); expected the number 0 or 1"
            if weight not in (0, 1):
                return f"weight is {_show(weight)}; expected 0 or 1"
    if category == "example_missing_assistant_message":
        roles = ", ".join(str(m.get("role")) for m in raw if isinstance(m, dict)) or "none"
        return f"the roles are {roles}: no assistant answer to learn"
    return None


_ALLOWED_KEYS = frozenset(("role", "content", "name", "function_call", "weight"))
_ROLES = ("system", "user", "assistant", "function")
_DIGEST_BYTES = 8


@dataclass(slots=True)
class _Record:
    """One non-blank record: messages when valid, its error categories, its
    digest and whether it has a system/user message (valid records only)."""

    line: int
    messages: list[dict[str, Any]] | None
    errors: list[str]
    digest: int | None = None
    has_system: bool = False
    has_user: bool = False
    #: what was checked (messages, or a Problem), kept only when the reader is asked to
    #: (to explain a bad record); None otherwise
    raw: Any = None


def _digest(messages: list[dict[str, Any]]) -> int:
    """Digest of an example's content (key order ignored), to spot duplicates.

    Python's own hash of the (key, value) tuples: strings cache their hash,
    so this costs a few microseconds per example, and 64 bits make a false
    "duplicate" vanishingly rare (about 1e-10 at 50,000 examples). The value
    is only compared within one run, so the per-process hash seed is fine:
    the worker processes of the parallel path are forked from the process
    that compares, so they share its seed. Unhashable values (a
    ``function_call`` object) go through canonical JSON.
    """
    parts: list[Any] = []
    for message in messages:
        items = tuple(sorted(message.items()))
        try:
            hash(items)
        except TypeError:
            items = json.dumps(message, ensure_ascii=False, sort_keys=True)  # type: ignore[assignment]
        parts.append(items)
    return hash(tuple(parts))


def _check(line: int, messages: Any) -> _Record:
    """Apply the cookbook checks to one example's messages (see the module docstring).

    The usual example, only ``{"role", "content"}`` messages with a known
    role and non-empty text and at least one assistant message, passes every
    check by construction: it is recognised in one loop that also builds its
    digest (the same value :func:`_digest` gives), and anything else takes
    the full checks.
    """
    if type(messages) is list and messages:
        parts = []
        has_assistant = has_system = has_user = False
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                break
            role = message.get("role")
            content = message.get("content")
            if type(role) is not str or type(content) is not str or not content \
                    or role not in _ROLES:
                break
            if role == "assistant":
                has_assistant = True
            elif role == "user":
                has_user = True
            elif role == "system":
                has_system = True
            parts.append((("content", content), ("role", role)))  # sorted(message.items())
        else:
            if has_assistant:
                return _Record(line, messages, [], hash(tuple(parts)), has_system, has_user)
    return _check_all(line, messages)


def _check_all(line: int, messages: Any) -> _Record:
    """Every cookbook check, for any shape of ``messages``."""
    if not isinstance(messages, list) or not messages:
        return _Record(line, None, ["missing_messages_list"])
    found: set[str] = set()
    has_assistant = False
    for message in messages:
        if not isinstance(message, dict):
            found.add("data_type")
            continue
        has_role = "role" in message
        has_content = "content" in message
        role = message.get("role")
        if not has_role or not has_content:
            found.add("message_missing_key")
        if any(key not in _ALLOWED_KEYS for key in message):
            found.add("message_unrecognized_key")
        if has_role and not (isinstance(role, str) and role in _ROLES):
            found.add("unrecognized_role")
        if has_content:
            content = message["content"]
            if (not content and not message.get("function_call")) or not isinstance(content, str):
                found.add("missing_content")
        if "weight" in message:
            weight = message["weight"]
            if (
                role != "assistant"
                or isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or weight not in (0, 1)
            ):
                found.add("invalid_weight")
        if role == "assistant":
            has_assistant = True
    if not has_assistant:
        found.add("example_missing_assistant_message")
    digest = None
    if not found:
        digest = _digest(messages)
    if "encoding_error" in found:
        found = {"encoding_error"}
    if found:
        return _Record(line, None, [c for c in ERROR_CATEGORIES if c in found])
    roles = {m.get("role") for m in messages}  # valid: every role is a str
    return _Record(line, messages, [], digest, "system" in roles, "user" in roles)
