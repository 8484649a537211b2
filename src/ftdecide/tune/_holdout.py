"""A validation slice held out of the training set when the user gives none.

"Did it learn?" needs a loss measured on examples the tune never saw: the
training loss alone cannot tell learning from memorising. So a tune without
``--validation`` holds out a seeded slice: 10 % of the examples, at least
:data:`MIN_VALID` and at most :data:`MAX_VALID`, when the set has at least
:data:`MIN_EXAMPLES` (below that, every example is needed for training and
the verdict is judged on the training loss, which the summary says).

The split is decided from the file and the seed alone (the same data and
settings always hold out the same examples), and written only into the
job's own run folder when the job starts: planning writes nothing.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

MIN_EXAMPLES = 24
MIN_VALID = 8
MAX_VALID = 500
SHARE = 0.1


@dataclass(frozen=True)
class Holdout:
    """Which examples of ``source`` are held out (by index), decided without writing anything."""

    source: str
    valid_indices: frozenset[int]
    total: int
    seed: int

    @property
    def valid_examples(self) -> int:
        return len(self.valid_indices)

    @property
    def train_examples(self) -> int:
        return self.total - self.valid_examples

    def to_dict(self) -> dict[str, object]:
        return {"source": self.source, "train_examples": self.train_examples,
                "valid_examples": self.valid_examples, "seed": self.seed,
                "share": SHARE, "min_valid": MIN_VALID}

    def note(self) -> str:
        return (f"held out {self.valid_examples} of {self.total} training examples (seed "
                f"{self.seed}) to measure validation loss; pass --validation FILE to choose them "
                "yourself")

    def write(self, train_out: str | Path, valid_out: str | Path) -> None:
        """Write the two parts as chat JSONL (atomically: a crash leaves no half file)."""
        import ftdecide.data as data

        examples = data.load_examples(self.source)
        for path, keep in ((Path(train_out), False), (Path(valid_out), True)):
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                for i, ex in enumerate(examples):
                    if (i in self.valid_indices) == keep:
                        f.write(json.dumps({"messages": ex.messages}, ensure_ascii=False) + "\n")
            tmp.replace(path)


def holdout(train_path: str, *, seed: int = 0) -> Holdout | None:
    """The seeded slice of ``train_path`` to hold out (None when the set is too small)."""
    import ftdecide.data as data

    n = len(data.load_examples(train_path))
    if n < MIN_EXAMPLES:
        return None
    k = min(MAX_VALID, max(MIN_VALID, round(n * SHARE)))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return Holdout(source=str(train_path), valid_indices=frozenset(order[:k]), total=n, seed=seed)
