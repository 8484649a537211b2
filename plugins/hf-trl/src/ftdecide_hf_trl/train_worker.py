"""One torchrun rank of a multi-process fine-tune: ``python -m ftdecide_hf_trl.train_worker RUN_DIR``.

:func:`ftdecide_hf_trl.training.train` with ``options["processes"] = N > 1``
writes ``RUN_DIR/request.json`` (the TuneRequest, the base model's recorded
folder and whether to resume) and launches::

    python -m torch.distributed.run --standalone --nproc_per_node N \\
        -m ftdecide_hf_trl.train_worker RUN_DIR

Every rank runs the same :func:`~ftdecide_hf_trl.training.run_training` as a
single process does (gloo on CPU, nccl on GPUs, chosen by accelerate). Rank 0
appends progress rows to ``RUN_DIR/progress.jsonl`` and writes the final
JobState to ``RUN_DIR/result.json``, which the launching process reads back.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ftdecide_hf_trl.train_worker RUN_DIR", file=sys.stderr)
        return 2
    from .training import main_worker

    return main_worker(args[0])


if __name__ == "__main__":
    sys.exit(main())
