"""What the command modules of the CLI share: JSON and stderr output, the price and
provider options, a progress bar.

Every module in :mod:`ftdecide.cli` imports these from here, so no command
module imports another's internals.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def err(text: str = "") -> None:
    click.echo(text, err=True)


def prices_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--prices", "price_files", multiple=True, type=click.Path(dir_okay=False),
        envvar="FTDECIDE_PRICES", help="Price file overriding or extending the catalog "
        "(YAML/JSON, may repeat; also FTDECIDE_PRICES).",
    )(fn)


def open_catalog(price_files: tuple[str, ...]):
    from ftdecide.pricing import load_catalog

    return load_catalog(price_files=price_files)


def progress_bar(path: str, label: str):
    """A byte-based progress bar on stderr for files big enough to need one."""
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    if size < 5_000_000 or not sys.stderr.isatty():
        return None, None
    bar = click.progressbar(length=size, label=label, file=sys.stderr)
    state = {"seen": 0}

    def progress(bytes_read: int) -> None:
        bar.update(bytes_read - state["seen"])
        state["seen"] = bytes_read

    return bar, progress



def provider_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``-o/--option KEY VALUE`` (repeatable): a provider-specific setting, checked against
    the provider's option schema (:mod:`ftdecide.options`) before anything runs."""
    return click.option(
        "-o", "--option", "option_pairs", type=(str, str), multiple=True, metavar="KEY VALUE",
        help="A provider-specific setting (repeatable); the providers' keys are listed below.",
    )(fn)


class ProviderOptionsCommand(click.Command):
    """A command whose ``--help`` ends with each installed provider's ``-o`` keys.

    The list is read from the loaded plugins when help is shown, so a
    third-party provider's options appear without the core knowing them.
    """

    options_scope = "tune"

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from ftdecide.options import help_rows
        from ftdecide.plugins import get_registry

        for name, provider in sorted(get_registry().providers().items()):
            rows = help_rows(getattr(provider, "options", ()), self.options_scope)
            if rows:
                formatter.write_paragraph()
                with formatter.section(f"Options of {name} (-o KEY VALUE)"):
                    formatter.write_dl(rows)
