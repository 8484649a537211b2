"""The ``ask`` command: one prompt to any provider's model, with tokens, latency and cost."""

from __future__ import annotations

import os

import click

from ftdecide.cli.common import (
    ProviderOptionsCommand,
    echo_json,
    err,
    open_catalog,
    prices_option,
    provider_option,
)


class AnswerOptionsCommand(ProviderOptionsCommand):
    options_scope = "complete"


# -- ask --------------------------------------------------------------------------------
@click.command(cls=AnswerOptionsCommand)
@click.argument("prompt")
@click.option("--model", "-m", required=True, help="provider/model, or an id or alias.")
@click.option("--system", "-s", help="System message.")
@click.option("--temperature", type=click.FloatRange(0, 2), help="Sampling temperature.")
@click.option("--max-tokens", type=click.IntRange(1), help="Most tokens to generate.")
@click.option("--base-url", help="OpenAI-compatible server for the openai provider "
              "(sets OPENAI_BASE_URL for this command).")
@provider_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def ask(prompt: str, model: str, system: str | None, temperature: float | None,
        max_tokens: int | None, base_url: str | None, option_pairs: tuple[tuple[str, str], ...],
        as_json: bool, price_files: tuple[str, ...]) -> None:
    """Send one prompt to any provider's model: the smallest end-to-end check.

    Prints the answer, the tokens used, the latency and the cost.

    \b
    Example:
      ftdecide ask --model openai/gpt-4o-mini "Classify: my invoice is wrong"
    """
    from ftdecide.pricing import ask_once
    from ftdecide.report._text import money

    if base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
    result = ask_once(open_catalog(price_files), model, prompt, system=system,
                      temperature=temperature, max_tokens=max_tokens, options=option_pairs)
    if as_json:
        echo_json(result)
        return
    click.echo(result["text"])
    u = result["usage"]
    cached = f" ({u['cached_input_tokens']} cached)" if u["cached_input_tokens"] else ""
    cost = "cost unknown" if result["cost_usd"] is None else money(result["cost_usd"])
    err(f"[{result['model']}: {u['input_tokens']:,} in{cached}, {u['output_tokens']:,} out, "
         f"{result['latency_s']:.2f} s, {cost}]")
    if result["cost_usd"] is None:
        from ftdecide.pricing._catalog import user_price_file

        err(f"  no price is known for {result['model']}: add input_per_1m and output_per_1m "
            f"for it in a price file (--prices FILE, or {user_price_file()}; README "
            "\"Prices\")")
