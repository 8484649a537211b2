"""Loading a resolved model for inference, once per process (thread-safe).

:func:`load` gives ``(model, tokenizer)`` in eval mode on the device (CUDA
when available); :func:`loaded` also the device, the load time and a lock
that serializes the model's use. A run is served as its base with the LoRA
adapter merged in (or its merged folder). torch, transformers and peft are
imported inside the functions.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ftdecide

from .default_model import forget_checksums
from .hub import _first_line
from .quiet import _no_progress_bars, _quiet_transformers
from .resolve import ResolvedModel, resolve
from .specs import _has_tokenizer


@dataclass
class LoadedModel:
    """A loaded model with its tokenizer, device and a lock serializing its use."""

    model: Any
    tokenizer: Any
    device: str
    folder: Path
    load_s: float
    lock: threading.Lock = field(default_factory=threading.Lock)


_cache_lock = threading.Lock()
_key_locks: dict[tuple, threading.Lock] = {}
_loaded: dict[tuple, LoadedModel] = {}


def clear_cache() -> None:
    """Forget every loaded model and remembered checksum (tests; frees memory)."""
    with _cache_lock:
        _loaded.clear()
        _key_locks.clear()
    forget_checksums()


def _cache_key(resolved: ResolvedModel, device: str | None) -> tuple:
    return (resolved.kind, str(resolved.path), resolved.hub_id, str(resolved.adapter_dir),
            str(resolved.merged_dir), device)


def device_and_dtype(device: str | None = None) -> tuple[str, Any]:
    """CUDA when available (bfloat16 where supported, else float32); float32 on CPU."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return device, torch.bfloat16
    return device, torch.float32


def load(resolved: ResolvedModel | str, *, device: str | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` ready for inference, loaded once per process.

    The model is in eval mode on ``device`` (CUDA when available); the
    tokenizer pads on the left and has a pad token. A run gives a
    ``peft.PeftModel`` (base + adapter), or the merged model when the run
    has a merged folder. Do not modify the returned objects: they are shared.
    """
    entry = loaded(resolved, device=device)
    return entry.model, entry.tokenizer


def is_loaded(resolved: ResolvedModel, *, device: str | None = None) -> bool:
    """Whether :func:`load` would return a model already loaded in this process."""
    return _cache_key(resolved, device) in _loaded


def loaded(resolved: ResolvedModel | str, *, device: str | None = None) -> LoadedModel:
    """Like :func:`load`, with the device, the load time and the model's lock."""
    if isinstance(resolved, str):
        resolved = resolve(resolved)
    key = _cache_key(resolved, device)
    entry = _loaded.get(key)
    if entry is not None:
        return entry
    with _cache_lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    with key_lock:
        entry = _loaded.get(key)
        if entry is None:
            entry = _load_uncached(resolved, device)
            with _cache_lock:
                _loaded[key] = entry
    return entry


def _load_uncached(resolved: ResolvedModel, device: str | None) -> LoadedModel:
    started = time.perf_counter()
    resolved.prefetch()           # hash in the background while torch is imported
    _quiet_transformers()
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolved.ensure_local()
    dev, dtype = device_and_dtype(device)
    try:
        with _no_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
            tok_folder = folder
            if resolved.kind == "run" and resolved.merged_dir is None:
                from peft import PeftModel

                assert resolved.adapter_dir is not None
                # a fresh base instance: PeftModel injects LoRA layers into it in place
                with warnings.catch_warnings():
                    # peft asks transformers a deprecated question; not the user's concern
                    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                    model = PeftModel.from_pretrained(model, resolved.adapter_dir)
                    # Serving only: fold the LoRA deltas into the weights once, so every
                    # forward pass costs what the base model's does (no low-rank matmuls).
                    model = model.merge_and_unload()
                if _has_tokenizer(resolved.adapter_dir):
                    tok_folder = resolved.adapter_dir
            tokenizer = AutoTokenizer.from_pretrained(tok_folder)
    except ftdecide.FtdecideError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ftdecide.ProviderError(
            f"cannot load hf/{resolved.spec} from {folder}: {type(exc).__name__}: "
            f"{_first_line(exc)}") from exc
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, device=dev, folder=folder,
                       load_s=time.perf_counter() - started)


__all__ = ["LoadedModel", "clear_cache", "device_and_dtype", "is_loaded", "load", "loaded"]
