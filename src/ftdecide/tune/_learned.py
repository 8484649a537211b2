"""Did the tune learn? One verdict from the loss curve, for every provider.

A comparison built on a tune that never moved its loss reports "fine-tuning
does not help" when fine-tuning was never given a chance. So every job
summary carries ``learned``: the train and validation losses at the start
and the end, and a verdict:

- ``learned``: the loss fell by at least :data:`MIN_DROP` of its starting
  value (on the validation slice when there is one, else on training), and
  validation did not turn back up;
- ``underfit``: it fell by less (too few steps, too low a learning rate, a
  frozen model): tune longer before concluding anything;
- ``overfit``: validation loss fell, then rose again by more than
  :data:`OVERFIT_RISE` above its lowest point while training loss kept
  falling: the model memorised the training set (fewer epochs, or more data);
- ``unknown``: no loss curve (a provider that reports none) or a single point.

Start and end are the means of the first and last :data:`EDGE_SHARE` of the
rows (at least one), so one noisy step does not decide; validation start is
its first measurement, taken before the first update by the local trainer.
The thresholds are deliberately coarse — they separate "moved a lot" from
"barely moved"; the quality arms of ``compare`` measure the rest.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

#: The share of its starting value the loss must lose to count as learned.
MIN_DROP = 0.3
#: How far above its minimum validation loss may end before the tune counts as overfit.
OVERFIT_RISE = 0.2
#: The share of rows averaged for the start and the end of a curve.
EDGE_SHARE = 0.1

VERDICTS = ("learned", "underfit", "overfit", "unknown")


def _column(curve: Sequence[Mapping[str, Any]], name: str) -> list[float]:
    return [v for _, v in _points(curve, name)]


def _points(curve: Sequence[Mapping[str, Any]], name: str) -> list[tuple[float, float]]:
    """(step, value) of column ``name``, by step; rows without a finite value are skipped."""
    out = []
    for row in sorted((r for r in curve if isinstance(r, Mapping)),
                      key=lambda r: (r.get("step") is None, r.get("step") or 0)):
        v = row.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            step = row.get("step")
            out.append((float(step) if isinstance(step, (int, float)) else math.inf, float(v)))
    return out


def _edges(values: list[float]) -> tuple[float, float]:
    k = max(1, math.floor(len(values) * EDGE_SHARE))
    return sum(values[:k]) / k, sum(values[-k:]) / k


def learned(curve: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """``{train_loss_start, train_loss_end, valid_loss_start, valid_loss_end, verdict, reason}``."""
    curve = curve or []
    train, valid = _column(curve, "train_loss"), _column(curve, "valid_loss")
    out: dict[str, Any] = {"train_loss_start": None, "train_loss_end": None,
                           "valid_loss_start": None, "valid_loss_end": None,
                           "verdict": "unknown", "judged_on": None, "reason": ""}
    if len(train) >= 2:
        out["train_loss_start"], out["train_loss_end"] = _edges(train)
    if len(valid) >= 2:
        out["valid_loss_start"], out["valid_loss_end"] = valid[0], valid[-1]
    valid_points, train_points = _points(curve, "valid_loss"), _points(curve, "train_loss")
    measured_before = bool(valid_points) and (not train_points
                                              or valid_points[0][0] <= train_points[0][0])
    if len(valid) >= 2 or (valid and not measured_before and out["train_loss_start"] is not None):
        end, lowest = valid[-1], min(valid)
        start = valid[0]
        out["judged_on"] = "validation"
        if not measured_before and out["train_loss_start"] is not None:
            # hosted services measure validation only after some training: the loss before
            # it is the first training loss, on examples of the same kind
            start = max(start, out["train_loss_start"])
            out["judged_on"] = "validation (start: the first training loss)"
        out["valid_loss_start"], out["valid_loss_end"] = valid[0], end
        dropped = start > 0 and (start - lowest) / start >= MIN_DROP
        # a rise counts when it is large against the minimum and a real share of the fall
        # (0.010 → 0.018 after falling from 1.1 is noise, not memorising)
        rose = (lowest > 0 and end > lowest * (1 + OVERFIT_RISE)
                and end - lowest > OVERFIT_RISE * (start - lowest))
        train_fell = (out["train_loss_end"] is not None
                      and out["train_loss_end"] < out["train_loss_start"])
        if dropped and rose and train_fell:
            out["verdict"] = "overfit"
            out["reason"] = (f"validation loss fell from {start:.3g} to {lowest:.3g}, then rose to "
                             f"{end:.3g} while training loss kept falling")
        elif start > 0 and (start - end) / start >= MIN_DROP:
            out["verdict"] = "learned"
            out["reason"] = f"validation loss fell from {start:.3g} to {end:.3g}"
        else:
            out["verdict"] = "underfit"
            out["reason"] = (f"validation loss went from {start:.3g} to {end:.3g}: less than a "
                             f"{MIN_DROP:.0%} drop")
    elif out["train_loss_start"] is not None:
        start, end = out["train_loss_start"], out["train_loss_end"]
        out["judged_on"] = "training"
        if start > 0 and (start - end) / start >= MIN_DROP:
            out["verdict"] = "learned"
            out["reason"] = (f"training loss fell from {start:.3g} to {end:.3g} (no validation "
                             "slice: overfitting cannot be seen)")
        else:
            out["verdict"] = "underfit"
            out["reason"] = (f"training loss went from {start:.3g} to {end:.3g}: less than a "
                             f"{MIN_DROP:.0%} drop")
    else:
        out["reason"] = "no loss curve was reported"
    return out


def tune_longer_hint(summary: Mapping[str, Any]) -> str:
    """The command that gives an underfit tune its chance: more steps, a higher learning rate."""
    base = summary.get("base_model") or "MODEL"
    held = (summary.get("estimate") or {}).get("holdout") or {}
    train = held.get("source") or summary.get("train_path") or "train.jsonl"
    steps = summary.get("total_steps")
    more = f" -o max_steps {int(steps) * 4}" if isinstance(steps, int) and steps > 0 else ""
    epochs = (summary.get("hyperparameters") or {}).get("epochs")
    # epochs may be a fraction (a run cut by max_steps reports the epochs it covered);
    # --epochs takes a whole number from 1 to 100
    longer = (f" --epochs {min(100, max(1, math.ceil(epochs * 3)))}"
              if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs > 0
              else "")
    return f"ftdecide tune {train} --model {base}{longer or more}"
