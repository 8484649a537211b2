"""Reference-based metrics for free-text answers: ROUGE-L, chrF and BLEU, from the libraries.

A support reply, a rewrite or a summary has no single right answer, so
``exact`` and ``accuracy`` score every arm near 0 and the verdict is noise.
These metrics give partial credit for overlap with the reference answer.
They are computed by the well-kept reference implementations, never by
hand, so a score here is the number a reader gets from the library itself:

- ``rouge-l``: ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])``, the
  F-measure of the longest common subsequence of tokens. **Stemming on**
  (Porter, tokens over three characters, as the library does with
  ``use_stemmer=True``): "refund" and "refunds" are the same word, and
  inflection is presentation, not content, which is what every built-in
  forgives. **Tokenizer**: the library's default tokenizer keeps only ASCII
  ``a-z0-9``, so an identical answer in Russian, Greek or Japanese scores 0
  and "café" becomes "caf". :class:`UnicodeTokenizer` is that tokenizer with
  the character class widened to every Unicode letter, mark and digit; on
  ASCII text it gives exactly the default tokenizer's tokens (a test holds
  it to the library's default to 1e-9), elsewhere it keeps the words.
  Scripts written without spaces (Chinese, Japanese) still come out as one
  token per run of characters: use ``chrf`` for them.
- ``chrf``: ``sacrebleu.sentence_chrf(answer, [expected])`` with sacrebleu's
  defaults (character 6-grams, no word n-grams, β = 2: chrF, not chrF++;
  whitespace ignored; no epsilon smoothing), divided by 100. Character
  n-grams work in any script and are the steadier sentence-level score.
- ``bleu``: ``sacrebleu.sentence_bleu(answer, [expected])`` with sacrebleu's
  sentence defaults (``13a`` tokenizer, case-sensitive, ``exp`` smoothing,
  effective order), divided by 100. Without smoothing a short answer that
  misses every 4-gram scores 0 however close it is; ``exp`` smoothing is
  sacrebleu's own choice for sentences. BLEU is still the noisiest of the
  three on single sentences: prefer ``chrf`` or ``rouge-l``.

Every score is in ``[0, 1]`` per item, so the bootstrap intervals and paired
tests of :mod:`ftdecide.compare._stats` apply unchanged. An empty (or
whitespace-only) answer scores 0 under each library. An empty expected
answer cannot be scored against, so :func:`check_references` refuses the
run before any call is made rather than scoring every arm 0 on that item.

The libraries are imported when a metric is first used, never at
``import ftdecide``.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any, Iterable

from ftdecide.errors import DataError

__all__ = ["REFERENCE_METRICS", "UnicodeTokenizer", "bleu", "check_references", "chrf",
           "rouge_l", "rouge_tokens"]

#: The metrics that score against a reference text (and so need a non-empty one).
REFERENCE_METRICS = ("rouge-l", "chrf", "bleu", "similarity")

#: ``use_stemmer`` of the ROUGE-L scorer (see the module docstring for why).
ROUGE_USE_STEMMER = True


def _word_char(ch: str) -> bool:
    """A letter, combining mark or digit of any script (what a word is made of)."""
    return unicodedata.category(ch)[0] in "LMN"


def rouge_tokens(text: str, stemmer: Any = None) -> list[str]:
    """rouge-score's ``tokenize.tokenize`` with Unicode word characters.

    The library: lower-case; every character outside ``a-z0-9`` becomes a
    space; split; stem tokens longer than three characters; keep tokens that
    are ``^[a-z0-9]+$``. Here "outside ``a-z0-9``" reads "not a letter, mark
    or digit", which on ASCII text is the same set, so the tokens are the
    library's own there.
    """
    lowered = text.lower()
    spaced = "".join(ch if _word_char(ch) else " " for ch in lowered)
    tokens = spaced.split()
    if stemmer is not None:
        tokens = [stemmer.stem(t) if len(t) > 3 else t for t in tokens]
    return [t for t in tokens if t and all(_word_char(ch) for ch in t)]


class _MemoStemmer:
    """The Porter stemmer with each word's stem remembered: the same words recur in every
    answer, and stemming is most of ROUGE-L's time (the stems are the stemmer's own)."""

    def __init__(self, stemmer: Any) -> None:
        self.stem = lru_cache(maxsize=65536)(stemmer.stem)


class UnicodeTokenizer:
    """A ``rouge_score.tokenizers.Tokenizer`` (it has ``tokenize``) for :func:`rouge_tokens`."""

    def __init__(self, use_stemmer: bool = ROUGE_USE_STEMMER) -> None:
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer: Any = _MemoStemmer(porter.PorterStemmer())
        else:
            self._stemmer = None

    def tokenize(self, text: str) -> list[str]:
        return rouge_tokens(text, self._stemmer)


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=ROUGE_USE_STEMMER,
                                    tokenizer=UnicodeTokenizer(ROUGE_USE_STEMMER))


def _unit(value: float) -> float:
    """A library's score as a number in [0, 1] (rounding can put 100-scale BLEU a hair over)."""
    return min(1.0, max(0.0, float(value)))


def rouge_l(expected: str, answer: str) -> float:
    """ROUGE-L F-measure of ``answer`` against ``expected`` (rouge-score, stemmed)."""
    return _unit(_rouge_scorer().score(expected, answer)["rougeL"].fmeasure)


def chrf(expected: str, answer: str) -> float:
    """chrF (sacrebleu's sentence defaults) over 100."""
    import sacrebleu

    return _unit(sacrebleu.sentence_chrf(answer, [expected]).score / 100.0)


def bleu(expected: str, answer: str) -> float:
    """Sentence BLEU (sacrebleu's defaults: 13a, exp smoothing, effective order) over 100."""
    import sacrebleu

    return _unit(sacrebleu.sentence_bleu(answer, [expected]).score / 100.0)


def check_references(metric: str, items: Iterable[Any], *, path: str) -> None:
    """Refuse a reference-based metric when an eval item's expected answer is empty.

    ``items`` have ``id`` (the eval line) and ``expected``. Called in the
    preflight, so the run stops before a paid call instead of scoring every
    arm 0 on an item nobody could answer right.
    """
    if metric not in REFERENCE_METRICS:
        return
    empty = [it.id for it in items if not str(it.expected).strip()]
    if empty:
        shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise DataError(
            f"{metric}: {len(empty)} eval item(s) have an empty expected answer (line {shown}); "
            "a reference-based metric scores an answer against the expected text",
            path=path, line=int(empty[0]) if empty[0].isdigit() else None,
            hint="give every eval example its reference answer, or drop those examples")
