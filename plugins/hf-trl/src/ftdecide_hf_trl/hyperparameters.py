"""The hyperparameters and options of a LoRA fine-tune: defaults, checks, LoRA targets.

:func:`default_hyperparameters` (the same on every device) and
:func:`resolve_hyperparameters` (the user's values over them, checked) decide
what :func:`ftdecide_hf_trl.training.train` trains with, and what
:mod:`ftdecide_hf_trl.hardware` estimates; the schedule itself (epochs, steps
and learning rate from the data and the model) is :mod:`ftdecide_hf_trl.schedule`.
:func:`lora_targets` turns ``target_modules``/``lora_layers`` into LoraConfig
arguments for a model; ``_int_option`` checks the whole-number ``request.options``
(``processes``, ``max_steps``, ``save_steps``, ``stop_after_steps``).
Nothing heavy is imported at module level.
"""

from __future__ import annotations

from typing import Any, Mapping

from ftdecide.errors import UsageError

from . import schedule

MAX_LENGTH_CAP = 2048
"""Upper bound of the data-derived ``max_length`` (also capped by the model's positions)."""

HYPERPARAMETER_NAMES = (
    "epochs", "learning_rate", "batch_size", "gradient_accumulation_steps", "lora_r",
    "lora_alpha", "lora_dropout", "target_modules", "lora_layers", "max_length", "seed", "lr_scheduler",
    "warmup_ratio", "weight_decay", "activation_checkpointing",
)
_ALIASES = {"n_epochs": "epochs", "num_epochs": "epochs", "num_train_epochs": "epochs",
            "lr": "learning_rate", "per_device_train_batch_size": "batch_size", "r": "lora_r"}


def default_hyperparameters(device: str | None = None) -> dict[str, Any]:
    """The defaults, the same on every device; None = decided from the data or the model.

    ``epochs`` None: the schedule derived from the number of examples
    (:func:`ftdecide_hf_trl.schedule.plan`: the cookbook epochs with a floor of
    optimizer steps); ``learning_rate`` None: from the model's size
    (:func:`ftdecide_hf_trl.schedule.learning_rate_for`); ``max_length`` None:
    the longest example. Batch 8, LoRA r=16, alpha=2r, dropout 0 on every
    linear layer of every decoder layer, a linear warm-up over the first 10%
    of the steps then linear decay (:data:`ftdecide_hf_trl.schedule.WARMUP_RATIO`),
    seed 0.

    ``device`` is accepted for callers of earlier releases and ignored: the
    device used to change the schedule (1 epoch and LoRA on the top half of
    the layers on CPU, 3 epochs on GPU), so the estimate priced two different
    jobs and a small set was undertrained on CPU. Speed is now traded only
    when the user sets a ``time_budget``, and then said so. Activation
    checkpointing off: it costs about 20% per step and models this size do
    not need it.
    """
    return {
        "epochs": None,
        "learning_rate": None,
        "batch_size": schedule.BATCH_SIZE,
        "gradient_accumulation_steps": 1,
        "lora_r": 16,
        "lora_alpha": None,
        "lora_dropout": 0.0,
        "target_modules": "all-linear",
        "lora_layers": "all",
        "max_length": None,
        "seed": 0,
        "lr_scheduler": "linear",
        "warmup_ratio": schedule.WARMUP_RATIO,
        "weight_decay": 0.0,
        "activation_checkpointing": False,
    }


def resolve_hyperparameters(user: Mapping[str, Any], *, device: str | None = None) -> dict[str, Any]:
    """The defaults overridden by what the user set, checked.

    Raises UsageError for an unknown name or a bad value. ``lora_alpha``
    defaults to ``2 * lora_r``; ``epochs``, ``learning_rate`` and
    ``max_length`` stay None when not set (the worker derives them from the
    data and the model; see :mod:`ftdecide_hf_trl.schedule`).
    """
    hp = default_hyperparameters(device)
    for key, value in dict(user or {}).items():
        name = _ALIASES.get(key, key)
        if name not in hp:
            raise UsageError(f"unknown hyperparameter {key!r} for hf fine-tuning",
                             hint="known: " + ", ".join(HYPERPARAMETER_NAMES))
        if value is not None:
            hp[name] = value

    def number(name: str, kind: type, minimum: float, *, strict: bool = False) -> None:
        value = hp[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"hyperparameter {name} must be a number, got {value!r}")
        if kind is int:
            if float(value) != int(value):
                raise UsageError(f"hyperparameter {name} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if value < minimum or (strict and value == minimum):
            raise UsageError(f"hyperparameter {name} must be {'>' if strict else '>='} {minimum}, "
                             f"got {value!r}")
        hp[name] = value

    if hp["epochs"] is not None:
        number("epochs", float, 0, strict=True)
        if float(hp["epochs"]).is_integer():
            hp["epochs"] = int(hp["epochs"])
    if hp["learning_rate"] is not None:
        number("learning_rate", float, 0, strict=True)
    number("batch_size", int, 1)
    number("gradient_accumulation_steps", int, 1)
    number("lora_r", int, 1)
    if hp["lora_alpha"] is None:
        hp["lora_alpha"] = 2 * hp["lora_r"]
    number("lora_alpha", float, 0, strict=True)
    if float(hp["lora_alpha"]).is_integer():
        hp["lora_alpha"] = int(hp["lora_alpha"])
    number("lora_dropout", float, 0)
    if hp["lora_dropout"] >= 1:
        raise UsageError("hyperparameter lora_dropout must be below 1")
    if hp["max_length"] is not None:
        number("max_length", int, 8)
    number("seed", int, 0)
    number("warmup_ratio", float, 0)
    if hp["warmup_ratio"] >= 1:
        raise UsageError("hyperparameter warmup_ratio must be below 1")
    number("weight_decay", float, 0)
    if not isinstance(hp["activation_checkpointing"], bool):
        raise UsageError("hyperparameter activation_checkpointing must be true or false")
    tm = hp["target_modules"]
    if not (isinstance(tm, str) or (isinstance(tm, (list, tuple)) and all(isinstance(t, str) for t in tm))):
        raise UsageError("hyperparameter target_modules must be 'all-linear' or a list of module names")
    if isinstance(tm, tuple):
        hp["target_modules"] = list(tm)
    layers = hp["lora_layers"]
    if isinstance(layers, bool) or not (layers in ("all", "top_half")
                                        or (isinstance(layers, int) and layers >= 1)):
        raise UsageError("hyperparameter lora_layers must be 'all', 'top_half' or a number of top layers, "
                         f"got {layers!r}")
    if not isinstance(hp["lr_scheduler"], str):
        raise UsageError("hyperparameter lr_scheduler must be a name such as 'linear' or 'cosine'")
    return hp


def lora_targets(model: Any, target_modules: Any, lora_layers: Any) -> dict[str, Any]:
    """LoraConfig arguments for ``target_modules`` on ``lora_layers`` of ``model``.

    ``lora_layers``: "all", "top_half" or N (the top N decoder layers). PEFT
    accepts ``layers_to_transform`` only with explicit module names, so
    "all-linear" is spelled out as the linear modules found inside the
    decoder layers. A model whose layers cannot be found trains every layer.
    """
    import re

    import torch

    if lora_layers == "all":
        return {"target_modules": target_modules}
    found: dict[str, set[str]] = {}
    indices: set[int] = set()
    pattern = re.compile(r"(?:^|\.)(layers|h|blocks|layer)\.(\d+)\.")
    for name, module in model.named_modules():
        match = pattern.search(name)
        if match and isinstance(module, torch.nn.Linear):
            found.setdefault(match.group(1), set()).add(name.rsplit(".", 1)[-1])
            indices.add(int(match.group(2)))
    if len(found) != 1 or not indices:
        return {"target_modules": target_modules}
    layers_pattern, names = next(iter(found.items()))
    n = max(indices) + 1
    keep = (n + 1) // 2 if lora_layers == "top_half" else min(int(lora_layers), n)
    modules = sorted(names) if target_modules == "all-linear" else target_modules
    return {"target_modules": modules, "layers_to_transform": list(range(n - keep, n)),
            "layers_pattern": layers_pattern}


def _int_option(options: Mapping[str, Any], name: str, default: int | None, *,
                minimum: int) -> int | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value) \
            or int(value) < minimum:
        raise UsageError(f"option {name} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


__all__ = ["HYPERPARAMETER_NAMES", "MAX_LENGTH_CAP", "default_hyperparameters", "lora_targets",
           "resolve_hyperparameters"]
