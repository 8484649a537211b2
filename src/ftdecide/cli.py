"""The ``ftdecide`` command line: parse, call the core, render. Nothing else.

Every command prints a human result on stdout, or with ``--json`` a stable
machine-readable one (progress and notices go to stderr). Expected failures
are :class:`ftdecide.FtdecideError` and become one message and an exit code
(2 usage/data, 3 provider); a traceback only with ``--debug``. Heavy modules
are imported inside the commands so ``ftdecide --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

from . import __version__
from .errors import FtdecideError

EXAMPLE = "Example:"


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
    from .prices import load_catalog

    return load_catalog(price_files=price_files)


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
    from . import data, tokens
    from .render import lines_list, number, table

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
    from . import estimate as est
    from .render import money, number, table

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
        click.echo(_hardware_table(result["hardware"]))
    if result["over_limit_examples"]:
        click.echo(f"note: {result['over_limit_examples']} example(s) exceed the limit; they "
                   "would be truncated and are billed at the limit")
    econ = result.get("economics")
    if econ:
        _render_economics(econ, info)


def _render_economics(econ: dict[str, Any], info: Any) -> None:
    from .render import money, number, table

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


# -- tune -------------------------------------------------------------------------------
@cli.command()
@click.argument("train", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Base model to tune (provider/model).")
@click.option("--validation", type=click.Path(dir_okay=False), help="Validation set.")
@click.option("--epochs", type=click.IntRange(1, 100), help="Epochs (default: the provider's).")
@click.option("--lr", "learning_rate", type=click.FloatRange(0, min_open=True),
              help="Learning rate (hf).")
@click.option("--lr-multiplier", "learning_rate_multiplier",
              type=click.FloatRange(0, min_open=True),
              help="Learning-rate multiplier (openai, azure).")
@click.option("--batch-size", type=click.IntRange(1), help="Batch size (per device for hf).")
@click.option("--lora-r", type=click.IntRange(1), help="LoRA rank (hf).")
@click.option("--max-length", type=click.IntRange(8), help="Truncate examples to this many "
              "tokens (hf; default: from the data).")
@click.option("--seed", type=int, help="Random seed.")
@click.option("--suffix", help="Added to the fine-tuned model's name (openai ≤ 64 characters, "
              "azure ≤ 18).")
@click.option("--tier", help="Training tier where the provider has several (azure: global, "
              "regional, developer).")
@click.option("--processes", type=click.IntRange(1), default=1, show_default=True,
              help="Data-parallel processes under torchrun (hf).")
@click.option("--merge", is_flag=True, help="Also write a merged model (hf).")
@click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
              help="Refuse to start when the estimated training cost is above this.")
@click.option("--base-url", help="OpenAI-compatible server for the openai provider "
              "(sets OPENAI_BASE_URL for this command).")
@click.option("--no-wait", is_flag=True, help="Return once a remote job is created; follow it "
              "later with `ftdecide jobs wait ID`.")
@click.option("--backend", help="Where AutoTrain trains (autotrain: local, spaces-<hardware>, "
              "ep-<instance>; default local).")
@click.option("--dry-run", is_flag=True, help="Write the provider's config and data and print "
              "the command, without training or recording a job (autotrain).")
@click.option("--autotrain-bin", type=click.Path(dir_okay=False),
              help="The `autotrain` executable to run (autotrain; also FTDECIDE_AUTOTRAIN_BIN; "
              "default: the environment `ftdecide autotrain setup` made).")
@click.option("--yes", "-y", is_flag=True, help="Start without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def tune(train: str, model: str, validation: str | None, epochs: int | None,
         learning_rate: float | None, learning_rate_multiplier: float | None,
         batch_size: int | None, lora_r: int | None, max_length: int | None, seed: int | None,
         suffix: str | None, tier: str | None, processes: int, merge: bool,
         max_cost: float | None, base_url: str | None, no_wait: bool, backend: str | None,
         dry_run: bool, autotrain_bin: str | None, yes: bool,
         as_json: bool, price_files: tuple[str, ...]) -> None:
    """Fine-tune a model on a training set, after validating it and showing the cost.

    Nothing is uploaded or trained before the data is valid, the estimate is
    shown and confirmed (--yes without a terminal), and the job is in the
    local job store. A local job (hf) trains here; Ctrl-C leaves a checkpoint
    that `ftdecide jobs resume ID` continues from. A remote job (openai,
    azure) is polled until it ends; Ctrl-C or a lost connection leaves it
    running and `ftdecide jobs wait ID` follows it again. The tuned model is
    then usable as `--model` everywhere.

    \b
    Examples:
      ftdecide tune train.jsonl --model hf/smollm2-135m --yes
      ftdecide tune train.jsonl --model openai/gpt-4o-mini-2024-07-18 --suffix triage --max-cost 5
      ftdecide tune train.jsonl --model azure/gpt-4o-mini --tier developer --yes
      ftdecide tune train.jsonl --model autotrain/./my-model --backend local --dry-run
    """
    from . import tune as tuning
    from .store import Store

    if base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
    hyper = {"epochs": epochs, "learning_rate": learning_rate,
             "learning_rate_multiplier": learning_rate_multiplier, "batch_size": batch_size,
             "lora_r": lora_r, "max_length": max_length, "seed": seed}
    options: dict[str, Any] = {"processes": processes} if processes > 1 else {}
    if merge:
        options["merge"] = True
    options.update({k: v for k, v in (("suffix", suffix), ("tier", tier), ("backend", backend),
                                      ("autotrain_bin", autotrain_bin)) if v is not None})
    if dry_run:
        options["dry_run"] = True
    catalog = _catalog(price_files)
    p = tuning.plan(catalog, model, train, validation_path=validation, hyperparameters=hyper,
                    options=options)
    _render_tune_estimate(p.estimate)
    for warning in p.warnings:
        _err(f"Warning: {warning}")
    tuning.check_budget(p, max_cost)
    if dry_run:
        _render_dry_run(tuning.prepare(p), as_json)
        return
    if not yes:
        if not sys.stdin.isatty():
            from .errors import UsageError

            raise UsageError("not starting a fine-tuning job without confirmation",
                             hint="add --yes to start it non-interactively")
        if not click.confirm("Start fine-tuning?", default=False, err=True):
            _err("Not started.")
            sys.exit(1)
    store = Store()
    bar = _JobProgress()

    def submitted(record: Any) -> None:
        _err(f"Job {record.id} created on {record.provider} (provider job "
             f"{record.provider_job_id}). Follow it any time with: ftdecide jobs wait {record.id}")

    try:
        record = tuning.start(p, store, progress=bar.update, wait=not no_wait,
                              on_submitted=submitted)
    except tuning.JobDetached as detached:
        bar.close()
        _detached(detached, store, as_json)
    finally:
        bar.close()
    _finish_job(record, as_json, store)


@cli.group()
def jobs() -> None:
    """Fine-tuning jobs: the local job store and the providers' side of them.

    \b
    Examples:
      ftdecide jobs list
      ftdecide jobs wait ft-20261128-a1b2c3
    """


@jobs.command("list")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--refresh", is_flag=True, help="Ask the provider about remote jobs that have "
              "not ended.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_list(limit: int, refresh: bool, as_json: bool, price_files: tuple[str, ...]) -> None:
    """List recent jobs, newest first.

    \b
    Example:
      ftdecide jobs list --refresh --json
    """
    from .render import money, table
    from .store import Store
    from .tune import summary

    store = Store()
    records = store.jobs(limit)
    if refresh:
        catalog = _catalog(price_files)
        records = [_refreshed(store, catalog, r) for r in records]
    data = [summary(r, store.deployments(r.id)) for r in records]
    if as_json:
        _echo_json(data)
        return
    if not records:
        click.echo("no jobs yet: start one with `ftdecide tune`")
        return
    click.echo(table(["job", "status", "base model", "tuned model", "cost", "created"], [
        [d["job_id"], d["status"], d["base_model"], d["model"] or "-",
         money(d["total_cost_usd"]), d["created_at"]] for d in data]))


def _refreshed(store: Any, catalog: Any, record: Any) -> Any:
    """The job after one status call; the stored state (with a warning) if the call fails."""
    from . import tune as tuning

    try:
        return tuning.refresh(store, catalog, record.id)
    except FtdecideError as exc:
        _err(f"Warning: could not refresh {record.id} from {record.provider}: {exc.message}")
        return record


@jobs.command("show")
@click.argument("job_id")
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="Ask the provider first when a remote job has not ended.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_show(job_id: str, refresh: bool, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Show one job: status, settings, loss curve, cost (training and hosting).

    \b
    Example:
      ftdecide jobs show ft-20261128-a1b2c3
    """
    from .store import Store
    from .tune import summary

    store = Store()
    record = store.get_job(job_id)
    if refresh and record.status not in ("succeeded", "failed", "cancelled"):
        record = _refreshed(store, _catalog(price_files), record)
    data = summary(record, store.deployments(job_id))
    if as_json:
        _echo_json(data)
        return
    _render_job(data)


@jobs.command("wait")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_wait(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Follow a job until it ends (after Ctrl-C, a kill, --no-wait or a lost connection).

    A remote job is polled at the provider; a job whose creation was cut
    short is looked up there rather than created again.

    \b
    Example:
      ftdecide jobs wait ft-20261128-a1b2c3
    """
    from . import tune as tuning
    from .store import Store

    store = Store()
    bar = _JobProgress()
    try:
        record = tuning.wait(store, _catalog(price_files), job_id, progress=bar.update)
    except tuning.JobDetached as detached:
        bar.close()
        _detached(detached, store, as_json)
    finally:
        bar.close()
    _finish_job(record, as_json, store)


@jobs.command("cancel")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_cancel(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Cancel a job at its provider (training already billed stays billed).

    \b
    Example:
      ftdecide jobs cancel ft-20261128-a1b2c3
    """
    from . import tune as tuning
    from .store import Store
    from .tune import summary

    store = Store()
    record = tuning.cancel(store, _catalog(price_files), job_id)
    data = summary(record, store.deployments(job_id))
    if as_json:
        _echo_json(data)
    else:
        _render_job(data)


@jobs.command("events")
@click.argument("job_id")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_events(job_id: str, limit: int, as_json: bool, price_files: tuple[str, ...]) -> None:
    """A job's events, oldest first: the provider's log for a remote job, the logged
    steps for a local one.

    \b
    Example:
      ftdecide jobs events ft-20261128-a1b2c3 --limit 20
    """
    from . import tune as tuning
    from .store import Store

    found = tuning.events(Store(), _catalog(price_files), job_id, limit=limit)
    if as_json:
        _echo_json(found)
        return
    if not found:
        click.echo("no events yet")
    for event in found:
        when = event.get("created_at")
        stamp = _timestamp(when) if when is not None else "-"
        click.echo(f"{stamp}  {event.get('level', 'info'):<5}  {event.get('message', '')}")


def _timestamp(value: Any) -> str:
    import datetime as _dt

    if isinstance(value, (int, float)):
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc).isoformat(timespec="seconds")
    return str(value)


@jobs.command("deploy")
@click.argument("job_id")
@click.option("--name", help="Deployment name (default: the fine-tuned model's id, cut to 64).")
@click.option("--tier", help="Deployment tier (azure: global, regional, developer; default: "
              "the training tier, else global).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_deploy(job_id: str, name: str | None, tier: str | None, as_json: bool,
                price_files: tuple[str, ...]) -> None:
    """Deploy a fine-tuned model where the host bills per hour (Azure OpenAI).

    Hosting accrues on the job from now until `ftdecide jobs undeploy ID`,
    used or not; `ftdecide jobs show ID` shows it.

    \b
    Example:
      ftdecide jobs deploy ft-20261128-a1b2c3 --tier developer
    """
    from . import tune as tuning
    from .render import money
    from .store import Store

    def progress(update: dict[str, Any]) -> None:
        _err(f"deployment {update.get('name')}: {update.get('state')}")

    result = tuning.deploy(Store(), _catalog(price_files), job_id, name=name, tier=tier,
                           progress=progress)
    for warning in result["warnings"]:
        _err(f"Warning: {warning}")
    if as_json:
        _echo_json(result)
        return
    rate = result["hosting_per_hour"]
    click.echo(f"deployed {result['name']} ({result['tier']}): use it as --model "
               f"{result['model']}")
    click.echo(f"hosting: {money(rate, 2)}/hour from {result['deployed_at']} until "
               f"`ftdecide jobs undeploy {job_id}`")


@jobs.command("undeploy")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_undeploy(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Delete the job's deployment; hosting stops accruing.

    \b
    Example:
      ftdecide jobs undeploy ft-20261128-a1b2c3
    """
    from . import tune as tuning
    from .render import money
    from .store import Store

    def progress(update: dict[str, Any]) -> None:
        _err(f"deployment {update.get('name')}: {update.get('state')}")

    store = Store()
    tuning.undeploy(store, _catalog(price_files), job_id, progress=progress)
    data = tuning.summary(store.get_job(job_id), store.deployments(job_id))
    if as_json:
        _echo_json(data)
        return
    click.echo(f"undeployed; hosting accrued on {job_id}: {money(data['hosting_cost_usd'])}")


@jobs.command("resume")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@_prices_option
def jobs_resume(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Continue an interrupted local job from its last checkpoint.

    \b
    Example:
      ftdecide jobs resume ft-20261128-a1b2c3
    """
    from . import tune as tuning
    from .store import Store

    store = Store()
    bar = _JobProgress()
    try:
        record = tuning.resume(store, _catalog(price_files), job_id, progress=bar.update)
    finally:
        bar.close()
    _finish_job(record, as_json, store)


class _JobProgress:
    """A progress bar on stderr fed by a provider's JobState updates.

    Status changes (queued, running ...) are printed as lines; steps drive
    the bar, labelled with the latest train loss.
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.pos = 0
        self.status: str | None = None

    def update(self, state: Any) -> None:
        if state.status != self.status:
            self.status = state.status
            if self.bar is None:  # a line would break the bar
                _err(f"status: {state.status}")
        if not state.total_steps:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=state.total_steps, label="training",
                                         file=sys.stderr, show_pos=True,
                                         item_show_func=lambda x: x)
            self.bar.__enter__()
        step = state.step or 0
        loss = next((row.get("train_loss") for row in reversed(state.loss_curve)
                     if row.get("train_loss") is not None), None)
        self.bar.update(max(0, step - self.pos),
                        current_item=f"loss {loss:.3f}" if loss is not None else None)
        self.pos = max(self.pos, step)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _detached(detached: Any, store: Any, as_json: bool) -> None:
    """Ctrl-C while a remote job runs: it keeps running; say how to follow it; exit 130."""
    from .tune import summary

    record = detached.record
    if as_json:
        _echo_json(summary(record, store.deployments(record.id)))
    if detached.submitted:
        _err(f"Interrupted: job {record.id} keeps running on {record.provider} "
             f"(provider job {record.provider_job_id}). Follow it with: "
             f"ftdecide jobs wait {record.id}")
    else:
        _err(f"Interrupted while creating job {record.id} on {record.provider}; if it was "
             f"created, `ftdecide jobs wait {record.id}` finds it (nothing is created twice)")
    sys.exit(130)


def _finish_job(record: Any, as_json: bool, store: Any = None) -> None:
    from .tune import summary

    data = summary(record, store.deployments(record.id) if store is not None else None)
    if as_json:
        _echo_json(data)
    else:
        _render_job(data)
    if record.status == "interrupted":
        _err(f"Interrupted: the job keeps its checkpoint. Continue with: "
             f"ftdecide jobs resume {record.id}")
        sys.exit(130)
    if record.status == "failed":
        _err(f"Error: job {record.id} failed: {record.error}")
        sys.exit(3)
    if record.status not in ("succeeded", "cancelled"):
        _err(f"Job {record.id} is {record.status}. Follow it with: ftdecide jobs wait {record.id}")


def _render_dry_run(result: dict[str, Any], as_json: bool) -> None:
    """``tune --dry-run``: the files written and the command (stdout), notes on stderr."""
    if as_json:
        _echo_json(result)
    else:
        click.echo(f"dry run: nothing was trained and no job was recorded ({result['run_dir']})")
        for key in ("config", "output_dir"):
            if result.get(key):
                click.echo(f"  {key.replace('_', ' ')}: {result[key]}")
        if isinstance(result.get("data"), dict):
            click.echo(f"  data: {result['data'].get('path')} "
                       f"({result['data'].get('examples')} examples)")
        for line in result.get("validated_by") or []:
            click.echo(f"  checked by: {line}")
        if result.get("shell"):
            click.echo("command:")
            click.echo(f"  {result['shell']}")
    for note in result.get("notes") or []:
        _err(f"Note: {note}")


def _render_tune_estimate(estimate: dict[str, Any]) -> None:
    """The cost shown before confirmation (stderr: stdout is for the result)."""
    from .render import money, number

    _err(f"{estimate['model']}: {estimate['examples']:,} examples, "
         f"{estimate['tokens']['total']:,} tokens, {estimate['epochs']} epoch(s) "
         f"({estimate['epochs_source']})")
    if estimate.get("training_cost_usd") is not None:
        tier = (estimate.get("price") or {}).get("tier")
        _err(f"estimated training cost: {money(estimate['training_cost_usd'])} "
             f"({number(estimate['billed_tokens'])} billed tokens"
             + (f", {tier} tier" if tier else "") + ")")
    if estimate.get("hardware"):
        _err(_hardware_table(estimate["hardware"]))


def _hardware_table(hardware: dict[str, Any]) -> str:
    """Hours and cost per hardware class (open weights are priced in hardware time)."""
    from .render import money, number, table

    rows = list(hardware.get("hardware") or [])
    if hardware.get("cpu_local"):
        rows.append(hardware["cpu_local"])
    text = table(["hardware", "epochs", "training tokens", "tokens/s", "hours", "$/hour", "cost",
                  "throughput"], [
        [h["hardware"], h.get("epochs"), number(h.get("training_tokens")),
         number(h.get("tokens_per_s"), 0), f"{h['hours']:.3f}", money(h.get("usd_per_hour"), 2),
         money(h.get("cost_usd")),
         "measured" if str(h.get("throughput_source", "")).startswith("measured") else "estimated"]
        for h in rows])
    note = (f"open weights are priced in hardware time (rates as of {hardware.get('as_of')}; "
            f"{hardware.get('source')})")
    if hardware.get("tokens_source"):
        note += f"\ntokens: {hardware['tokens_source']}"
    return text + "\n" + note


def _render_job(data: dict[str, Any]) -> None:
    from .render import money, number

    click.echo(f"job {data['job_id']}: {data['status']}")
    click.echo(f"  base model:  {data['base_model']}")
    if data.get("provider_job_id"):
        click.echo(f"  provider job: {data['provider_job_id']}")
    if data["model"]:
        click.echo(f"  tuned model: {data['model']}  (use it as --model {data['model']})")
    if data.get("deployment"):
        click.echo(f"  deployed as: {data['deployment']}  (use it as --model "
                   f"{data['deployment']})")
    if data["step"] is not None:
        click.echo(f"  steps:       {data['step']} / {data['total_steps']}")
    curve = data["loss_curve"]
    train_losses = [r["train_loss"] for r in curve if r.get("train_loss") is not None]
    if train_losses:
        click.echo(f"  train loss:  {train_losses[0]:.3f} → {train_losses[-1]:.3f}")
    valid = [r["valid_loss"] for r in curve if r.get("valid_loss") is not None]
    if valid:
        click.echo(f"  valid loss:  {valid[0]:.3f} → {valid[-1]:.3f}")
    if data["wall_s"] is not None:
        click.echo(f"  wall time:   {data['wall_s']:.0f} s, {number(data['tokens_per_s'])} "
                   "tokens/s")
    if data.get("trained_tokens") is not None:
        click.echo(f"  trained tokens: {number(data['trained_tokens'])}")
    if data.get("estimated_cost_usd") is not None:
        click.echo(f"  estimated:   {money(data['estimated_cost_usd'])}")
    if data["actual_cost_usd"] is not None:
        click.echo(f"  cost:        {money(data['actual_cost_usd'])}")
    for d in data.get("deployments") or []:
        state = "live" if d["live"] else f"ended {d['undeployed_at'] or d['expires_at']}"
        rate = money(d["hosting_per_hour"], 2) if d["hosting_per_hour"] is not None else "?"
        click.echo(f"  deployment:  {d['name']} ({d['tier'] or '-'}, {rate}/h) from "
                   f"{d['deployed_at']}, {state}: {d['hours']:.2f} h = "
                   f"{money(d['hosting_cost_usd'])}")
        if d["live"] and d.get("expires_at"):
            click.echo(f"               Developer tier: Azure deletes it at {d['expires_at']}")
    if data.get("deployments"):
        click.echo(f"  hosting:     {money(data['hosting_cost_usd'])} accrued; total "
                   f"{money(data['total_cost_usd'])}")
    click.echo(f"  run folder:  {data['run_dir']}")
    if data["error"]:
        click.echo(f"  error:       {data['error']}")


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
    from .prices import freshness, user_price_file
    from .render import money, table

    catalog = _catalog(price_files)
    if provider and provider not in catalog.providers:
        from .errors import UsageError

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
    from .plugins import get_registry
    from .render import table

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
    from .ask import ask_once
    from .render import money

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


from .cli_compare import compare as _compare_command, report as _report_command  # noqa: E402

cli.add_command(_compare_command, "compare")
cli.add_command(_report_command, "report")
from .cli_assess import assess as _assess_command  # noqa: E402
cli.add_command(_assess_command, "assess")
from .cli_autotrain import autotrain as _autotrain_command  # noqa: E402
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
