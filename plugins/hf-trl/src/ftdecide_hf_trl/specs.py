"""What a model spec or a model folder says, read without loading or downloading anything.

The forms a spec takes (:data:`KINDS`; the run-id and Hub-id patterns; the
hint that lists them, shown when a spec names nothing) and, for a model
folder, its parameter count from the safetensors headers, whether its chat
template has ``{% generation %}`` markers, its context window and whether it
has a tokenizer. :mod:`ftdecide_hf_trl.resolve` decides what a spec names.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from .default_model import DEFAULT_MODEL

_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_GENERATION_TAG_RE = re.compile(r"{%-?\s*generation\s*-?%}")

KINDS = ("default", "local", "run", "hub")

_FORMS_HINT = (f"use hf/{DEFAULT_MODEL}, hf/PATH (a folder with config.json), hf/<job id> of a "
               "fine-tuning run, or hf/ORG/NAME (a Hugging Face Hub id)")


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file()


def template_has_generation(folder: Path) -> bool | None:
    """Whether the folder's chat template has ``{% generation %}`` markers; None if no template."""
    texts = []
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        texts.append(jinja.read_text(encoding="utf-8", errors="replace"))
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        try:
            tmpl = json.loads(cfg.read_text(encoding="utf-8")).get("chat_template")
        except (OSError, ValueError):
            tmpl = None
        if isinstance(tmpl, str):
            texts.append(tmpl)
        elif isinstance(tmpl, list):
            texts += [t.get("template", "") for t in tmpl if isinstance(t, dict)]
    if not texts:
        return None
    return any(_GENERATION_TAG_RE.search(t) for t in texts)


def _context_window(folder: Path) -> int | None:
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = cfg.get("max_position_embeddings")
    return value if isinstance(value, int) else None


def count_parameters(folder: Path) -> int | None:
    """Parameters in the folder's safetensors files, from their headers (nothing loaded).

    Tied weights are saved once, so they are counted once. ``None`` when the
    folder has no safetensors weights.
    """
    files = sorted(folder.glob("*.safetensors"))
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
            files = [folder / s for s in sorted(shards)]
        except (OSError, ValueError, KeyError):
            pass
    files = [f for f in files if not f.name.startswith("adapter_")]
    if not files:
        return None
    total = 0
    try:
        for f in files:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > 100_000_000:
                    return None
                header = json.loads(fh.read(n))
            for name, meta in header.items():
                if name == "__metadata__":
                    continue
                count = 1
                for d in meta["shape"]:
                    count *= int(d)
                total += count
    except (OSError, ValueError, KeyError, struct.error):
        return None
    return total


__all__ = ["KINDS", "count_parameters", "template_has_generation"]
