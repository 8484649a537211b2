"""A job as the store and a person see it: provider states merged into the record, and the
summary every command prints (``--json`` included)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from ftdecide.errors import ProviderError
from ftdecide.providers import JobState
from ftdecide.tune._hosting import hosting
from ftdecide.tune._learned import learned
from ftdecide.tune._store import FINAL_STATES, JOB_STATES, JobRecord, Store


def _merge_curve(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loss-curve rows by step, the newer row winning (polls see only the latest events)."""
    if not new:
        return list(old)
    if not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in old + new):
        return list(new)
    rows = {r["step"]: r for r in old}
    rows.update({r["step"]: r for r in new})
    return [rows[k] for k in sorted(rows)]


def record_state(store: Store, job_id: str, state: JobState) -> JobRecord:
    """Write what the provider reported into the store.

    Nothing already known is lost to a poll that reports less (an id, a
    model, earlier loss-curve steps). For a token-priced job the actual cost
    is the trained tokens × the training price the estimate used.
    """
    record = store.get_job(job_id)
    if state.status not in JOB_STATES:
        raise ProviderError(f"provider reported an unknown job status {state.status!r}")
    result = dict(record.result)
    if state.status in FINAL_STATES:
        result.pop("pid", None)
    result.update({
        "step": state.step if state.step is not None else result.get("step"),
        "total_steps": state.total_steps if state.total_steps is not None
        else result.get("total_steps"),
        "loss_curve": _merge_curve(result.get("loss_curve") or [], state.loss_curve),
        "trained_tokens": state.trained_tokens if state.trained_tokens is not None
        else result.get("trained_tokens"),
        "hyperparameters": state.hyperparameters or result.get("hyperparameters") or {},
        "metrics": {**(result.get("metrics") or {}), **state.metrics},
    })
    estimate = record.estimate or {}
    price = (estimate.get("price") or {}).get("training_per_1m")
    if result["trained_tokens"] is not None and price is not None and not estimate.get("hardware"):
        result["actual_cost_usd"] = result["trained_tokens"] / 1_000_000 * price
    fields: dict[str, Any] = {"status": state.status, "result": result}
    if state.status != "failed" or state.error:
        fields["error"] = state.error
    if state.provider_job_id:
        fields["provider_job_id"] = state.provider_job_id
    if state.fine_tuned_model:
        fields["fine_tuned_model"] = state.fine_tuned_model
    return store.update_job(job_id, **fields)


def summary(record: JobRecord, deployments: list[dict[str, Any]] | None = None,
            now: _dt.datetime | None = None, *, reused: bool = False) -> dict[str, Any]:
    """The JSON that ``tune --json`` and ``jobs show --json`` print (a stable contract).

    ``metrics`` holds the provider's metrics plus the loss curve and the last
    train/validation losses; ``total_cost_usd`` is the training cost (actual
    when known, else estimated) plus the hosting accrued by ``deployments``.
    """
    res = record.result
    provider_metrics = res.get("metrics") or {}
    estimate = record.estimate or {}
    curve = res.get("loss_curve") or []
    actual = res.get("actual_cost_usd", provider_metrics.get("actual_cost_usd"))
    periods, hosting_cost = hosting(deployments or [], now)
    training = actual if actual is not None else estimate.get("training_cost_usd")
    total = None if training is None or hosting_cost is None else training + hosting_cost
    metrics = dict(provider_metrics)
    metrics["loss_curve"] = curve
    for key, column in (("final_train_loss", "train_loss"), ("final_valid_loss", "valid_loss")):
        last = next((r.get(column) for r in reversed(curve) if r.get(column) is not None), None)
        metrics.setdefault(key, last)
    live = [p for p in periods if p["live"]]
    return {
        "job_id": record.id,
        "status": record.status,
        "reused": reused,
        "tune_key": record.tune_key,
        "provider": record.provider,
        "provider_job_id": record.provider_job_id,
        "base_model": f"{record.provider}/{record.model}",
        "model": f"{record.provider}/{record.fine_tuned_model}" if record.fine_tuned_model
        else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "train_path": record.train_path,
        "train_sha256": record.train_sha256,
        "validation_path": record.validation_path,
        "run_dir": record.run_dir,
        "options": record.options,
        "hyperparameters": res.get("hyperparameters") or record.hyperparameters,
        "step": res.get("step"),
        "total_steps": res.get("total_steps"),
        "loss_curve": curve,
        "fine_tuned_model": record.fine_tuned_model,
        "trained_tokens": res.get("trained_tokens"),
        "estimated_cost_usd": estimate.get("training_cost_usd"),
        "wall_s": provider_metrics.get("wall_s"),
        "tokens_per_s": provider_metrics.get("tokens_per_s"),
        "actual_cost_usd": actual,
        "hosting_cost_usd": hosting_cost,
        "total_cost_usd": total,
        "deployment": f"{record.provider}/{live[-1]['name']}" if live else None,
        "deployments": periods,
        "metrics": metrics,
        "learned": learned(curve),
        "estimate": estimate,
        "error": record.error,
    }
