"""The ``jobs`` commands: the local job store and the providers' side of each job
(list, show, wait, cancel, events, deploy, undeploy, resume)."""

from __future__ import annotations

from typing import Any

import click

from ftdecide.cli.common import echo_json, err, open_catalog, prices_option
from ftdecide.cli.jobview import JobProgress, finish_job, render_job, report_detached
from ftdecide.errors import FtdecideError


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
@prices_option
def jobs_list(limit: int, refresh: bool, as_json: bool, price_files: tuple[str, ...]) -> None:
    """List recent jobs, newest first.

    \b
    Example:
      ftdecide jobs list --refresh --json
    """
    from ftdecide.report._text import money, table
    from ftdecide.tune import Store, summary

    store = Store()
    records = store.jobs(limit)
    if refresh:
        catalog = open_catalog(price_files)
        records = [_refreshed(store, catalog, r) for r in records]
    data = [summary(r, store.deployments(r.id)) for r in records]
    if as_json:
        echo_json(data)
        return
    if not records:
        click.echo("no jobs yet: start one with `ftdecide tune`")
        return
    click.echo(table(["job", "status", "base model", "tuned model", "cost", "created", "key"], [
        [d["job_id"], d["status"], d["base_model"], d["model"] or "-",
         money(d["total_cost_usd"]), d["created_at"], (d["tune_key"] or "-")[:8]]
        for d in data]))
    click.echo("key: the first characters of the tune key; jobs with the same key trained the "
               "same data with the same settings", err=True)


def _refreshed(store: Any, catalog: Any, record: Any) -> Any:
    """The job after one status call; the stored state (with a warning) if the call fails."""
    import ftdecide.tune as tuning

    try:
        return tuning.refresh(store, catalog, record.id)
    except FtdecideError as exc:
        err(f"Warning: could not refresh {record.id} from {record.provider}: {exc.message}")
        return record


@jobs.command("show")
@click.argument("job_id")
@click.option("--refresh/--no-refresh", default=True, show_default=True,
              help="Ask the provider first when a remote job has not ended.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_show(job_id: str, refresh: bool, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Show one job: status, settings, loss curve, cost (training and hosting).

    \b
    Example:
      ftdecide jobs show ft-20261128-a1b2c3
    """
    from ftdecide.tune import Store, summary

    store = Store()
    record = store.get_job(job_id)
    if refresh and record.status not in ("succeeded", "failed", "cancelled"):
        record = _refreshed(store, open_catalog(price_files), record)
    data = summary(record, store.deployments(job_id))
    if as_json:
        echo_json(data)
        return
    render_job(data)


@jobs.command("wait")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_wait(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Follow a job until it ends (after Ctrl-C, a kill, --no-wait or a lost connection).

    A remote job is polled at the provider; a job whose creation was cut
    short is looked up there rather than created again.

    \b
    Example:
      ftdecide jobs wait ft-20261128-a1b2c3
    """
    import ftdecide.tune as tuning
    from ftdecide.tune import Store

    store = Store()
    bar = JobProgress()
    try:
        record = tuning.wait(store, open_catalog(price_files), job_id, progress=bar.update)
    except tuning.JobDetached as detached:
        bar.close()
        report_detached(detached, store, as_json)
    finally:
        bar.close()
    finish_job(record, as_json, store)


@jobs.command("cancel")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_cancel(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Cancel a job at its provider (training already billed stays billed).

    \b
    Example:
      ftdecide jobs cancel ft-20261128-a1b2c3
    """
    import ftdecide.tune as tuning
    from ftdecide.tune import Store, summary

    store = Store()
    record = tuning.cancel(store, open_catalog(price_files), job_id)
    data = summary(record, store.deployments(job_id))
    if as_json:
        echo_json(data)
    else:
        render_job(data)


@jobs.command("events")
@click.argument("job_id")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_events(job_id: str, limit: int, as_json: bool, price_files: tuple[str, ...]) -> None:
    """A job's events, oldest first: the provider's log for a remote job, the logged
    steps for a local one.

    \b
    Example:
      ftdecide jobs events ft-20261128-a1b2c3 --limit 20
    """
    import ftdecide.tune as tuning
    from ftdecide.tune import Store

    found = tuning.events(Store(), open_catalog(price_files), job_id, limit=limit)
    if as_json:
        echo_json(found)
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
@prices_option
def jobs_deploy(job_id: str, name: str | None, tier: str | None, as_json: bool,
                price_files: tuple[str, ...]) -> None:
    """Deploy a fine-tuned model where the host bills per hour (Azure OpenAI).

    Hosting accrues on the job from now until `ftdecide jobs undeploy ID`,
    used or not; `ftdecide jobs show ID` shows it.

    \b
    Example:
      ftdecide jobs deploy ft-20261128-a1b2c3 --tier developer
    """
    import ftdecide.tune as tuning
    from ftdecide.report._text import money
    from ftdecide.tune import Store

    def progress(update: dict[str, Any]) -> None:
        err(f"deployment {update.get('name')}: {update.get('state')}")

    result = tuning.deploy(Store(), open_catalog(price_files), job_id, name=name, tier=tier,
                           progress=progress)
    for warning in result["warnings"]:
        err(f"Warning: {warning}")
    if as_json:
        echo_json(result)
        return
    rate = result["hosting_per_hour"]
    click.echo(f"deployed {result['name']} ({result['tier']}): use it as --model "
               f"{result['model']}")
    click.echo(f"hosting: {money(rate, 2)}/hour from {result['deployed_at']} until "
               f"`ftdecide jobs undeploy {job_id}`")


@jobs.command("undeploy")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_undeploy(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Delete the job's deployment; hosting stops accruing.

    \b
    Example:
      ftdecide jobs undeploy ft-20261128-a1b2c3
    """
    import ftdecide.tune as tuning
    from ftdecide.report._text import money
    from ftdecide.tune import Store

    def progress(update: dict[str, Any]) -> None:
        err(f"deployment {update.get('name')}: {update.get('state')}")

    store = Store()
    tuning.undeploy(store, open_catalog(price_files), job_id, progress=progress)
    data = tuning.summary(store.get_job(job_id), store.deployments(job_id))
    if as_json:
        echo_json(data)
        return
    click.echo(f"undeployed; hosting accrued on {job_id}: {money(data['hosting_cost_usd'])}")


@jobs.command("resume")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def jobs_resume(job_id: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Continue an interrupted local job from its last checkpoint.

    \b
    Example:
      ftdecide jobs resume ft-20261128-a1b2c3
    """
    import ftdecide.tune as tuning
    from ftdecide.tune import Store

    store = Store()
    bar = JobProgress()
    try:
        record = tuning.resume(store, open_catalog(price_files), job_id, progress=bar.update)
    finally:
        bar.close()
    finish_job(record, as_json, store)
