"""How the command line ends: messages and exit codes for every failure, JSON errors for scripts.

Expected failures are :class:`ftdecide.FtdecideError` and become one message
on stderr and an exit code (2 usage/data, 3 provider); with ``--json`` on the
command line also one ``{"error": {...}}`` object on stdout. Click's own usage
errors, Ctrl-C and a closed pipe (``| head``) end the same way; a traceback
only with ``--debug``, and an unexpected exception says plainly that it is a bug.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ftdecide.cli.common import err
from ftdecide.errors import FtdecideError


class PipeClosed(Exception):
    """stdout's reader went away (``| head``); carried past click, which would exit 1."""


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings (a plugin that failed to load ...) as one line for a person, not a source dump."""
    err(f"Warning: {message}")


def _json_error(error: dict[str, Any]) -> None:
    """With ``--json`` on the command line, a failure is also one JSON object on stdout."""
    import json

    try:
        click.echo(json.dumps(error, ensure_ascii=False, default=str))
    except (BrokenPipeError, OSError):
        pass


def _click_error(exc: click.ClickException) -> dict[str, Any]:
    """Click's own usage errors (a bad option, a missing argument) in the ``--json`` shape."""
    key = None
    param = getattr(exc, "param", None)
    if param is not None:
        key = (param.opts or [param.name])[0] if getattr(param, "opts", None) else param.name
    elif getattr(exc, "option_name", None):
        key = exc.option_name  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    hint = None
    if ctx is not None:
        hint = f"Try '{ctx.command_path} --help' for help."
    file = getattr(exc, "ui_filename", None) or getattr(exc, "filename", None)
    return {"error": {"type": "UsageError" if isinstance(exc, click.UsageError) else "Error",
                      "message": exc.format_message(), "hint": hint, "file": file,
                      "line": None, "key": key, "exit_code": exc.exit_code}}


def _quiet_stdout() -> None:
    """After a closed pipe (``ftdecide validate F | head -1``): send what is left of stdout
    nowhere, so the interpreter's last flush prints no second error."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _plain(kind: str, message: str, code: int) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "hint": None, "file": None,
                      "line": None, "key": None, "exit_code": code}}


def run(group: click.Group, argv: list[str] | None = None) -> None:
    """Run ``group``, turning expected errors into messages and exit codes.

    With ``--json`` anywhere on the command line, every failure also prints one
    object on stdout, ``{"error": {"type", "message", "hint", "file", "line", "key",
    "exit_code"}}``, with the same exit code as the message on stderr.
    """
    import warnings

    args = list(argv if argv is not None else sys.argv[1:])
    debug = "--debug" in args
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    if not debug:
        warnings.showwarning = _show_warning
    try:
        try:
            group.main(args=args, prog_name="ftdecide", standalone_mode=False)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except click.exceptions.Abort:
        err("Aborted.")
        if as_json:
            _json_error(_plain("Aborted", "aborted", 130))
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        if as_json:
            _json_error(_click_error(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FtdecideError as exc:
        if debug:
            raise
        err(f"Error: {exc.message}")
        if exc.hint:
            err(f"  {exc.hint}")
        if as_json:
            _json_error(exc.to_json())
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("Interrupted.")
        if as_json:
            _json_error(_plain("Interrupted", "interrupted", 130))
        sys.exit(130)
    except (BrokenPipeError, PipeClosed):
        _quiet_stdout()  # the reader stopped reading: no message, the conventional 128 + SIGPIPE
        sys.exit(141)
    except Exception as exc:  # an unexpected bug: say so plainly, keep the traceback for --debug
        if debug:
            raise
        err(f"Internal error: {type(exc).__name__}: {exc}")
        err("  this is a bug in ftdecide or a plugin; rerun with --debug for the traceback "
             "and report it")
        if as_json:
            _json_error(_plain("InternalError", f"{type(exc).__name__}: {exc}", 1))
        sys.exit(1)
