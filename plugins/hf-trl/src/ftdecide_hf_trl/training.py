"""LoRA supervised fine-tuning with TRL: what ``ftdecide tune --model hf/...`` runs.

One entry point, :func:`train`, called by the provider with a
:class:`ftdecide.TuneRequest` and the resolved base model. Everything it
writes lives in ``request.run_dir`` (the layout: :mod:`ftdecide_hf_trl.rundir`).

Loss is on the completion only, whatever the chat template: each chat
example becomes a prompt/completion record (prompt = the messages before the
last assistant message, completion = that message), for which TRL's
``completion_only_loss`` masks the prompt (reference/hf.md §3, §4).

Interruption: Ctrl-C (SIGINT), SIGTERM, a ``STOP`` file in ``run_dir`` or the
test-only ``options["stop_after_steps"]`` let the current optimizer step
finish, save a checkpoint at that step and return ``status="interrupted"``.
A second Ctrl-C aborts at once (the last periodic checkpoint stays). With
``resume=True`` training continues from the last complete checkpoint and ends
at the same total number of steps. ``kill -9`` loses at most the steps since
the last periodic checkpoint (``options["save_steps"]``).

Options (``request.options``): ``processes`` (default
:func:`~ftdecide_hf_trl.devices.auto_processes`:
2 on a multi-core CPU for models of 50M+ parameters, else 1), ``merge``
(also write ``merged/``), ``save_steps`` (checkpoint interval; default about
10% of the steps, at most 50), ``max_steps`` (exactly that many steps instead
of the schedule derived from the data, :mod:`~ftdecide_hf_trl.schedule`),
``time_budget`` (trade LoRA layers, then steps, to fit; see
:mod:`~ftdecide_hf_trl.budget`), ``device`` ("cpu" or "cuda"; default cuda
when there is one) and, for tests, ``stop_after_steps`` (interrupt as Ctrl-C
would after that step).

With a validation file the loss on it is measured before the first update
(step 0), every quarter of the run and at the last step (see
:mod:`~ftdecide_hf_trl.worker`), the curve the core's ``learned`` verdict reads.
``processes = N > 1`` runs the same code under ``torchrun`` (see
:mod:`ftdecide_hf_trl.train_worker`): gloo on CPU, nccl on GPUs; the
``batch_size`` stays the global batch (each process takes batch_size / N).

Where the pieces are: hyperparameters and options in
:mod:`~ftdecide_hf_trl.hyperparameters`, the schedule rule in
:mod:`~ftdecide_hf_trl.schedule` and its time-budget trade in
:mod:`~ftdecide_hf_trl.budget`, the device and process count in
:mod:`~ftdecide_hf_trl.devices`, the run folder's files in
:mod:`~ftdecide_hf_trl.rundir`, stopping in :mod:`~ftdecide_hf_trl.stopping`,
the Trainer callbacks in :mod:`~ftdecide_hf_trl.callbacks`, one process (or
rank) in :mod:`~ftdecide_hf_trl.worker` and the torchrun launch in
:mod:`~ftdecide_hf_trl.torchrun`.

Heavy libraries (torch, transformers, trl, peft, datasets) are imported
inside functions only, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftdecide.errors import UsageError
from ftdecide.providers import JobState, ProgressCallback, TuneRequest

from .devices import _device, auto_processes
from .hyperparameters import _int_option, resolve_hyperparameters
from .rundir import HYPERPARAMETERS_FILE, STOP_FILE, _read_json
from .torchrun import _train_multiprocess
from .worker import run_training


def train(request: TuneRequest, *, base: Any, progress: ProgressCallback | None = None,
          resume: bool = False) -> JobState:
    """Fine-tune ``base`` with LoRA on ``request.train_path``; return the final JobState.

    ``base``: a :class:`~ftdecide_hf_trl.resolve.ResolvedModel` (``spec``, ``path``/``ensure_local()``,
    ``adapter_dir``: when set, that adapter is trained further). Returns
    ``succeeded`` (adapter in ``run_dir/adapter``), ``interrupted`` (a
    checkpoint to resume from) or ``failed`` (``error`` says why). Raises
    FtdecideError only for what is wrong before training starts (bad
    hyperparameters or options, no base folder).
    """
    run_dir = Path(request.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    options = dict(request.options or {})
    processes = _int_option(options, "processes", None, minimum=1)
    spec = str(getattr(base, "spec", "") or "")
    ensure = getattr(base, "ensure_local", None)
    base_path = ensure() if callable(ensure) else getattr(base, "path", None)
    if base_path is None:
        raise UsageError(f"the base model {spec!r} has no local folder to train from")
    if processes is None:
        saved = _read_json(run_dir / HYPERPARAMETERS_FILE) if resume else None
        batch = (saved or {}).get("hyperparameters", {}).get("batch_size") or \
            resolve_hyperparameters(request.hyperparameters, device=_device(options))["batch_size"]
        processes = auto_processes(Path(base_path), parameters=getattr(base, "parameters", None),
                                   device=options.get("device"), batch_size=batch)
    adapter = getattr(base, "adapter_dir", None)
    merged = getattr(base, "merged_dir", None)
    if adapter and merged and Path(merged) == Path(base_path):
        adapter = None  # a run's merged folder already holds its adapter: train a new LoRA on it
    base_info = {"spec": spec or str(base_path), "path": str(base_path),
                 "adapter_dir": str(adapter) if adapter else None}
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    if processes > 1:
        return _train_multiprocess(request, base_info, processes, progress, resume)
    return run_training(request, base_info, progress=progress, resume=resume)


__all__ = ["train"]
