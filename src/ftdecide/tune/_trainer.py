"""Training inside another command's run (``compare`` with ``tune:``): start, resume or follow.

A comparison that trains its own tuned model must never pay twice: the job
id goes into the run's state before training starts, so a resumed run
resumes a local job from its checkpoint or follows a hosted one instead of
starting another. What a person sees (the estimate, progress, the question
before a paid job) is injected by the caller, so this layer stays free of
the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ftdecide.errors import ProviderError, UsageError
from ftdecide.options import Option
from ftdecide.pricing._catalog import Catalog
from ftdecide.tune import _jobs as tuning
from ftdecide.tune._store import Store, new_job_id

#: ``tune:`` keys every provider understands; the rest are the provider's own options.
GENERIC_KEYS = ("epochs", "batch_size", "seed")
#: ``tune:`` keys that are not settings of the job itself.
RUN_KEYS = ("model", "validation", "options")


def split_tune_config(tune: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(generic hyperparameters, provider options) of a compare config's ``tune:`` mapping.

    ``tune: {epochs: 2, options: {lora_r: 8}}`` is the documented form; provider
    keys written directly under ``tune:`` (``tune: {lr: 0.001}``, as earlier
    releases did) are provider options too. The provider's schema checks them.
    """
    hyper = {k: _generic(k, tune[k]) for k in GENERIC_KEYS if tune.get(k) is not None}
    options = {k: v for k, v in tune.items()
               if k not in GENERIC_KEYS and k not in RUN_KEYS and v is not None}
    options.update(dict(tune.get("options") or {}))
    return hyper, options


_GENERIC = {"epochs": Option("epochs", int, "epochs", minimum=1),
            "batch_size": Option("batch_size", int, "batch size", minimum=1),
            "seed": Option("seed", int, "random seed")}


def _generic(key: str, value: Any) -> Any:
    try:
        return _GENERIC[key].parse(value)
    except ValueError as exc:
        raise UsageError(f"tune.{key} = {value!r}: {exc}",
                         hint=f"e.g. tune: {{{key}: 3}}") from None


@dataclass
class TrainerView:
    """How the caller shows a training to a person (all optional)."""

    notice: Callable[[str], None] = lambda text: None
    show_estimate: Callable[[dict[str, Any]], None] = lambda estimate: None
    progress: Callable[[Any], None] | None = None
    close_progress: Callable[[], None] = lambda: None
    confirm: Callable[[float], bool] | None = None
    """Asked before a paid job; None when there is no one to ask (then --yes is needed)."""


def make_trainer(catalog: Catalog, *, yes: bool, view: TrainerView | None = None,
                 store: Store | None = None,
                 retrain: bool = False) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    """The ``train(config, ctx)`` callback of :func:`ftdecide.compare.run`.

    ``ctx["state"]`` is the run's state and ``ctx["save"](job_id=...)``
    persists it; the returned mapping is the job's summary. A finished job
    with the same data and settings is reused (``retrain`` trains again).
    """
    view = view or TrainerView()

    def train(config: Any, ctx: dict[str, Any]) -> dict[str, Any]:
        jobs = store or Store()
        state, save = ctx["state"], ctx["save"]
        tune = dict(config.tune or {})
        job_id = state.get("job_id")
        record = jobs.find_job(job_id) if job_id else None
        try:
            if record is not None and record.status != "succeeded":
                record = _continue(jobs, catalog, record, view)
            elif record is None:
                hyper, options = split_tune_config(tune)
                p = tuning.plan(catalog, tune.get("model") or config.model, config.train,
                                validation_path=tune.get("validation"),
                                hyperparameters=hyper, options=options)
                job_id = new_job_id()

                def before_start() -> None:
                    view.show_estimate(p.estimate)
                    for warning in p.warnings:  # as `tune` shows them: before anything starts
                        view.notice(f"Warning: {warning}")
                    tuning.check_budget(p, config.max_cost_usd)
                    _confirm_paid(p, yes, view)
                    save(job_id=job_id)  # recorded in the run before anything is paid

                def on_previous(previous: Any) -> None:
                    view.notice(previous.message())
                    save(job_id=previous.record.id, reused=previous.action == "reuse")

                record, _ = tuning.obtain(p, jobs, catalog, retrain=retrain,
                                          progress=view.progress, job_id=job_id,
                                          before_start=before_start, on_previous=on_previous)
        finally:
            view.close_progress()
        if record.status == "interrupted":
            raise KeyboardInterrupt
        if record.status != "succeeded":
            raise ProviderError(f"fine-tuning job {record.id} is {record.status}"
                                + (f": {record.error}" if record.error else ""),
                                hint=f"see `ftdecide jobs show {record.id}`")
        return tuning.summary(record, reused=bool(state.get("reused")))

    return train


def _continue(store: Store, catalog: Catalog, record: Any, view: TrainerView) -> Any:
    """Resume a local job from its checkpoint, or follow a hosted one; never start another."""
    if record.status in ("failed", "cancelled"):
        raise ProviderError(f"the run's fine-tuning job {record.id} is {record.status}"
                            + (f": {record.error}" if record.error else ""),
                            hint="start a new compare run (without --resume)")
    if catalog.providers[record.provider].runs_locally:
        view.notice(f"resuming fine-tuning job {record.id} from its checkpoint")
        return tuning.resume(store, catalog, record.id, progress=view.progress)
    view.notice(f"following fine-tuning job {record.id} ({record.status})")
    return tuning.wait(store, catalog, record.id, progress=view.progress)


def _confirm_paid(p: tuning.TunePlan, yes: bool, view: TrainerView) -> None:
    cost = p.estimate.get("training_cost_usd") or 0.0
    if cost <= 0 or yes:
        return
    if view.confirm is None:
        raise UsageError("not starting a paid fine-tuning job without confirmation",
                         hint="add --yes to start it non-interactively")
    if not view.confirm(cost):
        raise UsageError("fine-tuning not started",
                         hint="compare an existing model with tuned:, or drop the fine-tuned arms")
