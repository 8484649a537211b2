"""``tune`` for Python: validate, estimate, check the budget, record the job, train or follow.

``ftdecide tune`` plans with :func:`tune_plan` and obtains the job with
:func:`obtain_job` (its confirmation and progress shown to a person);
:func:`tune` is the same for a script, where ``yes=True`` stands for the
confirmation a paid job needs.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

from ftdecide.api._result import Result

__all__ = ["Job", "obtain_job", "tune", "tune_plan"]


class Job(Result):
    """A fine-tuning job: the ``ftdecide tune --json`` mapping (``ftdecide jobs show``'s
    fields: id, provider, status, model, costs, loss curve …). ``record`` is the job
    store's record (None for a dry run, whose mapping lists the files it wrote)."""

    def __init__(self, data: Mapping[str, Any], *, record: Any = None, reused: bool = False,
                 detached: bool = False) -> None:
        super().__init__(data)
        self.record = record
        self.reused = reused  #: a finished job with the same data and settings was reused
        self.detached = detached  #: returned before the job finished (``wait=False``)

    @property
    def status(self) -> str | None:
        return self._data.get("status")

    @property
    def model(self) -> str | None:
        """The tuned model, usable as ``model=``/``tuned=`` everywhere (None until it exists)."""
        return self._data.get("model")

    def _summary(self) -> str:
        return f"{self._data.get('job_id') or self._data.get('run_dir')}: {self.status}"


def tune_plan(path: str | os.PathLike[str], model: str, *,
              validation: str | os.PathLike[str] | None = None,
              hyperparameters: Mapping[str, Any] | None = None,
              options: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
              catalog: Any = None, price_files: Sequence[str] = ()) -> Any:
    """The checked plan of a fine-tune (validated data, estimate, provider options);
    nothing is uploaded or trained."""
    import ftdecide.tune as tuning
    from ftdecide.pricing import load_catalog

    catalog = catalog or load_catalog(price_files=tuple(price_files))
    pairs = list(options.items()) if isinstance(options, Mapping) else list(options)
    return tuning.plan(catalog, model, os.fspath(path),
                       validation_path=os.fspath(validation) if validation is not None else None,
                       hyperparameters=dict(hyperparameters or {}), options=pairs)


def obtain_job(p: Any, *, catalog: Any, store: Any = None, retrain: bool = False,
               wait: bool = True, progress: Callable[[Any], None] | None = None,
               before_start: Callable[[], None] | None = None,
               on_submitted: Callable[[Any], None] | None = None,
               on_previous: Callable[[Any], None] | None = None) -> Job:
    """Start (or reuse, resume, follow) the job of plan ``p``; its :class:`Job`.

    ``before_start`` runs only before a new, paid job (the budget check and
    the confirmation). :class:`ftdecide.tune.JobDetached` is raised when
    following stops while the job goes on at the provider.
    """
    import ftdecide.tune as tuning

    store = store or tuning.Store()
    record, previous = tuning.obtain(p, store, catalog, retrain=retrain, progress=progress,
                                     wait=wait, on_submitted=on_submitted,
                                     on_previous=on_previous, before_start=before_start)
    reused = previous is not None and previous.action == "reuse"
    return Job(tuning.summary(record, store.deployments(record.id), reused=reused),
               record=record, reused=reused,
               detached=record.status not in ("succeeded", "failed", "cancelled", "interrupted"))


def tune(path: str | os.PathLike[str], model: str, *,
         validation: str | os.PathLike[str] | None = None, epochs: int | None = None,
         batch_size: int | None = None, seed: int | None = None,
         options: Mapping[str, Any] | Sequence[tuple[str, Any]] = (),
         max_cost: float | None = None, wait: bool = True, retrain: bool = False,
         yes: bool = False, price_files: Sequence[str] = (),
         progress: Callable[[Any], None] | None = None, **provider_options: Any) -> Job:
    """Fine-tune ``model`` on the training set at ``path`` (``ftdecide tune``).

    Nothing is uploaded or trained before the data is valid and the
    estimated cost is within ``max_cost``; a new job starts only with
    ``yes=True`` (the script's confirmation; a reused job needs none).
    The provider's ``-o KEY VALUE`` settings go in as keywords (``lora_r=8``,
    ``suffix="triage"``) or as ``options={...}``; ``dry_run=True`` writes the
    files and the command and returns them. They are checked against the
    provider's option schema (an unknown key is a :class:`ftdecide.UsageError`).
    ``wait=False`` returns once a remote job is created.
    """
    import ftdecide.tune as tuning
    from ftdecide.errors import UsageError
    from ftdecide.pricing import load_catalog

    catalog = load_catalog(price_files=tuple(price_files))
    pairs = [*(options.items() if isinstance(options, Mapping) else options),
             *provider_options.items()]
    p = tune_plan(path, model, validation=validation, catalog=catalog, options=pairs,
                  hyperparameters={"epochs": epochs, "batch_size": batch_size, "seed": seed})
    if p.options.get("dry_run"):
        tuning.check_budget(p, max_cost)
        return Job(tuning.prepare(p))

    def before_start() -> None:
        tuning.check_budget(p, max_cost)
        if not yes:
            raise UsageError("not starting a fine-tuning job without confirmation",
                             hint="pass yes=True to start it (see its estimate with "
                                  "ftdecide.estimate first)")

    return obtain_job(p, catalog=catalog, retrain=retrain, wait=wait, progress=progress,
                      before_start=before_start)
