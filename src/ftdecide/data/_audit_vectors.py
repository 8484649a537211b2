"""Character n-gram TF-IDF vectors for many short texts, fast and in bounded memory.

Each text becomes a vector of its character n-grams (``NGRAM`` characters,
the text padded with a space at each end, n-grams across word boundaries
included), weighted by term frequency times a damped inverse document
frequency, ``(ln((1 + N) / (1 + df)) + 1) ** IDF_POWER``, each row scaled to
unit length, float32.

Why a damped idf: the full idf (scikit-learn's default, ``IDF_POWER = 1``)
gives an n-gram seen in one prompt about 12 times the weight of one seen in
all of them, so one rare word swapped in ("sluggish" for "slow", a typo) can
move a copied prompt below any sensible threshold; on the bench's tickets
only 36 of 100 one-word paraphrases reach 0.9. Plain counts (``0``) let a
long system message shared by every prompt make unrelated prompts look
alike. The square root keeps shared boilerplate at the lowest weight while a
single rare word no longer outweighs the rest of the text (83 of 100 reach
0.9; the bundled triage example's typo-and-greeting copies are found too).

The n-grams are computed with numpy over blocks of texts (code points → a
small alphabet → one 64-bit integer per n-gram, exact whenever
``alphabet ** NGRAM < 2 ** 64``, i.e. for text with fewer than 65,536 distinct
characters; beyond that a wrapping, deterministic mix), an order of magnitude
faster than a Python analyzer. Columns are numbered from the most common
n-gram to the rarest, so each row's entries run from common to rare, which is
what :mod:`._audit_search`'s pruning relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import scipy.sparse as sp

__all__ = ["IDF_POWER", "NGRAM", "Vectors", "row_blocks", "rows_view", "vectorize"]

#: Characters per n-gram: 4 keeps a one-word change in a 150-character prompt
#: near 0.95 cosine while trigram noise ("the", "ing") stays weak.
NGRAM = 4
#: The idf is raised to this power (see the module docstring).
IDF_POWER = 0.5
_BLOCK_CHARS = 4_000_000
_BLOCK_ENTRIES = 2_000_000


@dataclass
class Vectors:
    """Unit-length TF-IDF rows (float32 CSR), columns ordered from common to rare."""

    matrix: "sp.csr_matrix"
    df: "np.ndarray"  # documents holding each column's n-gram

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])


def _blocks(texts: Sequence[str]) -> Iterator[tuple[int, int]]:
    """Consecutive ranges of texts of about ``_BLOCK_CHARS`` characters (one text at least)."""
    start = 0
    while start < len(texts):
        stop, chars = start, 0
        while stop < len(texts) and (chars < _BLOCK_CHARS or stop == start):
            chars += len(texts[stop]) + 2
            stop += 1
        yield start, stop
        start = stop


def _block_grams(texts: Sequence[str], alphabet: "np.ndarray | None", n: int
                 ) -> tuple["np.ndarray", "np.ndarray"]:
    """(n-grams per text, 64-bit id of every n-gram occurrence in text order) of a block.

    With ``alphabet`` None, the ids are the block's code points themselves (the
    first pass only collects the alphabet). An id is the n-gram's characters as
    digits in base ``len(alphabet) + 1``: exact while that number of digits fits
    in 64 bits, a wrapping (still deterministic) mix beyond.
    """
    import numpy as np

    padded = "".join(f" {t} " for t in texts)
    codes = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32)
    if alphabet is None:
        return np.zeros(0, np.int64), np.unique(codes).astype(np.uint64)
    lengths = np.fromiter((len(t) + 2 for t in texts), dtype=np.int64, count=len(texts))
    ranks = np.searchsorted(alphabet, codes).astype(np.uint64) + np.uint64(1)
    del codes
    base = np.uint64(len(alphabet) + 1)
    span = len(ranks) - n + 1
    if span <= 0:
        return np.zeros(len(texts), np.int64), np.zeros(0, np.uint64)
    grams = ranks[:span].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            grams *= base
            grams += ranks[k:k + span]
    # Drop the n-grams that run past the end of their text.
    ends = np.cumsum(lengths)
    cut = ends[:, None] - np.arange(1, n)[None, :]
    inside = cut >= (ends - lengths)[:, None]
    valid = np.ones(len(ranks), dtype=bool)
    valid[cut[inside]] = False
    return np.maximum(lengths - n + 1, 0), grams[valid[:span]]


def vectorize(texts: Sequence[str], n: int = NGRAM) -> Vectors:
    """TF-IDF vectors of the texts' character n-grams (see the module docstring).

    Two passes over blocks of about ``_BLOCK_CHARS`` characters keep the
    temporary arrays small: the first collects the alphabet and the n-gram
    vocabulary (hash-based ``np.unique``), the second numbers each block's
    n-grams against it and builds its rows. A text shorter than ``n - 2``
    characters has no n-gram and a zero row: it is similar to nothing (exact
    equality is checked elsewhere, by hashing).
    """
    import numpy as np
    import scipy.sparse as sp

    blocks = list(_blocks(texts))
    alphabet = np.unique(np.concatenate(
        [_block_grams(texts[a:b], None, n)[1] for a, b in blocks] or [np.zeros(0, np.uint64)]
    )).astype(np.uint32)
    vocab = np.unique(np.concatenate(
        [np.unique(_block_grams(texts[a:b], alphabet, n)[1]) for a, b in blocks]
        or [np.zeros(0, np.uint64)]))
    parts = []
    for a, b in blocks:
        counts, grams = _block_grams(texts[a:b], alphabet, n)
        cols = np.searchsorted(vocab, grams).astype(np.int32)
        del grams
        indptr = np.concatenate(([0], np.cumsum(counts)))
        part = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                             shape=(b - a, len(vocab)))
        part.sum_duplicates()
        parts.append(part)
    matrix = _stack(parts, len(texts), len(vocab))
    del parts
    df = np.zeros(len(vocab), dtype=np.int64)
    for a in range(0, matrix.nnz, _BLOCK_ENTRIES):  # bincount would copy indices to int64
        df += np.bincount(matrix.indices[a:a + _BLOCK_ENTRIES], minlength=len(vocab))
    # Renumber columns from the most common n-gram to the rarest (ties by id: stable).
    order = np.argsort(-df, kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    for a in range(0, matrix.nnz, _BLOCK_ENTRIES):
        matrix.indices[a:a + _BLOCK_ENTRIES] = rank[matrix.indices[a:a + _BLOCK_ENTRIES]]
    matrix.has_sorted_indices = False
    matrix.sort_indices()
    df = df[order]
    idf = ((np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0) ** IDF_POWER).astype(np.float32)
    for lo, hi in row_blocks(matrix.indptr):  # in blocks: no full-size temporaries
        a, b = matrix.indptr[lo], matrix.indptr[hi]
        data = matrix.data[a:b]
        data *= idf[matrix.indices[a:b]]
        counts = np.diff(matrix.indptr[lo:hi + 1])
        nonempty = counts > 0
        norms = np.ones(hi - lo)
        if b > a:
            norms[nonempty] = np.sqrt(np.add.reduceat(
                np.square(data, dtype=np.float64), matrix.indptr[lo:hi][nonempty] - a))
        data /= np.repeat(norms, counts).astype(np.float32)
    return Vectors(matrix, df.astype(np.int64))


def _stack(parts: list["sp.csr_matrix"], n_rows: int, n_cols: int) -> "sp.csr_matrix":
    """The parts' rows, one after the other, freeing each part once copied (``vstack``
    would hold every part and the result at once)."""
    import numpy as np
    import scipy.sparse as sp

    nnz = sum(p.nnz for p in parts)
    data = np.empty(nnz, dtype=np.float32)
    indices = np.empty(nnz, dtype=np.int32)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    row = pos = 0
    while parts:
        part = parts.pop(0)
        data[pos:pos + part.nnz] = part.data
        indices[pos:pos + part.nnz] = part.indices
        indptr[row + 1:row + part.shape[0] + 1] = part.indptr[1:] + pos
        row += part.shape[0]
        pos += part.nnz
    return sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols), copy=False)


def row_blocks(indptr: "np.ndarray") -> Iterator[tuple[int, int]]:
    """Consecutive row ranges of about ``_BLOCK_ENTRIES`` entries (one row at least)."""
    import numpy as np

    n_rows = len(indptr) - 1
    lo = 0
    while lo < n_rows:
        hi = int(np.searchsorted(indptr, indptr[lo] + _BLOCK_ENTRIES, side="right")) - 1
        hi = min(max(hi, lo + 1), n_rows)
        yield lo, hi
        lo = hi


def rows_view(matrix: "sp.csr_matrix", lo: int, hi: int) -> "sp.csr_matrix":
    """``matrix[lo:hi]`` sharing the entries' arrays (scipy's slicing copies them)."""
    import scipy.sparse as sp

    a, b = matrix.indptr[lo], matrix.indptr[hi]
    return sp.csr_matrix((matrix.data[a:b], matrix.indices[a:b], matrix.indptr[lo:hi + 1] - a),
                         shape=(hi - lo, matrix.shape[1]), copy=False)
