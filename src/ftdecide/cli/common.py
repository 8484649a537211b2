"""What every command module of the CLI shares: JSON and stderr output, the price options.

``cli.py`` and the command modules beside it (``cli_jobs``, ``cli_compare``,
``cli_assess``, ``cli_autotrain``) import these, so none of them imports
another's internals.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import click


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _err(text: str = "") -> None:
    click.echo(text, err=True)


def _prices_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--prices", "price_files", multiple=True, type=click.Path(dir_okay=False),
        envvar="FTDECIDE_PRICES", help="Price file overriding or extending the catalog "
        "(YAML/JSON, may repeat; also FTDECIDE_PRICES).",
    )(fn)


def _catalog(price_files: tuple[str, ...]):
    from ftdecide.pricing._catalog import load_catalog

    return load_catalog(price_files=price_files)
