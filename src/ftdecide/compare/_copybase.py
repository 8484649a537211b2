"""The "copy the input" trivial baseline of a free-text run.

On a rewriting task (put a draft into the brand's voice, fix its grammar)
returning the input unchanged already shares most words with the expected
answer, so word-overlap metrics (ROUGE-L, chrF, BLEU, TF-IDF similarity) give
it a score well above zero. An arm that mostly echoes the draft looks as if it
learned something; this baseline shows what echoing alone is worth on the
run's own eval items, with the run's own metric and the same bootstrap
interval as the arms, and the verdict treats it as a floor.

It is computed for the built-in reference metrics only. The embedding
``similarity`` would have to embed every input, which costs money (the
inputs' vectors are not among those the run paid for), so it is skipped; so
is the judge (its calls cost money too) and every plugin metric (we cannot
say whether the input is a meaningful answer to it).
"""

from __future__ import annotations

from typing import Any, Sequence

from ftdecide.compare import _similarity

__all__ = ["COPY_METRICS", "copy_baseline"]

#: the metrics a copied input is scored with: free-text reference metrics that cost nothing
COPY_METRICS = ("rouge-l", "chrf", "bleu", "similarity")
NAME = "copy the input"
HOW = "answers with the input unchanged"


def _applies(metric: Any) -> bool:
    if getattr(metric, "name", None) not in COPY_METRICS or getattr(metric, "source", None) != "built-in":
        return False
    if metric.name == "similarity":
        # the embedding similarity would pay to embed every input: only the offline TF-IDF one
        return getattr(metric, "description", "") == _similarity.TFIDF_DESCRIPTION
    return True


def _scores(metric: Any, copies: Sequence[tuple[str, str]],
            run_pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Each copied input's score, as the arms' answers are scored.

    TF-IDF similarity is fitted on the texts it compares: the copies are scored
    with one vectoriser fitted on every text of the run (the expected answers,
    every arm's answer) and the inputs, which are this baseline's answers.
    """
    if metric.name == "similarity":
        values = _similarity.tfidf_scores([*run_pairs, *copies])
        return values[len(run_pairs):]
    return [float(metric.score(expected, text).value) for expected, text in copies]


def copy_baseline(items: Sequence[Any], metric: Any, *, seed: int, resamples: int,
                  run_pairs: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """``[{"name", "how", "metric", "mean", "ci_low", "ci_high", "n"}]``, or ``[]`` when the
    metric is not a free, built-in free-text reference metric.

    ``items`` are the scored eval items (``Item.input`` is the last user
    message, the text a rewrite starts from); ``run_pairs`` the run's
    ``(expected, answer)`` pairs, which TF-IDF similarity is fitted on.
    """
    from ftdecide.compare import _stats as stats

    if not items or not _applies(metric):
        return []
    copies = [(it.expected, it.input) for it in items]
    iv = stats.bootstrap_mean(_scores(metric, copies, run_pairs), resamples=resamples, seed=seed)
    return [{"name": NAME, "how": HOW, "metric": metric.name, "mean": iv.mean,
             "ci_low": iv.ci_low, "ci_high": iv.ci_high, "n": iv.n}]
