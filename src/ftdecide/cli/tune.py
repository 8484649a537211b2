"""The ``tune`` command: validate, show the cost, confirm, record the job, train or follow it.

The plan and the job come from :func:`ftdecide.api.tune_plan` and
:func:`ftdecide.api.obtain_job` (what ``ftdecide.tune()`` runs); this module
adds the person: the estimate shown, the question asked, the progress bar.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ftdecide.cli.common import (
    ProviderOptionsCommand,
    err,
    open_catalog,
    prices_option,
    provider_option,
)
from ftdecide.cli.jobview import (
    JobProgress,
    finish_job,
    render_dry_run,
    render_tune_estimate,
    report_detached,
)

#: Flags of earlier releases that are provider options now: flag → (option, click settings).
#: They still work for one release, hidden from --help, with a deprecation line.
DEPRECATED_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--lr": ("learning_rate", {"type": click.FloatRange(0, min_open=True)}),
    "--lr-multiplier": ("learning_rate_multiplier", {"type": click.FloatRange(0, min_open=True)}),
    "--lora-r": ("lora_r", {"type": click.IntRange(1)}),
    "--max-length": ("max_length", {"type": click.IntRange(8)}),
    "--suffix": ("suffix", {}),
    "--tier": ("tier", {}),
    "--processes": ("processes", {"type": click.IntRange(1)}),
    "--merge": ("merge", {"is_flag": True, "default": None}),
    "--backend": ("backend", {}),
    "--dry-run": ("dry_run", {"is_flag": True, "default": None}),
    "--autotrain-bin": ("autotrain_bin", {"type": click.Path(dir_okay=False)}),
}


def _deprecated_flags(fn: Any) -> Any:
    for flag, (key, settings) in reversed(DEPRECATED_FLAGS.items()):
        fn = click.option(flag, "old_" + key, hidden=True, **settings)(fn)
    return fn


def deprecated_pairs(given: dict[str, Any]) -> list[tuple[str, Any]]:
    """The ``-o`` pairs the old flags in ``given`` stand for, each announced on stderr once."""
    pairs = []
    for flag, (key, _) in DEPRECATED_FLAGS.items():
        value = given.get("old_" + key)
        if value is None:
            continue
        shown = str(value).lower() if isinstance(value, bool) else value
        err(f"Warning: {flag} is deprecated and goes away in the next release; "
            f"use -o {key} {shown}")
        pairs.append((key, value))
    return pairs


@click.command(cls=ProviderOptionsCommand)
@click.argument("train", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Base model to tune (provider/model).")
@click.option("--validation", type=click.Path(dir_okay=False), help="Validation set.")
@click.option("--epochs", type=click.IntRange(1, 100), help="Epochs (default: the provider's).")
@click.option("--batch-size", type=click.IntRange(1), help="Batch size (per device for hf).")
@click.option("--seed", type=int, help="Random seed.")
@provider_option
@click.option("--max-cost", type=click.FloatRange(0), metavar="USD",
              help="Refuse to start when the estimated training cost is above this.")
@click.option("--base-url", help="OpenAI-compatible server for the openai provider "
              "(sets OPENAI_BASE_URL for this command).")
@click.option("--no-wait", is_flag=True, help="Return once a remote job is created; follow it "
              "later with `ftdecide jobs wait ID`.")
@click.option("--retrain", is_flag=True, help="Train again even when a finished job has the "
              "same data and settings (it is reused otherwise).")
@click.option("--yes", "-y", is_flag=True, help="Start without asking for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
@_deprecated_flags
def tune(train: str, model: str, validation: str | None, epochs: int | None,
         batch_size: int | None, seed: int | None, option_pairs: tuple[tuple[str, str], ...],
         max_cost: float | None, base_url: str | None, no_wait: bool, retrain: bool, yes: bool,
         as_json: bool, price_files: tuple[str, ...], **old_flags: Any) -> None:
    """Fine-tune a model on a training set, after validating it and showing the cost.

    Nothing is uploaded or trained before the data is valid, the estimate is
    shown and confirmed (--yes without a terminal), and the job is in the
    local job store. A local job (hf) trains here; Ctrl-C leaves a checkpoint
    that `ftdecide jobs resume ID` continues from. A remote job (openai,
    azure) is polled until it ends; Ctrl-C or a lost connection leaves it
    running and `ftdecide jobs wait ID` follows it again. The tuned model is
    then usable as `--model` everywhere. Provider-specific settings go
    through -o KEY VALUE (listed below for each installed provider).

    \b
    Examples:
      ftdecide tune train.jsonl --model hf/smollm2-135m --yes
      ftdecide tune train.jsonl --model hf/smollm2-135m -o lora_r 8 -o processes 2 --yes
      ftdecide tune train.jsonl --model openai/gpt-4o-mini-2024-07-18 -o suffix triage --max-cost 5
      ftdecide tune train.jsonl --model azure/gpt-4o-mini -o tier developer --yes
      ftdecide tune train.jsonl --model autotrain/./my-model -o backend local -o dry_run true
    """
    import ftdecide.api as api
    import ftdecide.tune as tuning
    from ftdecide.tune import Store

    if base_url:
        os.environ["OPENAI_BASE_URL"] = base_url
    hyper = {"epochs": epochs, "batch_size": batch_size, "seed": seed}
    options = [*deprecated_pairs(old_flags), *option_pairs]
    catalog = open_catalog(price_files)
    p = api.tune_plan(train, model, validation=validation, hyperparameters=hyper,
                      options=options, catalog=catalog)
    if p.options.get("dry_run"):
        render_tune_estimate(p.estimate)
        for warning in p.warnings:
            err(f"Warning: {warning}")
        tuning.check_budget(p, max_cost)
        render_dry_run(tuning.prepare(p), as_json)
        return

    def before_start() -> None:
        """Only for a new job: the cost, the budget, the question."""
        render_tune_estimate(p.estimate)
        for warning in p.warnings:
            err(f"Warning: {warning}")
        tuning.check_budget(p, max_cost)
        if not yes:
            if not sys.stdin.isatty():
                from ftdecide.errors import UsageError

                raise UsageError("not starting a fine-tuning job without confirmation",
                                 hint="add --yes to start it non-interactively")
            if not click.confirm("Start fine-tuning?", default=False, err=True):
                err("Not started.")
                sys.exit(1)

    store = Store()
    bar = JobProgress()

    def submitted(record: Any) -> None:
        err(f"Job {record.id} created on {record.provider} (provider job "
             f"{record.provider_job_id}). Follow it any time with: ftdecide jobs wait {record.id}")

    try:
        job = api.obtain_job(p, catalog=catalog, store=store, retrain=retrain,
                             progress=bar.update, wait=not no_wait, on_submitted=submitted,
                             on_previous=lambda prev: err(prev.message()),
                             before_start=before_start)
    except tuning.JobDetached as detached:
        bar.close()
        report_detached(detached, store, as_json)
    finally:
        bar.close()
    finish_job(job.record, as_json, store, reused=job.reused)
