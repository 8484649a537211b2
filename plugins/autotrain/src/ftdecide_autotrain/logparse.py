"""Reading AutoTrain's output as it is written: progress (step, loss) and the last error.

What AutoTrain Advanced 0.8.36 writes (read from its source):

- ``src/autotrain/logging.py``: every message goes through loguru to stdout
  in the format ``{level: <8} | {time:YYYY-MM-DD HH:mm:ss} | {name}:{function}:{line}
  - {message}``, for example
  ``INFO     | 2026-11-28 10:31:02 | autotrain.trainers.clm.utils:configure_logging_steps:684 - Logging steps: 1``.
- ``src/autotrain/trainers/common.py``: ``LossLoggingCallback.on_log`` logs
  the Trainer's log dict (``total_flos`` removed) as its Python repr, so each
  logging step is a line ending in ``{'loss': 2.0621, 'grad_norm': ...,
  'learning_rate': ..., 'epoch': 0.25}``; the dict has no step number, but
  ftdecide sets ``logging_steps`` itself, so the n-th loss is step n ×
  logging_steps. The end of training logs ``{'train_runtime': ..., 'train_loss':
  ..., 'epoch': ...}``. The ``monitor`` decorator catches any exception of a
  training run, logs ``ERROR ... - train has failed due to an exception:
  Traceback ...`` and then ``ERROR ... - <the exception's message>``, and
  returns normally: the process exits 0.
- transformers' Trainer draws its tqdm bar on stderr (``\\r``-separated:
  `` 40%|████      | 4/10 [00:02<00:03,  1.93it/s]``), which gives the total
  number of steps. The datasets library's bars (``Map: 100%|...| 60/60 [...
  examples/s]``) are told apart by their label and unit.

A command that fails before training (a config AutoTrain refuses) ends with
an ordinary Python traceback; its last line is the error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
LOG_LINE_RE = re.compile(
    r"^(?P<level>TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)\s*\|\s*"
    r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*\|\s*"
    r"(?P<where>[\w.<>-]+:[\w.<>-]+:\d+)\s+-\s?(?P<message>.*)$")
LOG_START_RE = re.compile(r"(?:TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)\s*\|\s*"
                          r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s*\|")
TQDM_RE = re.compile(r"^\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*"
                     r"\[[^\]]*?(?:s/it|it/s)\]")
LOGGING_STEPS_RE = re.compile(r"^Logging steps: (\d+)$")
EXCEPTION_LINE_RE = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Interrupt|Exit|Warning)\b(?::.*)?$")


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


@dataclass
class LogLine:
    """One loguru line of AutoTrain: level, time, ``module:function:line`` and message."""

    level: str
    time: str
    where: str
    message: str


def parse_line(line: str) -> LogLine | None:
    """The parts of one AutoTrain log line, or None for anything else (tqdm, tracebacks)."""
    m = LOG_LINE_RE.match(strip_ansi(line).rstrip("\r\n"))
    if m is None:
        return None
    return LogLine(m["level"], m["time"], m["where"], m["message"])


def parse_dict(message: str) -> dict[str, Any] | None:
    """The Trainer's log dict in a message (``{'loss': 1.2, ...}``), or None."""
    text = message.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def parse_tqdm(segment: str) -> tuple[int, int] | None:
    """``(step, total)`` from a Trainer tqdm segment; None for other bars and text."""
    m = TQDM_RE.match(strip_ansi(segment))
    if m is None:
        return None
    return int(m["n"]), int(m["total"])


@dataclass
class LogProgress:
    """Feed it AutoTrain's merged stdout/stderr as it grows; it keeps what ftdecide reports.

    ``rows`` is the loss curve (``{"step", "epoch", "train_loss", "learning_rate"}``,
    plus ``valid_loss`` where an evaluation was logged); ``summary`` the
    end-of-training dict; ``errors`` every ERROR message.
    """

    logging_steps: int = 1
    step: int | None = None
    total_steps: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    last_exception: str | None = None
    last_line: str | None = None
    started_training: bool = False
    _buffer: str = ""
    _losses: int = 0
    _in_traceback: bool = False
    _detail: int = 0

    def feed(self, text: str) -> bool:
        """Add text; True when the step or the loss curve changed."""
        data = self._buffer + text
        *segments, self._buffer = re.split(r"\r\n|\n|\r", data)
        changed = False
        for segment in segments:
            changed |= self._segment(segment)
        return changed

    def close(self) -> bool:
        """Parse what is left after the process ended (a last line without a newline)."""
        rest, self._buffer = self._buffer, ""
        return self._segment(rest) if rest else False

    def _segment(self, raw: str) -> bool:
        """One piece of output between line breaks or carriage returns. A Trainer bar is not
        followed by a newline, so the next log line often shares its piece:
        `` 3%|▎   | 1/37 [00:00<00:09,  3.71it/s]INFO     | ... - {'loss': 8.54, ...}``."""
        segment = strip_ansi(raw)
        changed = False
        while True:
            bar = TQDM_RE.match(segment)
            if bar is None:
                break
            step, total = int(bar["n"]), int(bar["total"])
            before = (self.step, self.total_steps)
            self.total_steps = total
            self.step = max(self.step or 0, step)
            changed |= (self.step, self.total_steps) != before
            segment = segment[bar.end():]
        if not segment.strip():
            return changed
        start = LOG_START_RE.search(segment)
        if start is not None and start.start() > 0:
            changed |= self._text(segment[:start.start()])
            segment = segment[start.start():]
        return self._text(segment) or changed

    def _text(self, segment: str) -> bool:
        if not segment.strip():
            return False
        self.last_line = segment.strip()
        line = parse_line(segment)
        if line is None:
            stripped = segment.strip()
            if stripped.startswith("Traceback (most recent call last)"):
                self._in_traceback = True
                self._detail = 0
            elif EXCEPTION_LINE_RE.match(stripped) and (self._in_traceback or ":" in stripped):
                self.last_exception = stripped
                self._in_traceback = False
                # pydantic puts the field and the reason on the next lines
                self._detail = 2 if "ValidationError" in stripped else 0
            elif self._detail and self.last_exception and not stripped.startswith(
                    ("For further information", "File ", "^")):
                self.last_exception += ": " + stripped
                self._detail -= 1
            return False
        self._detail = 0
        self._in_traceback = line.message.startswith(("Traceback", "train has failed")) or \
            "Traceback (most recent call last)" in line.message
        if line.level in ("ERROR", "CRITICAL"):
            self.errors.append(line.message.strip())
            return False
        m = LOGGING_STEPS_RE.match(line.message.strip())
        if m:
            self.logging_steps = max(1, int(m.group(1)))
            return False
        if line.message.strip() == "Starting to train...":
            self.started_training = True
            return False
        logs = parse_dict(line.message)
        if logs is None:
            return False
        if "train_runtime" in logs:
            self.summary = dict(logs)
            return False
        if "loss" in logs:
            self._losses += 1
            step = self._losses * self.logging_steps
            row = {"step": step, "epoch": _float(logs.get("epoch")),
                   "train_loss": _float(logs["loss"]),
                   "learning_rate": _float(logs.get("learning_rate"))}
            self.rows.append(row)
            self.step = max(self.step or 0, step)
            return True
        if "eval_loss" in logs and self.rows:
            self.rows[-1]["valid_loss"] = _float(logs["eval_loss"])
            return True
        return False

    def last_error(self) -> str | None:
        """The log's last error line: the last ERROR message that is not a traceback header,
        else the last exception line of a traceback, else None."""
        for message in reversed(self.errors):
            first = message.splitlines()[0].strip() if message.strip() else ""
            if first and "Traceback (most recent call last)" not in first:
                return first
        return self.last_exception


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
