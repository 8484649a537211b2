"""Where a fine-tune runs: the device (cpu or cuda), its name, the usable CPU cores, and
how many processes :func:`ftdecide_hf_trl.training.train` starts when not told.

torch is imported inside the functions only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from ftdecide.errors import UsageError

AUTO_PROCESSES_MIN_PARAMETERS = 50_000_000


def auto_processes(base_dir: Path, *, parameters: int | None = None, device: str | None = None,
                   batch_size: int = 8) -> int:
    """How many processes :func:`~ftdecide_hf_trl.training.train` uses when ``options["processes"]`` is not set.

    2 on a CPU with at least 2 cores for a model of at least 50M parameters
    and an even ``batch_size`` (each process takes half), else 1. Measured on a 2-core CPU with SmolLM2-135M (reference/hf.md §5):
    2 processes x 1 thread trained 1.25x faster than 1 process x 2 threads
    with identical losses, and when other programs compete for the cores
    torch's 2 OpenMP threads slow down several-fold while 2 single-threaded
    processes barely do. For a tiny model one process is faster (the torchrun
    start and the gradient all-reduce dominate). On GPUs: 1 (several GPUs are
    asked for explicitly).
    """
    if device == "cuda" or (device is None and _cuda_available()):
        return 1
    if _cores() < 2 or batch_size % 2:
        return 1
    if parameters is None:
        # without loading: float32 safetensors hold 4 bytes a parameter (bf16 files undercount)
        parameters = sum(p.stat().st_size for p in Path(base_dir).glob("*.safetensors")) // 4
    return 2 if parameters >= AUTO_PROCESSES_MIN_PARAMETERS else 1


def _cuda_available() -> bool:
    import torch
    return bool(torch.cuda.is_available())


def _device(options: Mapping[str, Any]) -> str:
    import torch
    wanted = options.get("device")
    if wanted not in (None, "cpu", "cuda"):
        raise UsageError(f"option device must be 'cpu' or 'cuda', got {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise UsageError("option device='cuda' but no CUDA GPU is available")
    if wanted:
        return wanted
    return "cuda" if torch.cuda.is_available() else "cpu"


def _device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {_cores()} cores"


def _cores() -> int:
    """CPU cores this process may run on (its affinity mask, as in containers or under taskset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


__all__ = ["AUTO_PROCESSES_MIN_PARAMETERS", "auto_processes"]
