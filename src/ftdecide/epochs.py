"""The cookbook's epoch rule, one copy for the core's estimates and every trainer.

OpenAI's fine-tuning default (the cookbook formula in reference/providers.md):
3 epochs, raised for tiny sets so at least 100 examples are seen, lowered for
huge ones so at most 25,000 are, always within 1..25. The price estimate and a
local trainer must agree on it, or an estimate prices a different run than
the one that trains.
"""

from __future__ import annotations

__all__ = ["TARGET_EPOCHS", "MIN_EPOCHS", "MAX_EPOCHS", "MIN_TARGET_EXAMPLES",
           "MAX_TARGET_EXAMPLES", "cookbook_epochs"]

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_EPOCHS = 1
MAX_EPOCHS = 25


def cookbook_epochs(examples: int) -> int:
    """3 epochs, raised for tiny sets (at least 100 examples seen) and lowered for huge ones."""
    if examples <= 0:
        return TARGET_EPOCHS
    epochs = TARGET_EPOCHS
    if examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // examples)
    elif examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_EPOCHS, MAX_TARGET_EXAMPLES // examples)
    return epochs
