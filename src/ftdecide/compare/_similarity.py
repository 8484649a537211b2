"""The ``similarity`` metric: cosine between vectors of the expected answer and the answer.

Two sources of vectors, chosen by the config:

- **TF-IDF, offline** (no ``similarity: {model: ...}`` in the config): scikit-learn's
  ``TfidfVectorizer`` with its defaults (lower-cased, Unicode words of two or more
  characters, smoothed idf, L2-normalised rows), fitted on the distinct texts of
  the run, every expected answer and every arm's answer. All arms are scored with
  the same vectoriser, so the paired tests compare like with like; the idf is this
  run's, so a score is comparable within the run, not across runs with other arms.
  It measures shared vocabulary, not meaning: the report and ``--json`` name it
  "similarity (TF-IDF, offline)" so nobody reads it as an embedding score.
- **An embedding model** of any provider that implements
  :meth:`ftdecide.Provider.embed` (``similarity: {model: openai/text-embedding-3-small}``).
  Those calls cost money, so every vector is cached in the run store (table
  ``embeddings``, keyed on provider, model and text: a re-run or a resumed run
  pays for no text twice) and the calls' usage and cost are returned as the run's
  *evaluation cost*, kept apart from the arms' serving cost.

A cosine below 0 (possible for embeddings, never for TF-IDF's non-negative
vectors) counts as 0, so every score is in ``[0, 1]``. An empty or
whitespace-only text has no vector: its pair scores 0 and it is never sent.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import sqlite3
from array import array
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

from ftdecide.errors import UsageError

__all__ = ["EmbeddingForecast", "EmbeddingUsage", "TFIDF_DESCRIPTION", "EmbeddingCache",
           "cosine", "embedding_description", "embedding_scores", "forecast_embeddings",
           "resolve_embedding_model", "tfidf_scores"]

TFIDF_DESCRIPTION = ("similarity (TF-IDF, offline): cosine of TF-IDF vectors (scikit-learn, "
                     "fitted on this run's expected answers and answers); shared words, not "
                     "meaning. Set similarity: {model: PROVIDER/EMBEDDING-MODEL} for embeddings")
#: Texts per ``embed()`` call: small enough that a crash loses little, large enough to be cheap.
CHUNK = 256

Pair = tuple[str, str]


def embedding_description(model: str) -> str:
    """The metric's description when an embedding model gives the vectors."""
    return (f"similarity ({model} embeddings): cosine between the embeddings of the expected "
            "answer and the answer (negative counts as 0)")


@dataclass
class EmbeddingUsage:
    """What scoring with ``similarity`` cost: the run's evaluation cost of embeddings.

    ``calls`` and ``input_tokens`` are those of the ``embed()`` calls made now;
    ``cached_texts`` were answered by the store and cost nothing.
    ``cost_usd`` is None when a call's price or usage is unknown (never shown as 0).
    """

    backend: str
    model: str
    texts: int = 0
    cached_texts: int = 0
    calls: int = 0
    input_tokens: int | None = 0
    cost_usd: float | None = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- vectors to scores ------------------------------------------------------------------------

def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    """The cosine of two vectors, clipped to ``[0, 1]``; 0 when either has no length."""
    import numpy as np

    a = np.asarray(u, dtype=float)
    b = np.asarray(v, dtype=float)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0 or a.shape != b.shape:
        return 0.0
    return min(1.0, max(0.0, float(np.dot(a, b)) / (na * nb)))


def tfidf_scores(pairs: Sequence[Pair]) -> list[float]:
    """TF-IDF cosine of each (expected, answer), one vectoriser fitted on every distinct text."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = sorted({t for pair in pairs for t in pair})
    vectorizer = TfidfVectorizer()
    try:
        vectorizer.fit(texts)
    except ValueError:  # no text has a word of two characters: nothing is shared
        return [0.0] * len(pairs)
    expected = vectorizer.transform([e for e, _ in pairs])
    answers = vectorizer.transform([a for _, a in pairs])
    # rows are L2-normalised (or all zero), so the row-wise dot product is the cosine
    dots = expected.multiply(answers).sum(axis=1)
    return [min(1.0, max(0.0, float(d))) for d in dots.A1]


# -- the embedding cache ----------------------------------------------------------------------

def _embeddings_001_table(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE embeddings (
            key TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            dims INTEGER NOT NULL,
            vector BLOB NOT NULL,
            created_at TEXT NOT NULL
        )
    """)


_MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("embeddings_001_table", _embeddings_001_table)]


def _key(provider: str, model: str, text: str) -> str:
    blob = "\0".join((provider, model, text)).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class EmbeddingCache:
    """Vectors by (provider, model, text) in the run store's file (its own migration).

    Vectors are stored as float64 bytes, so a cached vector is the one the
    provider sent, bit for bit.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        from ftdecide.tune._store import apply_migrations

        self.db = db
        apply_migrations(db, _MIGRATIONS)

    @classmethod
    def of(cls, store: Any) -> "EmbeddingCache | None":
        """The cache in ``store`` (a :class:`RunStore`), or None without one."""
        db = getattr(store, "db", None)
        return cls(db) if db is not None else None

    def get_many(self, provider: str, model: str, texts: Sequence[str]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        keys = {_key(provider, model, t): t for t in texts}
        items = list(keys.items())
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})",
                                       [k for k, _ in chunk]):
                out[keys[row[0]]] = array("d", bytes(row[1])).tolist()
        return out

    def put_many(self, provider: str, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        rows = [(_key(provider, model, t), provider, model, len(v), array("d", v).tobytes(), now)
                for t, v in vectors.items()]
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)",
                                rows)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


# -- embeddings from a provider -----------------------------------------------------------------

def resolve_embedding_model(spec: str, catalog: Any) -> tuple[Any, Any]:
    """The ModelInfo and provider of ``spec``, checked to embed (UsageError before any call)."""
    info = catalog.resolve(spec)
    provider = catalog.providers.get(info.provider)
    can = getattr(provider, "can_embed", None)
    if provider is None or can is None or not can():
        able = sorted(name for name, p in catalog.providers.items()
                      if getattr(p, "can_embed", lambda: False)())
        raise UsageError(
            f"similarity.model: provider {info.provider!r} has no embeddings ({spec})",
            key="similarity.model",
            hint=(f"use a model of a provider that embeds ({', '.join(able)}), "
                  if able else "use a provider that implements embed(), ")
            + "or leave similarity.model out for TF-IDF vectors (offline)")
    return info, provider


def _price(info: Any, tokens: int | None, given: float | None) -> float | None:
    if given is not None:
        return float(given)
    if tokens is None:
        return None
    if tokens == 0:
        return 0.0
    rate = getattr(info, "input_per_1m", None)
    return None if rate is None else tokens * float(rate) / 1e6


def embedding_scores(pairs: Sequence[Pair], *, info: Any, provider: Any,
                     cache: EmbeddingCache | None) -> tuple[list[float], EmbeddingUsage]:
    """Cosine of each pair's embeddings; every distinct non-empty text embedded once, ever.

    Texts the cache holds are not sent; the rest go in chunks of
    :data:`CHUNK`, each chunk's vectors cached as soon as it returns, so an
    interrupted scoring pays again for at most one chunk.
    """
    usage = EmbeddingUsage(backend="provider", model=info.key)
    texts = sorted({t for pair in pairs for t in pair if t.strip()})
    usage.texts = len(texts)
    vectors = cache.get_many(info.provider, info.id, texts) if cache is not None else {}
    usage.cached_texts = len(vectors)
    todo = [t for t in texts if t not in vectors]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        got = provider.embed(chunk, model=info.id)
        if len(got.vectors) != len(chunk):
            from ftdecide.errors import ProviderError

            raise ProviderError(f"{info.key} returned {len(got.vectors)} embeddings for "
                                f"{len(chunk)} texts")
        new = dict(zip(chunk, [list(map(float, v)) for v in got.vectors]))
        if cache is not None:
            cache.put_many(info.provider, info.id, new)
        vectors.update(new)
        usage.calls += 1
        tokens = got.input_tokens
        usage.input_tokens = (None if usage.input_tokens is None or tokens is None
                              else usage.input_tokens + int(tokens))
        cost = _price(info, tokens, got.cost_usd)
        usage.cost_usd = None if usage.cost_usd is None or cost is None else usage.cost_usd + cost
    scores = [cosine(vectors[e], vectors[a]) if e in vectors and a in vectors else 0.0
              for e, a in pairs]
    return scores, usage


# -- the forecast: what the embeddings of a run will cost, before any call ------------------------

@dataclass
class EmbeddingForecast:
    """What scoring with ``similarity`` would cost, predicted offline (tiktoken) for the dry run,
    the budget floor and ``--max-cost``.

    TF-IDF (``backend`` "tfidf") is computed here and costs nothing: ``cost`` says "offline,
    free" instead of a $0 read off a price. For an embedding model, ``texts`` are the distinct
    non-empty texts known now (expected answers, answers already recorded or cached),
    ``cached`` those the embedding cache holds (free), ``unknown_answers`` the answers not made
    yet, each counted at ``max_tokens`` for the upper bound and at nothing for the floor.
    ``predicted_cost_usd`` is None when the model has no price (never shown as $0).
    """

    backend: str
    model: str | None
    cost: str = "offline, free"
    texts: int = 0
    cached: int = 0
    unknown_answers: int = 0
    input_tokens: int = 0
    floor_tokens: int = 0
    predicted_cost_usd: float | None = 0.0
    floor_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def forecast_embeddings(info: Any | None, texts: Sequence[str], *, unknown_answers: int,
                        max_tokens: int, cache: EmbeddingCache | None) -> EmbeddingForecast:
    """The embedding calls' tokens and cost still to pay (``info`` None: TF-IDF, free).

    Every distinct text is embedded once, ever (:func:`embedding_scores`), so
    the known texts are counted once and those in the cache not at all.
    """
    if info is None:
        return EmbeddingForecast(backend="tfidf", model=None)
    from ftdecide.data import _tokens as tokens

    known = sorted({t for t in texts if t.strip()})
    cached = cache.get_many(info.provider, info.id, known) if cache is not None else {}
    todo = [t for t in known if t not in cached]
    floor = sum(tokens.count_texts(todo, info.encoding or tokens.DEFAULT_ENCODING)) if todo else 0
    upper = floor + unknown_answers * max_tokens
    rate = getattr(info, "input_per_1m", None)
    out = EmbeddingForecast(backend="provider", model=info.key, texts=len(known),
                            cached=len(known) - len(todo), unknown_answers=unknown_answers,
                            input_tokens=upper, floor_tokens=floor)
    if rate is None:
        out.cost = "unknown (no price for the embedding model: add one with --prices FILE)"
        out.predicted_cost_usd = None if upper else 0.0
        return out
    out.predicted_cost_usd = upper * float(rate) / 1e6
    out.floor_usd = floor * float(rate) / 1e6
    out.cost = "priced at the catalog's input price"
    return out
