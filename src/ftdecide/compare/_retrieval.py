"""Retrieval for the RAG arms and for ``shot_selection: similar``: TF-IDF or BM25, offline.

The RAG baseline the lesson asks for is the cheap one a team would try
before tuning: lexical retrieval over their own documents, no embedding
model to download or pay for. scikit-learn tokenises (its ``CountVectorizer``
analyzer: lower-cased, accents stripped, words of two or more characters);
TF-IDF scores by cosine, BM25 (Okapi, ``k1`` = 1.5, ``b`` = 0.75, the
always-positive ``log(1 + (N - df + .5) / (df + .5))`` idf) is computed here
with scipy sparse matrices. Both score every query of a batch with one sparse
product, so :meth:`Retriever.top_k_batch` for all eval items costs a small
fraction of asking query by query.

A corpus is a folder (every ``*.md`` and ``*.txt`` below it, in sorted path
order, hidden files skipped) or one file. It is cut into passages small
enough to put several in a prompt but whole enough to be read:

1. blocks: paragraphs separated by blank lines, a markdown heading line
   starting a block of its own, a fenced code block one block (blank lines
   and indentation kept);
2. passages: consecutive blocks merged while the passage stays within
   :data:`PASSAGE_CHARS` characters; a heading always starts a new passage
   (so a passage is about one section) and stays with the text under it;
3. a block longer than :data:`PASSAGE_CHARS` on its own, and only such a
   block, is split: at line breaks, then sentence ends, then spaces (code
   at line breaks only, unless one line is itself too long).

When there is no corpus, ``compare`` retrieves over the training examples
(:func:`passages_from_examples`); the same index serves
``shot_selection: similar``.

Ties (equal scores) are broken by passage index, so results are
deterministic. Passages sharing no word with the query score 0 and are left
out: a RAG prompt gets fewer passages rather than unrelated ones (``fill=True``
pads to exactly ``k`` for callers that need a fixed count).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ftdecide.errors import DataError, UsageError
from ftdecide.providers import content_text

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "BM25_B",
    "BM25_K1",
    "CORPUS_SUFFIXES",
    "Hit",
    "METHODS",
    "PASSAGE_CHARS",
    "Passage",
    "Retriever",
    "load_corpus",
    "passages_from_examples",
    "split_passages",
]

PASSAGE_CHARS = 800
CORPUS_SUFFIXES = (".md", ".txt")
METHODS = ("tfidf", "bm25")
BM25_K1 = 1.5
BM25_B = 0.75
#: Cap on a dense (queries × passages) score block: about 32 MB of float64.
_BLOCK_ELEMENTS = 4_000_000

_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Passage:
    """A piece of the corpus: its text, where it came from and its position.

    ``source`` is the file's path relative to the corpus folder (or the file
    name for a one-file corpus), or ``train:LINE`` for a training example;
    ``index`` is the passage's position in the list it was loaded in.
    """

    text: str
    source: str
    index: int


@dataclass(frozen=True)
class Hit:
    """A retrieved passage and its score: cosine for TF-IDF, the BM25 sum otherwise;
    always > 0, except for the padding ``fill=True`` adds (0)."""

    passage: Passage
    score: float


# -- splitting ---------------------------------------------------------------------------------

def _blocks(text: str) -> list[tuple[str, str]]:
    """(block text, kind) in order, kind being ``heading``, ``code`` (a fenced block,
    blank lines and indentation kept) or ``text`` (a paragraph)."""
    blocks: list[tuple[str, str]] = []
    current: list[str] = []
    in_fence = False

    def flush(kind: str) -> None:
        if current:
            block = "\n".join(current).strip("\n")
            if block.strip():
                blocks.append((block, kind))
            current.clear()

    for line in text.splitlines():
        line = line.rstrip()
        if in_fence:
            current.append(line)
            if _FENCE.match(line):
                in_fence = False
                flush("code")
        elif _FENCE.match(line):
            flush("text")
            in_fence = True
            current.append(line)
        elif _HEADING.match(line):
            flush("text")
            blocks.append((line.strip(), "heading"))
        elif not line.strip():
            flush("text")
        else:
            current.append(line)
    flush("code" if in_fence else "text")  # an unclosed fence runs to the end
    return blocks


def _split_code(block: str, limit: int) -> list[str]:
    """A fenced block cut at line breaks only, indentation and blank lines kept;
    a single line longer than ``limit`` is cut like prose."""
    if len(block) <= limit:
        return [block]
    pieces: list[str] = []
    for line in block.split("\n"):
        for part in ([line] if len(line) <= limit else _split_long(line, limit)):
            if pieces and len(pieces[-1]) + 1 + len(part) <= limit:
                pieces[-1] += "\n" + part
            else:
                pieces.append(part)
    return [p.strip("\n") for p in pieces if p.strip()]


_LEVELS: tuple[tuple["re.Pattern[str]", str], ...] = (
    (re.compile(r"\n"), "\n"),      # lines (table rows, list items)
    (_SENTENCE_END, " "),           # sentences
    (re.compile(r"[ \t]+"), " "),   # words
)


def _split_long(text: str, limit: int, level: int = 0) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters at the coarsest boundary
    that works: line breaks, then sentence ends, then spaces, and only then anywhere.
    Pieces are packed greedily, so they are as few as the boundaries allow."""
    if len(text) <= limit:
        return [text]
    if level >= len(_LEVELS):
        return [text[i:i + limit] for i in range(0, len(text), limit)]
    pattern, joiner = _LEVELS[level]
    pieces: list[str] = []
    for unit in pattern.split(text):
        unit = unit.strip()
        if not unit:
            continue
        for part in _split_long(unit, limit, level + 1):
            if pieces and len(pieces[-1]) + len(joiner) + len(part) <= limit:
                pieces[-1] += joiner + part
            else:
                pieces.append(part)
    return pieces


def split_passages(text: str, *, limit: int = PASSAGE_CHARS) -> list[str]:
    """The passage texts of one document (see the module docstring for the rules).

    A heading is never left alone at the end of a passage, so a passage can
    exceed ``limit`` by the length of its heading lines.
    """
    passages: list[str] = []
    current = ""
    has_body = False

    def flush() -> None:
        nonlocal current, has_body
        if current.strip():
            passages.append(current)
        current, has_body = "", False

    for block, kind in _blocks(text):
        if kind == "heading":
            if has_body:
                flush()
            current = f"{current}\n{block}" if current else block
            continue
        for piece in (_split_code if kind == "code" else _split_long)(block, limit):
            if has_body and len(current) + 2 + len(piece) > limit:
                flush()
            current = f"{current}\n\n{piece}" if current else piece
            has_body = True
    flush()
    return passages


# -- loading -----------------------------------------------------------------------------------

def _corpus_files(root: Path) -> list[Path]:
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in CORPUS_SUFFIXES and path.is_file():
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the corpus file: {exc.strerror or exc}", path=str(path),
                        hint="check the file's permissions") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(
            f"the corpus file is not UTF-8 text (bad byte at offset {exc.start})",
            path=str(path), line=line,
            hint="save it as UTF-8, or remove it from the corpus folder",
        ) from exc


def load_corpus(path: str | Path) -> list[Passage]:
    """The passages of a corpus folder or file, in a stable order.

    Raises DataError naming the path when it does not exist, holds no
    ``.md``/``.txt`` file, holds only empty files, or a file is not UTF-8.
    """
    root = Path(path)
    if not root.exists():
        raise DataError("the corpus does not exist", path=str(root),
                        hint="give a folder of .md/.txt files or one text file, "
                        "or leave corpus out to retrieve over the training examples")
    if root.is_dir():
        files = _corpus_files(root)
        if not files:
            raise DataError("the corpus folder has no .md or .txt files", path=str(root),
                            hint="put the documents to retrieve from in it as .md or .txt files")
        named = [(f, f.relative_to(root).as_posix()) for f in files]
    else:
        named = [(root, root.name)]
    passages: list[Passage] = []
    for file, source in named:
        for text in split_passages(_read_text(file)):
            passages.append(Passage(text=text, source=source, index=len(passages)))
    if not passages:
        raise DataError("the corpus has no text (every file is empty)", path=str(root),
                        hint="add documents with text, or leave corpus out to retrieve "
                        "over the training examples")
    return passages


def passages_from_examples(examples: Iterable[Any], *, include_answer: bool = True
                           ) -> list[Passage]:
    """One passage per training example (``ftdecide.data.Example``), in order.

    Text: the last user turn before the expected answer, then (unless
    ``include_answer`` is False) the answer itself, the last assistant
    message. Source: ``train:LINE``. ``index`` is the example's position, so
    ``examples[hit.passage.index]`` is the example a hit came from (what
    ``shot_selection: similar`` needs).
    """
    from ftdecide.data._prompts import split_example

    passages: list[Passage] = []
    for i, example in enumerate(examples):
        prompt, answer = split_example(example.messages)
        users = [content_text(m.get("content")) for m in prompt if m.get("role") == "user"]
        parts = [users[-1]] if users else []
        if include_answer and answer:
            parts.append(answer)
        passages.append(Passage(text="\n\n".join(parts), source=f"train:{example.line}", index=i))
    return passages


# -- retrieval ---------------------------------------------------------------------------------

class Retriever:
    """Lexical retrieval over ``passages`` by ``"tfidf"`` (cosine) or ``"bm25"``.

    The index is built once in the constructor; :meth:`top_k_batch` scores
    many queries with one sparse matrix product per block of queries.
    """

    def __init__(self, passages: Sequence[Passage], method: str = "tfidf", *,
                 k1: float = BM25_K1, b: float = BM25_B) -> None:
        method = method.strip().lower().replace("-", "").replace("_", "")
        if method not in METHODS:
            raise UsageError(f"unknown retrieval method {method!r}",
                             hint="use one of: " + ", ".join(METHODS))
        self.passages = list(passages)
        if not self.passages:
            raise DataError("there is nothing to retrieve from (no passages)",
                            hint="give a corpus with text, or training examples")
        self.method = method
        self.k1 = float(k1)
        self.b = float(b)
        texts = [p.text for p in self.passages]
        try:
            if method == "tfidf":
                self._build_tfidf(texts)
            else:
                self._build_bm25(texts)
        except ValueError as exc:  # sklearn: "empty vocabulary"
            raise DataError(
                "the corpus has no words to index (only stop characters or one-letter tokens)",
                hint="check that the corpus files hold text",
            ) from exc

    @staticmethod
    def _vectorizer_options() -> dict[str, Any]:
        return {"lowercase": True, "strip_accents": "unicode"}

    def _build_tfidf(self, texts: list[str]) -> None:
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(**self._vectorizer_options(), dtype=np.float64)
        matrix = self._vectorizer.fit_transform(texts)  # rows l2-normalised
        self._doc_matrix_t = matrix.T.tocsr()

    def _build_bm25(self, texts: list[str]) -> None:
        import numpy as np
        from scipy import sparse
        from sklearn.feature_extraction.text import CountVectorizer

        self._vectorizer = CountVectorizer(**self._vectorizer_options(), dtype=np.int64)
        tf = sparse.csr_matrix(self._vectorizer.fit_transform(texts), dtype=np.float64)
        n_docs = tf.shape[0]
        doc_len = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = float(doc_len.mean()) or 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        # Per nonzero entry (row i, term j): idf_j · tf (k1 + 1) / (tf + k1 (1 − b + b · dl_i/avgdl))
        row_of_entry = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        norm = self.k1 * (1.0 - self.b + self.b * doc_len / avgdl)
        data = tf.data * (self.k1 + 1.0) / (tf.data + norm[row_of_entry]) * idf[tf.indices]
        weights = sparse.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)
        self._doc_matrix_t = weights.T.tocsr()

    def _scores(self, queries: Sequence[str]) -> "np.ndarray":
        """Dense (len(queries) × passages) scores."""
        q = self._vectorizer.transform(list(queries))
        return (q @ self._doc_matrix_t).toarray()

    def top_k(self, query: str, k: int, *, fill: bool = False) -> list[Hit]:
        """The ``k`` best passages for ``query``, best first.

        Passages sharing no word with the query are left out, so fewer than
        ``k`` may come back; ``fill=True`` pads with them (score 0, in passage
        order) to exactly ``min(k, len(passages))``, for callers that need a
        fixed count such as ``shot_selection: similar``.
        """
        return self.top_k_batch([query], k, fill=fill)[0]

    def top_k_batch(self, queries: Sequence[str], k: int, *, fill: bool = False
                    ) -> list[list[Hit]]:
        """:meth:`top_k` for each query, scored together (one sparse product per block)."""
        import numpy as np

        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UsageError(f"the number of passages to retrieve must be at least 1 (got {k!r})")
        queries = list(queries)
        n = len(self.passages)
        k = min(k, n)
        rows = max(1, _BLOCK_ELEMENTS // n)
        results: list[list[Hit]] = []
        for start in range(0, len(queries), rows):
            scores = self._scores(queries[start:start + rows])
            if k < n:
                # The k-th best score of each row; only passages scoring at least that
                # can place, and a stable sort over them keeps equal scores in index order.
                kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
            for r in range(scores.shape[0]):
                row = scores[r]
                candidates = np.flatnonzero(row >= kth[r]) if k < n else np.arange(n)
                order = candidates[np.argsort(-row[candidates], kind="stable")][:k]
                results.append([Hit(self.passages[int(i)], float(row[i]))
                                for i in order if fill or row[i] > 0.0])
        return results
