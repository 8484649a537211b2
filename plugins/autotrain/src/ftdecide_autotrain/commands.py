"""``ftdecide autotrain setup|status``: AutoTrain's own environment.

The plugin adds these commands itself through the ``register_commands`` hook.

AutoTrain Advanced pins old transformers and trl, so it runs from its own
virtual environment; these commands create and show it. The work is done by
:mod:`ftdecide_autotrain.env`, imported only when a command runs, so
``ftdecide --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def err(text: str = "") -> None:
    click.echo(text, err=True)


def _env() -> Any:
    from ftdecide_autotrain import env

    return env


@click.group()
def autotrain() -> None:
    """Hugging Face AutoTrain Advanced's own environment (for `tune --model autotrain/...`).

    \b
    Examples:
      ftdecide autotrain setup
      ftdecide autotrain status --json
    """


@autotrain.command()
@click.option("--python", "python", type=click.Path(dir_okay=False),
              help="Interpreter to create the environment with (default: ftdecide's).")
@click.option("--torch", "torch", default=None, show_default=False,
              help="The torch requirement installed first (default: torch==2.13.0, the CPU "
              "build).")
@click.option("--torch-index-url", default=None,
              help="Extra index with CPU-only torch wheels (default: download.pytorch.org/whl/cpu;"
              " '' for none).")
@click.option("--force", is_flag=True, help="Rebuild the environment even if it is set up.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def setup(python: str | None, torch: str | None, torch_index_url: str | None, force: bool,
          as_json: bool) -> None:
    """Create AutoTrain's environment: CPU torch first, autotrain-advanced 0.8.36, only what
    its LLM fine-tuning needs (no torchvision, no timm). Takes minutes; reused afterwards.

    \b
    Example:
      ftdecide autotrain setup
    """
    env = _env()
    kwargs: dict[str, Any] = {"python": python, "force": force,
                              "log": err}
    if torch:
        kwargs["torch"] = torch
    if torch_index_url is not None:
        kwargs["torch_index_url"] = torch_index_url or None
    result = env.setup(**kwargs)
    if as_json:
        echo_json(result)
        return
    versions = result.get("versions") or {}
    reused = "(already set up) " if result.get("reused") else ""
    click.echo(f"AutoTrain {result['autotrain']} {reused}in {result['binary']}")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if result.get("total_s") is not None and not result.get("reused"):
        click.echo(f"  set up in {result['total_s']:.0f} s")


@autotrain.command()
@click.option("--autotrain-bin", type=click.Path(dir_okay=False),
              help="Check this executable instead.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def status(autotrain_bin: str | None, as_json: bool) -> None:
    """Which `autotrain` executable `tune` would run, and where it came from (exit 2: none).

    \b
    Example:
      ftdecide autotrain status
    """
    env = _env()
    found = env.find_binary(autotrain_bin)
    data = {"binary": str(found[0]) if found else None, "from": found[1] if found else None,
            "setup_dir": str(env.env_dir()), "manifest": env.manifest()}
    if as_json:
        echo_json(data)
    elif found:
        click.echo(f"autotrain: {found[0]} (from {found[1]})")
    if found is None:
        if not as_json:
            err("no AutoTrain environment")
        env.require_binary(autotrain_bin)  # raises the clear message
    sys.stdout.flush()
