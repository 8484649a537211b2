"""``audit``: check a training and an eval set against each other before any money is spent.

A comparison is only as good as its eval set. Four things quietly break it,
and all four can be seen in the files alone:

* **leaks**: eval items whose prompt is in the training set (exactly, after
  normalisation, or nearly: a paraphrase). A fine-tune scores them from
  memory; ``compare`` leaves them out of scoring by default
  (:meth:`AuditReport.exclude_lines`).
* **conflicts**: the same prompt with different answers, inside train (the
  model is taught both) or between train and eval (the eval item marks the
  trained answer wrong).
* **near duplicates** inside train: wasted training tokens, and an
  over-weighted pattern.
* **labels and power**: what answering blindly scores (majority and chance
  rates, in the metric's units), whether eval's label mix is train's, and the
  smallest gain the eval set's size can detect at all.

The modules behind it: :mod:`._audit_text` (what "the same" prompt or answer
means), :mod:`._audit_search` (the pruned, exact similarity search that
makes 100,000 × 10,000 a matter of seconds) and :mod:`._audit_labels`
(labels, baselines, power).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from ftdecide.data._audit_labels import label_report, min_detectable_diff
from ftdecide.data._audit_text import answer_key, prompt_key, prompt_text, split
from ftdecide.data._read import PathLike, _Reader, _record_error
from ftdecide.errors import UsageError

__all__ = ["AuditReport", "audit"]

#: How many near-duplicate pairs the report lists (the total is always counted).
NEAR_DUPLICATES_SHOWN = 100
#: Characters of a prompt shown with a conflict.
_SNIPPET = 100

Progress = Callable[[str, int, int], None]


@dataclass
class _Side:
    """One file's examples, reduced to what the audit compares (no message dicts kept)."""

    path: str
    name: str
    lines: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def where(self, line: int) -> str:
        return f"{self.name}:{line}"


def _read(path: PathLike, name: str, progress: Progress | None, stage: str) -> _Side:
    """Every example of ``path``; a DataError naming file and line on the first bad record."""
    side = _Side(os.fspath(path), name)
    reader = _Reader(path)
    size = os.path.getsize(side.path) if os.path.isfile(side.path) else 0
    for record in reader:
        if record.errors:
            raise _record_error(path, record)
        assert record.messages is not None
        prompt, answer = split(record.messages)
        side.lines.append(record.line)
        side.keys.append(prompt_key(prompt))
        side.texts.append(prompt_text(prompt))
        side.answers.append(answer)
        if progress is not None and len(side.lines) % 10_000 == 0:
            progress(stage, reader.bytes_read, size)
    if progress is not None:
        progress(stage, size, size)
    return side


@dataclass
class AuditReport:
    """What :func:`audit` found. ``to_dict()`` is the stable JSON form (``--json``).

    ``leaked``/``near_leaked``: one entry per eval item, ``{"eval": "eval.jsonl:12",
    "train": "train.jsonl:40", "eval_line": 12, "train_line": 40}`` (near: plus
    ``similarity``). ``conflicts``: ``{"train": [...groups...], "train_eval":
    [...items...]}``. ``near_duplicates``: ``{"pairs": [...first 100...], "total",
    "exact_pairs"}``. ``labels``: see :func:`ftdecide.data._audit_labels.label_report`.
    ``min_detectable_diff`` with its inputs in ``power``. ``excluded`` is empty
    here; ``compare`` fills it with the eval items it leaves out.
    """

    train: str
    eval: str | None
    train_examples: int
    eval_examples: int
    settings: dict[str, Any]
    leaked: list[dict[str, Any]]
    near_leaked: list[dict[str, Any]]
    conflicts: dict[str, list[dict[str, Any]]]
    near_duplicates: dict[str, Any]
    labels: dict[str, Any]
    min_detectable_diff: float | None
    power: dict[str, Any]
    excluded: list[Any] = field(default_factory=list)

    def exclude_lines(self) -> list[int]:
        """The eval lines to leave out of scoring: exact and near leaks, in file order."""
        return sorted({e["eval_line"] for e in self.leaked}
                      | {e["eval_line"] for e in self.near_leaked})

    def counts(self) -> dict[str, int]:
        return {
            "train_examples": self.train_examples,
            "eval_examples": self.eval_examples,
            "leaked": len(self.leaked),
            "near_leaked": len(self.near_leaked),
            "excluded_if_leaks_dropped": len(self.exclude_lines()),
            "conflicts_train": len(self.conflicts["train"]),
            "conflicts_train_eval": len(self.conflicts["train_eval"]),
            "near_duplicate_pairs": self.near_duplicates["total"],
            "exact_duplicate_pairs": self.near_duplicates["exact_pairs"],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "train": self.train,
            "eval": self.eval,
            "counts": self.counts(),
            "settings": dict(self.settings),
            "leaked": self.leaked,
            "near_leaked": self.near_leaked,
            "conflicts": self.conflicts,
            "near_duplicates": self.near_duplicates,
            "labels": self.labels,
            "min_detectable_diff": self.min_detectable_diff,
            "power": self.power,
            "excluded": list(self.excluded),
        }


def _check_settings(near_threshold: float, alpha: float, power: float,
                    baseline_rate: float | None) -> None:
    if not 0.0 < near_threshold <= 1.0:
        raise UsageError(f"near threshold {near_threshold} is not in (0, 1]",
                         hint="a cosine similarity threshold such as 0.9")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise UsageError("alpha and power must be between 0 and 1 (e.g. 0.05 and 0.8)")
    if baseline_rate is not None and not 0.0 <= baseline_rate <= 1.0:
        raise UsageError(f"baseline rate {baseline_rate} is not in [0, 1]",
                         hint="a score as a fraction, e.g. 0.14 for 14 %")


def _names(train_path: PathLike, eval_path: PathLike | None) -> tuple[str, str | None]:
    """File names for ``file:line``: base names, unless train and eval share one."""
    train = os.path.basename(os.fspath(train_path)) or os.fspath(train_path)
    if eval_path is None:
        return train, None
    evals = os.path.basename(os.fspath(eval_path)) or os.fspath(eval_path)
    if evals == train and os.fspath(eval_path) != os.fspath(train_path):
        return os.fspath(train_path), os.fspath(eval_path)
    return train, evals


def audit(train_path: PathLike, eval_path: PathLike | None = None, *,
          near_threshold: float = 0.9, metric: str | None = None,
          baseline_rate: float | None = None, alpha: float = 0.05, power: float = 0.8,
          progress: Progress | None = None) -> AuditReport:
    """Audit a training set, and an eval set against it (see the module docstring).

    Reads every format :func:`ftdecide.data.validate` reads; a bad record is a
    DataError naming file and line. ``near_threshold``: the character n-gram
    TF-IDF cosine at which two prompts count as near copies. ``metric``: the
    metric the comparison will use (``exact``, ``accuracy``, ``json-fields``;
    None chooses ``json-fields`` for JSON answers, else ``exact``).
    ``baseline_rate``: the score the power calculation starts from (default:
    the majority rate when answers are categorical, else 0.5).
    ``progress(stage, done, total)`` is called as the work goes on.
    """
    _check_settings(near_threshold, alpha, power, baseline_rate)
    if metric is not None:
        metric = metric.strip().lower().replace("_", "-")
    train_name, eval_name = _names(train_path, eval_path)
    train = _read(train_path, train_name, progress, "reading train")
    evals = _read(eval_path, eval_name or "", progress, "reading eval") \
        if eval_path is not None else None

    train_groups: dict[str, list[int]] = defaultdict(list)  # prompt key -> train indexes
    for i, key in enumerate(train.keys):
        train_groups[key].append(i)

    leaked = _exact_leaks(train, evals, train_groups)
    leaked_keys = {k for k in evals.keys if k in train_groups} if evals else set()
    near_leaked, near_duplicates = _similar(train, evals, train_groups, leaked_keys,
                                            near_threshold, progress)
    conflicts = {"train": _train_conflicts(train, train_groups),
                 "train_eval": _train_eval_conflicts(train, evals, train_groups)}
    labels = label_report(train.answers, evals.answers if evals else None, metric)

    n = len(evals.lines) if evals else 0
    excluded = len({e["eval_line"] for e in leaked} | {e["eval_line"] for e in near_leaked})
    power_info = _power(n if evals else None, excluded, labels, baseline_rate, alpha, power)
    from ftdecide.data._audit_vectors import IDF_POWER, NGRAM

    settings = {"near_threshold": near_threshold, "metric": labels["metric"],
                "alpha": alpha, "power": power, "baseline_rate": baseline_rate,
                "ngram": NGRAM, "idf_power": IDF_POWER,
                "near_duplicates_shown": NEAR_DUPLICATES_SHOWN}
    return AuditReport(
        train=train.path, eval=evals.path if evals else None,
        train_examples=len(train.lines), eval_examples=n, settings=settings,
        leaked=leaked, near_leaked=near_leaked, conflicts=conflicts,
        near_duplicates=near_duplicates, labels=labels,
        min_detectable_diff=power_info["min_detectable_diff"], power=power_info)


def _power(n: int | None, excluded: int, labels: dict[str, Any], baseline_rate: float | None,
           alpha: float, power: float) -> dict[str, Any]:
    """The power section: the smallest detectable gain for ``n`` eval items (None without
    an eval set), and for the items left once the leaks are excluded."""
    rate, source = baseline_rate, "given"
    if rate is None:
        if labels.get("majority_rate") is not None:
            rate, source = labels["majority_rate"], "majority rate"
        else:
            rate, source = 0.5, "default (answers not categorical)"
    kept = None if n is None else n - excluded
    return {"n": n or 0, "alpha": alpha, "power": power, "baseline_rate": rate,
            "baseline_source": source,
            "min_detectable_diff": None if n is None else min_detectable_diff(n, rate, alpha, power),
            "n_after_exclusion": kept,
            "min_detectable_diff_after_exclusion":
                None if kept is None else min_detectable_diff(kept, rate, alpha, power),
            "method": "two proportions, normal approximation (Fleiss), unpaired: "
                      "conservative for the paired comparison"}


def _exact_leaks(train: _Side, evals: _Side | None, train_groups: dict[str, list[int]]
                 ) -> list[dict[str, Any]]:
    if evals is None:
        return []
    out = []
    for i, key in enumerate(evals.keys):
        matches = train_groups.get(key)
        if matches:
            t = train.lines[matches[0]]
            out.append({"eval": evals.where(evals.lines[i]), "train": train.where(t),
                        "eval_line": evals.lines[i], "train_line": t,
                        "train_matches": len(matches)})
    return out


def _similar(train: _Side, evals: _Side | None, train_groups: dict[str, list[int]],
             leaked_keys: set[str], threshold: float, progress: Progress | None
             ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Near leaks (eval → best train match) and near duplicates (pairs within train).

    The vectors are built once for the unique training prompts and the unique
    eval prompts that are not exact leaks, so an exact duplicate costs nothing
    and a near pair between two prompts stands for every pair of their lines.
    """
    from ftdecide.data import _audit_search as search
    from ftdecide.data._audit_vectors import rows_view, vectorize

    unique_train = list(train_groups)
    first_text = {}
    for i, key in enumerate(train.keys):
        first_text.setdefault(key, train.texts[i])
    eval_groups: dict[str, list[int]] = defaultdict(list)
    if evals is not None:
        for i, key in enumerate(evals.keys):
            if key not in leaked_keys:
                eval_groups[key].append(i)
    unique_eval = list(eval_groups)
    eval_text = {}
    if evals is not None:
        for key, members in eval_groups.items():
            eval_text[key] = evals.texts[members[0]]
    texts = [first_text[k] for k in unique_train] + [eval_text[k] for k in unique_eval]
    if progress is not None:
        progress("vectorising", 0, len(texts))
    vectors = vectorize(texts)
    n_train = len(unique_train)
    train_rows = rows_view(vectors.matrix, 0, n_train)
    index = search.Index.build(train_rows, threshold) if n_train else None

    near_leaked: list[dict[str, Any]] = []
    if evals is not None and unique_eval and index is not None:
        queries = rows_view(vectors.matrix, n_train, len(texts))
        q_rows, t_rows, sims = search.best_matches(queries, index, progress=progress)
        for q, t, sim in zip(q_rows.tolist(), t_rows.tolist(), sims.tolist()):
            t_line = train.lines[train_groups[unique_train[t]][0]]
            for i in eval_groups[unique_eval[q]]:
                near_leaked.append({"eval": evals.where(evals.lines[i]),
                                    "train": train.where(t_line),
                                    "eval_line": evals.lines[i], "train_line": t_line,
                                    "similarity": round(float(sim), 4)})
        near_leaked.sort(key=lambda e: e["eval_line"])

    pairs_a, pairs_b, pair_sims = search.self_pairs(index, progress=progress) \
        if index is not None else ([], [], [])
    return near_leaked, _near_duplicates(train, train_groups, unique_train, pairs_a, pairs_b,
                                         pair_sims)


def _near_duplicates(train: _Side, train_groups: dict[str, list[int]], unique: list[str],
                     rows_a: Any, rows_b: Any, sims: Any) -> dict[str, Any]:
    """Line pairs within train, counted in full: every pair inside a group of identical
    prompts (exact) and every line pair of two near prompts. Listed: the first
    ``NEAR_DUPLICATES_SHOWN`` in line order, an exact group as (its first line, each
    repeat) and a near pair as the two prompts' first lines."""
    import heapq

    exact_pairs = sum(len(g) * (len(g) - 1) // 2 for g in train_groups.values())
    repeats = sum(len(g) - 1 for g in train_groups.values())
    near_total = 0
    found: list[tuple[int, int, float, bool]] = []
    for a, b, sim in zip(list(rows_a), list(rows_b), list(sims)):
        ga, gb = train_groups[unique[int(a)]], train_groups[unique[int(b)]]
        near_total += len(ga) * len(gb)
        found.append((ga[0], gb[0], float(sim), False))

    def every() -> Any:
        for members in train_groups.values():
            for other in members[1:]:
                yield members[0], other, 1.0, True
        yield from found

    def lines(pair: tuple[int, int, float, bool]) -> tuple[int, int]:
        la, lb = train.lines[pair[0]], train.lines[pair[1]]
        return (la, lb) if la < lb else (lb, la)

    listed = []
    for pair in heapq.nsmallest(NEAR_DUPLICATES_SHOWN, every(), key=lines):
        la, lb = lines(pair)
        listed.append({"a": train.where(la), "b": train.where(lb), "a_line": la, "b_line": lb,
                       "similarity": round(pair[2], 4), "exact": pair[3]})
    return {"total": exact_pairs + near_total, "exact_pairs": exact_pairs,
            "near_pairs": near_total, "repeated_lines": repeats, "pairs": listed,
            "limit": NEAR_DUPLICATES_SHOWN}


def _snippet(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[:_SNIPPET - 1] + "…"


def _train_conflicts(train: _Side, groups: dict[str, list[int]]) -> list[dict[str, Any]]:
    """Groups of training lines with the same prompt and different answers."""
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        answers: dict[Any, str] = {}
        for i in members:
            answers.setdefault(answer_key(train.answers[i]), train.answers[i].strip())
        if len(answers) > 1:
            lines = [train.lines[i] for i in members]
            out.append({"lines": [train.where(n) for n in lines], "train_lines": lines,
                        "answers": list(answers.values()),
                        "prompt": _snippet(train.texts[members[0]])})
    out.sort(key=lambda c: c["train_lines"][0])
    return out


def _train_eval_conflicts(train: _Side, evals: _Side | None, groups: dict[str, list[int]]
                          ) -> list[dict[str, Any]]:
    """Eval items whose prompt is in train with none of the training answers."""
    if evals is None:
        return []
    out = []
    for i, key in enumerate(evals.keys):
        members = groups.get(key)
        if not members:
            continue
        trained = {answer_key(train.answers[j]): train.answers[j].strip() for j in members}
        if answer_key(evals.answers[i]) not in trained:
            lines = [train.lines[j] for j in members]
            out.append({"eval": evals.where(evals.lines[i]), "eval_line": evals.lines[i],
                        "train": [train.where(n) for n in lines], "train_lines": lines,
                        "eval_answer": evals.answers[i].strip(),
                        "train_answers": list(trained.values()),
                        "prompt": _snippet(evals.texts[i])})
    return out
