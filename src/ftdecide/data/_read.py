"""Reading every supported data format, one record at a time, without crashing.

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

Each record's messages are checked by :mod:`ftdecide.data._checks`; this
module is about bytes, lines and formats. It also holds the public functions
that only read (:func:`detect_format`, :func:`iter_records`,
:func:`load_examples`, :func:`to_chat_jsonl`); validating a whole file, which
also counts tokens and may use several processes, is
:mod:`ftdecide.data._validate`.
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Union

from ftdecide.data._checks import Problem, _check, _Record, advice, explain
from ftdecide.errors import DataError, UsageError

__all__ = [
    "FORMATS",
    "MAX_LINE_BYTES",
    "Example",
    "detect_format",
    "iter_records",
    "load_examples",
    "to_chat_jsonl",
]

PathLike = Union[str, "os.PathLike[str]"]

FORMATS = ("chat", "prompt-completion", "csv")

#: Longest physical line parsed; a longer one is skipped (read in chunks and
#: dropped) and reported as ``invalid_json``, so one runaway line cannot
#: exhaust memory. 256 MiB is far above any per-example token limit.
MAX_LINE_BYTES = 256 * 1024 * 1024

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_PROMPT_COLUMNS = ("prompt", "input")
_COMPLETION_COLUMNS = ("completion", "output")


@dataclass
class Example:
    """One valid example: its 1-based physical line and its chat messages."""

    line: int
    messages: list[dict[str, Any]]


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

    def __init__(self, path: PathLike, fmt: str | None = None, *, keep: bool = False) -> None:
        self.path = os.fspath(path)
        #: keep what a bad record held (``_Record.raw``), to explain it
        self.keep = keep
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
                yield self._bad(lineno, "invalid_json", "the line is longer than "
                                f"{MAX_LINE_BYTES // (1024 * 1024)} MiB")
                continue
            if raw[:1] != b"{" and not raw.strip():
                continue
            self.records += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield self._bad(lineno, "encoding_error", f"byte 0x{raw[exc.start]:02x} at "
                                f"column {exc.start + 1} is not UTF-8")
                continue
            try:
                # _DECODER.decode(text), minus two Python calls per line
                obj, end = _SCAN(text, _JSON_SPACE(text).end())
                if end != len(text) and text[end:].strip(" \t\n\r"):
                    raise ValueError("extra data")
            except (ValueError, StopIteration, RecursionError, MemoryError) as exc:
                yield self._bad(lineno, "invalid_json", _json_problem(exc))
                continue
            del text
            # Valid UTF-8 holds no lone surrogate; only a \\uD800-\\uDFFF escape can
            # make one, so look inside only when the raw line has such an escape.
            if _SURROGATE_ESCAPE.search(raw) and _strings_have_surrogate(obj):
                yield self._bad(lineno, "encoding_error", "a \\ud800-\\udfff escape makes a "
                                "lone surrogate")
                continue
            del raw
            if not isinstance(obj, dict):
                yield self._bad(lineno, "data_type", f"the line is {_kind(obj)}, not an object")
                continue
            if self.fmt is None:
                self.fmt = _format_of(obj)
            if self.fmt == "prompt-completion":
                messages: Any = _from_prompt_completion(obj)
            else:
                messages = obj.get("messages")
            yield self._checked(lineno, messages)

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
            yield self._checked(start, _from_csv_row(row, columns))

    def _bad(self, line: int, category: str, why: str) -> _Record:
        record = _Record(line, None, [category])
        if self.keep:
            record.raw = Problem(why)
        return record

    def _checked(self, line: int, messages: Any) -> _Record:
        record = _check(line, messages)
        if self.keep and record.errors:
            record.raw = messages
        return record

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


def _json_problem(exc: BaseException) -> str:
    """What the JSON parser said, for a person: ``Expecting ',' delimiter at column 41``."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    if isinstance(exc, StopIteration):
        return "no JSON value where the line starts"
    if isinstance(exc, (RecursionError, MemoryError)):
        return "nested too deep to parse"
    return str(exc) or "not JSON"


def _kind(value: Any) -> str:
    return {list: "a JSON array", str: "a string", int: "a number", float: "a number",
            bool: "true or false"}.get(type(value), "null" if value is None else "not an object")


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
    reader = _Reader(path, fmt, keep=True)
    for record in reader:
        if record.errors:
            raise _record_error(path, record, reader.fmt)
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
            reader = _Reader(path, fmt, keep=True)
            for record in reader:
                if record.errors:
                    raise _record_error(path, record, reader.fmt)
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


def _record_error(path: PathLike, record: _Record, fmt: str | None = None) -> DataError:
    if record.line == 1 or record.errors == ["invalid_json"]:
        array = json_array_error(path)
        if array is not None:
            return array
    category = record.errors[0]
    more = f" (also: {', '.join(record.errors[1:])})" if len(record.errors) > 1 else ""
    detail = explain(record.raw, category, fmt)
    return DataError(
        f"invalid example: {category}{more}" + (f": {detail}" if detail else ""),
        path=os.fspath(path),
        line=record.line,
        hint=f"{advice(category, fmt) or 'fix that line'}; run `ftdecide validate "
        f"{os.fspath(path)}` to list every problem",
    )


def json_array_error(path: PathLike) -> DataError | None:
    """The error for a file that holds one JSON array (``[{...}, ...]``, often pretty-printed)
    where JSONL is expected, with the commands that convert it; None for any other file."""
    name = os.fspath(path)
    if name.lower().endswith(".csv"):
        return None
    try:
        with open(name, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    if not head.removeprefix(_BOM).lstrip(b" \t\r\n").startswith(b"["):
        return None
    out = (name[:-5] if name.lower().endswith(".json") else name) + ".jsonl"
    script = ('python -c "import json,sys; [print(json.dumps(x, ensure_ascii=False)) '
              f'for x in json.load(open(sys.argv[1]))]" {name} > {out}')
    return DataError("the file is one JSON array ([ {...}, ... ]), not JSONL: JSONL holds one "
                     "JSON object per line", path=name, line=1,
                     hint=f"convert it: {script}  (or: jq -c '.[]' {name} > {out})")


def explain_first(path: PathLike, first: dict[str, int], fmt: str | None = None
                  ) -> dict[str, str]:
    """For each category, what exactly is wrong on the line given for it (its first line):
    one pass over the file, up to the last of those lines."""
    wanted: dict[int, list[str]] = {}
    for category, line in first.items():
        wanted.setdefault(line, []).append(category)
    found: dict[str, str] = {}
    if not wanted:
        return found
    last = max(wanted)
    reader = _Reader(path, fmt, keep=True)
    for record in reader:
        for category in wanted.get(record.line, ()):
            detail = explain(record.raw, category, reader.fmt)
            if detail:
                found[category] = detail
        if record.line >= last:
            break
    return found
