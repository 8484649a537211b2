"""The ``ftdecide`` command line: parse, call the core, render. Nothing else.

Every command prints a human result on stdout, or with ``--json`` a stable
machine-readable one (progress and notices go to stderr). Expected failures
are :class:`ftdecide.FtdecideError` and become one message and an exit code
(2 usage/data, 3 provider); a traceback only with ``--debug``. Heavy modules
are imported inside the commands so ``ftdecide --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ftdecide import __version__
from ftdecide.cli.common import err
from ftdecide.errors import FtdecideError


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into messages and exit codes."""
    import warnings

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if not debug:
        warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="ftdecide", standalone_mode=False)
    except click.exceptions.Abort:
        err("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FtdecideError as exc:
        if debug:
            raise
        err(f"Error: {exc.message}")
        if exc.hint:
            err(f"  {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # an unexpected bug: say so plainly, keep the traceback for --debug
        if debug:
            raise
        err(f"Internal error: {type(exc).__name__}: {exc}")
        err("  this is a bug in ftdecide or a plugin; rerun with --debug for the traceback "
             "and report it")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
