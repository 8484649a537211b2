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
import hashlib
import json
import math
import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Union

from . import tokens
from .errors import DataError, UsageError

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


@dataclass
class _Record:
    """One non-blank record: messages when valid, its error categories, its digest."""

    line: int
    messages: list[dict[str, Any]] | None
    errors: list[str]
    digest: int | None = None


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

    # Physical lines, binary, capped at MAX_LINE_BYTES (None for a line over it).
    def _lines(self, f: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
        limit = MAX_LINE_BYTES
        lineno = 0
        while True:
            try:
                raw = f.readline(limit + 1)
            except OSError as exc:
                raise DataError(f"read failed: {exc.strerror or exc}", path=self.path,
                                line=lineno + 1) from None
            if not raw:
                return
            lineno += 1
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
            if lineno == 1 and raw.startswith(_BOM):
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
            if not raw.strip():
                continue
            self.records += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield _Record(lineno, None, ["encoding_error"])
                continue
            try:
                obj = _DECODER.decode(text)
            except (ValueError, RecursionError, MemoryError):
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
    is only compared within one run, so the per-process hash seed is fine.
    Unhashable values (a ``function_call`` object) go through canonical JSON.
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
    """Apply the cookbook checks to one example's messages (see the module docstring)."""
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
    return _Record(line, messages, [], digest)


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
) -> ValidationReport:
    """Check every record of ``path`` and measure the valid ones; never raises on bad content.

    Raises only for what is not the data's content: a missing/unreadable
    file, a CSV without prompt/completion columns (DataError), an unknown
    encoding or format (UsageError). Tokens are counted with
    :func:`tokens.count_examples`/:func:`tokens.count_assistant` on batches
    of ``batch_size`` valid examples, so memory stays flat. ``progress``, when
    given, is called with the cumulative bytes read after each batch and at
    the end, for a progress bar.
    """
    tokens.get_encoding(encoding)  # fail fast on an unknown encoding, before reading
    if batch_size < 1:
        raise UsageError("batch_size must be at least 1")
    reader = _Reader(path, fmt)
    errors: dict[str, list[int]] = defaultdict(list)
    warnings: dict[str, list[int]] = defaultdict(list)
    seen: set[int] = set()
    hist_messages: Counter[int] = Counter()
    hist_tokens: Counter[int] = Counter()
    hist_assistant: Counter[int] = Counter()
    valid = 0
    missing_system = 0
    missing_user = 0
    total = 0
    capped = 0
    since_progress = 0
    batch: list[tuple[int, list[dict[str, Any]]]] = []

    def flush() -> None:
        nonlocal total, capped, since_progress
        if batch:
            # Encoding runs on threads while this one waits: overlapping it
            # with parsing was measured slower (each encode call must retake
            # the GIL, which a busy parsing thread holds).
            counts, assistant = tokens.submit_examples([m for _, m in batch], encoding)()
            for (line, _), n, a in zip(batch, counts, assistant):
                hist_tokens[n] += 1
                hist_assistant[a] += 1
                total += n
                if token_limit is not None and n > token_limit:
                    warnings["over_token_limit"].append(line)
                    capped += token_limit
                else:
                    capped += n
            batch.clear()
        since_progress = 0
        if progress is not None:
            progress(reader.bytes_read)

    for record in reader:
        since_progress += 1
        if record.errors:
            for category in record.errors:
                errors[category].append(record.line)
        else:
            messages = record.messages
            assert messages is not None and record.digest is not None
            valid += 1
            if record.digest in seen:
                warnings["duplicate_example"].append(record.line)
            else:
                seen.add(record.digest)
            roles = {m.get("role") for m in messages}
            if "system" not in roles:
                missing_system += 1
                warnings["missing_system_message"].append(record.line)
            if "user" not in roles:
                missing_user += 1
                warnings["missing_user_message"].append(record.line)
            hist_messages[len(messages)] += 1
            batch.append((record.line, messages))
        if len(batch) >= batch_size or since_progress >= batch_size:
            flush()
    flush()

    if reader.bom:
        warnings["bom"].append(1)
    if reader.records == 0:
        errors["empty_file"] = []
    elif valid < min_examples:
        errors["too_few_examples"] = []
    elif valid < warn_below:
        warnings["few_examples"] = []

    stats: dict[str, Any] = {
        "messages_per_example": _distribution(hist_messages),
        "tokens_per_example": _distribution(hist_tokens),
        "assistant_tokens_per_example": _distribution(hist_assistant),
        "examples_missing_system": missing_system,
        "examples_missing_user": missing_user,
        "records": reader.records,
        "invalid_records": reader.records - valid,
        "tokens_total": total,
        "tokens_capped_total": capped,
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
        tokens_total=total,
        tokens_capped_total=capped,
    )


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
