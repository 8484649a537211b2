"""The Trainer callbacks of a fine-tune: stopping every rank at the same step, and
reporting progress and the loss curve.

The classes derive from transformers' ``TrainerCallback``, so they are built
on first use (:func:`_callbacks`) and this module imports nothing heavy;
:func:`_StopCallback` and :func:`_Reporter` make instances.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

from ftdecide.providers import JobState, ProgressCallback

from .rundir import write_loss_curve
from .stopping import _reason_code, _StopFlag


def _callback_base() -> type:
    from transformers import TrainerCallback
    return TrainerCallback


def _make_callbacks() -> tuple[type, type]:
    base = _callback_base()

    class StopCallback(base):  # type: ignore[misc, valid-type]
        def __init__(self, flag: _StopFlag) -> None:
            self.flag = flag
            self.interrupted = False
            self.start_step = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start_step = state.global_step

        def on_step_end(self, args, state, control, **kwargs):
            stop = self.flag.check(state.global_step, self.start_step)
            if args.world_size > 1:
                # Every rank must stop at the same step, or the others hang in the next all-reduce;
                # and all record the same reason, the highest code of any rank (see stopping).
                import torch
                import torch.distributed as dist
                if dist.is_available() and dist.is_initialized():
                    code = torch.tensor([_reason_code(self.flag.reason) if stop else 0], device=args.device)
                    dist.all_reduce(code, op=dist.ReduceOp.MAX)
                    agreed = int(code.item())
                    stop = agreed > 0
                    if stop:
                        self.flag.agree(agreed)
            if stop and state.global_step < state.max_steps:
                self.interrupted = True
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.interrupted:
                control.should_evaluate = False
            return control

    class Reporter(base):  # type: ignore[misc, valid-type]
        def __init__(self, run_dir: Path, job_id: str, hp: dict, progress: ProgressCallback | None,
                     progress_file: Path | None, is_main: bool) -> None:
            self.run_dir = run_dir
            self.job_id = job_id
            self.hp = hp
            self.progress = progress
            self.progress_file = progress_file
            self.is_main = is_main
            self.rows: list[dict[str, Any]] = []
            self.total_steps: int | None = None
            self._warned = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.total_steps = state.max_steps
            # On resume the checkpoint's log history holds the earlier curve.
            self.rows = _rows_from_history(state.log_history)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not self.is_main or not logs:
                return
            row = None
            if "loss" in logs:
                row = {"step": state.global_step, "epoch": _round(state.epoch), "train_loss": float(logs["loss"])}
                self.rows.append(row)
            elif "eval_loss" in logs:
                row = _attach_valid(self.rows, state.global_step, state.epoch, float(logs["eval_loss"]))
            if row is None:
                return
            if self.progress_file is not None:
                with self.progress_file.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"step": state.global_step, "total_steps": self.total_steps,
                                        "row": row}) + "\n")
            if self.progress is not None:
                try:
                    self.progress(JobState(status="running", provider_job_id=self.job_id,
                                           step=state.global_step, total_steps=self.total_steps,
                                           loss_curve=list(self.rows), hyperparameters=dict(self.hp),
                                           trained_tokens=int(state.num_input_tokens_seen)))
                except Exception as exc:  # noqa: BLE001 - a broken progress bar must not stop training
                    if not self._warned:
                        self._warned = True
                        print(f"ftdecide: progress callback failed: {exc}", file=sys.stderr)

        def on_save(self, args, state, control, **kwargs):
            if self.is_main:
                self.write_curve()  # the curve on disk matches the newest checkpoint

        def write_curve(self) -> None:
            write_loss_curve(self.run_dir, self.rows)

    return StopCallback, Reporter


_CALLBACKS: tuple[type, type] | None = None


def _callbacks() -> tuple[type, type]:
    global _CALLBACKS
    if _CALLBACKS is None:
        _CALLBACKS = _make_callbacks()
    return _CALLBACKS


def _StopCallback(flag: _StopFlag) -> Any:  # noqa: N802 - a factory that reads like a class
    return _callbacks()[0](flag)


def _Reporter(*args: Any) -> Any:  # noqa: N802
    return _callbacks()[1](*args)


def _rows_from_history(history: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in history or []:
        if "loss" in entry:
            rows.append({"step": int(entry["step"]), "epoch": _round(entry.get("epoch")),
                         "train_loss": float(entry["loss"])})
        elif "eval_loss" in entry:
            _attach_valid(rows, int(entry["step"]), entry.get("epoch"), float(entry["eval_loss"]))
    return rows


def _attach_valid(rows: list[dict[str, Any]], step: int, epoch: Any, loss: float) -> dict[str, Any]:
    if rows and rows[-1]["step"] == step:
        rows[-1]["valid_loss"] = loss
        return rows[-1]
    row = {"step": step, "epoch": _round(epoch), "valid_loss": loss}
    rows.append(row)
    return row


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
