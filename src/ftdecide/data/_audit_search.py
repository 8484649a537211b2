"""Finding every pair of similar prompts among many, exactly, in bounded memory.

The vectors (:mod:`._audit_vectors`) are unit length with columns ordered
from the most common n-gram to the rarest, so the cosine of two rows is their
dot product. A brute-force ``X @ Yᵀ`` is dense in practice: n-grams such as
``" the"`` occur in half the texts and pair everything with everything. The
search uses *prefix filtering* (Bayardo, Ma & Srikant, "Scaling up all-pairs
similarity search", WWW 2007) with both sides cut, which prunes without
losing a pair:

* Each row ``x`` is cut at its *boundary* ``r_x``: its head ``x_P`` is the
  longest run of its most common n-grams whose norm stays below ``τ < t``
  (``t`` the threshold), its suffix ``x_S`` the rest, its rarest n-grams.
* Take two rows and let ``r`` be the later boundary, say ``r_y``. Every
  n-gram before ``r`` is in ``y``'s head, every one from ``r`` on is in both
  suffixes, so ``x·y = x_S·y_S + x_{<r}·y_{<r} ≤ x_S·y_S + ‖x_{<r}‖ ‖y_P‖``
  (Cauchy–Schwarz) ``< x_S·y_S + τ``. Hence ``x·y ≥ t`` implies
  ``x_S·y_S > t − τ > 0``: every pair at or above the threshold shares a
  suffix n-gram and appears in the sparse product ``X_S @ Y_Sᵀ``.
* That product touches only rare n-grams, so it stays sparse. Its entries
  below ``t − τ`` are dropped in one pass, then those below
  ``t − ‖x_{<r}‖ ‖y_P‖`` (``‖x_{<r}‖`` read, as an upper bound, from a
  per-row table of norms at ``_CHECKPOINTS`` columns), and the few left are
  rescored exactly with the full vectors.

The result is exactly the brute-force set of pairs with cosine ≥ ``t`` (the
bounds keep a 1e-4 margin against float32 rounding), which ``bench/audit.py``
checks against scikit-learn's ``cosine_similarity`` at 20k × 2k and
``tests/test_audit.py`` at a small size. Its cost grows with the number of
pairs that share a rare n-gram, which templated data (many prompts from one
template) makes large; the bench's generated tickets are such data.

**Memory.** Queries go through the product in chunks sized so that the
chunk's *work* (the sum over its suffix n-grams of how many indexed rows hold
each: an upper bound on the product's entries) stays under
``WORK_PER_CHUNK``, whatever the data; one thread per core (at most 8)
runs chunks at once (scipy's sparse product releases the GIL). Within one set (near duplicates)
only the upper triangle is computed: the index is cut into
``_TRIANGLE_BLOCKS`` row blocks and a chunk meets only its own block and the
later ones. What grows with the data is the vectors (about 8 bytes per
n-gram occurrence), a 512-byte norm table per row, and the pairs found.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ftdecide.data._audit_vectors import row_blocks, rows_view

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import scipy.sparse as sp

__all__ = ["Index", "Split", "best_matches", "row_dots", "self_pairs"]

#: Each row's unindexed head has norm below TAU × threshold (any value below 1 is exact;
#: 0.95 measured fastest on the bench's data, between 0.9 and 0.97).
TAU = 0.95
#: Upper bound on candidate pairs (product entries) one chunk may produce.
WORK_PER_CHUNK = 2_000_000
#: Safety margin of the pruning bounds against float32 rounding.
_EPS = 1e-4
#: Threads running chunks (scipy's sparse product and numpy release the GIL).
_THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1)))
_TRIANGLE_BLOCKS = 8
_CHECKPOINTS = 256
_PROFILE_ROWS = 8192

Progress = Callable[[str, int, int], None]


@dataclass
class Split:
    """Rows cut into a common head (not indexed) and a rare suffix, with what the bounds need.

    ``prefix_norm[i]`` is row ``i``'s head norm, below ``tau``;
    ``boundary[i]`` the column of its first suffix entry (the number of
    columns when it has none). ``profile[i, k]`` is the squared norm of row
    ``i``'s entries before column ``checkpoints[k]``: :meth:`norm_below` reads
    an upper bound of ``‖x_{<r}‖`` from it with one lookup.
    """

    full: "sp.csr_matrix"
    suffix: "sp.csr_matrix"
    prefix_norm: "np.ndarray"
    boundary: "np.ndarray"
    checkpoints: "np.ndarray"
    profile: "np.ndarray"
    tau: float

    @classmethod
    def of(cls, full: "sp.csr_matrix", tau: float, checkpoints: "np.ndarray | None" = None
           ) -> "Split":
        """Cut every row of ``full`` (rows ordered common → rare) at norm ``tau``,
        a block of rows at a time so that the float64 temporaries stay small.

        ``checkpoints`` (columns, ascending, ending with the column count):
        default, ``_CHECKPOINTS`` quantiles of the rows' boundaries, where the
        bound is asked for; rows compared with each other must share them.
        """
        import numpy as np
        import scipy.sparse as sp

        n_rows, n_cols = full.shape
        indptr = full.indptr
        prefix = np.zeros(n_rows)
        keep_parts = []
        for lo, hi in row_blocks(indptr):
            a, b = indptr[lo], indptr[hi]
            counts = np.diff(indptr[lo:hi + 1])
            squares = np.cumsum(full.data[a:b].astype(np.float64) ** 2)
            before = np.concatenate(([0.0], squares))[indptr[lo:hi] - a]
            within = squares - np.repeat(before, counts)  # running sum in the row, inclusive
            head = within < tau * tau  # a contiguous run at the start of each row
            rows = np.repeat(np.arange(lo, hi), counts)
            np.maximum.at(prefix, rows[head], within[head])
            keep_parts.append(np.flatnonzero(~head) + a)
        keep = np.concatenate(keep_parts) if keep_parts else np.zeros(0, np.int64)
        kept = np.bincount(np.searchsorted(indptr, keep, side="right") - 1, minlength=n_rows)
        sindptr = np.concatenate(([0], np.cumsum(kept)))
        suffix = sp.csr_matrix((full.data[keep], full.indices[keep], sindptr), shape=full.shape)
        boundary = np.full(n_rows, n_cols, dtype=np.int64)
        boundary[kept > 0] = suffix.indices[sindptr[:-1][kept > 0]]
        if checkpoints is None:
            inner = np.quantile(boundary, np.linspace(0, 1, _CHECKPOINTS)) if n_rows else []
            checkpoints = np.unique(np.concatenate((np.ceil(inner), [n_cols]))).astype(np.int64)
        # profile[i, k] = ‖head‖² + the suffix entries before checkpoints[k], squared;
        # float16 halves the table and + 1e-3 keeps it an upper bound after rounding.
        profile = np.empty((n_rows, len(checkpoints)), dtype=np.float16)
        for lo in range(0, n_rows, _PROFILE_ROWS):  # in blocks: small float64 temporaries
            hi = min(lo + _PROFILE_ROWS, n_rows)
            a, b = sindptr[lo], sindptr[hi]
            rows = np.repeat(np.arange(hi - lo), kept[lo:hi])
            bucket = np.searchsorted(checkpoints, suffix.indices[a:b], side="right")
            table = np.zeros((hi - lo, len(checkpoints) + 1))
            np.add.at(table, (rows, bucket), suffix.data[a:b].astype(np.float64) ** 2)
            table = np.cumsum(table, axis=1)[:, :-1] + prefix[lo:hi, None]
            profile[lo:hi] = np.minimum(table, 1.0) + 1e-3
        return cls(full, suffix, np.sqrt(prefix), boundary, checkpoints, profile, tau)

    def norm_below(self, rows: "np.ndarray", columns: "np.ndarray") -> "np.ndarray":
        """An upper bound of ``‖x_{<r}‖`` for each (row x, column r): the norm of the
        row's entries before the first checkpoint at or after r."""
        import numpy as np

        k = np.searchsorted(self.checkpoints, columns, side="left")
        return np.sqrt(self.profile[rows, k].astype(np.float64))


@dataclass
class Index:
    """The rows searched against: their :class:`Split`, ``Y_Sᵀ`` (columns × rows, CSR)
    for the product, and how many indexed rows hold each column (a query n-gram's cost)."""

    rows: Split
    suffix_t: "sp.csr_matrix"
    column_rows: "np.ndarray"
    threshold: float

    @classmethod
    def build(cls, full: "sp.csr_matrix", threshold: float, tau: float | None = None) -> "Index":
        """Index ``full``'s rows for a search at cosine ``threshold``.

        ``τ`` (default ``TAU × threshold``) bounds each row's unindexed head:
        any ``τ < threshold`` is exact; a smaller one indexes more n-grams (a
        bigger product) but lets the bound drop more candidates.
        """
        import numpy as np

        tau = threshold * TAU if tau is None else tau
        if not 0 < tau < threshold:
            raise ValueError("tau must be in (0, threshold)")
        rows = Split.of(full, tau)
        suffix_t = rows.suffix.T.tocsr()
        return cls(rows, suffix_t, np.diff(suffix_t.indptr).astype(np.int64), threshold)


def _work(queries: "sp.csr_matrix", column_rows: "np.ndarray") -> "np.ndarray":
    """Per query row, the product entries it can cause: its n-grams' indexed rows, summed."""
    import numpy as np

    per_entry = column_rows[queries.indices]
    totals = np.zeros(queries.shape[0], dtype=np.int64)
    nonempty = np.diff(queries.indptr) > 0
    if len(per_entry):
        totals[nonempty] = np.add.reduceat(per_entry, queries.indptr[:-1][nonempty])
    return totals


def _chunks(work: "np.ndarray", limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive row ranges whose work sums to at most ``limit`` (one row at least)."""
    import numpy as np

    cumulative = np.cumsum(work)
    start = 0
    n = len(work)
    while start < n:
        base = cumulative[start - 1] if start else 0
        stop = int(np.searchsorted(cumulative, base + limit, side="right"))
        stop = max(stop, start + 1)
        yield start, min(stop, n)
        start = stop


def row_dots(a: "sp.csr_matrix", ia: "np.ndarray", b: "sp.csr_matrix", ib: "np.ndarray",
             batch: int = 20_000) -> "np.ndarray":
    """``a[ia[k]] · b[ib[k]]`` for every k: exact cosines of candidate pairs."""
    import numpy as np

    out = np.empty(len(ia), dtype=np.float32)
    for s in range(0, len(ia), batch):
        rows_a = a[ia[s:s + batch]]
        rows_b = b[ib[s:s + batch]]
        out[s:s + batch] = np.asarray(rows_a.multiply(rows_b).sum(axis=1)).ravel()
    return out


def _entries(product: "sp.csr_matrix", floor: float
             ) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """(row, column, value) of the product's entries at or above ``floor``.

    Both prefix norms are below ``τ``, so an entry below ``threshold − τ`` can
    never reach the threshold: one pass over the values drops most of them
    before anything is gathered per entry.
    """
    import numpy as np

    hit = np.flatnonzero(product.data >= floor)
    rows = np.searchsorted(product.indptr, hit, side="right") - 1
    return rows.astype(np.int64), product.indices[hit].astype(np.int64), product.data[hit]


def _survivors(x: Split, xi: "np.ndarray", y: Split, yi: "np.ndarray", partial: "np.ndarray",
               threshold: float) -> "np.ndarray":
    """Which pairs ``(x[xi], y[yi])`` with suffix product ``partial`` may reach ``threshold``.

    With rows ordered common → rare and ``r`` the later of the two boundaries
    (say ``y``'s), every n-gram before ``r`` is in ``y``'s head and every one
    from ``r`` on is in both suffixes, so ``x·y = x_S·y_S + x_{<r}·y_{<r} ≤
    x_S·y_S + ‖x_{<r}‖ ‖y_P‖``, with ``‖x_{<r}‖`` bounded from above by the
    row's profile at the next checkpoint.
    """
    import numpy as np

    bx, by = x.boundary[xi], y.boundary[yi]
    y_later = bx <= by
    bound = np.empty(len(xi))
    bound[y_later] = y.prefix_norm[yi[y_later]] * x.norm_below(xi[y_later], by[y_later])
    x_later = ~y_later
    bound[x_later] = x.prefix_norm[xi[x_later]] * y.norm_below(yi[x_later], bx[x_later])
    return np.flatnonzero(partial >= threshold - bound - _EPS)


def best_matches(queries: "sp.csr_matrix", index: Index, *, progress: Progress | None = None
                 ) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """For each query row with a match at or above the index's threshold: (query row,
    indexed row of its best match, cosine). Queries without one are left out."""
    import numpy as np

    threshold = index.threshold
    q = Split.of(queries, index.rows.tau, index.rows.checkpoints)
    ranges = list(_chunks(_work(q.suffix, index.column_rows), WORK_PER_CHUNK))

    def run(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi = bounds
        product = q.suffix[lo:hi] @ index.suffix_t  # chunk × indexed rows
        qi, ti, partial = _entries(product, threshold - index.rows.tau - _EPS)
        del product
        keep = _survivors(q, qi + lo, index.rows, ti, partial, threshold)
        qi, ti = qi[keep] + lo, ti[keep]
        sims = row_dots(queries, qi, index.rows.full, ti)
        ok = sims >= threshold
        qi, ti, sims = qi[ok], ti[ok], sims[ok]
        order = np.lexsort((ti, -sims, qi))  # per query: best first, then lowest row
        qi, ti, sims = qi[order], ti[order], sims[order]
        first = np.ones(len(qi), dtype=bool)
        first[1:] = qi[1:] != qi[:-1]
        return qi[first], ti[first], sims[first]

    return _concat(_run_chunks(run, ranges, "near leaks", progress))


def self_pairs(index: Index, *, progress: Progress | None = None
               ) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """Every pair ``i < j`` of indexed rows with cosine at or above the threshold:
    (i, j, cosine).

    The upper triangle without scanning the whole index for every chunk: the
    rows are cut into ``_TRIANGLE_BLOCKS`` blocks, each with its own ``Y_Sᵀ``;
    a chunk of block ``b`` is multiplied by blocks ``b, b + 1, …`` only, so the
    wasted work is the lower half of the diagonal blocks (``1 / blocks`` of it).
    """
    import numpy as np

    threshold = index.threshold
    y = index.rows
    n = y.suffix.shape[0]
    edges = np.linspace(0, n, _TRIANGLE_BLOCKS + 1).astype(np.int64)
    edges = np.unique(edges)
    blocks = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
    transposed = [rows_view(y.suffix, a, b).T.tocsr() for a, b in blocks]
    work = _work(y.suffix, index.column_rows)
    ranges: list[tuple[int, int, int]] = []
    for k, (a, b) in enumerate(blocks):
        ranges.extend((lo + a, hi + a, k) for lo, hi in _chunks(work[a:b], WORK_PER_CHUNK))

    def run(bounds: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lo, hi, k = bounds
        chunk = rows_view(y.suffix, lo, hi)
        parts = []
        for (a, _), block_t in zip(blocks[k:], transposed[k:]):
            product = chunk @ block_t  # chunk × rows of the block
            qi, ti, partial = _entries(product, threshold - y.tau - _EPS)
            del product
            qi, ti = qi + lo, ti + a
            upper = ti > qi
            parts.append((qi[upper], ti[upper], partial[upper]))
        qi, ti, partial = (np.concatenate(p) for p in zip(*parts))
        keep = _survivors(y, qi, y, ti, partial, threshold)
        qi, ti = qi[keep], ti[keep]
        sims = row_dots(y.full, qi, y.full, ti)
        ok = sims >= threshold
        return qi[ok], ti[ok], sims[ok]

    return _concat(_run_chunks(run, ranges, "near duplicates", progress))


def _concat(found: list[tuple["np.ndarray", ...]]
            ) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    import numpy as np

    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    a, b, c = (np.concatenate(parts) for parts in zip(*found))
    return a, b, c


def _run_chunks(run: Callable[[Any], tuple["np.ndarray", ...]], ranges: list[Any],
                stage: str, progress: Progress | None) -> list[tuple["np.ndarray", ...]]:
    """Run the chunks on ``_THREADS`` threads, in order, reporting progress after each."""
    found = []
    total = ranges[-1][1] if ranges else 0
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        for bounds, part in zip(ranges, pool.map(run, ranges)):
            found.append(part)
            if progress is not None:
                progress(stage, bounds[1], total)
    return found
