"""Validating a whole file: :func:`validate`, its report, and the in-process path.

:func:`validate` checks every record (the rules: :mod:`ftdecide.data._checks`),
measures the valid ones (tokens, messages, duplicates) and returns a
:class:`ValidationReport`. It reads a big JSONL file
(``_PARALLEL_MIN_BYTES`` and up) on one worker process per core
(:mod:`ftdecide.data._parallel`), each taking ranges of whole lines; the
report is the same as from one process, because both paths feed the same
tally (:mod:`ftdecide.data._tally`). This module sits on top: it chooses the
path and turns the tally into the report.
"""

from __future__ import annotations

import bisect
import math
import os
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from ftdecide.data import _tokens as tokens
from ftdecide.data._checks import ERROR_CATEGORIES, WARNING_CATEGORIES, _Record
from ftdecide.data._parallel import _validate_parallel, _worker_count
from ftdecide.data._read import PathLike, _Reader, detect_format
from ftdecide.data._tally import _counted, _Tally
from ftdecide.errors import UsageError

__all__ = ["ValidationReport", "validate"]

_DIST_KEYS = ("min", "max", "mean", "median", "p5", "p95")


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
