"""The training schedule of a LoRA fine-tune: derived from the data, the same on every device.

Why one rule: a schedule that depends on the device trains a different model
on a laptop than on a GPU, and the estimate then prices two jobs as if they
were one. Here the data alone decides how much is trained, and the hardware
decides only how long it takes (:mod:`ftdecide_hf_trl.hardware`); time is a
separate, explicit knob (``time_budget``, :func:`fit_time_budget`).

The rule (measurements in the plugin README, "Schedule"):

- **epochs**: the cookbook rule the core prices OpenAI jobs with: 3, raised so
  that at least 100 examples are seen, lowered so that at most 25,000 are, and
  kept within 1..25 (:func:`cookbook_epochs`);
- **a floor of** :data:`MIN_STEPS` **optimizer steps**: a small set at batch 8
  gives a handful of updates (48 examples: 6 per epoch), too few for LoRA to
  move a model from its chat habits to a new answer format. Below the floor the
  run takes more epochs, up to :data:`MAX_EPOCHS`;
- **batch** :data:`BATCH_SIZE` on every device (the same batches make the same
  steps);
- **learning rate** from the model's size (:func:`learning_rate_for`): LoRA on a
  small model needs a larger step than on a 7B one.

What the user sets wins: ``--epochs`` or ``-o max_steps`` replace the rule (no
floor is added to a schedule the user chose), ``--batch-size`` changes the
steps per epoch, ``-o learning_rate`` the rate.
"""

from __future__ import annotations

import math
import re
from typing import Any

import ftdecide
from ftdecide.errors import UsageError

# The cookbook's most epochs (its rule is ftdecide.cookbook_epochs); it also caps how many epochs
# a short run may take to reach its step floor.
MAX_EPOCHS = 25

MIN_STEPS = 30
"""The floor of optimizer steps of a schedule derived from the data (see the README's
measurements: on SmolLM2 a 48-example one-word task needs about 30 updates to answer in format)."""

BATCH_SIZE = 8
"""The default global batch on every device."""

LR_REFERENCE_PARAMETERS = 134_515_008
LR_AT_REFERENCE = 1e-3
"""Measured best LoRA rate for SmolLM2-135M (README "Schedule")."""
LR_AT_7B = 2e-4
"""The usual LoRA rate at 7B (QLoRA's 7B/13B recipes; TRL's LoRA examples)."""
LR_MIN, LR_MAX = 5e-5, 2e-3

WARMUP_RATIO = 0.1
"""The learning rate rises linearly over the first 10% of the steps (rounded up), then decays
linearly to 0. At the higher rates of small models the first updates overshoot (SmolLM2 at
2e-3 without warm-up: the training loss went 1.04, 0.33, then back up to 1.36 at step 3,
measured); a warm-up is the usual cure. The first update of a run is taken at rate 0, so a one-step run leaves the model
as it was and its verdict says underfit, which is what such a run is."""


def cookbook_epochs(examples: int) -> int:
    """3 epochs, raised for tiny sets (at least 100 examples seen) and lowered for huge ones:
    the core's rule (``ftdecide.cookbook_epochs``), so the estimate prices this run."""
    return ftdecide.cookbook_epochs(examples)


def learning_rate_for(parameters: int | None) -> float:
    """The default LoRA learning rate for a model of ``parameters``.

    A power law through two anchors, :data:`LR_AT_REFERENCE` at SmolLM2-135M
    (measured) and :data:`LR_AT_7B` at 7B parameters, clamped to
    [:data:`LR_MIN`, :data:`LR_MAX`]: the rate falls about 2.5x for every 10x
    of parameters (≈ 8e-5 at 65B, where QLoRA used 1e-4). Unknown size: the
    7B rate, the cautious one. Rounded to two significant digits so it reads
    well in a table.
    """
    if not parameters or parameters <= 0:
        return LR_AT_7B
    slope = math.log(LR_AT_REFERENCE / LR_AT_7B) / math.log(7e9 / LR_REFERENCE_PARAMETERS)
    rate = LR_AT_REFERENCE * (parameters / LR_REFERENCE_PARAMETERS) ** -slope
    rate = min(LR_MAX, max(LR_MIN, rate))
    return float(f"{rate:.2g}")


def plan(examples: int, *, batch_size: int = BATCH_SIZE, gradient_accumulation_steps: int = 1,
         epochs: float | None = None, max_steps: int | None = None) -> dict[str, Any]:
    """The schedule for ``examples`` training examples.

    Returns ``{"examples", "batch_size", "gradient_accumulation_steps",
    "steps_per_epoch", "steps", "epochs" (steps / steps_per_epoch, what is
    really trained), "examples_seen", "cookbook_epochs", "source"}`` where
    ``source`` is "data" (the cookbook rule), "floor" (raised to
    :data:`MIN_STEPS`), "epochs" (the user's ``--epochs``) or "max_steps".
    """
    examples = max(0, int(examples))
    per_step = batch_size * gradient_accumulation_steps
    steps_per_epoch = max(1, math.ceil(math.ceil(examples / batch_size) / gradient_accumulation_steps))
    rule = cookbook_epochs(examples)
    if max_steps is not None:
        steps, source = int(max_steps), "max_steps"
    elif epochs is not None:
        steps, source = max(1, math.ceil(float(epochs) * steps_per_epoch)), "epochs"
    else:
        steps, source = rule * steps_per_epoch, "data"
        floor = min(MIN_STEPS, MAX_EPOCHS * steps_per_epoch)
        if steps < floor:
            steps, source = floor, "floor"
    return {
        "examples": examples,
        "batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "steps_per_epoch": steps_per_epoch,
        "steps": steps,
        "epochs": schedule_epochs({"steps_per_epoch": steps_per_epoch}, steps),
        "examples_seen": examples_seen(examples, steps, steps_per_epoch, per_step),
        "cookbook_epochs": rule,
        "source": source,
    }


def examples_seen(examples: int, steps: int, steps_per_epoch: int, per_step: int) -> int:
    """Examples a run of ``steps`` reads: whole epochs, then full batches of the next one."""
    full, rest = divmod(steps, steps_per_epoch)
    return full * examples + min(examples, rest * per_step)


# -- the time budget --------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?"
                       r"\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*$", re.IGNORECASE)


def parse_duration(value: Any) -> float:
    """Seconds in ``value``: a number of seconds (600), or text such as "90s", "10m", "2h", "1h30m".

    Raises ValueError (with what is accepted) for anything else or a zero duration.
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 600, 90s, 10m, 2h or 1h30m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match or not any(match.groups()):
            raise ValueError(f"{value!r} is not a duration: use seconds (600) or 90s, 10m, 2h, 1h30m")
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("a time budget must be above 0 seconds")
    return seconds


def time_budget_seconds(options: Any) -> float | None:
    """``options["time_budget"]`` in seconds (None when not set); UsageError when unreadable."""
    value = options.get("time_budget")
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"hf option time_budget = {value!r}: {exc}",
                         hint="e.g. -o time_budget 10m (or 600, 90s, 2h, 1h30m)") from None


def format_duration(seconds: float) -> str:
    """``seconds`` for a message: "45 s", "12.5 min", "2.3 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


TOP_HALF_SPEEDUP = 1.44
"""Training tokens/s with LoRA on the top half of the layers over LoRA on all of them:
measured on SmolLM2-135M on CPU (66 → 95 tokens per CPU-second, one thread); backpropagation
stops half-way down, so the saving is similar wherever the backward pass dominates."""


def fit_time_budget(schedule: dict[str, Any], *, budget_s: float, tokens_per_step: float,
                    tokens_per_s: float, lora_layers: Any, lora_layers_given: bool,
                    hardware: str) -> dict[str, Any]:
    """What to trade so that ``schedule`` fits ``budget_s`` on hardware training ``tokens_per_s``.

    ``tokens_per_s`` is for ``lora_layers`` as they stand. First LoRA on the top
    half of the layers (unless the user chose the layers; about 1.44x faster),
    then fewer steps. Returns ``{"budget_s", "hardware", "estimated_s",
    "fits", "trade": {"lora_layers"?, "max_steps"?} (empty when it fits),
    "estimated_s_after", "steps_before", "steps_after", "message"}``; the
    message says what is traded and why (None when nothing is).
    """
    steps = int(schedule["steps"])
    estimated = steps * tokens_per_step / tokens_per_s
    out: dict[str, Any] = {"budget_s": budget_s, "hardware": hardware, "estimated_s": estimated,
                           "fits": estimated <= budget_s, "trade": {}, "estimated_s_after": estimated,
                           "steps_before": steps, "steps_after": steps, "message": None}
    if out["fits"]:
        return out
    speed = tokens_per_s
    trade: dict[str, Any] = {}
    if lora_layers == "all" and not lora_layers_given:
        trade["lora_layers"] = "top_half"
        speed = tokens_per_s * TOP_HALF_SPEEDUP
    after = steps * tokens_per_step / speed
    if after > budget_s:
        trade["max_steps"] = max(1, int(budget_s * speed / tokens_per_step))
        after = trade["max_steps"] * tokens_per_step / speed
    out.update(trade=trade, estimated_s_after=after, steps_after=trade.get("max_steps", steps))
    parts = []
    if "lora_layers" in trade:
        parts.append("LoRA on the top half of the layers only (about 1.44x faster)")
    if "max_steps" in trade:
        share = trade["max_steps"] / steps
        parts.append(f"{trade['max_steps']} optimizer step{'s' if trade['max_steps'] != 1 else ''} "
                     f"instead of {steps} "
                     f"({share:.0%} of the schedule, about "
                     f"{schedule_epochs(schedule, trade['max_steps']):g} epochs)")
    message = (f"the schedule ({steps} steps, {schedule['epochs']:g} epochs) needs about "
               f"{format_duration(estimated)} on {hardware}, over the time_budget of "
               f"{format_duration(budget_s)}: trading " + " and ".join(parts)
               + f" to fit in about {format_duration(after)}")
    if trade.get("max_steps", steps) < min(steps, MIN_STEPS):
        message += "; so few steps may well underfit (check `learned` in the result)"
    out["message"] = message
    return out


def schedule_epochs(schedule: dict[str, Any], steps: int) -> float:
    """The epochs ``steps`` of ``schedule`` amount to (a whole number when they are one)."""
    epochs = round(steps / max(1, int(schedule["steps_per_epoch"])), 2)
    return int(epochs) if epochs.is_integer() else epochs


__all__ = ["BATCH_SIZE", "MIN_STEPS", "TOP_HALF_SPEEDUP", "cookbook_epochs", "examples_seen",
           "fit_time_budget", "format_duration", "learning_rate_for", "parse_duration", "plan",
           "time_budget_seconds"]
