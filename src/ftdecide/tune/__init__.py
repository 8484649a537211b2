"""Fine-tuning jobs: plan (validate, estimate, check) → confirm → record → provider → follow.

Public names: :func:`plan` / :func:`check_budget` (nothing spent), :func:`start`,
:func:`resume`, :func:`wait`, :func:`refresh`, :func:`cancel`, :func:`events`,
:func:`deploy` / :func:`undeploy`, :func:`summary` (the ``--json`` of a job),
:class:`Store` (the SQLite job store), :func:`make_trainer` (training inside a
compare run), :func:`learned` (did the tune learn?), and :func:`obtain` with
:func:`tune_key` (a fine-tune is paid once: the same data and settings reuse
the job that trained them).
"""

from __future__ import annotations

from ftdecide.tune._jobs import (
    JobDetached,
    TunePlan,
    cancel,
    check_budget,
    deploy,
    events,
    obtain,
    plan,
    prepare,
    refresh,
    resume,
    start,
    summary,
    tune_key,
    undeploy,
    wait,
)
from ftdecide.tune._learned import learned
from ftdecide.tune._reuse import Previous
from ftdecide.tune._store import JobRecord, Store, new_job_id
from ftdecide.tune._trainer import TrainerView, make_trainer

__all__ = ["obtain", "tune_key", "Previous", "JobDetached", "JobRecord", "Store", "TrainerView", "TunePlan", "cancel", "check_budget", "deploy", "events", "learned", "make_trainer", "new_job_id", "plan", "prepare", "refresh", "resume", "start", "summary", "undeploy", "wait"]
