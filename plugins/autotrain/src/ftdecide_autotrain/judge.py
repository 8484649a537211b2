"""Did an AutoTrain run produce a model? Decided from the files it wrote, never its exit code.

AutoTrain 0.8.36 exits 0 when training failed: the ``monitor`` decorator of
``src/autotrain/trainers/common.py`` catches the exception, logs it and
returns. What a finished ``llm-sft`` run leaves in its project folder
(``post_training_steps`` in ``src/autotrain/trainers/clm/utils.py``, then
transformers' ``Trainer.save_model``):

- the weights: with ``peft`` the LoRA adapter (``adapter_model.safetensors``
  or ``.bin`` beside ``adapter_config.json``); with ``merge_adapter`` (or
  without peft) a full model (``model.safetensors``, sharded
  ``model-*.safetensors`` with ``model.safetensors.index.json``, or
  ``pytorch_model.bin``) beside ``config.json``;
- the training state: ``training_args.bin`` (``Trainer._save``);
- ``README.md``, the model card written right after saving.

``training_params.json`` is written when the run is *launched*, so it proves
nothing about the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
TRAINING_STATE = "training_args.bin"
MODEL_CARD = "README.md"
LAUNCHED = "training_params.json"


@dataclass
class Verdict:
    """What the project folder shows: ``ok`` when weights, their config and the training
    state are all there; ``kind`` is ``adapter`` or ``merged``; ``missing`` names what is not."""

    ok: bool
    kind: str | None = None
    weights: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    launched: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "kind": self.kind, "weights": self.weights,
                "missing": self.missing, "launched": self.launched}


def _nonempty(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def judge(project_dir: str | Path) -> Verdict:
    """Look at ``project_dir`` (AutoTrain's output folder) and say whether the run succeeded."""
    folder = Path(project_dir)
    launched = (folder / LAUNCHED).is_file()
    if not folder.is_dir():
        return Verdict(ok=False, missing=[str(folder)], launched=False)
    full = [n for n in FULL_WEIGHTS if _nonempty(folder / n)]
    full += sorted(p.name for p in folder.glob("model-*-of-*.safetensors") if _nonempty(p))
    adapter = [n for n in ADAPTER_WEIGHTS if _nonempty(folder / n)]
    missing: list[str] = []
    kind = None
    weights: list[str] = []
    if full and (folder / "config.json").is_file():
        kind, weights = "merged", full
    elif adapter and (folder / "adapter_config.json").is_file():
        kind, weights = "adapter", adapter
    else:
        missing.append("weights (adapter_model.safetensors + adapter_config.json, or "
                       "model.safetensors + config.json)")
    if not _nonempty(folder / TRAINING_STATE):
        missing.append(TRAINING_STATE)
    return Verdict(ok=not missing, kind=kind, weights=weights, missing=missing,
                   launched=launched)
