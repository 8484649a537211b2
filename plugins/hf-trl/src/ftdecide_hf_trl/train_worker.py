"""One torchrun rank of a multi-process fine-tune: ``python -m ftdecide_hf_trl.train_worker RUN_DIR``.

:func:`ftdecide_hf_trl.training.train` with ``options["processes"] = N > 1``
writes ``RUN_DIR/request.json`` (the TuneRequest, the base model's recorded
folder and whether to resume) and launches (:mod:`ftdecide_hf_trl.torchrun`)::

    python -m torch.distributed.run --standalone --nproc_per_node N \\
        -m ftdecide_hf_trl.train_worker RUN_DIR

Every rank runs the same :func:`~ftdecide_hf_trl.worker.run_training` as a
single process does (gloo on CPU, nccl on GPUs, chosen by accelerate). Rank 0
appends progress rows to ``RUN_DIR/progress.jsonl`` and writes the final
JobState to ``RUN_DIR/result.json``, which the launching process reads back.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ftdecide.errors import FtdecideError
from ftdecide.providers import JobState, TuneRequest

from .rundir import PROGRESS_FILE, REQUEST_FILE, RESULT_FILE, _read_json, _write_json
from .worker import run_training


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ftdecide_hf_trl.train_worker RUN_DIR", file=sys.stderr)
        return 2
    return main_worker(args[0])


def main_worker(run_dir: str | os.PathLike[str]) -> int:
    """What ``python -m ftdecide_hf_trl.train_worker RUN_DIR`` does on each torchrun rank."""
    run_dir = Path(run_dir)
    saved = _read_json(run_dir / REQUEST_FILE)
    if saved is None:
        print(f"ftdecide: no {REQUEST_FILE} in {run_dir}", file=sys.stderr)
        return 2
    request = TuneRequest(**saved["request"])
    rank = int(os.environ.get("RANK", "0"))
    try:
        state = run_training(request, saved["base"], resume=bool(saved.get("resume")),
                             progress_file=run_dir / PROGRESS_FILE if rank == 0 else None)
    except FtdecideError as exc:
        state = JobState(status="failed", provider_job_id=request.job_id, error=exc.message)
    if rank == 0:
        _write_json(run_dir / RESULT_FILE, state.to_dict())
    return 0 if state.status in ("succeeded", "interrupted") else 1


if __name__ == "__main__":
    sys.exit(main())
