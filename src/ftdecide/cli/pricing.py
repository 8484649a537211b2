"""The ``estimate`` and ``prices`` commands: what fine-tuning and inference cost, offline.

``estimate`` parses its flags, calls :func:`ftdecide.api.estimate` and renders the result.
"""

from __future__ import annotations

from typing import Any

import click

from ftdecide.cli.common import (
    echo_json,
    open_catalog,
    prices_option,
    progress_bar,
)


# -- estimate ---------------------------------------------------------------------------
@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Model to fine-tune (provider/model or an id).")
@click.option("--epochs", type=click.IntRange(1, 100), help="Epochs (default: the cookbook rule).")
@click.option("--tier", help="Training tier where the provider has several (Azure: global, "
              "regional, developer).")
@click.option("--requests-per-month", type=click.IntRange(0), help="Volume for the inference "
              "economics: monthly cost before and after tuning, payback, break-even.")
@click.option("--prompt-tokens", type=click.FloatRange(0), help="Tokens of today's prompt per "
              "request (default: the K-shot prompt built with --few-shot-from/--shots).")
@click.option("--few-shot-from", type=click.Path(dir_okay=False),
              help="Examples for today's few-shot prompt (default: FILE).")
@click.option("--shots", type=click.IntRange(0, 64), default=4, show_default=True,
              help="Examples in today's few-shot prompt.")
@click.option("--tuned-prompt-tokens", type=click.FloatRange(0), help="Prompt tokens per request "
              "after tuning (default: the mean prompt of FILE's examples).")
@click.option("--output-tokens", type=click.FloatRange(0), help="Output tokens per request "
              "(default: the mean answer of FILE's examples).")
@click.option("--horizon-months", type=click.FloatRange(0, min_open=True), help="Months to spread "
              "the training cost over for break-even (default: until shutdown, else 12).")
@click.option("--serving-hardware", help="Price serving the (tuned) model yourself on this "
              "hardware class (L4, A10G, H100 ...) per month at --requests-per-month: hardware "
              "time, with the instance floor.")
@click.option("--utilization", type=click.FloatRange(0, 1, min_open=True), default=0.5,
              show_default=True, help="With --serving-hardware: the share of hours doing work.")
@click.option("--min-instances", type=click.IntRange(0), default=1, show_default=True,
              help="With --serving-hardware: instances kept up all month (the floor).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
@click.pass_context
def estimate(ctx: click.Context, file: str, model: str, epochs: int | None, tier: str | None,
             requests_per_month: int | None, prompt_tokens: float | None,
             few_shot_from: str | None, shots: int, tuned_prompt_tokens: float | None,
             output_tokens: float | None, horizon_months: float | None,
             serving_hardware: str | None, utilization: float, min_instances: int, as_json: bool,
             price_files: tuple[str, ...]) -> None:
    """Price fine-tuning on a training set, offline, with the cookbook formula.

    Tokens are counted with the model's encoding; each example is billed up
    to the model's per-example limit; epochs follow the cookbook's rule
    unless given. With --requests-per-month it also prices inference before
    and after tuning, hosting, payback and break-even volume.

    \b
    Example:
      ftdecide estimate train.jsonl --model gpt-4o-mini --requests-per-month 200000
    """
    import ftdecide.api as api
    from ftdecide.report._text import money, number, table

    given = _given(ctx)
    api.check_economics_args({k: given(k) for k in api.ECONOMICS_ARGS}, requests_per_month,
                             names=api.ECONOMICS_ARGS)
    bar, progress = progress_bar(file, "counting tokens")
    try:
        result = api.estimate(
            file, model, epochs=epochs, tier=tier, requests_per_month=requests_per_month,
            prompt_tokens=prompt_tokens, few_shot_from=few_shot_from,
            shots=shots if given("shots") else None, tuned_prompt_tokens=tuned_prompt_tokens,
            output_tokens=output_tokens, horizon_months=horizon_months,
            serving_hardware=serving_hardware, utilization=utilization,
            min_instances=min_instances, price_files=price_files, progress=progress).to_dict()
    finally:
        if bar is not None:
            bar.render_finish()
    if as_json:
        echo_json(result)
        return
    price = result["price"]
    tok = result["tokens"]
    click.echo(f"Fine-tuning {result['model']} on {file}")
    rows = [
        ["examples", number(result["examples"])],
        ["tokens (total)", number(tok["total"])],
        ["tokens / example (min–max)", f"{number(tok.get('min'))}–{number(tok.get('max'))}"],
    ]
    if not result.get("hardware"):  # token-priced: the cookbook formula
        rows += [
            ["per-example limit", number(result["limit"])],
            ["epochs", f"{result['epochs']} ({result['epochs_source']})"],
            ["billed tokens", number(result["billed_tokens"])],
            ["training price / 1M", money(price["training_per_1m"], 2)
             + (f" ({price['tier']})" if price["tier"] else "")],
            ["training cost", money(result["training_cost_usd"])],
        ]
    click.echo(table(["", "value"], rows))
    if not result.get("hardware"):
        click.echo(f"prices as of {price['as_of'] or 'unknown date'} — "
                   f"{price['source'] or 'no source'}")
    if result.get("hardware"):
        click.echo()
        from ftdecide.cli.jobview import hardware_table

        click.echo(hardware_table(result["hardware"]))
    if result["over_limit_examples"]:
        n = result["over_limit_examples"]
        click.echo(f"note: {n:,} {'example exceeds' if n == 1 else 'examples exceed'} the "
                   "limit; they would be truncated and are billed at the limit")
    for notice in result["notices"]:
        click.echo(f"notice: {notice}")
    econ = result.get("economics")
    if econ:
        _render_economics(econ, result["model"])
    if result.get("serving"):
        _render_serving(result["serving"])


def _render_serving(s: dict[str, Any]) -> None:
    from ftdecide.report._text import money, number, table

    click.echo()
    click.echo(f"Serving it yourself on {s['hardware']} (hardware time, not tokens)")
    if s.get("cost_per_request_usd") is None:
        click.echo(s.get("unpriced_reason") or "unpriced")
        return
    rows = [["$ / hour", money(s["usd_per_hour"], 2) + f" (as of {s['rate_as_of']})"],
            ["prefill / decode tokens/s", f"{number(s['tokens_per_s']['prefill'])} / "
                                          f"{number(s['tokens_per_s']['decode'])}"],
            ["cost / 1k requests", money(s["cost_per_request_usd"] * 1000)],
            ["instances", number(s["instances"])],
            ["floor (instances kept up)", money(s["fixed_monthly_usd"]) + "/month"],
            [f"monthly at {number(s['requests_per_month'])} requests", money(s["monthly_usd"])]]
    click.echo(table(["", "value"], rows))
    click.echo(f"throughput: {s['throughput_source']}: {s.get('throughput_detail')}")


def _given(ctx: click.Context) -> Any:
    """Whether a flag was given on the command line (not its default)."""
    from click.core import ParameterSource

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)

    return given


def _render_economics(econ: dict[str, Any], model_key: str) -> None:
    from ftdecide.report._text import money, number, table

    click.echo(f"\nInference at {econ['requests_per_month']:,} requests / month")
    click.echo(table(["", "prompt tokens", "output tokens", "per request", "per month"], [
        ["base model, today's prompt", number(econ["prompt_tokens"]),
         number(econ["output_tokens"]), money(econ["base_cost_per_request"], 6),
         money(econ["base_monthly_usd"])],
        ["fine-tuned, short prompt", number(econ["tuned_prompt_tokens"]),
         number(econ["output_tokens"]), money(econ["tuned_cost_per_request"], 6),
         money(econ["tuned_monthly_usd"])],
    ]))
    click.echo(f"today's prompt: {econ['prompt_tokens_source']}")
    if econ["hosting_monthly_usd"]:
        click.echo(f"hosting (billed hourly): {money(econ['hosting_monthly_usd'])} / month, "
                   "included in the fine-tuned figure")
    savings = econ["monthly_savings_usd"]
    if savings is None:
        click.echo("payback: unknown (no inference prices for this model)")
    elif econ["payback_months"] is None:
        per_request = (econ["base_cost_per_request"] or 0) - (econ["tuned_cost_per_request"] or 0)
        if per_request <= 0:
            why = "the fine-tuned price premium outweighs the tokens saved"
        elif econ["requests_per_month"] == 0:
            why = "no requests a month, so nothing is saved"
        elif econ["hosting_monthly_usd"]:
            why = "hosting costs more than the tokens saved at this volume"
        else:
            why = "the tokens saved do not cover the training cost"
        click.echo(f"monthly saving: {money(savings)} → payback: never ({why})")
    else:
        click.echo(f"monthly saving: {money(savings)} → payback in "
                   f"{econ['payback_months']:.1f} months")
    be = econ["break_even_requests_per_month"]
    click.echo("break-even volume: " + (f"{be:,} requests / month (training spread over "
                                         f"{econ['horizon_months']:.1f} months)" if be is not None
                                         else "none (tuning never makes a request cheaper)"))
    if econ["months_to_shutdown"] is not None:
        left = econ["months_to_shutdown"]
        when = econ["shutdown"]
        if left <= 0:
            click.echo(f"WARNING: {model_key} was shut down on {when}")
        else:
            verdict = {True: "pays back before then", False: "does NOT pay back before then",
                       None: ""}[econ["pays_back_before_shutdown"]]
            click.echo(f"shutdown: {when} ({left:.1f} months left) {verdict}".rstrip())




# -- prices -----------------------------------------------------------------------------
@click.command()
@click.option("--provider", "-p", help="Only this provider's models.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def prices(provider: str | None, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Show the price catalog, with the date each price was read and its source.

    Entries older than 90 days are flagged `stale`, models past their
    shutdown date `shut-down`. Override or extend prices with a file
    (--prices, or prices.yaml in the user config folder), never by editing code.

    \b
    Example:
      ftdecide prices --provider openai
    """
    from ftdecide.pricing._catalog import freshness, user_price_file
    from ftdecide.report._text import money, table

    catalog = open_catalog(price_files)
    if provider and provider.lower() in catalog.providers:
        provider = provider.lower()  # provider names are lower-case: --provider OpenAI works
    if provider and provider not in catalog.providers:
        from ftdecide.errors import UsageError
        from ftdecide.plugins import missing_plugin_error

        missing = missing_plugin_error(provider.lower(), key="--provider")
        if missing is not None:
            raise missing
        raise UsageError(f"no provider named {provider!r}", key="--provider",
                         hint="installed: " + (", ".join(sorted(catalog.providers)) or "none"))
    models = catalog.models(provider)
    if as_json:
        echo_json([{**m.to_dict(), "key": m.key, "flags": freshness(m)} for m in models])
        return
    if not models:
        click.echo("no models: install a provider plugin (e.g. ftdecide-openai)")
        return
    folded: dict[str, int] = {}
    if not provider:
        # a catalog of thousands (LiteLLM's price map) would bury the others: one line each
        sizes: dict[str, int] = {}
        for m in models:
            sizes[m.provider] = sizes.get(m.provider, 0) + 1
        folded = {p: n for p, n in sizes.items() if n > FOLD_ABOVE}
        models = [m for m in models if m.provider not in folded]
    rows = []
    for m in models:
        rows.append([
            m.key, "yes" if m.tunable else "no",
            money(m.training_per_1m, 2) if m.training_per_1m is not None else "-",
            _pair(m.input_per_1m, m.output_per_1m),
            _pair(m.ft_input_per_1m, m.ft_output_per_1m) if m.tunable else "-",
            f"{m.hosting_per_hour:.2f}/h" if m.hosting_per_hour else "-",
            f"{m.training_token_limit:,}" if m.training_token_limit else "-",
            m.shutdown.isoformat() if m.shutdown else "-",
            m.as_of.isoformat() if m.as_of else "-",
            " ".join(freshness(m)),
        ])
    click.echo("USD per 1M tokens (input/output); training per 1M training tokens")
    click.echo(table(["model", "tunable", "training", "base in/out", "fine-tuned in/out",
                      "hosting", "limit", "shutdown", "as of", "flags"], rows))
    sources = sorted({m.source for m in models if m.source})
    for s in sources:
        click.echo(f"source: {s}")
    for name, n in sorted(folded.items()):
        click.echo(f"{name}: {n:,} models, not listed here: ftdecide prices --provider {name}")
    click.echo(f"override: --prices FILE or {user_price_file()}")


#: Providers with more models than this are summarised in one line unless asked for.
FOLD_ABOVE = 200


def _pair(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return "-"
    fmt = lambda v: "?" if v is None else f"{v:g}"  # noqa: E731
    return f"{fmt(a)}/{fmt(b)}"
