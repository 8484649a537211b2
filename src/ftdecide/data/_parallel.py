"""Validating a big JSONL file on several processes.

Everything in one process is bound by the GIL: parsing, the checks and the
encoder's calls all need it, so threads could not beat one core. Several
processes can. The file is cut into ranges of whole lines (_chunks: the main
process reads one line per range to find its end, nothing else), worker
processes read, parse, check and count their ranges and send back compact
facts (a tuple per record, never the examples), and the main process feeds
them to the _Tally in file order, so duplicates (over digests), line numbers
and every list come out exactly as from the serial path.

* Workers are forked once the encoding is loaded, so they inherit it (and
  the patched module state tests rely on) instead of loading it again. Fork
  also gives them the parent's str-hash secret, so the digests (Python's
  hash, see _digest) agree between workers; that is why only "fork" is used,
  never "spawn"/"forkserver", and the parallel path is Linux-only.
* Memory stays flat: each worker has at most _IN_FLIGHT ranges queued, a
  range is ~_CHUNK_BYTES, and a result is a few numbers per record.
* The main process only ever sends (start, end) pairs, which fit in a pipe
  buffer, so it never blocks on a worker that is itself blocked sending.
* Ctrl-C reaches the main process only (workers ignore SIGINT); it ends the
  workers on the way out, and a worker whose parent vanished reads EOF and
  exits, so no process is left behind.

:func:`ftdecide.data._validate.validate` asks :func:`_worker_count` whether
to come here and builds the report from the tally (:mod:`ftdecide.data._tally`)
this path feeds. This module holds only the multi-process machinery (ranges,
workers, pipes, clean-up); it is a module of its own because none of it
matters to the in-process path, and the knobs tests patch (``_CHUNK_BYTES``,
``_PARALLEL_MIN_BYTES``, ``_validate_range``) must be patched here.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import traceback
from collections import deque
from typing import Any, Callable, Iterator

from ftdecide.data import _tokens as tokens
from ftdecide.data._checks import _Record
from ftdecide.data._read import _CHUNK, _open_binary, _Reader
from ftdecide.data._tally import _Counted, _counted, _Tally
from ftdecide.errors import DataError

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
