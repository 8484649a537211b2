"""How jobs look to a person: the tune estimate, the progress line, a job's summary,
the dry run, and what to do after Ctrl-C. Shared by ``tune``, ``jobs``, ``estimate``
and ``compare``."""

from __future__ import annotations

import sys
from typing import Any

import click

from ftdecide._formatting import counted
from ftdecide.cli.common import echo_json, err


class JobProgress:
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
                err(f"status: {state.status}")
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


def report_detached(detached: Any, store: Any, as_json: bool) -> None:
    """Ctrl-C while a remote job runs: it keeps running; say how to follow it; exit 130."""
    from ftdecide.tune import summary

    record = detached.record
    if as_json:
        echo_json(summary(record, store.deployments(record.id)))
    if detached.submitted:
        err(f"Interrupted: job {record.id} keeps running on {record.provider} "
             f"(provider job {record.provider_job_id}). Follow it with: "
             f"ftdecide jobs wait {record.id}")
    else:
        err(f"Interrupted while creating job {record.id} on {record.provider}; if it was "
             f"created, `ftdecide jobs wait {record.id}` finds it (nothing is created twice)")
    sys.exit(130)


def finish_job(record: Any, as_json: bool, store: Any = None, *, reused: bool = False) -> None:
    from ftdecide.tune import summary

    data = summary(record, store.deployments(record.id) if store is not None else None,
                   reused=reused)
    if as_json:
        echo_json(data)
    else:
        render_job(data)
    if record.status == "interrupted":
        err(f"Interrupted: the job keeps its checkpoint. Continue with: "
             f"ftdecide jobs resume {record.id}")
        sys.exit(130)
    if record.status == "failed":
        err(f"Error: job {record.id} failed: {record.error}")
        sys.exit(3)
    if record.status not in ("succeeded", "cancelled"):
        err(f"Job {record.id} is {record.status}. Follow it with: ftdecide jobs wait {record.id}")


def render_dry_run(result: dict[str, Any], as_json: bool) -> None:
    """``tune --dry-run``: the files written and the command (stdout), notes on stderr."""
    if as_json:
        echo_json(result)
    else:
        click.echo(f"dry run: nothing was trained and no job was recorded ({result['run_dir']})")
        for key in ("config", "output_dir"):
            if result.get(key):
                click.echo(f"  {key.replace('_', ' ')}: {result[key]}")
        if isinstance(result.get("data"), dict):
            click.echo(f"  data: {result['data'].get('path')} "
                       f"({_examples(result['data'].get('examples'))})")
        for line in result.get("validated_by") or []:
            click.echo(f"  checked by: {line}")
        if result.get("shell"):
            click.echo("command:")
            click.echo(f"  {result['shell']}")
    for note in result.get("notes") or []:
        err(f"Note: {note}")


def _examples(n: Any) -> str:
    return counted(n, "example") if isinstance(n, int) else f"{n} examples"


def render_tune_estimate(estimate: dict[str, Any]) -> None:
    """The cost shown before confirmation (stderr: stdout is for the result)."""
    from ftdecide.report._text import money, number

    if estimate.get("hardware"):
        # priced in hardware time: the epochs (and steps) of each hardware class are in
        # its table row, and the token price of the cookbook formula does not apply
        err(f"{estimate['model']}: {_examples(estimate['examples'])}, "
             f"{estimate['tokens']['total']:,} tokens")
        err(hardware_table(estimate["hardware"]))
        return
    err(f"{estimate['model']}: {_examples(estimate['examples'])}, "
         f"{estimate['tokens']['total']:,} tokens, {counted(estimate['epochs'], 'epoch')} "
         f"({estimate['epochs_source']})")
    if estimate.get("training_cost_usd") is not None:
        tier = (estimate.get("price") or {}).get("tier")
        err(f"estimated training cost: {money(estimate['training_cost_usd'])} "
             f"({number(estimate['billed_tokens'])} billed tokens"
             + (f", {tier} tier" if tier else "") + ")")


def hardware_table(hardware: dict[str, Any]) -> str:
    """Hours and cost per hardware class (open weights are priced in hardware time)."""
    from ftdecide.report._text import money, number, table

    rows = list(hardware.get("hardware") or [])
    if hardware.get("cpu_local"):
        rows.append(hardware["cpu_local"])
    text = table(["hardware", "epochs", "steps", "examples seen", "training tokens", "tokens/s",
                  "hours", "$/hour", "cost", "throughput"], [
        [h["hardware"], h.get("epochs"), number(h.get("steps")), number(h.get("examples_seen")),
         number(h.get("training_tokens")),
         number(h.get("tokens_per_s"), 0), f"{h['hours']:.3f}", money(h.get("usd_per_hour"), 2),
         money(h.get("cost_usd")),
         "measured" if str(h.get("throughput_source", "")).startswith("measured") else "estimated"]
        for h in rows])
    note = (f"open weights are priced in hardware time (rates as of {hardware.get('as_of')}; "
            f"{hardware.get('source')})")
    if hardware.get("tokens_source"):
        note += f"\ntokens: {hardware['tokens_source']}"
    plan = hardware.get("schedule") or {}
    if plan.get("learning_rate") is not None:
        note += (f"\nschedule (the same on every row): {plan.get('steps')} steps of "
                 f"{plan.get('batch_size')} examples ({plan.get('source')}), learning rate "
                 f"{plan['learning_rate']:g} ({plan.get('learning_rate_source')}), LoRA on "
                 f"{plan.get('lora_layers')} layers")
    return text + "\n" + note


def render_job(data: dict[str, Any]) -> None:
    from ftdecide.report._text import money, number

    click.echo(f"job {data['job_id']}: {data['status']}"
               + (" (reused: the same data and settings)" if data.get("reused") else ""))
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
    learned = data.get("learned") or {}
    if data["status"] == "succeeded" and learned.get("verdict") not in (None, "unknown"):
        click.echo(f"  learned:     {learned['verdict']} ({learned['reason']})")
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
