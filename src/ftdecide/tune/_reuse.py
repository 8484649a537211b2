"""A fine-tune is paid once: the same data and settings reuse the job that already trained them.

The run cache makes a re-run's calls free; the most expensive step of all
is the tune. A **tune key** identifies what a tune learns: the provider, the
base model, the bytes of the training and validation data (or the held-out
slice: source bytes and seed), the hyperparameters with the default epochs
resolved, and the provider options that change the model (those with
``Option.affects_model``; the suffix counts because it names the model).
Before a new job starts, ``ftdecide tune`` and ``compare`` look the key up:

- a **succeeded** job whose model still exists (a local run folder that is
  intact; a hosted model the provider still lists) is reused;
- a job still **running** (queued, validating) is followed, not started twice;
- an **interrupted** local job is resumed from its checkpoint;
- failed and cancelled jobs are not reused.

``--retrain`` skips the lookup.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftdecide.tune._store import FINAL_STATES, JobRecord, Store

KEY_VERSION = 1
Action = Literal["reuse", "follow", "resume"]


def _file_sha256(path: str | None) -> str | None:
    if not path:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tune_key(p: Any) -> str:
    """The key of a :class:`~ftdecide.tune._jobs.TunePlan`: equal keys train the same model."""
    schema = {o.name: o for o in getattr(p.provider, "options", ())}
    options = {k: v for k, v in sorted(p.options.items())
               if k not in schema or schema[k].affects_model}
    hyper = dict(p.hyperparameters)
    if hyper.get("epochs") is None and p.estimate.get("epochs") is not None:
        hyper["epochs"] = p.estimate["epochs"]  # the default, resolved: --epochs 3 is the same tune
    held = p.holdout
    fields = {
        "v": KEY_VERSION,
        "provider": p.info.provider,
        "model": p.info.id,
        "train": _file_sha256(p.train_path),
        "validation": None if held else _file_sha256(p.validation_path),
        "holdout": None if held is None else {"seed": held.seed, "valid": held.valid_examples,
                                              "of": held.total},
        "hyperparameters": hyper,
        "options": options,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Previous:
    """A job with the same tune key, and what to do with it."""

    record: JobRecord
    action: Action
    checked: bool = True
    """False when the provider could not say whether the model still exists."""

    def message(self) -> str:
        r = self.record
        when = (r.created_at or "")[:10]
        if self.action == "reuse":
            model = r.fine_tuned_model or r.id
            caveat = "" if self.checked else "; could not check that the model still exists"
            return (f"reusing {r.id} ({model}): the same data and settings, trained {when}"
                    f"{caveat}; --retrain to train again")
        if self.action == "follow":
            return (f"following {r.id}: the same data and settings are already training "
                    f"({r.status}, started {when}); --retrain to start another")
        return (f"resuming {r.id} from its checkpoint: the same data and settings were "
                f"interrupted ({when}); --retrain to start again")


def find_previous(store: Store, catalog: Any, key: str) -> Previous | None:
    """The job a new tune with ``key`` should reuse, follow or resume (None: start one)."""
    for record in store.jobs_with_key(key):
        provider = catalog.providers.get(record.provider)
        if provider is None:
            continue
        if record.status == "succeeded":
            available = _available(provider, record)
            if available is False:
                continue
            return Previous(record, "reuse", checked=available is not None)
        if record.status in FINAL_STATES:
            continue
        if provider.runs_locally:
            pid = record.result.get("pid")
            live = record.status == "running" and bool(pid) and _alive(int(pid))
            return Previous(record, "follow" if live else "resume")
        if record.status != "interrupted":
            return Previous(record, "follow")
    return None


def _alive(pid: int) -> bool:
    import os

    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _available(provider: Any, record: JobRecord) -> bool | None:
    if not record.fine_tuned_model:
        return False
    if provider.runs_locally:
        if not Path(record.run_dir).is_dir():
            return False
        try:
            return provider.model_info(record.fine_tuned_model) is not None
        except Exception:  # an unreadable run folder is not a model to reuse
            return False
    return provider.model_available(record.fine_tuned_model)
