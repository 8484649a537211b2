"""The ``tune`` and ``jobs`` commands: start fine-tuning, then follow, resume, cancel,
deploy and inspect jobs in the local job store (and at their provider).

Split out of ``cli.py`` so each CLI module stays small; ``cli.py`` adds these
commands to its group. The core lives in :mod:`ftdecide.tune`.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ftdecide.cli.common import _catalog, _echo_json, _err, _prices_option
from ftdecide.errors import FtdecideError


# -- tune -------------------------------------------------------------------------------
@click.command()
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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._store import Store

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
            from ftdecide.errors import UsageError

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


@click.group()
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
    from ftdecide.report._text import money, table
    from ftdecide.tune._store import Store
    from ftdecide.tune._jobs import summary

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
    from ftdecide.tune import _jobs as tuning

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
    from ftdecide.tune._store import Store
    from ftdecide.tune._jobs import summary

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._store import Store

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._store import Store
    from ftdecide.tune._jobs import summary

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._store import Store

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.report._text import money
    from ftdecide.tune._store import Store

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.report._text import money
    from ftdecide.tune._store import Store

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
    from ftdecide.tune import _jobs as tuning
    from ftdecide.tune._store import Store

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
    from ftdecide.tune._jobs import summary

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
    from ftdecide.tune._jobs import summary

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
    from ftdecide.report._text import money, number

    if estimate.get("hardware"):
        # priced in hardware time: the epochs (and steps) of each hardware class are in
        # its table row, and the token price of the cookbook formula does not apply
        _err(f"{estimate['model']}: {estimate['examples']:,} examples, "
             f"{estimate['tokens']['total']:,} tokens")
        _err(_hardware_table(estimate["hardware"]))
        return
    _err(f"{estimate['model']}: {estimate['examples']:,} examples, "
         f"{estimate['tokens']['total']:,} tokens, {estimate['epochs']} epoch(s) "
         f"({estimate['epochs_source']})")
    if estimate.get("training_cost_usd") is not None:
        tier = (estimate.get("price") or {}).get("tier")
        _err(f"estimated training cost: {money(estimate['training_cost_usd'])} "
             f"({number(estimate['billed_tokens'])} billed tokens"
             + (f", {tier} tier" if tier else "") + ")")


def _hardware_table(hardware: dict[str, Any]) -> str:
    """Hours and cost per hardware class (open weights are priced in hardware time)."""
    from ftdecide.report._text import money, number, table

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
    from ftdecide.report._text import money, number

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
