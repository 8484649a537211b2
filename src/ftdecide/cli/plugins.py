"""The ``plugins`` command: what is installed, which hooks it implements, what it registered."""

from __future__ import annotations

import click

from ftdecide.cli.common import echo_json


# -- plugins ----------------------------------------------------------------------------
@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def plugins(as_json: bool) -> None:
    """List installed plugins, their hooks, and the providers, metrics and commands they
    registered, with each provider's -o options.

    Limit which plugins load with FTDECIDE_LOAD_PLUGINS (comma list; empty = none).

    \b
    Example:
      ftdecide plugins --json
    """
    from ftdecide.options import visible
    from ftdecide.plugins import get_registry
    from ftdecide.report._text import table

    registry = get_registry()
    providers = registry.providers()
    records = [r.to_dict() for r in registry.plugin_records()]
    for r in records:
        r["options"] = {name: [o.to_dict() for o in visible(providers[name].options)]
                        for name in r["providers"]}
    if as_json:
        echo_json(records)
        return
    if not records:
        click.echo("no plugins loaded")
        return
    click.echo(table(["plugin", "distribution", "version", "hooks", "providers", "metrics",
                      "commands"], [
        [r["name"], r["distribution"] or "-", r["version"] or "-", ", ".join(r["hooks"]),
         ", ".join(r["providers"]) or "-", ", ".join(r["metrics"]) or "-",
         ", ".join(r["commands"]) or "-"] for r in records]))
    for r in records:
        for name, opts in r["options"].items():
            if opts:
                click.echo(f"\n{name} options (-o KEY VALUE): "
                           + ", ".join(f"{o['name']} ({o['type']})" for o in opts))
