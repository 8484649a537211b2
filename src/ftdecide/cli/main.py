"""The ``ftdecide`` command line: the group, its commands (the core's and the plugins'), and
the entry point. Each command lives in its own module; how a run ends is in
:mod:`ftdecide.cli.exits`.

Every command prints a human result on stdout, or with ``--json`` a stable
machine-readable one (progress and notices go to stderr). Heavy modules are
imported inside the commands so ``ftdecide --help`` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from ftdecide import __version__
from ftdecide.cli.exits import PipeClosed, run


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
            raise PipeClosed() from exc


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
    from ftdecide.cli.serving import bench_serve
    from ftdecide.cli.tune import tune

    for command in (validate, audit, estimate, tune, jobs, compare, report, assess, prices, ask,
                    bench_serve, plugins):
        group.add_command(command)


_add_core_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into messages and exit codes (see
    :mod:`ftdecide.cli.exits`; with ``--json``, a failure is also one JSON object on stdout)."""
    run(cli, argv)


if __name__ == "__main__":  # pragma: no cover
    main()
