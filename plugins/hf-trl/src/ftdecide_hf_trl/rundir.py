"""The run folder of a fine-tune (``request.run_dir``): its file names, its checkpoints and
the JSON and loss-curve files written into it::

    run_dir/
      hyperparameters.json   the hyperparameters and schedule used (a resume reuses them)
      checkpoints/           Trainer's checkpoint-N folders (the last 2), resume points
      loss_curve.json/.csv   rows {step, epoch, train_loss, valid_loss?}
      adapter/               the LoRA adapter + tokenizer (on success)
      merged/                base with the adapter merged in (``options["merge"]``)
      metadata.json          what was trained on what, how long, how fast, versions
      error.txt              the traceback of a failed run
      request.json, result.json, progress.jsonl, train.log   (multi-process runs only)
      STOP                   written to ask a running job to checkpoint and stop

JSON files are written to a temporary name and renamed into place, so a
reader never sees half a file.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Mapping

CHECKPOINTS_DIR = "checkpoints"
ADAPTER_DIR = "adapter"
MERGED_DIR = "merged"
METADATA_FILE = "metadata.json"
HYPERPARAMETERS_FILE = "hyperparameters.json"
LOSS_CURVE_JSON = "loss_curve.json"
LOSS_CURVE_CSV = "loss_curve.csv"
REQUEST_FILE = "request.json"
RESULT_FILE = "result.json"
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "train.log"
STOP_FILE = "STOP"


def last_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete ``checkpoint-N`` folder of ``run_dir`` (one with trainer_state.json)."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        name = child.name
        if name.startswith("checkpoint-") and name[11:].isdigit() and (child / "trainer_state.json").is_file():
            found.append((int(name[11:]), child))
    return max(found)[1] if found else None


def _checkpoint_step(path: Path | None) -> int | None:
    return int(path.name.rsplit("-", 1)[1]) if path is not None else None


def write_loss_curve(run_dir: Path, rows: list[Mapping[str, Any]]) -> None:
    """``loss_curve.json`` (a list of rows) and ``loss_curve.csv`` (step,epoch,train_loss,valid_loss)."""
    _write_json(run_dir / LOSS_CURVE_JSON, list(rows))
    tmp = run_dir / (LOSS_CURVE_CSV + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["step", "epoch", "train_loss", "valid_loss"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in writer.fieldnames})
    os.replace(tmp, run_dir / LOSS_CURVE_CSV)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


__all__ = ["last_checkpoint", "write_loss_curve"]
