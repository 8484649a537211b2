"""The ``ftdecide`` command line: parse, call the core, render. Nothing else.

Every command prints a human result on stdout, or with ``--json`` a stable
machine-readable one (progress and notices go to stderr). Expected failures
are :class:`ftdecide.FtdecideError` and become one message and an exit code
(2 usage/data, 3 provider); a traceback only with ``--debug``. Heavy modules
are imported inside the commands so ``ftdecide --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ftdecide import __version__
from ftdecide.cli.common import _catalog, _echo_json, _err, _prices_option
from ftdecide.errors import FtdecideError

EXAMPLE = "Example:"


def _progress_bar(path: str, label: str):
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


# -- validate ---------------------------------------------------------------------------
@cli.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--model", "-m", help="Model whose encoding and per-example limit to check against.")
@click.option("--format", "fmt", type=click.Choice(["chat", "prompt-completion", "csv"]),
              help="Input format (detected from the file when not given).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def validate(file: str, model: str | None, fmt: str | None, as_json: bool,
             price_files: tuple[str, ...]) -> None:
    """Check a training set line by line, the way the OpenAI cookbook does.

    Formats: OpenAI chat JSONL, prompt/completion JSONL, CSV with
    prompt/completion (or input/output) columns. Exit 0 when valid
    (warnings allowed), 2 on any error.

    \b
    Example:
      ftdecide validate train.jsonl --model gpt-4o-mini-2024-07-18
    """
    from ftdecide.data import _files as data
    from ftdecide.data import _tokens as tokens
    from ftdecide.report._text import lines_list, number, table

    encoding, limit, model_key = tokens.DEFAULT_ENCODING, None, None
    if model:
        info = _catalog(price_files).resolve(model)
        encoding = info.encoding or encoding
        limit = info.training_token_limit
        model_key = info.key
    bar, progress = _progress_bar(file, "validating")
    try:
        report = data.validate(file, encoding=encoding, token_limit=limit, fmt=fmt,
                               progress=progress)
    finally:
        if bar is not None:
            bar.render_finish()
    result = report.to_dict()
    result["model"] = model_key
    if as_json:
        _echo_json(result)
    else:
        status = "valid" if report.valid else "INVALID"
        click.echo(f"{report.file}: {status} ({report.format}, {report.examples:,} examples, "
                   f"encoding {report.encoding}"
                   + (f", limit {limit:,} tokens per example" if limit else "") + ")")
        stats = report.stats
        rows = []
        for key, label in (("messages_per_example", "messages / example"),
                           ("tokens_per_example", "tokens / example"),
                           ("assistant_tokens_per_example", "assistant tokens / example")):
            s = stats.get(key) or {}
            if s:
                rows.append([label] + [number(s.get(k)) for k in ("min", "p5", "median", "mean",
                                                                  "p95", "max")])
        if rows:
            click.echo()
            click.echo(table(["", "min", "p5", "median", "mean", "p95", "max"], rows))
        click.echo(f"\ntotal tokens: {report.tokens_total:,}")
        for title, found in (("errors", report.errors), ("warnings", report.warnings)):
            if not found:
                continue
            click.echo(f"\n{title}:")
            for category, lines in found.items():
                where = f" at line {lines_list(lines)}" if lines else ""
                count = f"{len(lines)} × " if len(lines) > 1 else ""
                click.echo(f"  {count}{category}{where}")
                advice = data.ADVICE.get(category)
                if advice:
                    click.echo(f"      → {advice}")
    sys.exit(0 if report.valid else 2)


# -- estimate ---------------------------------------------------------------------------
@cli.command()
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
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def estimate(file: str, model: str, epochs: int | None, tier: str | None,
             requests_per_month: int | None, prompt_tokens: float | None,
             few_shot_from: str | None, shots: int, tuned_prompt_tokens: float | None,
             output_tokens: float | None, horizon_months: float | None, as_json: bool,
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

    catalog = _catalog(price_files)
    info = catalog.resolve(model)
    est.check_tunable(info, catalog)
    bar, progress = _progress_bar(file, "counting tokens")
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
    if requests_per_month is not None:
        result["economics"] = est.economics(
            info, train_path=file, requests_per_month=requests_per_month,
            training_cost_usd=result["training_cost_usd"], prompt_tokens=prompt_tokens,
            few_shot_from=few_shot_from, shots=shots, tuned_prompt_tokens=tuned_prompt_tokens,
            output_tokens=output_tokens, horizon_months=horizon_months,
        )
    if as_json:
        _echo_json(result)
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
        from ftdecide.cli.jobs import _hardware_table

        click.echo(_hardware_table(result["hardware"]))
    if result["over_limit_examples"]:
        click.echo(f"note: {result['over_limit_examples']} example(s) exceed the limit; they "
                   "would be truncated and are billed at the limit")
    econ = result.get("economics")
    if econ:
        _render_economics(econ, info)


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
        why = ("hosting costs more than the tokens saved at this volume" if per_request > 0
               else "the fine-tuned price premium outweighs the tokens saved")
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
@cli.command()
@click.option("--provider", "-p", help="Only this provider's models.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
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

    catalog = _catalog(price_files)
    if provider and provider not in catalog.providers:
        from ftdecide.errors import UsageError

        raise UsageError(f"no provider named {provider!r}",
                         hint="installed: " + (", ".join(sorted(catalog.providers)) or "none"))
    models = catalog.models(provider)
    if as_json:
        _echo_json([{**m.to_dict(), "key": m.key, "flags": freshness(m)} for m in models])
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


# -- plugins ----------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def plugins(as_json: bool) -> None:
    """List installed plugins, their hooks, and the providers and metrics they registered.

    Limit which plugins load with FTDECIDE_LOAD_PLUGINS (comma list; empty = none).

    \b
    Example:
      ftdecide plugins --json
    """
    from ftdecide.plugins import get_registry
    from ftdecide.report._text import table

    records = [r.to_dict() for r in get_registry().plugin_records()]
    if as_json:
        _echo_json(records)
        return
    if not records:
        click.echo("no plugins loaded")
        return
    click.echo(table(["plugin", "distribution", "version", "hooks", "providers", "metrics"], [
        [r["name"], r["distribution"] or "-", r["version"] or "-", ", ".join(r["hooks"]),
         ", ".join(r["providers"]) or "-", ", ".join(r["metrics"]) or "-"] for r in records]))


# -- ask --------------------------------------------------------------------------------
@cli.command()
@click.argument("prompt")
@click.option("--model", "-m", required=True, help="provider/model, or an id or alias.")
@click.option("--system", "-s", help="System message.")
@click.option("--temperature", type=click.FloatRange(0, 2), help="Sampling temperature.")
@click.option("--max-tokens", type=click.IntRange(1), help="Most tokens to generate.")
@click.option("--base-url", help="OpenAI-compatible server for the openai provider "
              "(sets OPENAI_BASE_URL for this command).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def ask(prompt: str, model: str, system: str | None, temperature: float | None,
        max_tokens: int | None, base_url: str | None, as_json: bool,
        price_files: tuple[str, ...]) -> None:
    """Send one prompt to any provider's model: the smallest end-to-end check.

    Prints the answer, the tokens used, the latency and the cost.

    \b
    Example:
      ftdecide ask --model openai/gpt-4o-mini "Classify: my invoice is wrong"
    """
    from ftdecide.pricing._ask import ask_once
    from ftdecide.report._text import money

    if base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
    result = ask_once(_catalog(price_files), model, prompt, system=system,
                      temperature=temperature, max_tokens=max_tokens)
    if as_json:
        _echo_json(result)
        return
    click.echo(result["text"])
    u = result["usage"]
    cached = f" ({u['cached_input_tokens']} cached)" if u["cached_input_tokens"] else ""
    _err(f"[{result['model']}: {u['input_tokens']} in{cached}, {u['output_tokens']} out, "
         f"{result['latency_s']:.2f} s, {money(result['cost_usd'])}]")


from ftdecide.cli.jobs import jobs as _jobs_group, tune as _tune_command

cli.add_command(_tune_command, "tune")
cli.add_command(_jobs_group, "jobs")
from ftdecide.cli.compare import compare as _compare_command, report as _report_command

cli.add_command(_compare_command, "compare")
cli.add_command(_report_command, "report")
from ftdecide.cli.assess import assess as _assess_command
cli.add_command(_assess_command, "assess")
from ftdecide.cli.autotrain import autotrain as _autotrain_command
cli.add_command(_autotrain_command, "autotrain")


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings (a plugin that failed to load ...) as one line for a person, not a source dump."""
    _err(f"Warning: {message}")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning expected errors into messages and exit codes."""
    import warnings

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if not debug:
        warnings.showwarning = _show_warning
    try:
        cli.main(args=argv, prog_name="ftdecide", standalone_mode=False)
    except click.exceptions.Abort:
        _err("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except FtdecideError as exc:
        if debug:
            raise
        _err(f"Error: {exc.message}")
        if exc.hint:
            _err(f"  {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("Interrupted.")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # an unexpected bug: say so plainly, keep the traceback for --debug
        if debug:
            raise
        _err(f"Internal error: {type(exc).__name__}: {exc}")
        _err("  this is a bug in ftdecide or a plugin; rerun with --debug for the traceback "
             "and report it")
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
