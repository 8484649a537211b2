"""The ``estimate`` and ``prices`` commands: what fine-tuning and inference cost, offline."""

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
    from ftdecide.pricing import _estimate as est
    from ftdecide.report._text import money, number, table

    _check_economics_flags(ctx, requests_per_month, prompt_tokens, few_shot_from)
    catalog = open_catalog(price_files)
    info = catalog.resolve(model)
    est.check_tunable(info, catalog)
    bar, progress = progress_bar(file, "counting tokens")
    try:
        report = est.validated(file, info, progress)
    finally:
        if bar is not None:
            bar.render_finish()
    result = est.training_estimate(report, info, epochs=epochs, tier=tier)
    hardware = est.hardware_estimate(catalog.providers[info.provider], info, report,
                                     {"epochs": epochs})
    if hardware is not None:
        result["hardware"] = hardware
    result["notices"] = est.notices(catalog.providers[info.provider], info)
    if requests_per_month is not None:
        result["economics"] = est.economics(
            info, train_path=file, requests_per_month=requests_per_month,
            training_cost_usd=result["training_cost_usd"], prompt_tokens=prompt_tokens,
            few_shot_from=few_shot_from, shots=shots, tuned_prompt_tokens=tuned_prompt_tokens,
            output_tokens=output_tokens, horizon_months=horizon_months,
        )
    if serving_hardware:
        result["serving"] = _serving_estimate(file, info, serving_hardware, utilization,
                                              min_instances, requests_per_month,
                                              tuned_prompt_tokens, output_tokens)
    if as_json:
        echo_json(result)
        return
    price = result["price"]
    tok = result["tokens"]
    click.echo(f"Fine-tuning {info.key} on {file}")
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
        _render_economics(econ, info)
    if result.get("serving"):
        _render_serving(result["serving"])


def _serving_estimate(file: str, info: Any, hardware: str, utilization: float,
                      min_instances: int, requests_per_month: int | None,
                      prompt_tokens: float | None, output_tokens: float | None) -> dict[str, Any]:
    """Serving the model on ``hardware``: cost per request from the training examples' own
    prompt and answer tokens (tiktoken counts: an approximation of the model's), the month."""
    from ftdecide.errors import UsageError
    from ftdecide.pricing import _estimate as est
    from ftdecide.pricing._serving import check_serving, serving_costs

    if requests_per_month is None:
        raise UsageError("--serving-hardware needs --requests-per-month",
                         key="--serving-hardware", hint="add --requests-per-month N")
    spec = check_serving({"hardware": hardware, "utilization": utilization,
                          "min_instances": min_instances}, key="--serving-hardware",
                         at={"key": "--serving-hardware"})
    profile = est.prompt_profile(file, info.encoding or "o200k_base")
    tin = prompt_tokens if prompt_tokens is not None else profile.prompt_tokens_mean
    tout = output_tokens if output_tokens is not None else profile.output_tokens_mean
    out = serving_costs(spec, model=info.key, parameters=info.parameters, tokens_in=tin,
                        tokens_out=tout, requests_per_month=requests_per_month)
    out.update(tokens_in=tin, tokens_out=tout, requests_per_month=requests_per_month,
               tokens_source="the training examples' prompts and answers (tiktoken count)")
    return out


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


def _check_economics_flags(ctx: click.Context, requests_per_month: int | None,
                           prompt_tokens: float | None, few_shot_from: str | None) -> None:
    """The inference flags mean something only with --requests-per-month, and today's prompt
    comes from one place: say so rather than ignore a flag."""
    from click.core import ParameterSource

    from ftdecide.errors import UsageError

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)

    flags = {"prompt_tokens": "--prompt-tokens", "few_shot_from": "--few-shot-from",
             "shots": "--shots", "tuned_prompt_tokens": "--tuned-prompt-tokens",
             "output_tokens": "--output-tokens", "horizon_months": "--horizon-months"}
    if requests_per_month is None:
        used = [flag for name, flag in flags.items() if given(name)]
        if used:
            raise UsageError(f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} used only "
                             "for the inference economics, which need --requests-per-month",
                             key=used[0], hint="add --requests-per-month N (e.g. 100000), or "
                             f"drop {', '.join(used)}")
    if prompt_tokens is not None:
        other = [flags[n] for n in ("few_shot_from", "shots") if given(n)]
        if other:
            raise UsageError(f"--prompt-tokens gives today's prompt size; {' and '.join(other)} "
                             "would build one to measure it", key="--prompt-tokens",
                             hint="give --prompt-tokens, or --few-shot-from/--shots, not both")


def _render_economics(econ: dict[str, Any], info: Any) -> None:
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
            click.echo(f"WARNING: {info.key} was shut down on {when}")
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
    click.echo(f"override: --prices FILE or {user_price_file()}")


def _pair(a: float | None, b: float | None) -> str:
    if a is None and b is None:
        return "-"
    fmt = lambda v: "?" if v is None else f"{v:g}"  # noqa: E731
    return f"{fmt(a)}/{fmt(b)}"
