"""Load, convert and validate fine-tuning datasets, streaming, without crashing.

Three input formats become one shape, OpenAI chat messages:

* chat JSONL (``{"messages": [{"role", "content", "name"?, "weight"?}]}``),
  the primary format and what providers upload;
* prompt/completion JSONL (``{"prompt", "completion"}``) → ``[user, assistant]``;
* CSV with ``prompt``/``completion`` (or ``input``/``output``) columns and an
  optional ``system`` column → ``[system?, user, assistant]``.

Detection: a ``.csv`` name is CSV; anything else is JSONL whose format is
decided by the first line that parses to a JSON object (``messages`` → chat,
``prompt`` and ``completion`` → prompt/completion, otherwise chat so that its
problems are reported as chat problems). An explicit ``fmt`` wins.

Why the file is read in binary, one physical line at a time: a bad byte, a
NUL, a 50 MB line or a line nested 100,000 deep must become a per-line error
with the right line number, never a traceback, and memory must stay
proportional to one line (plus a fixed 8-byte digest and an int per flagged
line), not to the file. Lines are split on ``\\n`` only, so line numbers
match ``wc -l``/editors; CSV records are fed the same lines, so a CSV line
number is the physical line where the record starts, even when a quoted field
spans several lines.

:func:`validate` reads a big JSONL file (:data:`_PARALLEL_MIN_BYTES` and up)
on one worker process per core, each taking ranges of whole lines; the report
is the same as from one process (see ``_validate_parallel``).

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
  parser, a line over :data:`MAX_LINE_BYTES`, or a CSV record the ``csv``
  module rejects (the category list is fixed, and the fix is the same:
  repair the syntax of that line).
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

import bisect
import csv
import json
import math
import os
import re
import signal
import stat
import sys
import traceback
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Union

from ftdecide.data import _tokens as tokens
from ftdecide.errors import DataError, UsageError

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

PathLike = Union[str, "os.PathLike[str]"]

FORMATS = ("chat", "prompt-completion", "csv")
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

#: Longest physical line parsed; a longer one is skipped (read in chunks and
#: dropped) and reported as ``invalid_json``, so one runaway line cannot
#: exhaust memory. 256 MiB is far above any per-example token limit.
MAX_LINE_BYTES = 256 * 1024 * 1024

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_ALLOWED_KEYS = frozenset(("role", "content", "name", "function_call", "weight"))
_ROLES = ("system", "user", "assistant", "function")
_DIGEST_BYTES = 8
_PROMPT_COLUMNS = ("prompt", "input")
_COMPLETION_COLUMNS = ("completion", "output")
_DIST_KEYS = ("min", "max", "mean", "median", "p5", "p95")


@dataclass
class Example:
    """One valid example: its 1-based physical line and its chat messages."""

    line: int
    messages: list[dict[str, Any]]


@dataclass
class ValidationReport:
    """What :func:`validate` found in one file.

    ``errors``/``warnings`` map a category to its sorted 1-based lines and
    hold only categories that occurred; file-level categories (``empty_file``,
    ``too_few_examples``, ``few_examples``) have an empty list. ``stats`` holds
    the cookbook distributions over valid examples (each ``{}`` when there are
    none), the missing system/user counts and the token totals.
    """

    file: str
    format: str
    examples: int
    errors: dict[str, list[int]]
    warnings: dict[str, list[int]]
    stats: dict[str, Any]
    token_limit: int | None = None
    encoding: str = tokens.DEFAULT_ENCODING
    tokens_total: int = 0
    tokens_capped_total: int = 0

    @property
    def valid(self) -> bool:
        """True when there is no error (warnings allowed): exit code 0."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; its keys are the stable ``--json`` contract."""
        return {
            "file": self.file,
            "format": self.format,
            "valid": self.valid,
            "examples": self.examples,
            "errors": {k: list(v) for k, v in self.errors.items()},
            "warnings": {k: list(v) for k, v in self.warnings.items()},
            "stats": self.stats,
            "encoding": self.encoding,
            "token_limit": self.token_limit,
        }


# -- reading -----------------------------------------------------------------------------


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


def _open_binary(path: PathLike) -> IO[bytes]:
    """Open for reading, turning every OS failure into a DataError that says what to do."""
    name = os.fspath(path)
    try:
        if os.path.isdir(name):
            raise IsADirectoryError(21, "Is a directory", name)
        return open(name, "rb")
    except FileNotFoundError:
        raise DataError("no such file", path=name, hint="check the path and try again") from None
    except IsADirectoryError:
        raise DataError("is a directory, not a data file", path=name,
                        hint="pass the JSONL or CSV file inside it") from None
    except PermissionError:
        raise DataError("permission denied", path=name,
                        hint="make the file readable (chmod +r) or copy it somewhere readable") from None
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", path=name) from None


def _resolve_format(path: PathLike, fmt: str | None) -> str | None:
    """The explicit format, or ``csv`` from the name, or None (decide from the content)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
        return fmt
    if os.fspath(path).lower().endswith(".csv"):
        return "csv"
    return None


class _Reader:
    """Streams the records of one file; file-level facts (BOM, bytes read) on the side.

    Iterate it once. ``fmt`` is the resolved format, filled in as soon as it
    is known (for JSONL without an explicit format: at the first object line).
    """

    def __init__(self, path: PathLike, fmt: str | None = None) -> None:
        self.path = os.fspath(path)
        self.fmt = _resolve_format(path, fmt)
        self.bom = False
        self.bytes_read = 0
        self.records = 0
        self.lines = 0

    # Physical lines, binary, capped at MAX_LINE_BYTES (None for a line over it).
    # ``stop``: read no further than this many bytes (a range of whole lines,
    # see _chunks); ``at_start``: the file's first line, where a BOM may be.
    def _lines(self, f: IO[bytes], stop: int | None = None, at_start: bool = True
               ) -> Iterator[tuple[int, bytes | None]]:
        limit = MAX_LINE_BYTES
        lineno = 0
        while stop is None or self.bytes_read < stop:
            try:
                raw = f.readline(limit + 1)
            except OSError as exc:
                raise DataError(f"read failed: {exc.strerror or exc}", path=self.path,
                                line=lineno + 1) from None
            if not raw:
                return
            lineno += 1
            self.lines = lineno
            self.bytes_read += len(raw)
            if len(raw) > limit and not raw.endswith(b"\n"):
                del raw
                while True:  # drain the rest of the oversized line without keeping it
                    rest = f.readline(_CHUNK)
                    self.bytes_read += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield lineno, None
                continue
            if lineno == 1 and at_start and raw.startswith(_BOM):
                self.bom = True
                raw = raw[len(_BOM):]
            yield lineno, raw

    def __iter__(self) -> Iterator[_Record]:
        f = _open_binary(self.path)
        with f:
            if self.fmt == "csv":
                yield from self._csv(self._lines(f))
            else:
                yield from self._jsonl(self._lines(f))

    def _jsonl(self, lines: Iterator[tuple[int, bytes | None]]) -> Iterator[_Record]:
        for lineno, raw in lines:
            if raw is None:
                self.records += 1
                yield _Record(lineno, None, ["invalid_json"])
                continue
            if raw[:1] != b"{" and not raw.strip():
                continue
            self.records += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield _Record(lineno, None, ["encoding_error"])
                continue
            try:
                # _DECODER.decode(text), minus two Python calls per line
                obj, end = _SCAN(text, _JSON_SPACE(text).end())
                if end != len(text) and text[end:].strip(" \t\n\r"):
                    raise ValueError("extra data")
            except (ValueError, StopIteration, RecursionError, MemoryError):
                yield _Record(lineno, None, ["invalid_json"])
                continue
            del text
            # Valid UTF-8 holds no lone surrogate; only a \\uD800-\\uDFFF escape can
            # make one, so look inside only when the raw line has such an escape.
            if _SURROGATE_ESCAPE.search(raw) and _strings_have_surrogate(obj):
                yield _Record(lineno, None, ["encoding_error"])
                continue
            del raw
            if not isinstance(obj, dict):
                yield _Record(lineno, None, ["data_type"])
                continue
            if self.fmt is None:
                self.fmt = _format_of(obj)
            if self.fmt == "prompt-completion":
                messages: Any = _from_prompt_completion(obj)
            else:
                messages = obj.get("messages")
            yield _check(lineno, messages)

    def _csv(self, lines: Iterator[tuple[int, bytes | None]]) -> Iterator[_Record]:
        oversized: list[int] = []

        def text_lines() -> Iterator[str]:
            for lineno, raw in lines:
                if raw is None:
                    oversized.append(lineno)
                    yield "\n"
                else:
                    # surrogateescape keeps going past bad bytes; the cells that
                    # hold them are reported as encoding_error below.
                    yield raw.decode("utf-8", "surrogateescape")

        _widen_csv_field_limit()
        reader = csv.reader(text_lines())
        columns: tuple[int, int, int | None] | None = None
        end = 0
        while True:
            start = end + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                end = max(reader.line_num, start)
                oversized.clear()
                if columns is not None:
                    self.records += 1
                    yield _Record(start, None, ["invalid_json"])
                    continue
                raise DataError("the CSV header cannot be parsed", path=self.path, line=start,
                                hint="the first row must name the prompt and completion columns")
            end = reader.line_num
            if oversized:
                too_big = any(start <= n <= end for n in oversized)
                oversized.clear()
                if too_big:
                    self.records += 1
                    yield _Record(start, None, ["invalid_json"])
                    continue
            if not any(cell.strip() for cell in row):
                continue
            if columns is None:
                columns = self._csv_header(row, start)
                continue
            self.records += 1
            if any(_has_surrogate(cell) for cell in row):
                yield _Record(start, None, ["encoding_error"])
                continue
            yield _check(start, _from_csv_row(row, columns))

    def _csv_header(self, row: list[str], line: int) -> tuple[int, int, int | None]:
        """Column indexes of prompt, completion and system; DataError when absent."""
        names = [cell.strip().lower() for cell in row]

        def find(options: tuple[str, ...]) -> int | None:
            for option in options:
                if option in names:
                    return names.index(option)
            return None

        prompt, completion, system = find(_PROMPT_COLUMNS), find(_COMPLETION_COLUMNS), find(("system",))
        if prompt is None or completion is None:
            shown = ", ".join(repr(n) for n in names[:10]) or "nothing"
            raise DataError(
                f"the CSV header names no prompt/completion columns (found {shown})",
                path=self.path,
                line=line,
                hint="name the columns prompt and completion (or input and output); "
                "an optional system column adds a system message",
            )
        return prompt, completion, system


def _reject_constant(name: str) -> Any:
    """json parse_constant hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # one decoder, not one per line
_SCAN = _DECODER.scan_once  # what _DECODER.decode runs after skipping leading whitespace
_JSON_SPACE = re.compile(r"[ \t\n\r]*").match  # JSON's whitespace, as json.decoder.WHITESPACE
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _format_of(obj: dict[str, Any]) -> str:
    """The JSONL format an object line implies (unknown shapes count as chat)."""
    if "messages" in obj:
        return "chat"
    if "prompt" in obj and "completion" in obj:
        return "prompt-completion"
    return "chat"


def _from_prompt_completion(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """[user, assistant] from a prompt/completion object; absent keys stay absent.

    Leaving a missing ``prompt`` as a user message with no content lets the
    ordinary chat checks report it (``message_missing_key``), so both formats
    share one set of rules and one set of category names.
    """
    user: dict[str, Any] = {"role": "user"}
    if "prompt" in obj:
        user["content"] = obj["prompt"]
    assistant: dict[str, Any] = {"role": "assistant"}
    if "completion" in obj:
        assistant["content"] = obj["completion"]
    return [user, assistant]


def _from_csv_row(row: list[str], columns: tuple[int, int, int | None]) -> list[dict[str, Any]]:
    """[system?, user, assistant] from a CSV row; a short row leaves content absent."""
    prompt, completion, system = columns
    messages: list[dict[str, Any]] = []
    if system is not None and system < len(row) and row[system].strip():
        messages.append({"role": "system", "content": row[system]})
    for role, index in (("user", prompt), ("assistant", completion)):
        message: dict[str, Any] = {"role": role}
        if index < len(row):
            message["content"] = row[index]
        messages.append(message)
    return messages


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_csv_limit_widened = False


def _widen_csv_field_limit() -> None:
    """Raise the csv module's 128 KiB field cap to MAX_LINE_BYTES (once).

    A long document in one cell is a legitimate prompt; the cap is
    process-wide, and raising it only ever accepts more.
    """
    global _csv_limit_widened
    if not _csv_limit_widened:
        if csv.field_size_limit() < MAX_LINE_BYTES:
            csv.field_size_limit(MAX_LINE_BYTES)
        _csv_limit_widened = True


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


def _strings_have_surrogate(value: Any, depth: int = 0) -> bool:
    """True when any string inside ``value`` holds a lone surrogate."""
    if isinstance(value, str):
        return _has_surrogate(value)
    if depth > 64:
        return False
    if isinstance(value, dict):
        return any(_strings_have_surrogate(k, depth + 1) or _strings_have_surrogate(v, depth + 1)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_strings_have_surrogate(v, depth + 1) for v in value)
    return False


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


# -- public API --------------------------------------------------------------------------


def detect_format(path: PathLike) -> str:
    """``csv`` for a .csv name, else the JSONL format its first object line implies.

    A file with no object line at all is ``chat`` (its errors read as chat errors).
    """
    reader = _Reader(path)
    if reader.fmt is not None:
        _open_binary(reader.path).close()  # a missing .csv is an error here too
    else:
        for _ in reader:
            if reader.fmt is not None:
                break
    return reader.fmt or "chat"


def iter_records(
    path: PathLike, fmt: str | None = None
) -> Iterator[tuple[int, list[dict[str, Any]] | None, list[str]]]:
    """Yield ``(line, messages or None, error categories)`` for each non-blank record.

    ``messages`` is the example converted to chat when it is valid (the
    category list is then empty), None otherwise. Blank lines are skipped but
    counted in the numbering. Streaming: one record in memory at a time.
    """
    for record in _Reader(path, fmt):
        yield record.line, record.messages, record.errors


def load_examples(path: PathLike, *, fmt: str | None = None, limit: int | None = None) -> list[Example]:
    """The valid examples of ``path`` (the first ``limit`` of them), as chat messages.

    Raises DataError on the first invalid record, naming file, line and
    category and saying what to do: callers that need examples (few-shot
    prompts, uploads) must not silently use half a file. An empty file gives [].
    """
    if limit is not None and limit <= 0:
        return []
    examples: list[Example] = []
    for record in _Reader(path, fmt):
        if record.errors:
            raise _record_error(path, record)
        assert record.messages is not None
        examples.append(Example(record.line, record.messages))
        if limit is not None and len(examples) >= limit:
            break
    return examples


def to_chat_jsonl(path: PathLike, out_path: PathLike, *, fmt: str | None = None) -> int:
    """Write ``path`` converted to OpenAI chat JSONL at ``out_path``; return the example count.

    Only ``{"messages": [...]}`` is written per example (other top-level keys
    are dropped). Written to a temporary file beside ``out_path`` and moved
    into place at the end, so a DataError on a bad record (raised exactly as
    :func:`load_examples` does) never leaves half a file behind.
    """
    out = Path(os.fspath(out_path))
    tmp = out.with_name(out.name + ".part")
    count = 0
    try:
        handle = open(tmp, "w", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise DataError(f"cannot write: {exc.strerror or exc}", path=str(out),
                        hint="check that the folder exists and is writable") from None
    try:
        with handle:
            for record in _Reader(path, fmt):
                if record.errors:
                    raise _record_error(path, record)
                handle.write(json.dumps({"messages": record.messages}, ensure_ascii=False))
                handle.write("\n")
                count += 1
        os.replace(tmp, out)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return count


def _record_error(path: PathLike, record: _Record) -> DataError:
    category = record.errors[0]
    more = f" (also: {', '.join(record.errors[1:])})" if len(record.errors) > 1 else ""
    return DataError(
        f"invalid example: {category}{more}",
        path=os.fspath(path),
        line=record.line,
        hint=f"{ADVICE.get(category, 'fix that line')}; run `ftdecide validate {os.fspath(path)}` "
        "to list every problem",
    )


def validate(
    path: PathLike,
    *,
    fmt: str | None = None,
    encoding: str = tokens.DEFAULT_ENCODING,
    token_limit: int | None = None,
    min_examples: int = 10,
    warn_below: int = 50,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> ValidationReport:
    """Check every record of ``path`` and measure the valid ones; never raises on bad content.

    Raises only for what is not the data's content: a missing/unreadable
    file, a CSV without prompt/completion columns (DataError), an unknown
    encoding or format (UsageError). Tokens are counted with
    :func:`tokens.submit_examples` on batches of ``batch_size`` valid
    examples, so memory stays flat. ``progress``, when given, is called with
    the cumulative bytes read after each batch and at the end, for a progress
    bar.

    ``workers``: how many processes validate a JSONL file. None (the default)
    uses one per core for a file of at least :data:`_PARALLEL_MIN_BYTES` on
    Linux, else this process; 0 or 1 always use this process; ``n >= 2``
    uses n processes whatever the size (tests use it). Both ways give the
    same report (see :func:`_validate_parallel`). CSV, and platforms without
    ``fork``, always use this process.
    """
    tokens.get_encoding(encoding)  # fail fast on an unknown encoding, before reading
    if batch_size < 1:
        raise UsageError("batch_size must be at least 1")
    if workers is not None and workers < 0:
        raise UsageError("workers must be 0 or more")
    reader = _Reader(path, fmt)
    tally = _Tally(token_limit)
    n = _worker_count(reader, workers)
    if n > 1:
        if reader.fmt is None:
            reader.fmt = detect_format(path)
        _validate_parallel(reader, encoding, batch_size, n, tally, progress)
    else:
        _validate_serial(reader, encoding, batch_size, tally, progress)

    errors, warnings, valid = tally.errors, tally.warnings, tally.valid
    if reader.bom:
        warnings["bom"].append(1)
    if reader.records == 0:
        errors["empty_file"] = []
    elif valid < min_examples:
        errors["too_few_examples"] = []
    elif valid < warn_below:
        warnings["few_examples"] = []

    stats: dict[str, Any] = {
        "messages_per_example": _distribution(tally.hist_messages),
        "tokens_per_example": _distribution(tally.hist_tokens),
        "assistant_tokens_per_example": _distribution(tally.hist_assistant),
        "examples_missing_system": tally.missing_system,
        "examples_missing_user": tally.missing_user,
        "records": reader.records,
        "invalid_records": reader.records - valid,
        "tokens_total": tally.total,
        "tokens_capped_total": tally.capped,
    }
    return ValidationReport(
        file=os.fspath(path),
        format=reader.fmt or "chat",
        examples=valid,
        errors=_ordered(errors, ERROR_CATEGORIES),
        warnings=_ordered(warnings, WARNING_CATEGORIES),
        stats=stats,
        token_limit=token_limit,
        encoding=encoding,
        tokens_total=tally.total,
        tokens_capped_total=tally.capped,
    )


class _Tally:
    """What :func:`validate` accumulates, fed record by record in file order.

    Both ways of validating feed it the same facts (the parallel one from its
    workers' compact results), so their reports cannot drift apart. Only
    ``seen`` grows with the file: one 64-bit digest per distinct example.
    """

    def __init__(self, token_limit: int | None) -> None:
        self.token_limit = token_limit
        self.errors: dict[str, list[int]] = defaultdict(list)
        self.warnings: dict[str, list[int]] = defaultdict(list)
        self.seen: set[int] = set()
        self.hist_messages: Counter[int] = Counter()
        self.hist_tokens: Counter[int] = Counter()
        self.hist_assistant: Counter[int] = Counter()
        self.valid = 0
        self.missing_system = 0
        self.missing_user = 0
        self.total = 0
        self.capped = 0

    def error(self, line: int, categories: Iterable[str]) -> None:
        for category in categories:
            self.errors[category].append(line)

    def example(self, line: int, digest: int, n_messages: int, has_system: bool, has_user: bool,
                n_tokens: int, n_assistant: int) -> None:
        """One valid example; called in line order (the first copy is not a duplicate)."""
        self.valid += 1
        if digest in self.seen:
            self.warnings["duplicate_example"].append(line)
        else:
            self.seen.add(digest)
        if not has_system:
            self.missing_system += 1
            self.warnings["missing_system_message"].append(line)
        if not has_user:
            self.missing_user += 1
            self.warnings["missing_user_message"].append(line)
        self.hist_messages[n_messages] += 1
        self.hist_tokens[n_tokens] += 1
        self.hist_assistant[n_assistant] += 1
        self.total += n_tokens
        if self.token_limit is not None and n_tokens > self.token_limit:
            self.warnings["over_token_limit"].append(line)
            self.capped += self.token_limit
        else:
            self.capped += n_tokens


_Counted = tuple[int, int, int, bool, bool, int, int]


def _counted(batch: list[_Record], encoding: str) -> Iterator[_Counted]:
    """The facts :meth:`_Tally.example` takes, for each valid record of ``batch``:
    (line, digest, messages, has system, has user, tokens, assistant tokens)."""
    counts, assistant = tokens.submit_examples([r.messages for r in batch], encoding)()  # type: ignore[misc]
    for record, n_tokens, n_assistant in zip(batch, counts, assistant):
        assert record.messages is not None and record.digest is not None
        yield (record.line, record.digest, len(record.messages), record.has_system,
               record.has_user, n_tokens, n_assistant)


def _validate_serial(reader: _Reader, encoding: str, batch_size: int, tally: _Tally,
                     progress: Callable[[int], None] | None) -> None:
    since_progress = 0
    batch: list[_Record] = []

    def flush() -> None:
        nonlocal since_progress
        if batch:
            # The encoder's threads (if the batch is big enough for them) run
            # while this one waits: overlapping them with parsing was measured
            # slower (each encode call must retake the GIL, which a busy
            # parsing thread holds). Real overlap needs processes, below.
            for counted in _counted(batch, encoding):
                tally.example(*counted)
            batch.clear()
        since_progress = 0
        if progress is not None:
            progress(reader.bytes_read)

    for record in reader:
        since_progress += 1
        if record.errors:
            tally.error(record.line, record.errors)
        else:
            batch.append(record)
        if len(batch) >= batch_size or since_progress >= batch_size:
            flush()
    flush()


# -- validating a big JSONL file on several processes --------------------------------------
#
# Everything in one process is bound by the GIL: parsing, the checks and the
# encoder's calls all need it, so threads could not beat one core. Several
# processes can. The file is cut into ranges of whole lines (_chunks: the main
# process reads one line per range to find its end, nothing else), worker
# processes read, parse, check and count their ranges and send back compact
# facts (a tuple per record, never the examples), and the main process feeds
# them to the _Tally in file order, so duplicates (over digests), line numbers
# and every list come out exactly as from the serial path.
#
# * Workers are forked once the encoding is loaded, so they inherit it (and
#   the patched module state tests rely on) instead of loading it again. Fork
#   also gives them the parent's str-hash secret, so the digests (Python's
#   hash, see _digest) agree between workers; that is why only "fork" is used,
#   never "spawn"/"forkserver", and the parallel path is Linux-only.
# * Memory stays flat: each worker has at most _IN_FLIGHT ranges queued, a
#   range is ~_CHUNK_BYTES, and a result is a few numbers per record.
# * The main process only ever sends (start, end) pairs, which fit in a pipe
#   buffer, so it never blocks on a worker that is itself blocked sending.
# * Ctrl-C reaches the main process only (workers ignore SIGINT); it ends the
#   workers on the way out, and a worker whose parent vanished reads EOF and
#   exits, so no process is left behind.

#: Files smaller than this are validated in-process. Starting and ending two
#: workers cost ~10 ms on an idle machine (more on a busy one); they broke
#: even at ~1 MB and saved 40% at 4.5 MB, so this errs on the cautious side.
_PARALLEL_MIN_BYTES = 4 * 1024 * 1024
#: About how many bytes one worker task covers (whole lines). On 2 cores,
#: 256-512 KiB ran up to ~20% faster than 1 MiB (noisy measurements): a
#: task's parsed examples are likelier to stay in cache until counted, and
#: the last task ends sooner.
_CHUNK_BYTES = 256 * 1024
#: Ranges queued per worker: one running, one waiting, so it never idles.
_IN_FLIGHT = 2


def _worker_count(reader: _Reader, workers: int | None) -> int:
    """How many processes validate this file (1: this one, serially)."""
    if workers is not None and workers <= 1:
        return 1
    if reader.fmt == "csv" or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return 1
    try:
        info = os.stat(reader.path)
    except OSError:
        return 1  # the serial path reports it
    if not stat.S_ISREG(info.st_mode):
        return 1  # a pipe cannot be read in ranges
    import multiprocessing

    if multiprocessing.current_process().daemon:
        return 1  # a daemonic process may not have children
    if workers is None:
        if info.st_size < _PARALLEL_MIN_BYTES:
            return 1
        workers = min(_cpus(), -(-info.st_size // _CHUNK_BYTES))
    return workers


def _cpus() -> int:
    """The cores this process may use: os.cpu_count(), less any CPU affinity limit."""
    count = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if count is not None:
        return count() or 1
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _chunks(path: str, size: int) -> Iterator[tuple[int, int]]:
    """Consecutive byte ranges ``[start, end)`` of whole lines, each about ``size`` bytes."""
    with _open_binary(path) as f:
        start = 0
        try:
            while True:
                f.seek(start + size - 1)
                while True:  # to the end of the line holding byte start + size - 1
                    rest = f.readline(_CHUNK)
                    if not rest:
                        end = f.seek(0, os.SEEK_END)
                        break
                    if rest.endswith(b"\n"):
                        end = f.tell()
                        break
                if end <= start:
                    return
                yield start, end
                start = end
        except OSError as exc:
            raise DataError(f"read failed: {exc.strerror or exc}", path=path) from None


def _validate_range(path: str, fmt: str | None, encoding: str, batch_size: int, start: int,
                    end: int) -> tuple[int, int, bool, list[tuple[int, list[str]]], list[_Counted]]:
    """Validate the lines in bytes ``[start, end)`` of ``path`` (in a worker).

    Returns (physical lines, records, BOM seen, (line, categories) of each
    invalid record, :func:`_counted` facts of each valid one), with line
    numbers counted from the range's first line.
    """
    reader = _Reader(path, fmt)
    errors: list[tuple[int, list[str]]] = []
    examples: list[_Counted] = []
    batch: list[_Record] = []
    with _open_binary(path) as f:
        f.seek(start)
        for record in reader._jsonl(reader._lines(f, stop=end - start, at_start=start == 0)):
            if record.errors:
                errors.append((record.line, record.errors))
                continue
            batch.append(record)
            if len(batch) >= batch_size:
                examples.extend(_counted(batch, encoding))
                batch.clear()
    if batch:
        examples.extend(_counted(batch, encoding))
    return reader.lines, reader.records, reader.bom, errors, examples


def _worker(conn: Any, inherited: list[Any], path: str, fmt: str | None, encoding: str,
            batch_size: int) -> None:
    """A worker process's loop: a (start, end) range in, its results out, None to stop."""
    for other in inherited:  # the other pipes' ends: EOF must reach whoever waits on them
        other.close()
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    except ValueError:  # pragma: no cover - not the main thread
        pass
    tokens.set_max_threads(1)  # one process per core already
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        reply: tuple[Any, ...]
        try:
            reply = ("ok", _validate_range(path, fmt, encoding, batch_size, *task))
        except DataError as exc:
            where = f"{exc.path}:{exc.line}: " if exc.line is not None else f"{exc.path}: "
            reply = ("data", exc.message.removeprefix(where), exc.line, exc.hint)
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            reply = ("error", exc, traceback.format_exc())
        try:
            _send(conn, reply)
        except (OSError, EOFError):
            return  # the parent is gone


def _send(conn: Any, reply: tuple[Any, ...]) -> None:
    try:
        conn.send(reply)
    except (OSError, EOFError):
        raise
    except Exception:  # an exception that does not pickle: send its repr
        conn.send(("error", RuntimeError(repr(reply[1])), reply[-1]))


def _validate_parallel(reader: _Reader, encoding: str, batch_size: int, workers: int,
                       tally: _Tally, progress: Callable[[int], None] | None) -> None:
    """Validate ``reader``'s JSONL file on ``workers`` forked processes (see above)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    path, fmt = reader.path, reader.fmt
    tokens.release_threads()  # fork a process without threads
    pipes = [context.Pipe() for _ in range(workers)]
    procs: list[Any] = []
    try:
        for i, (_, child) in enumerate(pipes):
            inherited = [c for pair in pipes for c in pair if c is not child]
            proc = context.Process(target=_worker, name=f"ftdecide-validate-{i}", daemon=True,
                                   args=(child, inherited, path, fmt, encoding, batch_size))
            proc.start()
            procs.append(proc)
        for _, child in pipes:
            child.close()
        conns = [parent for parent, _ in pipes]
        pending: deque[tuple[int, int]] = deque()  # (worker, end) of each range sent, in order
        base = 0  # physical lines before the next range to merge

        def merge() -> None:
            nonlocal base
            w, end = pending.popleft()
            lines, records, bom, errors, examples = _receive(conns[w], procs[w], base, path)
            for line, categories in errors:
                tally.error(base + line, categories)
            example = tally.example
            for line, digest, n_messages, has_system, has_user, n_tokens, n_assistant in examples:
                example(base + line, digest, n_messages, has_system, has_user, n_tokens,
                        n_assistant)
            base += lines
            reader.records += records
            reader.bom = reader.bom or bom
            reader.bytes_read = end
            if progress is not None:
                progress(end)

        for i, task in enumerate(_chunks(path, _CHUNK_BYTES)):
            w = i % workers
            try:
                conns[w].send(task)
            except OSError:
                raise _died(procs[w]) from None
            pending.append((w, task[1]))
            if len(pending) >= workers * _IN_FLIGHT:
                merge()
        while pending:
            merge()
        if progress is not None:
            progress(reader.bytes_read)
        for conn in conns:
            try:
                conn.send(None)  # done: the worker returns
            except OSError:  # pragma: no cover - it already exited
                pass
        for proc in procs:
            proc.join(5)
    finally:
        for proc in procs:
            if proc.exitcode is None:  # still running: an error or Ctrl-C got us here
                proc.terminate()
            proc.join()
        for pair in pipes:
            for conn in pair:
                conn.close()


def _died(proc: Any) -> RuntimeError:
    proc.join(5)
    return RuntimeError(f"validation worker {proc.name} stopped unexpectedly "
                        f"(exit code {proc.exitcode})")


def _receive(conn: Any, proc: Any, base: int, path: str) -> Any:
    """A worker's result for its oldest range; its failure raised here."""
    try:
        reply = conn.recv()
    except (EOFError, OSError):
        raise _died(proc) from None
    if reply[0] == "ok":
        return reply[1]
    if reply[0] == "data":
        _, message, line, hint = reply
        raise DataError(message, path=path, line=None if line is None else base + line,
                        hint=hint)
    _, exc, trace = reply
    exc.add_note(f"in validation worker {proc.name}:\n{trace}")
    raise exc


def _ordered(found: dict[str, list[int]], order: tuple[str, ...]) -> dict[str, list[int]]:
    """Categories in their declared order, each with sorted lines."""
    return {c: sorted(found[c]) for c in order if c in found}


def _distribution(hist: Counter[int]) -> dict[str, float | int]:
    """min/max/mean/median/p5/p95 of the values a histogram counts; {} when empty.

    Percentiles use numpy's default (linear interpolation between closest
    ranks, ``numpy.percentile(..., method="linear")``), computed exactly from
    the histogram so memory depends on the number of distinct values, not of
    examples.
    """
    n = sum(hist.values())
    if n == 0:
        return {}
    values = sorted(hist)
    ends: list[int] = []  # ends[i]: 0-based rank just past the copies of values[i]
    running = 0
    for value in values:
        running += hist[value]
        ends.append(running)

    def kth(k: int) -> int:
        return values[bisect.bisect_right(ends, k)]

    def percentile(p: float) -> float:
        h = (n - 1) * p / 100
        lo = math.floor(h)
        hi = min(lo + 1, n - 1)
        a, b = kth(lo), kth(hi)
        return a + (h - lo) * (b - a)

    result: dict[str, float | int] = {
        "min": values[0],
        "max": values[-1],
        "mean": sum(v * c for v, c in hist.items()) / n,
        "median": percentile(50),
        "p5": percentile(5),
        "p95": percentile(95),
    }
    return {k: result[k] for k in _DIST_KEYS}
