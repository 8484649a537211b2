"""The ``ftdecide`` command line: parse, call the core, render. Nothing else.

Every command prints a human result on stdout, or with ``--json`` a stable
machine-readable one (progress and notices go to stderr). Expected failures
are :class:`ftdecide.FtdecideError` and become one message and an exit code
(2 usage/data, 3 provider), plus with ``--json`` one ``{"error": {...}}`` object on
stdout (see :func:`main`); a traceback only with ``--debug``. Heavy modules
are imported inside the commands so ``ftdecide --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ftdecide import __version__
from ftdecide.cli.common import err
from ftdecide.errors import FtdecideError


class _PipeClosed(Exception):
    """stdout's reader went away (``| head``); carried past click, which would exit 1."""


class _CoreAndPluginCommands(click.Group):
    """The core's commands, then the ones plugins add through ``register_commands``.

    Plugin commands are looked up in the current registry when the CLI runs
    (not when this module is imported), so what a process loads decides what
    ``ftdecide --help`` lists; a core command's name always wins.
    """

    def _plugin_commands(self) -> dict[str, click.Command]:
        from ftdecide.plugins import get_registry

        registry = get_registry()
        found = {}
        for name, command in registry.commands().items():
            if name in self.commands:
                import warnings

                warnings.warn(f"plugin {registry.command_owner(name)!r} adds command {name!r}, "
                              "which is a core command; skipped", RuntimeWarning, stacklevel=2)
                continue
            found[name] = command
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self._plugin_commands()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return self._plugin_commands().get(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        """A first-party plugin's command without its plugin says which plugin adds it."""
        if args and self.get_command(ctx, args[0]) is None:
            from ftdecide.plugins import FIRST_PARTY_COMMANDS, missing_plugin_error

            plugin = FIRST_PARTY_COMMANDS.get(args[0])
            missing = missing_plugin_error(plugin, command=args[0]) if plugin else None
            if missing is not None:
                raise missing
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            raise _PipeClosed() from exc


@click.group(cls=_CoreAndPluginCommands,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ftdecide")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Should we fine-tune, and what will it cost?

    Check a training set and price it offline, compare prompting, retrieval
    and fine-tuning on your own data, and decide with the numbers.

    \b
    Start here:
      ftdecide validate train.jsonl
      ftdecide estimate train.jsonl --model gpt-4o-mini --requests-per-month 100000
      ftdecide prices
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug



def _add_core_commands(group: click.Group) -> None:
    from ftdecide.cli.ask import ask
    from ftdecide.cli.assess import assess
    from ftdecide.cli.audit import audit
    from ftdecide.cli.compare import compare, report
    from ftdecide.cli.data import validate
    from ftdecide.cli.jobs import jobs
    from ftdecide.cli.plugins import plugins
    from ftdecide.cli.pricing import estimate, prices
    from ftdecide.cli.tune import tune

    for command in (validate, audit, estimate, tune, jobs, compare, report, assess, prices, ask,
                    plugins):
        group.add_command(command)


_add_core_commands(cli)


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into messages and exit codes.

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
            cli.main(args=args, prog_name="ftdecide", standalone_mode=False)
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
    except (BrokenPipeError, _PipeClosed):
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


if __name__ == "__main__":  # pragma: no cover
    main()
