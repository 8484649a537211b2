"""Quality metrics: how one answer is scored against the expected one.

``compare`` scores every (arm, eval item) pair with one metric and hands the
scores to :mod:`ftdecide.stats`. A metric is a function of two strings to a
number in ``[0, 1]``; the built-ins are below and plugins add theirs through
the ``register_metrics`` hook (kept by :class:`ftdecide.plugins.Registry`).

Every built-in is deliberately forgiving about *presentation* and strict
about *content*, because the arms differ in how chatty they are: a base
model with a short prompt says ``"Billing."`` where the fine-tune says
``billing``, and that difference is not what the comparison is about.

- ``exact``: the whole answer equals the expected one after
  :func:`normalize_text` (Unicode NFKC, casefold, whitespace trimmed and
  collapsed, one pair of surrounding quotes and one trailing period ignored).
- ``accuracy``: a label task. The answer's first non-empty line (code-fence
  lines skipped, a list bullet or ``**bold**`` markers removed, and a
  ``Label: x`` / ``**Category:** x`` style prefix of one to three words dropped
  when the expected label has no colon itself), normalised as for ``exact``,
  equals the expected label normalised the same way. Text after the first
  line is ignored, so an explanation below the label costs nothing; text
  before it on the same line ("I think billing") counts as wrong.
- ``f1``: SQuAD's token F1 (lower-cased, punctuation and the articles
  a/an/the removed, bag-of-tokens overlap). Partial credit for free text.
- ``json-fields``: both sides parsed as JSON objects (see
  :func:`extract_json_object` for how an answer wrapped in a code fence or
  prose is found), nested objects flattened to dotted keys, and the score is
  the F1 over (key, normalised value) pairs. An answer with no parseable
  object scores 0 and its :class:`Score` says ``parsed=False``, so the report
  can count format failures separately from wrong fields.

For free text, where there is no single right answer, the reference-based
metrics come from the reference libraries (:mod:`ftdecide.compare._textmetrics`,
:mod:`ftdecide.compare._similarity` say exactly how each is called):

- ``rouge-l``: ROUGE-L F-measure (rouge-score, stemmed).
- ``chrf``: chrF (sacrebleu's sentence defaults) / 100.
- ``bleu``: sentence BLEU (sacrebleu's defaults, ``exp`` smoothing) / 100.
- ``similarity``: cosine between vectors of the expected answer and the
  answer: TF-IDF fitted on the run (offline, the default) or an embedding
  model's (``similarity: {model: ...}`` in the config; see :func:`for_run`).
  It scores all of a run's answers at once (:meth:`Metric.score_many`), because
  TF-IDF is fitted on them all and embeddings are fetched in batches.

``binary`` says whether a metric only ever gives 0 or 1; the statistics use
McNemar's test for those. A plugin metric's is ``None``: unknown, decided
from the scores themselves.
"""

from __future__ import annotations

import json
import math
import numbers
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Hashable, Mapping, Sequence

from ftdecide.compare import _similarity, _textmetrics
from ftdecide.errors import DataError, PluginError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    from ftdecide.plugins import Registry

__all__ = [
    "BUILTIN_NAMES",
    "Metric",
    "Score",
    "available_metrics",
    "extract_json_object",
    "for_run",
    "get_metric",
    "normalize_text",
]

MetricFunction = Callable[[str, str], float]
#: ``(pairs, store) -> (scores, evaluation usage or None)``: a metric scoring a whole run at once.
BatchFunction = Callable[[Sequence[tuple[str, str]], Any],
                         "tuple[list[Score], dict[str, Any] | None]"]

_EMPHASIS = re.compile(r"^([*_])(.+)\1$")
_LABEL_PREFIX = re.compile(r"^[^\W\d_][\w-]*(?:[ \t]+[^\W\d_][\w-]*){0,2}[ \t]*:[ \t]*(\S.*)$")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_FENCED_BLOCK = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
#: How many ``{`` an answer may open before the search for an object gives up:
#: a bound on the work a pathological answer can cause.
_MAX_OBJECT_CANDIDATES = 64


@dataclass(frozen=True)
class Score:
    """One answer's score; ``parsed`` is False when the answer could not be read at all
    (``json-fields``: no JSON object in it). Such an answer has ``value`` 0."""

    value: float
    parsed: bool = True


@dataclass(frozen=True)
class Metric:
    """A named scoring function ``(expected, answer) -> Score``.

    ``source`` is ``"built-in"`` or ``"plugin NAME"``, shown in the report's
    provenance. ``binary`` is True when every score is 0 or 1, False when
    partial credit is possible, None when unknown (plugin metrics).
    """

    name: str
    description: str
    binary: bool | None
    source: str
    _function: Callable[[str, str], Score] = field(repr=False, compare=False)
    _batch: "BatchFunction | None" = field(default=None, repr=False, compare=False)

    def score(self, expected: str, answer: str) -> Score:
        """Score ``answer`` against ``expected``.

        Raises DataError when ``expected`` cannot be scored by this metric
        (``json-fields`` with an expected answer that is not a JSON object),
        PluginError when a plugin's function raises or returns a value
        outside ``[0, 1]``.
        """
        return self._function(expected, answer)

    def score_many(self, pairs: Sequence[tuple[str, str]], *,
                   store: Any = None) -> tuple[list[Score], dict[str, Any] | None]:
        """Scores of every ``(expected, answer)`` pair of a run, and what scoring cost.

        A metric that needs all the answers at once (``similarity``: TF-IDF is
        fitted on them, embeddings are fetched in batches and cached in
        ``store``, a :class:`RunStore`) does so here; the others score pair
        by pair. The second value is the evaluation's own usage (embedding
        calls, tokens, cost; :class:`EmbeddingUsage` as a dict), or None
        when scoring called nothing.
        """
        if self._batch is not None:
            return self._batch(pairs, store)
        return [self._function(e, a) for e, a in pairs], None


# -- normalisation --------------------------------------------------------------------------

def normalize_text(text: str) -> str:
    """The form ``exact`` compares: NFKC, casefold, whitespace trimmed and collapsed,
    surrounding quotes and one trailing period removed (in either order: ``"Paris".``
    and ``"Paris."`` both become ``paris``). One implementation with the audit's (which
    lives below compare, in the data layer), so its trivial baselines score as ``exact`` does."""
    from ftdecide.data._audit_text import exact_text

    return exact_text(text)


def _first_line(text: str) -> str:
    """The first non-empty line outside code-fence markers, without bullet or emphasis
    (the data layer's reading, shared with the audit's trivial baselines)."""
    from ftdecide.data._audit_text import first_line

    return first_line(text)


def label_of(text: str, *, strip_prefix: bool = True) -> str:
    """The label ``accuracy`` reads from ``text`` (normalised); see the module docstring."""
    line = _first_line(text)
    if strip_prefix:
        m = _LABEL_PREFIX.match(line)
        if m:
            line = m.group(1)
            em = _EMPHASIS.match(line.strip())
            if em:
                line = em.group(2)
    return normalize_text(line)


def _squad_tokens(text: str) -> list[str]:
    s = unicodedata.normalize("NFKC", text).casefold()
    s = "".join(" " if ch.isspace() else ch for ch in s
                if ch.isspace() or unicodedata.category(ch)[0] not in "PS")
    s = _ARTICLES.sub(" ", s)
    return s.split()


# -- JSON extraction ---------------------------------------------------------------------------

def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    """json.loads, or a sentinel for anything that is not strict JSON."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NOT_JSON


_NOT_JSON = object()


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start``, skipping JSON strings."""
    depth = 0
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object an answer contains, or None.

    Tried in order: the whole text; the body of each fenced code block
    (```` ```json ```` or a bare fence); then each balanced ``{...}`` from the
    left (strings inside it respected), the first that parses winning. So
    ``Sure! {"a": 1} Hope this helps`` gives ``{"a": 1}``. Only objects
    count: an answer that is a JSON list or number has no object.
    """
    s = text.strip()
    value = _loads(s)
    if isinstance(value, dict):
        return value
    for m in _FENCED_BLOCK.finditer(s):
        value = _loads(m.group(1).strip())
        if isinstance(value, dict):
            return value
    pos = s.find("{")
    tried = 0
    while pos != -1 and tried < _MAX_OBJECT_CANDIDATES:
        tried += 1
        end = _balanced_end(s, pos)
        if end is None:  # this one never closes, but a later (nested) one may: keep looking
            pos = s.find("{", pos + 1)
            continue
        value = _loads(s[pos:end])
        if isinstance(value, dict):
            return value
        pos = s.find("{", pos + 1)
    return None


def _flatten(obj: dict[str, Any]) -> set[tuple[str, Hashable]]:
    """(dotted key, normalised value) pairs of a JSON object, as ``json-fields`` compares
    them: the data layer's flattening, shared with the audit's trivial baselines (strings as
    ``exact`` compares them, ``1`` equal to ``1.0``, ``true`` never ``1``, a nested empty
    object a value of its own)."""
    from ftdecide.data._audit_text import flatten_json

    return set(flatten_json(obj).items())


def _f1(overlap: int, n_answer: int, n_expected: int) -> float:
    if n_answer == 0 and n_expected == 0:
        return 1.0
    if overlap == 0:
        return 0.0
    precision = overlap / n_answer
    recall = overlap / n_expected
    return 2 * precision * recall / (precision + recall)


# -- built-ins -----------------------------------------------------------------------------

def _exact(expected: str, answer: str) -> Score:
    return Score(float(normalize_text(answer) == normalize_text(expected)))


def _accuracy(expected: str, answer: str) -> Score:
    gold = label_of(expected, strip_prefix=False)
    got = label_of(answer, strip_prefix=":" not in gold)
    return Score(float(got == gold))


def _token_f1(expected: str, answer: str) -> Score:
    gold = _squad_tokens(expected)
    pred = _squad_tokens(answer)
    if not gold or not pred:
        return Score(float(gold == pred))
    overlap = sum((Counter(gold) & Counter(pred)).values())
    return Score(_f1(overlap, len(pred), len(gold)))


def _json_fields(expected: str, answer: str) -> Score:
    gold_obj = extract_json_object(expected)
    if gold_obj is None:
        snippet = expected if len(expected) <= 60 else expected[:57] + "..."
        raise DataError(
            f"json-fields: the expected answer {snippet!r} is not a JSON object",
            hint="json-fields needs JSON objects as expected answers; "
            "use --metric exact, accuracy or f1 for text answers",
        )
    got_obj = extract_json_object(answer)
    if got_obj is None:
        return Score(0.0, parsed=False)
    gold = _flatten(gold_obj)
    got = _flatten(got_obj)
    return Score(_f1(len(gold & got), len(got), len(gold)))


def _library(function: Callable[[str, str], float]) -> Callable[[str, str], Score]:
    def score(expected: str, answer: str) -> Score:
        return Score(function(expected, answer))

    return score


def _tfidf_batch(pairs: Sequence[tuple[str, str]], store: Any) -> tuple[list[Score], None]:
    return [Score(v) for v in _similarity.tfidf_scores(pairs)], None


def _one_pair(batch: BatchFunction) -> Callable[[str, str], Score]:
    """A batch metric asked for one pair: the batch of that pair (TF-IDF fitted on it)."""
    def score(expected: str, answer: str) -> Score:
        return batch([(expected, answer)], None)[0][0]

    return score


def _embedding_metric(info: Any, provider: Any) -> Metric:
    def batch(pairs: Sequence[tuple[str, str]], store: Any) -> tuple[list[Score], dict[str, Any]]:
        values, usage = _similarity.embedding_scores(
            pairs, info=info, provider=provider, cache=_similarity.EmbeddingCache.of(store))
        return [Score(v) for v in values], usage.to_dict()

    return Metric("similarity", _similarity.embedding_description(info.key), False, "built-in",
                  _one_pair(batch), batch)


_BUILTINS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("exact", "normalised exact match (case, whitespace, quotes, trailing period ignored)",
               True, "built-in", _exact),
        Metric("accuracy", "label accuracy: the answer's first line equals the expected label",
               True, "built-in", _accuracy),
        Metric("f1", "token F1 (SQuAD): partial credit for overlapping words",
               False, "built-in", _token_f1),
        Metric("json-fields", "F1 over the fields of JSON answers; unparseable answers score 0",
               False, "built-in", _json_fields),
        Metric("rouge-l", "ROUGE-L F-measure (rouge-score, Porter stemming): the longest common "
               "word sequence with the expected answer", False, "built-in",
               _library(_textmetrics.rouge_l)),
        Metric("chrf", "chrF (sacrebleu sentence_chrf, defaults) / 100: character n-gram "
               "overlap with the expected answer", False, "built-in",
               _library(_textmetrics.chrf)),
        Metric("bleu", "sentence BLEU (sacrebleu sentence_bleu, exp smoothing) / 100: word "
               "n-gram overlap with the expected answer", False, "built-in",
               _library(_textmetrics.bleu)),
        Metric("similarity", _similarity.TFIDF_DESCRIPTION, False, "built-in",
               _one_pair(_tfidf_batch), _tfidf_batch),
    )
}
BUILTIN_NAMES: tuple[str, ...] = tuple(_BUILTINS)


# -- plugin metrics ------------------------------------------------------------------------

def _plugin_metric(name: str, function: MetricFunction, plugin: str) -> Metric:
    doc = (getattr(function, "__doc__", None) or "").strip()
    description = doc.splitlines()[0] if doc else f"registered by plugin {plugin!r}"

    def score(expected: str, answer: str) -> Score:
        try:
            value = function(expected, answer)
        except Exception as exc:  # a plugin bug must say whose it is, not be a traceback
            raise PluginError(
                f"metric {name!r} of plugin {plugin!r} raised {type(exc).__name__}: {exc}",
                hint=f"fix or update the plugin {plugin!r}, or choose another --metric",
            ) from exc
        if (not isinstance(value, numbers.Real) or not math.isfinite(float(value))
                or not 0.0 <= float(value) <= 1.0):
            raise PluginError(
                f"metric {name!r} of plugin {plugin!r} returned {value!r}; "
                "a metric must return a number in [0, 1]",
                hint=f"fix or update the plugin {plugin!r}, or choose another --metric",
            )
        return Score(float(value))

    return Metric(name, description, None, f"plugin {plugin}", score)


def _registry(registry: "Registry | None") -> "Registry":
    if registry is not None:
        return registry
    from ftdecide.plugins import get_registry

    return get_registry()


def available_metrics(registry: "Registry | None" = None) -> list[Metric]:
    """Built-in metrics, then plugin metrics sorted by name.

    A plugin metric named like a built-in is refused with a PluginError
    naming the plugin, rather than one silently shadowing the other.
    """
    reg = _registry(registry)
    out = list(_BUILTINS.values())
    for name, function in sorted(reg.metrics().items()):
        plugin = reg.metric_owner(name) or "?"
        if name in _BUILTINS:
            raise PluginError(
                f"plugin {plugin!r} registered metric {name!r}, which is a built-in metric",
                hint=f"rename the plugin's metric (built-ins: {', '.join(BUILTIN_NAMES)})",
            )
        out.append(_plugin_metric(name, function, plugin))
    return out


def get_metric(name: str, registry: "Registry | None" = None) -> Metric:
    """The metric called ``name`` (``json_fields`` is accepted for ``json-fields``).

    Unknown names raise UsageError listing every available metric.
    """
    metrics = {m.name: m for m in available_metrics(registry)}
    for candidate in (name, name.strip().lower().replace("_", "-")):
        if candidate in metrics:
            return metrics[candidate]
    raise UsageError(
        f"unknown metric {name!r} (available: {', '.join(metrics)})",
        hint="choose one of those, or install a plugin that registers the metric "
        "(`ftdecide plugins` lists plugin metrics)",
    )


def for_run(metric: Metric, *, similarity: Mapping[str, Any] | None, catalog: Any,
            items: Sequence[Any] = (), path: str = "") -> Metric:
    """``metric`` as a run uses it, checked before any call.

    ``similarity`` with an embedding ``model`` (``similarity: {model: ...}``)
    turns the TF-IDF ``similarity`` into the embedding one, its provider
    checked to have :meth:`~ftdecide.Provider.embed`. A reference-based
    metric refuses eval ``items`` with an empty expected answer (``path``
    names the eval file in the message).
    """
    _textmetrics.check_references(metric.name, items, path=path)
    model = (similarity or {}).get("model")
    if metric.name == "similarity" and metric.source == "built-in" and model:
        info, provider = _similarity.resolve_embedding_model(str(model), catalog)
        return _embedding_metric(info, provider)
    return metric
